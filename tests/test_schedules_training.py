"""Schedules in training: a learning rate, a momentum and a temperature given as minikd.schedules
schedules take one value per epoch, are checked for every epoch at train() entry, are recorded in the
History, survive configs and checkpoints, and a resumed run is bit-identical."""

import numpy as np
import pytest

from minikd import (
    MLP,
    SGD,
    Adam,
    CompositeStrategy,
    DistillationCheckpointConfig,
    DistillationLoss,
    KnowledgeDistillationTrainer,
)
from minikd.checkpoint import load_checkpoint
from minikd.schedules import CosineDecay, ExponentialDecay, LinearRamp, StepDecay
from minikd.strategies import HintLoss, strategy_from_config


def data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)


def teacher():
    return MLP([5, 12, 3], seed=0)


def test_each_epoch_uses_its_scheduled_values_and_the_history_records_them(monkeypatch):
    X, y = data()
    lr, momentum, temperature = ExponentialDecay(0.1, 0.8), LinearRamp(0.5, 0.9, 4), CosineDecay(8.0, 2.0, 5)
    optimizer = SGD(learning_rate=lr, momentum=momentum)
    strategy = DistillationLoss(temperature=temperature, alpha=0.2)
    trainer = KnowledgeDistillationTrainer(teacher(), strategy, seed=0)
    used = []
    step, compute = optimizer._step, strategy._compute

    def recording_step(params, grads):
        used.append(("step", optimizer._learning_rate, optimizer._momentum))
        return step(params, grads)

    def recording_compute(z, v, kind, labels):
        used.append(("loss", strategy._temperature))
        return compute(z, v, kind, labels)

    monkeypatch.setattr(optimizer, "_step", recording_step)
    monkeypatch.setattr(strategy, "_compute", recording_compute)
    history = trainer.train(MLP([5, 6, 3], seed=1), X, y, epochs=6, batch_size=16, optimizer=optimizer, verbose=0)
    assert history.learning_rate == lr.values(6)
    assert history.temperature == temperature.values(6)
    steps = [u[1:] for u in used if u[0] == "step"]
    temps = [u[1] for u in used if u[0] == "loss"]
    assert steps == [(lr(e), momentum(e)) for e in range(1, 7) for _ in range(3)]  # 3 batches per epoch
    assert temps == [temperature(e) for e in range(1, 7) for _ in range(3)]
    # outside train, every hyperparameter reads as its epoch-1 value
    assert (optimizer.learning_rate, optimizer.momentum, strategy.temperature) == (0.1, 0.5, 8.0)


def test_a_schedule_in_a_composite_moves_its_component():
    X, y = data()
    kd = DistillationLoss(temperature=StepDecay(6.0, 0.5, 2))
    strategy = CompositeStrategy([(1.0, kd), (0.5, HintLoss(seed=0))])
    history = KnowledgeDistillationTrainer(teacher(), strategy, seed=0).train(
        MLP([5, 6, 3], seed=1), X, y, epochs=5, batch_size=16, verbose=0)
    assert history.temperature == [6.0, 6.0, 3.0, 3.0, 1.5]
    assert kd.temperature == 6.0


def test_numbers_stay_numbers():
    X, y = data()
    history = KnowledgeDistillationTrainer(teacher(), DistillationLoss(3.0), seed=0).train(
        MLP([5, 6, 3], seed=1), X, y, epochs=3, batch_size=16, optimizer=Adam(0.01), verbose=0)
    assert history.learning_rate == [0.01] * 3 and history.temperature == [3.0] * 3


@pytest.mark.parametrize("make, message", [
    (lambda: (SGD(learning_rate=LinearRamp(0.1, 0.0, 10)), DistillationLoss()),
     "learning_rate must be a finite number > 0 at every epoch, got 0.0 at epoch 10"),
    (lambda: (SGD(momentum=LinearRamp(0.5, 1.0, 5)), DistillationLoss()),
     r"momentum must be a number in \[0.0, 1.0\) at every epoch, got 1.0 at epoch 5"),
    (lambda: (SGD(momentum=LinearRamp(0.5, 0.0, 5), nesterov=True), DistillationLoss()),
     r"momentum must be a number in \(0.0, 1.0\) at every epoch, got 0.0 at epoch 5"),
    (lambda: (SGD(), DistillationLoss(temperature=LinearRamp(4.0, 0.0, 8))),
     "temperature must be a finite number > 0 at every epoch, got 0.0 at epoch 8"),
])
def test_every_epochs_value_is_checked_at_train_entry(make, message):
    X, y = data()
    optimizer, strategy = make()
    student = MLP([5, 6, 3], seed=1)
    before = {k: v.copy() for k, v in student.params.items()}
    with pytest.raises(ValueError, match=message):
        KnowledgeDistillationTrainer(teacher(), strategy, seed=0).train(student, X, y, epochs=10, optimizer=optimizer,
                                                                       verbose=0)
    assert all(np.array_equal(before[k], student.params[k]) for k in before), "nothing trained"
    # a shorter run never reaches the bad epoch: fine
    KnowledgeDistillationTrainer(teacher(), strategy, seed=0).train(student, X, y, epochs=3, optimizer=optimizer,
                                                                   verbose=0)


