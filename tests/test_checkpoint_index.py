"""The checkpoint index and directory cannot be turned against the disk, and survive interruption.

What is proved here:

- ``read_index`` validates the whole index: a crafted entry (``../x``, an absolute path, another
  prefix's name, a NUL, a wrong epoch or metric) is a ``CheckpointError`` naming the index, the entry
  and the field, and no file outside the manager's own names is ever deleted;
- ``begin`` removes the orphans of interrupted saves (temporary files, unindexed checkpoints of the
  prefix) and nothing else: other prefixes' files and user files stay;
- a ``KeyboardInterrupt`` or an ``OSError`` at *every* system call of a run with saves (before or
  after the call takes effect) leaves a directory whose index names only complete files, and
  ``resume_from="latest"`` then gives bit-for-bit the run that was never interrupted; so does a
  training process killed with SIGKILL at random moments;
- one run per directory and prefix: a second run fails at once naming the holder's pid; a holder
  killed with SIGKILL does not block the next run.
"""

import errno
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import minikd.checkpoint.lock as ck_lock
from minikd.checkpoint import CheckpointError, CheckpointManager, DistillationCheckpointConfig, load_checkpoint
from minikd.datasets import make_blobs
from minikd.mlp import MLP
from minikd.optim import SGD
from minikd.strategies import DistillationLoss
from minikd.trainer import KnowledgeDistillationTrainer

EPOCHS, BATCH = 4, 16
ROOT = Path(__file__).resolve().parent.parent  # the subprocesses import this copy of minikd


def _data():
    X, y = make_blobs(n_samples=48, n_features=4, n_classes=3, cluster_std=1.5, seed=3)
    return X, y


def _config(directory, **kw):
    kw = {"save_every_epochs": 1, "keep_best_n": 1, "best_metric": "loss", **kw}
    return DistillationCheckpointConfig(directory, **kw)


def _train(config, epochs=EPOCHS, resume_from=None, callbacks=()):
    X, y = _data()
    student = MLP([4, 8, 3], seed=1)
    trainer = KnowledgeDistillationTrainer(MLP([4, 8, 3], seed=0), DistillationLoss(temperature=3.0, alpha=0.3),
                                           checkpoint_config=config, seed=0)
    trainer.train(student, X, y, epochs=epochs, batch_size=BATCH, optimizer=SGD(0.05, momentum=0.9), verbose=0,
                  resume_from=resume_from, callbacks=callbacks)
    return student


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The final parameters of the run that nothing interrupts (the config of the tests below)."""
    return _train(_config(tmp_path_factory.mktemp("reference"))).get_params()


def _assert_same(params, reference, what):
    for k in reference:
        assert np.array_equal(params[k], reference[k]), f"{what}: {k} differs from the uninterrupted run"


def _own_files(directory, prefix="distillation"):
    """The files of this prefix's checkpoints and of their temporary writes (``mkstemp`` names)."""
    own = re.compile(rf"{prefix}_epoch[0-9]{{4,}}\.pkl|\.{prefix}_(epoch[0-9]{{4,}}\.pkl|index\.json)\.\w+\.tmp")
    return sorted(n for n in os.listdir(directory) if own.fullmatch(n))


def _assert_indexed_files_load(directory, prefix="distillation"):
    """Every file the index names exists and is complete (the first half of "index and directory agree")."""
    for entry in CheckpointManager(_config(directory, prefix=prefix)).read_index():
        assert load_checkpoint(directory / entry["file"]).epoch == entry["epoch"], entry


def _assert_consistent(directory, prefix="distillation"):
    """The index names exactly the checkpoint files of the prefix, each loads; no temporary or lock file."""
    _assert_indexed_files_load(directory, prefix)
    listed = [e["file"] for e in CheckpointManager(_config(directory, prefix=prefix)).read_index()]
    assert _own_files(directory, prefix) == sorted(listed), f"stray or missing files: {os.listdir(directory)}"
    assert not (directory / f"{prefix}.lock").exists(), "the lock is released"


def _snapshot(directory):
    return {p.name: p.read_bytes() for p in directory.iterdir()}


