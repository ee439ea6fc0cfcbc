# %% [markdown]
# # 13 — Relational knowledge: distances, angles and similarities
#
# Every loss in tutorials 04–10 gives each sample its own target: the teacher's softened output for
# *that* image. Two papers asked a different question — not "what does the teacher say about this
# image?" but "how does the teacher relate the images of a batch to each other?":
#
# - **RKD**, relational knowledge distillation (Park, Kim, Lu & Cho, CVPR 2019): the student's
#   embeddings of a batch should have the teacher's *pairwise distances* (relative to their mean) and
#   the teacher's *angles* in every triplet.
# - **SP**, similarity-preserving distillation (Tung & Mori, ICCV 2019): the student's batch
#   similarity matrix `S Sᵀ` (rows normalised) should be the teacher's.
#
# Both compare N × N (or N × N × N) matrices built from a whole batch, so the student's width need not
# be the teacher's and no per-sample target exists. This tutorial derives what they compute, shows
# what they are blind to, watches a student's similarity matrix move towards the teacher's, and
# measures on the digits when that helps accuracy and when it does not. (Hints, which match hidden
# layers sample by sample, are tutorial 12.)
#
# ## What you will learn
#
# - The two losses, written in a few lines of NumPy and checked against `RKDLoss` and
#   `SimilarityPreservingLoss`: RKD's distance term `‖x_i − x_j‖ / μ` and angle term
#   `cos ∠(x_j, x_i, x_k)` under a Huber loss, SP's `‖G_T − G_S‖²_F / N²`.
# - Why they need a batch: the loss of a batch is not a mean of per-sample losses; RKD needs N ≥ 3
#   (at N = 2 it is identically 0); how the trainer refuses a too-small `batch_size` and merges a
#   too-small last batch into the one before.
# - What they are blind to: RKD to scaling, shifting and rotating either embedding; SP to rotating the
#   feature space (and to one overall scale) — asserted numerically, together with what they do see.
# - A student's batch similarity matrices before and after training with SP and RKD, next to the
#   teacher's (a figure), and by how much they moved: KD alone takes the student's hidden-layer
#   similarities a third of the way to the teacher's, SP (with or without KD) twice as far.
# - When the relations help on the digits (10 seeds, paired): with 5 % of the labels, RKD adds 1.3
#   points to Hinton's KD and 4.0 to the labels alone, SP 0.7 and 3.2 — but on top of a better-tuned
#   KD (`T = 16`) only about 0.4; with all the labels neither adds anything (−0.4 to +0.2 points, noise).
# - That RKD alone, without labels, trains a student whose argmax is near chance (16 %), although its
#   logits are the teacher's up to a rotation, scale and shift (fitted without labels: 96 % accuracy).
#
# ## Before you run this
#
# - From the repository root: `python -m pip install -e ".[tutorials]"` (matplotlib for the two
#   figures; without it they are skipped and everything else runs).
# - Tutorials 04 and 05 show the trainer and the 5 %-of-the-labels experiment reused here. Reminder: in
#   `DistillationLoss(temperature, alpha)`, **alpha weights the hard (label) term**.
# - Full mode takes about a minute (40–70 s on our 2-core machine; most of it RKD's O(N³) angle term
#   on the full training set); `MINIKD_TUTORIAL_FAST=1` takes 10–15 s: 3 seeds instead of 10, 20
#   instead of 30 epochs on the full training set, and weaker versions of some claims asserted. Unlike
#   tutorials 04–10, FAST mode keeps the full teacher (a few seconds more): the relations are the
#   teacher's hidden layer's and logits', and a smaller teacher has other ones (exercise 5).

# %%
import inspect
import os
import re
import time
from pathlib import Path

import numpy as np

from minikd import (
    MLP,
    SGD,
    CompositeStrategy,
    DistillationLoss,
    KnowledgeDistillationTrainer,
    KnowledgeDistillationTrainerBase,
    SupervisedTrainer,
)
from minikd.datasets import label_subset, load_digits, train_test_split
from minikd.gradcheck import numerical_gradient, rel_error
from minikd.strategies import CrossEntropyLoss, RKDLoss, SimilarityPreservingLoss

FAST = os.environ.get("MINIKD_TUTORIAL_FAST") == "1"

try:
    import matplotlib

    matplotlib.use("Agg") if os.environ.get("MPLBACKEND") == "Agg" else None
    import matplotlib.pyplot as plt
except ImportError:
    plt = None

# Figures go to $MINIKD_TUTORIAL_OUTPUT if it is set, else next to this file when run as a script, else to
# the working directory (a notebook has no __file__); see tutorials/README.md.
OUTPUT_DIR = Path(os.environ.get("MINIKD_TUTORIAL_OUTPUT")
                  or (Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()))
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
STEM = "13_relational_knowledge"  # this file's name, for the figures' names
np.set_printoptions(precision=4, suppress=True, linewidth=110)
started = time.perf_counter()

# %% [markdown]
# ## 0. Data, a teacher and an untrained student
#
# The bundled digits split as in every tutorial (1,203 training and 594 test images), and the usual
# teacher: a `[64, 256, 256, 10]` MLP trained on every training label for 60 epochs (97.0 % test
# accuracy on our run), in FAST mode too (a few seconds). The student is the `[64, 32, 10]` MLP of
# tutorials 04–10: its last hidden layer has 32 units, the teacher's 256. The representations we will
# compare are the last hidden layers (after their ReLU, `cache.hidden[-1]`) and the logits.

# %%
X, y = load_digits()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.33, seed=0)

TEACHER_SIZES = [64, 256, 256, 10]
STUDENT_SIZES = [64, 32, 10]
teacher = MLP(TEACHER_SIZES, seed=0)
SupervisedTrainer(seed=0).train(teacher, X_train, y_train, epochs=60, batch_size=32,
                                optimizer=SGD(learning_rate=0.05, momentum=0.9), verbose=0)
teacher_accuracy = float(np.mean(teacher.predict(X_test) == y_test))
print(f"teacher {TEACHER_SIZES}: test accuracy {100 * teacher_accuracy:.1f} %")
assert teacher_accuracy > 0.94, teacher_accuracy


def last_hidden(model, X_batch):
    """The output of the model's last hidden layer (after its ReLU), shape (N, H): cache.hidden[-1]."""
    return model.forward_train(X_batch)[1].hidden[-1]


# One batch of 64 training images, the student's and the teacher's representations of it.
batch = np.random.default_rng(0).choice(len(X_train), size=64, replace=False)
X_batch, y_batch = X_train[batch], y_train[batch]
student = MLP(STUDENT_SIZES, seed=0)
S, T = last_hidden(student, X_batch), last_hidden(teacher, X_batch)     # (64, 32) and (64, 256)
z, v = student.forward(X_batch), teacher.forward(X_batch)               # logits, (64, 10) each
print(f"batch of N = {len(batch)}: student hidden S {S.shape}, teacher hidden T {T.shape}, logits {z.shape}")

