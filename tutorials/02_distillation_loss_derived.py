# %% [markdown]
# # 02 · The distillation loss, derived
#
# Tutorial 01 showed that a teacher's softened outputs `softmax(v / T)` carry its dark knowledge.
# This tutorial turns them into a loss for the student, derives the gradient by hand, and checks
# every step numerically, so that when you read `DistillationLoss` in `minikd/strategies.py` (or
# in any other library) nothing in it is a mystery.
#
# **What you will learn**
#
# - the loss `T² · KL(softmax(v/T) ‖ softmax(z/T))` and its gradient `T · (softmax(z/T) − softmax(v/T))`,
#   derived in a few lines;
# - how to implement it with `minikd.functional` in three lines, and to prove the gradient with
#   `minikd.gradcheck` (and what the numbers it prints mean);
# - why the `T²` is there: without it the soft gradient shrinks like `1/T²`;
# - why, at high temperature, distillation becomes *logit matching* (Ba & Caruana 2014);
# - how other libraries weight the two terms (the PyTorch tutorial, Keras, torchdistill, and the
#   opposite "alpha weights the soft term" convention), and how to convert a setting between them
#   with `minikd.interop`.
#
# **Before you run this**
#
# - `python -m pip install -e .` from the repository root. No plot here, so no matplotlib needed.
# - Tutorial 01 (temperature and dark knowledge) explains the softened softmax this builds on.
#
# Everything here runs in well under a second, in full and in fast mode (`MINIKD_TUTORIAL_FAST=1`,
# used by the test suite, changes nothing).

# %%
import os

import numpy as np

from minikd import DistillationLoss, LogitMatchingLoss
from minikd.functional import cross_entropy, kl_divergence, one_hot, softmax
from minikd.gradcheck import numerical_gradient, rel_error
from minikd.interop import LOSS_CONVENTIONS, convert_hyperparameters, reference_distillation_loss

FAST = os.environ.get("MINIKD_TUTORIAL_FAST") == "1"  # nothing here is slow; kept for uniformity
np.set_printoptions(precision=4, suppress=True, linewidth=110)

# %% [markdown]
# ## 1. The loss
#
# Notation: a batch of `N` samples and `C` classes; the student's logits `z_i` and the teacher's
# `v_i` (rows of shape `(C,)`); the true labels `y_i` (one-hot rows); the temperature `T`; and
#
# $$ p_i = \mathrm{softmax}(z_i / T), \qquad q_i = \mathrm{softmax}(v_i / T). $$
#
# The student should make `p_i` close to the teacher's `q_i`. The natural distance between
# distributions is the Kullback–Leibler divergence, *from the teacher's point of view*:
#
# $$ \mathrm{KL}(q \,\|\, p) = \sum_j q_j \log \frac{q_j}{p_j}
#    = \underbrace{\sum_j q_j \log q_j}_{-H(q),\ \text{no } z \text{ here}} \;-\; \sum_j q_j \log p_j . $$
#
# Only the second part depends on the student, so minimising KL is the same as minimising the
# cross-entropy with the soft targets `q` (Hinton et al. write it that way); the KL has the nicer
# property of being 0 when the student matches the teacher exactly.
#
# minikd's `DistillationLoss` (the convention of the seed library, AiDotNet) mixes it with the usual
# cross-entropy on the true labels, **weighting the hard term by `alpha`**:
#
# $$ L = \frac{1}{N} \sum_{i=1}^N \Big[ \alpha \,\mathrm{CE}(\mathrm{softmax}(z_i), y_i)
#        + (1 - \alpha)\, T^2\, \mathrm{KL}(q_i \,\|\, p_i) \Big], $$
#
# with the cross-entropy at temperature 1, and the reduction a *batch mean of per-sample sums*
# (PyTorch's `reduction="batchmean"`), never a mean over the `N·C` entries. Without labels the
# loss is just `(1/N) Σ_i T² KL(q_i ‖ p_i)`.
#
# ## 2. The gradient, by hand
#
# Take one sample and write `s = z / T`, so `p = softmax(s)`. Two facts about the softmax:
#
# - `log p_j = s_j − log Σ_k e^{s_k}`, hence `∂ log p_j / ∂ s_k = δ_jk − p_k`;
# - `Σ_j q_j = 1`.
#
# The teacher's entropy term does not depend on `s`, so
#
# $$ \frac{\partial\, \mathrm{KL}}{\partial s_k} = -\sum_j q_j (\delta_{jk} - p_k)
#    = -q_k + p_k \sum_j q_j = p_k - q_k . $$
#
# By the chain rule with `∂s_k / ∂z_k = 1/T`:
#
# $$ \frac{\partial\, (T^2\, \mathrm{KL})}{\partial z} = T^2 \cdot \frac{1}{T}\,(p - q)
#    = T\,\big(\mathrm{softmax}(z/T) - \mathrm{softmax}(v/T)\big). $$
#
# The cross-entropy is the same computation at `T = 1` with `q = y`: `∂ CE / ∂z = softmax(z) − y`.
# Altogether, for sample `i` of the batch,
#
# $$ \frac{\partial L}{\partial z_i} = \frac{1}{N} \Big[ \alpha\,(\mathrm{softmax}(z_i) - y_i)
#    + (1-\alpha)\, T\, (p_i - q_i) \Big]. $$
#
# Each row sums to zero (both `p − q` and `softmax(z) − y` are differences of distributions):
# adding the same constant to all logits of a sample changes nothing.

