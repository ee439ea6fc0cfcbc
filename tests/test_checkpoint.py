"""Checkpoints: keep-best-N, exact resume, atomic writes, safe loading, clear errors."""

import json
import os
import pickle

import numpy as np
import pytest

from minikd.checkpoint import (
    CheckpointError,
    CheckpointManager,
    DistillationCheckpointConfig,
    load_checkpoint,
    save_checkpoint,
)
from minikd.datasets import make_blobs
from minikd.mlp import MLP
from minikd.optim import SGD, Adam
from minikd.strategies import DistillationLoss
from minikd.trainer import KnowledgeDistillationTrainer, SupervisedTrainer


@pytest.fixture(scope="module")
def data():
    X, y = make_blobs(n_samples=200, n_features=4, n_classes=3, cluster_std=2.0, seed=1)
    teacher = MLP([4, 16, 3], seed=0)
    SupervisedTrainer(seed=0).train(teacher, X, y, epochs=10, batch_size=20, optimizer=SGD(0.05, momentum=0.9),
                                    verbose=0)
    return X[:150], y[:150], X[150:], y[150:], teacher


def _trainer(teacher, config=None, **kw):
    kw.setdefault("seed", 0)
    return KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=3.0, alpha=0.3),
                                        checkpoint_config=config, **kw)


def _files(directory):
    return sorted(p.name for p in directory.iterdir() if p.suffix == ".pkl")


def _index(directory, prefix="distillation"):
    return json.loads((directory / f"{prefix}_index.json").read_text())


# ------------------------------------------------------------------ config
@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(save_every_epochs=0), ValueError, "save_every_epochs"),
        (dict(keep_best_n=-1), ValueError, "keep_best_n"),
        (dict(best_metric="accuracy"), ValueError, "best_metric"),
        (dict(best_metric=3), TypeError, "best_metric"),
        (dict(prefix="a/b"), ValueError, "prefix"),
        (dict(checkpoint_directory=None), TypeError, "checkpoint_directory"),
        (dict(lower_is_better="yes"), TypeError, "lower_is_better"),
    ],
)
def test_config_validation(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        DistillationCheckpointConfig(**kwargs)


def test_metric_the_run_cannot_produce(tmp_path, data):
    X, y, _, _, teacher = data
    config = DistillationCheckpointConfig(tmp_path, best_metric="val_loss")
    with pytest.raises(ValueError, match="val_loss.*validation_data"):
        _trainer(teacher, config).train(MLP([4, 8, 3]), X, y, epochs=2, verbose=0)
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------ keep-best-N
@pytest.mark.parametrize("metric, lower", [("val_loss", True), ("val_accuracy", False)])
def test_keep_best_n_keeps_best_plus_latest(tmp_path, data, metric, lower):
    X, y, Xv, yv, teacher = data
    config = DistillationCheckpointConfig(tmp_path, save_every_epochs=1, keep_best_n=2, best_metric=metric,
                                          lower_is_better=lower)
    history = _trainer(teacher, config).train(MLP([4, 8, 3], seed=1), X, y, epochs=8, batch_size=16,
                                              optimizer=SGD(0.3, momentum=0.9), validation_data=(Xv, yv),
                                              verbose=0)
    values = getattr(history, metric)
    order = sorted(range(8), key=lambda i: (values[i] if lower else -values[i], i))
    expected = {order[0] + 1, order[1] + 1, 8}
    kept = {e["epoch"] for e in _index(tmp_path)["checkpoints"]}
    assert kept == expected
    assert _files(tmp_path) == sorted(f"distillation_epoch{e:04d}.pkl" for e in expected)
    for e in _index(tmp_path)["checkpoints"]:
        assert e["metrics"][metric] == pytest.approx(values[e["epoch"] - 1], rel=1e-12)


def test_keep_all_and_schedule(tmp_path, data):
    X, y, _, _, teacher = data
    config = DistillationCheckpointConfig(tmp_path, save_every_epochs=3, keep_best_n=0, best_metric="loss")
    _trainer(teacher, config).train(MLP([4, 8, 3], seed=1), X, y, epochs=7, batch_size=16, verbose=0)
    # every 3rd epoch, and the last one
    assert [e["epoch"] for e in _index(tmp_path)["checkpoints"]] == [3, 6, 7]
    assert _files(tmp_path) == ["distillation_epoch0003.pkl", "distillation_epoch0006.pkl",
                                "distillation_epoch0007.pkl"]
    assert _index(tmp_path)["latest"] == "distillation_epoch0007.pkl"


def test_new_run_refuses_to_mix_into_existing_run(tmp_path, data):
    X, y, _, _, teacher = data
    config = DistillationCheckpointConfig(tmp_path, save_every_epochs=1, best_metric="loss")
    _trainer(teacher, config).train(MLP([4, 8, 3], seed=1), X, y, epochs=2, batch_size=16, verbose=0)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ValueError, match="already holds a run"):
        _trainer(teacher, config).train(MLP([4, 8, 3], seed=1), X, y, epochs=2, batch_size=16, verbose=0)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