# %% [markdown]
# ## 1. The losses
#
# **RKD** works on one embedding per model; the paper uses the final one, and so does `RKDLoss` by
# default (`student_layer="logits"`). For an embedding with rows `x_1 … x_N` (one per sample of the
# batch) it uses two relations:
#
# - **distance**, divided by the mean distance of the batch, so that only *relative* distances count:
#
#   $$ \psi_D(i, j) = \frac{\lVert x_i - x_j \rVert}{\mu}, \qquad
#      \mu = \frac{1}{N(N-1)} \sum_{i \ne j} \lVert x_i - x_j \rVert ; $$
#
# - **angle**: the cosine of the angle at `x_i` in the triangle `x_j, x_i, x_k`, from the unit
#   difference vectors `u_ij = (x_j − x_i) / ‖x_j − x_i‖` (a zero difference gives `u = 0`):
#
#   $$ \psi_A(i, j, k) = \langle u_{ij}, u_{ik} \rangle . $$
#
# The student's relations (`ψ^S`, from its embedding) are pulled towards the teacher's (`ψ^T`) by a
# Huber loss `h` (`h(r) = r²/2` for `|r| < 1`, `|r| − 1/2` beyond), averaged over all N² pairs and N³
# triplets (the degenerate ones included, as in the authors' code), with the paper's weights 25 and 50:
#
# $$ L_{\mathrm{RKD}} = \frac{25}{N^2} \sum_{i,j} h\big(\psi^S_D(i,j) - \psi^T_D(i,j)\big)
#    + \frac{50}{N^3} \sum_{i,j,k} h\big(\psi^S_A(i,j,k) - \psi^T_A(i,j,k)\big). $$
#
# **SP** works on a hidden layer (the last one, by default): with `S` the student's activations of the
# batch, shape `(N, d_s)`, it forms the N × N matrix of inner products `S Sᵀ` and scales each of its
# rows to unit length; the same for the teacher's `T`, shape `(N, d_t)`:
#
# $$ G_S = \mathrm{rownorm}(S S^\top), \quad G_T = \mathrm{rownorm}(T T^\top), \qquad
#    L_{\mathrm{SP}} = \frac{1}{N^2} \lVert G_T - G_S \rVert_F^2 . $$
#
# Neither needs `d_s = d_t`: both compare matrices indexed by samples, not by features.
#
# **SP's gradient, in three steps.** With `A = ∂L/∂G_S = 2 (G_S − G_T) / N²`; through the row
# normalisation `g_i = g̃_i / ‖g̃_i‖` (rows of `G̃ = S Sᵀ`), only the part of `A_i` orthogonal to `g_i`
# survives: `B_i = (A_i − (A_i · g_i) g_i) / ‖g̃_i‖`; and through `G̃ = S Sᵀ`, `∂L/∂S = (B + Bᵀ) S`.
# Every sample's gradient depends on every other sample of the batch. RKD's gradient follows the same
# pattern through distances and unit vectors, plus one term for the mean distance μ, which depends on
# every pair; it is derived in the docstring of `RKDLoss` (`minikd/strategies/relational.py`).
#
# Below, each formula in NumPy, checked against minikd's classes, and their gradients against central
# differences.

# %%
def huber(r):
    """smooth_l1 with delta = 1, elementwise."""
    return np.where(np.abs(r) < 1.0, 0.5 * r * r, np.abs(r) - 0.5)


def unit_differences(x):
    """u[i, j] = (x_j - x_i) / |x_j - x_i| (0 where x_j = x_i) and the distances |x_j - x_i|: (N, N, d), (N, N)."""
    e = x[None, :, :] - x[:, None, :]                      # e[i, j] = x_j - x_i: (N, N, d)
    norm = np.sqrt((e * e).sum(axis=-1))                   # (N, N), 0 on the diagonal
    return e / np.where(norm > 0, norm, 1.0)[..., None], norm


def scaled_distances(x):
    """psi_D: pairwise distances divided by their mean over i != j, (N, N)."""
    n = len(x)
    _, D = unit_differences(x)
    return D / (D.sum() / (n * (n - 1)))


def angles(x):
    """psi_A[i, j, k] = <u_ij, u_ik>, the cosine of the angle at x_i: (N, N, N)."""
    u, _ = unit_differences(x)
    return np.einsum("ijd,ikd->ijk", u, u)


def rkd(xs, xt):
    """L_RKD of section 1, from the two embeddings (N, d_s) and (N, d_t)."""
    distance = huber(scaled_distances(xs) - scaled_distances(xt)).mean()   # mean over N^2 pairs
    angle = huber(angles(xs) - angles(xt)).mean()                          # mean over N^3 triplets
    return 25.0 * distance + 50.0 * angle


def gram(h):
    """SP's G: the batch's inner products h h^T with each row scaled to unit length, (N, N)."""
    g = h @ h.T                                            # (N, d) @ (d, N) -> (N, N)
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def sp(hs, ht):
    """L_SP of section 1."""
    return float(((gram(ht) - gram(hs)) ** 2).sum()) / len(hs) ** 2


def sp_gradient(hs, ht):
    """dL_SP/dS by the three steps above."""
    n = len(hs)
    g_tilde = hs @ hs.T                                    # (N, N)
    norms = np.linalg.norm(g_tilde, axis=1, keepdims=True)
    g = g_tilde / norms
    A = 2 * (g - gram(ht)) / n**2                          # dL/dG_S
    B = (A - (A * g).sum(axis=1, keepdims=True) * g) / norms   # dL/dG~
    return (B + B.T) @ hs                                  # (N, N) @ (N, d_s) -> (N, d_s)


print(f"RKD on the logits:        ours {rkd(z, v):.6f}   RKDLoss() {RKDLoss().compute_loss(z, v):.6f}")
print(f"SP on the hidden layers:  ours {sp(S, T):.6f}   SimilarityPreservingLoss() "
      f"{SimilarityPreservingLoss().compute_loss(S, T):.6f}")
assert np.isclose(rkd(z, v), RKDLoss().compute_loss(z, v), rtol=1e-10)
assert np.isclose(sp(S, T), SimilarityPreservingLoss().compute_loss(S, T), rtol=1e-10)
np.testing.assert_allclose(sp_gradient(S, T), SimilarityPreservingLoss().compute_gradient(S, T), rtol=1e-8,
                           atol=1e-12)


def gradient_error(loss_fn, xs, xt):
    """Relative error of loss_fn's dL/dS against central differences (minikd.gradcheck)."""
    numeric = numerical_gradient(lambda x: loss_fn.compute_loss(x, xt), xs.copy())
    return rel_error(loss_fn.compute_gradient(xs, xt), numeric)


# The hand-derived gradients (the classes' docstrings) against central differences, on a small batch:
for name, loss_fn, xs, xt in [("RKD", RKDLoss(), z[:8], v[:8]), ("SP", SimilarityPreservingLoss(), S[:8], T[:8])]:
    err = gradient_error(loss_fn, xs, xt)
    print(f"{name}: relative error of dL/dS against central differences {err:.1e}")
    assert err < 1e-6, (name, err)

