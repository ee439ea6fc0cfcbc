# %% [markdown]
# # 03 · Train a teacher
#
# Distillation needs a teacher: a big network trained the ordinary way, with cross-entropy on the
# labels. This tutorial opens up minikd's `MLP`, runs its forward and backward pass by hand, layer by
# layer, proves the gradients with finite differences, and then trains the teacher the other
# tutorials use: `MLP([64, 256, 256, 10])` on the bundled 8×8 digits.
#
# **What you will learn**
#
# - what each layer of an MLP computes, with the shape of every intermediate, using the layer
#   functions of `minikd.layers` (`dense_forward`, `relu_forward`, and their backwards);
# - that the hand-made pass gives exactly what `MLP.forward` and `MLP.backward` give;
# - how to gradient-check a network with `minikd.gradcheck.check_gradients`, and how to read it;
# - how to train with `SupervisedTrainer`, watch a validation set, and read the history.
#
# **Before you run this**
#
# - `python -m pip install -e .` from the repository root (add `".[tutorials]"` for the plot:
#   `python -m pip install -e ".[tutorials]"` installs matplotlib).
# - No earlier tutorial is needed; this is the one to read first if backpropagation is hazy.
#
# Run it as a script (`python tutorials/03_train_a_teacher.py`), open it as a notebook, or put a
# `breakpoint()` in any cell. Training takes a few seconds; with `MINIKD_TUTORIAL_FAST=1` (what the
# test suite does) a smaller teacher is trained for fewer epochs. Numbers in the text are from a
# full run.

# %%
import os
from pathlib import Path

import numpy as np

from minikd import MLP, SGD, CrossEntropyLoss, SupervisedTrainer
from minikd.datasets import load_digits, train_test_split
from minikd.functional import cross_entropy, one_hot, softmax
from minikd.gradcheck import check_gradients
from minikd.layers import dense_backward, dense_forward, relu_backward, relu_forward

FAST = os.environ.get("MINIKD_TUTORIAL_FAST") == "1"

try:
    import matplotlib

    if os.environ.get("MPLBACKEND") == "Agg":
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None

# Figures go to $MINIKD_TUTORIAL_OUTPUT if it is set, else next to this file when run as a script, else to
# the working directory (a notebook has no __file__); see tutorials/README.md.
OUTPUT_DIR = Path(os.environ.get("MINIKD_TUTORIAL_OUTPUT")
                  or (Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()))
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
STEM = "03_train_a_teacher"  # this file's name, for the figures' names

# %% [markdown]
# ## 1. Data
#
# `load_digits()` returns the 1,797 bundled 8×8 images as rows of 64 pixel values in [0, 1], and
# their labels 0..9. We keep a third of them as the **test set** (touched once, at the end) and
# split the rest into a **fitting set** for the gradient steps and a **validation set** to watch
# during training. All splits are stratified (every digit in the same proportion) and seeded.

# %%
X, y = load_digits()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.33, seed=0)
X_fit, X_val, y_fit, y_val = train_test_split(X_train, y_train, test_size=0.15, seed=0)
print(f"X {X.shape} {X.dtype}, y {y.shape} {y.dtype}; classes {np.unique(y).tolist()}")
print(f"fit {X_fit.shape[0]}, validation {X_val.shape[0]}, test {X_test.shape[0]}")
assert X_fit.shape[0] + X_val.shape[0] + X_test.shape[0] == X.shape[0]

# %% [markdown]
# ## 2. The network
#
# `MLP([64, 256, 256, 10])` is three dense layers: 64 inputs (`D`), two hidden layers of 256 units
# (`H`) with ReLU, and 10 outputs (`C`), the logits. Layer `k` has a weight matrix `W_k` of shape
# `(in, out)` and a bias `b_k` of shape `(out,)`, stored in the dict `model.params`. ReLU layers get
# He initialisation, `W ~ N(0, 2 / fan_in)`, and zero biases.

# %%
model = MLP([64, 256, 256, 10], activation="relu", seed=0)
print(model)
for name, p in model.params.items():
    print(f"   {name}: {p.shape}")