# ------------------------------------------------------------------ exact resume
def _run(tmp_path, teacher, X, y, Xv, yv, optimizer_fn, epochs, resume_from=None, early=False, save_every=1):
    config = DistillationCheckpointConfig(tmp_path, save_every_epochs=save_every, keep_best_n=0,
                                          best_metric="val_loss")
    trainer = _trainer(teacher, config, use_early_stopping=early, early_stopping_patience=2,
                       early_stopping_min_delta=0.0)
    student = MLP([4, 8, 3], seed=1)
    optimizer = optimizer_fn()
    history = trainer.train(student, X, y, epochs=epochs, batch_size=16, optimizer=optimizer,
                            validation_data=(Xv, yv), verbose=0, resume_from=resume_from)
    return student, optimizer, history


@pytest.mark.parametrize("optimizer_fn", [lambda: SGD(0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
                                          lambda: Adam(0.01)], ids=["sgd-momentum", "adam"])
@pytest.mark.parametrize("early", [False, True])
@pytest.mark.filterwarnings("ignore:the checkpoint's run ended early:UserWarning")  # k = 5 resumes a stopped run
def test_resume_is_bit_identical(tmp_path, data, optimizer_fn, early):
    X, y, Xv, yv, teacher = data
    epochs = 9
    ref_student, ref_opt, ref_hist = _run(tmp_path / "ref", teacher, X, y, Xv, yv, optimizer_fn, epochs, early=early)
    for k in (2, 4, 5):
        d = tmp_path / f"from{k}"
        d.mkdir()
        # interrupted run: stops after k epochs (its checkpoint of epoch k is the latest)
        _run(d, teacher, X, y, Xv, yv, optimizer_fn, k, early=early)
        student, opt, hist = _run(d, teacher, X, y, Xv, yv, optimizer_fn, epochs,
                                  resume_from=d / f"distillation_epoch{k:04d}.pkl", early=early)
        for name in ref_student.params:
            assert np.array_equal(student.params[name], ref_student.params[name]), (k, name)
        a, b = opt.state_dict(), ref_opt.state_dict()
        assert _deep_equal(a, b), k
        ha, hb = hist.to_dict(), ref_hist.to_dict()
        ha.pop("epoch_time"), hb.pop("epoch_time")
        assert ha == hb, k


def _deep_equal(a, b):
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_deep_equal(x, z) for x, z in zip(a, b, strict=True))
    return a == b


