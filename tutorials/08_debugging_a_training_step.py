# %% [markdown]
# # 08 — Debugging a training step
#
# When a distillation run goes wrong, it usually goes wrong *quietly*: the loss goes down a little
# slower than it should, the student ends a few points worse, or it stops learning altogether with no
# error at all. This tutorial is a toolbox for finding out why: where to stop the program, what every
# intermediate of a training step should look like, how to prove (or disprove) a hand-written gradient
# with finite differences, and how to read the error minikd raises when training blows up.
#
# ## What you will learn
#
# - The four lines of `train_step` to put breakpoints on, and how to stop there only when you ask for it
#   (`MINIKD_BREAK=1`) or only when something looks wrong.
# - A checklist of what a healthy step looks like — shapes, dtypes, softmax rows that sum to 1,
#   gradient rows that sum to 0, a loss ≥ 0, a finite gradient norm — as a function you can run on every
#   `StepRecord`.
# - How `minikd.gradcheck` finds a wrong gradient in a loss you wrote yourself (three classic bugs: a
#   missing `T`, a missing `1/N`, `softmax(z)` instead of `softmax(z / T)`), how to tell which bug it is,
#   and why the student's accuracy would not have told you.
# - What `TrainingDivergedError` says, and the silent failure that a too-high learning rate can cause
#   instead.
#
# ## Before you run this
#
# - From the repository root: `python -m pip install -e .` (this tutorial makes no plots).
# - Tutorial 02 derives the distillation loss and its gradient; tutorial 04 runs the four steps of a
#   training step by hand. Here we assume both.
# - Runs in a few seconds in full and FAST mode alike (`MINIKD_TUTORIAL_FAST=1` only shortens the run
#   that goes silent). To stop in the debugger where the cells below say so, run it as
#   `MINIKD_BREAK=1 python tutorials/08_debugging_a_training_step.py`. The test suite never sets it.

# %%
import inspect
import os
import re

import numpy as np

from minikd import (
    MLP,
    SGD,
    DistillationLoss,
    KnowledgeDistillationTrainer,
    KnowledgeDistillationTrainerBase,
    StepRecord,
    SupervisedTrainer,
    TrainingDivergedError,
)
from minikd.datasets import label_subset, load_digits, train_test_split
from minikd.functional import cross_entropy, kl_divergence, one_hot, softmax
from minikd.gradcheck import check_gradients, numerical_gradient, rel_error
from minikd.strategies import DistillationStrategy

FAST = os.environ.get("MINIKD_TUTORIAL_FAST") == "1"
BREAK = os.environ.get("MINIKD_BREAK") == "1"     # stop in the debugger where the cells say so
np.set_printoptions(precision=4, suppress=True, linewidth=110)

# %% [markdown]
# ## 1. Where to stop
#
# Every batch of `trainer.train` goes through `train_step`, which is written as the four steps of
# distillation, one line each (marked `# 1.` to `# 4.` in `minikd/trainer/base.py`), followed by a check that
# the loss and gradient are finite and the optimizer's update:

# %%
source_file = inspect.getsourcefile(KnowledgeDistillationTrainerBase)
lines, first_line = inspect.getsourcelines(KnowledgeDistillationTrainerBase.train_step)
where = {}
for offset, text in enumerate(lines):
    if re.search(r"#\s*[1-4]\.", text) or "optimizer._step(" in text or "raise TrainingDivergedError" in text:
        where[first_line + offset] = text.rstrip()
        print(f"{first_line + offset:>4}  {text.rstrip()}")
assert len(where) == 6, where
step4_line = next(n for n, text in where.items() if "# 4." in text)
print(f"\nin pdb:  b {source_file}:{step4_line}")
print(f"or, to stop only on a large loss:  b {source_file}:{step4_line}, loss > 10")