# %% [markdown]
# `RKDLoss(distance_weight=25.0, angle_weight=50.0)` are the paper's weights; `RKDLoss(angle_weight=0)`
# is the distance term alone (RKD-D). In the paper's notation the angle is `∠ t_i t_j t_k` with its vertex
# in the middle; the authors' code (and minikd) put the vertex first — the same set of triplets, named
# differently.
#
# ## 2. Relations need a batch
#
# **The loss of a batch is not a mean over its samples.** Hinton's KD loss is: split a batch in two
# and the mean of the halves' losses is the whole batch's loss, and a sample's gradient (times N) does
# not care which other samples share its batch. A relational loss compares the samples *with each
# other*: split the batch and the relations between the halves are gone; change a sample's batch-mates
# and its gradient changes.

# %%
kd = DistillationLoss(temperature=4.0, alpha=0.1)
first, second = slice(0, 32), slice(32, 64)
kd_halves = (kd.compute_loss(z[first], v[first], y_batch[first])
             + kd.compute_loss(z[second], v[second], y_batch[second])) / 2
sp_fn = SimilarityPreservingLoss()
sp_halves = (sp_fn.compute_loss(S[first], T[first]) + sp_fn.compute_loss(S[second], T[second])) / 2
print(f"KD: whole batch {kd.compute_loss(z, v, y_batch):.6f}, mean of the two halves {kd_halves:.6f}")
print(f"SP: whole batch {sp_fn.compute_loss(S, T):.6f}, mean of the two halves {sp_halves:.6f}")
assert np.isclose(kd.compute_loss(z, v, y_batch), kd_halves, rtol=1e-12)
assert abs(sp_fn.compute_loss(S, T) - sp_halves) > 0.05 * sp_fn.compute_loss(S, T)

# Sample 0's gradient, with two different sets of 31 batch-mates:
mates_a, mates_b = np.r_[0, 1:32], np.r_[0, 32:63]
kd_a = 32 * kd.compute_gradient(z[mates_a], v[mates_a], y_batch[mates_a])[0]
kd_b = 32 * kd.compute_gradient(z[mates_b], v[mates_b], y_batch[mates_b])[0]
sp_a, sp_b = sp_fn.compute_gradient(S[mates_a], T[mates_a])[0], sp_fn.compute_gradient(S[mates_b], T[mates_b])[0]
print(f"sample 0, N x dKD/dz with other batch-mates: relative change {rel_error(kd_a, kd_b):.1e}")
print(f"sample 0, dSP/dS with other batch-mates:     relative change {rel_error(sp_a, sp_b):.2f}")
np.testing.assert_allclose(kd_a, kd_b, rtol=1e-12, atol=1e-15)
assert rel_error(sp_a, sp_b) > 0.1

# %% [markdown]
# **How small a batch can be.** A relation needs samples to relate:
#
# - One sample has no distance and no angle. SP is still defined at N = 1 (`G = [[1]]` for both models)
#   but is then exactly 0; RKD refuses it.
# - Two samples have one distance, and divided by the mean distance it is 1 for *any* two distinct
#   points: RKD's distance term is identically 0 at N = 2. The only triplets are degenerate (two of
#   the three points coincide), so the angle term is 0 too. RKD carries information from N = 3 on.
#
# `min_batch_size` says what each loss accepts: 3 for RKD with its angle term (a triplet has an angle),
# 2 for the distance term alone and 2 for SP (one sample has no relation to another); a
# `CompositeStrategy` takes the largest of its terms'.

# %%
rng = np.random.default_rng(1)
for _ in range(5):                             # any two students, any two teachers
    a, b = rng.normal(size=(2, 10)), rng.normal(size=(2, 10)) * 5
    assert RKDLoss(angle_weight=0.0).compute_loss(a, b) == 0.0          # exactly: d / mean(d, d) = 1
    assert rkd(a, b) < 1e-12                                             # the angle term: rounding only
assert sp(S[:1], T[:1]) == 0.0                 # one sample: G = [[1]] on both sides, nothing to transfer
for fn, n in ((RKDLoss(), 2), (sp_fn, 1)):
    try:
        fn.compute_loss(S[:n], T[:n])
    except ValueError as exc:
        print(f"{type(fn).__name__} at N = {n}: ValueError: {exc}")
    else:
        raise AssertionError(f"{type(fn).__name__} should refuse a batch of {n}")
print("min_batch_size:", {"RKDLoss()": RKDLoss().min_batch_size,
                          "RKDLoss(angle_weight=0)": RKDLoss(angle_weight=0.0).min_batch_size,
                          "SimilarityPreservingLoss()": sp_fn.min_batch_size,
                          "KD + RKD": CompositeStrategy([(1.0, kd), (1.0, RKDLoss())]).min_batch_size})

# %% [markdown]
# **In the trainer.** `train` refuses a `batch_size` below the strategy's `min_batch_size`, naming it.
# And when the data do not divide into batches, the last, smaller batch could fall below it: 66 images in
# batches of 32 leave a last batch of 2, which has no angle. The trainer then merges it into the batch
# before, so every image is still seen once per epoch. The rule, in `_run_epoch` (`minikd/trainer/base.py`):

# %%
epoch_source = inspect.getsource(KnowledgeDistillationTrainerBase._run_epoch).splitlines()
rule = [line.strip() for line in epoch_source
        if line.strip().startswith(("n_batches", "if n_batches > 1", "idx = perm["))]
print("\n".join(rule))
assert any("min_batch_size" in line for line in rule)

# %% [markdown]
# We record the batch sizes `train_step` receives in one epoch, and first check the refusal:

# %%
try:
    KnowledgeDistillationTrainer(teacher, RKDLoss(), seed=0).train(MLP(STUDENT_SIZES, seed=0), X_train, y_train,
                                                                  epochs=1, batch_size=2, verbose=0)
except ValueError as exc:
    print(f"batch_size=2 with RKDLoss: ValueError: {exc}")
else:
    raise AssertionError("train should refuse batch_size=2 for RKDLoss")


def batch_sizes(strategy, n=66, batch_size=32):
    """The sizes of the batches train_step gets in one epoch over n training images."""
    trainer = KnowledgeDistillationTrainer(teacher, strategy, seed=0)
    sizes, step = [], trainer.train_step

    def recording_step(student, X_batch, *args, **kwargs):
        sizes.append(len(X_batch))
        return step(student, X_batch, *args, **kwargs)

    trainer.train_step = recording_step        # the epoch loop calls self.train_step: now ours
    trainer.train(MLP(STUDENT_SIZES, seed=0), X_train[:n], y_train[:n], epochs=1, batch_size=batch_size, verbose=0)
    return sizes


merge = {"KD alone": batch_sizes(kd),
         "KD + RKD": batch_sizes(CompositeStrategy([(1.0, kd), (1.0, RKDLoss())])),
         "KD + RKD distances only": batch_sizes(CompositeStrategy([(1.0, kd), (1.0, RKDLoss(angle_weight=0.0))])),
         "KD + SP": batch_sizes(CompositeStrategy([(1.0, kd), (3000.0, SimilarityPreservingLoss())]))}
for name, sizes in merge.items():
    print(f"66 images, batch_size=32, {name:<24} batches of {sizes}")