def test_resume_latest_and_mismatch_errors(tmp_path, data):
    X, y, Xv, yv, teacher = data
    config = DistillationCheckpointConfig(tmp_path, save_every_epochs=2, best_metric="loss")
    _trainer(teacher, config).train(MLP([4, 8, 3], seed=1), X, y, epochs=3, batch_size=16, verbose=0)
    # continue with "latest"
    history = _trainer(teacher, config).train(MLP([4, 8, 3], seed=1), X, y, epochs=5, batch_size=16, verbose=0,
                                              resume_from="latest")
    assert history.epochs == [1, 2, 3, 4, 5]
    latest = CheckpointManager(config).latest_path()
    assert latest.name == "distillation_epoch0005.pkl"
    with pytest.raises(ValueError, match="architecture"):
        _trainer(teacher, config).train(MLP([4, 9, 3], seed=1), X, y, epochs=6, verbose=0, resume_from=latest)
    with pytest.raises(ValueError, match="seed"):
        _trainer(teacher, config, seed=1).train(MLP([4, 8, 3]), X, y, epochs=6, verbose=0, resume_from=latest)
    other = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=5.0), checkpoint_config=config, seed=0)
    with pytest.raises(ValueError, match="strategy"):
        other.train(MLP([4, 8, 3]), X, y, epochs=6, verbose=0, resume_from=latest)
    with pytest.raises(ValueError, match="optimizer"):
        _trainer(teacher, config).train(MLP([4, 8, 3]), X, y, epochs=6, verbose=0, resume_from=latest,
                                        optimizer=Adam(0.01))
    with pytest.raises(ValueError, match="checkpoint_config"):
        _trainer(teacher).train(MLP([4, 8, 3]), X, y, epochs=6, verbose=0, resume_from="latest")


# ------------------------------------------------------------------ atomic writes
def test_failed_save_leaves_earlier_checkpoints_intact(tmp_path, data, monkeypatch):
    X, y, _, _, teacher = data
    config = DistillationCheckpointConfig(tmp_path, save_every_epochs=1, keep_best_n=0, best_metric="loss")
    _trainer(teacher, config).train(MLP([4, 8, 3], seed=1), X, y, epochs=2, batch_size=16, verbose=0)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    real_fsync = os.fsync
    calls = {"n": 0}

    def failing_fsync(fd):  # the disk fills up while the next checkpoint is being written
        calls["n"] += 1
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(CheckpointError, match=r"distillation_epoch0003\.pkl.*No space.*intact") as info:
        _trainer(teacher, config).train(MLP([4, 8, 3], seed=1), X, y, epochs=4, batch_size=16, verbose=0,
                                        resume_from="latest")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert calls["n"] >= 1
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == 28
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # no temporary file left behind, nothing changed
    for entry in _index(tmp_path)["checkpoints"]:
        assert load_checkpoint(tmp_path / entry["file"]).epoch == entry["epoch"]


def test_failed_index_write_keeps_old_index(tmp_path, data, monkeypatch):
    X, y, _, _, teacher = data
    config = DistillationCheckpointConfig(tmp_path, save_every_epochs=1, keep_best_n=1, best_metric="loss")
    _trainer(teacher, config).train(MLP([4, 8, 3], seed=1), X, y, epochs=2, batch_size=16, verbose=0)
    index_before = _index(tmp_path)
    import minikd.checkpoint as ck

    def broken_write_index(self, entries):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(ck.CheckpointManager, "_write_index", broken_write_index)
    files_before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(CheckpointError, match=r"distillation_index\.json.*Input/output error") as info:
        _trainer(teacher, config).train(MLP([4, 8, 3], seed=1), X, y, epochs=3, batch_size=16, verbose=0,
                                        resume_from="latest")
    assert isinstance(info.value.__cause__, OSError)
    assert _index(tmp_path) == index_before
    assert sorted(p.name for p in tmp_path.iterdir()) == files_before  # the unindexed epoch 3 file is removed
    for entry in index_before["checkpoints"]:  # nothing the old index names was pruned
        assert load_checkpoint(tmp_path / entry["file"]).epoch == entry["epoch"]


