"""Behaviour that makes training fast (benchmarks/ has the timings; nothing here is timed).

- the teacher runs once per training sample per ``train`` call (cached logits, fixed chunks), and
  its softened distribution is computed once per ``train`` call (again when the temperature changes);
- the hot loop is batched: one forward/backward/loss call per minibatch, never per sample;
- inputs are validated once per ``train`` call, not in every step;
- float32 stays float32 end to end: activations, logits, gradients, cached teacher logits and
  optimizer buffers;
- parameters and optimizer buffers are updated in place (no new arrays per step);
- the cross-entropy term handles integer labels without building one-hot rows, with exactly the
  numbers the one-hot formula gives.
"""

import numpy as np
import pytest

import minikd.functional
import minikd.mlp
import minikd.optim
import minikd.strategies
import minikd.teachers
import minikd.trainer
from minikd.mlp import MLP
from minikd.optim import SGD, Adam
from minikd.strategies import CrossEntropyLoss, DistillationLoss, LogitMatchingLoss
from minikd.trainer import KnowledgeDistillationTrainer, SupervisedTrainer


def _data(n=2500, d=6, c=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = rng.integers(0, c, n)
    return X, y


class CountingTeacher:
    """A callable teacher that records the number of rows of every call."""

    def __init__(self, model):
        self.model = model
        self.rows = []

    def __call__(self, X):
        self.rows.append(X.shape[0])
        return self.model.forward(X)


# ----------------------------------------------------------------------------- teacher cost
def test_teacher_runs_once_per_training_sample_per_run():
    X, y = _data(n=2500)
    X_val, y_val = _data(n=300, seed=1)
    teacher = CountingTeacher(MLP([6, 16, 4], seed=0))
    trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=2.0, alpha=0.5), seed=0)
    chunk = trainer.teacher_chunk_size
    expected_train_calls = [chunk, chunk, 2500 - 2 * chunk]  # fixed chunks in data-set order
    for epochs in (1, 5):  # every train call fills the cache once, however many epochs it runs
        teacher.rows.clear()
        trainer.train(MLP([6, 8, 4], seed=1), X, y, epochs=epochs, batch_size=64,
                      validation_data=(X_val, y_val), verbose=0)
        assert teacher.rows == expected_train_calls + [300], (
            f"{epochs} epoch(s): teacher calls of {teacher.rows} rows; expected the training set once in "
            f"chunks of {chunk} and the validation set once")


def test_a_temperature_changed_by_a_callback_is_used_from_the_next_epoch_with_or_without_the_cache():
    """Step 3 computes the teacher's softened distribution from the batch's (cached) logits, so a
    callback that changes T changes the next epoch's loss exactly as without a cache."""
    X, y = _data(n=700)
    teacher = MLP([6, 16, 4], seed=0)
    histories = []
    for cache in (True, False):
        strategy = DistillationLoss(temperature=1.5, alpha=0.3)

        def schedule(epoch, logs, strategy=strategy):
            strategy.temperature = 1.0 + epoch  # epoch 2 at T = 2, epoch 3 at T = 3, ...

        trainer = KnowledgeDistillationTrainer(teacher, strategy, seed=0, cache_teacher_logits=cache)
        histories.append(trainer.train(MLP([6, 8, 4], seed=1), X, y, epochs=4, batch_size=64,
                                       callbacks=[schedule], verbose=0))
    np.testing.assert_array_equal(histories[0].loss, histories[1].loss)
    np.testing.assert_array_equal(histories[0].soft_loss, histories[1].soft_loss)
    fixed = KnowledgeDistillationTrainer(teacher, DistillationLoss(1.5, 0.3), seed=0).train(
        MLP([6, 8, 4], seed=1), X, y, epochs=4, batch_size=64, verbose=0)
    assert histories[0].loss[0] == fixed.loss[0] and histories[0].loss[1] != fixed.loss[1]


def test_a_user_strategy_implements_only_compute_and_step_3_calls_it_once_per_batch():
    """The documented contract for a strategy of one's own: ``_compute(z, v, labels_kind, labels)``
    with z, v of the student's dtype, called directly by ``train_step`` once per minibatch."""
    seen = []

    class MyLoss(DistillationLoss):
        def _compute(self, z, v, labels_kind, labels):
            seen.append((z.shape[0], z.dtype, v.dtype, labels_kind))
            return super()._compute(z, v, labels_kind, labels)

    X, y = _data(n=300)
    teacher = MLP([6, 16, 4], seed=0)  # float64 teacher, float32 student: v arrives in float32
    trainer = KnowledgeDistillationTrainer(teacher, MyLoss(temperature=2.0, alpha=0.5), seed=0)
    history = trainer.train(MLP([6, 8, 4], seed=1, dtype=np.float32), X, y, epochs=2, batch_size=100, verbose=0)
    assert seen == [(100, np.float32, np.float32, "index")] * 6
    reference = KnowledgeDistillationTrainer(teacher, DistillationLoss(2.0, 0.5), seed=0)
    np.testing.assert_array_equal(history.loss, reference.train(MLP([6, 8, 4], seed=1, dtype=np.float32), X, y,
                                                                epochs=2, batch_size=100, verbose=0).loss)


