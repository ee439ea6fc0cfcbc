"""The checkpoint manager: which epochs ``train`` saves, in what order the files change, which are kept.

:class:`CheckpointManager` is what ``train`` talks to: :meth:`~CheckpointManager.acquire` and
:meth:`~CheckpointManager.release` the directory's lock, :meth:`~CheckpointManager.begin` a run (cleaning
what an interrupted one left), ask whether an epoch is :meth:`~CheckpointManager.due`, and
:meth:`~CheckpointManager.save` it. The order of a save (checkpoint, then index, then deletions) is what
makes every interruption safe; it is stated in :meth:`CheckpointManager._commit`. The last module of the
package: it imports :mod:`~minikd.checkpoint.config`, :mod:`~minikd.checkpoint.files`,
:mod:`~minikd.checkpoint.names`, :mod:`~minikd.checkpoint.index` and :mod:`~minikd.checkpoint.lock`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from .._validation import check_int, describe
from .config import _VAL_METRICS, CheckpointError, DistillationCheckpointConfig
from .files import _unlink_quietly, save_checkpoint
from .index import CheckpointIndex, _finite_float
from .lock import DirectoryLock
from .names import CheckpointNames

__all__ = ["CheckpointManager"]


class CheckpointManager:
    """Saves checkpoints during ``train`` according to a :class:`DistillationCheckpointConfig`.

    Keeps ``{prefix}_index.json`` and the directory in agreement: the index lists exactly the
    checkpoint files that are kept, each with its epoch and metrics.

    The manager touches only the files it writes, all named after the prefix: ``{prefix}_epoch{NNNN}.pkl``,
    ``{prefix}_index.json``, the temporary files of their atomic writes (``.{prefix}_epoch{NNNN}.pkl.*.tmp``,
    ``.{prefix}_index.json.*.tmp``) and, while a run holds it, the lock file ``{prefix}.lock``. Other
    prefixes' files and any other file in the directory are never opened, moved or deleted.

    The manager decides what is written and what is kept; the files have their owners: the index is a
    :class:`~minikd.checkpoint.index.CheckpointIndex`, the lock a :class:`~minikd.checkpoint.lock.DirectoryLock`,
    and the names it may delete are those of a :class:`~minikd.checkpoint.names.CheckpointNames`.

    Parameters
    ----------
    config : DistillationCheckpointConfig

    Attributes
    ----------
    config : DistillationCheckpointConfig
    directory : Path
        ``config.checkpoint_directory``.
    index_path, lock_path : Path
        ``{prefix}_index.json`` and ``{prefix}.lock`` in that directory.
    """

    def __init__(self, config: DistillationCheckpointConfig):
        if not isinstance(config, DistillationCheckpointConfig):
            raise TypeError(f"config must be a DistillationCheckpointConfig, got {describe(config)}")
        self.config = config
        self.directory = config.checkpoint_directory
        self._names = CheckpointNames(config.prefix)
        self._index = CheckpointIndex(config, self._names)
        self._lock = DirectoryLock(self.directory, config.prefix)
        self.index_path = self._index.path
        self.lock_path = self._lock.path

    # -- the files this manager owns
    def _remove(self, name: str) -> None:
        """Delete ``directory / name``, which must be a name this manager writes (the only way it deletes)."""
        if not self._names.is_own_file(name):  # unreachable after read_index's checks: a last line of defence
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
        damaged or crafted can never point the manager at a file it did not write; the rules are
        listed in :meth:`CheckpointIndex.read <minikd.checkpoint.index.CheckpointIndex.read>`.

        Raises
        ------
        CheckpointError
            If the index cannot be read, is not JSON, or breaks a rule: the message names the
            index, the entry (``checkpoints[i]``) and the field, the rule and the value found.
        """
        return self._index.read()

    def _write_index(self, entries: list) -> None:
        """Replace the index by one that lists ``entries`` (the one place the manager writes it)."""
        self._index.write(entries)

    def latest_path(self) -> Path | None:
        """Path of the most recent kept checkpoint, or None."""
        entries = self.read_index()
        return self.directory / entries[-1]["file"] if entries else None

    # -- one run per directory and prefix
    def acquire(self) -> None:
        """Take the lock file ``{prefix}.lock``: one run per directory and prefix at a time.

        Creates ``checkpoint_directory`` if needed. Idempotent: a manager that holds the lock keeps it.
        ``train`` calls this before :meth:`begin` and :meth:`release` in a ``finally``.

        How the lock works (``fcntl.flock``, or ``O_EXCL`` and a liveness check without ``fcntl``) is
        described in :meth:`DirectoryLock.acquire <minikd.checkpoint.lock.DirectoryLock.acquire>`.

        Raises
        ------
        CheckpointError
            If another run holds the lock; the message names the directory and the holder's pid and
            host. A ``CheckpointError`` rather than a ``ValueError``: no argument is wrong, the
            directory is busy, and the same call succeeds once the other run has ended. Also if the
            directory or the lock file cannot be created.
        """
        if self._lock.held:
            return
        self._make_directory()
        self._lock.acquire()

    def release(self) -> None:
        """Give the lock back and delete the lock file. Idempotent; never raises an ``OSError``."""
        self._lock.release()

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
        orphans = [name for name in names if self._names.is_temporary(name) or (
            name not in named and self._names.checkpoint_epoch(name) not in (None, resumed_epoch))]
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
        return self._commit(epoch, self._names.checkpoint(epoch), {**state, "metrics": metrics}, metrics)

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
        if name != self._names.checkpoint(epoch):
            raise ValueError(f"name must be {self._names.checkpoint(epoch)!r} for epoch {epoch}, got {name!r}")
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
