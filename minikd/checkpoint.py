"""Checkpoints that never lose a run: atomic saves, keep-best-N that works, exact resume, safe loading.

A checkpoint is a pickled **dict of plain data** (numbers, strings, lists, dicts and NumPy
arrays) with a format version, never a pickled live object (nanoGPT's habit). It holds everything
a resumed run needs to continue bit for bit: the student's architecture and parameters, the
optimizer's state (momentum buffers, Adam moments), the state of the trainer's random generator,
the early-stopping state, the history so far, and the trainer's and strategy's settings.

Files in ``checkpoint_directory``:

- ``{prefix}_epoch{NNNN}.pkl`` — one checkpoint per saved epoch;
- ``{prefix}_index.json`` — a human-readable list of the checkpoints kept, with their metrics.

Safety
------
Unpickling a file from a stranger can run arbitrary code. :func:`load_checkpoint` uses a
restricted unpickler that resolves only the few NumPy functions that rebuild arrays, dtypes and
scalars; anything else (``os.system``, ``eval``, ``subprocess``, any class) is refused with a
:class:`CheckpointError` before it can run.

Durability
----------
Every file is written to a temporary file in the same directory, flushed, fsync'ed and moved into
place with ``os.replace`` (atomic on POSIX and Windows); the index is rewritten the same way only
after the checkpoint it names is in place, and pruned files are deleted only after the index that
no longer names them is in place. A failure at any point leaves the earlier checkpoints and an
index that describes them: a write that fails (an unwritable directory, a full disk) raises a
:class:`CheckpointError` naming the file, with the ``OSError`` as its ``__cause__``, and a
checkpoint whose index entry could not be written is removed again. A diverged state (non-finite
parameters or optimizer state) is never written: saving it raises ``TrainingDivergedError``.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._validation import check_int, describe

__all__ = [
    "CheckpointError",
    "DistillationCheckpointConfig",
    "CheckpointManager",
    "Checkpoint",
    "load_checkpoint",
    "save_checkpoint",
]

FORMAT = "minikd-checkpoint"
FORMAT_VERSION = 1
_METRICS = ("loss", "soft_loss", "hard_loss", "val_loss", "val_accuracy", "teacher_agreement")
_VAL_METRICS = ("val_loss", "val_accuracy", "teacher_agreement")


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
        for name, value in (("lower_is_better", lower_is_better), ("save_teacher", save_teacher),
                            ("save_student", save_student)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {describe(value)}")
        self.lower_is_better = bool(lower_is_better)
        self.save_teacher = bool(save_teacher)
        self.save_student = bool(save_student)
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
    """Write ``data`` to ``path`` atomically: temp file in the same directory, fsync, os.replace."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the NumPy array/dtype/scalar constructors; refuses every other global."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise CheckpointError(
            f"refusing to load {module}.{name}: a minikd checkpoint holds only plain data and NumPy "
            "arrays, so this file is not one (or was tampered with). Nothing in it was run."
        )


