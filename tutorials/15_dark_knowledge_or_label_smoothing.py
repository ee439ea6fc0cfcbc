# %% [markdown]
# # 15 — Dark knowledge or label smoothing?
#
# Hinton et al. explain distillation by *dark knowledge*: the teacher's small probabilities on the wrong
# classes say which other digits an image resembles, and the student learns from that. Two later papers
# pull at this explanation from opposite sides.
#
# - **Yuan et al. (CVPR 2020), "Revisiting Knowledge Distillation via Label Smoothing Regularization"**:
#   the distillation loss is label smoothing with a *learned* smoothing distribution. A poorly trained
#   teacher, far less accurate than its student, still improves it, and a *hand-made* teacher with no
#   network behind it ("Tf-KD_reg", teacher-free) does about as well as a real one. So much of what
#   distillation does is regularisation, not dark knowledge.
# - **Müller, Kornblith & Hinton (NeurIPS 2019), "When does label smoothing help?"**: a teacher trained
#   *with* label smoothing can be more accurate, but it is a worse teacher. Label smoothing pulls every
#   training image of a class into a tight cluster, equally far from all the other classes, and that
#   wipes out the information in the wrong-class logits.
#
# Both can be measured on the digits, with the same student trained six ways. The answer depends on how
# many labels the student has.
#
# ## What you will learn
#
# - The algebra that links the two papers. At `T = 1` the distillation gradient *is* the label-smoothing
#   gradient, with the teacher's distribution in place of the uniform one (asserted with minikd's
#   losses). Yuan et al.'s hand-made teacher is a label-smoothed target, and softening it keeps it one.
# - How to build a teacher with no model behind it: a callable `X -> logits` that looks up each training
#   image's label and returns `log p`. Also why the authors' reference code is, gradient for gradient,
#   plain label smoothing.
# - What the soft targets of four teachers (well trained, poorly trained, trained with label smoothing,
#   hand-made) carry, measured: entropy, how flat the wrong classes are, and whether the ranking of the
#   wrong classes is consistent across images of the same digit. Also how tight the label-smoothed
#   teacher's logit clusters are.
# - The result on digits, mean ± std over seeds. With all 1,203 labels every kind of soft target is a
#   regulariser worth about a point, and plain label smoothing is the best of them: Yuan et al.'s
#   reading. With 60 labels only the real teacher's dark knowledge helps (+6 points), and the
#   label-smoothed teacher, more accurate than the real one, adds nothing: Müller et al.'s warning.
#
# ## Before you run this
#
# - From the repository root: `python -m pip install -e ".[tutorials]"` (matplotlib for the two figures;
#   without it they are skipped and everything else runs and is asserted).
# - Tutorial 02 derives `DistillationLoss` and tutorial 05 the few-label setting. Tutorial 09 shows that
#   the temperature matters more than `alpha` there. Reminder: in minikd **`alpha` weights the hard
#   (true-label) term**, and the soft term gets `1 - alpha` and `T²`.
# - Full mode takes about 35 s on our 2-core machine: seven trained teachers, 5 student seeds, 2 × 14 ways to
#   train a student. `MINIKD_TUTORIAL_FAST=1` takes about 5 s. It uses smaller `[64, 128, 10]` teachers
#   and 3 seeds, 20 epochs on the full training set (still 60 on the 60 images), two values of `alpha`
#   instead of three and one extra teacher seed instead of two. It asserts the same claims, some with
#   wider margins (said where).

# %%
import os
import time
from pathlib import Path

import numpy as np

from minikd import (
    MLP,
    SGD,
    CrossEntropyLoss,
    DistillationLoss,
    KnowledgeDistillationTrainer,
    SupervisedTrainer,
    TeacherModelWrapper,
)
from minikd.datasets import label_subset, load_digits, train_test_split
from minikd.functional import log_softmax, one_hot, softmax

FAST = os.environ.get("MINIKD_TUTORIAL_FAST") == "1"
STARTED = time.perf_counter()

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
STEM = "15_dark_knowledge_or_label_smoothing"  # this file's name, for the figures' names
np.set_printoptions(precision=3, suppress=True, linewidth=110)
C = 10  # classes


def entropy(p):
    """Entropy in nats of each row of p, shape (N, C) -> (N,)."""
    return -(p * np.log(p)).sum(axis=-1)


# %% [markdown]
# ## 1. Distillation at `T = 1` is label smoothing with the teacher as the smoothing distribution
#
# **Label smoothing** (Szegedy et al. 2016, in Müller et al.'s notation) trains on the target
# `y_LS = (1 − ε) · onehot(y) + ε · u`, with `u = 1/C` the uniform distribution. Because the
# cross-entropy is linear in its target,
#
#     CE(p, y_LS) = (1 − ε) · CE(p, y) + ε · CE(p, u) = (1 − ε) · CE(p, y) + ε · [ KL(u ‖ p) + H(u) ]
#
# with `p = softmax(z)` the student's distribution. **Distillation** in minikd's convention
# (`DistillationLoss` in `minikd/strategies/logits.py`, derived in its docstring and in tutorial 02) is
#
#     L_KD = alpha · CE(p, y) + (1 − alpha) · T² · KL(q_T ‖ p_T),      q_T = softmax(v/T),  p_T = softmax(z/T)
#
# At `T = 1` the two have the same shape. Label smoothing is distillation from a "virtual teacher" that
# always answers `u`, with `alpha = 1 − ε`. Distillation is label smoothing towards the teacher's own,
# per-image `q` instead of `u`. That is Yuan et al.'s "KD is a learned label smoothing". The entropy
# `H(q)` does not depend on the student, so the gradients are *identical*:
#
#     ∂L_KD/∂z = (1/N) [ alpha (p − y) + (1 − alpha) (p − q) ] = (1/N) [ p − (alpha · y + (1 − alpha) · q) ]
#
# which is the gradient of plain cross-entropy (`CrossEntropyLoss`, in the same file; it takes probability
# rows as labels) with the mixed target `alpha · y + (1 − alpha) · q`. The losses differ
# by the constant `(1 − alpha) · mean H(q)`. At `T ≠ 1` the identity breaks: the soft term's gradient is
# `T · (p_T − q_T)`, not `p − q`. The cell checks all three.

