# %% [markdown]
# # 11 — Hand off to PyTorch: export the student, and check a PyTorch distillation step number for number
#
# minikd is for understanding and verifying distillation. Sooner or later you will train something
# bigger in PyTorch, and two things have to come with you: the **weights** of the models, and the
# **loss** you trust. This tutorial moves both across and checks each, number for number.
#
# ## What you will learn
#
# - How a minikd `MLP` maps onto `nn.Sequential(nn.Linear, nn.ReLU, ..., nn.Linear)`:
#   `to_torch_state_dict`, `torch_sequential_code`, and `from_torch_state_dict` for the way back.
# - That the exported student makes the *same predictions* in PyTorch (float64 logits agree to rounding,
#   ~1e-14 on our run).
# - How to write the distillation loss the way PyTorch's knowledge-distillation tutorial does
#   (`soft_target_loss_weight`, `ce_loss_weight`), and check its loss and `logits.grad` against
#   `minikd.interop.reference_distillation_loss`.
# - That `torch.optim.SGD` and minikd's `SGD` take the same steps, so the weights stay together.
# - How to translate hyperparameters between conventions with `convert_hyperparameters`: the PyTorch
#   tutorial's 0.25 / 0.75 is minikd's `alpha = 0.75`, and what it is in Keras and torchdistill.
#
# ## Before you run this
#
# - `python -m pip install -e .` from the repository root (NumPy is the only requirement; this tutorial
#   draws no plots).
# - PyTorch is **optional**. With `torch` installed (any recent CPU build: `python -m pip install torch`)
#   the PyTorch half runs; without it the tutorial says so and still runs the minikd half (export, round
#   trip, the reference loss in every convention). minikd itself never imports torch.
# - Tutorial 04 (`04_distil_a_student_step_by_step.py`) explains `DistillationLoss(temperature, alpha)`
#   (alpha weights the *hard* label term) and the four steps of `KnowledgeDistillationTrainer.train_step`;
#   here we only use them.

# %%
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from minikd import MLP, SGD, DistillationLoss, KnowledgeDistillationTrainer, SupervisedTrainer
from minikd.datasets import load_digits, train_test_split
from minikd.interop import (
    LOSS_CONVENTIONS,
    convert_hyperparameters,
    from_torch_state_dict,
    reference_distillation_loss,
    to_torch_state_dict,
    torch_sequential_code,
    torch_sequential_spec,
)

FAST = os.environ.get("MINIKD_TUTORIAL_FAST") == "1"

try:
    import torch
except ImportError:  # also when torch is hidden with sys.modules["torch"] = None
    torch = None

if torch is None:
    print("PyTorch is not installed: skipping the PyTorch half of this tutorial "
          "(python -m pip install torch to run it). The minikd half runs as usual.")
else:
    print(f"PyTorch {torch.__version__} found: running both halves of the tutorial.")

# %% [markdown]
# ## 1. Train a teacher and distil a student, in minikd
#
# The digits data of the earlier tutorials: a teacher `[64, 256, 256, 10]` trained on the labels, and a
# small student `[64, 32, 10]` distilled from it with `DistillationLoss(temperature=4, alpha=0.1)`. The
# earlier tutorials distil on a few labelled images to show what the teacher adds; here we only need a good
# student to export, so it sees the whole training set. (FAST mode, used by the test suite, trains a smaller
# teacher for fewer epochs.)
#
# On our run (full mode): teacher 97.1 % test accuracy, distilled student 96.1 % (FAST mode: 94.9 % and 95.1 %).

# %%
X, y = load_digits()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.33, seed=0)

teacher_sizes = [64, 128, 10] if FAST else [64, 256, 256, 10]
epochs = 15 if FAST else 40

t0 = time.perf_counter()
teacher = MLP(teacher_sizes, seed=0)
SupervisedTrainer(seed=0).train(teacher, X_train, y_train, epochs=epochs, batch_size=32,
                                optimizer=SGD(learning_rate=0.05, momentum=0.9), verbose=0)
student = MLP([64, 32, 10], seed=1)
kd_trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=4.0, alpha=0.1), seed=0)
kd_trainer.train(student, X_train, y_train, epochs=epochs, batch_size=32,
                 optimizer=SGD(learning_rate=0.05, momentum=0.9), verbose=0)