# ----------------------------------------------------------------------------- batched hot loop
def test_one_forward_backward_and_loss_call_per_minibatch(monkeypatch):
    X, y = _data(n=1000)
    n_batches = -(-1000 // 64)
    forward_rows, backward_rows, loss_rows, dense_calls = [], [], [], []

    class RecordingMLP(MLP):
        def _forward_train(self, X, need_input_grad=False):
            forward_rows.append(X.shape[0])
            return super()._forward_train(X, need_input_grad)

        def _backward(self, dlogits, cache, dhidden=None):
            backward_rows.append(dlogits.shape[0])
            return super()._backward(dlogits, cache, dhidden)

    class RecordingLoss(DistillationLoss):
        def _compute(self, z, v, labels_kind, labels):
            loss_rows.append(z.shape[0])
            return super()._compute(z, v, labels_kind, labels)

    dense_forward = minikd.mlp._dense_forward

    def counting_dense_forward(x, W, b):
        dense_calls.append(x.shape[0])
        return dense_forward(x, W, b)

    monkeypatch.setattr(minikd.mlp, "_dense_forward", counting_dense_forward)
    student = RecordingMLP([6, 8, 8, 4], seed=1)
    trainer = KnowledgeDistillationTrainer(MLP([6, 16, 4], seed=0), RecordingLoss(), seed=0)
    trainer.train(student, X, y, epochs=3, batch_size=64, verbose=0)
    batch_rows = [64] * (n_batches - 1) + [1000 - 64 * (n_batches - 1)]
    assert forward_rows == batch_rows * 3, "the student's forward pass must run once per minibatch"
    assert backward_rows == batch_rows * 3, "the student's backward pass must run once per minibatch"
    assert loss_rows == batch_rows * 3, "the loss must be computed once per minibatch, on the whole batch"
    # 3 dense layers per student forward; the teacher's layers run through MLP.forward too (its cache fill)
    student_dense = [r for r in dense_calls if r in (64, batch_rows[-1])]
    assert len(student_dense) == 3 * 3 * n_batches


def test_inputs_are_validated_once_per_train_call_not_per_step(monkeypatch):
    """The number of validation calls does not grow with the number of epochs (i.e. of steps)."""
    calls = {"check_float_array": 0, "check_labels": 0}
    for name in calls:
        original = getattr(minikd._validation, name)

        def counting(*args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        for module in (minikd.trainer, minikd.mlp, minikd.optim, minikd.strategies, minikd.teachers,
                       minikd.functional):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, counting)

    X, y = _data(n=500)
    X_val, y_val = _data(n=100, seed=1)
    counts = []
    for epochs in (1, 6):
        for key in calls:
            calls[key] = 0
        trainer = KnowledgeDistillationTrainer(MLP([6, 16, 4], seed=0), DistillationLoss(), seed=0)
        trainer.train(MLP([6, 8, 4], seed=1), X, y, epochs=epochs, batch_size=32,
                      validation_data=(X_val, y_val), verbose=0)
        counts.append(dict(calls))
    assert counts[0] == counts[1], f"validation calls for 1 epoch vs 6 epochs (16 vs 96 steps): {counts}"
    assert counts[0]["check_float_array"] > 0  # the patch did catch train()'s own checks


# ----------------------------------------------------------------------------- float32 end to end
@pytest.mark.parametrize("make_optimizer", [lambda: SGD(0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
                                            lambda: Adam(1e-2, weight_decay=1e-4)], ids=["sgd", "adam"])
@pytest.mark.parametrize("labels", ["index", "prob"])
def test_float32_student_stays_float32_everywhere(monkeypatch, make_optimizer, labels):
    optimizer = make_optimizer()  # one per run: a used optimizer would carry its state over (and warn)
    X, y = _data(n=300)  # float64 data, float64 teacher
    if labels == "prob":
        y = np.eye(4)[y]  # float64 one-hot rows
    X_val, y_val = _data(n=50, seed=1)
    seen = []
    teacher = MLP([6, 16, 4], seed=0)  # float64
    student = MLP([6, 8, 4], seed=1, dtype=np.float32)
    dense_forward, dense_backward = minikd.mlp._dense_forward, minikd.mlp.dense_backward

    def recording_forward(x, W, b):
        out, cache = dense_forward(x, W, b)
        if any(W is p for p in student.params.values()):  # not the (float64) teacher's layers
            seen.extend([("dense input", x.dtype), ("dense output", out.dtype)])
        return out, cache

    def recording_backward(dout, cache, need_dx=True):
        dx, dW, db = dense_backward(dout, cache, need_dx)
        seen.extend([("dout", dout.dtype), ("dW", dW.dtype), ("db", db.dtype)])
        if dx is not None:
            seen.append(("dx", dx.dtype))
        return dx, dW, db

    monkeypatch.setattr(minikd.mlp, "_dense_forward", recording_forward)
    monkeypatch.setattr(minikd.mlp, "dense_backward", recording_backward)

    class Recording(KnowledgeDistillationTrainer):
        def train_step(self, student, X_batch, y_batch, indices, optimizer, validate=True):
            rec = super().train_step(student, X_batch, y_batch, indices, optimizer, validate)
            seen.extend([("X_batch", X_batch.dtype), ("student logits", rec.student_logits.dtype),
                         ("teacher logits", rec.teacher_logits.dtype), ("dlogits", rec.dlogits.dtype)])
            if y_batch.dtype.kind == "f":
                seen.append(("prob labels", y_batch.dtype))
            return rec

    trainer = Recording(teacher, DistillationLoss(temperature=3.0, alpha=0.3), seed=0)
    trainer.train(student, X, y, epochs=2, batch_size=32, optimizer=optimizer,
                  validation_data=(X_val, y_val), verbose=0)
    seen.append(("cached teacher logits", trainer._cache.dtype))
    seen.extend((f"params[{k!r}]", p.dtype) for k, p in student.params.items())
    for buffer_name, buffers in optimizer._buffers.items():
        assert buffers, f"optimizer buffer {buffer_name!r} was never created"
        seen.extend((f"{buffer_name}[{k!r}]", b.dtype) for k, b in buffers.items())
    wrong = sorted({what for what, dtype in seen if dtype != np.float32})
    assert not wrong, f"float64 (or other) arrays in a float32 run: {wrong}"


# ----------------------------------------------------------------------------- in-place updates
@pytest.mark.parametrize("optimizer", [SGD(0.05, momentum=0.9), Adam(1e-2)], ids=["sgd", "adam"])
def test_parameters_and_optimizer_buffers_are_updated_in_place(optimizer):
    X, y = _data(n=200)
    student = MLP([6, 8, 4], seed=1)
    params_before = {k: id(v) for k, v in student.params.items()}
    trainer = SupervisedTrainer(seed=0)
    trainer.train(student, X, y, epochs=1, batch_size=50, optimizer=optimizer, verbose=0)
    buffers_after_first = {(b, k): id(a) for b, bufs in optimizer._buffers.items() for k, a in bufs.items()}
    weights_after_first = {k: v.copy() for k, v in student.params.items()}
    trainer.train(student, X, y, epochs=2, batch_size=50, optimizer=optimizer, verbose=0)
    assert {k: id(v) for k, v in student.params.items()} == params_before, "params must be updated in place"
    assert {(b, k): id(a) for b, bufs in optimizer._buffers.items() for k, a in bufs.items()} == \
        buffers_after_first, "optimizer buffers must be updated in place, not replaced"
    assert any(not np.array_equal(weights_after_first[k], student.params[k]) for k in student.params)


# ----------------------------------------------------------------------------- labels without one-hot rows
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("strategy", [DistillationLoss(temperature=3.0, alpha=0.4),
                                      DistillationLoss(temperature=1.0, alpha=0.7),
                                      LogitMatchingLoss(alpha=0.5), CrossEntropyLoss()],
                         ids=["hinton-T3", "hinton-T1", "logit-matching", "cross-entropy"])
def test_integer_labels_give_exactly_the_one_hot_result(strategy, dtype):
    """Integer labels skip building one-hot rows; the loss and gradient are the same numbers, bit for bit."""
    rng = np.random.default_rng(0)
    z = (3 * rng.normal(size=(40, 7))).astype(dtype)
    v = (3 * rng.normal(size=(40, 7))).astype(dtype)
    y = rng.integers(0, 7, 40)
    one_hot = np.eye(7, dtype=dtype)[y]
    loss_i, dz_i, parts_i = strategy._loss_and_gradient(z, v, "index", y)
    loss_p, dz_p, parts_p = strategy._loss_and_gradient(z, v, "prob", one_hot)
    assert loss_i == loss_p and parts_i == parts_p, f"loss with int labels {loss_i!r}, one-hot rows {loss_p!r}"
    np.testing.assert_array_equal(dz_i, dz_p, err_msg="gradient with int labels vs one-hot rows")
    assert dz_i.dtype == dtype