# %% [markdown]
# Three ways to stop on one of those lines:
#
# - **pdb**: `python -m pdb tutorials/08_debugging_a_training_step.py`, then `b <file>:<line>` as printed
#   above, and `c`. A pdb breakpoint can have a condition (`b <file>:<line>, loss > 10`): the program
#   runs at full speed until the condition holds in that frame.
# - **your IDE**: click in the margin of `minikd/trainer/base.py`; most IDEs also accept a condition.
# - **`breakpoint()` in your own code**, guarded so that it fires only when you ask for it. An unguarded
#   `breakpoint()` left in a script hangs it the day it runs unattended (a test, a CI job, a batch
#   queue). Guard it with an environment variable, a condition, or both:
#
# ```python
# BREAK = os.environ.get("MINIKD_BREAK") == "1"
# ...
# if BREAK and epoch == 3:
#     breakpoint()
# ```
#
# (`PYTHONBREAKPOINT=0` also turns every `breakpoint()` of a run into a no-op; that is Python's switch,
# not minikd's.) The cells below stop at two such places when you set `MINIKD_BREAK=1`.

# %% [markdown]
# ## 2. What a healthy step looks like
#
# A teacher (`[64, 128, 10]`, trained on every training label for 15 epochs) and a `[64, 32, 10]`
# student, distilled with `DistillationLoss(temperature=4, alpha=0.1)` on 60 labelled images for 10
# epochs, so that we look at a step in the middle of training rather than the very first one. Then one
# more step, by hand, on a batch of 32 of those images.

# %%
X, y = load_digits()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.33, seed=0)
teacher = MLP([64, 128, 10], seed=0)
SupervisedTrainer(seed=0).train(teacher, X_train, y_train, epochs=15, batch_size=32,
                                optimizer=SGD(learning_rate=0.05, momentum=0.9), verbose=0)
teacher_accuracy = float(np.mean(teacher.predict(X_test) == y_test))
print(f"teacher: test accuracy {100 * teacher_accuracy:.1f} %")
assert teacher_accuracy > 0.93, teacher_accuracy

subset = label_subset(y_train, 0.05, seed=0)
X_small, y_small = X_train[subset], y_train[subset]
strategy = DistillationLoss(temperature=4.0, alpha=0.1)
student = MLP([64, 32, 10], seed=0)
trainer = KnowledgeDistillationTrainer(teacher, strategy, seed=0)
optimizer = SGD(learning_rate=0.05, momentum=0.9)
trainer.train(student, X_small, y_small, epochs=10, batch_size=32, optimizer=optimizer, verbose=0)
student_before_step = {k: v.copy() for k, v in student.params.items()}

idx = np.random.default_rng(0).choice(X_small.shape[0], size=32, replace=False)   # dataset indices
record = trainer.train_step(student, X_small[idx], y_small[idx], idx, optimizer)
if BREAK:
    breakpoint()   # MINIKD_BREAK=1: inspect `record` here (record.dlogits, record.loss, ...)

print(f"StepRecord fields: {StepRecord._fields}")
for name in ("student_logits", "teacher_logits", "dlogits"):
    a = getattr(record, name)
    print(f"{name:>15}: shape {a.shape}, {a.dtype}, min {a.min():+.4f}, max {a.max():+.4f}, "
          f"row sums in [{a.sum(axis=1).min():+.2e}, {a.sum(axis=1).max():+.2e}]")
print(f"loss {record.loss:.4f} = soft {record.soft_loss:.4f} + hard {record.hard_loss:.4f}; "
      f"grad_norm {record.grad_norm:.4f}; batch_size {record.batch_size}")

# %% [markdown]
# What to expect, and why (B samples, C classes, `T` the temperature, `alpha` the weight of the labels):
#
# - `student_logits`, `teacher_logits`, `dlogits`: shape (B, C), the student's dtype, finite —
#   everything is per sample and per class;
# - `softmax(z / T)` and `softmax(v / T)`: entries in [0, 1], rows that sum to 1 — they are probability
#   distributions;
# - the rows of `dlogits` sum to 0 — adding a constant to a row of logits changes no softmax, so the loss
#   cannot change in the direction (1, ..., 1);
# - every entry of `dlogits` is at most `(alpha + (1 - alpha) T) / B` in size — the gradient is
#   `[alpha (softmax(z) - y) + (1 - alpha) T (softmax(z/T) - softmax(v/T))] / B`, and a difference of two
#   probabilities is at most 1;
# - `loss` is finite, ≥ 0 and equal to `soft + hard` — cross-entropy and KL are ≥ 0;
# - `grad_norm` is finite and > 0 — at 0 nothing learns any more;
# - the student's logits differ from sample to sample — identical rows mean the output no longer depends
#   on the input (every hidden ReLU dead).
#
# The same list as code:


