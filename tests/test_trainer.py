"""Tests of the training loop: teachers, caching by dataset index, bookkeeping, early stopping,
seeds, divergence, callbacks, progress output and bad input."""

import numpy as np
import pytest

from minikd.datasets import make_blobs
from minikd.mlp import MLP
from minikd.optim import SGD, Adam
from minikd.strategies import DistillationLoss
from minikd.teachers import TeacherModelWrapper
from minikd.trainer import (
    EarlyStopping,
    History,
    KnowledgeDistillationTrainer,
    StepRecord,
    SupervisedTrainer,
    TrainingDivergedError,
)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=240, n_features=4, n_classes=3, cluster_std=1.5, seed=0)
    return X, y


@pytest.fixture(scope="module")
def teacher_mlp(blobs):
    X, y = blobs
    teacher = MLP([4, 32, 3], seed=0)
    SupervisedTrainer(seed=0).train(teacher, X, y, epochs=30, batch_size=16,
                                    optimizer=SGD(0.05, momentum=0.9), verbose=0)
    return teacher


class CountingTeacher:
    """A callable teacher that counts the samples and calls it is asked for."""

    def __init__(self, model):
        self.model = model
        self.calls = 0
        self.samples = 0

    def __call__(self, X):
        self.calls += 1
        self.samples += X.shape[0]
        return self.model.forward(X)


# ------------------------------------------------------------------ teachers
def test_wrapper_infers_dimension_and_maps_vectors(teacher_mlp):
    t = TeacherModelWrapper(teacher_mlp)
    assert t.output_dimension == 3
    x = np.ones(4)
    np.testing.assert_array_equal(t.get_logits(x), teacher_mlp.forward(x))
    assert t.get_logits(np.ones((5, 4))).shape == (5, 3)

    c = TeacherModelWrapper(lambda X: teacher_mlp.forward(X))
    assert c.output_dimension is None
    assert c.get_logits(x).shape == (3,)
    assert c.output_dimension == 3


@pytest.mark.parametrize(
    "fn, match",
    [
        (lambda X: np.full((X.shape[0], 3), np.nan), "finite"),
        (lambda X: np.zeros((X.shape[0] + 1, 3)), "shape"),
        (lambda X: np.zeros(X.shape[0]), "shape"),
        (lambda X: "logits", "real numbers|array-like"),
    ],
)
def test_wrapper_rejects_bad_teacher_output(fn, match):
    t = TeacherModelWrapper(fn)
    with pytest.raises((ValueError, TypeError), match=match):
        t.get_logits(np.zeros((4, 2)))


def test_wrapper_checks_dimension_on_later_calls():
    calls = iter([np.zeros((2, 3)), np.zeros((2, 4))])
    t = TeacherModelWrapper(lambda X: next(calls))
    t.get_logits(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="output_dimension"):
        t.get_logits(np.zeros((2, 5)))


def test_wrapper_rejects_non_callable():
    with pytest.raises(TypeError, match="model_or_callable"):
        TeacherModelWrapper(42)


# ------------------------------------------------------------------ caching by dataset index
def test_teacher_runs_once_per_sample_with_cache(blobs, teacher_mlp):
    X, y = blobs
    counting = CountingTeacher(teacher_mlp)
    trainer = KnowledgeDistillationTrainer(counting, DistillationLoss(), seed=0)
    trainer.train(MLP([4, 8, 3], seed=1), X, y, epochs=5, batch_size=32, verbose=0)
    assert counting.samples == X.shape[0]
    counting.calls = counting.samples = 0
    trainer.train(MLP([4, 8, 3], seed=1), X, y, epochs=3, batch_size=32, verbose=0)
    assert counting.samples == X.shape[0]  # a new train call recomputes once, no more