# %% [markdown]
# ## 3. The formula in NumPy, checked against `DistillationLoss`
#
# Moderate logits for a batch of 4 samples and 10 classes: the student's with standard deviation 1,
# the teacher's with 2 (a teacher is usually the more confident one).

# %%
rng = np.random.default_rng(0)
N, C = 4, 10
z = rng.normal(0.0, 1.0, size=(N, C))  # student logits (N, C)
v = rng.normal(0.0, 2.0, size=(N, C))  # teacher logits (N, C)
labels = rng.integers(0, C, size=N)  # (N,)
T, alpha = 4.0, 0.3


def my_loss(z, v, labels, T, alpha):
    """The formula of section 1, written with minikd.functional (batch means, like the library)."""
    return alpha * cross_entropy(z, labels) + (1 - alpha) * T**2 * kl_divergence(v, z, temperature=T)


def my_gradient(z, v, labels, T, alpha):
    """The formula of section 2: (1/N) [alpha (softmax(z) - y) + (1 - alpha) T (p - q)]."""
    n, c = z.shape
    hard = softmax(z) - one_hot(labels, c)
    soft = T * (softmax(z, temperature=T) - softmax(v, temperature=T))
    return (alpha * hard + (1 - alpha) * soft) / n


strategy = DistillationLoss(temperature=T, alpha=alpha)
loss, dlogits, parts = strategy.loss_and_gradient(z, v, labels)
print(f"DistillationLoss: loss {loss:.10f}  (soft part {parts['soft']:.6f}, hard part {parts['hard']:.6f})")
print(f"my_loss:          loss {my_loss(z, v, labels, T, alpha):.10f}")
np.testing.assert_allclose(my_loss(z, v, labels, T, alpha), loss, rtol=1e-12,
                           err_msg="the formula must equal DistillationLoss")
np.testing.assert_allclose(my_gradient(z, v, labels, T, alpha), dlogits, rtol=1e-12, atol=1e-15,
                           err_msg="the gradient formula must equal DistillationLoss's gradient")
np.testing.assert_allclose(dlogits.sum(axis=1), 0.0, atol=1e-15, err_msg="gradient rows sum to 0")
print("gradient row sums:", dlogits.sum(axis=1))

# Two properties claimed above: a student that matches the teacher has zero soft loss and zero
# soft gradient, and adding a constant to a row of logits changes nothing.
soft_only = DistillationLoss(temperature=T, alpha=0.0)
assert abs(soft_only.compute_loss(v, v)) < 1e-14, "KL(q || q) = 0"
np.testing.assert_allclose(soft_only.compute_gradient(v, v), 0.0, atol=1e-15, err_msg="no gradient at a match")
np.testing.assert_allclose(strategy.compute_loss(z + 5.0, v, labels), loss, rtol=1e-12,
                           err_msg="a constant added to every logit must not change the loss")