# %%
def check_step(record, strategy, n_classes=10):
    """The problems found in one StepRecord of a DistillationLoss run; an empty list means healthy."""
    problems = []
    B, C = record.batch_size, n_classes
    z, v, dz = record.student_logits, record.teacher_logits, record.dlogits
    for name, a in (("student_logits", z), ("teacher_logits", v), ("dlogits", dz)):
        if a is None or a.shape != (B, C):
            problems.append(f"{name}: shape {None if a is None else a.shape}, expected {(B, C)}")
        elif a.dtype != z.dtype:
            problems.append(f"{name}: dtype {a.dtype}, expected the student's {z.dtype}")
        elif not np.isfinite(a).all():
            problems.append(f"{name}: {int(np.sum(~np.isfinite(a)))} entries are NaN or inf")
    if problems:
        return problems   # the checks below need finite arrays of the right shape
    T = strategy.temperature
    tiny = 100 * np.finfo(z.dtype).eps
    for name, logits in (("softmax(student_logits / T)", z), ("softmax(teacher_logits / T)", v)):
        p = softmax(logits, T)
        if p.min() < 0 or p.max() > 1 or np.abs(p.sum(axis=1) - 1).max() > tiny * C:
            problems.append(f"{name}: rows must be probabilities summing to 1")
    row_sums = np.abs(dz.sum(axis=1)).max()
    if row_sums > tiny * np.abs(dz).sum(axis=1).max():
        problems.append(f"dlogits: rows must sum to 0, the largest |row sum| is {row_sums:.2e}")
    alpha = strategy.alpha if record.hard_loss is not None else 0.0   # no labels: no hard term
    bound = (alpha + (1 - alpha) * T) / B
    if np.abs(dz).max() > bound * (1 + tiny):
        problems.append(f"dlogits: largest entry {np.abs(dz).max():.3g} exceeds (alpha + (1 - alpha) T) / B "
                        f"= {bound:.3g} (a missing 1/B?)")
    if not (np.isfinite(record.loss) and record.loss >= 0):
        problems.append(f"loss: {record.loss}, expected a finite number >= 0")
    elif not np.isclose(record.loss, (record.soft_loss or 0.0) + (record.hard_loss or 0.0), rtol=1e-9):
        problems.append(f"loss {record.loss} != soft {record.soft_loss} + hard {record.hard_loss}")
    if not (np.isfinite(record.grad_norm) and record.grad_norm > 0):
        problems.append(f"grad_norm: {record.grad_norm}, expected finite and > 0")
    if B > 1 and np.ptp(z, axis=0).max() <= tiny * (1 + np.abs(z).max()):
        problems.append("student_logits: every sample has the same logits, the output ignores the input "
                        "(all hidden units dead?)")
    return problems


print("the step above:", check_step(record, strategy) or "healthy")
assert check_step(record, strategy) == []

# %% [markdown]
# A checklist is only useful if it can fail. Here are four broken versions of the same record
# (`StepRecord` is a `NamedTuple`, so `_replace` makes a modified copy):

# %%
broken = {
    "dlogits without the 1/B": record._replace(dlogits=record.dlogits * record.batch_size),
    "dlogits shifted by 1e-3": record._replace(dlogits=record.dlogits + 1e-3),
    "a NaN loss": record._replace(loss=float("nan")),
    "teacher logits of the wrong batch size": record._replace(teacher_logits=record.teacher_logits[:-1]),
}
for what, bad in broken.items():
    problems = check_step(bad, strategy)
    print(f"{what}:\n    " + "\n    ".join(problems))
    assert problems, what

