# %% [markdown]
# # 04 — Distil a student, one step at a time
#
# Knowledge distillation trains a small *student* network to imitate a large *teacher*. Inside the
# trainer, every minibatch goes through the same four steps:
#
# 1. **teacher logits** — ask the frozen teacher for its logits `v` on the batch;
# 2. **student logits** — run the student forward, keeping every intermediate (the *cache*);
# 3. **softened-softmax loss** — compare `softmax(z / T)` with `softmax(v / T)` (plus, weighted by
#    `alpha`, the ordinary cross-entropy with the true labels) and get `dL/dz`, the gradient of the
#    loss with respect to the student logits;
# 4. **gradient update** — backpropagate `dL/dz` through the student and let the optimizer take a step.
#
# In this tutorial you do those four steps yourself, for one batch, and print every intermediate with
# its shape. Then you hand the *same* batch to `trainer.train_step` and check that it computes exactly
# the same numbers and leaves exactly the same weights. Finally you let the full trainer run: a
# 2,410-parameter student distilled from an 85,002-parameter teacher on the whole digits training set,
# compared with the same student trained on the labels alone.
#
# ## What you will learn
#
# - The four steps of distillation as four calls: `teacher.forward`, `student.forward_train`,
#   `strategy.loss_and_gradient`, `student.backward` + `optimizer.step`, and the shape of everything
#   they pass along (B samples in the batch, D = 64 features, H = 32 hidden units, C = 10 classes).
# - That `KnowledgeDistillationTrainer.train_step` is nothing more than these four steps (asserted: same
#   logits, same loss, same gradient, same weights after the update).
# - Which four lines of `minikd/trainer/base.py` to put a breakpoint on to watch a real training run.
# - What distillation buys on the full digits training set: a student 35× smaller than the teacher that
#   keeps almost all of its accuracy, and that is only a little better than the same student trained
#   without a teacher. (With few labels the gain is large: that is tutorial 05.)
#
# ## Before you run this
#
# - From the repository root: `python -m pip install -e ".[tutorials]"` (NumPy is all minikd needs;
#   the `tutorials` extra adds matplotlib for the one plot, which is skipped without it).
# - Tutorials 01–03 (temperature and dark knowledge, the distillation loss, training a teacher) explain
#   the softened softmax, `DistillationLoss(temperature, alpha)` and the teacher recipe; here we use
#   them. Remember minikd's convention: **`alpha` weights the hard (true-label) term**, the soft term
#   gets `1 - alpha` and the factor `T²`.
# - Runs as a script (`python tutorials/04_distil_a_student_step_by_step.py`, about 10–20 s), as a
#   notebook (jupytext or VS Code / PyCharm cell mode), or in a debugger (see step 5 below).
#   `MINIKD_TUTORIAL_FAST=1` shrinks it to a few seconds (smaller teacher, fewer epochs, one seed).

# %%
import inspect
import os
import re
from pathlib import Path

import numpy as np

from minikd import (
    MLP,
    SGD,
    DistillationLoss,
    KnowledgeDistillationTrainer,
    KnowledgeDistillationTrainerBase,
    SupervisedTrainer,
)
from minikd.datasets import load_digits, train_test_split
from minikd.functional import one_hot, softmax

FAST = os.environ.get("MINIKD_TUTORIAL_FAST") == "1"
# Set MINIKD_BREAK=1 to stop in the debugger just before trainer.train_step (step 5).
BREAK = os.environ.get("MINIKD_BREAK") == "1"

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
STEM = "04_distil_a_student_step_by_step"  # this file's name, for the figures' names
np.set_printoptions(precision=4, suppress=True, linewidth=110)


def show(name, value):
    """Print an array's name, shape and dtype (and a small corner of it)."""
    value = np.asarray(value)
    corner = value[:2, :5] if value.ndim == 2 else value[:5]
    print(f"{name:<32} shape {str(value.shape):<9} {value.dtype}  first entries: {corner.ravel()}")