# ------------------------------------------------------------------ safe loading
class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class _EvalEvil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (eval, (f"open({str(self.target)!r}, 'w').close()",))


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("evil_cls", [_Evil, _EvalEvil])
def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path, evil_cls, version):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"format": "minikd-checkpoint", "format_version": version,
                                   "epoch": evil_cls(marker)}))
    # format 1 is refused by its version before any unpickling; format 2 by the opcode scan
    with pytest.raises(CheckpointError, match="format 1|Nothing in the data was run"):
        load_checkpoint(path)
    assert not marker.exists()


def test_subprocess_pickle_is_refused(tmp_path):
    import subprocess

    marker = tmp_path / "pwned"

    class SubEvil:
        def __reduce__(self):
            return (subprocess.call, (["touch", str(marker)],))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([SubEvil()]))
    with pytest.raises(CheckpointError, match="Nothing in the data was run"):
        load_checkpoint(path)
    assert not marker.exists()


def test_bad_files(tmp_path, data):
    X, y, _, _, teacher = data
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pkl")
    config = DistillationCheckpointConfig(tmp_path / "run", save_every_epochs=1, best_metric="loss")
    _trainer(teacher, config).train(MLP([4, 8, 3], seed=1), X, y, epochs=1, batch_size=16, verbose=0)
    good = (tmp_path / "run" / "distillation_epoch0001.pkl").read_bytes()
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(truncated)
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"this is not a pickle at all")
    with pytest.raises(CheckpointError):
        load_checkpoint(garbage)
    foreign = tmp_path / "foreign.pkl"
    foreign.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(CheckpointError, match="not a minikd checkpoint"):
        load_checkpoint(foreign)
    newer = tmp_path / "newer.pkl"
    save_checkpoint(newer, {"epoch": 1})
    raw = pickle.loads(newer.read_bytes())
    raw["format_version"] = 99
    newer.write_bytes(pickle.dumps(raw))
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(newer)
    with pytest.raises(CheckpointError, match="directory"):
        load_checkpoint(tmp_path)
    with pytest.raises(TypeError, match="path"):
        load_checkpoint(42)


# ------------------------------------------------------------------ round trip
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_predicts_identically(tmp_path, data, dtype):
    X, y, Xv, yv, teacher = data
    config = DistillationCheckpointConfig(tmp_path, save_every_epochs=1, keep_best_n=0, best_metric="val_loss",
                                          save_teacher=True)
    student = MLP([4, 8, 3], seed=1, dtype=dtype)
    _trainer(teacher, config).train(student, X, y, epochs=2, batch_size=16, validation_data=(Xv, yv), verbose=0)
    ckpt = load_checkpoint(tmp_path / "distillation_epoch0002.pkl")
    assert ckpt.epoch == 2 and ckpt.student.dtype == dtype
    assert set(ckpt.metrics) >= {"loss", "val_loss", "val_accuracy", "teacher_agreement"}
    assert ckpt.metrics["val_loss"] is not None
    for k in student.params:
        assert np.array_equal(ckpt.student.params[k], student.params[k])
        assert ckpt.student.params[k].dtype == dtype
    np.testing.assert_array_equal(ckpt.student.forward(Xv), student.forward(Xv))
    np.testing.assert_array_equal(ckpt.teacher.forward(Xv), teacher.forward(Xv))
    assert ckpt.history.epochs == [1, 2]


def test_save_teacher_needs_an_mlp_teacher(tmp_path, data):
    X, y, _, _, teacher = data
    config = DistillationCheckpointConfig(tmp_path, best_metric="loss", save_teacher=True)
    trainer = KnowledgeDistillationTrainer(lambda Z: teacher.forward(Z), DistillationLoss(), checkpoint_config=config)
    with pytest.raises(ValueError, match="save_teacher"):
        trainer.train(MLP([4, 8, 3]), X, y, epochs=1, verbose=0)