# %% [markdown]
# ### A trainer that checks every step
#
# `train_step` is one method, so a small subclass sees every `StepRecord` of a run: it can keep them,
# run the checklist on each, and stop in the debugger at the first unhealthy one (only with
# `MINIKD_BREAK=1`). We use it for the rest of the tutorial.

# %%
class DebugTrainer(KnowledgeDistillationTrainer):
    """A trainer that keeps every StepRecord and, with MINIKD_BREAK=1, stops at the first unhealthy step."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.records = []
        self.stopped = False

    def train_step(self, student, X_batch, y_batch, indices, optimizer, validate=True):
        record = super().train_step(student, X_batch, y_batch, indices, optimizer, validate)
        self.records.append(record)
        problems = check_step(record, self.strategy)
        if problems and BREAK and not self.stopped:
            self.stopped = True   # once per trainer: `c` then runs on to the end
            print("\n".join(problems))
            breakpoint()   # look at `record`, `problems`, `student.params`
        return record


# %%
debug_student = MLP([64, 32, 10], seed=0)
debug_trainer = DebugTrainer(teacher, strategy, seed=0)
debug_trainer.train(debug_student, X_small, y_small, epochs=10, batch_size=32,
                    optimizer=SGD(learning_rate=0.05, momentum=0.9), verbose=0)
# The subclass only watches: the same run as section 2's trainer, to the bit.
assert all(np.array_equal(debug_student.params[k], student_before_step[k]) for k in student_before_step)
assert all(check_step(r, strategy) == [] for r in debug_trainer.records)
print(f"all {len(debug_trainer.records)} steps of the 10-epoch run: healthy")

# %% [markdown]
# ## 3. Finding a wrong gradient with `gradcheck`
#
# The checklist catches gross errors; it cannot tell a correct gradient from a plausible wrong one. Only
# a comparison with the *definition* of the gradient can, and that is what finite differences compute:
# `(L(z + eps e_i) - L(z - eps e_i)) / (2 eps)` for every entry i of the logits, compared with the
# analytic gradient by `rel_error`.
#
# Suppose you write Hinton's loss yourself, as a subclass of `minikd.strategies.DistillationStrategy`.
# A strategy only has to implement `_compute(z, v, labels_kind, labels)` and return `(loss, dlogits,
# parts)`, with `dlogits` shaped like `z` and in its dtype; the base class validates the inputs of the
# public methods, and the trainer's step 3 calls `_compute` itself (so a breakpoint in it stops in every
# step, with `z`, `v` and the labels of that batch). The loss is computed with
# minikd's own `kl_divergence` and `cross_entropy`; the gradient is written by hand, and the `bug`
# argument switches on one of three classic mistakes.


# %%
class MyDistillationLoss(DistillationStrategy):
    """L = (1/N) sum_i [alpha CE(z_i, y_i) + (1 - alpha) T^2 KL(softmax(v_i/T) || softmax(z_i/T))], by hand."""

    BUGS = (None, "forgot the T", "forgot the 1/N", "softmax(z) for softmax(z/T)")

    def __init__(self, temperature=4.0, alpha=0.1, bug=None):
        super().__init__(temperature, alpha)
        assert bug in self.BUGS, bug
        self.bug = bug

    def _params(self):
        return {"temperature": self.temperature, "alpha": self.alpha, "bug": self.bug}

    def _compute(self, z, v, labels_kind, labels):
        n, c = z.shape
        T = self.temperature
        alpha = self.alpha if labels_kind is not None else 0.0

        # The loss: minikd's KL (batch mean of per-sample sums) and cross-entropy.
        soft = (1 - alpha) * T**2 * kl_divergence(v, z, temperature=T)
        hard = None
        if labels_kind is not None:
            targets = one_hot(labels, c) if labels_kind == "index" else labels
            hard = alpha * cross_entropy(z, targets)

        # The gradient: (1/N) [(1 - alpha) T (softmax(z/T) - softmax(v/T)) + alpha (softmax(z) - y)].
        p_student = softmax(z) if self.bug == "softmax(z) for softmax(z/T)" else softmax(z, T)
        soft_scale = (1 - alpha) if self.bug == "forgot the T" else (1 - alpha) * T
        dz = soft_scale * (p_student - softmax(v, T))
        if hard is not None:
            dz = dz + alpha * (softmax(z) - targets)
        if self.bug != "forgot the 1/N":
            dz = dz / n
        return soft + (hard or 0.0), dz, {"soft": soft, "hard": hard}


# %% [markdown]
# The test point: the logits of a fresh (untrained) `[64, 32, 10]` student on 4 training images, the
# teacher's logits on them, their labels; float64 throughout (finite differences in float32 are
# meaningless).
#
# Three choices matter for `rel_error`, which is the **largest elementwise** relative error
# `|a - b| / (|a| + |b|)`. A central difference is exact up to O(eps²) but carries a rounding error of
# about `1e-16 · |L| / eps` (≈ 1e-12 for eps = 1e-4 and a loss of order 1). An entry of the gradient of
# size 1e-5 then already has a relative error of 1e-7. So:
#
# - use a **small batch**: every entry carries the factor 1/N, so 4 samples give entries 8 times larger
#   than 32;
# - use **eps = 1e-4** here, not the smallest eps you can: the rounding error grows as eps shrinks (the
#   table below shows it), and the O(eps²) error of such a smooth function is far below 1e-7;
# - use **logits where no probability is tiny**: an untrained student's. (A trained student is confident;
#   its `softmax(z) - y` has entries of 1e-9, and those are pure noise to an elementwise check — see the
#   end of this section.)

# %%
check_idx = np.random.default_rng(1).choice(X_small.shape[0], size=4, replace=False)
Z = MLP([64, 32, 10], seed=0).forward(X_small[check_idx])   # (4, 10) float64, an untrained student
V = teacher.forward(X_small[check_idx])                    # (4, 10)
Y = y_small[check_idx]                                     # (4,)


def gradcheck_loss(loss_fn, eps=1e-4, alpha=None):
    """rel_error between loss_fn's analytic gradient at Z and central differences; also the ratios."""
    if alpha is not None:
        loss_fn = MyDistillationLoss(loss_fn.temperature, alpha, loss_fn.bug)
    z = Z.copy()
    analytic = loss_fn.compute_gradient(z, V, Y)
    numeric = numerical_gradient(lambda: loss_fn.compute_loss(z, V, Y), z, eps)
    error = check_gradients(lambda: loss_fn.compute_loss(z, V, Y), inputs=[z], analytic=[analytic], eps=eps)[0]
    assert error == rel_error(analytic, numeric)   # check_gradients is numerical_gradient + rel_error
    big = np.abs(analytic) > 1e-3 * np.abs(analytic).max()
    ratio = numeric[big] / analytic[big]
    return error, ratio


