"""Faults during training: divergence, Ctrl-C, disk faults.

What is proved here, for the README:

- the suite turns NumPy ``RuntimeWarning`` s into errors (so overflow cannot hide), and a normal
  run emits no warning of any kind;
- divergence raises ``TrainingDivergedError`` naming the epoch and the batch, no checkpoint of the
  diverged state is written, the earlier checkpoints load and resume bit-for-bit;
- a ``KeyboardInterrupt`` in the middle of an epoch, or in the middle of a checkpoint write, leaves
  the checkpoint directory exactly as it was after the last save (the index names exactly the files
  present, all loadable, no temporary files) and the in-memory student at its last completed step;
- an unwritable directory or a full disk gives a ``CheckpointError`` naming the file, with the
  ``OSError`` as its cause, and the earlier checkpoints and the index are untouched; a
  ``checkpoint_directory`` that can never be a directory is refused before any training.

Tests run as root, so ``chmod`` cannot make a directory unwritable: the faults are injected by
patching ``os.replace``, ``tempfile.mkstemp``, ``os.write`` and friends.
"""

import errno
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

import minikd.checkpoint as ck
import minikd.checkpoint.index as ck_index
from minikd.checkpoint import CheckpointError, CheckpointManager, DistillationCheckpointConfig, load_checkpoint
from minikd.datasets import make_blobs
from minikd.mlp import MLP
from minikd.optim import SGD
from minikd.strategies import DistillationLoss
from minikd.trainer import KnowledgeDistillationTrainer, TrainingDivergedError

N_TRAIN, BATCH = 64, 16  # 4 batches per epoch
EPOCHS = 4


@pytest.fixture(scope="module")
def data():
    X, y = make_blobs(n_samples=N_TRAIN, n_features=4, n_classes=3, cluster_std=1.5, seed=3)
    teacher = MLP([4, 12, 3], seed=0)
    return X, y, teacher


class ScheduledSGD(SGD):
    """SGD that records the student after every completed update and can blow up on purpose.

    ``blow_up = (step, learning_rate)``: the ``step``-th update (1-based) and every later one use
    that learning rate (a learning-rate schedule gone wrong). The config it reports is SGD's, so a
    run can be resumed with a fresh, well-behaved ScheduledSGD.
    """

    def __init__(self, *args, blow_up=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.blow_up = blow_up
        self.after_step = []  # parameter copies after each completed update

    def _step(self, params, grads):
        if self.blow_up is not None and self.t + 1 >= self.blow_up[0]:
            self._learning_rate = self.blow_up[1]
        super()._step(params, grads)
        self.after_step.append({k: v.copy() for k, v in params.items()})


def _config(directory, **kw):
    kw = {"save_every_epochs": 1, "keep_best_n": 0, "best_metric": "loss", **kw}
    return DistillationCheckpointConfig(directory, **kw)


def _trainer(teacher, config=None):
    return KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=3.0, alpha=0.3),
                                        checkpoint_config=config, seed=0)


def _train(teacher, X, y, config=None, optimizer=None, epochs=EPOCHS, resume_from=None, student=None):
    student = MLP([4, 8, 3], seed=1) if student is None else student
    optimizer = ScheduledSGD(0.05, momentum=0.9) if optimizer is None else optimizer
    history = _trainer(teacher, config).train(student, X, y, epochs=epochs, batch_size=BATCH,
                                              optimizer=optimizer, verbose=0, resume_from=resume_from)
    return student, optimizer, history


def _snapshot(directory):
    """{file name: bytes} of everything in the directory (temporary files included)."""
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def _assert_consistent(directory, epochs, prefix="distillation"):
    """The index names exactly the checkpoint files present, each loads, nothing else is there."""
    index = json.loads((directory / f"{prefix}_index.json").read_text())
    listed = [e["file"] for e in index["checkpoints"]]
    assert [e["epoch"] for e in index["checkpoints"]] == epochs, index
    present = sorted(p.name for p in directory.iterdir())
    assert present == sorted(listed + [f"{prefix}_index.json"]), f"stray or missing files: {present}"
    assert index["latest"] == (listed[-1] if listed else None)
    for entry in index["checkpoints"]:
        ckpt = load_checkpoint(directory / entry["file"])
        assert ckpt.epoch == entry["epoch"]
        assert all(np.isfinite(p).all() for p in ckpt.student.params.values())


def _assert_same_params(a, b, what):
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=f"{what}: {k}")


@pytest.fixture(scope="module")
def reference(data):
    """The run that nothing interrupts: 4 epochs, final parameters."""
    X, y, teacher = data
    student, _, history = _train(teacher, X, y)
    return student.get_params(), history


