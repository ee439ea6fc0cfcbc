"""What a training run is made of, as plain data: the pieces the trainer and the checkpoint files share.

This module sits below both :mod:`minikd.trainer` (which owns a run and gives and takes its state)
and :mod:`minikd.checkpoint` (which stores that state in files and validates it when it reads
them); neither imports the other for it.

- :class:`History` — the per-epoch record of a run;
- :class:`TrainingDivergedError` — a loss, gradient or parameter that stopped being finite;
- the **run-state schema**: ``check_*`` functions that validate each part of a trainer's
  ``state_dict()`` (history, early stopping, random generator, fingerprint) as read from a
  file, and :func:`param_spec`/:func:`check_arrays_like` to check arrays against the
  student's parameters. Each raises ``ValueError`` or ``TypeError`` naming the field (as a
  path such as ``history['loss'][3]``), the rule and the value received; nothing here runs
  code from the data or allocates more than the data holds.
"""

from __future__ import annotations

import hashlib
import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from ._validation import describe

__all__ = [
    "History",
    "TrainingDivergedError",
    "check_dict",
    "param_spec",
    "check_arrays_like",
    "check_history_state",
    "check_early_stopping_state",
    "check_rng_state",
    "check_fingerprint",
    "hash_array",
    "FINGERPRINT_KEYS",
]


class TrainingDivergedError(RuntimeError):
    """Raised when a loss or gradient stops being finite; the student keeps its last finite parameters.

    Attributes
    ----------
    epoch, batch : int
        Where it happened (both 1-based).
    """

    def __init__(self, message: str, epoch: int | None = None, batch: int | None = None):
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch


@dataclass
class History:
    """Per-epoch record of a training run (lists have one entry per completed epoch).

    Attributes
    ----------
    epochs : list of int
        The 1-based epoch numbers.
    loss, soft_loss, hard_loss : list of float (None entries where a part does not exist)
        Training loss, the **sample-weighted** mean over the epoch's batches (not the mean of
        batch means, which over-weights a short last batch).
    val_loss, val_accuracy, teacher_agreement : list of float
        With ``validation_data`` (empty otherwise). ``teacher_agreement`` is the share of
        validation samples on which the student's and teacher's argmax agree.
    epoch_time : list of float
        Wall-clock seconds per epoch.
    learning_rate, temperature : list of float
        The optimizer's learning rate and the strategy's temperature that each epoch used (they change
        when given as a :mod:`minikd.schedules` schedule); None where the optimizer has no
        ``learning_rate`` or the run was saved before these were recorded.
    best_epoch : int or None
        The epoch with the best monitored value (early stopping), else the last epoch.
    stopped_epoch : int or None
        The epoch after which early stopping (or a callback) ended the run; None if it ran out.
    """

    epochs: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    soft_loss: list = field(default_factory=list)
    hard_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    teacher_agreement: list = field(default_factory=list)
    epoch_time: list = field(default_factory=list)
    learning_rate: list = field(default_factory=list)
    temperature: list = field(default_factory=list)
    best_epoch: int | None = None
    stopped_epoch: int | None = None

    def to_dict(self) -> dict:
        """Plain-data copy (for checkpoints)."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        """Rebuild from :meth:`to_dict` output."""
        h = cls()
        for k in h.__dict__:
            if k in d:
                setattr(h, k, list(d[k]) if isinstance(d[k], list) else d[k])
        return h

    def __len__(self) -> int:
        return len(self.epochs)


_HISTORY_LISTS = ("epochs", "loss", "soft_loss", "hard_loss", "val_loss", "val_accuracy",
                  "teacher_agreement", "epoch_time", "learning_rate", "temperature")
_RECORDED_LATER = ("learning_rate", "temperature")  # absent from files written before schedules
_VALIDATION_LISTS = ("val_loss", "val_accuracy", "teacher_agreement")

#: The keys of a run's fingerprint (see ``KnowledgeDistillationTrainerBase`` in minikd.trainer).
FINGERPRINT_KEYS = ("n_samples", "n_features", "batch_size", "X", "y", "validation", "teacher")


# ---------------------------------------------------------------------------- small rules
def _fail(where: str, rule: str, value) -> ValueError:
    return ValueError(f"{where} must be {rule}, got {describe(value)}")


def check_dict(value, where: str, keys=None) -> dict:
    """Check that ``value`` is a dict (with ``keys``: with exactly those keys); return it."""
    if not isinstance(value, dict):
        raise _fail(where, "a dict", value)
    if keys is not None and set(value) != set(keys):
        missing = sorted(set(keys) - set(value))
        extra = sorted(map(str, set(value) - set(keys)))
        raise ValueError(f"{where} must have exactly the keys {sorted(keys)}; missing {missing}, unexpected {extra}")
    return value


def _check_whole(value, where: str, minimum: int | None = None, maximum: int | None = None,
                 optional: bool = False) -> int | None:
    """A Python int (not a bool) within the bounds (or None when optional)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, "an integer" + (" or None" if optional else ""), value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        lo = "" if minimum is None else f">= {minimum}"
        hi = "" if maximum is None else f"<= {maximum}"
        raise ValueError(f"{where} must be an integer {' and '.join(s for s in (lo, hi) if s)}, got {value}")
    return value