expected = sum(n_in * n_out + n_out for n_in, n_out in zip(model.layer_sizes[:-1], model.layer_sizes[1:],
                                                             strict=True))
assert model.num_parameters == expected == 85_002

# %% [markdown]
# ## 3. The forward pass, by hand
#
# A batch of 4 digits, `X_batch` of shape `(N, D) = (4, 64)`. Each `*_forward` function returns its
# output and a small *cache* (a NamedTuple holding what its backward will need):
#
# ```
# z1 = X  @ W1 + b1     (4, 64)  @ (64, 256)  -> (4, 256)     dense
# a1 = max(z1, 0)       (4, 256)                              ReLU
# z2 = a1 @ W2 + b2     (4, 256) @ (256, 256) -> (4, 256)     dense
# a2 = max(z2, 0)       (4, 256)                              ReLU
# z3 = a2 @ W3 + b3     (4, 256) @ (256, 10)  -> (4, 10)      dense: the logits
# ```
#
# The last layer has no activation: the logits go to the softmax inside the loss.

# %%
X_batch, y_batch = X_fit[:4], y_fit[:4]
P = model.params

z1, dense1 = dense_forward(X_batch, P["W1"], P["b1"])
a1, relu1 = relu_forward(z1)
z2, dense2 = dense_forward(a1, P["W2"], P["b2"])
a2, relu2 = relu_forward(z2)
logits, dense3 = dense_forward(a2, P["W3"], P["b3"])

for name, value in [("X_batch", X_batch), ("z1", z1), ("a1", a1), ("z2", z2), ("a2", a2), ("logits", logits)]:
    print(f"{name:8s} {str(value.shape):10s} {value.dtype}")
print(f"share of hidden units that are off (ReLU output 0): layer 1 {np.mean(a1 == 0):.0%}, "
      f"layer 2 {np.mean(a2 == 0):.0%}")

model_logits, cache = model.forward_train(X_batch)
np.testing.assert_allclose(logits, model_logits, rtol=1e-13, atol=0,
                           err_msg="the hand-made forward must equal MLP.forward_train")
np.testing.assert_allclose(logits, model.forward(X_batch), rtol=1e-13, atol=0)
assert logits.shape == (4, 10) and z1.shape == a1.shape == z2.shape == a2.shape == (4, 256)

# %% [markdown]
# ## 4. The loss and its gradient with respect to the logits
#
# The teacher is trained with the mean cross-entropy `L = (1/N) Σ_i −log softmax(z_i)[y_i]`, whose
# gradient with respect to the logits is `(softmax(z) − onehot(y)) / N` (tutorial 02 derives the
# general case). This `dlogits`, shape `(4, 10)`, is where backpropagation starts. minikd's
# `CrossEntropyLoss` strategy, which `SupervisedTrainer` uses, gives the same numbers.

# %%
N = X_batch.shape[0]
loss = cross_entropy(logits, y_batch)
dlogits = (softmax(logits) - one_hot(y_batch, 10)) / N  # (N, C)
print(f"loss {loss:.4f} (an untrained 10-class model should be near log 10 = {np.log(10):.4f})")
print("dlogits row sums (each row of softmax - onehot sums to 0):", dlogits.sum(axis=1))

ce_loss, ce_dlogits, _ = CrossEntropyLoss().loss_and_gradient(logits, None, y_batch)
np.testing.assert_allclose(ce_loss, loss, rtol=1e-13)
np.testing.assert_allclose(ce_dlogits, dlogits, rtol=1e-12, atol=1e-17)
np.testing.assert_allclose(dlogits.sum(axis=1), 0, atol=1e-16)
assert abs(loss - np.log(10)) < 1.5, "He-initialised logits are small: the loss starts near log 10"