# %% [markdown]
# ## 0. Data and a teacher
#
# The bundled digits: 1,797 8×8 images, pixel values scaled to [0, 1], split stratified into 1,203
# training and 594 test images. The teacher is a `[64, 256, 256, 10]` MLP trained with plain
# cross-entropy (`SupervisedTrainer`) on every training label; on our run it reaches 97.0 % test
# accuracy. (FAST mode trains a smaller `[64, 128, 10]` teacher for 20 epochs: about 96 %.)

# %%
X, y = load_digits()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.33, seed=0)
print(f"train {X_train.shape}, test {X_test.shape}")

TEACHER_SIZES = [64, 128, 10] if FAST else [64, 256, 256, 10]
TEACHER_EPOCHS = 20 if FAST else 60
teacher = MLP(TEACHER_SIZES, seed=0)
SupervisedTrainer(seed=0).train(teacher, X_train, y_train, epochs=TEACHER_EPOCHS, batch_size=32,
                                optimizer=SGD(learning_rate=0.05, momentum=0.9), verbose=0)
teacher_accuracy = float(np.mean(teacher.predict(X_test) == y_test))
print(f"teacher {TEACHER_SIZES}: {teacher.num_parameters:,} parameters, test accuracy {100 * teacher_accuracy:.1f} %")
assert teacher_accuracy > 0.94, teacher_accuracy

# %% [markdown]
# ## The student, the loss, the optimizer and one batch
#
# The student is a `[64, 32, 10]` MLP. We keep a copy of its initial weights (`start`) so that we can
# later give `trainer.train_step` exactly the same starting point. The loss is Hinton's
# `DistillationLoss(temperature=4.0, alpha=0.1)`; the batch is 32 training images picked with a
# seeded generator.

# %%
student = MLP([64, 32, 10], seed=0)
start = student.copy()                      # the same initial weights, for step 5
strategy = DistillationLoss(temperature=4.0, alpha=0.1)
optimizer = SGD(learning_rate=0.05, momentum=0.9)

B = 32
idx = np.random.default_rng(0).permutation(len(X_train))[:B]   # dataset indices of the batch
X_batch, y_batch = X_train[idx], y_train[idx]
print(student)
show("X_batch", X_batch)
show("y_batch", y_batch)

# %% [markdown]
# ## Step 1 — teacher logits
#
# The teacher is frozen: we only run it forward. Its logits `v` have one row per image and one column
# per class. At temperature 1 the teacher is almost certain of most images (asserted: the median of its
# top probability over the batch is above 0.9); at T = 4 the same logits give a *softened* distribution
# whose small probabilities say which other digits the image resembles — the "dark knowledge" the
# student learns from.

# %%
teacher_logits = teacher.forward(X_batch)                                  # (B, C)
show("teacher_logits", teacher_logits)
p_T1 = softmax(teacher_logits[0], temperature=1.0)
p_T4 = softmax(teacher_logits[0], temperature=strategy.temperature)
print(f"image 0 (label {y_batch[0]}): teacher softmax at T=1  {p_T1}")
print(f"{'':>{len(f'image 0 (label {y_batch[0]}): ')}}teacher softmax at T=4  {p_T4}")
top_T1 = softmax(teacher_logits, temperature=1.0).max(axis=1)                 # (B,)
top_T4 = softmax(teacher_logits, temperature=strategy.temperature).max(axis=1)
print(f"median top probability over the batch: {np.median(top_T1):.3f} at T=1, {np.median(top_T4):.3f} at T=4")
assert teacher_logits.shape == (B, 10)
assert np.median(top_T1) > 0.9, top_T1
assert np.all(top_T4 < top_T1), "a higher temperature makes every row of the teacher's distribution softer"

# %% [markdown]
# ## Step 2 — student logits, and the cache
#
# `forward_train` returns the logits `z` and a cache of every layer's input and activation, which
# the backward pass needs. The cache is made of small NamedTuples: in a debugger you can look at
# `cache.layers[0].dense.x` (the input batch), `cache.layers[0].activation.out` (the hidden ReLU
# outputs) and so on.