print(f"{'loss':<30} {'eps=1e-6':>9} {'1e-5':>9} {'1e-4':>9}   numeric / analytic (median, min, max)")
errors = {}
for bug in MyDistillationLoss.BUGS:
    row = [gradcheck_loss(MyDistillationLoss(4.0, 0.1, bug), eps)[0] for eps in (1e-6, 1e-5, 1e-4)]
    errors[bug] = row
    _, ratio = gradcheck_loss(MyDistillationLoss(4.0, 0.1, bug))
    print(f"{str(bug or 'correct'):<30} " + " ".join(f"{e:>9.1e}" for e in row)
          + f"   {np.median(ratio):.3f} [{ratio.min():.3f}, {ratio.max():.3f}]")

assert errors[None][2] < 1e-7, errors[None]                 # the correct gradient passes
assert errors[None][0] > errors[None][2], errors[None]       # and eps too small only adds noise
for bug in MyDistillationLoss.BUGS[1:]:
    assert min(errors[bug]) > 1e-3, (bug, errors[bug])      # every bug fails, whatever the eps
    assert min(errors[bug]) > 1e6 * max(errors[None]), (bug, errors)

# The correct version is minikd's DistillationLoss, value for value:
reference = DistillationLoss(temperature=4.0, alpha=0.1)
mine = MyDistillationLoss(4.0, 0.1)
np.testing.assert_allclose(mine.compute_loss(Z, V, Y), reference.compute_loss(Z, V, Y), rtol=1e-12,
                           err_msg="my loss differs from DistillationLoss")