# %% [markdown]
# ## 5. The backward pass, by hand
#
# Walk the layers backwards. Each backward takes `dout` (the gradient of the loss with respect to
# the layer's output) and its cache:
#
# - dense: `dx = dout @ W.T`, `dW = x.T @ dout` (a sum over the batch), `db = dout.sum(axis=0)`;
# - ReLU: `dx = dout * (out > 0)`: the gradient passes where the unit was on, and stops where it was off.
#
# ```
# dlogits (4, 10) -> dense3 -> da2 (4, 256), dW3 (256, 10),  db3 (10,)
# da2             -> relu2  -> dz2 (4, 256)
# dz2             -> dense2 -> da1 (4, 256), dW2 (256, 256), db2 (256,)
# da1             -> relu1  -> dz1 (4, 256)
# dz1             -> dense1 -> (dX not needed), dW1 (64, 256), db1 (256,)
# ```

# %%
da2, dW3, db3 = dense_backward(dlogits, dense3)
dz2 = relu_backward(da2, relu2)
da1, dW2, db2 = dense_backward(dz2, dense2)
dz1 = relu_backward(da1, relu1)
_, dW1, db1 = dense_backward(dz1, dense1, need_dx=False)  # nobody updates the data
hand = {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "W3": dW3, "b3": db3}

grads = model.backward(dlogits, cache)
for name in model.params:
    print(f"d{name:3s} {str(hand[name].shape):11s} |grad| = {np.linalg.norm(hand[name]):.4f}")
    assert hand[name].shape == model.params[name].shape
    np.testing.assert_allclose(hand[name], grads[name], rtol=1e-12, atol=1e-17,
                               err_msg=f"hand-made d{name} must equal MLP.backward's")

# dW is a sum over the batch: one outer product a2[i] ⊗ dlogits[i] per sample.
per_sample = sum(np.outer(a2[i], dlogits[i]) for i in range(N))
np.testing.assert_allclose(dW3, per_sample, rtol=1e-12, atol=1e-17)
# A unit that was off for every sample of the batch gets no gradient at all in W2's column.
dead = np.all(a2 == 0, axis=0)
print(f"layer-2 units off for all 4 samples: {dead.sum()}; their columns of dW2 are exactly 0")
assert not dW2[:, dead].any()

# %% [markdown]
# On our run the hand-made gradients match `MLP.backward` (to rounding, checked at 1e-12), and 85
# of the 256 second-layer units are off for all four digits, so their incoming weights get no
# update from this batch. (The next batch will switch on other units.)

# %% [markdown]
# ## 6. Gradient check
#
# Matching `MLP.backward` proves the code does what we wrote by hand, not that the math is right.
# For that, compare with finite differences. `check_gradients(model, X)` takes a scalar function of
# the parameters, `f = Σ logits ⊙ R` for a fixed random `R` (so every output direction is tested),
# nudges every parameter by `±eps` and compares `(f(+eps) − f(−eps)) / (2 eps)` with `backward`'s
# answer. It returns the `rel_error` of each parameter; below 1e-7 is a pass.
#
# Choosing `eps` for a ReLU network:
#
# - **No truncation error.** With the on/off pattern of the ReLUs fixed, the network's output is
#   *linear* in any single weight or bias, so a central difference is exact, whatever `eps`.
# - **Rounding noise.** `f(+eps)` and `f(−eps)` are each rounded, an absolute error of about
#   `1e-16 · |f|`, which the division by `2 eps` magnifies: the noise falls like `1/eps`. It hurts
#   most on the tiny entries of the gradient (`rel_error` is *elementwise*): a weight from a
#   nearly blank pixel has a gradient of 1e-5, where a noise of 1e-12 is already 1e-7 relative.
# - **Kinks.** If `eps` is large enough to push a pre-activation across 0, a unit switches on or
#   off between `f(−eps)` and `f(+eps)`, and the difference is wrong (not the gradient). That is
#   why we give the biases small random values: a fresh network has zero biases, and blank pixels
#   are exact zeros, so pre-activations can sit exactly at the kink.
#
# So: the largest `eps` that crosses no kink. `1e-4` is a good choice here; the sweep shows the
# noise falling as `eps` grows. A small network (`[64, 16, 10]`, 1,210 parameters, 2,420 pairs of
# forward passes) keeps the check fast.

# %%
small = MLP([64, 16, 10], seed=3)
bias_rng = np.random.default_rng(3)
for name in ("b1", "b2"):
    small.params[name][:] = bias_rng.normal(0.0, 0.1, size=small.params[name].shape)