def test_teacher_runs_per_batch_without_cache(blobs, teacher_mlp):
    X, y = blobs
    counting = CountingTeacher(teacher_mlp)
    trainer = KnowledgeDistillationTrainer(counting, DistillationLoss(), seed=0, cache_teacher_logits=False)
    trainer.train(MLP([4, 8, 3], seed=1), X, y, epochs=4, batch_size=50, verbose=0)
    n_batches = -(-X.shape[0] // 50)
    # plus one call on one sample at the start: a callable teacher's class count is checked up front
    assert counting.calls == 4 * n_batches + 1
    assert counting.samples == 4 * X.shape[0] + 1


def test_shuffled_batches_get_their_own_teacher_logits(blobs, teacher_mlp):
    """A cache keyed by batch position (a bug of a public implementation) fails this test."""
    X, y = blobs
    checked = []

    class Checking(KnowledgeDistillationTrainer):
        def train_step(self, student, X_batch, y_batch, indices, optimizer, validate=True):
            rec = super().train_step(student, X_batch, y_batch, indices, optimizer, validate)
            # allclose, not equal: BLAS may round a row differently inside another batch (1 ulp)
            np.testing.assert_allclose(rec.teacher_logits, teacher_mlp.forward(X_batch), rtol=1e-12, atol=1e-12,
                                       err_msg="teacher logits of another sample were used")
            checked.append(len(indices))
            return rec

    Checking(teacher_mlp, DistillationLoss(), seed=3).train(MLP([4, 8, 3], seed=1), X, y, epochs=3,
                                                             batch_size=17, verbose=0)
    assert sum(checked) == 3 * X.shape[0]


def test_position_keyed_cache_would_be_caught(blobs, teacher_mlp):
    """The permutation check above can fail: a cache keyed by batch position gives other samples' logits."""
    X, _ = blobs
    trainer = KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss(), seed=0)
    trainer._begin_train(X, None, np.float64)
    perm = np.random.default_rng(0).permutation(X.shape[0])
    first = perm[:17]
    trainer.get_teacher_predictions(X[first], first)
    positional = np.arange(17)  # what a position-keyed cache would look up for the next batch
    wrong = trainer.get_teacher_predictions(X[positional], positional)
    assert not np.array_equal(wrong[:5], teacher_mlp.forward(X[perm[17:22]]))


# ------------------------------------------------------------------ one step
def test_train_step_record(blobs, teacher_mlp):
    X, y = blobs
    student = MLP([4, 8, 3], seed=1)
    trainer = KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss(temperature=2.0, alpha=0.5), seed=0)
    before = {k: v.copy() for k, v in student.params.items()}
    rec = trainer.train_step(student, X[:10], y[:10], np.arange(10), SGD(0.1))
    assert isinstance(rec, StepRecord)
    assert rec.student_logits.shape == rec.teacher_logits.shape == rec.dlogits.shape == (10, 3)
    assert rec.batch_size == 10
    assert rec.grad_norm > 0
    np.testing.assert_allclose(rec.loss, rec.soft_loss + rec.hard_loss, rtol=1e-12)
    expected = DistillationLoss(temperature=2.0, alpha=0.5).compute_loss(
        before_logits := MLP.from_config(student.get_config(), params=before).forward(X[:10]),
        teacher_mlp.forward(X[:10]), y[:10])
    np.testing.assert_allclose(rec.loss, expected, rtol=1e-12)
    np.testing.assert_allclose(rec.student_logits, before_logits, rtol=1e-12)
    assert any(not np.array_equal(before[k], student.params[k]) for k in before)


def test_train_step_validates(blobs, teacher_mlp):
    X, y = blobs
    trainer = KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss(), seed=0)
    with pytest.raises(ValueError, match="X_batch"):
        trainer.train_step(MLP([4, 8, 3]), X[:5, :3], y[:5], None, SGD(0.1))
    with pytest.raises(ValueError, match="y_batch"):
        trainer.train_step(MLP([4, 8, 3]), X[:5], y[:4], None, SGD(0.1))
    with pytest.raises(TypeError, match="optimizer"):
        trainer.train_step(MLP([4, 8, 3]), X[:5], y[:5], None, "sgd")


