"""MLP(max_norm=c): after each update every hidden unit's incoming weight vector has norm <= c."""

import json

import numpy as np
import pytest

from minikd import MLP, SGD, DistillationCheckpointConfig, SupervisedTrainer
from minikd._checkpoint_format import encode
from minikd.checkpoint import CheckpointError, load_checkpoint


def test_apply_max_norm_projects_long_columns_onto_the_ball_and_leaves_the_rest():
    model = MLP([6, 10, 8, 3], seed=0, max_norm=0.5)
    rng = np.random.default_rng(1)
    for key in model.params:
        model.params[key][...] = rng.normal(scale=0.4, size=model.params[key].shape)
    before = {k: v.copy() for k, v in model.params.items()}
    model.apply_max_norm()
    for key in ("W1", "W2"):  # hidden layers: one column per unit
        for j in range(before[key].shape[1]):
            col, old = model.params[key][:, j], before[key][:, j]
            if np.linalg.norm(old) > 0.5:
                assert np.linalg.norm(col) == pytest.approx(0.5, rel=1e-12)
                np.testing.assert_allclose(col * np.linalg.norm(old) / 0.5, old, rtol=1e-12)  # same direction
            else:
                np.testing.assert_array_equal(col, old)
    assert any(np.linalg.norm(before["W1"][:, j]) > 0.5 for j in range(10))  # the test exercised a projection
    for key in ("W3", "b1", "b2", "b3"):  # the output layer and biases are not constrained
        np.testing.assert_array_equal(model.params[key], before[key])


def test_without_max_norm_nothing_changes():
    model = MLP([6, 10, 3], seed=0)
    model.params["W1"] *= 100
    before = model.params["W1"].copy()
    model.apply_max_norm()
    np.testing.assert_array_equal(model.params["W1"], before)


def test_the_trainer_enforces_it_after_every_update():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 6)), rng.integers(0, 3, size=64)
    model = MLP([6, 16, 3], seed=0, max_norm=0.3)
    norms = []
    trainer = SupervisedTrainer(seed=0)
    step = trainer.train_step

    def recording(*args, **kwargs):
        out = step(*args, **kwargs)
        norms.append(np.linalg.norm(model.params["W1"], axis=0).max())
        return out

    trainer.train_step = recording
    trainer.train(model, X, y, epochs=3, batch_size=16, optimizer=SGD(0.5, momentum=0.9), verbose=0)
    assert len(norms) == 12 and max(norms) <= 0.3 * (1 + 1e-12)
    free = MLP([6, 16, 3], seed=0)
    SupervisedTrainer(seed=0).train(free, X, y, epochs=3, batch_size=16, optimizer=SGD(0.5, momentum=0.9), verbose=0)
    assert np.linalg.norm(free.params["W1"], axis=0).max() > 0.3  # the constraint was active


def test_max_norm_is_validated_and_kept_in_configs(tmp_path):
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="max_norm"):
            MLP([3, 4, 2], max_norm=bad)
    with pytest.raises(TypeError, match="max_norm"):
        MLP([3, 4, 2], max_norm="2")
    model = MLP([3, 4, 2], seed=0, max_norm=2.5)
    config = model.get_config()
    assert config["max_norm"] == 2.5 and json.loads(json.dumps(config)) == config
    assert MLP.from_config(config).max_norm == 2.5
    old = {k: v for k, v in config.items() if k != "max_norm"}  # a config saved before max_norm
    assert MLP.from_config(old).max_norm is None


def test_a_checkpoint_with_a_bad_max_norm_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(32, 6)), rng.integers(0, 3, size=32)
    config = DistillationCheckpointConfig(checkpoint_directory=tmp_path, best_metric="loss")
    SupervisedTrainer(seed=0, checkpoint_config=config).train(MLP([6, 8, 3], seed=0, max_norm=1.0), X, y,
                                                             epochs=1, batch_size=16, verbose=0)
    path = sorted(tmp_path.glob("*.pkl"))[0]
    assert load_checkpoint(path).student.max_norm == 1.0
    raw = load_checkpoint(path).raw
    raw["student"]["config"]["max_norm"] = -3.0
    path.write_bytes(encode(raw))
    with pytest.raises(CheckpointError, match="max_norm"):
        load_checkpoint(path)