# %%
student_logits, cache = student.forward_train(X_batch)                    # (B, C), MLPCache
show("student_logits", student_logits)
for k, layer in enumerate(cache.layers, start=1):
    show(f"cache.layers[{k - 1}].dense.x", layer.dense.x)
    show(f"cache.layers[{k - 1}].dense.W", layer.dense.W)
    if layer.activation is not None:
        show(f"cache.layers[{k - 1}].activation.out", layer.activation.out)
assert student_logits.shape == (B, 10)

# %% [markdown]
# ## Step 3 — the softened-softmax loss and its gradient
#
# One call gives the loss, its gradient with respect to the student logits and the two weighted parts:
#
#     L      = (1/B) Σ_i [ alpha · CE(softmax(z_i), y_i) + (1 − alpha) · T² · KL(softmax(v_i/T) ‖ softmax(z_i/T)) ]
#     dL/dz  = (1/B) [ alpha · (softmax(z) − onehot(y)) + (1 − alpha) · T · (softmax(z/T) − softmax(v/T)) ]
#
# We check the gradient against this formula (with minikd's own `softmax` and `one_hot`), and two of its
# properties: the parts add up to the loss, and every row of `dL/dz` sums to zero (adding a constant to
# all logits of a sample changes nothing). For a fresh student the soft part dominates: it is
# `T² = 16` times a KL divergence (times `1 − alpha = 0.9`), while the hard part is only `0.1` times a
# cross-entropy.

# %%
loss, dlogits, parts = strategy.loss_and_gradient(student_logits, teacher_logits, y_batch)   # float, (B, C)
print(f"loss {loss:.6f} = soft {parts['soft']:.6f} + hard {parts['hard']:.6f}")
show("dlogits", dlogits)

T, alpha = strategy.temperature, strategy.alpha
formula = (alpha * (softmax(student_logits) - one_hot(y_batch, 10))
           + (1 - alpha) * T * (softmax(student_logits, T) - softmax(teacher_logits, T))) / B
np.testing.assert_allclose(dlogits, formula, rtol=1e-10, atol=1e-15,
                           err_msg="dL/dz differs from the closed-form gradient")
np.testing.assert_allclose(loss, parts["soft"] + parts["hard"], rtol=1e-12, err_msg="loss != soft + hard")
np.testing.assert_allclose(dlogits.sum(axis=1), 0.0, atol=1e-12, err_msg="rows of dL/dz must sum to 0")
assert parts["soft"] > parts["hard"], parts
print("dL/dz matches the closed form; its rows sum to 0")

# %% [markdown]
# ## Step 4 — backpropagate and update
#
# `student.backward` turns `dL/dz` into one gradient per parameter (same keys and shapes as
# `student.params`); `optimizer.step` updates the parameters in place. We keep the loss on this batch
# before the step to check that the step went downhill.

# %%
grads = student.backward(dlogits, cache)                                  # dict like student.params
for name in student.params:
    show(f"grads[{name!r}]", grads[name])
    assert grads[name].shape == student.params[name].shape
before = {name: p.copy() for name, p in student.params.items()}
optimizer.step(student.params, grads)                                     # in place
change = np.sqrt(sum(np.sum((student.params[k] - before[k]) ** 2) for k in before))
loss_after = strategy.compute_loss(student.forward(X_batch), teacher_logits, y_batch)
print(f"parameters moved by {change:.4f} (L2); loss on this batch {loss:.4f} -> {loss_after:.4f}")
assert loss_after < loss, "one small SGD step on a batch lowers that batch's loss"