# ------------------------------------------------------------------ epoch bookkeeping
def test_epoch_loss_is_sample_weighted_mean(blobs, teacher_mlp):
    X, y = blobs
    X, y = X[:70], y[:70]  # batches of 32, 32, 6
    steps = []

    class Recording(KnowledgeDistillationTrainer):
        def train_step(self, *args, **kwargs):
            rec = super().train_step(*args, **kwargs)
            steps.append((rec.loss, rec.batch_size, rec.soft_loss, rec.hard_loss))
            return rec

    history = Recording(teacher_mlp, DistillationLoss(alpha=0.3), seed=0).train(
        MLP([4, 8, 3], seed=1), X, y, epochs=1, batch_size=32, optimizer=SGD(0.5), verbose=0)
    losses, sizes, soft, hard = map(np.array, zip(*steps, strict=True))
    assert list(sizes) == [32, 32, 6]
    np.testing.assert_allclose(history.loss[0], np.sum(losses * sizes) / 70, rtol=1e-12)
    np.testing.assert_allclose(history.soft_loss[0], np.sum(soft * sizes) / 70, rtol=1e-12)
    np.testing.assert_allclose(history.hard_loss[0], np.sum(hard * sizes) / 70, rtol=1e-12)
    # the mean of batch means is a different number here, so the test can tell them apart
    assert abs(losses.mean() - history.loss[0]) > 1e-6


def test_validation_metrics(blobs, teacher_mlp):
    X, y = blobs
    student = MLP([4, 8, 3], seed=1)
    trainer = KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss(), seed=0)
    history = trainer.train(student, X[:160], y[:160], epochs=3, batch_size=32,
                            validation_data=(X[160:], y[160:]), verbose=0)
    assert len(history.val_loss) == len(history.val_accuracy) == len(history.teacher_agreement) == 3
    assert len(history.epoch_time) == 3 and all(t > 0 for t in history.epoch_time)
    metrics = trainer.evaluate(student, X[160:], y[160:])
    assert metrics["loss"] == pytest.approx(history.val_loss[-1], rel=1e-12)
    assert metrics["accuracy"] == pytest.approx(np.mean(student.predict(X[160:]) == y[160:]))
    agree = np.mean(student.predict(X[160:]) == teacher_mlp.predict(X[160:]))
    assert metrics["teacher_agreement"] == pytest.approx(agree)
    assert history.best_epoch == 3 and history.stopped_epoch is None


def test_unlabelled_transfer_set(blobs, teacher_mlp):
    X, y = blobs
    student = MLP([4, 16, 3], seed=2)
    history = KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss(temperature=2.0), seed=0).train(
        student, X, None, epochs=30, batch_size=16, optimizer=SGD(0.05, momentum=0.9), verbose=0)
    assert all(h is None for h in history.hard_loss)
    assert history.loss[-1] < history.loss[0]
    agree = np.mean(student.predict(X) == teacher_mlp.predict(X))
    assert agree > 0.9


def test_distillation_learns_teacher_accuracy(blobs, teacher_mlp):
    X, y = blobs
    teacher_acc = np.mean(teacher_mlp.predict(X) == y)
    assert teacher_acc > 0.85
    student = MLP([4, 8, 3], seed=5)
    KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss(temperature=3.0, alpha=0.3), seed=0).train(
        student, X, y, epochs=40, batch_size=16, optimizer=SGD(0.05, momentum=0.9), verbose=0)
    student_acc = np.mean(student.predict(X) == y)
    assert student_acc >= teacher_acc - 0.05


def test_supervised_trainer_needs_labels(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="y"):
        SupervisedTrainer(seed=0).train(MLP([4, 8, 3]), X, None, epochs=1, verbose=0)


# ------------------------------------------------------------------ seeds
def _train(seed, blobs, teacher_mlp, optimizer=None, epochs=3):
    X, y = blobs
    student = MLP([4, 8, 3], seed=1)
    KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss(), seed=seed).train(
        student, X, y, epochs=epochs, batch_size=32, optimizer=optimizer or SGD(0.1, momentum=0.9), verbose=0)
    return student.params


def test_same_seed_bit_identical_different_seed_differs(blobs, teacher_mlp):
    a = _train(7, blobs, teacher_mlp)
    b = _train(7, blobs, teacher_mlp)
    c = _train(8, blobs, teacher_mlp)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a)


def test_trainer_leaves_global_numpy_state_alone(blobs, teacher_mlp):
    np.random.seed(123)  # noqa: NPY002  (the legacy global state is what this test watches)
    expected = np.random.random()  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    _train(0, blobs, teacher_mlp)
    assert np.random.random() == expected  # noqa: NPY002


