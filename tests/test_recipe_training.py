"""Hinton's recipe in the trainer: dropout (evaluation never drops; the generator's state in checkpoints),
augmentation (train(..., augment=f); the teacher sees the augmented batch), shift_digits, and a resumed
run with all of it plus schedules that is bit-identical to the run that never stopped."""

import numpy as np
import pytest

from minikd import (
    MLP,
    SGD,
    DistillationCheckpointConfig,
    DistillationLoss,
    KnowledgeDistillationTrainer,
    SupervisedTrainer,
)
from minikd._checkpoint_format import encode
from minikd.checkpoint import load_checkpoint
from minikd.datasets import load_digits, shift_digits
from minikd.schedules import ExponentialDecay, LinearRamp


def data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)


# ----------------------------------------------------------------------------- shift_digits
def _shift_reference(image, dy, dx):
    h, w = image.shape
    out = np.zeros_like(image)
    for r in range(h):
        for c in range(w):
            if 0 <= r + dy < h and 0 <= c + dx < w:
                out[r + dy, c + dx] = image[r, c]
    return out


def test_shift_digits_moves_each_image_by_its_drawn_offset():
    X, _ = load_digits()
    batch = X[:200]
    out = shift_digits(batch, np.random.default_rng(7))
    rng = np.random.default_rng(7)  # the same draws, in the documented order: dy for all, then dx
    dy, dx = rng.integers(-1, 2, size=200), rng.integers(-1, 2, size=200)
    for i in range(200):
        expected = _shift_reference(batch[i].reshape(8, 8), dy[i], dx[i]).ravel()
        np.testing.assert_array_equal(out[i], expected)
    assert len({(a, b) for a, b in zip(dy, dx, strict=True)}) == 9  # every offset occurs
    assert not np.shares_memory(out, batch) and out.dtype == batch.dtype


def test_shift_digits_checks_its_arguments():
    X = np.zeros((2, 64))
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        shift_digits(X, 0)
    with pytest.raises(ValueError, match="64 columns"):
        shift_digits(np.zeros((2, 63)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="max_shift"):
        shift_digits(X, np.random.default_rng(0), max_shift=8)
    np.testing.assert_array_equal(shift_digits(X + 1, np.random.default_rng(0), max_shift=0), X + 1)


# ----------------------------------------------------------------------------- augment
def test_the_teacher_and_the_student_see_the_augmented_batch(monkeypatch):
    X, y = data()
    teacher = MLP([5, 12, 3], seed=0)
    seen = {"augment": [], "teacher": [], "student": []}

    def augment(X_batch, rng):
        out = X_batch + rng.normal(scale=0.1, size=X_batch.shape)
        seen["augment"].append(out)
        return out

    forward = teacher.forward
    monkeypatch.setattr(teacher, "forward", lambda Xb: (seen["teacher"].append(np.array(Xb)), forward(Xb))[1])
    trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(2.0, 0.2), seed=0)
    student = MLP([5, 6, 3], seed=1)
    student_forward = student._forward_train
    monkeypatch.setattr(student, "_forward_train",
                        lambda Xb, *a, **k: (seen["student"].append(Xb), student_forward(Xb, *a, **k))[1])
    trainer.train(student, X, y, epochs=2, batch_size=16, augment=augment, verbose=0)
    assert len(seen["augment"]) == 6
    # no cache is filled (no step could read it): every teacher call is a step's, on exactly the
    # augmented batch the student saw
    steps = seen["teacher"]
    assert len(steps) == 6 and all(b.shape[0] == 16 for b in steps)
    for a, t, s in zip(seen["augment"], steps, seen["student"], strict=True):
        np.testing.assert_array_equal(t, a)
        np.testing.assert_array_equal(s, a)


def test_augment_is_checked():
    X, y = data()
    trainer = KnowledgeDistillationTrainer(MLP([5, 12, 3], seed=0), DistillationLoss(), seed=0)
    with pytest.raises(TypeError, match="augment must be a callable"):
        trainer.train(MLP([5, 6, 3], seed=1), X, y, epochs=1, augment="shift", verbose=0)
    with pytest.raises(ValueError, match="must have the shape of X_batch"):
        trainer.train(MLP([5, 6, 3], seed=1), X, y, epochs=1, batch_size=16, augment=lambda Xb, rng: Xb[:-1],
                      verbose=0)
    with pytest.raises(ValueError, match="augment"):
        trainer.train(MLP([5, 6, 3], seed=1), X, y, epochs=1, batch_size=16,
                      augment=lambda Xb, rng: np.full_like(Xb, np.nan), verbose=0)