# ============================================================================ the index is validated
def _two_epochs(tmp_path):
    """A run of 2 epochs with both checkpoints kept; returns (directory, config, parsed index)."""
    directory = tmp_path / "run"
    config = _config(directory, keep_best_n=0)
    _train(config, epochs=2)
    return directory, config, json.loads((directory / "distillation_index.json").read_text())


def _set(path, value):
    """A mutation that sets ``index[path[0]][path[1]]... = value``."""
    def mutate(index, victim):
        target = index
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value(victim) if callable(value) else value
    return mutate


def _delete(path):
    def mutate(index, victim):
        target = index
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


def _entries(fn):
    def mutate(index, victim):
        index["checkpoints"] = fn(index["checkpoints"])
        index["latest"] = index["checkpoints"][-1]["file"] if index["checkpoints"] and isinstance(
            index["checkpoints"][-1], dict) else index["latest"]
    return mutate


E0, E1 = ("checkpoints", 0), ("checkpoints", 1)
MALFORMED = [
    # file names that would reach outside the manager's own files
    pytest.param(_set((*E0, "file"), "../victim.pkl"), r"checkpoints\[0\]\['file'\].*'\.\./victim\.pkl'",
                 id="traversal"),
    pytest.param(_set((*E0, "file"), lambda victim: str(victim)), r"checkpoints\[0\]\['file'\].*victim\.pkl",
                 id="absolute"),
    pytest.param(_set((*E0, "file"), "sub/distillation_epoch0001.pkl"), r"checkpoints\[0\]\['file'\].*sub/",
                 id="subdirectory"),
    pytest.param(_set((*E0, "file"), "other_epoch0001.pkl"), r"checkpoints\[0\]\['file'\].*'other_epoch0001",
                 id="other-prefix"),
    pytest.param(_set((*E0, "file"), "distillation_epoch0001.pkl\x00.x"), r"checkpoints\[0\]\['file'\].*\\x00",
                 id="nul"),
    pytest.param(_set((*E0, "file"), "distillation_epoch1.pkl"), r"checkpoints\[0\]\['file'\]", id="short-number"),
    pytest.param(_set((*E0, "file"), "distillation_epoch0001.pkl.bak"), r"checkpoints\[0\]\['file'\]",
                 id="suffix"),
    pytest.param(_set((*E0, "file"), "distillation_epoch\u0660\u0660\u0660\u0661.pkl"),
                 r"checkpoints\[0\]\['file'\]", id="unicode-digits"),
    pytest.param(_set((*E0, "file"), 7), r"checkpoints\[0\]\['file'\].*got 7", id="file-not-str"),
    # epochs
    pytest.param(_delete((*E0, "epoch")), r"checkpoints\[0\] must be an object with exactly the keys", id="no-epoch"),
    pytest.param(_set((*E0, "epoch"), "1"), r"checkpoints\[0\]\['epoch'\] must be an int >= 1.*got '1'",
                 id="str-epoch"),
    pytest.param(_set((*E0, "epoch"), True), r"checkpoints\[0\]\['epoch'\].*not a bool.*got True", id="bool-epoch"),
    pytest.param(_set((*E0, "epoch"), 1.0), r"checkpoints\[0\]\['epoch'\].*got 1\.0", id="float-epoch"),
    pytest.param(_set((*E0, "epoch"), 0), r"checkpoints\[0\]\['epoch'\].*int >= 1.*got 0", id="zero-epoch"),
    pytest.param(_set((*E1, "epoch"), 3), r"checkpoints\[1\]\['epoch'\] must be 2, the epoch in its file name",
                 id="epoch-not-file-name"),
    pytest.param(_entries(lambda c: [c[0], c[0]]), r"checkpoints\[1\]\['epoch'\].*strictly increasing.*got 1",
                 id="duplicate"),
    pytest.param(_entries(lambda c: [c[1], c[0]]), r"checkpoints\[1\]\['epoch'\].*strictly increasing",
                 id="decreasing"),
    # metrics
    pytest.param(_set((*E0, "metrics"), [0.5]), r"checkpoints\[0\]\['metrics'\] must be an object", id="metrics-list"),
    pytest.param(_set((*E0, "metrics"), {"accuracy": 0.5}), r"checkpoints\[0\]\['metrics'\].*metric names.*accuracy",
                 id="unknown-metric"),
    pytest.param(_set((*E0, "metrics", "loss"), "0.5"), r"checkpoints\[0\]\['metrics'\]\['loss'\].*finite.*'0\.5'",
                 id="str-metric"),
    pytest.param(_set((*E0, "metrics", "loss"), float("nan")), r"checkpoints\[0\]\['metrics'\]\['loss'\].*finite.*nan",
                 id="nan-metric"),
    pytest.param(_set((*E0, "metrics", "loss"), float("inf")), r"checkpoints\[0\]\['metrics'\]\['loss'\].*finite.*inf",
                 id="inf-metric"),
    pytest.param(_set((*E0, "metrics", "loss"), True), r"checkpoints\[0\]\['metrics'\]\['loss'\].*finite.*True",
                 id="bool-metric"),
    pytest.param(_set((*E0, "metrics", "loss"), 10 ** 400), r"checkpoints\[0\]\['metrics'\]\['loss'\].*finite",
                 id="huge-int-metric"),
    # entries and the top level
    pytest.param(_entries(lambda c: ["distillation_epoch0001.pkl", *c[1:]]),
                 r"checkpoints\[0\] must be an object.*'distillation_epoch0001\.pkl'", id="str-entry"),
    pytest.param(_set((*E0, "extra"), 1), r"checkpoints\[0\] must be an object with exactly the keys", id="extra-key"),
    pytest.param(_set(("format",), "something-else"), r"'format' must be 'minikd-checkpoint-index'", id="format"),
    pytest.param(_set(("format_version",), 99), r"'format_version' must be at most 1.*upgrade", id="newer-version"),
    pytest.param(_set(("prefix",), "other"), r"'prefix' must be 'distillation'.*got 'other'", id="prefix"),
    pytest.param(_set(("checkpoints",), {"a": 1}), r"'checkpoints' must be a list", id="checkpoints-not-list"),
    pytest.param(_set(("latest",), "distillation_epoch0001.pkl"), r"'latest' must be 'distillation_epoch0002",
                 id="latest"),
    pytest.param(_delete(("prefix",)), r"the top level must be an object with exactly the keys", id="missing-key"),
]