# ------------------------------------------------------------------ early stopping
def test_early_stopping_scripted_curve():
    es = EarlyStopping(patience=2, min_delta=0.1)
    params = {"W": np.zeros(1)}
    curve = [1.0, 0.8, 0.75, 0.72, 0.5, 0.45, 0.44]
    stops = []
    for epoch, v in enumerate(curve, start=1):
        params["W"][:] = epoch
        stops.append(es.update(epoch, v, params))
        if stops[-1]:
            break
    # 0.75 and 0.72 are not better than 0.8 by more than 0.1 -> stop at epoch 4
    assert stops == [False, False, False, True]
    assert es.best_epoch == 2 and es.best == 0.8
    es.restore(params)
    assert params["W"][0] == 2
    es.reset()
    assert es.best is None and es.wait == 0 and es.best_params is None


def test_early_stopping_higher_is_better():
    es = EarlyStopping(patience=1, min_delta=0.0, lower_is_better=False)
    assert not es.update(1, 0.5, {})
    assert not es.update(2, 0.6, {})
    assert es.update(3, 0.6, {})  # equal is not an improvement


class ScriptedVal(KnowledgeDistillationTrainer):
    """Validation loss read from a script instead of computed (the rest of the loop is real)."""

    def __init__(self, *args, script, key="loss", **kwargs):
        super().__init__(*args, **kwargs)
        self.script = list(script)
        self.key = key  # the metric the script replaces
        self.snapshots = {}
        self._epoch = 0

    def _metrics(self, student, X, y, teacher_logits):
        out = super()._metrics(student, X, y, teacher_logits)
        self._epoch += 1
        self.snapshots[self._epoch] = {k: v.copy() for k, v in student.params.items()}
        out[self.key] = self.script[self._epoch - 1]
        return out


def test_trainer_early_stopping_restores_best_and_resets(blobs, teacher_mlp):
    X, y = blobs
    script = [1.0, 0.9, 0.5, 0.6, 0.55, 0.7, 0.4, 0.3]
    trainer = ScriptedVal(teacher_mlp, DistillationLoss(), use_early_stopping=True, early_stopping_patience=3,
                          early_stopping_min_delta=0.01, seed=0, script=script)
    student = MLP([4, 8, 3], seed=1)
    history = trainer.train(student, X[:160], y[:160], epochs=8, batch_size=32,
                            validation_data=(X[160:], y[160:]), verbose=0)
    assert history.stopped_epoch == 6 and history.best_epoch == 3
    assert len(history.loss) == 6
    for k in student.params:
        np.testing.assert_array_equal(student.params[k], trainer.snapshots[3][k])
    # a second train call starts afresh: the state of the first must not leak into it
    trainer.script, trainer._epoch = [2.0, 1.9, 1.8], 0
    history2 = trainer.train(student, X[:160], y[:160], epochs=3, batch_size=32,
                             validation_data=(X[160:], y[160:]), verbose=0)
    assert history2.stopped_epoch is None and history2.best_epoch == 3


def test_min_delta_is_honoured(blobs, teacher_mlp):
    X, y = blobs
    script = [1.0, 0.995, 0.99, 0.985, 0.98, 0.975]
    kw = dict(use_early_stopping=True, early_stopping_patience=2, seed=0)
    strict = ScriptedVal(teacher_mlp, DistillationLoss(), early_stopping_min_delta=0.01, script=script, **kw)
    h1 = strict.train(MLP([4, 8, 3], seed=1), X[:160], y[:160], epochs=6, batch_size=32,
                      validation_data=(X[160:], y[160:]), verbose=0)
    assert h1.stopped_epoch == 3 and h1.best_epoch == 1
    loose = ScriptedVal(teacher_mlp, DistillationLoss(), early_stopping_min_delta=0.001, script=script, **kw)
    h2 = loose.train(MLP([4, 8, 3], seed=1), X[:160], y[:160], epochs=6, batch_size=32,
                     validation_data=(X[160:], y[160:]), verbose=0)
    assert h2.stopped_epoch is None and h2.best_epoch == 6


def test_early_stopping_without_validation_warns(blobs, teacher_mlp):
    X, y = blobs
    trainer = KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss(), use_early_stopping=True, seed=0)
    with pytest.warns(UserWarning, match="training loss"):
        trainer.train(MLP([4, 8, 3], seed=1), X, y, epochs=2, batch_size=32, verbose=0)