# %%
rng = np.random.default_rng(0)
z = rng.normal(scale=3.0, size=(8, C))                  # student logits (N, C)
v = rng.normal(scale=3.0, size=(8, C))                  # teacher logits (N, C)
labels = rng.integers(0, C, size=8)                     # (N,)
alpha = 0.3
loss_kd, grad_kd, _ = DistillationLoss(temperature=1.0, alpha=alpha).loss_and_gradient(z, v, labels)
mixed = alpha * one_hot(labels, C) + (1 - alpha) * softmax(v)        # (N, C) probability rows
loss_ce, grad_ce, _ = CrossEntropyLoss().loss_and_gradient(z, None, mixed)
constant = (1 - alpha) * entropy(softmax(v)).mean()
print(f"T = 1: max |grad_KD - grad_CE(mixed target)| = {np.abs(grad_kd - grad_ce).max():.1e}; "
      f"loss_CE - loss_KD = {loss_ce - loss_kd:.6f} = (1 - alpha) mean H(q) = {constant:.6f}")
np.testing.assert_allclose(grad_kd, grad_ce, rtol=1e-12, atol=1e-15)
np.testing.assert_allclose(loss_ce - loss_kd, constant, rtol=1e-10)

grad_kd4 = DistillationLoss(temperature=4.0, alpha=alpha).compute_gradient(z, v, labels)
print(f"T = 4: max |grad_KD - grad_CE(mixed target)| = {np.abs(grad_kd4 - grad_ce).max():.3f} (no longer the same)")
assert np.abs(grad_kd4 - grad_ce).max() > 1e-3

# %% [markdown]
# ## 2. A teacher without a teacher: Tf-KD_reg
#
# Yuan et al.'s hand-made teacher gives the correct class probability `a` and each of the other `C − 1`
# classes `(1 − a)/(C − 1)`:
#
#     p^d_k = a                  if k is the label
#           = (1 − a)/(C − 1)    otherwise
#
# Their loss (Eq. 9 of the paper) distils from it at a temperature τ: `(1 − α) H(q, p) + α KL(p^d_τ ‖ p_τ)`.
# There α weights the *soft* term, the opposite of minikd's `alpha`. Two remarks make it concrete.
#
# - **`p^d` is a label-smoothed target.** With `a = 1 − ε + ε/C` it is exactly `y_LS`. We take `ε = 0.1`,
#   so `a = 0.91`, and `ε = 0.1` is also the label smoothing the student gets in row (d) below.
# - **Softening keeps it one.** Give minikd the teacher's logits `log p^d`. Then
#   `softmax(log p^d / T) ∝ (p^d)^(1/T)` is again "`a'` on the label, the rest shared equally", with a
#   smaller `a'(T)` (printed below). Every wrong class always gets the same probability: the hand-made
#   teacher has no dark knowledge at any temperature, by construction.
#
# **How to give it to minikd.** `KnowledgeDistillationTrainer` takes any callable `X -> logits` as a
# teacher (`TeacherModelWrapper`, `minikd/teachers.py`), but a callable sees images, not labels.
# `HandMadeTeacher` below keeps a table from each training image's bytes to its label (the 1,203 training
# images are all distinct, asserted) and returns `log p^d` of that label. The trainer caches a teacher's
# logits by dataset index, so the table is read at the start of each `train` call, not in every step.
# Asked about an image it was not built from, it raises: it knows labels, not digits. So do not give a
# trainer that uses it `validation_data`, because the trainer would ask it about the validation images.
#
# The other route is to pass the target rows as probability labels `y` to `SupervisedTrainer` (or to
# `DistillationLoss`'s hard term). It has no temperature: it can only give `T = 1`, which by section 1 is
# label smoothing, row (d). The callable lets rows (a), (b) and (c) use the *same* `DistillationLoss` and
# trainer, so that only the teacher changes.
#
# **The authors' code is label smoothing.** The reference implementation (`loss_kd_regularization` in
# `my_loss_function.py` of yuanli2333/Teacher-free-Knowledge-Distillation) differs from Eq. 9 in three
# ways:
#
# - it takes `softmax(p^d / τ)`, the probabilities *as logits*, with `a = 0.99`;
# - it leaves the student at `τ = 1` (the first author explains in
#   [issue #3](https://github.com/yuanli2333/Teacher-free-Knowledge-Distillation/issues/3) that this
#   worked better on CIFAR-100);
# - it uses `nn.KLDivLoss()`'s default mean over all N·K entries, times a `multiplier`.
#
# With the student at `τ = 1`, section 1 applies: the gradient is that of cross-entropy towards a fixed
# mixed target, i.e. label smoothing
# ([issue #19](https://github.com/yuanli2333/Teacher-free-Knowledge-Distillation/issues/19) makes the same
# point). For the ResNet-18 settings the repository ships for CIFAR-100 (`reg_alpha = 0.1`,
# `reg_temperature = 20`, `multiplier = 100`, K = 100), the weights are `0.9 · CE + 0.1 · KL`, so the
# target is `0.9 · onehot + 0.1 · softmax(p^d / 20)`. The cell shows that this is label smoothing with
# `ε = 0.1` to within 1e-4 in every entry. Here we implement Eq. 9 as written instead: teacher and
# student both softened at `T`, with minikd's `T²` on the soft term as for every teacher in this
# tutorial.

# %%
EPS = 0.1                    # label smoothing of the student (row d) and of the smoothed teacher (section 3)
A = 1 - EPS + EPS / C        # 0.91: the hand-made teacher that equals label smoothing with EPS at T = 1


def smoothed(labels, eps):
    """Label-smoothed targets (1 - eps) onehot + eps / C, shape (N, C): probability rows for `y`."""
    return (1 - eps) * one_hot(labels, C) + eps / C