@pytest.mark.parametrize("mutate, match", MALFORMED)
def test_a_malformed_index_is_a_checkpoint_error_naming_the_field_and_nothing_is_touched(tmp_path, mutate, match):
    directory, config, index = _two_epochs(tmp_path)
    victim = tmp_path / "victim.pkl"  # outside the checkpoint directory
    victim.write_bytes(b"precious")
    mutate(index, victim)
    (directory / "distillation_index.json").write_text(json.dumps(index))
    before = _snapshot(directory)
    with pytest.raises(CheckpointError, match=r"distillation_index\.json.*invalid: " + match):
        CheckpointManager(config).read_index()
    with pytest.raises(CheckpointError, match=match):  # resume: latest_path reads the index
        _train(config, epochs=3, resume_from="latest")
    with pytest.raises(CheckpointError, match=match):  # resume from a file: begin reads the index
        _train(config, epochs=3, resume_from=directory / "distillation_epoch0001.pkl")
    with pytest.raises(CheckpointError, match=match):  # a new run: begin reads the index
        _train(config, epochs=3)
    assert _snapshot(directory) == before, "nothing in the directory was changed or deleted"
    assert victim.read_bytes() == b"precious"


def test_a_top_level_that_is_not_an_object_is_a_checkpoint_error(tmp_path):
    directory, config, _ = _two_epochs(tmp_path)
    (directory / "distillation_index.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match=r"distillation_index\.json.*the top level must be a JSON object"):
        CheckpointManager(config).read_index()


@pytest.mark.parametrize("how", ["relative", "absolute"])
def test_resume_never_deletes_a_file_outside_the_directory(tmp_path, how):
    # An index whose later entry names a file outside: resuming from epoch 1 would discard it.
    directory, config, index = _two_epochs(tmp_path)
    victim = tmp_path / "victim.pkl"
    victim.write_bytes(b"precious")
    index["checkpoints"][1]["file"] = "../victim.pkl" if how == "relative" else str(victim)
    index["latest"] = index["checkpoints"][1]["file"]
    (directory / "distillation_index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match=r"checkpoints\[1\]\['file'\]"):
        _train(config, epochs=3, resume_from=directory / "distillation_epoch0001.pkl")
    assert victim.read_bytes() == b"precious"


@pytest.mark.parametrize("how", ["relative", "absolute"])
def test_pruning_never_deletes_a_file_outside_the_directory(tmp_path, how):
    # An index whose worst entry (keep_best_n=1 prunes it at the next save) names a file outside.
    directory, config, index = _two_epochs(tmp_path)
    victim = tmp_path / "victim.pkl"
    victim.write_bytes(b"precious")
    index["checkpoints"][0]["file"] = "../victim.pkl" if how == "relative" else str(victim)
    index["checkpoints"][0]["metrics"]["loss"] = 1e9
    (directory / "distillation_index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match=r"checkpoints\[0\]\['file'\]"):
        _train(_config(directory, keep_best_n=1), epochs=3, resume_from="latest")
    assert victim.read_bytes() == b"precious"


def test_a_non_finite_metric_is_written_as_null_so_the_index_stays_readable(tmp_path):
    config = _config(tmp_path)
    manager = CheckpointManager(config)
    manager.acquire()
    try:
        manager.begin(None)
        manager._commit(1, "distillation_epoch0001.pkl", {"epoch": 1}, {"loss": float("inf"), "val_loss": 0.5})
    finally:
        manager.release()
    assert manager.read_index()[0]["metrics"] == {"loss": None, "val_loss": 0.5}


# ============================================================================ orphans
USER_FILES = {
    "notes.txt": b"my notes",
    "distillation_epoch0001.pkl.bak": b"a backup",
    "distillation_epoch1.pkl": b"not the manager's name",
    "distillation_epochX.pkl": b"nor this",
    ".distillation_epoch0001.pkl.tmp": b"a temp name mkstemp never makes",
    "other_epoch0001.pkl": b"another prefix's checkpoint",
    "other_index.json": b"another prefix's index",
    ".other_epoch0002.pkl.abcd1234.tmp": b"another prefix's temporary file",
    "other.lock": b"another prefix's lock",
}
ORPHANS = ["distillation_epoch0007.pkl", ".distillation_epoch0003.pkl.x1y2_z3a.tmp",
           ".distillation_index.json.abcd1234.tmp"]


def _plant(directory):
    directory.mkdir(exist_ok=True)
    for name, data in USER_FILES.items():
        (directory / name).write_bytes(data)
    (directory / "a_subdirectory").mkdir()
    for name in ORPHANS:
        (directory / name).write_bytes(b"left by a killed save")


def test_a_new_run_cleans_orphans_without_an_index_and_leaves_everything_else(tmp_path, reference):
    _plant(tmp_path)
    with pytest.warns(UserWarning, match="removed 3 file") as record:
        student = _train(_config(tmp_path))
    messages = [str(w.message) for w in record if "interrupted save" in str(w.message)]
    assert len(messages) == 1 and all(name in messages[0] for name in ORPHANS), messages
    _assert_same(student.params, reference, "a new run in a directory with orphans")
    for name, data in USER_FILES.items():
        assert (tmp_path / name).read_bytes() == data, name
    assert (tmp_path / "a_subdirectory").is_dir()
    _assert_consistent(tmp_path)


def test_a_resume_cleans_unindexed_checkpoints_and_temporary_files(tmp_path, reference):
    config = _config(tmp_path)
    _train(config, epochs=2)
    _plant(tmp_path / "unused")  # (only to build the files; the orphans go into the run's directory)
    for name in ORPHANS:
        (tmp_path / name).write_bytes(b"left by a killed save")
    (tmp_path / "distillation_epoch0001.pkl").write_bytes(b"pruned, not yet deleted when the run was killed")
    with pytest.warns(UserWarning, match=r"removed 4 file.*distillation_epoch0001\.pkl"):
        student = _train(config, resume_from="latest")
    _assert_same(student.params, reference, "resumed in a directory with orphans")
    assert sorted(os.listdir(tmp_path)) == sorted(["unused", "distillation_index.json",
                                                   *[e["file"] for e in CheckpointManager(config).read_index()]])
    _assert_consistent(tmp_path)


def test_the_lock_file_is_not_an_orphan(tmp_path):
    config = _config(tmp_path)
    manager = CheckpointManager(config)
    manager.acquire()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            manager.begin(None)
        assert (tmp_path / "distillation.lock").exists()
    finally:
        manager.release()
    assert not (tmp_path / "distillation.lock").exists()


# ============================================================================ interruption at every call
PATCHED = [(os, "open"), (os, "write"), (os, "fsync"), (os, "close"), (os, "replace"), (os, "unlink"),
           (os, "ftruncate"), (os, "mkdir"), (os, "listdir")]
if getattr(ck_lock, "fcntl", None) is not None:
    PATCHED.append((ck_lock.fcntl, "flock"))


class _Interrupter:
    """Counts the system calls above and raises ``exc`` at the ``k``-th one.

    ``when="before"``: the call does not happen (a signal or an error in the middle of it);
    ``when="after"``: the call takes effect, then the exception arrives (a signal just after it returns).
    ``os.close`` always takes effect: on Linux the descriptor is released even when close is interrupted.
    ``os.fsync`` is counted but not performed: it matters only for a power loss, which is not simulated
    here, and makes the test ten times slower on a real disk.
    """

    def __init__(self, monkeypatch, k, exc, when):
        self.k, self.exc, self.when, self.calls, self.leaked = k, exc, when, 0, []
        for module, name in PATCHED:
            real = (lambda fd: None) if name == "fsync" else getattr(module, name)
            monkeypatch.setattr(module, name, self._wrap(real, name))

    def _wrap(self, real, name):
        def call(*args, **kwargs):
            self.calls += 1
            if self.calls != self.k:
                return real(*args, **kwargs)
            if self.when == "after" or name == "close":
                try:
                    result = real(*args, **kwargs)
                except OSError:  # the call failed by itself (mkdir of a directory that exists): interrupt anyway
                    result = None
                if name == "open" and result is not None:
                    self.leaked.append(result)
            raise self.exc()
        return call

    def close_leaked(self):
        for fd in self.leaked:
            os.close(fd)


def _os_error():
    return OSError(errno.EIO, "Input/output error (injected)")


@pytest.mark.parametrize("scenario", ["resume", "new run"])
@pytest.mark.parametrize("exc, when", [(KeyboardInterrupt, "before"), (KeyboardInterrupt, "after"),
                                       (_os_error, "before"), (_os_error, "after")],
                         ids=["ctrl-c-before", "ctrl-c-after", "oserror-before", "oserror-after"])
def test_an_interruption_at_any_system_call_leaves_a_resumable_directory(tmp_path, reference, monkeypatch,
                                                                         scenario, exc, when):
    template = tmp_path / "template"
    if scenario == "resume":  # the injected run resumes epoch 2 and saves epochs 3 and 4
        _train(_config(template), epochs=2)
        epochs = EPOCHS
    else:  # the injected run is a new one and saves epochs 1 and 2
        template.mkdir()
        epochs = 2
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # for speed, also outside the injected run (see _Interrupter)
    k = 0
    while True:
        k += 1
        assert k < 300, "the run never completes"
        directory = tmp_path / f"k{k}"
        shutil.copytree(template, directory)
        config = _config(directory)
        raised = None
        with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # orphans, a failed prune, a file system without locks
            interrupter = _Interrupter(patch, k, exc, when)
            try:
                _train(config, epochs=epochs, resume_from="latest" if scenario == "resume" else None)
            except (KeyboardInterrupt, Exception) as caught:  # noqa: B014 (KeyboardInterrupt is no Exception)
                raised = caught
        interrupter.close_leaked()
        if interrupter.calls < k:  # the whole run made fewer calls: every call has been interrupted once
            assert raised is None, raised
            break
        assert raised is not None or exc is _os_error, f"k={k}: the interruption was swallowed"
        if raised is not None and exc is _os_error:
            assert isinstance(raised, CheckpointError) and isinstance(raised.__cause__, OSError), repr(raised)
        _assert_indexed_files_load(directory)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            latest = CheckpointManager(config).latest_path()
            student = _train(config, resume_from="latest" if latest is not None else None)
        _assert_same(student.params, reference, f"k={k} ({interrupter.calls} calls): resumed")
        _assert_consistent(directory)
        shutil.rmtree(directory)
    assert k > 20, f"only {k - 1} system calls were interrupted: the wrapper missed the save path"


def test_ctrl_c_in_the_directory_fsync_after_the_index_replace_keeps_the_new_checkpoint(tmp_path, reference,
                                                                                       monkeypatch):
    # Attack 2: the index naming epoch 3 is in place; the interruption must not delete epoch 3.
    config = _config(tmp_path)
    _train(config, epochs=2)
    real_fsync, calls = os.fsync, {"n": 0}

    def fsync(fd):  # 1: the checkpoint, 2: its directory, 3: the index, 4: the directory again
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(KeyboardInterrupt):
        _train(config, epochs=3, resume_from="latest")
    monkeypatch.undo()
    assert CheckpointManager(config).latest_path().name == "distillation_epoch0003.pkl"
    _assert_indexed_files_load(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # epoch 2, dropped by that index, is an orphan now
        student = _train(config, resume_from="latest")
    _assert_same(student.params, reference, "resumed after Ctrl-C in the index's directory fsync")
    _assert_consistent(tmp_path)


# ============================================================================ processes
CHILD = """
import sys, time
import numpy as np
from minikd import MLP, SGD, DistillationLoss, KnowledgeDistillationTrainer
from minikd.checkpoint import CheckpointManager, DistillationCheckpointConfig
from minikd.datasets import make_blobs

directory, out, epochs, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
X, y = make_blobs(n_samples=48, n_features=4, n_classes=3, cluster_std=1.5, seed=3)
config = DistillationCheckpointConfig(directory, save_every_epochs=1, keep_best_n=1, best_metric="loss")
resume = "latest" if CheckpointManager(config).latest_path() is not None else None

class Signal:
    def on_train_begin(self, trainer, logs):
        print("training", flush=True)

    def on_epoch_end(self, epoch, logs):
        time.sleep(pause)

print("ready", flush=True)
student = MLP([4, 8, 3], seed=1)
trainer = KnowledgeDistillationTrainer(MLP([4, 8, 3], seed=0), DistillationLoss(temperature=3.0, alpha=0.3),
                                       checkpoint_config=config, seed=0)
trainer.train(student, X, y, epochs=epochs, batch_size=16, optimizer=SGD(0.05, momentum=0.9), verbose=0,
              resume_from=resume, callbacks=[Signal()])
np.savez(out, **student.params)
print("done", flush=True)
"""


def _child(directory, out, epochs=EPOCHS, pause=0.0):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(directory), str(out), str(epochs), str(pause)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(proc, word):
    line = proc.stdout.readline().strip()
    assert line == word, (line, proc.stderr.read() if proc.poll() is not None else "")


@pytest.fixture(scope="module")
def long_reference(tmp_path_factory):
    return _train(_config(tmp_path_factory.mktemp("long")), epochs=60).get_params()


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_at_random_moments_then_resume_is_bit_identical(tmp_path, long_reference):
    directory, out, rng = tmp_path / "run", tmp_path / "params.npz", random.Random(0)
    t0 = time.perf_counter()
    for _ in range(10):
        proc = _child(directory, out, epochs=60)
        _wait_for(proc, "ready")
        time.sleep(rng.uniform(0.0, 0.2))
        proc.kill()
        proc.communicate()
        if directory.exists():
            _assert_indexed_files_load(directory)
    proc = _child(directory, out, epochs=60)  # a fresh process resumes, cleans the orphans and finishes
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0 and stdout.split()[-1] == "done", stderr
    assert time.perf_counter() - t0 < 30
    with np.load(out) as params:
        _assert_same(dict(params), long_reference, "killed -9 ten times, then resumed")
    _assert_consistent(directory)


@pytest.mark.slow
def test_a_second_run_in_the_same_directory_fails_at_once_naming_the_holder(tmp_path, reference):
    out = tmp_path / "params.npz"
    proc = _child(tmp_path / "run", out, pause=0.3)
    try:
        _wait_for(proc, "ready")
        _wait_for(proc, "training")  # it holds the lock now
        t0 = time.perf_counter()
        with pytest.raises(CheckpointError, match=rf"checkpoint_directory '.*run' is in use.*pid {proc.pid} on "):
            _train(_config(tmp_path / "run"))
        with pytest.raises(CheckpointError, match=rf"pid {proc.pid}"):
            _train(_config(tmp_path / "run"), resume_from="latest")
        assert time.perf_counter() - t0 < 1.0, "the second run fails at once, it does not wait"
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0 and stdout.split()[-1] == "done", stderr
    with np.load(out) as params:
        _assert_same(dict(params), reference, "the first run, undisturbed by the second")
    _assert_consistent(tmp_path / "run")


def test_a_holder_killed_with_sigkill_does_not_block_the_next_run(tmp_path, reference):
    proc = _child(tmp_path, tmp_path / "params.npz", pause=5.0)
    _wait_for(proc, "ready")
    _wait_for(proc, "training")
    proc.kill()
    proc.communicate()
    assert (tmp_path / "distillation.lock").exists(), "its lock file is left, but not its lock"
    latest = CheckpointManager(_config(tmp_path)).latest_path()
    student = _train(_config(tmp_path), resume_from="latest" if latest is not None else None)
    _assert_same(student.params, reference, "the run after a killed holder")
    _assert_consistent(tmp_path)


# ============================================================================ the lock in one process
def test_acquire_and_release_are_idempotent_and_exclusive(tmp_path):
    first, second = CheckpointManager(_config(tmp_path / "run")), CheckpointManager(_config(tmp_path / "run"))
    other_prefix = CheckpointManager(_config(tmp_path / "run", prefix="other"))
    first.acquire()
    first.acquire()
    assert (tmp_path / "run").is_dir(), "taking the lock creates the directory"
    with pytest.raises(CheckpointError, match=rf"'.*run' is in use.*'distillation'.*pid {os.getpid()}"):
        second.acquire()
    other_prefix.acquire()  # another prefix is another run
    first.release()
    first.release()
    assert not (tmp_path / "run" / "distillation.lock").exists()
    second.acquire()
    second.release()
    other_prefix.release()
    assert os.listdir(tmp_path / "run") == []


def test_train_releases_the_lock_on_an_exception(tmp_path):
    config = _config(tmp_path)

    def interrupt(epoch, logs):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(config, callbacks=[interrupt])
    assert not (tmp_path / "distillation.lock").exists()
    manager = CheckpointManager(config)
    manager.acquire()  # free again
    manager.release()


def test_without_fcntl_an_exclusive_file_with_a_liveness_check_is_the_lock(tmp_path, monkeypatch, reference):
    monkeypatch.setattr(ck_lock, "fcntl", None)
    config = _config(tmp_path)
    first, second = CheckpointManager(config), CheckpointManager(config)
    first.acquire()
    with pytest.raises(CheckpointError, match=rf"in use.*pid {os.getpid()}.*delete 'distillation\.lock'"):
        second.acquire()
    first.release()
    assert not (tmp_path / "distillation.lock").exists()

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = ck_lock.socket.gethostname()
    (tmp_path / "distillation.lock").write_text(f"{int(dead.stdout)}\n{host}\n")
    student = _train(config)  # the holder is gone: its lock file is taken over
    _assert_same(student.params, reference, "a run that took over a stale lock file")
    _assert_consistent(tmp_path)

    (tmp_path / "distillation.lock").write_text(f"{int(dead.stdout)}\nanother-host.example\n")
    with pytest.raises(CheckpointError, match=r"in use.*on another-host\.example"):
        _train(config, resume_from="latest")  # on another host, nobody can tell: not taken over