assert merge["KD alone"] == [32, 32, 2] and merge["KD + SP"] == [32, 32, 2]
assert merge["KD + RKD"] == [32, 34]                        # the 2 left over joined the batch before
assert merge["KD + RKD distances only"] == [32, 32, 2]     # 2 >= min_batch_size = 2: kept
sp_65 = batch_sizes(CompositeStrategy([(1.0, kd), (3000.0, SimilarityPreservingLoss())]), n=65)
print(f"65 images, batch_size=32, {'KD + SP':<24} batches of {sp_65}")
assert sp_65 == [32, 33]                                     # 1 < SP's min_batch_size = 2: it joined

# %% [markdown]
# Two things to notice. The distance-only RKD keeps a last batch of 2, which its `min_batch_size` allows,
# but, as shown above, its loss on 2 samples is 0: that batch only trains the KD term. SP merges a last
# batch of 1 into the one before (its minimum is 2). With relational losses choose `batch_size` so that
# the last batch is not tiny. Bigger
# batches give more relations per step, at a price: the angle term costs O(N³ d) time and memory; on our
# machine an epoch of KD + RKD over the 1,203 training images took about five times as long with
# batches of 64 as with batches of 32. We train with batches of 32 below.
#
# ## 3. What the relations are blind to
#
# Because RKD's distances are divided by their mean and its angles are angles, **scaling either embedding
# by any factor c > 0, shifting it, or rotating (or reflecting) it changes neither term**. SP's `S Sᵀ` is
# unchanged by `S → S Q` for any orthogonal `Q`, a rotation of the feature space, and the row
# normalisation removes one overall scale. Each, numerically — and what they do see:

