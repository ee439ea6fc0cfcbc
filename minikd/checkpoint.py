"""Checkpoints that never lose a run: atomic saves, keep-best-N that works, exact resume, safe loading.

A checkpoint is a pickled **dict of plain data** (numbers, strings, lists, dicts and NumPy
arrays) with a format version, never a pickled live object (nanoGPT's habit). It holds everything
a resumed run needs to continue bit for bit: the student's architecture and parameters, the
optimizer's state (momentum buffers, Adam moments), the state of the trainer's random generator,
the early-stopping state, the history so far, and the trainer's and strategy's settings.

Files in ``checkpoint_directory``:

- ``{prefix}_epoch{NNNN}.pkl`` — one checkpoint per saved epoch;
- ``{prefix}_index.json`` — a human-readable list of the checkpoints kept, with their metrics;
- ``{prefix}.lock`` — while a run trains into the directory (deleted when it ends).

Safety
------
Unpickling a file from a stranger can run arbitrary code. :func:`load_checkpoint` uses a
restricted unpickler that resolves only the few NumPy functions that rebuild arrays, dtypes and
scalars; anything else (``os.system``, ``eval``, ``subprocess``, any class) is refused with a
:class:`CheckpointError` before it can run.

Durability
----------
Every file is written to a temporary file in the same directory, fsync'ed and moved into place with
``os.replace`` (atomic on POSIX and Windows); the directory is then fsync'ed (best effort). A save
writes the checkpoint, then the index that names it (and no longer names what keep-best-N drops),
then deletes the dropped files. An exception or a ``KeyboardInterrupt`` at any point of a save
leaves an index that names only complete files: a new checkpoint is removed again only if the index
on disk does not name it (it is re-read to decide), and a write that fails (an unwritable directory,
a full disk) raises a :class:`CheckpointError` naming the file, with the ``OSError`` as its
``__cause__``. What an interruption or a ``kill -9`` can leave behind (temporary files, an unindexed
checkpoint, a dropped one not yet deleted) is removed, with one warning, by the next run's
:meth:`CheckpointManager.begin`, so ``resume_from="latest"`` always works and gives the run that
never stopped. One run at a time per directory and prefix: ``train`` holds ``{prefix}.lock``
(``fcntl.flock``, released by the kernel however the process ends; without ``fcntl``, a file created
with ``O_EXCL`` and a pid liveness check) and a second run fails at once
with a :class:`CheckpointError` naming the holder's pid. A diverged state (non-finite parameters or
optimizer state) is never written: saving it raises ``TrainingDivergedError``.

The index cannot be turned against the disk: :meth:`CheckpointManager.read_index` validates every
field, and a file name that is not exactly one the manager writes (``../x``, an absolute path,
another prefix's file) is a :class:`CheckpointError`. The manager only ever deletes files of its own
names, in its own directory; other prefixes' files and user files are never touched.

Not covered: a power loss on a file system that ignores fsync, and checkpoints without a checksum
(a tampered file that still holds valid plain data loads).
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import pickletools
import re
import socket
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._checkpoint_format import CheckpointFormatError, decode, encode
from ._run_state import (
    History,
    check_arrays_like,
    check_dict,
    check_early_stopping_state,
    check_fingerprint,
    check_history_state,
    check_rng_state,
    param_spec,
)
from ._validation import check_bool, check_int, describe
from .layers import ACTIVATIONS
from .mlp import MLP
from .optim import SGD, Adam

try:
    import fcntl
except ImportError:  # not POSIX (Windows): CheckpointManager.acquire falls back to O_CREAT | O_EXCL
    fcntl = None

__all__ = [
    "CheckpointError",
    "DistillationCheckpointConfig",
    "CheckpointManager",
    "Checkpoint",
    "load_checkpoint",
    "save_checkpoint",
    "convert_legacy_checkpoint",
    "CHECKPOINT_METRICS",
]

FORMAT = "minikd-checkpoint"
FORMAT_VERSION = 2
#: The metrics a checkpoint (and its index entry) may record, and that ``best_metric`` may name.
CHECKPOINT_METRICS = ("loss", "soft_loss", "hard_loss", "val_loss", "val_accuracy", "teacher_agreement")
_METRICS = CHECKPOINT_METRICS
_VAL_METRICS = ("val_loss", "val_accuracy", "teacher_agreement")
_TOP_KEYS = ("format", "format_version", "minikd_version", "epoch", "metrics", "student", "teacher", "optimizer",
             "trainer")
_TRAINER_KEYS = ("config", "rng_state", "early_stopping", "history", "fingerprint")
_OPTIMIZERS = {"SGD": SGD, "Adam": Adam}


class CheckpointError(Exception):
    """A checkpoint file is missing, truncated, corrupt, foreign, too new, or unsafe to load, or
    could not be written (an unwritable directory, a full disk: the ``OSError`` is its ``__cause__``)."""


# ---------------------------------------------------------------------------- configuration
class DistillationCheckpointConfig:
    """When and where to save checkpoints, and which to keep.

    Parameters
    ----------
    checkpoint_directory : str or path, default "checkpoints"
        Created when the first checkpoint is saved.
    save_every_epochs : int >= 1, default 10
        Save after every this many epochs; the last epoch of a run (also one ended by early
        stopping or a callback) is always saved, so a run can always be resumed or inspected.
    keep_best_n : int >= 0, default 3
        Keep the N best checkpoints by ``best_metric`` **and always the most recent one**;
        0 keeps every checkpoint.
    best_metric : str, default "val_loss"
        One of "loss", "soft_loss", "hard_loss", "val_loss", "val_accuracy",
        "teacher_agreement". A metric the run cannot produce (e.g. "val_loss" without
        validation data) is a ``ValueError`` at the start of ``train``.
    lower_is_better : bool, default True
        False for accuracies.
    save_teacher : bool, default False
        Also store the teacher (an MLP teacher only).
    save_student : bool, default True
        Store the student's parameters (needed to resume or to load ``.student``).
    prefix : str, default "distillation"
        File-name prefix (letters, digits, ``-`` and ``_``).
    """

    def __init__(self, checkpoint_directory="checkpoints", save_every_epochs: int = 10,
                 keep_best_n: int = 3, best_metric: str = "val_loss", lower_is_better: bool = True,
                 save_teacher: bool = False, save_student: bool = True, prefix: str = "distillation"):
        if not isinstance(checkpoint_directory, (str, os.PathLike)):
            raise TypeError(
                f"checkpoint_directory must be a path (str or os.PathLike), got {describe(checkpoint_directory)}"
            )
        if str(checkpoint_directory) == "":
            raise ValueError("checkpoint_directory must be a non-empty path, got ''")
        self.checkpoint_directory = Path(checkpoint_directory)
        self.save_every_epochs = check_int(save_every_epochs, "save_every_epochs", minimum=1)
        self.keep_best_n = check_int(keep_best_n, "keep_best_n", minimum=0)
        if not isinstance(best_metric, str):
            raise TypeError(f"best_metric must be a string, one of {list(_METRICS)}, got {describe(best_metric)}")
        if best_metric not in _METRICS:
            raise ValueError(f"best_metric must be one of {list(_METRICS)}, got {best_metric!r}")
        self.best_metric = best_metric
        self.lower_is_better = check_bool(lower_is_better, "lower_is_better")
        self.save_teacher = check_bool(save_teacher, "save_teacher")
        self.save_student = check_bool(save_student, "save_student")
        if not isinstance(prefix, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", prefix):
            raise ValueError(f"prefix must be a non-empty string of letters, digits, '-' and '_', got {prefix!r}")
        self.prefix = prefix

    def __repr__(self) -> str:
        return (f"DistillationCheckpointConfig(checkpoint_directory={str(self.checkpoint_directory)!r}, "
                f"save_every_epochs={self.save_every_epochs}, keep_best_n={self.keep_best_n}, "
                f"best_metric={self.best_metric!r}, lower_is_better={self.lower_is_better}, "
                f"save_teacher={self.save_teacher}, save_student={self.save_student}, prefix={self.prefix!r})")


# ---------------------------------------------------------------------------- safe file I/O
def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same directory, fsync, os.replace.

    The temporary file is ``.{path.name}.XXXXXXXX.tmp`` (``tempfile.mkstemp``); it is removed again if
    anything fails before the replace. If the process dies before it can remove it, it is an orphan that
    :meth:`CheckpointManager.begin` cleans. Every step is one ``os`` call (``open``, ``write``, ``fsync``,
    ``close``, ``replace``), so tests can interrupt each one. Making the rename durable (an fsync of the
    directory) is best effort: a file system that refuses it does not fail the write.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            _unlink_quietly(Path(tmp))
        except OSError:
            pass  # an orphan: the next CheckpointManager.begin removes it
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make renames in ``directory`` durable; best effort (an ``OSError`` is ignored)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        try:
            os.close(dir_fd)
        except OSError:
            pass


def _unlink_quietly(path: Path) -> None:
    """Remove ``path``; a file that is already gone is fine. Never follows a symlink (unlinks the link)."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _names_a_file_in(directory: Path, name: str) -> bool:
    """True if ``directory / name`` is, lexically, a file directly inside ``directory`` (no symlink is followed)."""
    base = os.path.abspath(directory)
    return "\0" not in name and os.path.dirname(os.path.normpath(os.path.join(base, name))) == base