class HandMadeTeacher:
    """Yuan et al.'s Tf-KD_reg teacher: logits log p^d for the label of each image it was built from.

    A callable X (N, D) -> logits (N, C), for :class:`minikd.TeacherModelWrapper`. It looks images up by
    their bytes, so it answers only for the rows of ``X`` it was given (the training set), and raises a
    KeyError for any other image (a validation or test image, or an augmented one).
    """

    def __init__(self, X, y, a):
        self.a = a
        # row c: log p^d for an image of class c; a on the diagonal, (1 - a)/(C - 1) elsewhere
        self.log_pd = np.log(np.where(np.eye(C, dtype=bool), a, (1 - a) / (C - 1)))    # (C, C)
        self.label_of = {row.tobytes(): int(label) for row, label in zip(X, y, strict=True)}
        assert len(self.label_of) == len(X), "two training images are identical: a lookup by image is ambiguous"

    def __call__(self, X):
        try:
            labels = [self.label_of[row.tobytes()] for row in np.asarray(X)]
        except KeyError:
            raise KeyError("HandMadeTeacher knows only the images it was built from (the training set); "
                           "do not pass validation_data to a trainer that uses it") from None
        return self.log_pd[labels]                                                      # (N, C)


X, y = load_digits()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.33, seed=0)
hand_made = TeacherModelWrapper(HandMadeTeacher(X_train, y_train, A), output_dimension=C)

# At T = 1 the hand-made teacher is label smoothing with EPS:
np.testing.assert_allclose(softmax(hand_made.get_logits(X_train)), smoothed(y_train, EPS), rtol=1e-12)
# ... and distilling from it at T = 1 with alpha = 0 is, gradient for gradient, label smoothing:
z = rng.normal(scale=3.0, size=(len(y_train), C))
np.testing.assert_allclose(DistillationLoss(1.0, 0.0).compute_gradient(z, hand_made.get_logits(X_train)),
                           CrossEntropyLoss().compute_gradient(z, None, smoothed(y_train, EPS)), rtol=1e-10, atol=1e-15)

print(f"hand-made teacher, a = {A:.2f}: softmax(log p^d / T) gives the label a'(T), every other class (1 - a')/9")
print(f"{'T':>5} {'a_prime':>8} {'others':>8} {'entropy (nats)':>15}   (uniform: 0.100 and {np.log(C):.3f})")
a_prime = {}
for T in (1.0, 2.0, 4.0, 20.0):
    q = softmax(hand_made.get_logits(X_train[:1]), temperature=T)[0]
    a_prime[T] = q[y_train[0]]
    others = np.delete(q, y_train[0])
    assert np.ptp(others) < 1e-15          # the wrong classes are all equal: nothing to rank
    print(f"{T:>5g} {a_prime[T]:>8.3f} {others[0]:>8.3f} {entropy(q):>15.3f}")
assert all(np.diff(list(a_prime.values())) < 0)

# The reference code's target, for its ResNet-18 / CIFAR-100 settings: K = 100, a = 0.99, tau = 20.
K, a_code, tau, reg_alpha, multiplier = 100, 0.99, 20.0, 0.1, 100.0
pd_code = np.full(K, (1 - a_code) / (K - 1))
pd_code[0] = a_code                                         # class 0 is the label
q_code = softmax(pd_code / tau)                             # the probabilities taken as logits
w_ce, w_kl = 1 - reg_alpha, reg_alpha * multiplier / K      # KLDivLoss() averages over N·K entries
target = (w_ce * np.eye(K)[0] + w_kl * q_code) / (w_ce + w_kl)
ls_target = (1 - EPS) * np.eye(K)[0] + EPS / K
print(f"\nreference code, K = {K}: weights CE {w_ce:g}, KL {w_kl:g}; softmax(p^d/{tau:g}) gives the label "
      f"{q_code[0]:.4f} (uniform {1 / K:.4f}); mixed target vs label smoothing eps = 0.1: "
      f"max |difference| {np.abs(target - ls_target).max():.1e}")
assert np.abs(target - ls_target).max() < 1e-4 and w_ce + w_kl == 1.0

# %% [markdown]
# On our run `a'(T)` is 0.910 at `T = 1`, 0.514 at `T = 2`, 0.256 at `T = 4` and 0.122 at `T = 20`. At the
# temperatures the paper uses the hand-made teacher is close to uniform, apart from a constant lift of the
# label. The reference code's target on CIFAR-100 gives the label 0.0105 where uniform gives 0.0100, and
# the mixed target differs from label smoothing with `ε = 0.1` by at most 5e-5.
#
# ## 3. Four teachers
#
# - **well trained** — the `[64, 256, 256, 10]` MLP of the other tutorials, 60 epochs of cross-entropy on all
#   1,203 training labels (97.0 % on our run);
# - **poorly trained** — the same network after a single epoch at a small learning rate (0.003), the
#   analogue of Yuan et al.'s one-epoch ResNet-18 "defective" teacher. It is far below the student it
#   will teach (73.2 %);
# - **label-smoothed** — the same network and recipe, trained on `smoothed(y_train, 0.1)`
#   (`SupervisedTrainer`, `minikd/trainer/distillation.py`, takes (N, C) probability rows as `y`).
#   98.5 % on our run: label smoothing made the teacher *more* accurate, as Müller et al. found;
# - **hand-made** — `HandMadeTeacher(a = 0.91)`, 100 % on the training images by construction (it
#   cannot be asked about the test images).
#
# FAST mode trains `[64, 128, 10]` teachers (the same recipes).

# %%
SIZES = [64, 128, 10] if FAST else [64, 256, 256, 10]
TEACHER_EPOCHS = 60


def train_teacher(targets, epochs, learning_rate=0.05, seed=0):
    teacher = MLP(SIZES, seed=seed)
    SupervisedTrainer(seed=seed).train(teacher, X_train, targets, epochs=epochs, batch_size=32,
                                    optimizer=SGD(learning_rate=learning_rate, momentum=0.9), verbose=0)
    return teacher


def test_accuracy(model):
    return float(np.mean(model.predict(X_test) == y_test))


good = train_teacher(y_train, TEACHER_EPOCHS)
poor = train_teacher(y_train, 1, learning_rate=0.003)
smooth_teacher = train_teacher(smoothed(y_train, EPS), TEACHER_EPOCHS)
TEACHERS = {"well trained": TeacherModelWrapper(good), "poorly trained": TeacherModelWrapper(poor),
            "hand-made": hand_made, "label-smoothed": TeacherModelWrapper(smooth_teacher)}
teacher_accuracy = {"well trained": test_accuracy(good), "poorly trained": test_accuracy(poor),
                    "label-smoothed": test_accuracy(smooth_teacher)}
for name, acc in teacher_accuracy.items():
    print(f"{name:<15} teacher {SIZES}: test accuracy {100 * acc:.1f} %")