np.testing.assert_allclose(mine.compute_gradient(Z, V, Y), reference.compute_gradient(Z, V, Y), rtol=1e-10,
                           atol=1e-15, err_msg="my gradient differs from DistillationLoss's")

# %% [markdown]
# On our run: the correct gradient gives rel_error 7.5e-08, 8.4e-09 and 8.5e-10 for eps = 1e-6, 1e-5 and
# 1e-4 (finite-difference noise, shrinking as eps grows); every bug gives 0.6 to 1.0, whatever the eps —
# more than six orders of magnitude apart. An error of 1 means that somewhere the two gradients even disagree in
# sign.
#
# ### Which term is wrong?
#
# Two tricks narrow a failing check down:
#
# - **switch the terms on one at a time**: `alpha = 0` keeps only the soft (teacher) term, `alpha = 1`
#   only the hard (label) term;
# - **look at the ratio numeric / analytic**: a constant ratio means a missing constant factor, and its
#   value tells you which (4 = T, 0.25 = 1/N for our 4 samples); a ratio that varies means a wrong
#   formula, not a wrong scale.

# %%
print(f"{'loss':<30} {'soft only':>10} {'hard only':>10}   ratio in the failing term")
diagnosis = {}
for bug in MyDistillationLoss.BUGS:
    soft_error, soft_ratio = gradcheck_loss(MyDistillationLoss(4.0, 0.1, bug), alpha=0.0)
    hard_error, hard_ratio = gradcheck_loss(MyDistillationLoss(4.0, 0.1, bug), alpha=1.0)
    diagnosis[bug] = soft_error, hard_error, soft_ratio
    ratio = soft_ratio if soft_error > 1e-3 else hard_ratio
    print(f"{str(bug or 'correct'):<30} {soft_error:>10.1e} {hard_error:>10.1e}   "
          f"{np.median(ratio):.4f} [{ratio.min():.4f}, {ratio.max():.4f}]")

T, N = 4.0, Z.shape[0]
assert max(diagnosis[None][:2]) < 1e-7
# forgot the T: only the soft term fails, and numeric / analytic is exactly T
assert diagnosis["forgot the T"][0] > 1e-3 and diagnosis["forgot the T"][1] < 1e-7
np.testing.assert_allclose(diagnosis["forgot the T"][2], T, rtol=1e-5, err_msg="ratio must be T")
# forgot the 1/N: both terms fail, and numeric / analytic is exactly 1/N
assert min(diagnosis["forgot the 1/N"][:2]) > 1e-3
np.testing.assert_allclose(diagnosis["forgot the 1/N"][2], 1 / N, rtol=1e-5, err_msg="ratio must be 1/N")
# softmax(z) for softmax(z/T): only the soft term fails, and the ratio is all over the place
assert diagnosis["softmax(z) for softmax(z/T)"][0] > 1e-3 and diagnosis["softmax(z) for softmax(z/T)"][1] < 1e-7
assert np.ptp(diagnosis["softmax(z) for softmax(z/T)"][2]) > 1.0

# %% [markdown]
# ### Noise or bug?
#
# Check the *correct* loss again, hard term only, but at the logits of the **trained** student of
# section 2. It "fails": rel_error is far above 1e-7. The entries responsible are the tiny ones — the
# probabilities a confident student gives the wrong classes, ~1e-9 — where the absolute difference is
# at the level of finite-difference noise. A real bug looks different: large entries disagree, and the
# ratio is consistent.