# %% [markdown]
# ### Is the gradient right? Ask finite differences.
#
# `minikd.gradcheck.numerical_gradient(f, x, eps)` nudges each entry of `x` by `±eps` and takes the
# central difference `(f(x + eps) − f(x − eps)) / (2 eps)`; `rel_error(a, b)` is the largest
# elementwise `|a − b| / (|a| + |b|)`. Below 1e-7 the gradient is right.
#
# Two things make the numbers trustworthy:
#
# - **Moderate logits.** The finite difference carries rounding noise of roughly
#   `1e-16 · |L| / eps`, about the same for every entry. `rel_error` is *elementwise*: on a gradient
#   entry of size 1e-3 that noise is 1e-8 relative, on an entry of size 1e-6 it is 1e-5, a false
#   alarm. Saturated softmaxes (huge logits) have entries near zero, so check on moderate logits,
#   and where an entry near zero fails, look at the absolute error. The norm-wise error
#   `‖a − b‖ / ‖a‖` has no such problem; it is printed too.
# - **A step that fits the function.** The loss depends on `z` only through `z / T` (times `T²`),
#   so it changes on a length scale of `T`: a fixed `eps = 1e-5` is a relatively tiny step at
#   `T = 10`, and the noise grows. Scaling the step, `eps = 1e-5 · T`, keeps it constant.

# %%
def gradient_check(T, alpha, with_labels, eps):
    """rel_error and norm-wise error of DistillationLoss's gradient against central differences."""
    s = DistillationLoss(temperature=T, alpha=alpha)
    y = labels if with_labels else None
    analytic = s.compute_gradient(z, v, y)
    numeric = numerical_gradient(lambda: s.compute_loss(z, v, y), z, eps=eps)  # perturbs z in place
    return rel_error(analytic, numeric), np.linalg.norm(analytic - numeric) / np.linalg.norm(analytic)


print("  T   alpha  labels   rel_error (eps = 1e-5 T)   norm-wise   |   rel_error (eps = 1e-5)")
worst = {}
for T_check in (1.0, 2.0, 4.0, 10.0):
    for alpha_check, with_labels in ((0.3, True), (0.0, False)):
        err, err_norm = gradient_check(T_check, alpha_check, with_labels, eps=1e-5 * T_check)
        err_fixed, _ = gradient_check(T_check, alpha_check, with_labels, eps=1e-5)
        print(f"{T_check:3g}    {alpha_check:.1f}   {str(with_labels):6}       {err:.1e}              "
              f"{err_norm:.1e}    |       {err_fixed:.1e}")
        assert err < 1e-7, f"rel_error {err:.2e} at T={T_check}, alpha={alpha_check}"
        assert err_norm < 1e-8
        worst[T_check] = max(worst.get(T_check, 0.0), err_fixed / err)
assert worst[10.0] > 3, "at T = 10 a fixed eps is noisier than a step scaled with T"

# %% [markdown]
# On our run every `rel_error` with the scaled step is between 9e-10 and 9e-9, and the norm-wise
# errors are below 5e-10: the derivation is right. With the fixed `eps = 1e-5` the same gradients
# score up to 1.4e-7 at `T = 4` and 1.1e-7 at `T = 10`, a borderline result that says more about the
# step than about the gradient.

# %% [markdown]
# ## 4. Why the `T²`?
#
# The soft gradient is `T (p − q)`; the `T` in front comes from the `T²` in the loss times the `1/T`
# of the chain rule. Without the `T²` the gradient would be `(p − q) / T`. How does `p − q` behave as
# `T` grows? For zero-mean logits (section 5 shows the expansion)
# `softmax(z/T)_j ≈ 1/C + z_j / (C T)`, so `p − q ≈ (z − v) / (C T)`:
#
# - without `T²`: `(p − q) / T ≈ (z − v) / (C T²)`, shrinking like `1/T²`;
# - with `T²`: `T (p − q) ≈ (z − v) / C`, independent of `T`.
#
# Hinton et al.: "it is important to multiply them by `T²`" so that "the relative contributions of
# the hard and soft targets remain roughly unchanged if the temperature used for distillation is
# changed". Let us measure it, next to the hard term's gradient `(softmax(z) − y)/N`, which does
# not depend on `T` at all.