assert teacher_accuracy["well trained"] > 0.94
assert teacher_accuracy["poorly trained"] < 0.85                                        # far below the students
assert teacher_accuracy["label-smoothed"] > teacher_accuracy["well trained"] - 0.01      # at least as accurate

# %% [markdown]
# ## 4. What their soft targets carry
#
# The distilled students (rows a, b, c and f below) see `softmax(v/T)` at `T = 4`. For each teacher,
# over the 1,203 training images:
#
# - **top p (T=1)** — its mean confidence (`a = 0.91` for the hand-made one);
# - **entropy** — of the soft targets at `T = 4` (a uniform guess: `log 10 = 2.303` nats);
# - **wrong spread** — the std of the 9 wrong-class logits divided by `T = 4`: how unequal the wrong
#   classes still are in the soft targets (a typical wrong-class probability is within a factor of
#   about `exp` of it of their geometric mean);
# - **rank agreement** — the teacher's ranking of the 9 wrong digits for two images of the same digit,
#   compared by Spearman's correlation and averaged over all pairs and digits. Around 0.5: the teacher
#   has a consistent idea of which digits a "3" resembles. Around 0: the order is noise;
# - **clustering** — in the logits (each row centred), the mean distance of an image to its
#   class's centroid over the mean distance between centroids. This is Müller et al.'s "tight clusters",
#   in the space the student is taught in. (Their figures project the last hidden layer onto the plane of
#   three classes' templates, a linear map of the logits.)
# - **KL hand-made** — `KL(q_T ‖ p^d_T)` at `T = 4`: how far the soft targets are from the hand-made
#   teacher's.

# %%
T_SHOW = 4.0


def wrong_class_logits(logits, labels):
    """The C - 1 wrong-class logits of each row, shape (N, C) -> (N, C - 1), in class order."""
    keep = ~one_hot(labels, C).astype(bool)
    return logits[keep].reshape(len(labels), C - 1)


def rank_agreement(logits, labels):
    """Mean Spearman correlation of the wrong-class rankings of two images of the same class (None: no ranking)."""
    wrong = wrong_class_logits(logits, labels)
    if np.ptp(wrong, axis=1).max() < 1e-9:
        return None                                      # all wrong classes equal: there is nothing to rank
    per_class = []
    for c in range(C):
        ranks = np.argsort(np.argsort(wrong[labels == c], axis=1), axis=1).astype(float)   # (n_c, C - 1)
        ranks -= ranks.mean(axis=1, keepdims=True)
        ranks /= np.linalg.norm(ranks, axis=1, keepdims=True)
        corr = ranks @ ranks.T                                                          # (n_c, n_c)
        n = len(ranks)
        per_class.append((corr.sum() - n) / (n * (n - 1)))                              # off-diagonal mean
    return float(np.mean(per_class))


def clustering(logits, labels):
    """Mean distance to the class centroid over the mean distance between centroids (row-centred logits)."""
    z = logits - logits.mean(axis=1, keepdims=True)
    centroids = np.stack([z[labels == c].mean(axis=0) for c in range(C)])               # (C, C)
    within = np.mean([np.linalg.norm(z[labels == c] - centroids[c], axis=1).mean() for c in range(C)])
    between = np.mean([np.linalg.norm(centroids[i] - centroids[j]) for i in range(C) for j in range(i + 1, C)])
    return float(within / between)


def describe_teacher(teacher, X_seen, y_seen):
    logits = teacher.get_logits(X_seen)
    q, q_hand = softmax(logits, temperature=T_SHOW), softmax(hand_made.get_logits(X_seen), temperature=T_SHOW)
    wrong = wrong_class_logits(logits, y_seen)
    return {"top p (T=1)": float(softmax(logits).max(axis=1).mean()),
            "entropy": float(entropy(q).mean()),
            "wrong spread": float(wrong.std(axis=1).mean() / T_SHOW),
            "rank agreement": rank_agreement(logits, y_seen),
            "clustering": clustering(logits, y_seen),
            "KL hand-made": float((q * (log_softmax(logits, T_SHOW) - np.log(q_hand))).sum(axis=1).mean())}


soft = {name: describe_teacher(teacher, X_train, y_train) for name, teacher in TEACHERS.items()}
columns = list(soft["well trained"])
print(f"{'teacher':<15}" + "".join(f"{col:>15}" for col in columns))
for name, row in soft.items():
    print(f"{name:<15}" + "".join(f"{'—' if row[col] is None else format(row[col], '.3f'):>15}" for col in columns))

# %% [markdown]
# On our run (full mode):
#
# ```
# teacher            top p (T=1)        entropy   wrong spread rank agreement     clustering   KL hand-made
# well trained             1.000          0.551          1.358          0.550          0.297          0.959
# poorly trained           0.260          2.292          0.111          0.467          0.520          0.057
# hand-made                0.910          2.204          0.000              —          0.000          0.000
# label-smoothed           0.906          2.201          0.068          0.005          0.131          0.002
# ```
#
# - **The label-smoothed teacher is, on its training images, the hand-made teacher.** Its mean confidence
#   is 0.906 against `a = 0.91`, its soft targets are 0.002 nats from `p^d_T`, and its wrong-class logits
#   are flat. At `T = 4` its wrong-class probabilities are within about 7 % of their geometric mean
#   (`exp(0.068)`), the well-trained teacher's within a factor of about 4 (`exp(1.358)`). What is left of
#   their order is noise: the rank agreement is 0.005 against 0.55. Label smoothing asked the network to
#   put `ε/C` on every wrong class, and on its training images it did. Its logits cluster more than twice
#   as tightly (0.13 against 0.30). This is Müller et al.'s picture: each image equally far from every
#   other class, and nothing about which digit it resembles. (In the full 256-unit last hidden layer the
#   same ratio is *not* smaller, 0.48 against 0.40 on our run: most of its directions never reach the
#   logits, which is why we measure in the logits.)
# - **The poorly trained teacher still ranks the wrong classes consistently** (0.47, nearly the
#   well-trained teacher's 0.55), but its logits are small: at `T = 4` its soft targets are almost uniform
#   (entropy 2.29 of 2.30, wrong spread 0.11). To a student it is mostly a label-smoothing term, with a
#   label that is wrong for a quarter of the images.
# - **Only the well-trained teacher sends dark knowledge at `T = 4`**: low entropy, unequal wrong classes,
#   and an order that is the same from one "3" to the next.