# %%
confident = student.forward(X_small[check_idx])
z = confident.copy()
hard_only = MyDistillationLoss(4.0, 1.0)
analytic = hard_only.compute_gradient(z, V, Y)
numeric = numerical_gradient(lambda: hard_only.compute_loss(z, V, Y), z, 1e-4)
elementwise = np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-8)
worst = np.unravel_index(np.argmax(elementwise), elementwise.shape)
print(f"rel_error {rel_error(analytic, numeric):.1e}, at an entry where analytic = {analytic[worst]:.2e} and "
      f"numeric = {numeric[worst]:.2e}")
print(f"largest absolute difference {np.abs(analytic - numeric).max():.1e}; largest entry "
      f"{np.abs(analytic).max():.2e}; on the entries above 1e-4: rel_error "
      f"{rel_error(analytic[np.abs(analytic) > 1e-4], numeric[np.abs(analytic) > 1e-4]):.1e}")
assert rel_error(analytic, numeric) > 1e-7
assert np.abs(analytic - numeric).max() < 1e-10
assert abs(analytic[worst]) < 1e-6
assert rel_error(analytic[np.abs(analytic) > 1e-4], numeric[np.abs(analytic) > 1e-4]) < 1e-7

# %% [markdown]
# ### Why you cannot rely on the accuracy
#
# Would training have told you? Distil the same student (same 60 images, same seed, 60 epochs) with each
# version of the loss and look at the test accuracy — and at what the checklist says about the steps.

# %%
print(f"{'loss':<30} {'test accuracy':>13}   checklist problems (first step)")
accuracy, flagged = {}, {}
for bug in MyDistillationLoss.BUGS:
    s = MLP([64, 32, 10], seed=0)
    t = DebugTrainer(teacher, MyDistillationLoss(4.0, 0.1, bug), seed=0)
    t.train(s, X_small, y_small, epochs=60, batch_size=32, optimizer=SGD(learning_rate=0.05, momentum=0.9),
            verbose=0)
    accuracy[bug] = float(np.mean(s.predict(X_test) == y_test))
    flagged[bug] = check_step(t.records[0], t.strategy)
    print(f"{str(bug or 'correct'):<30} {100 * accuracy[bug]:>12.1f}%   {flagged[bug][0] if flagged[bug] else '-'}")

# Two of the three bugs train almost as well as the correct loss (no error, no warning) ...
assert accuracy["forgot the T"] > accuracy[None] - 0.08 and accuracy["forgot the T"] > 0.8, accuracy
assert abs(accuracy["softmax(z) for softmax(z/T)"] - accuracy[None]) < 0.05, accuracy
# ... the third ruins the student, without any error either; the checklist notices only this one.
assert accuracy["forgot the 1/N"] < 0.3, accuracy
assert flagged["forgot the 1/N"] and not flagged[None], flagged
assert not flagged["forgot the T"] and not flagged["softmax(z) for softmax(z/T)"], flagged

# %% [markdown]
# On our run: 92.1 % with the correct loss, 89.4 % without the `T`, 91.4 % with `softmax(z)` — plausible
# numbers you might publish — and 10.1 % (chance) without the `1/N`, whose 32-times-too-large steps kill
# every hidden unit. Only finite differences tell the first two apart from the correct loss. That is why
# every gradient in minikd has a gradcheck test, and why yours should too.
#
# (minikd itself checks the same thing on its networks: `check_gradients(model, X)` compares
# `model.backward` with central differences for every parameter; tutorial 03 shows it.)
#
# ## 4. When training blows up: `TrainingDivergedError`
#
# After each step's backward pass, `train_step` checks that the loss and the gradient norm are finite.
# If not, it raises `TrainingDivergedError` *before* the update, so the student keeps its last finite
# parameters, and `train` adds where it happened. A learning rate of 1000 on a leaky-ReLU student:

# %%
diverging = MLP([64, 32, 10], activation="leaky_relu", seed=0)
debug = DebugTrainer(teacher, strategy, seed=0)
try:
    debug.train(diverging, X_train, y_train, epochs=5, batch_size=32,
                optimizer=SGD(learning_rate=1000.0, momentum=0.9), verbose=0)