# ============================================================================ item 3: warnings
def test_runtime_warnings_are_errors_in_this_suite():
    # pyproject.toml: filterwarnings = ["error::RuntimeWarning"]. If this configuration is lost,
    # overflow in minikd would print a warning and return inf instead of failing the suite.
    with pytest.raises(RuntimeWarning, match="overflow"):
        np.float64(1e308) * 10
    with pytest.raises(RuntimeWarning, match="invalid value"):
        np.array([0.0]) / np.array([0.0])
    assert np.geterr()["over"] == "warn", "nobody may switch NumPy's overflow reporting off globally"


def test_a_normal_run_emits_no_warning_at_all(tmp_path, data):
    X, y, teacher = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every category, not only RuntimeWarning
        for dtype in (np.float32, np.float64):
            d = tmp_path / np.dtype(dtype).name
            config = _config(d, best_metric="val_loss", keep_best_n=2)
            student = MLP([4, 8, 3], seed=1, dtype=dtype)
            trainer = _trainer(teacher, config)
            trainer.train(student, X[:48], y[:48], epochs=2, batch_size=BATCH, validation_data=(X[48:], y[48:]),
                          verbose=0)
            trainer.train(MLP([4, 8, 3], seed=1, dtype=dtype), X[:48], y[:48], epochs=3, batch_size=BATCH,
                          validation_data=(X[48:], y[48:]), verbose=0, resume_from="latest")
            trainer.evaluate(student, X, y)
            student.predict_proba(X, temperature=0.5)


def test_predict_proba_at_a_tiny_temperature_does_not_warn():
    model = MLP([4, 3], seed=0, dtype=np.float32)
    X = np.random.default_rng(0).normal(size=(3, 4)) * 1e6
    proba = model.predict_proba(X, temperature=1.5e-38)
    np.testing.assert_array_equal(proba, np.eye(3, dtype=np.float32)[model.predict(X)], err_msg="one-hot at T -> 0")


# ============================================================================ item 4: divergence
def test_divergence_names_epoch_and_batch_writes_nothing_and_earlier_checkpoints_resume(tmp_path, data,
                                                                                        reference):
    X, y, teacher = data
    config = _config(tmp_path)
    # update 9 (epoch 3, batch 1) uses lr = 1e200: the parameters become ~1e199, still finite; the
    # logits of the next batch overflow and the loss is not finite.
    optimizer = ScheduledSGD(0.05, momentum=0.9, blow_up=(9, 1e200))
    student = MLP([4, 8, 3], seed=1)
    with pytest.raises(TrainingDivergedError, match=r"epoch 3, batch 2/4") as info:
        _train(teacher, X, y, config, optimizer, student=student)
    assert (info.value.epoch, info.value.batch) == (3, 2)
    assert len(optimizer.after_step) == 9, "the diverged step applied no update"
    _assert_same_params(student.params, optimizer.after_step[-1], "the student keeps its last finite parameters")
    assert all(np.isfinite(p).all() for p in student.params.values())
    _assert_consistent(tmp_path, [1, 2])  # nothing of epoch 3

    # The epoch-2 checkpoint resumes to exactly the run that never diverged.
    resumed, _, history = _train(teacher, X, y, config, resume_from="latest")
    _assert_same_params(resumed.params, reference[0], "resumed after divergence vs never diverged")
    assert history.loss == reference[1].loss
    _assert_consistent(tmp_path, [1, 2, 3, 4])


def test_an_overflowing_last_update_of_an_epoch_is_never_checkpointed(tmp_path, data):
    X, y, teacher = data
    config = _config(tmp_path)
    # One batch per epoch; update 3 uses lr = 1e308 and overflows the parameters themselves, in
    # the last batch of epoch 3, right before its checkpoint would be written.
    optimizer = ScheduledSGD(0.05, momentum=0.9, blow_up=(3, 1e308))
    with pytest.raises(TrainingDivergedError, match=r"epoch 3\b.*finite") as info:
        _trainer(teacher, config).train(MLP([4, 8, 3], seed=1), X, y, epochs=5, batch_size=N_TRAIN,
                                        optimizer=optimizer, verbose=0)
    assert info.value.epoch == 3
    assert not all(np.isfinite(p).all() for p in optimizer.after_step[-1].values()), "the update did overflow"
    _assert_consistent(tmp_path, [1, 2])


def test_an_overflowing_update_is_detected_in_its_own_step(data):
    X, y, teacher = data
    optimizer = ScheduledSGD(1e308)  # the very first update overflows
    student = MLP([4, 8, 3], seed=1)
    with pytest.raises(TrainingDivergedError) as info:
        _trainer(teacher).train(student, X, y, epochs=1, batch_size=N_TRAIN, optimizer=optimizer, verbose=0)
    assert (info.value.epoch, info.value.batch) == (1, 1)