_, small_cache = small.forward_train(X_fit[:4])
closest = np.abs(small_cache.layers[0].activation.x).min()
print(f"closest first-layer pre-activation to the kink: {closest:.1e}")

sweep = {}
for eps in (1e-6, 1e-5, 1e-4):
    sweep[eps] = check_gradients(small, X_fit[:4], eps=eps)  # {"W1": rel_error, "b1": ..., ...}
    print(f"eps = {eps:.0e}: " + "  ".join(f"d{k} {e:.1e}" for k, e in sweep[eps].items()))
assert max(sweep[1e-4].values()) < 1e-7, sweep[1e-4]
assert max(sweep[1e-6].values()) > max(sweep[1e-4].values()), "the rounding noise falls as eps grows"

# %% [markdown]
# On our run, with `eps = 1e-4` all four errors are between 1e-11 and 1e-9: the backward pass is
# right. With `eps = 1e-6` the same, correct gradients score up to 5e-7 on `W1`, a false alarm
# caused by rounding (exercise 3 shows a real kink failure).

# %% [markdown]
# ## 7. Training the teacher
#
# `SupervisedTrainer` runs minikd's training loop (the same loop as distillation, with no teacher
# and a cross-entropy loss): for each shuffled minibatch it does a forward pass, computes the loss
# and `dlogits`, backpropagates, and lets the optimizer update `model.params`, exactly what sections
# 3–5 did by hand. After each epoch it evaluates `validation_data` and records everything in a
# `History`. A callback (any `f(epoch, logs)`) adds the accuracy on the fitting set, which the
# history does not track.
#
# Recipe (the one `python -m minikd` uses): SGD with learning rate 0.05 and momentum 0.9, batches
# of 32, 60 epochs, seeded shuffling.

# %%
if FAST:  # a smaller teacher, fewer epochs: ~95 % instead of ~97 %, in about a second
    teacher_sizes, epochs = [64, 128, 10], 15
else:
    teacher_sizes, epochs = [64, 256, 256, 10], 60
teacher = MLP(teacher_sizes, activation="relu", seed=0)
fit_accuracy = []


def record_fit_accuracy(epoch, logs):
    """Callback: accuracy on the fitting set after each epoch (a forward pass on 1,022 digits)."""
    fit_accuracy.append(float(np.mean(teacher.predict(X_fit) == y_fit)))


trainer = SupervisedTrainer(seed=0)
history = trainer.train(teacher, X_fit, y_fit, epochs=epochs, batch_size=32,
                        optimizer=SGD(learning_rate=0.05, momentum=0.9),
                        validation_data=(X_val, y_val), callbacks=[record_fit_accuracy], verbose=0)

print("epoch   train loss   train acc   val loss   val acc   seconds")
for e in range(len(history)):
    if e < 3 or (e + 1) % (5 if epochs > 20 else 3) == 0 or e == len(history) - 1:
        print(f"{history.epochs[e]:5d}   {history.loss[e]:10.5f}   {fit_accuracy[e]:8.1%}   "
              f"{history.val_loss[e]:8.4f}   {history.val_accuracy[e]:7.1%}   {history.epoch_time[e]:6.3f}")
print(f"total training time {sum(history.epoch_time):.1f} s")

# %% [markdown]
# What to look for in the history (each checked below):
#
# - the training loss falls by orders of magnitude (on our run from 0.94 in the first epoch to
#   5e-4 in the 60th), and the fitting set is classified perfectly from about epoch 7 on. (The training
#   loss is the mean over an epoch's batches, measured while the weights change; the accuracies
#   are measured after the epoch.)
# - the validation loss falls fast, bottoms out (on our run at 0.119, epoch 17) and then creeps up
#   (0.136 at epoch 60) while validation accuracy holds at about 96–97 %. The network keeps growing
#   its logits on examples it already gets right: it becomes *more confident*, not more accurate.
#   For a teacher that is worth knowing: very confident teachers have the small wrong-class
#   probabilities that tutorial 01 needed a temperature to bring back.