teacher_acc = float(np.mean(teacher.predict(X_test) == y_test))
student_acc = float(np.mean(student.predict(X_test) == y_test))
print(f"teacher {teacher.layer_sizes}: {100 * teacher_acc:.1f} % test accuracy")
print(f"student {student.layer_sizes}: {100 * student_acc:.1f} % test accuracy, distilled "
      f"({student.num_parameters:,} parameters vs the teacher's {teacher.num_parameters:,}); "
      f"{time.perf_counter() - t0:.1f} s")
assert teacher_acc > 0.9 and student_acc > 0.85, "both models learned the digits"

# %% [markdown]
# ## 2. Export: a state dict of NumPy arrays
#
# `nn.Linear(in, out)` computes `x @ weight.T + bias` and stores `weight` with shape `(out, in)`; minikd's
# dense layer computes `x @ W + b` with `W` of shape `(in, out)`. So PyTorch's weight is minikd's `W.T`,
# exactly (a transpose moves numbers, it does not round them). In an `nn.Sequential` the Linear layers sit at
# the even indices 0, 2, 4, ... because an activation module sits between each pair, which gives the keys
# `"0.weight"`, `"0.bias"`, `"2.weight"`, ... that `to_torch_state_dict` produces.

# %%
student_state = to_torch_state_dict(student)
for key, array in student_state.items():
    print(f"  {key:>9}  shape {str(array.shape):>8}  {array.dtype}")