# %%
def random_rotation(d, seed):
    """A random orthogonal d x d matrix (QR of a Gaussian matrix)."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))


rkd_d = RKDLoss(angle_weight=0.0)        # the distance term alone (times 25)
base = rkd_d.compute_loss(z, v)
print(f"RKD distance term: {base:.6f}")
for c in (1e-3, 7.0, 1e3):
    scaled_student, scaled_teacher = rkd_d.compute_loss(c * z, v), rkd_d.compute_loss(z, c * v)
    print(f"  student logits x {c:g}: {scaled_student:.6f}   teacher logits x {c:g}: {scaled_teacher:.6f}")
    assert np.isclose(scaled_student, base, rtol=1e-10) and np.isclose(scaled_teacher, base, rtol=1e-10)
    # so the gradient with respect to c z is the gradient with respect to z, divided by c
    np.testing.assert_allclose(rkd_d.compute_gradient(c * z, v), rkd_d.compute_gradient(z, v) / c, rtol=1e-8,
                               atol=1e-12 * np.abs(rkd_d.compute_gradient(z, v)).max() / c)
Q10 = random_rotation(10, seed=0)
shift = np.random.default_rng(2).normal(size=10) * 3
rkd_base = RKDLoss().compute_loss(z, v)
transformed = RKDLoss().compute_loss(0.01 * z @ Q10 + shift, v)
teacher_moved = RKDLoss().compute_loss(z, 100 * v @ Q10 - shift)
print(f"RKD, both terms: {rkd_base:.6f}; student logits scaled by 0.01, rotated and shifted: {transformed:.6f}; "
      f"teacher logits scaled by 100, rotated and shifted: {teacher_moved:.6f}")
assert np.isclose(transformed, rkd_base, rtol=1e-9) and np.isclose(teacher_moved, rkd_base, rtol=1e-9)
row_scaled = rkd_d.compute_loss(z * np.linspace(0.5, 2.0, len(z))[:, None], v)
print(f"RKD distance term with each sample's logits scaled by its own factor in [0.5, 2]: {row_scaled:.6f}")
assert abs(row_scaled - base) > 0.1 * base          # relative positions changed: RKD sees it

sp_base = sp_fn.compute_loss(S, T)
Q32, Q256 = random_rotation(S.shape[1], seed=1), random_rotation(T.shape[1], seed=2)
rotated = {"student S Q (32 x 32)": sp_fn.compute_loss(S @ Q32, T),
           "teacher T Q (256 x 256)": sp_fn.compute_loss(S, T @ Q256),
           "student 1000 S": sp_fn.compute_loss(1000 * S, T)}
print(f"\nSP: {sp_base:.6f}; " + "; ".join(f"{k}: {val:.6f}" for k, val in rotated.items()))
for val in rotated.values():
    assert np.isclose(val, sp_base, rtol=1e-9)
not_invariant = {"features scaled by different factors, S diag(c)": sp_fn.compute_loss(
                     S * np.geomspace(0.2, 5.0, S.shape[1]), T),
                 "samples scaled by different factors, diag(c) S": sp_fn.compute_loss(
                     S * np.geomspace(0.2, 5.0, len(S))[:, None], T),
                 "features centred, S - mean over the batch": sp_fn.compute_loss(S - S.mean(axis=0), T)}
for k, val in not_invariant.items():
    print(f"SP, {k}: {val:.6f}")
    assert abs(val - sp_base) > 0.5 * sp_base, (k, val, sp_base)
# Hinton's KD sees every one of these: scaling the logits is changing the temperature.
print(f"\nKD loss: {kd.compute_loss(z, v, y_batch):.4f}; student logits x 7: {kd.compute_loss(7 * z, v, y_batch):.4f}")
assert abs(kd.compute_loss(7 * z, v, y_batch) - kd.compute_loss(z, v, y_batch)) > 0.1

# %% [markdown]
# The invariances are what lets a relational loss connect a 32-unit student to a 256-unit teacher with
# no regressor (a hint between different widths needs one, `HintLoss`'s `W`; tutorial 12): the loss asks
# for a geometry, not for coordinates. They are also a limit. SP sees more than RKD: only orthogonal maps
# leave it unchanged, not other linear maps (scaling the features differently); it sees each sample's
# own scale; and it is not centred (removing the batch mean of each feature changes it a lot). RKD does
# not care *where* the student puts its logits, nor how large they are, only how they are arranged.
# Section 6 shows what that means for a student trained with RKD alone.
#
# ## 4. Training with relations: the batch similarity matrices
#
# In a trainer a relational loss is one more term of a `CompositeStrategy`. For SP on the last hidden
# layers, `CompositeStrategy([(1.0, DistillationLoss(4.0, 0.1)), (3000.0, SimilarityPreservingLoss())])`:
# step 1 of `train_step` gives the teacher's logits *and* the hidden layers the strategy declares
# (cached by dataset index), step 3 computes every term on its layers, step 4 backpropagates the
# gradient that SP returns for the student's hidden layer together with the one for the logits:

# %%
source = inspect.getsource(KnowledgeDistillationTrainerBase.train_step).splitlines()
first = next(i for i, line in enumerate(source) if "# 1." in line)
last = next(i for i, line in enumerate(source) if "# 4." in line)
print("\n".join(line.strip() for line in source[first:last + 1]))
assert all(re.search(rf"# {k}\.", "\n".join(source[first:last + 1])) for k in (1, 2, 3, 4))

# %% [markdown]
# **Weights.** We do not tune them: 3000 for SP and 1 for RKD (with its internal 25 and 50) are the
# weights in the example scripts of RepDistiller (Tian, Krishnan & Isola, ICLR 2020), the PyTorch
# benchmark of distillation losses whose SP and RKD code minikd's conventions were checked against, and
# `DistillationLoss(temperature=4.0, alpha=0.1)` is the setting of tutorial 05. (Tutorial 09 found higher
# temperatures better here; exercise 2 asks whether the relations still help then.) SP's weight is large
# because its loss is small: rows of unit length over N = 32 entries have entries of about 0.2, and
# `L_SP` averages squared differences of those (0.0015 for the untrained student of section 1, whose KD
# loss was 24).
#
# **The experiment of tutorial 05.** For each seed, `label_subset(y_train, 0.05, seed)` picks 60
# training images (six per digit); every student starts from `MLP([64, 32, 10], seed=seed)`, shuffles
# with the same seed and trains for 60 epochs with SGD (learning rate 0.05, momentum 0.9, batches of
# 32: 32 + 28) on those 60 images only. Six students per seed:
#
# | student | loss |
# |---|---|
# | from scratch | cross-entropy with the 60 labels (`SupervisedTrainer`) |
# | KD | `DistillationLoss(4.0, 0.1)` (teacher and labels) |
# | KD + RKD | KD + 1 × `RKDLoss()` on the logits |
# | KD + SP | KD + 3000 × `SimilarityPreservingLoss()` on the last hidden layers (32 and 256 units) |
# | labels + RKD | `CrossEntropyLoss()` + 1 × `RKDLoss()`: the relations and the labels, no KD term |
# | labels + SP | `CrossEntropyLoss()` + 3000 × SP |
#
# The last two answer "what do the relations do on their own?". Without labels *and* without KD a
# student would learn no class at all from RKD (section 6 shows it), so we keep the labels; this is also
# how RepDistiller runs them (its `-a 0`: cross-entropy plus the relational term, no KD). 10 seeds (3 in
# FAST mode) — a student trains in well under a second here.
#
# After training we measure, on a fixed batch of **60 test images** (six per digit, sorted by class,
# images no student trained on), how far each student's relations are from the teacher's:
# `‖G_T − G_S‖_F / N` for SP's matrices of the last hidden layers, and `‖ψ^T_D − ψ^S_D‖_F / N` for
# RKD's scaled distances of the logits.

# %%
KINDS = ("from scratch", "KD", "KD + RKD", "KD + SP", "labels + RKD", "labels + SP")
SP_WEIGHT, RKD_WEIGHT = 3000.0, 1.0


def make_strategy(kind, temperature=4.0):
    """The loss of each student of the table above (None: SupervisedTrainer)."""
    kd_term = (1.0, DistillationLoss(temperature=temperature, alpha=0.1))
    labels = (1.0, CrossEntropyLoss())
    rkd_term, sp_term = (RKD_WEIGHT, RKDLoss()), (SP_WEIGHT, SimilarityPreservingLoss())
    return {"from scratch": None, "KD": kd_term[1], "KD + RKD": CompositeStrategy([kd_term, rkd_term]),
            "KD + SP": CompositeStrategy([kd_term, sp_term]), "labels + RKD": CompositeStrategy([labels, rkd_term]),
            "labels + SP": CompositeStrategy([labels, sp_term])}[kind]


def train_student(kind, seed, X_seen, y_seen, epochs, temperature=4.0):
    student = MLP(STUDENT_SIZES, seed=seed)
    strategy = make_strategy(kind, temperature)
    trainer = SupervisedTrainer(seed=seed) if strategy is None else KnowledgeDistillationTrainer(
        teacher, strategy, seed=seed)
    trainer.train(student, X_seen, y_seen, epochs=epochs, batch_size=32,
                  optimizer=SGD(learning_rate=0.05, momentum=0.9), verbose=0)
    return student


# The fixed batch: six test images of each digit, sorted by class.
pick = np.random.default_rng(0)
shown = np.concatenate([pick.choice(np.flatnonzero(y_test == c), size=6, replace=False) for c in range(10)])
X_shown = X_test[shown]
teacher_G, teacher_D = gram(last_hidden(teacher, X_shown)), scaled_distances(teacher.forward(X_shown))


def relation_distances(model):
    """(SP distance, RKD distance) of a model's relations on the fixed batch to the teacher's."""
    n = len(X_shown)
    return (np.linalg.norm(teacher_G - gram(last_hidden(model, X_shown))) / n,
            np.linalg.norm(teacher_D - scaled_distances(model.forward(X_shown))) / n)


SEEDS_SCARCE = list(range(3)) if FAST else list(range(10))
EPOCHS_SCARCE = 60
scarce = {kind: [] for kind in KINDS}            # test accuracy per seed
gap = {kind: [] for kind in ("untrained",) + KINDS}     # (SP distance, RKD distance) per seed
students_seed0 = {}
for seed in SEEDS_SCARCE:
    subset = label_subset(y_train, 0.05, seed=seed)
    assert len(subset) == 60
    gap["untrained"].append(relation_distances(MLP(STUDENT_SIZES, seed=seed)))
    if seed == SEEDS_SCARCE[0]:
        students_seed0["untrained"] = MLP(STUDENT_SIZES, seed=seed)
    for kind in KINDS:
        trained = train_student(kind, seed, X_train[subset], y_train[subset], EPOCHS_SCARCE)
        scarce[kind].append(float(np.mean(trained.predict(X_test) == y_test)))
        gap[kind].append(relation_distances(trained))
        if seed == SEEDS_SCARCE[0]:
            students_seed0[kind] = trained
scarce = {kind: np.array(acc) for kind, acc in scarce.items()}
gap = {kind: np.array(d) for kind, d in gap.items()}        # (seeds, 2)

print(f"relations on 60 test images, distance to the teacher's, mean over {len(SEEDS_SCARCE)} seeds")
print(f"{'student':<14} {'SP: |G_T - G_S|/N':>18} {'RKD: |psi_T - psi_S|/N':>23}")
for kind, d in gap.items():
    print(f"{kind:<14} {d[:, 0].mean():>18.3f} {d[:, 1].mean():>23.3f}")

# %% [markdown]
# On our run (full mode, mean over 10 seeds):
#
# ```
# student         SP: |G_T - G_S|/N  RKD: |psi_T - psi_S|/N
# untrained                   0.040                   0.358
# from scratch                0.027                   0.219
# KD                          0.027                   0.153
# KD + RKD                    0.025                   0.107
# KD + SP                     0.013                   0.137
# labels + RKD                0.027                   0.096
# labels + SP                 0.013                   0.155
# ```
#
# The figure below shows seed 0. Top row: SP's matrices `G` of the last hidden layer; bottom row: RKD's
# scaled distances `ψ_D` of the logits (dark = close). The teacher's hidden layer groups the images of
# each digit (the bright blocks on the diagonal; the 0s, 3s, 4s and 6s most clearly). The untrained
# student's random features already relate some images (similar pixels give similar features) but show
# none of the blocks. **KD alone, like the labels alone, moves the student's hidden-layer similarities
# only a third of the way** (0.040 → 0.027), and mostly makes them flatter; **SP, with or without KD,
# moves them twice as far** (0.013), and the teacher's blocks appear. KD asks for the teacher's outputs,
# not for its internal geometry. On the logits it is the other way round: KD already moves the
# distances more than halfway (0.358 → 0.153; matching the teacher's outputs fixes much of their
# geometry), and RKD adds a refinement (0.107, or 0.096 with the labels instead of KD). Each loss moves
# the relation it is about: RKD hardly moves the hidden layer's `G` (0.025), SP moves the logits a
# little (0.137).

# %%
sp_dist, rkd_dist = {k: d[:, 0] for k, d in gap.items()}, {k: d[:, 1] for k, d in gap.items()}
# SP pulls the student's hidden-layer similarities towards the teacher's by a wide margin: to less than
# half of the untrained distance, and to less than 60 % of what is left without SP (70 % in every seed).
assert np.all(sp_dist["KD + SP"] < 0.5 * sp_dist["untrained"]), sp_dist
for with_sp, without in (("KD + SP", "KD"), ("labels + SP", "from scratch")):
    assert sp_dist[with_sp].mean() < 0.6 * sp_dist[without].mean(), sp_dist
    assert np.all(sp_dist[with_sp] < 0.7 * sp_dist[without]), sp_dist
# KD alone moves them much less than SP does (on average less than 60 % as far; less far in every seed):
kd_move, sp_move = sp_dist["untrained"] - sp_dist["KD"], sp_dist["untrained"] - sp_dist["KD + SP"]
assert kd_move.mean() < 0.6 * sp_move.mean() and np.all(kd_move < 0.8 * sp_move), (kd_move, sp_move)
# On the logits, KD alone already removes more than half of RKD's distance to the teacher on average (over
# 40 % in every seed); RKD goes further, in every seed:
assert rkd_dist["KD"].mean() < 0.5 * rkd_dist["untrained"].mean(), rkd_dist
assert np.all(rkd_dist["KD"] < 0.6 * rkd_dist["untrained"]), rkd_dist
assert np.all(rkd_dist["KD + RKD"] < 0.85 * rkd_dist["KD"]), rkd_dist

# %%
if plt is None:
    print("matplotlib is not installed: skipping the plot (pip install -e '.[tutorials]')")
else:
    rows = [("SP: G of the last hidden layer", teacher_G, lambda m: gram(last_hidden(m, X_shown)), 0, "KD + SP"),
            ("RKD: scaled distances of the logits", teacher_D, lambda m: scaled_distances(m.forward(X_shown)), 1,
             "KD + RKD")]
    fig, axes = plt.subplots(2, 4, figsize=(14, 7))
    for r, (title, teacher_matrix, relation, column, with_relation) in enumerate(rows):
        matrices = [("teacher", teacher_matrix)] + [(k, relation(students_seed0[k]))
                                                    for k in ("untrained", "KD", with_relation)]
        vmax = max(float(m.max()) for _, m in matrices)     # one colour scale per row
        for ax, (name, matrix) in zip(axes[r], matrices, strict=True):
            image = ax.imshow(matrix, vmin=0.0, vmax=vmax, cmap="viridis")
            distance = "" if name == "teacher" else f"\ndistance to the teacher's {gap[name][0, column]:.3f}"
            ax.set_title(f"{name}{distance}", fontsize=9)
            ax.set_xticks(2.5 + 6 * np.arange(10), labels=range(10), fontsize=7)
            ax.set_yticks(2.5 + 6 * np.arange(10), labels=range(10), fontsize=7)
        axes[r, 0].set_ylabel(title, fontsize=9)
        fig.colorbar(image, ax=list(axes[r]), shrink=0.8)
    fig.suptitle(f"Relations between 60 test images (6 per digit, sorted), student seed {SEEDS_SCARCE[0]}, "
                 "trained on 60 labelled images")
    out = OUTPUT_DIR / f"{STEM}_similarity.png"
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print(f"saved {out}")
    if "get_ipython" in globals():  # a notebook (and the docs site): the saved PNG in the cell's output
        from IPython.display import Image, display
        display(Image(filename=out))
    elif not FAST and matplotlib.get_backend().lower() != "agg":  # a script: a window, unless headless
        plt.show()
    plt.close(fig)

# %% [markdown]
# ## 5. When the relations help: accuracy
#
# The same six students, first on the 60 labelled images above, then on the whole training set (1,203
# images and their labels; 30 epochs, 10 seeds — or 20 epochs and 3 seeds in FAST mode, which is why
# its numbers there are a little lower). Test accuracy after the last epoch, no early stopping, no
# selection. Every student of a seed starts from the same weights and sees the same batches, so we also
# compare them seed by seed (a *paired* comparison, as in tutorial 09).

# %%
SEEDS_FULL = list(range(3)) if FAST else list(range(10))
EPOCHS_FULL = 20 if FAST else 30
full_set = {kind: np.array([float(np.mean(train_student(kind, seed, X_train, y_train, EPOCHS_FULL).predict(X_test)
                                          == y_test)) for seed in SEEDS_FULL]) for kind in KINDS}

results = {"60 labelled images (5 %)": scarce, f"all {len(y_train)} labelled images": full_set}
print(f"test accuracy (%), mean ± std over seeds ({len(SEEDS_SCARCE)} with 5 % of the labels, "
      f"{len(SEEDS_FULL)} with all); teacher {100 * teacher_accuracy:.1f} %")
print(f"{'student':<14}" + "".join(f"{name:>28}" for name in results))
for kind in KINDS:
    print(f"{kind:<14}" + "".join(f"{100 * acc[kind].mean():>21.1f} ± {100 * acc[kind].std():.1f}"
                                  for acc in results.values()))

COMPARISONS = [("KD", "from scratch"), ("KD + RKD", "KD"), ("KD + SP", "KD"),
               ("labels + RKD", "from scratch"), ("labels + SP", "from scratch")]
gain, ahead = {}, {}    # gain[setting][kind]: mean paired gain over its baseline, in points; ahead: seeds ahead
for name, acc in results.items():
    gain[name] = {kind: 100 * float(np.mean(acc[kind] - acc[base])) for kind, base in COMPARISONS}
    ahead[name] = {kind: int(np.sum(acc[kind] > acc[base])) for kind, base in COMPARISONS}
print("\npaired gain over the baseline, in points (seeds ahead / seeds):")
for kind, base in COMPARISONS:
    print(f"  {kind + ' vs ' + base:<28}" + "".join(
        f"{gain[name][kind]:>+14.1f} ({ahead[name][kind]}/{len(acc[kind])})" for name, acc in results.items()))
few, every = results                 # the two settings' names

# %% [markdown]
# On our run (full mode):
#
# ```
# test accuracy (%), mean ± std over seeds (10 with 5 % of the labels, 10 with all); teacher 97.0 %
# student           60 labelled images (5 %)    all 1203 labelled images
# from scratch                   84.5 ± 2.2                 96.1 ± 0.5
# KD                             91.0 ± 1.0                 96.9 ± 0.3
# KD + RKD                       92.3 ± 0.7                 96.6 ± 0.5
# KD + SP                        91.6 ± 0.9                 96.5 ± 0.4
# labels + RKD                   88.5 ± 2.2                 96.3 ± 0.4
# labels + SP                    87.7 ± 2.1                 95.9 ± 0.3
#
# paired gain over the baseline, in points (seeds ahead / seeds):
#   KD vs from scratch                    +6.5 (10/10)          +0.8 (8/10)
#   KD + RKD vs KD                        +1.3 (9/10)          -0.3 (3/10)
#   KD + SP vs KD                         +0.7 (9/10)          -0.4 (2/10)
#   labels + RKD vs from scratch          +4.0 (10/10)          +0.2 (5/10)
#   labels + SP vs from scratch           +3.2 (10/10)          -0.2 (3/10)
# ```
#
# What this says, each claim asserted on the numbers you just measured (FAST mode, with 3 seeds and
# shorter runs on the full set, asserts weaker margins where noted):
#
# **1. With 5 % of the labels, RKD on the logits adds about a point to KD, SP about half as much.**
# KD + RKD is ahead of KD in 9 of 10 seeds, by 1.3 points on average, and its spread over seeds is the
# smallest of all (0.7). KD + SP gains 0.7 points (also ahead in 9 of 10). Both are small next to what
# KD itself adds to the labels (6.5 points, tutorial 05's result), and neither weight was tuned for these
# models.

# %%
assert gain[few]["KD"] > 3.0, gain[few]                      # tutorial 05's result: KD beats the labels alone
assert gain[few]["KD + RKD"] > 0.5, gain[few]
assert ahead[few]["KD + RKD"] >= (len(SEEDS_SCARCE) if FAST else 8), ahead[few]
assert 0.0 < gain[few]["KD + SP"] < gain[few]["KD + RKD"], gain[few]
assert max(gain[few]["KD + RKD"], gain[few]["KD + SP"]) < gain[few]["KD"] / 2, gain[few]

# %% [markdown]
# **2. Without KD, the relations still carry part of the teacher's knowledge, but less than its outputs
# do.** The labels plus RKD (plus SP) beat the labels alone by 4.0 (3.2) points, in every seed, and
# stay 2.5 (3.3) points below KD: the teacher's per-sample soft targets say more than its relations
# between samples. (FAST mode asserts a gain of 1 point instead of 2.)

# %%
for kind in ("labels + RKD", "labels + SP"):
    assert gain[few][kind] > (1.0 if FAST else 2.0), (kind, gain[few])
    assert ahead[few][kind] >= (len(SEEDS_SCARCE) - 1 if FAST else 9), (kind, ahead[few])
    assert scarce[kind].mean() < scarce["KD"].mean() - 0.01, (kind, scarce[kind].mean(), scarce["KD"].mean())

# %% [markdown]
# **3. With all the labels, the relations add nothing.** On the full training set every relational
# student is within half a point of its baseline on our run (asserted: within one point): −0.3 and −0.4
# on top of KD, ahead of it in only 3 and 2 of 10 seeds, and +0.2 and −0.2 on top of the labels. If
# anything, the relational terms cost KD a few tenths. KD itself adds only 0.8 points there (tutorial
# 04): with 1,203 labelled images the student already learns the classes, and the little that is left
# is not what the teacher's relations fix. The gains of claims 1 and 2 appear only when labels are scarce.

# %%
for kind in ("KD + RKD", "KD + SP", "labels + RKD", "labels + SP"):
    assert abs(gain[every][kind]) < 1.0, (kind, gain[every])
for kind in ("KD + RKD", "KD + SP"):
    assert gain[every][kind] < 0.5, (kind, gain[every])
for kind in ("labels + RKD", "labels + SP"):
    assert gain[few][kind] > gain[every][kind] + (1.0 if FAST else 2.0), (kind, gain[few], gain[every])
assert gain[few]["KD + RKD"] > gain[every]["KD + RKD"] + (0.5 if FAST else 1.0), (gain[few], gain[every])
assert gain[every]["KD"] < 2.0, gain[every]

# %% [markdown]
# **4. Part of RKD's point on few labels makes up for an untuned KD.** Tutorial 09 found `T = 16` much
# better than `T = 4` for this student with 60 labels. The same three students with
# `DistillationLoss(16.0, 0.1)` in their KD term (same seeds, same 60 images each):

# %%
tuned = {kind: [] for kind in ("KD", "KD + RKD", "KD + SP")}
for seed in SEEDS_SCARCE:
    subset = label_subset(y_train, 0.05, seed=seed)
    for kind in tuned:
        student = train_student(kind, seed, X_train[subset], y_train[subset], EPOCHS_SCARCE, temperature=16.0)
        tuned[kind].append(float(np.mean(student.predict(X_test) == y_test)))
tuned = {kind: np.array(acc) for kind, acc in tuned.items()}
tuned_gain = {kind: 100 * float(np.mean(tuned[kind] - tuned["KD"])) for kind in ("KD + RKD", "KD + SP")}
print(f"60 labelled images, KD at T = 16, test accuracy (%) over {len(SEEDS_SCARCE)} seeds:")
for kind, acc in tuned.items():
    print(f"  {kind:<10} {100 * acc.mean():.1f} ± {100 * acc.std():.1f}   worst seed {100 * acc.min():.1f}"
          + ("" if kind == "KD" else f"   paired gain over KD {tuned_gain[kind]:+.1f} "
                                     f"({int(np.sum(acc > tuned['KD']))}/{len(acc)} seeds ahead)"))

# %% [markdown]
# On our run: KD at `T = 16` reaches 93.1 ± 1.2 %, more than KD + RKD at `T = 4` (92.3 %): choosing the
# temperature does more than adding a relational loss. On top of it, RKD adds +0.4 points and SP +0.5
# (each ahead in 7 of 10 seeds), a third of RKD's gain at `T = 4`. What remains is mostly in the worst
# seeds: the spread drops from 1.2 to 0.7 points and the worst seed rises from 91.1 % to 92.6 % (RKD)
# and 92.4 % (SP).

# %%
assert tuned["KD"].mean() > scarce["KD"].mean() + 0.01, (tuned["KD"].mean(), scarce["KD"].mean())
assert tuned["KD"].mean() > scarce["KD + RKD"].mean(), (tuned["KD"].mean(), scarce["KD + RKD"].mean())
assert tuned_gain["KD + RKD"] < gain[few]["KD + RKD"] / 2, (tuned_gain, gain[few])
for kind in ("KD + RKD", "KD + SP"):
    assert abs(tuned_gain[kind]) < 1.0, tuned_gain
    assert tuned[kind].min() > tuned["KD"].min(), (kind, tuned)

# %%
if plt is None:
    print("matplotlib is not installed: skipping the plot (pip install -e '.[tutorials]')")
else:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    colors = ["tab:gray", "tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    for ax, (name, acc) in zip(axes, results.items(), strict=True):
        means = [100 * acc[kind].mean() for kind in KINDS]
        stds = [100 * acc[kind].std() for kind in KINDS]
        ax.bar(range(len(KINDS)), means, yerr=stds, capsize=4, color=colors)
        ax.axhline(100 * teacher_accuracy, color="black", linestyle="--", linewidth=1, label="teacher")
        ax.set_xticks(range(len(KINDS)), labels=KINDS, rotation=25, ha="right", fontsize=8)
        low = min(m - s for m, s in zip(means, stds, strict=True))
        ax.set_ylim(np.floor(low - 1), 100)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{name}: mean ± std over {len(next(iter(acc.values())))} seeds", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"[64, 32, 10] students of a {TEACHER_SIZES} teacher", fontsize=11)
    fig.tight_layout()
    out = OUTPUT_DIR / f"{STEM}_accuracy.png"
    fig.savefig(out, dpi=120)
    print(f"saved {out}")
    if "get_ipython" in globals():  # a notebook (and the docs site): the saved PNG in the cell's output
        from IPython.display import Image, display
        display(Image(filename=out))
    elif not FAST and matplotlib.get_backend().lower() != "agg":  # a script: a window, unless headless
        plt.show()
    plt.close(fig)

# %% [markdown]
# ## 6. Relations alone, without labels: the right geometry under the wrong names
#
# What if the student gets nothing but RKD — no labels, no KD? `trainer.train(student, X, None, ...)`
# trains on the teacher alone, and every one of the 1,203 training images can serve, labelled or not.
# Section 3 predicts the outcome: RKD is blind to rotating, reflecting, scaling and shifting the
# logits, so nothing tells the student that its first logit should mean "0". Its argmax should be no
# better than a guess — while the *arrangement* of its logits is the teacher's.
#
# To see the arrangement, we fit the one similarity transform (rotation or reflection `Q`, scale `c`,
# shift) that best maps the student's logits on the training images onto the teacher's — orthogonal
# Procrustes, one SVD — and then read the test images through it. The fit uses the teacher's logits,
# never a label. As a control, the same fit for the untrained student shows how much of the accuracy
# such a map can create on its own.

# %%
def similarity_transform(Z, V):
    """The c, Q, shift minimising |c (Z - mean Z) Q + mean V - V|_F (Q orthogonal): a function of new logits."""
    mean_z, mean_v = Z.mean(axis=0), V.mean(axis=0)
    A, B = Z - mean_z, V - mean_v
    U, sigma, Wt = np.linalg.svd(A.T @ B)                # (C, N) @ (N, C) -> (C, C)
    Q, c = U @ Wt, sigma.sum() / (A * A).sum()
    return lambda Z_new: c * (Z_new - mean_z) @ Q + mean_v


teacher_train_logits = teacher.forward(X_train)
label_free = {"argmax": [], "aligned": [], "untrained, aligned": []}
for seed in SEEDS_FULL:
    untrained = MLP(STUDENT_SIZES, seed=seed)
    rkd_only = MLP(STUDENT_SIZES, seed=seed)
    KnowledgeDistillationTrainer(teacher, RKDLoss(), seed=seed).train(
        rkd_only, X_train, None, epochs=EPOCHS_FULL, batch_size=32, optimizer=SGD(learning_rate=0.05, momentum=0.9),
        verbose=0)
    for name, model in (("aligned", rkd_only), ("untrained, aligned", untrained)):
        align = similarity_transform(model.forward(X_train), teacher_train_logits)
        label_free[name].append(float(np.mean(align(model.forward(X_test)).argmax(axis=1) == y_test)))
    label_free["argmax"].append(float(np.mean(rkd_only.predict(X_test) == y_test)))
label_free = {name: np.array(acc) for name, acc in label_free.items()}
print(f"RKD alone on the {len(X_train)} training images, no labels, {EPOCHS_FULL} epochs; test accuracy (%) per seed:")
for name, acc in label_free.items():
    print(f"  {name:<20} {np.round(100 * acc, 1)}   mean {100 * acc.mean():.1f}")
print(f"  (KD with all the labels, section 5: {100 * full_set['KD'].mean():.1f})")

# %% [markdown]
# On our run (full mode, 10 seeds): the student's own argmax is right for 15.7 % of the test images
# (2.7 % to 27.9 % by seed; a guess would give 10 %), but read through the fitted similarity transform
# its logits give 96.2 % (95.5 % to 96.8 %), within a point of the KD student that had every label
# (96.9 %). The same fit on the untrained students gives 56.3 %.
#
# So RKD transferred the teacher's geometry almost completely — only the names of the classes are
# missing, and RKD cannot supply them by design. That is why every relational student in section 5 has
# a second term that fixes the names: the labels, or KD's per-sample targets.

# %%
assert np.all(label_free["argmax"] < 0.5), label_free                 # its own argmax: not the classes
assert np.all(label_free["aligned"] > 0.9), label_free                 # the teacher's geometry, up to a map
assert np.all(label_free["aligned"] > label_free["untrained, aligned"] + 0.25), label_free
assert label_free["untrained, aligned"].mean() < 0.7, label_free       # the map alone does not do it
assert label_free["aligned"].mean() > full_set["KD"].mean() - (0.02 if FAST else 0.01), label_free

# %% [markdown]
# ## Summary
#
# - RKD and SP transfer *relations between the samples of a batch* — distances and angles of the
#   embeddings, similarities of the hidden layers — so their loss needs a batch (RKD: at least 3), does
#   not decompose over samples, and does not care about the widths of the two models.
# - They are blind to a group of transformations (RKD: similarity transforms of the embedding; SP:
#   rotations of the feature space), which frees the student's coordinates and at the same time means
#   they cannot, alone, tell the student which output is which class.
# - Training with SP visibly moves a student's hidden-layer similarity matrix to the teacher's, where KD
#   alone hardly does; on the logits, KD already transfers most of what RKD asks for.
# - On the digits the relations pay off only when labels are scarce (5 %: +1.3 points for RKD on top of
#   KD at `T = 4` and +4.0 on top of the labels alone; SP +0.7 and +3.2), less on top of a better
#   temperature (+0.4 and +0.5 at `T = 16`, mostly in the worst seeds), and not at all with every label.
#   Tune the temperature before reaching for a relational loss.
# - RKD alone, with no labels, learns the teacher's logits up to a similarity transform: right
#   geometry, wrong names.
#
# Hints on hidden layers, which *do* compare sample by sample and need a regressor between different
# widths, are tutorial 12.
#
# ## Exercises
#
# 1. `PKTLoss` (Passalis & Tefas 2018) is the third relational loss in `minikd.strategies`: it matches
#    conditional probabilities from cosine kernels. Add "KD + PKT" to the table (RepDistiller's weight
#    is 30,000). Where does it land?
# 2. Claim 4 tried `T = 16` with 5 % of the labels only. Does a better temperature change the picture
#    with all the labels? And does RKD help more with 2 % of the labels (`label_subset(y_train, 0.02, seed)`)?
# 3. Train with batches of 64 instead of 32 (more relations per step, about five times the time per
#    epoch for KD + RKD). Does RKD's gain grow? And with `RKDLoss(angle_weight=0)` (distances only)?
# 4. Choose SP's weight on a validation split of the training images (tutorial 07 builds one), for
#    `w` in 300, 1000, 3000, 10000. Is 3000 near the best for this model, and does the best weight
#    depend on the label fraction?
# 5. Replace the teacher by the `[64, 128, 10]` one that tutorials 04–10 use in FAST mode (20 epochs).
#    Its only hidden layer is much closer to the pixels. Does SP on top of KD still help with 5 % of the
#    labels? Does RKD, which only sees the logits?

# %%
elapsed = time.perf_counter() - started
print(f"this tutorial ran in {elapsed:.0f} s ({'FAST' if FAST else 'full'} mode)")