# %% [markdown]
# ## Step 5 — the same batch through `trainer.train_step`
#
# Now the trainer does it. It starts from the same initial weights (`start.copy()`) with a fresh
# optimizer of the same settings. We pass the batch's dataset indices `idx`: the trainer uses them as
# the key of its teacher-logit cache (here the cache is empty, as `train` has not run, so it asks the
# teacher).
#
# With `MINIKD_BREAK=1` the script stops in `pdb` right before the call: type `s` to step into
# `train_step`, `n` to go line by line, `p teacher_logits.shape` to look around, `c` to continue.

# %%
trainer = KnowledgeDistillationTrainer(teacher, strategy, seed=0)
student_t = start.copy()
optimizer_t = SGD(learning_rate=0.05, momentum=0.9)
if BREAK:
    breakpoint()  # step into the next line with `s`
record = trainer.train_step(student_t, X_batch, y_batch, idx, optimizer_t)

print(f"StepRecord: loss {record.loss:.6f}, soft {record.soft_loss:.6f}, hard {record.hard_loss:.6f}, "
      f"grad_norm {record.grad_norm:.6f}, batch_size {record.batch_size}")
check = dict(rtol=1e-12, atol=0)
np.testing.assert_allclose(record.teacher_logits, teacher_logits, **check, err_msg="step 1 differs")
np.testing.assert_allclose(record.student_logits, student_logits, **check, err_msg="step 2 differs")
np.testing.assert_allclose(record.loss, loss, **check, err_msg="step 3 (loss) differs")
np.testing.assert_allclose([record.soft_loss, record.hard_loss], [parts["soft"], parts["hard"]], **check,
                           err_msg="step 3 (parts) differ")
np.testing.assert_allclose(record.dlogits, dlogits, **check, err_msg="step 3 (dL/dz) differs")
grad_norm = np.sqrt(sum(np.sum(g ** 2) for g in grads.values()))
np.testing.assert_allclose(record.grad_norm, grad_norm, rtol=1e-12, err_msg="step 4 (gradient norm) differs")
for name in student.params:
    np.testing.assert_allclose(student_t.params[name], student.params[name], **check,
                               err_msg=f"step 4: parameter {name} after the update differs")
print("train_step computed the same logits, loss, gradient and updated weights as the four steps by hand")

# %% [markdown]
# ## Where to put `breakpoint()` in `minikd/trainer/base.py`
#
# `train_step` (defined once, in `KnowledgeDistillationTrainerBase`) is written as the four steps, one
# line each, marked `# 1.` to `# 4.`; the optimizer's update follows a few lines below, after a check
# that the loss and gradient are finite. The cell below finds those lines in the installed source and
# prints where they are. `train_step` calls the unvalidated twins of the methods you called (`_forward_train`,
# the strategy's `_compute`, `_backward`, `_step`): `train` validates the whole data set once, so the hot
# loop does not re-check every batch. The math is the same, which is why step 5 matched. "Step into" on the
# step-3 line lands directly in `DistillationLoss._compute`, the loss's formula, and two calls further down
# in the student's log-softmax.
#
# Three ways to stop there:
#
# - `python -m pdb tutorials/04_distil_a_student_step_by_step.py`, then at the `(Pdb)` prompt
#   `b <file>:<line>, teacher_logits is not None` with a file and line printed below, and `c`. The
#   condition matters: the teacher is trained with `SupervisedTrainer`, which runs this very loop with
#   `teacher_logits = None`, so an unconditional breakpoint first stops inside the teacher's training.
#   (On the step-1 line `teacher_logits` does not exist yet: use the condition
#   `not isinstance(self, SupervisedTrainer)` there.)
# - with an editable install (`pip install -e .`), write `breakpoint()` on the line above one of them
#   (and remove it afterwards);
# - your IDE: open `minikd/trainer/base.py` and click in the margin of one of these lines.
#
# In a full `trainer.train(...)` run such a breakpoint is hit on every batch: `teacher_logits` then comes
# from the cache, looked up by the batch's dataset indices (the teacher runs once per sample per `train`
# call), and `DistillationLoss._compute` softens them with the current temperature in every step.