except TrainingDivergedError as exc:
    error = exc
    print(f"{type(exc).__name__}: {exc}\n")
    print(f"exc.epoch = {exc.epoch}, exc.batch = {exc.batch}")
assert isinstance(error, TrainingDivergedError) and error.epoch is not None and error.batch is not None
assert all(np.isfinite(p).all() for p in diverging.params.values()), "the student keeps finite parameters"

norms = np.array([r.grad_norm for r in debug.records])
print(f"grad_norm of the {len(norms)} steps before it: first {norms[0]:.3g}, largest {norms.max():.3g}, "
      f"last {norms[-1]:.3g}")
print("largest |parameter| now:", {k: f"{np.abs(p).max():.3g}" for k, p in diverging.params.items()})
assert norms.max() > 1e6 * norms[0], norms

# %% [markdown]
# How to read it: the message says **where** (epoch and batch, also as `exc.epoch` and `exc.batch`, both
# 1-based), **what** was not finite (the loss, the gradient norm, or both), and what to try. The
# `DebugTrainer`'s records show the run was lost long before the error: the gradient norm grew by orders
# of magnitude, step after step, until the logits overflowed. Looking at the first few records (or
# stopping at them with `MINIKD_BREAK=1`) tells you more than the last one.
#
# ### The silent version
#
# With ordinary ReLUs and a learning rate of 1 (20 times the usual 0.05), nothing overflows and nothing
# is raised: a few large steps push (nearly) every hidden unit's input below zero for every image, the
# units never fire again, and the student predicts the same class for (nearly) everything. The
# checklist sees it.

# %%
silent = MLP([64, 32, 10], seed=0)
quiet = DebugTrainer(teacher, strategy, seed=0)
quiet.train(silent, X_train, y_train, epochs=1 if FAST else 2, batch_size=32,
            optimizer=SGD(learning_rate=1.0, momentum=0.9), verbose=0)
silent_accuracy = float(np.mean(silent.predict(X_test) == y_test))
_, cache = silent.forward_train(X_test)
dead = float(np.mean(np.all(cache.layers[0].activation.x <= 0, axis=0)))
majority = float(np.bincount(silent.predict(X_test), minlength=10).max() / X_test.shape[0])
print(f"no error; test accuracy {100 * silent_accuracy:.1f} %, hidden units that never fire on the test set: "
      f"{100 * dead:.0f} %, share of test images given the most common prediction: {100 * majority:.0f} %")
last_problems = check_step(quiet.records[-1], strategy)
print("checklist on the last step:", last_problems)
first_bad = next(i for i, r in enumerate(quiet.records) if check_step(r, strategy))
print(f"first unhealthy step: {first_bad + 1} of {len(quiet.records)}")
assert silent_accuracy < 0.2 and dead >= 0.9 and majority > 0.9, (silent_accuracy, dead, majority)
assert any("same logits" in p for p in last_problems), last_problems

# %% [markdown]
# On our run: the error comes at epoch 2, batch 13 of 38; the gradient norm grew from 2.3 to 7e+152 over
# the 50 steps before it. The silent run ends at 10 % test accuracy (chance) with every hidden unit dead
# and one prediction for every test image; the checklist first flags step 12 — which is where
# `DebugTrainer` with `MINIKD_BREAK=1` would have stopped. (With other seeds a unit or two may survive,
# still firing on a few images; the accuracy is just as bad.)
#
# ## Exercises
#
# 1. Add a fourth bug to `MyDistillationLoss`: use `(1 - alpha) * T` (not `T**2`) in the *loss* and keep
#    the gradient right. Which check fails, and what ratio do you get? (Hint: now the gradient is right
#    and the loss is wrong.)
# 2. Make `check_step` also return the fraction of dead hidden units. What does `StepRecord` lack for
#    that, and how does `DebugTrainer` get it (look at `student.forward_train`)?
# 3. Find the largest learning rate at which the leaky-ReLU student of section 4 still trains, to within
#    a factor of 2. Does momentum 0 move it?