assert list(student_state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
for k in (1, 2):
    assert np.array_equal(student_state[f"{2 * (k - 1)}.weight"], student.params[f"W{k}"].T)
    assert np.array_equal(student_state[f"{2 * (k - 1)}.bias"], student.params[f"b{k}"])

# %% [markdown]
# The module these weights belong to, as code you can paste into a PyTorch project. It is float64
# (`.double()`) because the MLP is; a float32 MLP gives PyTorch's default float32.

# %%
print(torch_sequential_code(student, name="torch_student"))
print("as a list of layers:", torch_sequential_spec(student))

# %% [markdown]
# The state dict is plain NumPy, so it can travel as an `.npz` file to a machine that has PyTorch (there:
# `{k: torch.from_numpy(a) for k, a in np.load(path).items()}`). And it comes back:
# `from_torch_state_dict` reads the layer sizes from the shapes, transposes the weights back and checks
# everything (key names, shapes that chain, finite values). A state dict does not record the
# activation, so pass `activation=` if your network does not use ReLU.

# %%
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "student_state_dict.npz"
    np.savez(path, **student_state)
    with np.load(path) as archive:
        shipped = {key: archive[key] for key in archive.files}

round_trip = from_torch_state_dict(shipped, activation="relu")
print("round trip:", round_trip)
assert round_trip.layer_sizes == student.layer_sizes
for name in student.params:
    assert np.array_equal(round_trip.params[name], student.params[name]), name
assert np.array_equal(round_trip.predict(X_test), student.predict(X_test))
print("exported -> .npz -> imported: every weight bit-identical, same predictions")

# A Sequential that is an attribute of a larger module has keys "net.0.weight", ...: the prefix is stripped.
nested = from_torch_state_dict(to_torch_state_dict(student, prefix="net."))
assert all(np.array_equal(nested.params[name], student.params[name]) for name in student.params)

# The most common mistake, a weight in minikd's (in, out) layout, is caught with a message that says so.
mistake = dict(student_state, **{"0.weight": student.params["W1"]})  # forgot the transpose
try:
    from_torch_state_dict(mistake)
except ValueError as err:
    print(f"ValueError: {err}")
    assert "transposed" in str(err)
else:
    raise AssertionError("a (in, out) weight must be rejected")

# %% [markdown]
# ## 3. The same student in PyTorch: identical predictions
#
# We build the `nn.Sequential` from `torch_sequential_spec` (the same module as the printed code, which we
# check), load the state dict with `strict=True` (every key present, no extra key, every shape right), and
# compare logits and predictions on the test set. The network has no dropout or batch norm, so `train()`
# and `eval()` behave the same.

# %%
if torch is not None:
    nn = torch.nn

    def build_sequential(model):
        """The nn.Sequential of `torch_sequential_spec(model)`, loaded with the model's weights."""
        layers = [getattr(nn, name)(*args) for name, *args in torch_sequential_spec(model)]
        module = nn.Sequential(*layers).double()
        state = {key: torch.from_numpy(array) for key, array in to_torch_state_dict(model).items()}
        module.load_state_dict(state, strict=True)  # copies the numbers: nothing is shared with minikd
        return module

    torch_student = build_sequential(student)
    torch_teacher = build_sequential(teacher)
    pasted = {}
    exec(torch_sequential_code(student, name="torch_student"), pasted)  # the printed code, "pasted"
    assert repr(pasted["torch_student"]) == repr(torch_student), "the printed code builds the same module"
    print(torch_student)

    with torch.no_grad():
        torch_logits = torch_student(torch.from_numpy(X_test)).numpy()
        torch_teacher_logits = torch_teacher(torch.from_numpy(X_test)).numpy()
    minikd_logits = student.forward(X_test)
    print(f"student logits, max |PyTorch - minikd| = {np.max(np.abs(torch_logits - minikd_logits)):.1e}; "
          f"teacher: {np.max(np.abs(torch_teacher_logits - teacher.forward(X_test))):.1e}")
    np.testing.assert_allclose(torch_logits, minikd_logits, rtol=1e-12, atol=1e-12,
                               err_msg="student logits, PyTorch vs minikd")
    np.testing.assert_allclose(torch_teacher_logits, teacher.forward(X_test), rtol=1e-12, atol=1e-12,
                               err_msg="teacher logits, PyTorch vs minikd")
    assert np.array_equal(torch_logits.argmax(axis=1), student.predict(X_test)), "identical predictions"
    assert np.array_equal(torch_teacher_logits.argmax(axis=1), teacher.predict(X_test))
    with torch.no_grad():  # no dropout, no batch norm: train() and eval() compute the same function
        X_test_t = torch.from_numpy(X_test)
        assert torch.equal(torch_student.train()(X_test_t), torch_student.eval()(X_test_t))
    print(f"identical predictions on all {len(X_test)} test images, for the student and the teacher")
else:
    print("PyTorch is not installed: skipping the comparison of predictions in PyTorch.")

# %% [markdown]
# ## 4. One distillation step, written the way PyTorch's tutorial writes it
#
# PyTorch's knowledge-distillation tutorial (pytorch/tutorials,
# `beginner_source/knowledge_distillation_tutorial.py`, `train_knowledge_distillation`) weights two terms
# with two independent numbers, `soft_target_loss_weight = 0.25` and `ce_loss_weight = 0.75`, at `T = 2`.
# Below are its lines, copied into a function. Its soft term
# `sum(soft_targets * (soft_targets.log() - soft_prob)) / N * T**2` is `T² · KL(q || p)` averaged over the
# batch, so the whole loss is `0.25 · T² · KL + 0.75 · CE`.
#
# `reference_distillation_loss(..., convention="pytorch_tutorial")` computes that loss, and its gradient with
# respect to the student logits, with minikd's own finite-difference-checked code. We feed both the same
# batch, take PyTorch's gradient from autograd (`student_logits.retain_grad()` keeps `dL/dlogits` of this
# intermediate tensor), and compare. Without PyTorch, we still print minikd's numbers.

# %%
T = 2.0
tutorial_weights = {"soft_target_loss_weight": 0.25, "ce_loss_weight": 0.75}
batch_size, n_steps = 32, 5
batch_rng = np.random.default_rng(0)
batches = [batch_rng.choice(len(X_train), size=batch_size, replace=False) for _ in range(n_steps)]
X_batch, y_batch = X_train[batches[0]], y_train[batches[0]]

ref = reference_distillation_loss(student.forward(X_batch), teacher.forward(X_batch), y_batch, T,
                                  tutorial_weights, convention="pytorch_tutorial")
print(f"minikd, PyTorch-tutorial convention: loss = {ref.loss:.17g} "
      f"(soft {ref.soft:.6f} + hard {ref.hard:.6f}), dL/dlogits of shape {ref.dlogits.shape}")
np.testing.assert_allclose(ref.soft + ref.hard, ref.loss, rtol=1e-14, err_msg="loss = soft + hard")

if torch is not None:

    def kd_loss_like_the_pytorch_tutorial(student_logits, teacher_logits, labels, T,
                                          soft_target_loss_weight, ce_loss_weight):
        """The loss of PyTorch's KD tutorial, its code lines unchanged (returns the loss and its two terms)."""
        ce_loss = nn.CrossEntropyLoss()
        # Soften the student logits by applying softmax first and log() second
        soft_targets = nn.functional.softmax(teacher_logits / T, dim=-1)
        soft_prob = nn.functional.log_softmax(student_logits / T, dim=-1)
        # Calculate the soft targets loss. Scaled by T**2 as suggested by the authors of the paper
        soft_targets_loss = torch.sum(soft_targets * (soft_targets.log() - soft_prob)) / soft_prob.size()[0] * (T**2)
        # Calculate the true label loss
        label_loss = ce_loss(student_logits, labels)
        # Weighted sum of the two losses
        loss = soft_target_loss_weight * soft_targets_loss + ce_loss_weight * label_loss
        return loss, soft_targets_loss, label_loss

    inputs, labels = torch.from_numpy(X_batch), torch.from_numpy(y_batch)
    with torch.no_grad():
        teacher_logits = torch_teacher(inputs)
    student_logits = torch_student(inputs)
    student_logits.retain_grad()
    loss, soft_targets_loss, label_loss = kd_loss_like_the_pytorch_tutorial(
        student_logits, teacher_logits, labels, T, **tutorial_weights)
    loss.backward()

    # The reference, fed PyTorch's own logits (tensors are accepted; they are detached, not modified).
    ref_t = reference_distillation_loss(student_logits, teacher_logits, labels, T, tutorial_weights,
                                        convention="pytorch_tutorial")
    print(f"PyTorch (autograd):                  loss = {loss.item():.17g}")
    print(f"minikd reference on PyTorch's logits: loss = {ref_t.loss:.17g}")
    grad_diff = np.max(np.abs(student_logits.grad.numpy() - ref_t.dlogits))
    print(f"dL/dlogits: max |PyTorch - minikd| = {grad_diff:.1e} (largest entry {np.max(np.abs(ref_t.dlogits)):.1e})")
    np.testing.assert_allclose(ref_t.loss, loss.item(), rtol=1e-10, err_msg="the PyTorch tutorial's loss")
    w_soft, w_hard = tutorial_weights["soft_target_loss_weight"], tutorial_weights["ce_loss_weight"]
    np.testing.assert_allclose(ref_t.soft, w_soft * soft_targets_loss.item(), rtol=1e-10, err_msg="soft term")
    np.testing.assert_allclose(ref_t.hard, w_hard * label_loss.item(), rtol=1e-10, err_msg="hard term")
    np.testing.assert_allclose(ref_t.dlogits, student_logits.grad.numpy(), rtol=1e-10, atol=1e-14,
                               err_msg="dL/dlogits, autograd vs minikd")
    # ... and the loss minikd computes from its own logits is the same number too.
    np.testing.assert_allclose(ref.loss, loss.item(), rtol=1e-10, err_msg="minikd logits vs PyTorch logits")

    # Backpropagated through the network, the gradients of the weights agree as well (transposed, as always).
    logits, cache = student.forward_train(X_batch)
    grads = student.backward(ref.dlogits, cache)
    for k in (1, 2):
        linear = torch_student[2 * (k - 1)]
        np.testing.assert_allclose(linear.weight.grad.numpy(), grads[f"W{k}"].T, rtol=1e-10, atol=1e-14,
                                   err_msg=f"gradient of W{k}")
        np.testing.assert_allclose(linear.bias.grad.numpy(), grads[f"b{k}"], rtol=1e-10, atol=1e-14,
                                   err_msg=f"gradient of b{k}")
    print("the gradients of every weight and bias agree too")
else:
    print("PyTorch is not installed: skipping the autograd check of the PyTorch tutorial's loss.")

# %% [markdown]
# ## 5. The SGD steps: `torch.optim.SGD` vs minikd's `SGD`
#
# minikd's `SGD` uses PyTorch's update rule (momentum buffer `v = m·v + g`, then `W -= lr·v`; PyTorch's
# default `dampening=0`). We take five steps with `lr = 0.05, momentum = 0.9` on five batches, in both
# libraries, starting from the same distilled student, and compare the weights after every step. Step 1
# checks the plain gradient step; the later ones check the momentum too.
#
# The minikd side is the four steps of distillation written out: forward, loss and `dL/dlogits`,
# backward, update. The PyTorch side is the body of the tutorial's training loop (the tutorial uses
# `Adam(lr=0.001)`; see the exercises).

# %%
minikd_student = student.copy()
minikd_sgd = SGD(learning_rate=0.05, momentum=0.9)
after_first_step = {}
if torch is not None:
    torch_sgd = torch.optim.SGD(torch_student.parameters(), lr=0.05, momentum=0.9)

for step, idx in enumerate(batches, start=1):
    X_b, y_b = X_train[idx], y_train[idx]
    # minikd
    logits, cache = minikd_student.forward_train(X_b)                                      # (B, C)
    step_ref = reference_distillation_loss(logits, teacher.forward(X_b), y_b, T, tutorial_weights,
                                           convention="pytorch_tutorial")
    grads = minikd_student.backward(step_ref.dlogits, cache)                               # like params
    minikd_sgd.step(minikd_student.params, grads)
    if step == 1:
        after_first_step["minikd"] = minikd_student.copy()
    if torch is None:
        print(f"step {step}: minikd loss {step_ref.loss:.6f}")
        continue
    # PyTorch: the tutorial's loop body, with torch.optim.SGD
    inputs, labels = torch.from_numpy(X_b), torch.from_numpy(y_b)
    torch_sgd.zero_grad()
    with torch.no_grad():
        teacher_logits = torch_teacher(inputs)
    student_logits = torch_student(inputs)
    loss, _, _ = kd_loss_like_the_pytorch_tutorial(student_logits, teacher_logits, labels, T, **tutorial_weights)
    loss.backward()
    torch_sgd.step()
    # Bring PyTorch's weights back as an MLP and compare every array.
    back = from_torch_state_dict(torch_student.state_dict())
    if step == 1:
        after_first_step["torch"] = back
    diff = max(float(np.max(np.abs(back.params[k] - minikd_student.params[k]))) for k in back.params)
    print(f"step {step}: loss PyTorch {loss.item():.12f}, minikd {step_ref.loss:.12f}; "
          f"max |weight difference| {diff:.1e}")
    np.testing.assert_allclose(step_ref.loss, loss.item(), rtol=1e-10, err_msg=f"loss at step {step}")
    for k in back.params:
        np.testing.assert_allclose(back.params[k], minikd_student.params[k], rtol=1e-12, atol=1e-13,
                                   err_msg=f"{k} after SGD step {step}, PyTorch vs minikd")

moved = max(float(np.max(np.abs(minikd_student.params[k] - student.params[k]))) for k in student.params)
print(f"after {n_steps} steps the weights moved by up to {moved:.3f} from the distilled student")
assert moved > 1e-4, "the steps changed the weights (so the comparison above compared something)"

# %% [markdown]
# ## 6. Back from PyTorch
#
# Training went on in PyTorch for five steps; `from_torch_state_dict(torch_student.state_dict())` brings the
# result back into minikd. The imported MLP predicts exactly what the PyTorch module predicts (and what the
# minikd copy that took the same steps predicts). Any `nn.Sequential` of Linear layers and one kind of
# activation comes back this way, also from a larger module whose Sequential is an attribute
# (`"net.0.weight"` keys: the shared prefix is found and stripped).

# %%
if torch is not None:
    imported = from_torch_state_dict(torch_student.state_dict())
    with torch.no_grad():
        torch_logits = torch_student(torch.from_numpy(X_test)).numpy()
    np.testing.assert_allclose(imported.forward(X_test), torch_logits, rtol=1e-12, atol=1e-12,
                               err_msg="imported MLP vs the PyTorch module")
    assert np.array_equal(imported.predict(X_test), torch_logits.argmax(axis=1)), "same predictions as PyTorch"
    assert np.array_equal(imported.predict(X_test), minikd_student.predict(X_test)), "and as minikd's copy"
    print(f"imported {imported}: same predictions as the PyTorch module on all {len(X_test)} test images, "
          f"test accuracy {100 * np.mean(imported.predict(X_test) == y_test):.1f} %")
else:
    print("PyTorch is not installed: the way back was shown with the .npz round trip in section 2.")

# %% [markdown]
# ## 7. The same setting in other conventions
#
# Every distillation codebase computes `w_hard · CE + w_soft · T² · KL`, but names the weights
# differently, and "alpha" means the hard weight in some and the soft weight in others.
# `convert_hyperparameters` translates a setting and returns `(value, loss_scale)`: the target convention's
# hyperparameters and the factor `L_to = loss_scale · L_from`. `loss_scale = 1` is an exact equivalent;
# otherwise the losses differ by a constant factor (same minimiser; Adam is unaffected, plain SGD needs its
# learning rate divided by `loss_scale`).
#
# For the PyTorch tutorial's `T = 2`, 0.25 soft / 0.75 CE (our run, and yours: this table is exact):
#
# | convention | setting | loss_scale |
# |---|---|---|
# | minikd `DistillationLoss` | `alpha = 0.75` | 1 |
# | Keras example (`Distiller.compile`, alpha weights the hard term) | `alpha = 0.75, temperature = 2` | 1 |
# | Keras example, first revision (no `T²`) | `alpha = 0.4286` | 0.5714 |
# | torchdistill `KDLoss` | `temperature = 2, alpha = 0.75, beta = 0.25` | 1 |
# | "soft alpha" codebases (alpha weights the soft term) | `alpha = 0.25` | 1 |

# %%
converted = {}
print(f"{'convention':>17} | {'setting':<58} | loss_scale | loss on the batch")
for convention in LOSS_CONVENTIONS:
    out = convert_hyperparameters(tutorial_weights, "pytorch_tutorial", convention, T)
    converted[convention] = out
    there = reference_distillation_loss(student.forward(X_batch), teacher.forward(X_batch), y_batch, T, out.value,
                                        convention=convention)
    shown = out.value if isinstance(out.value, dict) else round(out.value, 4)
    print(f"{convention:>17} | {str(shown):<58} | {out.loss_scale:10.4f} | {there.loss:.12f}")
    np.testing.assert_allclose(there.loss, out.loss_scale * ref.loss, rtol=1e-10,
                               err_msg=f"{convention}: L_to = loss_scale * L_from")
    np.testing.assert_allclose(there.dlogits, out.loss_scale * ref.dlogits, rtol=1e-9, atol=1e-15,
                               err_msg=f"{convention}: the gradient scales like the loss")

assert converted["minikd"] == (0.75, 1.0)
assert converted["keras"].value == 0.75 and converted["keras"].loss_scale == 1.0
assert converted["torchdistill"] == ({"alpha": 0.75, "beta": 0.25}, 1.0)
assert converted["soft_alpha"].value == 0.25
np.testing.assert_allclose(converted["keras_no_t2"], (0.75 / 1.75, 1 / 1.75), rtol=1e-12,
                           err_msg="without T^2: alpha = w_hard / (w_hard + w_soft T^2)")

# %% [markdown]
# So in minikd the PyTorch tutorial's setting is `DistillationLoss(temperature=2, alpha=0.75)`. minikd's own
# trainer with that strategy takes exactly the first step of section 5 (its `train_step` is the four steps we
# wrote out by hand; `indices=None` tells it to run the teacher on the batch instead of using its cache).
#
# The trap the table warns about: copying the *number* 0.75 into a codebase whose alpha weights the soft
# term gives a different loss (and a differently trained student), not the same one.

# %%
same_setting = DistillationLoss(temperature=T, alpha=converted["minikd"].value)
one_step = student.copy()
KnowledgeDistillationTrainer(teacher, same_setting, seed=0).train_step(
    one_step, X_train[batches[0]], y_train[batches[0]], None, SGD(learning_rate=0.05, momentum=0.9))
for reference_name, reference_model in after_first_step.items():
    for k in one_step.params:
        np.testing.assert_allclose(one_step.params[k], reference_model.params[k], rtol=1e-12, atol=1e-13,
                                   err_msg=f"{k}: trainer step vs the {reference_name} step of section 5")
print(f"KnowledgeDistillationTrainer with {same_setting!r} takes the same first step as "
      + ("the hand-written minikd step and torch.optim.SGD" if torch is not None else "the hand-written minikd step"))

# How the same setting is written in the Keras example and in torchdistill:
keras_alpha = converted["keras"].value
td = converted["torchdistill"].value
print(f"Keras example:  distiller.compile(..., alpha={keras_alpha}, temperature={T})")
print(f"torchdistill:   KDLoss(..., temperature={T}, alpha={td['alpha']}, beta={td['beta']})")
print(f"minikd:         DistillationLoss(temperature={T}, alpha={converted['minikd'].value})")

wrong = reference_distillation_loss(student.forward(X_batch), teacher.forward(X_batch), y_batch, T, 0.75,
                                    convention="soft_alpha")
print(f"alpha = 0.75 copied into a soft-alpha codebase: loss {wrong.loss:.6f} instead of {ref.loss:.6f}")
assert abs(wrong.loss - ref.loss) > 1e-3 * ref.loss, "the same number, a different loss"

# %% [markdown]
# When PyTorch is installed we also write torchdistill's `KDLoss.forward` (`alpha · CE + beta · T² ·
# KLDivLoss(reduction="batchmean")`) with the converted `alpha = 0.75, beta = 0.25`, to see that it is the
# PyTorch tutorial's loss under another name.

# %%
if torch is not None:
    z = torch.from_numpy(student.forward(X_batch))
    v = torch.from_numpy(teacher.forward(X_batch))
    labels = torch.from_numpy(y_batch)
    alpha, beta = converted["torchdistill"].value["alpha"], converted["torchdistill"].value["beta"]
    soft_loss = nn.KLDivLoss(reduction="batchmean")(torch.log_softmax(z / T, dim=1), torch.softmax(v / T, dim=1))
    kd_loss = alpha * nn.CrossEntropyLoss(reduction="mean")(z, labels) + beta * (T**2) * soft_loss
    tutorial_loss, _, _ = kd_loss_like_the_pytorch_tutorial(z, v, labels, T, **tutorial_weights)
    print(f"torchdistill KDLoss {kd_loss.item():.15f}, PyTorch tutorial {tutorial_loss.item():.15f}")
    np.testing.assert_allclose(kd_loss.item(), tutorial_loss.item(), rtol=1e-12, err_msg="same loss, other names")
else:
    print("PyTorch is not installed: skipping the torchdistill form in PyTorch (the table above is minikd's).")

# %% [markdown]
# ## Summary
#
# - `to_torch_state_dict(mlp)` + `torch_sequential_code(mlp)` give PyTorch everything it needs; the exported
#   student predicts identically, and `from_torch_state_dict` brings any trained `nn.Sequential` back.
# - `reference_distillation_loss(..., convention=...)` is a test oracle for a distillation loss you write in
#   PyTorch: same loss, same `logits.grad`, to rounding error in float64 (~1e-15 relative on our run).
# - Compare hyperparameters through `convert_hyperparameters`, never by copying the number called "alpha".
#
# ## Exercises
#
# 1. The PyTorch tutorial trains with `optim.Adam(student.parameters(), lr=0.001)`. Replace both optimizers in
#    section 5 with Adam (minikd's `Adam(learning_rate=0.001)` follows `torch.optim.Adam`) and check that the
#    weights still agree after five steps. Which tolerance do you need?
# 2. Export a float32 student (`MLP([64, 32, 10], dtype=np.float32)`): what does `torch_sequential_code` print
#    now, and how close are the PyTorch and minikd logits? (Expect ~1e-6 relative, not 1e-15.)
# 3. An earlier revision of the PyTorch tutorial used `-torch.sum(soft_targets * soft_prob) / N * T**2`
#    as the soft term. Change that line in `kd_loss_like_the_pytorch_tutorial`: which of the checks of section 4
#    still pass, and by how much does the loss differ? (Hint: the teacher's entropy.)