# %%
well_t, poor_t, hand_t, ls_t = (soft[k] for k in ("well trained", "poorly trained", "hand-made", "label-smoothed"))
assert abs(ls_t["top p (T=1)"] - A) < 0.03                              # it learnt the smoothed targets ...
assert ls_t["KL hand-made"] < 0.05 and ls_t["KL hand-made"] < well_t["KL hand-made"] / 10   # ... = hand-made
assert ls_t["wrong spread"] < well_t["wrong spread"] / 4 and poor_t["wrong spread"] < well_t["wrong spread"] / 4
assert well_t["rank agreement"] > 0.35 and ls_t["rank agreement"] < 0.15 and poor_t["rank agreement"] > 0.25
assert hand_t["rank agreement"] is None and hand_t["wrong spread"] < 1e-12
assert ls_t["clustering"] < (0.85 if FAST else 0.6) * well_t["clustering"]   # FAST: a smaller teacher
assert poor_t["entropy"] > 0.95 * np.log(C)                     # the poor teacher's targets are nearly uniform
hidden = {k: clustering(TeacherModelWrapper(m).get_hidden(X_train, -1)[0], y_train)
          for k, m in (("well trained", good), ("label-smoothed", smooth_teacher))}
print(f"the same clustering ratio in the last hidden layer ({SIZES[-2]} units): "
      f"well trained {hidden['well trained']:.3f}, label-smoothed {hidden['label-smoothed']:.3f}")
assert hidden["label-smoothed"] > 0.9 * hidden["well trained"]   # not tighter there

# %% [markdown]
# The figure shows what the student is asked to match: the four teachers' soft targets at `T = 4` for the
# three training images on which the well-trained teacher puts the most probability on wrong classes,
# each of a different digit. The label-smoothed and the hand-made columns are hard to tell apart.

# %%
q_good = softmax(good.forward(X_train), temperature=T_SHOW)
wrong_mass = 1 - q_good[np.arange(len(y_train)), y_train]
shown = []
for i in np.argsort(-wrong_mass):
    if y_train[i] not in {y_train[j] for j in shown}:
        shown.append(int(i))
    if len(shown) == 3:
        break
for i in shown:
    print(f"training image {i} (a {y_train[i]}), soft targets at T = {T_SHOW:g}:")
    for name, teacher in TEACHERS.items():
        print(f"  {name:<15} {softmax(teacher.get_logits(X_train[i:i + 1]), temperature=T_SHOW)[0]}")

if plt is None:
    print("matplotlib is not installed: skipping the plot (pip install -e '.[tutorials]')")
else:
    fig, axes = plt.subplots(len(shown), len(TEACHERS) + 1, figsize=(13, 2.3 * len(shown)), sharey="col",
                             gridspec_kw={"width_ratios": [0.7] + [1] * len(TEACHERS)})
    for r, i in enumerate(shown):
        axes[r, 0].imshow(X_train[i].reshape(8, 8), cmap="gray_r")
        axes[r, 0].set_axis_off()
        axes[r, 0].set_title(f"image {i}, a {y_train[i]}", fontsize=9)
        for col, (name, teacher) in enumerate(TEACHERS.items(), start=1):
            q = softmax(teacher.get_logits(X_train[i:i + 1]), temperature=T_SHOW)[0]
            colors = ["tab:green" if k == y_train[i] else "tab:gray" for k in range(C)]
            axes[r, col].bar(range(C), q, color=colors)
            axes[r, col].set_xticks(range(C))
            axes[r, col].set_ylim(0, 1)
            axes[r, col].tick_params(labelsize=7)
            if r == 0:
                acc = teacher_accuracy.get(name)
                axes[r, col].set_title(f"{name}" + ("" if acc is None else f" ({100 * acc:.1f} %)"), fontsize=9)
    fig.suptitle(f"soft targets softmax(v / {T_SHOW:g}) on three training images (green: the label)")
    fig.tight_layout()
    out = OUTPUT_DIR / f"{STEM}_soft_targets.png"
    fig.savefig(out, dpi=110)
    print(f"saved {out}")
    if "get_ipython" in globals():  # a notebook (and the docs site): the saved PNG in the cell's output
        from IPython.display import Image, display
        display(Image(filename=out))
    elif not FAST and matplotlib.get_backend().lower() != "agg":  # a script: a window, unless headless
        plt.show()
    plt.close(fig)

# %% [markdown]
# ## 5. The same student, six ways
#
# The student is the `[64, 32, 10]` MLP of the other tutorials: SGD (learning rate 0.05, momentum 0.9),
# batch 32, 60 epochs, the test accuracy after the last epoch, no early stopping. For each seed `s` every
# way starts from `MLP([64, 32, 10], seed=s)` and shuffles with `seed=s`:
#
# - **(e) from scratch** — cross-entropy on the labels (`SupervisedTrainer`);
# - **(d) label smoothing** — the same on `smoothed(y, 0.1)`;
# - **(a) well-trained**, **(b) poorly trained**, **(c) hand-made** teacher and **(f) label-smoothed
#   teacher** — `KnowledgeDistillationTrainer` with `DistillationLoss(temperature=4.0, alpha)`, the same
#   for all four, with `alpha` ∈ {0.1, 0.5, 0.9}: from "mostly the teacher" to "mostly the labels".
#
# Two transfer sets:
#
# - **all 1,203 training labels** — Yuan et al.'s setting: the student sees everything the teacher saw;
# - **60 labelled images** (`label_subset(y_train, 0.05, seed=s)`, six per digit, as in tutorials 05 and
#   09) — the teachers still learnt from all 1,203. This is the setting where tutorial 05 found dark
#   knowledge worth 6 points.
#
# FAST mode: 3 seeds, `alpha` ∈ {0.1, 0.9}, 20 epochs on the full training set.

# %%
SEEDS = list(range(3)) if FAST else list(range(5))
ALPHAS = [0.1, 0.9] if FAST else [0.1, 0.5, 0.9]
REGIMES = {"all labels": None, "60 labels": 0.05}
EPOCHS = {"all labels": 20 if FAST else 60, "60 labels": 60}
WAYS = ["(e) from scratch", "(d) label smoothing"] + [f"{k} teacher" for k in TEACHERS]
ROW_NAMES = {"well trained teacher": "(a) well-trained teacher",
             "poorly trained teacher": "(b) poorly trained teacher",
             "hand-made teacher": "(c) hand-made teacher (Tf-KD_reg)",
             "label-smoothed teacher": "(f) label-smoothed teacher"}