def test_early_stopping_on_validation_accuracy_keeps_the_highest(blobs, teacher_mlp):
    X, y = blobs
    script = [0.50, 0.70, 0.69, 0.71, 0.705, 0.70, 0.65, 0.9]  # 0.71 beats 0.70 by less than min_delta 0.02
    trainer = ScriptedVal(teacher_mlp, DistillationLoss(), use_early_stopping=True, early_stopping_patience=3,
                          early_stopping_min_delta=0.02, seed=0, script=script, key="accuracy",
                          early_stopping_monitor="val_accuracy")
    student = MLP([4, 8, 3], seed=1)
    history = trainer.train(student, X[:160], y[:160], epochs=8, batch_size=32,
                            validation_data=(X[160:], y[160:]), verbose=0)
    assert history.val_accuracy[:5] == script[:5]
    assert history.best_epoch == 2 and history.stopped_epoch == 5
    for k in student.params:
        np.testing.assert_array_equal(student.params[k], trainer.snapshots[2][k])
    assert trainer.get_config()["early_stopping_monitor"] == "val_accuracy"
    assert "early_stopping_monitor" not in SupervisedTrainer().get_config()  # the default is not written


def test_early_stopping_can_monitor_the_training_loss_with_validation_data(blobs, teacher_mlp):
    X, y = blobs
    trainer = ScriptedVal(teacher_mlp, DistillationLoss(), use_early_stopping=True, seed=0, early_stopping_patience=2,
                          early_stopping_min_delta=0.0, early_stopping_monitor="loss", script=[1, 2, 3, 4, 5, 6])
    history = trainer.train(MLP([4, 8, 3], seed=1), X[:160], y[:160], epochs=6, batch_size=32,
                            optimizer=SGD(0.05, momentum=0.9), validation_data=(X[160:], y[160:]), verbose=0)
    assert history.val_loss == [1, 2, 3, 4, 5, 6]  # rising: watching it would stop after epoch 3
    assert history.best_epoch == int(np.argmin(history.loss)) + 1 > 3
    assert history.stopped_epoch in (None, history.best_epoch + 2)


@pytest.mark.parametrize("monitor", ["val_loss", "val_accuracy"])
def test_a_validation_monitor_needs_validation_data(blobs, monitor):
    X, y = blobs
    trainer = SupervisedTrainer(use_early_stopping=True, early_stopping_monitor=monitor)
    with pytest.raises(ValueError, match=f"early_stopping_monitor='{monitor}' needs validation_data"):
        trainer.train(MLP([4, 8, 3]), X, y, epochs=1, verbose=0)


# ------------------------------------------------------------------ callbacks and progress
def test_callbacks_called_and_can_stop(blobs, teacher_mlp):
    X, y = blobs
    events = []

    class CB:
        def on_train_begin(self, trainer, logs):
            events.append("begin")

        def on_epoch_end(self, epoch, logs):
            events.append(("epoch", epoch, round(logs["loss"], 12)))

        def on_train_end(self, trainer, logs):
            events.append("end")

    history = KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss(), seed=0).train(
        MLP([4, 8, 3], seed=1), X, y, epochs=10, batch_size=32, verbose=0,
        callbacks=[CB(), lambda epoch, logs: epoch == 4])
    assert events[0] == "begin" and events[-1] == "end"
    assert [e[1] for e in events[1:-1]] == [1, 2, 3, 4]
    assert [e[2] for e in events[1:-1]] == [round(v, 12) for v in history.loss]
    assert history.stopped_epoch == 4


def test_verbose_output(blobs, teacher_mlp, capsys):
    X, y = blobs
    KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss(), seed=0).train(
        MLP([4, 8, 3], seed=1), X[:160], y[:160], epochs=2, batch_size=32, verbose=1,
        validation_data=(X[160:], y[160:]))
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2") and "soft" in lines[0] and "hard" in lines[0]
    assert "val_loss" in lines[1] and "val_acc" in lines[1] and "agree" in lines[1]
    KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss(), seed=0).train(
        MLP([4, 8, 3], seed=1), X, y, epochs=2, batch_size=32, verbose=0)
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------------ divergence
def test_divergence_raises_and_keeps_finite_params(blobs, teacher_mlp):
    X, y = blobs
    student = MLP([4, 8, 3], seed=1)
    trainer = KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss(), seed=0)
    with pytest.raises(TrainingDivergedError, match=r"epoch \d+, batch \d+") as info:
        trainer.train(student, X * 1e3, y, epochs=50, batch_size=32, optimizer=SGD(1e3, momentum=0.9), verbose=0)
    assert info.value.epoch >= 1 and info.value.batch >= 1
    assert "learning rate" in str(info.value)
    assert all(np.isfinite(p).all() for p in student.params.values())