def save_checkpoint(path, state: dict) -> Path:
    """Write a checkpoint dict atomically (a pickle of plain data, protocol 4).

    Parameters
    ----------
    path : str or path
        Destination file; its directory must exist.
    state : dict
        Plain data: the dict built by :class:`CheckpointManager` (format keys are added here).

    Returns
    -------
    Path
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a path (str or os.PathLike), got {describe(path)}")
    path = Path(path)
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict of plain data, got {describe(state)}")
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    try:
        data = pickle.dumps(payload, protocol=4)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise TypeError(f"state must hold only plain data and NumPy arrays, got something unpicklable: {exc}") from None
    try:
        _atomic_write_bytes(path, data)
    except OSError as exc:
        raise CheckpointError(
            f"could not write the checkpoint {str(path)!r}: {type(exc).__name__}: {exc}. "
            "Nothing was replaced: any earlier file of that name is intact."
        ) from exc
    return path


def _read_checkpoint_dict(path) -> dict:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a path (str or os.PathLike), got {describe(path)}")
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {str(path)!r}: the file does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(f"{str(path)!r} is a directory, not a checkpoint file") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {str(path)!r}: {exc}") from None
    try:
        obj = _RestrictedUnpickler(io.BytesIO(raw)).load()
    except CheckpointError as exc:
        raise CheckpointError(f"{str(path)!r}: {exc}") from None
    except Exception as exc:  # truncated or corrupt data raise many kinds of errors
        raise CheckpointError(
            f"{str(path)!r} is not a readable minikd checkpoint (truncated or corrupt): "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a minikd checkpoint (no '{FORMAT}' format marker)")
    version = obj.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{str(path)!r} has checkpoint format version {version!r}, newer than this minikd "
            f"understands ({FORMAT_VERSION}); upgrade minikd to load it"
        )
    for key in ("epoch", "student", "optimizer", "rng_state", "early_stopping", "history", "trainer", "metrics"):
        if key not in obj:
            raise CheckpointError(f"{str(path)!r} is missing the field {key!r}: corrupt or foreign checkpoint")
    return obj


# ---------------------------------------------------------------------------- loaded checkpoints
@dataclass
class Checkpoint:
    """A loaded checkpoint.

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
    optimizer_state, optimizer_config, trainer_config, rng_state, early_stopping_state : dict
    minikd_version : str
    """

    path: Path
    epoch: int
    metrics: dict
    student: object
    teacher: object
    history: object
    optimizer_state: dict
    optimizer_config: dict
    trainer_config: dict
    rng_state: dict
    early_stopping_state: dict
    minikd_version: str
    raw: dict = field(repr=False, default_factory=dict)

    def restore_into(self, trainer, student, optimizer, history) -> None:
        """Put this checkpoint's state into a trainer, student, optimizer and history (for resume).

        Raises
        ------
        ValueError
            If the student's architecture, the optimizer, the strategy, the seed or the trainer
            differ from the checkpoint's: a resumed run would silently not be the same run.
        """
        if self.student is None:
            raise ValueError(f"checkpoint {str(self.path)!r} holds no student (save_student=False); cannot resume")
        saved, current = self.student.get_config(), student.get_config()
        if saved != current:
            raise ValueError(
                f"cannot resume: the student's architecture {current} differs from the checkpoint's {saved}"
            )
        mine = trainer.get_config()
        for key in sorted(set(mine) | set(self.trainer_config)):
            if mine.get(key) != self.trainer_config.get(key):
                raise ValueError(
                    f"cannot resume: trainer setting {key!r} is {mine.get(key)!r} now but "
                    f"{self.trainer_config.get(key)!r} in the checkpoint {str(self.path)!r}; "
                    "a resumed run must use the same strategy, seed and early-stopping settings"
                )
        opt_now = {"name": type(optimizer).__name__, **optimizer.get_config()}
        if opt_now != self.optimizer_config:
            raise ValueError(
                f"cannot resume: the optimizer {opt_now} differs from the checkpoint's {self.optimizer_config}"
            )
        student.set_params(self.student.params)
        optimizer.load_state_dict(self.optimizer_state)
        trainer.rng.bit_generator.state = self.rng_state
        trainer.early_stopping.load_state_dict(self.early_stopping_state)
        for key, value in self.history.__dict__.items():
            setattr(history, key, list(value) if isinstance(value, list) else value)


def load_checkpoint(path) -> Checkpoint:
    """Load a minikd checkpoint safely.

    Parameters
    ----------
    path : str or path
        A ``{prefix}_epoch{NNNN}.pkl`` file.

    Returns
    -------
    Checkpoint

    Raises
    ------
    CheckpointError
        Missing, truncated, corrupt, foreign or newer-format files, and any pickle that asks to
        load something other than plain data and NumPy arrays (nothing in such a file is run).
    """
    from .mlp import MLP
    from .trainer import History

    raw = _read_checkpoint_dict(path)
    try:
        student = None
        if raw["student"] is not None:
            student = MLP.from_config(raw["student"]["config"], params=raw["student"]["params"])
        teacher = None
        if raw.get("teacher") is not None:
            teacher = MLP.from_config(raw["teacher"]["config"], params=raw["teacher"]["params"])
        history = History.from_dict(raw["history"])
        epoch = int(raw["epoch"])
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"{str(path)!r} holds malformed checkpoint data: {type(exc).__name__}: {exc}") from None
    return Checkpoint(
        path=Path(path), epoch=epoch, metrics=dict(raw["metrics"]), student=student, teacher=teacher,
        history=history, optimizer_state=raw["optimizer"]["state"], optimizer_config=raw["optimizer"]["config"],
        trainer_config=raw["trainer"], rng_state=raw["rng_state"], early_stopping_state=raw["early_stopping"],
        minikd_version=str(raw.get("minikd_version")), raw=raw,
    )


# ---------------------------------------------------------------------------- the manager
class CheckpointManager:
    """Saves checkpoints during ``train`` according to a :class:`DistillationCheckpointConfig`.

    Keeps ``{prefix}_index.json`` and the directory in agreement: the index lists exactly the
    checkpoint files that are kept, each with its epoch and metrics.

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
        self._resumed = False

    # -- index
    def read_index(self) -> list:
        """The entries of the index (dicts with file, epoch, metrics), oldest first; [] if none."""
        if not self.index_path.exists():
            return []
        try:
            data = json.loads(self.index_path.read_text())
            entries = list(data["checkpoints"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"the checkpoint index {str(self.index_path)!r} is unreadable: {exc}") from None
        return entries

    def _write_index(self, entries: list) -> None:
        data = {
            "format": "minikd-checkpoint-index", "format_version": FORMAT_VERSION,
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

    # -- run hooks
    def check_run(self, has_validation: bool, trainer=None) -> None:
        """Fail early if ``best_metric`` cannot be produced by this run, the teacher cannot be saved,
        or ``checkpoint_directory`` cannot be a directory (it, or one of its parents, is a file)."""
        self._check_directory()
        if self.config.save_teacher and trainer is not None:
            self._teacher_state(trainer)
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
        """Start a run: refuse to mix a new run into an existing one; on resume, drop later checkpoints."""
        entries = self.read_index()
        if resumed_epoch is None:
            if entries:
                raise ValueError(
                    f"checkpoint_directory {str(self.directory)!r} already holds a run with prefix "
                    f"{self.config.prefix!r} ({len(entries)} checkpoint(s), see {self.index_path.name}); "
                    "pass resume_from='latest' to continue it, or choose another directory or prefix"
                )
            return
        later = [e for e in entries if e["epoch"] > resumed_epoch]
        if later:
            warnings.warn(
                f"resuming from epoch {resumed_epoch}: discarding {len(later)} later checkpoint(s) of the "
                f"abandoned continuation ({', '.join(e['file'] for e in later)})", UserWarning, stacklevel=3)
            keep = [e for e in entries if e["epoch"] <= resumed_epoch]
            self._write_index(keep)
            for e in later:
                _unlink_quietly(self.directory / e["file"])

    def on_epoch_end(self, trainer, epoch: int, epochs: int, student, optimizer, history, logs: dict,
                     final: bool) -> Path | None:
        """Save if this epoch is due (every ``save_every_epochs``, and the final one); prune."""
        if not (epoch % self.config.save_every_epochs == 0 or final):
            return None
        return self.save(trainer, epoch, student, optimizer, history, logs)

    def save(self, trainer, epoch: int, student, optimizer, history, logs: dict) -> Path:
        """Write the checkpoint of ``epoch``, update the index, prune what is no longer kept.

        Raises
        ------
        TrainingDivergedError
            If the student's parameters or the optimizer's state are not finite (the last update
            overflowed): such a state is never written, since it could not be loaded or resumed.
        CheckpointError
            If the directory, the checkpoint or the index cannot be written (its ``__cause__`` is the
            ``OSError``). The earlier checkpoints and the index are then as they were, and so is the
            directory (a checkpoint whose index entry could not be written is removed again).
        """
        metrics = {k: (None if logs.get(k) is None else float(logs[k])) for k in _METRICS if k in logs}
        state = {
            "minikd_version": _version(),
            "epoch": int(epoch),
            "metrics": metrics,
            "student": {"config": student.get_config(), "params": {k: v.copy() for k, v in student.params.items()}}
            if self.config.save_student else None,
            "teacher": self._teacher_state(trainer) if self.config.save_teacher else None,
            "optimizer": {"config": {"name": type(optimizer).__name__, **optimizer.get_config()},
                          "state": optimizer.state_dict()},
            "rng_state": trainer.rng.bit_generator.state,
            "early_stopping": trainer.early_stopping.state_dict(),
            "history": history.to_dict(),
            "trainer": trainer.get_config(),
        }
        _check_finite_state(epoch, student.params, state["optimizer"]["state"])
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckpointError(
                f"could not create the checkpoint directory {str(self.directory)!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        name = f"{self.config.prefix}_epoch{epoch:04d}.pkl"
        old_entries = self.read_index()
        try:
            path = save_checkpoint(self.directory / name, state)
        except CheckpointError as exc:
            raise CheckpointError(
                f"{exc} The earlier checkpoints and the index {self.index_path.name!r} are intact."
            ) from exc.__cause__
        entries = [e for e in old_entries if e["file"] != name]
        entries.append({"file": name, "epoch": int(epoch), "metrics": metrics})
        keep, drop = self._select(entries)
        try:
            self._write_index(keep)
        except BaseException as exc:  # also KeyboardInterrupt: the directory must match the index
            if all(e["file"] != name for e in old_entries):  # not named by the index: remove it again
                try:
                    _unlink_quietly(path)
                except OSError:
                    pass
            if not isinstance(exc, OSError):
                raise
            raise CheckpointError(
                f"could not write the checkpoint index {str(self.index_path)!r}: {type(exc).__name__}: "
                f"{exc}. The index and the checkpoints it names are intact; the checkpoint of "
                f"epoch {epoch} was not kept."
            ) from exc
        for e in drop:
            try:
                _unlink_quietly(self.directory / e["file"])
            except OSError as exc:  # the new checkpoint and index are in place: only warn
                warnings.warn(
                    f"could not delete the pruned checkpoint {e['file']!r} (no longer in the index): {exc}",
                    UserWarning, stacklevel=2)
        return path

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

    @staticmethod
    def _teacher_state(trainer):
        teacher = getattr(trainer, "teacher", None)
        model = getattr(teacher, "model", None)
        if model is None or not hasattr(model, "get_config"):
            raise ValueError(
                "checkpoint_config.save_teacher=True needs a teacher that is an MLP (or a "
                f"TeacherModelWrapper of one), got {describe(teacher)}"
            )
        return {"config": model.get_config(), "params": {k: v.copy() for k, v in model.params.items()}}


def _check_finite_state(epoch: int, params: dict, optimizer_state: dict) -> None:
    """Refuse to checkpoint a diverged state (load_checkpoint and resume would reject it)."""
    arrays = [(f"the student's params[{k!r}]", v) for k, v in params.items()]
    for buffer_name, buffers in optimizer_state.get("buffers", {}).items():
        arrays += [(f"the optimizer's {buffer_name!r} state for {k!r}", v) for k, v in buffers.items()]
    for what, arr in arrays:
        if not np.isfinite(arr).all():
            from .trainer import TrainingDivergedError

            raise TrainingDivergedError(
                f"training diverged at epoch {epoch}: after its last update {what} is not finite. "
                "No checkpoint was written for this epoch; the earlier checkpoints are intact. "
                "Try a smaller learning rate.", epoch=epoch)


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _version() -> str:
    from . import __version__

    return __version__