# ============================================================================ item 4: Ctrl-C
def _interrupt_on_call(monkeypatch, trainer_strategy, call):
    """Make the strategy raise KeyboardInterrupt on its ``call``-th loss computation."""
    real = trainer_strategy._compute
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer_strategy, "_compute", interrupted)
    return calls


def test_ctrl_c_mid_epoch_keeps_the_directory_and_the_last_completed_step(tmp_path, data, reference, monkeypatch):
    X, y, teacher = data
    config = _config(tmp_path)
    trainer = _trainer(teacher, config)
    calls = _interrupt_on_call(monkeypatch, trainer.strategy, call=11)  # epoch 3, batch 3
    student, optimizer = MLP([4, 8, 3], seed=1), ScheduledSGD(0.05, momentum=0.9)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(student, X, y, epochs=EPOCHS, batch_size=BATCH, optimizer=optimizer, verbose=0)
    assert calls["n"] == 11 and len(optimizer.after_step) == 10
    _assert_same_params(student.params, optimizer.after_step[-1], "student after Ctrl-C vs after the last update")
    assert not np.array_equal(student.params["W1"], optimizer.after_step[7]["W1"]), "not the end of epoch 2"
    assert optimizer.t == 10
    _assert_consistent(tmp_path, [1, 2])

    monkeypatch.undo()
    resumed, _, _ = _train(teacher, X, y, config, resume_from="latest")
    _assert_same_params(resumed.params, reference[0], "resumed after Ctrl-C vs never interrupted")


@pytest.mark.parametrize("where", ["fsync of the checkpoint", "os.replace of the checkpoint", "index write"])
def test_ctrl_c_during_a_checkpoint_write_leaves_the_directory_as_it_was(tmp_path, data, reference, monkeypatch,
                                                                         where):
    X, y, teacher = data
    config = _config(tmp_path)
    _train(teacher, X, y, config, epochs=2)
    before = _snapshot(tmp_path)

    if where == "fsync of the checkpoint":
        def fsync(fd):
            raise KeyboardInterrupt
        monkeypatch.setattr(os, "fsync", fsync)
    elif where == "os.replace of the checkpoint":
        def replace(src, dst):
            raise KeyboardInterrupt
        monkeypatch.setattr(os, "replace", replace)
    else:
        def write_index(self, entries):
            raise KeyboardInterrupt
        monkeypatch.setattr(CheckpointManager, "_write_index", write_index)
    with pytest.raises(KeyboardInterrupt):
        _train(teacher, X, y, config, epochs=3, resume_from="latest")
    monkeypatch.undo()
    assert _snapshot(tmp_path) == before, "no temporary file, no unindexed checkpoint, nothing changed"
    _assert_consistent(tmp_path, [1, 2])
    resumed, _, _ = _train(teacher, X, y, config, resume_from="latest")
    _assert_same_params(resumed.params, reference[0], "resumed after an interrupted save")


# ============================================================================ item 5: disk faults
def _fail_on_epoch(monkeypatch, target, name, exc, epoch=3):
    """Patch ``target.name`` to raise ``exc`` when it touches the checkpoint file of ``epoch``."""
    real = getattr(target, name)
    marker = f"epoch{epoch:04d}"

    def failing(*args, **kwargs):
        if any(marker in str(a) for a in args) or any(marker in str(v) for v in kwargs.values()):
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, failing)


@pytest.mark.parametrize("fault", ["os.replace: permission denied", "mkstemp: permission denied",
                                   "write: disk full", "fsync: I/O error"])
def test_a_failed_checkpoint_write_is_a_clear_error_and_changes_nothing(tmp_path, data, reference, monkeypatch,
                                                                         fault):
    X, y, teacher = data
    config = _config(tmp_path)
    _train(teacher, X, y, config, epochs=2)
    before = _snapshot(tmp_path)

    if fault.startswith("os.replace"):
        _fail_on_epoch(monkeypatch, os, "replace", PermissionError(errno.EACCES, "Permission denied"))
        expected = PermissionError
    elif fault.startswith("mkstemp"):
        _fail_on_epoch(monkeypatch, tempfile, "mkstemp", PermissionError(errno.EACCES, "Permission denied"))
        expected = PermissionError
    elif fault.startswith("write"):
        def write(fd, data):  # the disk filled up
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(os, "write", write)
        expected = OSError
    else:
        def fsync(fd):
            raise OSError(errno.EIO, "Input/output error")
        monkeypatch.setattr(os, "fsync", fsync)
        expected = OSError

    with pytest.raises(CheckpointError) as info:
        _train(teacher, X, y, config, epochs=3, resume_from="latest")
    monkeypatch.undo()
    message = str(info.value)
    assert "distillation_epoch0003.pkl" in message and "intact" in message, message
    assert isinstance(info.value.__cause__, expected), repr(info.value.__cause__)
    assert _snapshot(tmp_path) == before, "earlier checkpoints and the index untouched, no temporary file"
    _assert_consistent(tmp_path, [1, 2])
    resumed, _, _ = _train(teacher, X, y, config, resume_from="latest")  # the fault is gone: carry on
    _assert_same_params(resumed.params, reference[0], "resumed after a failed save")