def train_student(way, alpha, seed, regime, teacher=None):
    """Train a fresh [64, 32, 10] student one way (``teacher`` overrides the one the way names); return its
    test accuracy."""
    idx = np.arange(len(y_train)) if REGIMES[regime] is None else label_subset(y_train, REGIMES[regime], seed=seed)
    X_seen, y_seen = X_train[idx], y_train[idx]
    student = MLP([64, 32, 10], seed=seed)
    fit = dict(epochs=EPOCHS[regime], batch_size=32, optimizer=SGD(learning_rate=0.05, momentum=0.9), verbose=0)
    if way == "(e) from scratch":
        SupervisedTrainer(seed=seed).train(student, X_seen, y_seen, **fit)
    elif way == "(d) label smoothing":
        SupervisedTrainer(seed=seed).train(student, X_seen, smoothed(y_seen, EPS), **fit)
    else:   # no validation_data: the hand-made teacher cannot be asked about test images
        teacher = teacher or TEACHERS[way.removesuffix(" teacher")]
        trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=T_SHOW, alpha=alpha), seed=seed)
        trainer.train(student, X_seen, y_seen, **fit)
    return test_accuracy(student)


# acc[regime][(way, alpha)]: test accuracies over SEEDS (alpha None for the two ways without a teacher)
acc = {regime: {} for regime in REGIMES}
for regime in REGIMES:
    for way in WAYS:
        for alpha in ([None] if way in WAYS[:2] else ALPHAS):
            acc[regime][way, alpha] = np.array([train_student(way, alpha, s, regime) for s in SEEDS])


def cell(a):
    return f"{100 * a.mean():5.1f} ± {100 * a.std():.1f}"


print(f"test accuracy (%), mean ± std over {len(SEEDS)} seeds; DistillationLoss(T = {T_SHOW:g}, alpha)")
print(f"{'':<46}{'all 1,203 labels':>16}{'60 labelled images':>20}")
for way in WAYS:
    for alpha in ([None] if way in WAYS[:2] else ALPHAS):
        name = ROW_NAMES.get(way, way) + ("" if alpha is None else f", alpha {alpha:g}")
        print(f"{name:<46}" + "".join(f"{cell(acc[r][way, alpha]):>18}" for r in REGIMES))

# %% [markdown]
# On our run (full mode, `python tutorials/15_dark_knowledge_or_label_smoothing.py`, 5 seeds):
#
# ```
# test accuracy (%), mean ± std over 5 seeds; DistillationLoss(T = 4, alpha)
#                                               all 1,203 labels  60 labelled images
# (e) from scratch                                      96.1 ± 0.5        85.0 ± 2.3
# (d) label smoothing                                   97.6 ± 0.5        84.2 ± 1.7
# (a) well-trained teacher, alpha 0.1                   96.7 ± 0.4        91.0 ± 1.1
# (a) well-trained teacher, alpha 0.5                   97.1 ± 0.3        89.7 ± 1.5
# (a) well-trained teacher, alpha 0.9                   96.4 ± 0.3        86.5 ± 2.1
# (b) poorly trained teacher, alpha 0.1                 90.4 ± 0.3        72.1 ± 2.1
# (b) poorly trained teacher, alpha 0.5                 96.6 ± 0.7        84.6 ± 2.0
# (b) poorly trained teacher, alpha 0.9                 97.4 ± 0.4        84.6 ± 1.6
# (c) hand-made teacher (Tf-KD_reg), alpha 0.1          96.5 ± 0.8        85.1 ± 2.0
# (c) hand-made teacher (Tf-KD_reg), alpha 0.5          96.5 ± 0.5        85.0 ± 2.1
# (c) hand-made teacher (Tf-KD_reg), alpha 0.9          97.2 ± 0.4        84.8 ± 1.8
# (f) label-smoothed teacher, alpha 0.1                 96.7 ± 0.5        85.6 ± 1.8
# (f) label-smoothed teacher, alpha 0.5                 96.8 ± 0.5        85.6 ± 1.7
# (f) label-smoothed teacher, alpha 0.9                 97.4 ± 0.6        84.7 ± 1.7
# ```
#
# ## 6. What transfers, checked
#
# Write `scratch`, `LS` and `KD(teacher, alpha)` for the rows above. The claims below compare rows that
# share their seeds (same initial weights, same batches, same 60 images), and are asserted with margins
# well below what we measured.

# %%
def mean(regime, way, alpha=None):
    return float(acc[regime][way, alpha].mean())


def gain(regime, way, alpha=None):
    """Per-seed gain over the student from scratch, in points."""
    return 100 * (acc[regime][way, alpha] - acc[regime]["(e) from scratch", None])


FULL, FEW = "all labels", "60 labels"
lo, hi = ALPHAS[0], ALPHAS[-1]                       # 0.1 (mostly the teacher) and 0.9 (mostly the labels)
for regime in REGIMES:
    print(f"{regime}: gain over from scratch, per seed (points)")
    for way, alpha in [("(d) label smoothing", None), ("well trained teacher", lo), ("poorly trained teacher", lo),
                       ("poorly trained teacher", hi), ("hand-made teacher", lo), ("label-smoothed teacher", lo)]:
        name = ROW_NAMES.get(way, way) + ("" if alpha is None else f", alpha {alpha:g}")
        print(f"  {name:<46} {np.round(gain(regime, way, alpha), 1)}")