# %%
z0 = z - z.mean(axis=1, keepdims=True)  # zero-mean logits (softmax does not care about the mean)
v0 = v - v.mean(axis=1, keepdims=True)
T_grid = np.array([1, 2, 4, 8, 16, 32, 64, 128], dtype=float)
hard_norm = np.linalg.norm((softmax(z0) - one_hot(labels, C)) / N)

with_t2 = np.array([np.linalg.norm(DistillationLoss(T_, alpha=0.0).compute_gradient(z0, v0)) for T_ in T_grid])
without_t2 = with_t2 / T_grid**2  # the same loss without the T² factor has gradient (p - q) / (T N)
print(f"|hard gradient| = {hard_norm:.4f} at every T")
print("    T   |soft gradient| with T²   without T²")
for T_, a, b in zip(T_grid, with_t2, without_t2, strict=True):
    print(f"{T_:5g}        {a:.4f}              {b:.2e}")

large = T_grid >= 8  # the asymptotic regime
slope_without = np.polyfit(np.log(T_grid[large]), np.log(without_t2[large]), 1)[0]
slope_with = np.polyfit(np.log(T_grid[large]), np.log(with_t2[large]), 1)[0]
print(f"log-log slope for T >= 8: without T²: {slope_without:+.3f}   with T²: {slope_with:+.3f}")
assert -2.1 < slope_without < -1.9, "without T² the soft gradient shrinks like 1/T²"
assert abs(slope_with) < 0.1, "with T² the soft gradient stays O(1)"
assert with_t2.max() / with_t2.min() < 2.0, "with T², the scale changes less than 2x from T = 1 to 128"

# %% [markdown]
# On our run the soft gradient's norm with `T²` goes from 0.23 (`T = 1`) to 0.36 (`T = 128`),
# comparable with the hard term's 0.52 at every `T`; without it, it falls to 2e-5. The slopes are
# −1.98 and +0.02. With the `T²`, `alpha` means the same thing at every temperature, so you can tune
# `T` without re-tuning `alpha`.

# %% [markdown]
# ## 5. The high-temperature limit is logit matching
#
# Expand the softmax of zero-mean logits (`Σ_j z_j = 0`) for large `T`:
#
# $$ \mathrm{softmax}(z/T)_j = \frac{1 + z_j/T + O(1/T^2)}{C + \sum_k z_k / T + O(1/T^2)}
#    = \frac{1}{C} + \frac{z_j}{C\,T} + O(1/T^2). $$
#
# Hence `T (p − q) = (z − v)/C + O(1/T)`: the gradient of `‖z − v‖² / (2C)`. At high temperature
# distillation *is* regression of the student's logits onto the teacher's (Ba & Caruana 2014), the
# loss minikd calls `LogitMatchingLoss`. (For logits that are not zero-mean the limit is the
# gradient of the *centred* difference, `LogitMatchingLoss(center=True)`, since softmax ignores a
# row's mean.)

# %%
lm_gradient = LogitMatchingLoss(alpha=0.0).compute_gradient(z0, v0)  # (z - v) / (C N)
lm_loss = LogitMatchingLoss(alpha=0.0).compute_loss(z0, v0)  # ||z - v||² / (2 C N)
grad_err, loss_err = [], []
for T_ in T_grid:
    kd = DistillationLoss(T_, alpha=0.0)
    grad_err.append(np.linalg.norm(kd.compute_gradient(z0, v0) - lm_gradient) / np.linalg.norm(lm_gradient))
    loss_err.append(abs(kd.compute_loss(z0, v0) - lm_loss) / lm_loss)
grad_err, loss_err = np.array(grad_err), np.array(loss_err)
print("    T   gradient: |KD - LM| / |LM|    loss: |KD - LM| / LM")
for T_, g, l in zip(T_grid, grad_err, loss_err, strict=True):
    print(f"{T_:5g}          {g:.4f}                  {l:.4f}")