def test_a_bad_epoch_one_value_is_refused_at_construction():
    with pytest.raises(ValueError, match="learning_rate"):
        SGD(learning_rate=LinearRamp(0.0, 0.1, 3))
    with pytest.raises(ValueError, match="temperature"):
        DistillationLoss(temperature=LinearRamp(-1.0, 2.0, 3))


def test_configs_and_optimizer_states_keep_schedules():
    strategy = DistillationLoss(temperature=LinearRamp(8.0, 2.0, 30), alpha=0.1)
    config = strategy.get_config()
    assert config["temperature"] == {"name": "LinearRamp", "start": 8.0, "end": 2.0, "epochs": 30}
    rebuilt = strategy_from_config(config)
    assert rebuilt.get_config() == config and rebuilt.temperature == 8.0
    assert "LinearRamp(start=8.0" in repr(rebuilt)
    optimizer = SGD(learning_rate=CosineDecay(0.1, 0.01, 10), momentum=LinearRamp(0.5, 0.9, 5))
    other = SGD()
    other.load_state_dict(optimizer.state_dict())
    assert other.get_config() == optimizer.get_config()
    other._set_epoch(10)
    assert other.learning_rate == pytest.approx(0.01) and other.momentum == pytest.approx(0.9)


def _run(tmp_path, epochs, resume_from=None, name="run", temperature_end=2.0):
    X, y = data()
    X_val, y_val = data(n=16, seed=1)
    config = DistillationCheckpointConfig(checkpoint_directory=tmp_path / name, save_every_epochs=1)
    strategy = CompositeStrategy([(1.0, DistillationLoss(temperature=LinearRamp(6.0, temperature_end, 5),
                                                         alpha=0.2)), (0.3, HintLoss(seed=2))])
    trainer = KnowledgeDistillationTrainer(teacher(), strategy, seed=0, checkpoint_config=config)
    student = MLP([5, 6, 3], seed=1)
    optimizer = SGD(learning_rate=ExponentialDecay(0.2, 0.9), momentum=LinearRamp(0.5, 0.95, 4))
    history = trainer.train(student, X, y, epochs=epochs, batch_size=16, optimizer=optimizer,
                            validation_data=(X_val, y_val), verbose=0, resume_from=resume_from)
    return student, history, strategy


def test_resume_with_schedules_is_bit_identical(tmp_path):
    straight, h_straight, s_straight = _run(tmp_path, 7, name="straight")
    _run(tmp_path, 3)
    ckpt_path = sorted((tmp_path / "run").glob("*epoch0003.pkl"))[0]
    ckpt = load_checkpoint(ckpt_path)  # the schema accepts the schedules' configs
    assert ckpt.optimizer_config["learning_rate"] == {"name": "ExponentialDecay", "initial": 0.2, "rate": 0.9}
    assert ckpt.history.learning_rate == pytest.approx([0.2, 0.18, 0.162])
    resumed, h_resumed, s_resumed = _run(tmp_path, 7, resume_from=ckpt_path)
    for k in straight.params:
        np.testing.assert_array_equal(resumed.params[k], straight.params[k])
    np.testing.assert_array_equal(s_resumed.strategies[1][1].params["W"], s_straight.strategies[1][1].params["W"])
    assert h_resumed.learning_rate == h_straight.learning_rate and h_resumed.temperature == h_straight.temperature
    assert h_resumed.loss == h_straight.loss


def test_resume_with_another_schedule_is_refused(tmp_path):
    _run(tmp_path, 2)
    ckpt_path = sorted((tmp_path / "run").glob("*epoch0002.pkl"))[0]
    with pytest.raises(ValueError, match="trainer setting 'strategy'"):
        _run(tmp_path, 4, resume_from=ckpt_path, temperature_end=1.0)