# %% [markdown]
# **With all the labels, soft targets are a regulariser, and which one hardly matters** (Yuan et al.'s
# reading). On our run plain label smoothing gains 1.5 points over the student from scratch, in every
# seed. That is more than distillation from the well-trained teacher at any `alpha` (+0.6 at 0.1, +1.0
# at 0.5, +0.3 at 0.9), and it puts the student above its teacher (97.6 % against 97.0 %). At
# `alpha = 0.1` the hand-made and the label-smoothed teacher are within 0.2 points of the well-trained
# one. At `alpha = 0.9`, where the labels carry most of the weight, they are a little better than it
# (97.2 % and 97.4 % against 96.4 %). The poorly trained teacher, 23 points below the student,
# *improves* it by 1.3 points at `alpha = 0.9` (97.4 % against 96.1 %, in every seed): Yuan et al.'s
# "defective KD". It costs 5.7 points when the student listens mostly to it (`alpha = 0.1`). Every
# teacher, at its best `alpha`, gains between 1.0 and 1.3 points.
#
# Note what "the labels carry most of the weight" means in the paper's own runs. The repository's
# CIFAR-100 distillation settings are α = 0.95 on the soft term and T = 20, with `nn.KLDivLoss()`'s mean
# over 100 classes: `0.05 · CE + 0.0095 · T² · KL` per sample, i.e. minikd's `alpha ≈ 0.84`.
#
# Asserted, with margins: label smoothing gains more than 0.7 points on average and is positive in all
# seeds but at most one; it is at least as good as distillation from the well-trained teacher at every
# `alpha`, less 0.3 points, and within half a point of the teacher or above it. The other two teachers
# are within a point of the well-trained one at `alpha = 0.1` and no more than half a point below it at
# `alpha = 0.9`. The poor teacher gains more than 0.5 points at `alpha = 0.9`, positive in all seeds but
# at most one, and loses more than 2 points at `alpha = 0.1`. Every teacher's best `alpha` gains more than
# 0.3 points. FAST mode, with 20 epochs and smaller teachers, asserts only that the gains of label
# smoothing, of the poor teacher at `alpha = 0.9` and of each teacher's best `alpha` are positive.

# %%
assert gain(FULL, "(d) label smoothing").mean() > (0.0 if FAST else 0.7)
assert np.sum(gain(FULL, "(d) label smoothing") > 0) >= len(SEEDS) - 1
assert mean(FULL, "(d) label smoothing") > max(mean(FULL, "well trained teacher", a) for a in ALPHAS) - 0.003
assert mean(FULL, "(d) label smoothing") > teacher_accuracy["well trained"] - 0.005
for way in ("hand-made teacher", "label-smoothed teacher"):
    assert abs(mean(FULL, way, lo) - mean(FULL, "well trained teacher", lo)) < 0.01, way
    assert mean(FULL, way, hi) > mean(FULL, "well trained teacher", hi) - 0.005, way
assert gain(FULL, "poorly trained teacher", hi).mean() > (0.0 if FAST else 0.5)        # the bad teacher helps ...
assert np.sum(gain(FULL, "poorly trained teacher", hi) > 0) >= len(SEEDS) - 1
assert gain(FULL, "poorly trained teacher", lo).mean() < -2.0                          # ... only as a regulariser
assert teacher_accuracy["poorly trained"] < mean(FULL, "(e) from scratch") - 0.1         # though 10+ points worse
for way in WAYS[2:]:
    assert max(gain(FULL, way, a).mean() for a in ALPHAS) > (0.0 if FAST else 0.3), way
# The repository's KD settings in minikd's convention: 0.05 CE + (0.95 / 100) T² KL  ->  alpha = 0.05 / 0.0595
assert abs(0.05 / (0.05 + 0.95 / 100) - 0.84) < 0.005

# %% [markdown]
# **With 60 labels, only dark knowledge helps, and the label-smoothed teacher has none left** (Müller et
# al.'s warning). On our run the student distilled from the well-trained teacher gains 6.0 points
# (`alpha = 0.1`), in every seed. (These two rows are tutorial 05's runs, the same seeds and settings:
# 85.0 ± 2.3 % and 91.0 ± 1.1 %.) From the label-smoothed teacher, 1.5 points *more* accurate than the
# well-trained one, it gains 0.6 points, well inside the seed-to-seed spread of the student from scratch
# (± 2.3). So do label smoothing (−0.8) and the hand-made teacher (+0.1), and that holds at every `alpha`
# (asserted: within 2 points of the student from scratch). A teacher whose wrong classes are flat and in
# random order can only smooth the 60 labels, and 60 smoothed labels are still 60 labels. The poorly
# trained teacher does not help here at any `alpha`. FAST mode's smaller label-smoothed teacher keeps a
# little more (about 2 points on our run): there, up to 3 points are allowed, and under half the
# well-trained teacher's gain.
#
# One caution about fairness: in this setting the teachers learnt from 1,203 labels and the student sees
# 60. The comparison shows how much of that extra knowledge each teacher passes on, which is the job a
# teacher is for. A teacher-free method, by definition, has no extra knowledge to pass on.

# %%
assert gain(FEW, "well trained teacher", lo).mean() > 3.0 and gain(FEW, "well trained teacher", lo).min() > 0
assert mean(FEW, "label-smoothed teacher", lo) < mean(FEW, "well trained teacher", lo) - 0.03
for way, alpha in [("(d) label smoothing", None)] + [(w_, a) for w_ in ("label-smoothed teacher", "hand-made teacher")
                                                      for a in ALPHAS]:
    assert abs(gain(FEW, way, alpha).mean()) < (3.0 if FAST else 2.0), (way, alpha)  # ~ from scratch
assert gain(FEW, "label-smoothed teacher", lo).mean() < gain(FEW, "well trained teacher", lo).mean() / 2
assert max(gain(FEW, "poorly trained teacher", a).mean() for a in ALPHAS) < 1.0
# the label-smoothed teacher is the better classifier and the worse teacher, at every alpha:
assert all(mean(FEW, "label-smoothed teacher", a) < mean(FEW, "well trained teacher", a) for a in ALPHAS)

# %% [markdown]
# **Is it one teacher's luck?** Everything above uses one teacher of each kind (seed 0). We train the
# well-trained and the label-smoothed teacher again from two more seeds (one in FAST mode) and repeat
# the decisive measurements: the teachers' accuracy, their rank agreement and the 60-label student
# distilled from each (`alpha = 0.1`, the same student seeds). Asserted for each pair: the
# label-smoothed teacher is at most a point less accurate, its rank agreement is below 0.15 and the
# well-trained one's above 0.35, and its students are more than 3 points worse.