slope_grad = np.polyfit(np.log(T_grid[large]), np.log(grad_err[large]), 1)[0]
print(f"log-log slope of the gradient error for T >= 8: {slope_grad:+.3f}")
assert -1.1 < slope_grad < -0.9, "the gap to logit matching closes like 1/T"
assert grad_err[-1] < 0.02 and loss_err[-1] < 0.05

# Not zero-mean: the limit is the centred logit matching, not the plain one.
z_shift = z0 + 3.0  # every student logit shifted by the same constant: softmax is unchanged
kd_far = DistillationLoss(1000.0, alpha=0.0).compute_gradient(z_shift, v0)
centred = LogitMatchingLoss(alpha=0.0, center=True).compute_gradient(z_shift, v0)
plain = LogitMatchingLoss(alpha=0.0).compute_gradient(z_shift, v0)
err_centred = np.linalg.norm(kd_far - centred) / np.linalg.norm(centred)
err_plain = np.linalg.norm(kd_far - plain) / np.linalg.norm(plain)
print(f"shifted logits at T = 1000: error vs centred LM {err_centred:.1e}, vs plain LM {err_plain:.2f}")
assert err_centred < 1e-2 < 0.5 < err_plain

# %% [markdown]
# On our run the gradient gap is 59 % at `T = 1`, 12 % at `T = 8` and 0.8 % at `T = 128`, a slope
# of −0.98: first-order convergence, as the expansion says; each doubling of `T` halves it. The
# loss values converge too (0.4 % apart at `T = 128`). With shifted logits at `T = 1000`, the
# gradient is 0.1 % from the centred logit matching and 80 % from the plain one.
#
# So the temperature interpolates between two regimes: at low `T` the student mostly matches the
# teacher's top classes, at high `T` it matches every logit, including the very negative ones that
# training never constrained, which Hinton et al. suggest may be noisy. Intermediate temperatures
# ignore the most negative logits, and often work best for small students.

# %% [markdown]
# ## 6. One loss, many conventions
#
# Every distillation code base computes `w_hard · CE + w_soft · T² · KL` for some weights, but the
# hyperparameters that set them differ, and copying a value from one code base to another is a
# classic bug. The ones `minikd.interop` knows (its docstrings cite the source files it was checked
# against):
#
# | convention (source) | setting | w_hard | w_soft | notes |
# |---|---|---|---|---|
# | `minikd`, `aidotnet` (the seed library) | `alpha` | `alpha` | `1 − alpha` | alpha weights the **hard** term |
# | `pytorch_tutorial` (pytorch/tutorials, "Knowledge Distillation Tutorial") | `s`, `c` (*) | `c` | `s` | 0.25, 0.75 |
# | `keras` (keras-io example, current revision) | `alpha` | `alpha` | `1 − alpha` | same as minikd |
# | `keras_no_t2` (that example's 2020 revision, and copies) | `alpha` | `alpha` | `(1 − alpha)/T²` | no `T²` |
# | `torchdistill` (`KDLoss`) | `alpha`, `beta` = `1 − alpha` | `alpha` | `beta` | `alpha = 0`: bare KL |
# | `soft_alpha` (`loss_fn_kd` of knowledge-distillation-pytorch) | `alpha` | `1 − alpha` | `alpha` | **soft** |
#
# (*) `s = soft_target_loss_weight`, `c = ce_loss_weight`, two independent weights.
#
# `convert_hyperparameters(setting, from_convention, to_convention, T)` returns the setting in the
# target convention and a `loss_scale` with `L_to = loss_scale · L_from`;
# `reference_distillation_loss(z, v, y, T, setting, convention)` computes the loss (and gradient)
# the way that convention does, to compare against another library's numbers. Converting to
# `pytorch_tutorial`, whose two weights are free, reads off `(w_hard, w_soft)` of any setting:

# %%
print(f"conventions: {LOSS_CONVENTIONS}")
T = 4.0
print(f"alpha = 0.3 at T = {T:g}, as (w_hard, w_soft):")
expected = {"minikd": (0.3, 0.7), "aidotnet": (0.3, 0.7), "keras": (0.3, 0.7),
            "keras_no_t2": (0.3, 0.7 / T**2), "torchdistill": (0.3, 0.7), "soft_alpha": (0.7, 0.3)}