# ----------------------------------------------------------------------------- dropout in the trainer
def test_validation_and_evaluate_never_drop_and_do_not_draw():
    X, y = data()
    student = MLP([5, 16, 3], seed=1, dropout=0.5, input_dropout=0.2)
    trainer = SupervisedTrainer(seed=0)
    state = student.dropout_rng.bit_generator.state
    first = trainer.evaluate(student, X, y)
    assert trainer.evaluate(student, X, y) == first  # deterministic
    assert student.dropout_rng.bit_generator.state == state  # nothing drawn
    logits = student.forward(X)
    assert first["accuracy"] == float(np.mean(logits.argmax(1) == y))


def test_dropout_is_on_in_training_steps():
    X, y = data()
    a = MLP([5, 16, 3], seed=1, dropout=0.5)
    b = MLP([5, 16, 3], seed=1)
    for model in (a, b):
        SupervisedTrainer(seed=0).train(model, X, y, epochs=2, batch_size=16, verbose=0)
    assert not np.allclose(a.params["W1"], b.params["W1"])  # same init, same batches: only the masks differ


# ----------------------------------------------------------------------------- the whole recipe, resumed
def _recipe_run(tmp_path, epochs, resume_from=None, name="run"):
    X, _ = load_digits()
    X, y = X[:240], load_digits()[1][:240]
    X_val, y_val = load_digits()[0][240:300], load_digits()[1][240:300]
    teacher = MLP([64, 32, 10], seed=0)
    strategy = DistillationLoss(temperature=LinearRamp(6.0, 2.0, 5), alpha=0.3)
    config = DistillationCheckpointConfig(checkpoint_directory=tmp_path / name, save_every_epochs=1)
    trainer = KnowledgeDistillationTrainer(teacher, strategy, seed=3, checkpoint_config=config)
    student = MLP([64, 24, 10], seed=1, dropout=0.3, input_dropout=0.1)
    optimizer = SGD(learning_rate=ExponentialDecay(0.05, 0.9), momentum=LinearRamp(0.5, 0.9, 4))
    history = trainer.train(student, X, y, epochs=epochs, batch_size=32, optimizer=optimizer,
                            validation_data=(X_val, y_val), augment=shift_digits, verbose=0, resume_from=resume_from)
    return student, history


def test_resume_of_a_run_with_dropout_augmentation_and_schedules_is_bit_identical(tmp_path):
    straight, h_straight = _recipe_run(tmp_path, 6, name="straight")
    _recipe_run(tmp_path, 3)
    path = sorted((tmp_path / "run").glob("*epoch0003.pkl"))[0]
    ckpt = load_checkpoint(path)
    assert ckpt.student.dropout == 0.3 and ckpt.student.input_dropout == 0.1
    assert "dropout_rng" in ckpt.raw["student"]
    resumed, h_resumed = _recipe_run(tmp_path, 6, resume_from=path)
    for k in straight.params:
        np.testing.assert_array_equal(resumed.params[k], straight.params[k])
    assert h_resumed.loss == h_straight.loss and h_resumed.val_loss == h_straight.val_loss
    assert h_resumed.learning_rate == h_straight.learning_rate == ExponentialDecay(0.05, 0.9).values(6)
    assert h_resumed.temperature == LinearRamp(6.0, 2.0, 5).values(6)
    np.testing.assert_array_equal(resumed.dropout_rng.random(4), straight.dropout_rng.random(4))


def test_without_the_saved_dropout_state_the_resume_would_differ(tmp_path):
    """The test above can fail: a checkpoint whose dropout state is another one resumes into another run."""
    straight, _ = _recipe_run(tmp_path, 4, name="straight")
    _recipe_run(tmp_path, 3)
    path = sorted((tmp_path / "run").glob("*epoch0003.pkl"))[0]
    raw = load_checkpoint(path).raw
    raw["student"]["dropout_rng"] = np.random.default_rng(123).bit_generator.state
    path.write_bytes(encode(raw))
    resumed, _ = _recipe_run(tmp_path, 4, resume_from=path)
    assert not np.array_equal(resumed.params["W1"], straight.params["W1"])