# %%
EXTRA_TEACHER_SEEDS = [1] if FAST else [1, 2]
print(f"{'teacher seed':>12} {'kind':<15} {'teacher accuracy':>17} {'rank agreement':>15} {'student, 60 labels':>19}")
for t_seed in EXTRA_TEACHER_SEEDS:
    pair = {"well trained": train_teacher(y_train, TEACHER_EPOCHS, seed=t_seed),
            "label-smoothed": train_teacher(smoothed(y_train, EPS), TEACHER_EPOCHS, seed=t_seed)}
    row = {}
    for kind, model in pair.items():
        students = np.array([train_student(f"{kind} teacher", lo, s, FEW, teacher=TeacherModelWrapper(model))
                             for s in SEEDS])
        row[kind] = (test_accuracy(model), rank_agreement(model.forward(X_train), y_train), students)
        print(f"{t_seed:>12} {kind:<15} {100 * row[kind][0]:>16.1f}% {row[kind][1]:>15.3f} {cell(students):>19}")
    (acc_w, rank_w, students_w), (acc_s, rank_s, students_s) = row["well trained"], row["label-smoothed"]
    assert acc_s > acc_w - 0.01 and rank_s < 0.15 < 0.35 < rank_w
    assert students_s.mean() < students_w.mean() - 0.03

# %% [markdown]
# On our run: teacher seed 1, well trained 97.3 % (rank agreement 0.560) against label-smoothed 98.1 %
# (0.008), whose 60-label students reach 91.0 ± 1.1 % and 85.7 ± 1.9 %. Teacher seed 2: 97.0 % (0.548)
# against 98.7 % (0.015), students 91.1 ± 1.0 % and 85.6 ± 2.5 %. The same picture as seed 0 each time.

# %% [markdown]
# ## 7. The accuracy bars

# %%
if plt is None:
    print("matplotlib is not installed: skipping the plot (pip install -e '.[tutorials]')")
else:
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    width = 0.8 / len(ALPHAS)
    shades = {a: plt.cm.Blues(0.45 + 0.5 * k / max(1, len(ALPHAS) - 1)) for k, a in enumerate(ALPHAS)}
    for ax, regime in zip(axes, REGIMES, strict=True):
        scratch = 100 * mean(regime, "(e) from scratch")
        for x, way in enumerate(WAYS):
            keys = [None] if way in WAYS[:2] else ALPHAS
            for k, alpha in enumerate(keys):
                accs = 100 * acc[regime][way, alpha]
                offset = 0 if alpha is None else (k - (len(keys) - 1) / 2) * width
                ax.bar(x + offset, accs.mean(), width=0.8 if alpha is None else width, yerr=accs.std(), capsize=2,
                       color="tab:gray" if alpha is None else shades[alpha],
                       label=f"alpha = {alpha:g}" if alpha is not None and x == 2 else None)
        ax.axhline(scratch, color="black", linewidth=1, linestyle="--", label="from scratch")
        ax.axhline(100 * teacher_accuracy["well trained"], color="tab:green", linewidth=1, linestyle=":",
                   label="well-trained teacher")
        ax.set_xticks(range(len(WAYS)))
        ax.set_xticklabels([ROW_NAMES.get(w_, w_).replace(" (Tf-KD_reg)", "").replace(" teacher", "\nteacher")
                            for w_ in WAYS], fontsize=8, rotation=20)
        low = min(100 * a.mean() for a in acc[regime].values())
        ax.set_ylim(max(0, low - 5), 100)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{regime} ({len(SEEDS)} seeds, T = {T_SHOW:g})")
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("[64, 32, 10] student: dark knowledge or label smoothing?")
    fig.tight_layout()
    out = OUTPUT_DIR / f"{STEM}_accuracy.png"
    fig.savefig(out, dpi=110)
    print(f"saved {out}")
    if "get_ipython" in globals():  # a notebook (and the docs site): the saved PNG in the cell's output
        from IPython.display import Image, display
        display(Image(filename=out))
    elif not FAST and matplotlib.get_backend().lower() != "agg":  # a script: a window, unless headless
        plt.show()
    plt.close(fig)
print(f"ran in {time.perf_counter() - STARTED:.0f} s")

# %% [markdown]
# ## 8. An honest reading
#
# - **What transfers with all the labels is mostly regularisation.** Every soft target we tried gives
#   this student about a point, as long as the labels keep enough weight. That includes one with no
#   network behind it and one from a teacher that gets a quarter of the digits wrong. Plain label
#   smoothing gives the most. Yuan et al.'s observations hold on the digits, and the comparison also
#   shows their limit: the hand-made teacher is label smoothing (sections 1–2), so "teacher-free KD does
#   as well as KD" is here "label smoothing does as well as KD".
# - **What transfers with few labels is dark knowledge, and label smoothing erases it.** The
#   label-smoothed teacher is the most accurate classifier here, and with 60 labels it teaches, within
#   the noise, no more than no teacher at all. On its training images it *is* the hand-made teacher: flat wrong classes,
#   in an order that is noise, and tight logit clusters. Müller et al.'s explanation, measured.
# - **What we did not show.** We trained three seeds of the well-trained and the label-smoothed
#   teachers and one of the others (the students' seeds vary). We used a single temperature, `T = 4`
#   (tutorial 09 finds 8–64 better with 60 labels), and a single `ε = 0.1`. These are small MLPs on
#   8×8 digits, where 1,203 labels already nearly suffice. Yuan et al. worked on CIFAR-100 and ImageNet,
#   with 100 to 1,000 classes, where a teacher's wrong-class distribution has far more room to carry
#   information than over 9 wrong digits.
#
# ## Exercises
#
# 1. Distil from the label-smoothed teacher at `T = 1` and `T = 0.5` with 60 labels. Does a *lower*
#    temperature, which sharpens its small differences between wrong classes, recover any of the gain
#    (Chandrasegaran et al. 2022 suggest it can)?
# 2. Give the hand-made teacher the reference code's `a = 0.99` and `T = 20`, and train with all labels.
#    Where does it land, next to label smoothing and the student from scratch? Then reproduce the
#    reference code's variant: a callable returning `p^d / 20` (probabilities as logits) with
#    `DistillationLoss(1.0, 0.9)`. Check, with section 1's identity, that it is label smoothing.
# 3. Train teachers with `ε` = 0.02, 0.05, 0.1 and 0.2 and plot the rank agreement of section 4 against
#    the 60-label student's accuracy. Is dark knowledge lost gradually or all at once?