def _check_number(value, where: str, optional: bool = False, finite: bool = False) -> float | None:
    """A real number (int or float, not bool), or None when optional."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or isinstance(value, np.generic):
        raise _fail(where, "a number" + (" or None" if optional else ""), value)
    if finite and not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number, got {value!r}")
    return value


def _check_number_list(value, where: str, length: int, optional_entries: bool, finite: bool = False) -> list:
    if not isinstance(value, list):
        raise _fail(where, "a list", value)
    if len(value) != length:
        raise ValueError(f"{where} must have {length} entries (one per completed epoch), got {len(value)}")
    for i, v in enumerate(value):
        _check_number(v, f"{where}[{i}]", optional=optional_entries, finite=finite)
    return value


# ---------------------------------------------------------------------------- parameters
def param_spec(params: dict) -> dict:
    """``{name: (shape, dtype)}`` of a dict of parameter arrays, to check other arrays against."""
    return {k: (v.shape, v.dtype) for k, v in params.items()}


def check_arrays_like(arrays, where: str, spec: dict, *, subset: bool = False, finite: bool = True) -> dict:
    """Check a dict of arrays against a parameter spec: the same names, shapes and dtypes.

    Parameters
    ----------
    arrays : object
        The value to check (from a file).
    where : str
        Its place, for messages.
    spec : dict of str -> (tuple, numpy.dtype)
        From :func:`param_spec`.
    subset : bool, default False
        Allow a subset of the names (an optimizer creates its buffers as parameters are first seen).
    finite : bool, default True
        Every entry must be finite.

    Returns
    -------
    dict of str -> ndarray
        ``arrays`` itself.
    """
    check_dict(arrays, where)
    missing = [] if subset else [k for k in spec if k not in arrays]
    extra = [k for k in arrays if k not in spec]
    if missing or extra:
        raise ValueError(f"{where} must hold the arrays {list(spec)}; missing {missing}, unexpected {extra}")
    for name, arr in arrays.items():
        shape, dtype = spec[name]
        at = f"{where}[{name!r}]"
        if not isinstance(arr, np.ndarray):
            raise _fail(at, "an ndarray", arr)
        if arr.shape != shape or arr.dtype != dtype:
            raise ValueError(f"{at} must have shape {shape} and dtype {dtype} (like the parameter {name!r}), "
                             f"got shape {arr.shape} and dtype {arr.dtype}")
        if finite and arr.size and not np.isfinite(arr).all():
            raise ValueError(f"{at} must contain only finite values")
    return arrays


# ---------------------------------------------------------------------------- the run state
def check_history_state(state, where: str, epoch: int) -> History:
    """Validate ``History.to_dict()`` output of a run saved after ``epoch`` epochs; return the History.

    The rules: exactly History's fields; ``epochs == [1, ..., epoch]``; ``loss`` and ``epoch_time``
    one finite number per epoch; ``soft_loss``/``hard_loss`` one number or None per epoch; the
    validation lists empty (no validation data) or one number or None per epoch;
    ``best_epoch`` None or in [1, epoch]; ``stopped_epoch`` None or ``epoch``.
    """
    keys = tuple(History().__dict__)
    if isinstance(state, dict) and isinstance(state.get("epochs"), list):
        state = {**{k: [None] * len(state["epochs"]) for k in _RECORDED_LATER}, **state}
    check_dict(state, where, keys)
    if state["epochs"] != list(range(1, epoch + 1)) or not all(type(e) is int for e in state["epochs"]):
        raise ValueError(f"{where}['epochs'] must be [1, ..., {epoch}] (the completed epochs), "
                         f"got {describe(state['epochs'])}")
    _check_number_list(state["loss"], f"{where}['loss']", epoch, optional_entries=False, finite=True)
    _check_number_list(state["epoch_time"], f"{where}['epoch_time']", epoch, optional_entries=False, finite=True)
    for name in ("soft_loss", "hard_loss"):
        _check_number_list(state[name], f"{where}[{name!r}]", epoch, optional_entries=True)
    for name in _RECORDED_LATER:
        _check_number_list(state[name], f"{where}[{name!r}]", epoch, optional_entries=True, finite=True)
    n_val = len(state["val_loss"]) if isinstance(state["val_loss"], list) else -1
    for name in _VALIDATION_LISTS:
        _check_number_list(state[name], f"{where}[{name!r}]", 0 if n_val == 0 else epoch, optional_entries=True)
    _check_whole(state["best_epoch"], f"{where}['best_epoch']", 1, epoch, optional=True)
    if state["stopped_epoch"] not in (None, epoch) or isinstance(state["stopped_epoch"], bool):
        raise ValueError(f"{where}['stopped_epoch'] must be None or {epoch} (the epoch the run stopped at), "
                         f"got {describe(state['stopped_epoch'])}")
    return History.from_dict(state)


def check_early_stopping_state(state, where: str, epoch: int, spec: dict | None) -> dict:
    """Validate ``EarlyStopping.state_dict()`` output against the student's parameter ``spec``.

    ``best`` a number or None, ``best_epoch`` None or in [1, epoch], ``wait`` in [0, epoch],
    ``best_params`` None or arrays like the student's parameters (finite).
    """
    check_dict(state, where, ("best", "best_epoch", "wait", "best_params"))
    _check_number(state["best"], f"{where}['best']", optional=True)
    _check_whole(state["best_epoch"], f"{where}['best_epoch']", 1, epoch, optional=True)
    _check_whole(state["wait"], f"{where}['wait']", 0, epoch)
    if state["best_params"] is not None:
        if spec is None:
            raise ValueError(f"{where}['best_params'] must be None in a checkpoint without a student")
        check_arrays_like(state["best_params"], f"{where}['best_params']", spec)
    return state


def check_rng_state(state, where: str) -> dict:
    """Validate the state of the trainer's ``np.random.default_rng`` (a PCG64 bit generator).

    The exact keys of ``PCG64().state``, each an int in its range; then it is tried on a fresh
    PCG64, so what the trainer later assigns is known to be accepted.
    """
    check_dict(state, where, ("bit_generator", "state", "has_uint32", "uinteger"))
    if state["bit_generator"] != "PCG64":
        raise ValueError(f"{where}['bit_generator'] must be 'PCG64' (what np.random.default_rng uses), "
                         f"got {describe(state['bit_generator'])}")
    inner = check_dict(state["state"], f"{where}['state']", ("state", "inc"))
    for key in ("state", "inc"):
        _check_whole(inner[key], f"{where}['state'][{key!r}]", 0, 2**128 - 1)
    _check_whole(state["has_uint32"], f"{where}['has_uint32']", 0, 1)
    _check_whole(state["uinteger"], f"{where}['uinteger']", 0, 2**32 - 1)
    try:
        np.random.PCG64().state = state
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} is not a valid PCG64 state: {exc}") from None
    return state


def check_fingerprint(state, where: str) -> dict:
    """Validate a run fingerprint: ``n_samples``, ``n_features``, ``batch_size`` ints >= 1;
    ``X`` a hash string; ``y``, ``validation`` and ``teacher`` hash strings or None."""
    check_dict(state, where, FINGERPRINT_KEYS)
    for key in ("n_samples", "n_features", "batch_size"):
        _check_whole(state[key], f"{where}[{key!r}]", 1)
    for key in ("X", "y", "validation", "teacher"):
        value = state[key]
        if not (value is None and key != "X") and not (isinstance(value, str) and len(value) <= 200):
            raise _fail(f"{where}[{key!r}]", "a hash string" + ("" if key == "X" else " or None"), value)
    return state


def hash_array(a: np.ndarray) -> str:
    """A SHA-256 of an array's dtype, shape and C-order bytes (for run fingerprints).

    Parameters
    ----------
    a : ndarray

    Returns
    -------
    str
        64 hex digits.
    """
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()