# ------------------------------------------------------------------ float32 end to end
def test_float32_student_stays_float32(blobs, teacher_mlp):
    X, y = blobs
    student = MLP([4, 8, 3], seed=1, dtype=np.float32)
    trainer = KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss(), seed=0)
    trainer.train(student, X, y, epochs=2, batch_size=32, optimizer=Adam(1e-2), verbose=0)
    assert all(p.dtype == np.float32 for p in student.params.values())
    assert trainer._cache.dtype == np.float32
    rec = trainer.train_step(student, X[:8].astype(np.float32), y[:8], np.arange(8), SGD(0.01))
    assert rec.dlogits.dtype == np.float32 and rec.student_logits.dtype == np.float32


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(epochs=0), ValueError, "epochs"),
        (dict(epochs=2.5), TypeError, "epochs"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(batch_size=10_000), ValueError, "batch_size"),
        (dict(optimizer="sgd"), TypeError, "optimizer"),
        (dict(verbose=5), ValueError, "verbose"),
        (dict(validation_data=np.zeros((3, 4))), TypeError, "validation_data"),
        (dict(validation_data=(np.zeros((3, 5)), np.zeros(3, int))), ValueError, "X_val"),
        (dict(validation_data=(np.zeros((3, 4)), np.zeros(2, int))), ValueError, "y_val"),
        (dict(callbacks=[42]), TypeError, "callbacks"),
    ],
)
def test_train_rejects_bad_arguments(blobs, teacher_mlp, kwargs, exc, match):
    X, y = blobs
    trainer = KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss(), seed=0)
    with pytest.raises(exc, match=match):
        trainer.train(MLP([4, 8, 3]), X, y, **{"verbose": 0, **kwargs})


@pytest.mark.parametrize(
    "X_fn, y_fn, match",
    [
        (lambda X: X, lambda y: y[:-1], "y"),
        (lambda X: X[:0], lambda y: y[:0], "X"),
        (lambda X: X[:, :3], lambda y: y, "features"),
        (lambda X: np.where(X > 1, np.nan, X), lambda y: y, "finite"),
        (lambda X: X, lambda y: y + 5, "y"),
        (lambda X: X, lambda y: y + 0.5, "whole"),
    ],
)
def test_train_rejects_bad_data(blobs, teacher_mlp, X_fn, y_fn, match):
    X, y = blobs
    trainer = KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss(), seed=0)
    with pytest.raises(ValueError, match=match):
        trainer.train(MLP([4, 8, 3]), X_fn(X), y_fn(y), epochs=1, verbose=0)


def test_teacher_student_class_mismatch(blobs, teacher_mlp):
    X, y = blobs
    trainer = KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss(), seed=0)
    with pytest.raises(ValueError, match="output dimension"):
        trainer.train(MLP([4, 8, 4]), X, None, epochs=1, verbose=0)


def test_constructor_validation(teacher_mlp):
    with pytest.raises(TypeError, match="distillation_strategy"):
        KnowledgeDistillationTrainer(teacher_mlp, "kd")
    with pytest.raises(ValueError, match="early_stopping_patience"):
        KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss(), early_stopping_patience=0)
    with pytest.raises(ValueError, match="early_stopping_min_delta"):
        KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss(), early_stopping_min_delta=-1)
    with pytest.raises(TypeError, match="seed"):
        KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss(), seed="x")
    with pytest.raises(TypeError, match="student"):
        KnowledgeDistillationTrainer(teacher_mlp, DistillationLoss()).train("mlp", np.zeros((4, 4)), epochs=1)


def test_history_round_trip():
    h = History(epochs=[1, 2], loss=[0.5, 0.4], best_epoch=2)
    h2 = History.from_dict(h.to_dict())
    assert h2 == h and len(h2) == 2