def test_a_full_disk_while_writing_the_index_keeps_the_old_index_and_removes_the_new_file(tmp_path, data,
                                                                                         monkeypatch):
    X, y, teacher = data
    config = _config(tmp_path, keep_best_n=1)
    _train(teacher, X, y, config, epochs=2)
    before = _snapshot(tmp_path)
    real = ck_index._atomic_write_bytes

    def atomic_write(path, data):
        if path.name.endswith("_index.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(ck_index, "_atomic_write_bytes", atomic_write)
    with pytest.raises(CheckpointError, match=r"distillation_index\.json.*No space left.*intact") as info:
        _train(teacher, X, y, config, epochs=3, resume_from="latest")
    monkeypatch.undo()
    assert info.value.__cause__.errno == errno.ENOSPC
    assert _snapshot(tmp_path) == before  # in particular nothing pruned, epoch 3 removed again


def test_a_failed_prune_only_warns(tmp_path, data, monkeypatch):
    X, y, teacher = data
    config = _config(tmp_path, keep_best_n=1)
    real_unlink = Path.unlink

    def unlink(self, *args, **kwargs):
        if self.suffix == ".pkl":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", unlink)
    with pytest.warns(UserWarning, match="could not delete the pruned checkpoint"):
        _train(teacher, X, y, config, epochs=3)
    monkeypatch.undo()
    index = CheckpointManager(config).read_index()
    assert index[-1]["epoch"] == 3 and len(index) <= 2  # the index is right; stray files only cost space
    for entry in index:
        assert load_checkpoint(tmp_path / entry["file"]).epoch == entry["epoch"]


def test_mkdir_failure_is_a_checkpoint_error_naming_the_directory(tmp_path, data, monkeypatch):
    X, y, teacher = data
    directory = tmp_path / "run"
    config = _config(directory)

    def mkdir(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(CheckpointError, match=r"checkpoint directory .*run.*Permission denied") as info:
        _train(teacher, X, y, config, epochs=1)
    assert isinstance(info.value.__cause__, PermissionError)


@pytest.mark.parametrize("layout", ["parent is a file", "directory is a file"])
def test_a_directory_that_can_never_exist_is_refused_before_training(tmp_path, data, layout):
    X, y, teacher = data
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a regular file")
    directory = blocker / "checkpoints" if layout == "parent is a file" else blocker
    student = MLP([4, 8, 3], seed=1)
    params = student.get_params()
    with pytest.raises(ValueError, match=r"checkpoint_directory .*not_a_dir.* a file, not a directory"):
        _train(teacher, X, y, _config(directory), epochs=1, student=student)
    _assert_same_params(student.params, params, "refused before any training")
    assert blocker.read_text() == "a regular file"


def test_a_corrupt_index_is_a_checkpoint_error_naming_it(tmp_path, data):
    X, y, teacher = data
    config = _config(tmp_path)
    _train(teacher, X, y, config, epochs=1)
    (tmp_path / "distillation_index.json").write_text("{ truncated")
    with pytest.raises(CheckpointError, match=r"distillation_index\.json.*unreadable"):
        _train(teacher, X, y, config, epochs=2, resume_from="latest")


def test_save_checkpoint_errors_name_the_path_and_the_state(tmp_path):
    with pytest.raises(CheckpointError, match=r"no_such_dir.*x\.pkl.*FileNotFoundError") as info:
        ck.save_checkpoint(tmp_path / "no_such_dir" / "x.pkl", {"epoch": 1})
    assert isinstance(info.value.__cause__, FileNotFoundError)
    with pytest.raises(TypeError, match="state must hold only plain data"):
        ck.save_checkpoint(tmp_path / "x.pkl", {"epoch": lambda: 1})
    with pytest.raises(TypeError, match=r"path must be a path.*42"):
        ck.save_checkpoint(42, {"epoch": 1})
    assert list(tmp_path.iterdir()) == []