# %%
val_best = int(np.argmin(history.val_loss))
print(f"lowest validation loss {history.val_loss[val_best]:.4f} at epoch {history.epochs[val_best]}, "
      f"final {history.val_loss[-1]:.4f}")
assert history.loss[-1] < history.loss[0] / (50 if not FAST else 5), "the training loss must fall steeply"
assert fit_accuracy[-1] >= (0.999 if not FAST else 0.97)
assert history.val_accuracy[-1] >= (0.95 if not FAST else 0.92)
if not FAST:  # 15 epochs of a small network do not reach the over-confident phase
    assert history.loss[-1] < 0.05 * history.val_loss[-1], "the network fits its training data far better"
    assert min(fit_accuracy[14:]) >= 0.999, "the fitting set stays perfectly classified"
    assert history.val_loss[-1] > history.val_loss[val_best], "the validation loss rises after its minimum"
    assert history.val_accuracy[-1] >= history.val_accuracy[val_best] - 0.02, "accuracy holds meanwhile"

# %% [markdown]
# ## 8. The test set, once
#
# Only now, with every choice made, measure the test accuracy.

# %%
test_accuracy = float(np.mean(teacher.predict(X_test) == y_test))
print(f"teacher {teacher_sizes}: test accuracy {test_accuracy:.1%} ({teacher.num_parameters:,} parameters)")
assert test_accuracy >= (0.93 if FAST else 0.965), test_accuracy

# %% [markdown]
# On our run: 97.1 % test accuracy, the same as `python -m minikd`'s teacher (97.0 %, trained on the
# full two-thirds without holding out a validation set). In fast mode (`[64, 128, 10]`, 15 epochs)
# expect about 95 %.

# %% [markdown]
# ## 9. Training curves

# %%
if plt is None:
    print("matplotlib is not installed: skipping the plot (pip install -e '.[tutorials]')")
else:
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.semilogy(history.epochs, history.loss, label="training loss")
    ax_loss.semilogy(history.epochs, history.val_loss, label="validation loss")
    ax_loss.axvline(history.epochs[val_best], color="gray", linestyle=":", label="lowest validation loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy (log scale)")
    ax_loss.legend()
    ax_acc.plot(history.epochs, fit_accuracy, label="training accuracy")
    ax_acc.plot(history.epochs, history.val_accuracy, label="validation accuracy")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0.8, 1.005)
    ax_acc.legend(loc="lower right")
    fig.suptitle(f"teacher {teacher_sizes} on digits: test accuracy {test_accuracy:.1%}")
    fig.tight_layout()
    out = OUTPUT_DIR / f"{STEM}_curves.png"
    fig.savefig(out, dpi=100)
    print(f"saved {out}")
    if "get_ipython" in globals():  # a notebook (and the docs site): the saved PNG in the cell's output
        from IPython.display import Image, display
        display(Image(filename=out))
    elif not FAST and matplotlib.get_backend().lower() != "agg":  # a script: a window, unless headless
        plt.show()
    plt.close(fig)

# %% [markdown]
# ## What's next
#
# This teacher is the starting point of distillation. Tutorial 01 looks at its softened outputs;
# tutorial 02 derives the loss that transfers them to a student. To keep a trained teacher between
# sessions, save it with a checkpoint (`DistillationCheckpointConfig`, `load_checkpoint`) or simply
# `np.savez("teacher.npz", **teacher.params)` and `teacher.set_params(np.load("teacher.npz"))`.
#
# ## Exercises
#
# 1. Re-run the hand-made backward pass with `activation="tanh"` (use `tanh_forward`/`tanh_backward`
#    from `minikd.layers`). Which units now get no gradient?
# 2. Turn on early stopping: `SupervisedTrainer(seed=0, use_early_stopping=True,
#    early_stopping_patience=5)`. At which epoch does it stop, which weights does it keep
#    (`history.best_epoch`), and does the test accuracy change?
# 3. Make the gradient check fail on purpose: set all biases of `small` to 0 and use an input with a
#    pre-activation exactly at 0 (e.g. a blank image `np.zeros((1, 64))`). Which parameters fail,
#    and why is the analytic gradient still the right one to train with?