# %%
source_file = inspect.getsourcefile(KnowledgeDistillationTrainerBase)
lines, first_line = inspect.getsourcelines(KnowledgeDistillationTrainerBase.train_step)
step_lines = {}
for offset, text in enumerate(lines):
    marker = re.search(r"#\s*([1-4])\.", text)
    if marker:
        step_lines[f"step {marker.group(1)}"] = (first_line + offset, text.split("#")[0].strip())
    elif "optimizer._step(" in text:
        step_lines["update"] = (first_line + offset, text.strip())
assert sorted(step_lines) == ["step 1", "step 2", "step 3", "step 4", "update"], step_lines
for label, (lineno, text) in step_lines.items():
    print(f"{label:<7} {source_file}:{lineno}\n        {text}")
print(f"\nfor example, in pdb:  b {source_file}:{step_lines['step 3'][0]}, teacher_logits is not None")

# %% [markdown]
# ## The full trainer: distilled versus from scratch, on every training label
#
# `trainer.train` repeats `train_step` over shuffled minibatches for a number of epochs. We train the
# same `[64, 32, 10]` student twice from the same initial weights: once from the labels alone
# (`SupervisedTrainer`, plain cross-entropy) and once distilled from the teacher (`T = 4`,
# `alpha = 0.1`), for 60 epochs with SGD (learning rate 0.05, momentum 0.9, batch 32), over three seeds.
# The test set is passed as `validation_data` only to record the accuracy after every epoch; nothing is
# tuned on it.
#
# On our run (full mode): teacher 97.0 %; student from scratch 96.0 ± 0.3 %, distilled 96.8 ± 0.4 %
# (mean ± std over 3 seeds), with 35× fewer parameters than the teacher. **On the full training set the
# gain from distillation is small**, under one point here: 1,203 labelled images are enough for this
# student to learn the task well by itself, so the teacher has little left to teach. The student keeps
# almost all of the teacher's accuracy, which is the point of compression. The gain becomes large when
# labels are scarce (tutorial 05) or when a class is missing from the student's data (tutorial 06).
#
# The assertions are deliberately loose (they must hold on any machine and in FAST mode): the distilled
# student is at most 2 points below the scratch one and at most 2 points below the teacher, and both
# students are far above chance (10 %).

# %%
SEEDS = [0] if FAST else [0, 1, 2]
EPOCHS = 15 if FAST else 60
fit = dict(epochs=EPOCHS, batch_size=32, validation_data=(X_test, y_test), verbose=0)
results = {"from scratch": [], "distilled": []}
curves = {}
for seed in SEEDS:
    scratch = MLP([64, 32, 10], seed=seed)
    h_scratch = SupervisedTrainer(seed=seed).train(scratch, X_train, y_train,
                                                   optimizer=SGD(learning_rate=0.05, momentum=0.9), **fit)
    distilled = MLP([64, 32, 10], seed=seed)
    kd_trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=4.0, alpha=0.1), seed=seed)
    h_distilled = kd_trainer.train(distilled, X_train, y_train, optimizer=SGD(learning_rate=0.05, momentum=0.9), **fit)
    results["from scratch"].append(float(np.mean(scratch.predict(X_test) == y_test)))
    results["distilled"].append(float(np.mean(distilled.predict(X_test) == y_test)))
    curves.setdefault("from scratch", h_scratch.val_accuracy)
    curves.setdefault("distilled", h_distilled.val_accuracy)
    print(f"seed {seed}: from scratch {100 * results['from scratch'][-1]:.1f} %, "
          f"distilled {100 * results['distilled'][-1]:.1f} % "
          f"(agreement with the teacher on the test set {100 * h_distilled.teacher_agreement[-1]:.1f} %)")

# The history's last val_accuracy is the final model's test accuracy:
np.testing.assert_allclose(h_distilled.val_accuracy[-1], results["distilled"][-1], rtol=1e-12,
                           err_msg="history.val_accuracy[-1] should be the final test accuracy")