for convention, (w_hard, w_soft) in expected.items():
    weights = convert_hyperparameters(0.3, convention, "pytorch_tutorial", T).value
    w_hard_got, w_soft_got = weights["ce_loss_weight"], weights["soft_target_loss_weight"]
    print(f"   {convention:13s} w_hard {w_hard_got:.4f}   w_soft {w_soft_got:.4f}")
    np.testing.assert_allclose([w_hard_got, w_soft_got], [w_hard, w_soft], rtol=1e-12, err_msg=convention)

# %% [markdown]
# ### Converting settings, and checking the result
#
# Four conversions a reader is likely to need. For each, the loss computed in the source
# convention (written out by hand from its documented formula, with `minikd.functional`), times
# `loss_scale`, must equal minikd's `DistillationLoss` with the converted `alpha`; and the
# gradients must scale the same way.

# %%
def ce(z, y):
    return cross_entropy(z, y)


def kl(v, z, T):
    return kl_divergence(v, z, temperature=T)


cases = [
    # (description, setting, convention, T, the convention's own formula)
    ("PyTorch tutorial: soft_target_loss_weight=0.25, ce_loss_weight=0.75, T=2",
     {"soft_target_loss_weight": 0.25, "ce_loss_weight": 0.75}, "pytorch_tutorial", 2.0,
     lambda z, v, y, T: 0.25 * T**2 * kl(v, z, T) + 0.75 * ce(z, y)),
    ("Keras (current): alpha=0.1, T=10",
     0.1, "keras", 10.0,
     lambda z, v, y, T: 0.1 * ce(z, y) + 0.9 * T**2 * kl(v, z, T)),
    ("Keras (2020, no T²): alpha=0.1, T=10",
     0.1, "keras_no_t2", 10.0,
     lambda z, v, y, T: 0.1 * ce(z, y) + 0.9 * kl(v, z, T)),
    ("torchdistill KDLoss: alpha=0.5, beta=0.5, T=4",
     {"alpha": 0.5, "beta": 0.5}, "torchdistill", 4.0,
     lambda z, v, y, T: 0.5 * ce(z, y) + 0.5 * T**2 * kl(v, z, T)),
    ("knowledge-distillation-pytorch loss_fn_kd (soft alpha, batchmean): alpha=0.9, T=20",
     0.9, "soft_alpha", 20.0,
     lambda z, v, y, T: 0.9 * T**2 * kl(v, z, T) + 0.1 * ce(z, y)),
]
for description, setting, convention, T_, formula in cases:
    converted = convert_hyperparameters(setting, convention, "minikd", T_)
    theirs = formula(z, v, labels, T_)
    ref = reference_distillation_loss(z, v, labels, T_, setting, convention=convention)
    ours = DistillationLoss(temperature=T_, alpha=converted.value)
    ours_loss, ours_grad, _ = ours.loss_and_gradient(z, v, labels)
    print(f"{description}\n   -> minikd alpha = {converted.value:.4f}, loss_scale = {converted.loss_scale:.4f};"
          f"  their loss {theirs:.6f}, minikd's {ours_loss:.6f}")
    np.testing.assert_allclose(ref.loss, theirs, rtol=1e-12, err_msg=f"{convention}: reference vs formula")
    np.testing.assert_allclose(ours_loss, converted.loss_scale * theirs, rtol=1e-12,
                               err_msg=f"{convention}: L_minikd must be loss_scale * L_theirs")
    np.testing.assert_allclose(ours_grad, converted.loss_scale * ref.dlogits, rtol=1e-10, atol=1e-15,
                               err_msg=f"{convention}: gradients must scale by loss_scale")

# The two Keras revisions: same alpha, a different minikd alpha.
keras_now = convert_hyperparameters(0.1, "keras", "minikd", 10.0)
keras_2020 = convert_hyperparameters(0.1, "keras_no_t2", "minikd", 10.0)
np.testing.assert_allclose(keras_now, (0.1, 1.0), rtol=1e-12)  # the same alpha, the same loss
np.testing.assert_allclose(keras_2020.value, 0.1 * 100 / (0.1 * 100 + 0.9), rtol=1e-12)  # a T² / (a T² + 1 - a)
np.testing.assert_allclose(keras_2020.loss_scale, 100 / (0.1 * 100 + 0.9), rtol=1e-12)  # T² / (a T² + 1 - a)
# soft_alpha is the mirror image of minikd
np.testing.assert_allclose(convert_hyperparameters(0.9, "soft_alpha", "minikd", 20.0), (0.1, 1.0), rtol=1e-12)