def _stat_or_none(path: Path):
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _write_holder(fd: int) -> None:
    """Record this process's pid and host name in the lock file (for the other run's error message)."""
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n{socket.gethostname()}\n".encode())
    except OSError:
        pass  # the lock is held all the same; only the message loses its pid


def _read_holder(path: Path):
    """(pid, host) recorded in a lock file, each None if it cannot be read."""
    try:
        lines = path.read_bytes()[:512].decode("utf-8", "replace").splitlines()
    except OSError:
        return None, None
    pid = int(lines[0]) if lines and lines[0].isascii() and lines[0].isdigit() else None
    return pid, (lines[1] if len(lines) > 1 else None)


def _holder_is_gone(pid, host) -> bool:
    """True only if the lock's holder surely no longer runs: a pid of this host that ``os.kill(pid, 0)`` cannot find."""
    if pid is None or host != socket.gethostname() or os.name == "nt":  # on Windows os.kill(pid, 0) sends Ctrl-C
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it runs, as another user
        return False
    return False


def save_checkpoint(path, state: dict) -> Path:
    """Write a checkpoint dict atomically, in checkpoint format 2.

    Parameters
    ----------
    path : str or path
        Destination file; its directory must exist.
    state : dict
        Plain data (dicts with str keys, lists, tuples, str, int, float, bool, None, bytes and
        NumPy arrays of bool, integer or float dtypes): the dict a trainer builds for its
        checkpoints (the format keys are added here).

    Returns
    -------
    Path

    Raises
    ------
    TypeError
        If ``state`` holds anything else (the message names where).
    CheckpointError
        If the file cannot be written (the ``OSError`` is its ``__cause__``); nothing is replaced then.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a path (str or os.PathLike), got {describe(path)}")
    path = Path(path)
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict of plain data, got {describe(state)}")
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    try:
        data = encode(payload)
    except TypeError as exc:
        raise TypeError(f"state must hold only plain data and NumPy arrays: {exc}") from None
    try:
        _atomic_write_bytes(path, data)
    except OSError as exc:
        raise CheckpointError(
            f"could not write the checkpoint {str(path)!r}: {type(exc).__name__}: {exc}. "
            "Nothing was replaced: any earlier file of that name is intact."
        ) from exc
    return path


def _read_bytes(path) -> tuple[Path, bytes]:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a path (str or os.PathLike), got {describe(path)}")
    path = Path(path)
    try:
        return path, path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {str(path)!r}: the file does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(f"{str(path)!r} is a directory, not a checkpoint file") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {str(path)!r}: {exc}") from None


def _peek_version(data: bytes):
    """The format version that a minikd checkpoint declares in its first opcodes, without unpickling.

    Both formats start with the dict entries ``"format": "minikd-checkpoint"`` and
    ``"format_version": N``; only the leading opcodes are parsed (by ``pickletools``, which runs
    nothing). None if the file does not start that way.
    """
    values = []
    try:
        for opcode, arg, _ in pickletools.genops(io.BytesIO(data[:256])):
            if arg is not None and opcode.name not in ("PROTO", "FRAME", "MEMOIZE", "BINPUT", "LONG_BINPUT"):
                values.append(arg)
            if len(values) >= 4:
                break
    except Exception:  # a broken or foreign stream: not a recognisable minikd checkpoint
        return None
    if values[:3] == ["format", FORMAT, "format_version"] and len(values) == 4 and type(values[3]) is int:
        return values[3]
    return None


def _read_checkpoint_dict(path) -> tuple[Path, dict]:
    """Read and decode a checkpoint file into plain data (the format checks; the schema comes after)."""
    path, data = _read_bytes(path)
    version = _peek_version(data)
    if version == 1:
        raise CheckpointError(
            f"{str(path)!r} was written by minikd 0.1 (checkpoint format 1), which stored NumPy arrays as "
            "pickled objects. Format 1 is not loaded: rebuilding those arrays goes through NumPy's C "
            "reconstructors, which a crafted file can crash or worse. If you wrote this file yourself, "
            "convert it once with minikd.checkpoint.convert_legacy_checkpoint(path, trusted=True)."
        )
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise CheckpointError(
            f"{str(path)!r} has checkpoint format version {version}, newer than this minikd understands "
            f"({FORMAT_VERSION}); upgrade minikd to load it"
        )
    try:
        obj = decode(data)
    except CheckpointFormatError as exc:
        raise CheckpointError(
            f"{str(path)!r} is not a readable minikd checkpoint (truncated or corrupt, or crafted): {exc}"
        ) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a minikd checkpoint (no '{FORMAT}' format marker)")
    if obj.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{str(path)!r} has checkpoint format version {describe(obj.get('format_version'))}; "
                              f"this minikd reads version {FORMAT_VERSION}")
    return path, obj


# ---------------------------------------------------------------------------- the schema
def _check_model(value, where: str):
    """A saved MLP (``{"config", "params"}``): the config's rules, then every parameter's shape
    and dtype from the config, before a model of that size is built (it cannot be larger than
    the arrays the file really holds)."""
    if value is None:
        return None
    check_dict(value, where, ("config", "params"))
    config = check_dict(value["config"], f"{where}['config']", ("layer_sizes", "activation", "dtype"))
    sizes = config["layer_sizes"]
    _require(isinstance(sizes, list) and len(sizes) >= 2
             and all(type(n) is int and 1 <= n <= 2**31 for n in sizes),
             f"{where}['config']['layer_sizes']", "a list of at least 2 ints in [1, 2**31]", sizes)
    _require(config["activation"] in ACTIVATIONS, f"{where}['config']['activation']",
             f"one of {sorted(ACTIVATIONS)}", config["activation"])
    _require(config["dtype"] in ("float32", "float64"), f"{where}['config']['dtype']",
             "'float32' or 'float64'", config["dtype"])
    dtype = np.dtype(config["dtype"])
    spec = {}
    for k in range(1, len(sizes)):
        spec[f"W{k}"] = ((sizes[k - 1], sizes[k]), dtype)
        spec[f"b{k}"] = ((sizes[k],), dtype)
    check_arrays_like(value["params"], f"{where}['params']", spec)
    return MLP.from_config(config, params=value["params"])


def _check_optimizer(value, where: str, spec: dict | None) -> tuple[dict, dict]:
    """``{"config": {"name", ...hyperparameters}, "state": Optimizer.state_dict()}``.

    For minikd's own optimizers (SGD, Adam) the optimizer is rebuilt from its config and loads the
    state (its own checks). The state of any other class (a user's subclass) is checked for its
    structure only; its ``load_state_dict`` checks the rest on resume. Either way every buffer
    must be shaped like the student's parameter it belongs to.
    """
    check_dict(value, where, ("config", "state"))
    config, state = value["config"], value["state"]
    _require(isinstance(config, dict) and isinstance(config.get("name"), str), f"{where}['config']",
             "a dict with the optimizer's class 'name' and hyperparameters", config)
    hyper = {k: v for k, v in config.items() if k != "name"}
    _require(all(v is None or type(v) in (bool, int, float, str) for v in hyper.values()), f"{where}['config']",
             "a dict of plain hyperparameters (numbers, bools, strings, None)", config)
    check_dict(state, f"{where}['state']", ("format_version", "type", "config", "t", "buffers"))
    _require(state["type"] == config["name"], f"{where}['state']['type']", repr(config["name"]), state["type"])
    _require(state["config"] == hyper, f"{where}['state']['config']", f"equal to {where}['config'] without 'name'",
             state["config"])
    _require(type(state["t"]) is int and state["t"] >= 0, f"{where}['state']['t']", "an int >= 0", state["t"])
    check_dict(state["buffers"], f"{where}['state']['buffers']")
    for name, buffers in state["buffers"].items():
        at = f"{where}['state']['buffers'][{name!r}]"
        if spec is not None:
            check_arrays_like(buffers, at, spec, subset=True)
        else:
            check_dict(buffers, at)
    if config["name"] in _OPTIMIZERS:
        try:
            _OPTIMIZERS[config["name"]](**hyper).load_state_dict(state)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where} is not a valid {config['name']} state: {exc}") from None
    return config, state


def _check_trainer_state(value, where: str, epoch: int, spec: dict | None):
    """A trainer's ``state_dict()``: its config (compared on resume), the generator's state, the
    early-stopping state, the history and the run's fingerprint (None in a converted format-1 file)."""
    check_dict(value, where, _TRAINER_KEYS)
    _require(isinstance(value["config"], dict) and isinstance(value["config"].get("trainer"), str),
             f"{where}['config']", "a dict of the trainer's settings", value["config"])
    check_rng_state(value["rng_state"], f"{where}['rng_state']")
    check_early_stopping_state(value["early_stopping"], f"{where}['early_stopping']", epoch, spec)
    history = check_history_state(value["history"], f"{where}['history']", epoch)
    if value["fingerprint"] is not None:
        check_fingerprint(value["fingerprint"], f"{where}['fingerprint']")
    return history


def _require(ok: bool, where: str, rule: str, value) -> None:
    if not ok:
        raise ValueError(f"{where} must be {rule}, got {describe(value)}")


def _check_checkpoint(raw: dict, path: Path) -> Checkpoint:
    """Every field of a decoded checkpoint against the schema, as a :class:`Checkpoint`."""
    try:
        check_dict(raw, "the checkpoint", _TOP_KEYS)
        epoch = raw["epoch"]
        _require(type(epoch) is int and epoch >= 1, "epoch", "an int >= 1", epoch)
        metrics = raw["metrics"]
        _require(isinstance(metrics, dict) and set(metrics) <= set(CHECKPOINT_METRICS)
                 and all(v is None or type(v) in (int, float) for v in metrics.values()),
                 "metrics", f"a dict of {list(CHECKPOINT_METRICS)} -> number or None", metrics)
        _require(isinstance(raw["minikd_version"], str) and len(raw["minikd_version"]) <= 100,
                 "minikd_version", "a short string", raw["minikd_version"])
        student = _check_model(raw["student"], "student")
        teacher = _check_model(raw["teacher"], "teacher")
        spec = None if student is None else param_spec(student.params)
        optimizer_config, optimizer_state = _check_optimizer(raw["optimizer"], "optimizer", spec)
        history = _check_trainer_state(raw["trainer"], "trainer", epoch, spec)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{str(path)!r} holds a malformed checkpoint: {exc}") from None
    trainer = raw["trainer"]
    return Checkpoint(
        path=path, epoch=epoch, metrics=dict(metrics), student=student, teacher=teacher, history=history,
        optimizer_state=optimizer_state, optimizer_config=optimizer_config, trainer_config=trainer["config"],
        rng_state=trainer["rng_state"], early_stopping_state=trainer["early_stopping"],
        minikd_version=raw["minikd_version"], trainer_state=trainer, fingerprint=trainer["fingerprint"], raw=raw,
    )


# ---------------------------------------------------------------------------- loaded checkpoints
@dataclass
class Checkpoint:
    """A loaded checkpoint: every field validated against the schema.

    Attributes
    ----------
    path : Path
    epoch : int
        The number of completed epochs when it was saved.
    metrics : dict
        That epoch's metrics (loss, val_loss, ...).
    student : MLP or None
        The student rebuilt with its saved parameters (None if ``save_student`` was False).
    teacher : MLP or None
        The teacher, if it was saved.
    history : History
    optimizer_state, optimizer_config : dict
        ``Optimizer.state_dict()`` and ``{"name": class name, **get_config()}``.
    trainer_state : dict
        The trainer's ``state_dict()``: ``config``, ``rng_state``, ``early_stopping``, ``history``,
        ``fingerprint``.
    trainer_config, rng_state, early_stopping_state, fingerprint : dict
        The same entries of ``trainer_state`` (``fingerprint`` is None in a converted format-1 file).
    minikd_version : str
        The version that wrote the file.
    raw : dict
        The decoded file.
    """

    path: Path
    epoch: int
    metrics: dict
    student: object
    teacher: object
    history: History
    optimizer_state: dict
    optimizer_config: dict
    trainer_config: dict
    rng_state: dict
    early_stopping_state: dict
    minikd_version: str
    trainer_state: dict = field(repr=False, default_factory=dict)
    fingerprint: dict | None = field(repr=False, default=None)
    raw: dict = field(repr=False, default_factory=dict)


def load_checkpoint(path) -> Checkpoint:
    """Load a minikd checkpoint safely: no code runs, no crafted byte reaches a C reconstructor.

    Parameters
    ----------
    path : str or path
        A ``{prefix}_epoch{NNNN}.pkl`` file (checkpoint format 2).

    Returns
    -------
    Checkpoint

    Raises
    ------
    CheckpointError
        For every problem with the file, naming it: missing, truncated, corrupt, foreign,
        written by minikd 0.1 (see :func:`convert_legacy_checkpoint`) or by a newer version,
        any pickle opcode other than those of plain data, arrays whose bytes do not match
        their dtype and shape, more array data than the file holds, and any field that breaks
        the schema (the message names the field, the rule and the value).
    TypeError
        If ``path`` is not a path.
    """
    path, raw = _read_checkpoint_dict(path)
    return _check_checkpoint(raw, path)


def convert_legacy_checkpoint(path, trusted: bool = False, output=None) -> Path:
    """Rewrite a checkpoint of minikd 0.1 (format 1) in format 2 — only for a file you wrote yourself.

    Format 1 stored NumPy arrays as pickled objects, so reading it means unpickling with NumPy's
    own reconstructors, which a crafted file can crash (or make read arbitrary memory): that is
    why :func:`load_checkpoint` refuses it and why this function needs ``trusted=True``. The
    converted file carries no run fingerprint (format 1 had none): resuming from it cannot check
    that the data are the same, and says so.

    Parameters
    ----------
    path : str or path
        The format-1 file.
    trusted : bool, default False
        Must be True: you confirm that you wrote the file yourself.
    output : str or path, optional
        Where to write the format-2 file; default: replace ``path`` (atomically, after the
        converted state has passed every check of :func:`load_checkpoint`).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        Without ``trusted=True``.
    CheckpointError
        If the file is not a format-1 minikd checkpoint, or its converted state breaks the schema.
    """
    if trusted is not True:
        raise ValueError(
            "trusted must be True to convert a format-1 checkpoint: reading it unpickles NumPy objects, "
            f"which is only safe for a file you wrote yourself, got trusted={trusted!r}"
        )
    path, data = _read_bytes(path)
    if _peek_version(data) != 1:
        raise CheckpointError(f"{str(path)!r} is not a minikd 0.1 checkpoint (format 1)")
    try:
        old = _LegacyUnpickler(io.BytesIO(data)).load()
        state = {
            "minikd_version": str(old["minikd_version"]), "epoch": old["epoch"], "metrics": old["metrics"],
            "student": old["student"], "teacher": old.get("teacher"), "optimizer": old["optimizer"],
            "trainer": {"config": old["trainer"], "rng_state": old["rng_state"],
                        "early_stopping": old["early_stopping"], "history": old["history"], "fingerprint": None},
        }
        encoded = encode({"format": FORMAT, "format_version": FORMAT_VERSION, **state})
    except Exception as exc:
        raise CheckpointError(f"{str(path)!r} could not be converted: {type(exc).__name__}: {exc}") from None
    target = path if output is None else Path(output)
    _check_checkpoint(decode(encoded), target)
    try:
        _atomic_write_bytes(target, encoded)
    except OSError as exc:
        raise CheckpointError(f"could not write {str(target)!r}: {type(exc).__name__}: {exc}") from exc
    return target


class _LegacyUnpickler(pickle.Unpickler):
    """Format 1's reader (minikd 0.1): NumPy's array, dtype and scalar reconstructors and nothing else.

    Refuses every other global, but cannot protect against a crafted dtype state: used only by
    :func:`convert_legacy_checkpoint` on files the user vouches for.
    """

    _ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise CheckpointError(f"refusing to load {module}.{name}: not part of a minikd 0.1 checkpoint")


# ---------------------------------------------------------------------------- the manager
_INDEX_FORMAT = "minikd-checkpoint-index"
_INDEX_FORMAT_VERSION = 1  # the index's own version, independent of the checkpoint files' FORMAT_VERSION
_INDEX_KEYS = ("format", "format_version", "prefix", "best_metric", "lower_is_better", "keep_best_n", "latest",
               "checkpoints")
_ENTRY_KEYS = ("file", "epoch", "metrics")


class CheckpointManager:
    """Saves checkpoints during ``train`` according to a :class:`DistillationCheckpointConfig`.

    Keeps ``{prefix}_index.json`` and the directory in agreement: the index lists exactly the
    checkpoint files that are kept, each with its epoch and metrics.

    The manager touches only the files it writes, all named after the prefix: ``{prefix}_epoch{NNNN}.pkl``,
    ``{prefix}_index.json``, the temporary files of their atomic writes (``.{prefix}_epoch{NNNN}.pkl.*.tmp``,
    ``.{prefix}_index.json.*.tmp``) and, while a run holds it, the lock file ``{prefix}.lock``. Other
    prefixes' files and any other file in the directory are never opened, moved or deleted.

    Parameters
    ----------
    config : DistillationCheckpointConfig
    """

    def __init__(self, config: DistillationCheckpointConfig):
        if not isinstance(config, DistillationCheckpointConfig):
            raise TypeError(f"config must be a DistillationCheckpointConfig, got {describe(config)}")
        self.config = config
        self.directory = config.checkpoint_directory
        self.index_path = self.directory / f"{config.prefix}_index.json"
        self.lock_path = self.directory / f"{config.prefix}.lock"
        prefix = re.escape(config.prefix)
        self._checkpoint_re = re.compile(rf"{prefix}_epoch([0-9]{{4,18}})\.pkl")
        self._temp_re = re.compile(rf"\.{prefix}_(?:epoch[0-9]{{4,18}}\.pkl|index\.json)\.[A-Za-z0-9_]+\.tmp")
        self._lock_mode = None  # None (not held), "flock", "exclusive" (no fcntl) or "unlocked" (no locking)
        self._lock_fd = None
        self._resumed = False

    # -- the files this manager owns
    def _checkpoint_name(self, epoch: int) -> str:
        return f"{self.config.prefix}_epoch{epoch:04d}.pkl"

    def _own_checkpoint_epoch(self, name) -> int | None:
        """The epoch of ``name`` if it is a checkpoint name this manager writes, else None."""
        match = self._checkpoint_re.fullmatch(name) if isinstance(name, str) else None
        if match is None:
            return None
        epoch = int(match.group(1))
        return epoch if epoch >= 1 and name == self._checkpoint_name(epoch) else None

    def _is_own_file(self, name: str) -> bool:
        return self._own_checkpoint_epoch(name) is not None or self._temp_re.fullmatch(name) is not None

    def _remove(self, name: str) -> None:
        """Delete ``directory / name``, which must be a name this manager writes (the only way it deletes)."""
        if not self._is_own_file(name):  # unreachable after read_index's checks: a last line of defence
            raise CheckpointError(f"refusing to delete {name!r}: not a file this checkpoint manager writes")
        _unlink_quietly(self.directory / name)

    def _make_directory(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckpointError(
                f"could not create the checkpoint directory {str(self.directory)!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    # -- index
    def read_index(self) -> list:
        """The entries of the index (dicts with file, epoch, metrics), oldest first; [] if none.

        The whole file is checked before anything is returned, so that an index edited by hand,
        damaged or crafted can never point the manager at a file it did not write:

        - top level: exactly the keys the manager writes; ``format`` is "minikd-checkpoint-index",
          ``format_version`` an int this minikd understands, ``prefix`` this config's prefix,
          ``checkpoints`` a list and ``latest`` its last file (or null);
        - each entry: an object with exactly the keys ``file``, ``epoch``, ``metrics``; ``file`` a bare
          name ``{prefix}_epoch{NNNN}.pkl`` exactly as the manager writes it (no directory, no ``..``,
          not absolute, inside ``checkpoint_directory``); ``epoch`` an int >= 1 (not a bool) equal to
          the number in the file name; ``metrics`` an object of known metric names -> finite number or
          null; epochs strictly increasing (no duplicates).

        Raises
        ------
        CheckpointError
            If the index cannot be read, is not JSON, or breaks a rule above: the message names the
            index, the entry (``checkpoints[i]``) and the field, the rule and the value found.
        """
        try:
            raw = self.index_path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise CheckpointError(
                f"the checkpoint index {str(self.index_path)!r} is unreadable: {type(exc).__name__}: {exc}"
            ) from None
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise CheckpointError(
                f"the checkpoint index {str(self.index_path)!r} is unreadable (not valid JSON): {exc}"
            ) from None
        return self._check_index(data)

    def _check_index(self, data) -> list:
        """Validate a parsed index (see :meth:`read_index`); return its entries, metrics as floats."""
        def invalid(where: str, rule: str, value) -> CheckpointError:
            return CheckpointError(
                f"the checkpoint index {str(self.index_path)!r} is invalid: {where} must be {rule}, "
                f"got {_short_repr(value)}. Nothing was deleted; repair or remove the index"
            )

        prefix = self.config.prefix
        if not isinstance(data, dict):
            raise invalid("the top level", "a JSON object", data)
        if set(data) != set(_INDEX_KEYS):
            raise invalid("the top level", f"an object with exactly the keys {list(_INDEX_KEYS)}", sorted(data))
        if data["format"] != _INDEX_FORMAT:
            raise invalid("'format'", repr(_INDEX_FORMAT), data["format"])
        version = data["format_version"]
        if not _is_int(version) or version < 1:
            raise invalid("'format_version'", "an int >= 1", version)
        if version > _INDEX_FORMAT_VERSION:
            raise invalid("'format_version'", f"at most {_INDEX_FORMAT_VERSION} (the newest this minikd "
                          "understands; upgrade minikd to read it)", version)
        if data["prefix"] != prefix:
            raise invalid("'prefix'", f"{prefix!r}, this checkpoint_config's prefix", data["prefix"])
        if data["best_metric"] not in _METRICS:
            raise invalid("'best_metric'", f"one of {list(_METRICS)}", data["best_metric"])
        if not isinstance(data["lower_is_better"], bool):
            raise invalid("'lower_is_better'", "true or false", data["lower_is_better"])
        if not _is_int(data["keep_best_n"]) or data["keep_best_n"] < 0:
            raise invalid("'keep_best_n'", "an int >= 0", data["keep_best_n"])
        if not isinstance(data["checkpoints"], list):
            raise invalid("'checkpoints'", "a list", data["checkpoints"])

        entries = []
        for i, entry in enumerate(data["checkpoints"]):
            where = f"checkpoints[{i}]"
            if not isinstance(entry, dict) or set(entry) != set(_ENTRY_KEYS):
                shown = sorted(entry) if isinstance(entry, dict) else entry
                raise invalid(where, f"an object with exactly the keys {list(_ENTRY_KEYS)}", shown)
            name, epoch, metrics = entry["file"], entry["epoch"], entry["metrics"]
            name_epoch = self._own_checkpoint_epoch(name)
            if name_epoch is None or not _names_a_file_in(self.directory, name):
                raise invalid(f"{where}['file']", f"a bare file name '{prefix}_epochNNNN.pkl' of this "
                              "directory (no path, no '..', as the manager writes it)", name)
            if not _is_int(epoch) or epoch < 1:
                raise invalid(f"{where}['epoch']", "an int >= 1 (not a bool)", epoch)
            if epoch != name_epoch:
                raise invalid(f"{where}['epoch']", f"{name_epoch}, the epoch in its file name {name!r}", epoch)
            if entries and epoch <= entries[-1]["epoch"]:
                raise invalid(f"{where}['epoch']", f"greater than the epoch before it ({entries[-1]['epoch']}): "
                              "entries are strictly increasing, without duplicates", epoch)
            if not isinstance(metrics, dict):
                raise invalid(f"{where}['metrics']", "an object of metric name -> number or null", metrics)
            checked = {}
            for key, value in metrics.items():
                if key not in _METRICS:
                    raise invalid(f"{where}['metrics']", f"keyed by metric names {list(_METRICS)}", key)
                number = _finite_float(value)
                if value is not None and number is None:
                    raise invalid(f"{where}['metrics'][{key!r}]", "a finite number or null", value)
                checked[key] = number
            entries.append({"file": name, "epoch": epoch, "metrics": checked})
        latest = entries[-1]["file"] if entries else None
        if data["latest"] != latest:
            raise invalid("'latest'", f"{latest!r}, the file of the last entry", data["latest"])
        return entries

    def _write_index(self, entries: list) -> None:
        data = {
            "format": _INDEX_FORMAT, "format_version": _INDEX_FORMAT_VERSION,
            "prefix": self.config.prefix, "best_metric": self.config.best_metric,
            "lower_is_better": self.config.lower_is_better, "keep_best_n": self.config.keep_best_n,
            "latest": entries[-1]["file"] if entries else None,
            "checkpoints": entries,
        }
        _atomic_write_bytes(self.index_path, (json.dumps(data, indent=2) + "\n").encode())

    def latest_path(self) -> Path | None:
        """Path of the most recent kept checkpoint, or None."""
        entries = self.read_index()
        return self.directory / entries[-1]["file"] if entries else None

    # -- one run per directory and prefix
    def acquire(self) -> None:
        """Take the lock file ``{prefix}.lock``: one run per directory and prefix at a time.

        Creates ``checkpoint_directory`` if needed. Idempotent: a manager that holds the lock keeps it.
        ``train`` calls this before :meth:`begin` and :meth:`release` in a ``finally``.

        On POSIX the lock is ``fcntl.flock(LOCK_EX | LOCK_NB)`` on a file descriptor held open until
        :meth:`release`: the kernel drops it when the process ends, however it ends (``kill -9``
        included), so a lock is never stale. The file records the holder's pid and host name for the
        error message. Without ``fcntl`` (Windows) the file is created with ``O_CREAT | O_EXCL``; a file
        left by a process of this host that no longer runs (``os.kill(pid, 0)`` fails) is taken over;
        where that check cannot be made (another host, Windows) a left-over file must be deleted by hand,
        as the error says. On a file system that cannot lock (some network file systems) a
        ``UserWarning`` says so and the run goes on unlocked.

        Raises
        ------
        CheckpointError
            If another run holds the lock; the message names the directory and the holder's pid and
            host. A ``CheckpointError`` rather than a ``ValueError``: no argument is wrong, the
            directory is busy, and the same call succeeds once the other run has ended. Also if the
            directory or the lock file cannot be created.
        """
        if self._lock_mode is not None:
            return
        self._make_directory()
        try:
            if fcntl is not None:
                self._acquire_flock()
            else:
                self._acquire_exclusive()
        except OSError as exc:
            raise CheckpointError(
                f"could not create the lock file {str(self.lock_path)!r}: {type(exc).__name__}: {exc}"
            ) from exc

    def release(self) -> None:
        """Give the lock back and delete the lock file. Idempotent; never raises an ``OSError``."""
        mode, fd = self._lock_mode, self._lock_fd
        self._lock_mode = self._lock_fd = None
        try:
            if mode in ("flock", "exclusive"):
                try:  # while we hold it nobody else can have replaced it: this is our file
                    _unlink_quietly(self.lock_path)
                except OSError:
                    pass
        finally:  # even if interrupted: closing the descriptor is what releases the flock
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _acquire_flock(self) -> None:
        for _ in range(10):
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise self._held_error() from None
                except OSError as exc:
                    warnings.warn(
                        f"could not lock {str(self.lock_path)!r} ({type(exc).__name__}: {exc}): the file system "
                        "does not support locks, so a second run in this checkpoint_directory is not detected",
                        UserWarning, stacklevel=4)
                    self._lock_mode = "unlocked"
                    os.close(fd)
                    return
                # The last holder deletes the file on release: if it did so after our open, we locked a
                # file that is no longer the lock file. Lock the current one instead.
                mine, now = os.fstat(fd), _stat_or_none(self.lock_path)
                if now is not None and (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
                    _write_holder(fd)
                    self._lock_mode, self._lock_fd = "flock", fd
                    return
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        raise CheckpointError(f"could not take the lock file {str(self.lock_path)!r}: it kept being replaced")

    def _acquire_exclusive(self) -> None:
        for _ in range(2):
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                pid, host = _read_holder(self.lock_path)
                if not _holder_is_gone(pid, host):
                    raise self._held_error(stale_hint=True) from None
                _unlink_quietly(self.lock_path)  # its holder is dead: take it over
                continue
            self._lock_mode = "exclusive"
            try:
                _write_holder(fd)
            finally:
                os.close(fd)
            return
        raise self._held_error(stale_hint=True)

    def _held_error(self, stale_hint: bool = False) -> CheckpointError:
        pid, host = _read_holder(self.lock_path)
        who = f"pid {pid} on {host}" if pid is not None else "a process whose pid is not recorded yet"
        hint = (f" If no run is using it (its process is gone), delete {self.lock_path.name!r}." if stale_hint
                else "")
        return CheckpointError(
            f"checkpoint_directory {str(self.directory)!r} is in use: another run with prefix "
            f"{self.config.prefix!r} holds its lock file {self.lock_path.name!r} ({who}). Wait for that run "
            f"to finish, or choose another checkpoint_directory or prefix.{hint}"
        )

    # -- run hooks
    def check_run(self, has_validation: bool) -> None:
        """Fail early if ``best_metric`` cannot be produced by this run or ``checkpoint_directory``
        cannot be a directory (it, or one of its parents, is a file)."""
        self._check_directory()
        if self.config.best_metric in _VAL_METRICS and not has_validation:
            raise ValueError(
                f"checkpoint_config.best_metric is {self.config.best_metric!r}, which needs "
                "validation_data, but validation_data is None; pass validation_data or use best_metric='loss'"
            )

    def _check_directory(self) -> None:
        """ValueError if the directory exists as a file or a parent of it is a file (it could never be created)."""
        for path in (self.directory, *self.directory.parents):
            if path.exists() or path.is_symlink():
                if not path.is_dir():
                    what = "is" if path == self.directory else f"is inside {str(path)!r}, which is"
                    raise ValueError(
                        f"checkpoint_config.checkpoint_directory {str(self.directory)!r} {what} a file, "
                        "not a directory; choose another checkpoint_directory"
                    )
                return

    def begin(self, resumed_epoch: int | None) -> None:
        """Start a run: refuse to mix a new run into an existing one; on resume, drop later checkpoints.

        Then remove the orphans of interrupted saves, with one ``UserWarning`` listing them: temporary
        files of this prefix, and ``{prefix}_epoch{NNNN}.pkl`` files the index does not name (except
        the one of ``resumed_epoch``: it may be the file this run was resumed from). A directory with
        orphans but no index holds no run: it is cleaned and the new run starts.
        """
        entries = self.read_index()
        if resumed_epoch is None:
            if entries:
                raise ValueError(
                    f"checkpoint_directory {str(self.directory)!r} already holds a run with prefix "
                    f"{self.config.prefix!r} ({len(entries)} checkpoint(s), see {self.index_path.name}); "
                    "pass resume_from='latest' to continue it, or choose another directory or prefix"
                )
        else:
            later = [e for e in entries if e["epoch"] > resumed_epoch]
            if later:
                warnings.warn(
                    f"resuming from epoch {resumed_epoch}: discarding {len(later)} later checkpoint(s) of the "
                    f"abandoned continuation ({', '.join(e['file'] for e in later)})", UserWarning, stacklevel=3)
                entries = [e for e in entries if e["epoch"] <= resumed_epoch]
                try:
                    self._write_index(entries)
                except OSError as exc:
                    raise CheckpointError(
                        f"could not write the checkpoint index {str(self.index_path)!r}: {type(exc).__name__}: "
                        f"{exc}. The index and the checkpoints it names are intact; nothing was discarded."
                    ) from exc
                for e in later:  # only now that the index no longer names them
                    try:
                        self._remove(e["file"])
                    except OSError as exc:  # the index is right; the next begin() retries
                        warnings.warn(f"could not delete the discarded checkpoint {e['file']!r}: {exc}",
                                      UserWarning, stacklevel=3)
        self._remove_orphans(entries, resumed_epoch)

    def _remove_orphans(self, entries: list, resumed_epoch: int | None) -> None:
        named = {e["file"] for e in entries}
        try:
            names = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise CheckpointError(
                f"could not list the checkpoint directory {str(self.directory)!r}: {type(exc).__name__}: {exc}"
            ) from exc
        orphans = [name for name in names if self._temp_re.fullmatch(name) or (
            name not in named and self._own_checkpoint_epoch(name) not in (None, resumed_epoch))]
        if not orphans:
            return
        removed, failed = [], []
        for name in orphans:
            try:
                self._remove(name)
                removed.append(name)
            except OSError as exc:
                failed.append(f"{name} ({type(exc).__name__}: {exc})")
        message = (f"checkpoint_directory {str(self.directory)!r}: removed {len(removed)} file(s) left by an "
                   f"interrupted save (not named by {self.index_path.name}): {', '.join(removed) or '-'}")
        if failed:
            message += f"; could not remove {', '.join(failed)}"
        warnings.warn(message, UserWarning, stacklevel=4)

    def due(self, epoch: int, final: bool) -> bool:
        """Whether the checkpoint of ``epoch`` is to be written: every ``save_every_epochs``, and the final one."""
        return epoch % self.config.save_every_epochs == 0 or final

    def save(self, epoch: int, state: dict, metrics: dict) -> Path:
        """Write the checkpoint of ``epoch``, update the index, prune what is no longer kept.

        Parameters
        ----------
        epoch : int
            The number of completed epochs.
        state : dict
            The plain-data state to store (built by the trainer; see :func:`load_checkpoint`).
        metrics : dict of str -> float or None
            The epoch's metrics, recorded in the index and used to rank checkpoints.

        Raises
        ------
        CheckpointError
            If the directory, the checkpoint or the index cannot be written (its ``__cause__`` is the
            ``OSError``). The earlier checkpoints and the index are then as they were, and so is the
            directory (a checkpoint whose index entry could not be written is removed again).
        """
        epoch = check_int(epoch, "epoch", minimum=1)
        return self._commit(epoch, self._checkpoint_name(epoch), {**state, "metrics": metrics}, metrics)

    def _commit(self, epoch: int, name: str, state: dict, metrics: dict) -> Path:
        """Write the checkpoint ``name`` of ``epoch``, then the index naming it, then prune. Plain data only.

        Parameters
        ----------
        epoch : int >= 1
        name : str
            ``{prefix}_epoch{NNNN}.pkl`` for that epoch.
        state : dict
            The checkpoint's plain data, as :func:`save_checkpoint` takes it.
        metrics : dict
            Metric name -> float or None, for the index (a non-finite value is recorded as null: it
            ranks last, as a missing one does).

        Notes
        -----
        The order makes every interruption safe. (1) The checkpoint is written atomically. (2) The index
        that names it, and no longer names what keep-best-N drops, replaces the old one atomically.
        (3) Only then are the dropped files deleted. If anything fails or is interrupted (``KeyboardInterrupt``
        too) before step (2) is complete, the new checkpoint is removed again, but only if the index **on
        disk** does not name it: the index is read again to decide, since the interruption can land just
        after its ``os.replace``. Whatever a crash or a failed removal leaves (a temporary file, an
        unindexed checkpoint, a dropped file not yet deleted) is an orphan that the next :meth:`begin` removes.
        """
        if name != self._checkpoint_name(epoch):
            raise ValueError(f"name must be {self._checkpoint_name(epoch)!r} for epoch {epoch}, got {name!r}")
        self._make_directory()
        old_entries = self.read_index()
        later = [e["file"] for e in old_entries if e["epoch"] > epoch]
        if later:
            raise CheckpointError(
                f"cannot save epoch {epoch}: the index {str(self.index_path)!r} already names later checkpoints "
                f"({', '.join(later)}); begin(resumed_epoch) discards them when a run is resumed"
            )
        entry = {"file": name, "epoch": epoch, "metrics": {k: _finite_float(v) for k, v in metrics.items()}}
        keep, drop = self._select([e for e in old_entries if e["epoch"] < epoch] + [entry])
        path = self.directory / name
        try:
            save_checkpoint(path, state)
            self._write_index(keep)
        except BaseException as exc:  # also KeyboardInterrupt: the directory must match the index
            self._remove_if_unindexed(name)
            if isinstance(exc, CheckpointError):  # from save_checkpoint: nothing was replaced
                raise CheckpointError(
                    f"{exc} The earlier checkpoints and the index {self.index_path.name!r} are intact."
                ) from exc.__cause__
            if isinstance(exc, OSError):
                raise CheckpointError(
                    f"could not write the checkpoint index {str(self.index_path)!r}: {type(exc).__name__}: "
                    f"{exc}. The index and the checkpoints it names are intact; the checkpoint of "
                    f"epoch {epoch} was not kept."
                ) from exc
            raise
        for e in drop:
            try:
                self._remove(e["file"])
            except OSError as exc:  # the new checkpoint and index are in place: only warn
                warnings.warn(
                    f"could not delete the pruned checkpoint {e['file']!r} (no longer in the index): {exc}",
                    UserWarning, stacklevel=3)
        return path

    def _remove_if_unindexed(self, name: str) -> None:
        """After a failed save: delete ``name`` unless the index on disk names it; if unsure, leave it."""
        try:
            named = {e["file"] for e in self.read_index()}
        except Exception:  # cannot tell now: the next begin() decides from the index
            return
        if name not in named:
            try:
                self._remove(name)
            except OSError:
                pass  # an orphan: the next begin() removes it

    def _select(self, entries: list):
        """Split entries into (kept, dropped): the keep_best_n best by best_metric, plus the latest."""
        n = self.config.keep_best_n
        if n == 0 or len(entries) <= 1:
            return entries, []
        latest = entries[-1]
        metric, lower = self.config.best_metric, self.config.lower_is_better

        def rank(e):
            v = e["metrics"].get(metric)
            if v is None or not np.isfinite(v):
                return (1, 0.0, e["epoch"])
            return (0, v if lower else -v, e["epoch"])

        best = sorted(entries, key=rank)[:n]
        kept_files = {e["file"] for e in best} | {latest["file"]}
        keep = [e for e in entries if e["file"] in kept_files]
        drop = [e for e in entries if e["file"] not in kept_files]
        return keep, drop


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite_float(value) -> float | None:
    """``value`` as a float if it is a finite int or float (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) else None


def _short_repr(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
