"""The checkpoint index ``{prefix}_index.json``: the list of the checkpoints a run keeps, with their metrics.

The index is the run's record of which files are complete and kept: a checkpoint counts once the
index names it. It is read only after every field has been checked (:meth:`CheckpointIndex.read`),
so that a damaged or crafted index can never point the manager at a file it did not write, and it is
replaced atomically (:meth:`CheckpointIndex.write`). Imports :mod:`~minikd.checkpoint.config`,
:mod:`~minikd.checkpoint.files` and :mod:`~minikd.checkpoint.names` from the package.
"""

from __future__ import annotations

import json
import math

import numpy as np

from .config import _METRICS, CheckpointError, DistillationCheckpointConfig
from .files import _atomic_write_bytes
from .names import CheckpointNames, _names_a_file_in

__all__ = ["CheckpointIndex"]

_INDEX_FORMAT = "minikd-checkpoint-index"
_INDEX_FORMAT_VERSION = 1  # the index's own version, independent of the checkpoint files' FORMAT_VERSION
_INDEX_KEYS = ("format", "format_version", "prefix", "best_metric", "lower_is_better", "keep_best_n", "latest",
               "checkpoints")
_ENTRY_KEYS = ("file", "epoch", "metrics")


class CheckpointIndex:
    """The index file of one checkpoint config: reading it with every field checked, and writing it.

    Parameters
    ----------
    config : DistillationCheckpointConfig
        Its directory and prefix name the file; its ``best_metric``, ``lower_is_better`` and
        ``keep_best_n`` are recorded in it.
    names : CheckpointNames
        The names of this prefix's checkpoint files, the only ones an entry may name.

    Attributes
    ----------
    path : Path
        ``checkpoint_directory / "{prefix}_index.json"``.
    """

    def __init__(self, config: DistillationCheckpointConfig, names: CheckpointNames):
        self.config = config
        self.directory = config.checkpoint_directory
        self.path = self.directory / f"{config.prefix}_index.json"
        self._names = names

    def read(self) -> list:
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
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise CheckpointError(
                f"the checkpoint index {str(self.path)!r} is unreadable: {type(exc).__name__}: {exc}"
            ) from None
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise CheckpointError(
                f"the checkpoint index {str(self.path)!r} is unreadable (not valid JSON): {exc}"
            ) from None
        return self._check(data)

    def _check(self, data) -> list:
        """Validate a parsed index (see :meth:`read`); return its entries, metrics as floats."""
        def invalid(where: str, rule: str, value) -> CheckpointError:
            return CheckpointError(
                f"the checkpoint index {str(self.path)!r} is invalid: {where} must be {rule}, "
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
            name_epoch = self._names.checkpoint_epoch(name)
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

    def write(self, entries: list) -> None:
        """Replace the index, atomically, by one that lists ``entries`` (oldest first) under this config."""
        data = {
            "format": _INDEX_FORMAT, "format_version": _INDEX_FORMAT_VERSION,
            "prefix": self.config.prefix, "best_metric": self.config.best_metric,
            "lower_is_better": self.config.lower_is_better, "keep_best_n": self.config.keep_best_n,
            "latest": entries[-1]["file"] if entries else None,
            "checkpoints": entries,
        }
        _atomic_write_bytes(self.path, (json.dumps(data, indent=2) + "\n").encode())


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