print(f"\nDigits test set ({len(y_test)} images); final epoch ({EPOCHS}); mean ± std over {len(SEEDS)} seed(s)")
header = f"{'model':<22} {'layers':<20} {'parameters':>10} {'compression':>11} {'test accuracy':>15}"
print(header)
print("-" * len(header))
rows = [("teacher", teacher, [teacher_accuracy]),
        ("student, from scratch", scratch, results["from scratch"]),
        ("student, distilled", distilled, results["distilled"])]
for name, model, accs in rows:
    ratio = teacher.num_parameters / model.num_parameters
    acc = f"{100 * np.mean(accs):.1f} ± {100 * np.std(accs):.1f} %" if len(accs) > 1 else f"{100 * accs[0]:.1f} %"
    print(f"{name:<22} {str(list(model.layer_sizes)):<20} {model.num_parameters:>10,} {ratio:>10.1f}x {acc:>15}")
gain = 100 * (np.mean(results["distilled"]) - np.mean(results["from scratch"]))
print(f"\ndistillation {'gains' if gain >= 0 else 'loses'} {abs(gain):.1f} points on the full training set")

assert np.mean(results["distilled"]) >= np.mean(results["from scratch"]) - 0.02, results
assert np.mean(results["distilled"]) >= teacher_accuracy - 0.02, results   # keeps almost all the teacher's accuracy
assert min(results["distilled"] + results["from scratch"]) > 0.85, results   # chance is 0.10
assert teacher.num_parameters / distilled.num_parameters > 3.5

# %% [markdown]
# ## The learning curves
#
# Test accuracy after every epoch, for the first seed. Both students pass 90 % within a few epochs; the
# distilled one is ahead (or level) in most epochs, by 1.6 points on average on our run (asserted:
# ahead or level in more than half of the epochs, and both above 90 % by epoch 5).

# %%
ahead = np.asarray(curves["distilled"]) >= np.asarray(curves["from scratch"])
print(f"distilled ahead or level in {ahead.sum()} of {ahead.size} epochs; mean difference "
      f"{100 * np.mean(np.subtract(curves['distilled'], curves['from scratch'])):+.1f} points")
assert ahead.mean() > 0.5, ahead
assert min(curves["distilled"][4], curves["from scratch"][4]) > 0.9, curves

if plt is None:
    print("matplotlib is not installed: skipping the plot (pip install -e '.[tutorials]')")
else:
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, acc in curves.items():
        ax.plot(np.arange(1, len(acc) + 1), 100 * np.asarray(acc), label=f"student, {name}")
    ax.axhline(100 * teacher_accuracy, color="gray", linestyle="--", label="teacher")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("[64, 32, 10] student on all digits training labels")
    ax.legend()
    fig.tight_layout()
    out = OUTPUT_DIR / f"{STEM}_curves.png"
    fig.savefig(out, dpi=120)
    print(f"saved {out}")
    if "get_ipython" in globals():  # a notebook (and the docs site): the saved PNG in the cell's output
        from IPython.display import Image, display
        display(Image(filename=out))
    elif not FAST and matplotlib.get_backend().lower() != "agg":  # a script: a window, unless headless
        plt.show()
    plt.close(fig)

# %% [markdown]
# ## Exercises
#
# 1. Run with `python -m pdb`, break on the step-3 line of `train_step` printed above, and continue
#    into `trainer.train`. Is `teacher_logits` at that line ever different from
#    `teacher.forward(X_batch)`? (It should not be: check with `p np.abs(...).max()`.)
# 2. Redo steps 1–4 with `DistillationLoss(temperature=4.0, alpha=1.0)`. What does `dlogits` reduce to?
#    Check it against `(softmax(student_logits) - one_hot(y_batch, 10)) / B`, and against
#    `minikd.CrossEntropyLoss`.
# 3. Call `train_step` a second time on the same batch with `optimizer_t`, and again by hand with
#    `optimizer`. Do they still agree? (Momentum makes the second step depend on the first: both
#    optimizers must have taken the same first step for the weights to match.)