# %% [markdown]
# On our run:
#
# - the PyTorch tutorial's 0.25 / 0.75 is minikd's `alpha = 0.75` exactly (`loss_scale = 1`);
# - Keras's current example is minikd's loss with the same `alpha = 0.1`;
# - Keras's first revision (no `T²`) with `alpha = 0.1, T = 10` is minikd's `alpha ≈ 0.917`, and
#   minikd's loss is 9.17 times the Keras one. The hard term dominates there: at `T = 10` the
#   KL without `T²` is tiny. Same training direction, but no minikd `alpha` reproduces the
#   printed loss values, and `alpha = 0.1` in minikd would be a very different experiment;
# - torchdistill's `alpha = 0.5, beta = 0.5` is minikd's `alpha = 0.5`;
# - `loss_fn_kd`'s `alpha = 0.9` (soft weight) is minikd's `alpha = 0.1`.
#
# Copying `alpha = 0.9` from `loss_fn_kd` straight into minikd would put 90 % of the weight on the
# labels instead of the teacher:

# %%
copied = DistillationLoss(temperature=20.0, alpha=0.9).loss_and_gradient(z, v, labels)[2]
meant = DistillationLoss(temperature=20.0, alpha=0.1).loss_and_gradient(z, v, labels)[2]
print(f"alpha copied as is (0.9): soft part {copied['soft']:.3f}, hard part {copied['hard']:.3f}")
print(f"alpha converted (0.1):    soft part {meant['soft']:.3f}, hard part {meant['hard']:.3f}")
assert copied["soft"] < meant["soft"] and copied["hard"] > meant["hard"]

# %% [markdown]
# Two more traps, documented in `minikd.interop.reference_distillation_loss`:
#
# - torchdistill's `KDLoss` with `alpha = 0` (pure distillation) returns the bare KL, without `T²`:
#   converting minikd's pure distillation at `T = 4` gives `{"alpha": 0, "beta": 1}` with
#   `loss_scale = 1/16`.
# - The original `loss_fn_kd` uses `nn.KLDivLoss()` with its default `reduction="mean"`, which
#   averages over all `N·C` entries: its soft term is `C` times smaller than the batch mean.

# %%
to_torchdistill = convert_hyperparameters(0.0, "minikd", "torchdistill", 4.0)
print(f"minikd pure distillation at T = 4 in torchdistill: {to_torchdistill}")
assert to_torchdistill.value == {"alpha": 0.0, "beta": 1.0}
np.testing.assert_allclose(to_torchdistill.loss_scale, 1 / 16, rtol=1e-12)
bare_kl = reference_distillation_loss(z, v, None, 4.0, {"alpha": 0.0, "beta": 1.0}, convention="torchdistill").loss
np.testing.assert_allclose(bare_kl, kl(v, z, 4.0), rtol=1e-12, err_msg="torchdistill alpha=0 is the bare KL")
np.testing.assert_allclose(bare_kl, DistillationLoss(4.0, 0.0).compute_loss(z, v) / 16, rtol=1e-12)

# %% [markdown]
# ## Exercises
#
# 1. Derive the gradient of the *soft-target cross-entropy* `−T² Σ_j q_j log p_j` (an earlier
#    revision of the PyTorch tutorial used it instead of the KL). Check numerically that it has the
#    same gradient as `T² KL` but a larger value, by `T² H(q)`.
# 2. Repeat section 4 with `alpha = 0.5` and labels: plot (or print) the ratio of the soft to the
#    hard part of `dlogits` as `T` grows, with and without the `T²`.
# 3. Take a student and teacher whose logits differ only in one very negative entry (say
#    `v_j = −20`, `z_j = −10`). At which temperature does that entry start to dominate the soft
#    gradient? What does that say about logit matching versus distillation at `T = 2`?
