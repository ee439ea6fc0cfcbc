"""Per-epoch schedules for a learning rate, a momentum or a temperature.

A schedule is a small callable: ``schedule(epoch) -> float``, with ``epoch`` counted from 1, and
one value for the whole epoch. Epoch 1 gives the initial value:

- ``ExponentialDecay(initial, rate)``: ``initial * rate**(e - 1)``;
- ``StepDecay(initial, factor, every)``: ``initial * factor**((e - 1) // every)``;
- ``LinearRamp(start, end, epochs)``: linear from ``start`` at epoch 1 to ``end`` at ``epochs``, then held;
- ``CosineDecay(initial, final, epochs)``: half a cosine from ``initial`` at epoch 1 to ``final`` at
  ``epochs``, then held.

**epochs == 1.** ``LinearRamp`` and ``CosineDecay`` reach their target at epoch ``epochs`` exactly
and hold it; with ``epochs == 1`` that is epoch 1, so they give ``end`` (``final``) at every epoch
and ``start`` (``initial``) is not used: a one-epoch warm-up is no warm-up.

A schedule is plain data: :meth:`Schedule.get_config` gives ``{"name": class name, ...arguments}``
and :func:`schedule_from_config` rebuilds one of the four classes above from it (nothing else), so a
checkpoint stores and compares schedules without pickling objects. Two schedules are equal when
their configs are; a schedule is immutable (its arguments are set once, in the constructor).

The trainer calls :meth:`Schedule.check_positive` (learning rate, temperature) or
:meth:`Schedule.check_range` (momentum, in [0, 1)) once at ``train()`` entry, for every epoch of the run.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

from ._validation import check_finite_float, check_int, check_positive_float, describe

__all__ = ["Schedule", "ExponentialDecay", "StepDecay", "LinearRamp", "CosineDecay", "schedule_from_config"]


def _power(base: float, exponent: int) -> float:
    """``base ** exponent`` for base > 0 and an int exponent >= 0, never an OverflowError."""
    try:
        return base**exponent
    except OverflowError:  # beyond 1.8e308 (inf, reported by check_positive), or an exponent beyond float
        return math.inf if base > 1.0 else (1.0 if base == 1.0 else 0.0)


def _between(start: float, end: float, w: float) -> float:
    """The point a fraction ``w`` in [0, 1] of the way from ``start`` to ``end``, kept within them."""
    step = end - start
    if math.isfinite(step):
        value = start + step * w
    else:  # end - start overflowed (|start|, |end| near 1.8e308, opposite signs): this form cannot
        value = start * (1.0 - w) + end * w
    return min(max(value, min(start, end)), max(start, end))  # rounding never leaves [start, end]


# ----------------------------------------------------------------------------- the base class
class Schedule(ABC):
    """Base class: a value per epoch, ``schedule(epoch) -> float`` (epoch an int >= 1).

    A schedule of your own implements ``_value(epoch) -> float`` (the formula, for a validated
    int epoch >= 1) and ``_params() -> dict`` (its constructor arguments, plain data).
    """

    def __call__(self, epoch) -> float:
        """The value for ``epoch`` (an int >= 1; epoch 1 is the first), as a Python float."""
        epoch = check_int(epoch, "epoch", minimum=1)
        return float(self._value(epoch))

    @abstractmethod
    def _value(self, epoch: int) -> float:
        """The formula, for an int epoch >= 1."""

    @abstractmethod
    def _params(self) -> dict:
        """The constructor arguments, by name."""

    def values(self, epochs) -> list:
        """``[schedule(1), ..., schedule(epochs)]`` (epochs an int >= 1)."""
        epochs = check_int(epochs, "epochs", minimum=1)
        return [float(self._value(e)) for e in range(1, epochs + 1)]

    def check_positive(self, epochs, name: str) -> None:
        """Raise a ``ValueError`` naming the first epoch in ``1..epochs`` whose value is not a finite
        number > 0, and that value (what a learning rate or a temperature needs).

        ``name`` is the parameter the schedule was given as (e.g. ``"learning_rate"``).
        """
        for epoch, value in enumerate(self.values(epochs), start=1):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(
                    f"{name} must be a finite number > 0 at every epoch, got {value!r} at epoch {epoch} "
                    f"(of {epochs}) from {self!r}"
                )

    def check_range(self, epochs, name: str, low: float, high: float, *,
                    low_open: bool = False, high_open: bool = True) -> None:
        """Raise a ``ValueError`` naming the first epoch in ``1..epochs`` whose value lies outside
        ``[low, high)`` (ends open or closed as asked; the default suits a momentum in [0, 1)), and
        that value. NaN is always outside.
        """
        rule = ("(" if low_open else "[") + f"{low!r}, {high!r}" + (")" if high_open else "]")
        for epoch, value in enumerate(self.values(epochs), start=1):
            low_ok = value > low if low_open else value >= low
            high_ok = value < high if high_open else value <= high
            if not (low_ok and high_ok):
                raise ValueError(
                    f"{name} must be a number in {rule} at every epoch, got {value!r} at epoch {epoch} "
                    f"(of {epochs}) from {self!r}"
                )

    def get_config(self) -> dict:
        """Plain data: ``{"name": class name, ...constructor arguments}``; see :func:`schedule_from_config`."""
        return {"name": type(self).__name__, **self._params()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(self._params().items())))

    def __setattr__(self, name, value):
        if name in self.__dict__:  # set once, in the constructor: equality and hash stay true
            raise AttributeError(f"{type(self).__name__} is immutable: build a new schedule instead of setting {name}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} is immutable: {name} cannot be deleted")


# ----------------------------------------------------------------------------- the four schedules
class ExponentialDecay(Schedule):
    """``initial * rate**(epoch - 1)``: multiplied by ``rate`` every epoch.

    Parameters
    ----------
    initial : float
        The value at epoch 1, a finite number.
    rate : float
        The factor per epoch, a finite number > 0 (< 1 decays, > 1 grows).

    Notes
    -----
    value(e) = initial · rate^(e − 1). A value beyond the float range is ``inf`` (never an
    ``OverflowError``), which :meth:`Schedule.check_positive` reports.

    Examples
    --------
    >>> schedule = ExponentialDecay(0.1, 0.5)
    >>> for epoch in range(1, 5):
    ...     print(epoch, schedule(epoch))
    1 0.1
    2 0.05
    3 0.025
    4 0.0125
    """

    def __init__(self, initial, rate):
        self.initial = check_finite_float(initial, "initial")
        self.rate = check_positive_float(rate, "rate")

    def _value(self, epoch: int) -> float:
        if self.initial == 0.0:
            return 0.0  # 0 * rate**k is 0 even where rate**k overflows
        return self.initial * _power(self.rate, epoch - 1)

    def _params(self) -> dict:
        return {"initial": self.initial, "rate": self.rate}


class StepDecay(Schedule):
    """``initial * factor**((epoch - 1) // every)``: multiplied by ``factor`` every ``every`` epochs.

    Parameters
    ----------
    initial : float
        The value of epochs 1 to ``every``, a finite number.
    factor : float
        The factor per step, a finite number > 0.
    every : int
        Epochs per step, an int >= 1.

    Notes
    -----
    value(e) = initial · factor^⌊(e − 1) / every⌋. A value beyond the float range is ``inf``.

    Examples
    --------
    >>> schedule = StepDecay(0.1, 0.5, every=2)
    >>> for epoch in range(1, 6):
    ...     print(epoch, schedule(epoch))
    1 0.1
    2 0.1
    3 0.05
    4 0.05
    5 0.025
    """

    def __init__(self, initial, factor, every):
        self.initial = check_finite_float(initial, "initial")
        self.factor = check_positive_float(factor, "factor")
        self.every = check_int(every, "every", minimum=1)

    def _value(self, epoch: int) -> float:
        if self.initial == 0.0:
            return 0.0
        return self.initial * _power(self.factor, (epoch - 1) // self.every)

    def _params(self) -> dict:
        return {"initial": self.initial, "factor": self.factor, "every": self.every}


class LinearRamp(Schedule):
    """Linear from ``start`` at epoch 1 to ``end`` at epoch ``epochs``, then ``end``.

    Parameters
    ----------
    start : float
        The value at epoch 1 (when ``epochs`` > 1), a finite number.
    end : float
        The value from epoch ``epochs`` on, a finite number.
    epochs : int
        The epoch the ramp reaches ``end``, an int >= 1. With ``epochs == 1`` the value is ``end``
        from epoch 1 on (``start`` is not used).

    Notes
    -----
    value(e) = start + (end − start) · (e − 1) / (epochs − 1) for e < epochs, and end for e ≥ epochs:
    exactly ``start`` at epoch 1, exactly ``end`` at ``epochs``, monotone and within [start, end]
    in between (a warm-up: ``LinearRamp(0.01, 0.1, 5)``).

    Examples
    --------
    >>> schedule = LinearRamp(0.0, 1.0, epochs=5)
    >>> for epoch in range(1, 7):
    ...     print(epoch, schedule(epoch))
    1 0.0
    2 0.25
    3 0.5
    4 0.75
    5 1.0
    6 1.0
    """

    def __init__(self, start, end, epochs):
        self.start = check_finite_float(start, "start")
        self.end = check_finite_float(end, "end")
        self.epochs = check_int(epochs, "epochs", minimum=1)

    def _value(self, epoch: int) -> float:
        if epoch >= self.epochs:
            return self.end
        w = (epoch - 1) / (self.epochs - 1)  # in [0, 1); int / int, exact for any int size
        return _between(self.start, self.end, w)

    def _params(self) -> dict:
        return {"start": self.start, "end": self.end, "epochs": self.epochs}


class CosineDecay(Schedule):
    """Half a cosine from ``initial`` at epoch 1 to ``final`` at epoch ``epochs``, then ``final``.

    Parameters
    ----------
    initial : float
        The value at epoch 1 (when ``epochs`` > 1), a finite number.
    final : float
        The value from epoch ``epochs`` on, a finite number (above ``initial``, it rises).
    epochs : int
        The epoch the decay reaches ``final``, an int >= 1. With ``epochs == 1`` the value is
        ``final`` from epoch 1 on (``initial`` is not used).

    Notes
    -----
    value(e) = final + (initial − final) · (1 + cos(π · (e − 1) / (epochs − 1))) / 2 for e < epochs,
    and final for e ≥ epochs (Loshchilov & Hutter's SGDR, one cycle, no restart): exactly
    ``initial`` at epoch 1, exactly ``final`` at ``epochs``, monotone and within [final, initial].

    Examples
    --------
    >>> schedule = CosineDecay(1.0, 0.0, epochs=5)
    >>> for epoch in range(1, 7):
    ...     print(epoch, round(schedule(epoch), 4))
    1 1.0
    2 0.8536
    3 0.5
    4 0.1464
    5 0.0
    6 0.0
    """

    def __init__(self, initial, final, epochs):
        self.initial = check_finite_float(initial, "initial")
        self.final = check_finite_float(final, "final")
        self.epochs = check_int(epochs, "epochs", minimum=1)

    def _value(self, epoch: int) -> float:
        if epoch >= self.epochs:
            return self.final
        if epoch == 1:
            return self.initial  # cos(0) = 1 exactly, but w = 1 need not land on initial after rounding
        w = (1.0 + math.cos(math.pi * ((epoch - 1) / (self.epochs - 1)))) / 2.0  # from 1 down to 0
        return _between(self.final, self.initial, w)

    def _params(self) -> dict:
        return {"initial": self.initial, "final": self.final, "epochs": self.epochs}


# ----------------------------------------------------------------------------- configs
_SCHEDULES = {cls.__name__: cls for cls in (ExponentialDecay, StepDecay, LinearRamp, CosineDecay)}
_ARGUMENTS = {
    "ExponentialDecay": ("initial", "rate"),
    "StepDecay": ("initial", "factor", "every"),
    "LinearRamp": ("start", "end", "epochs"),
    "CosineDecay": ("initial", "final", "epochs"),
}


def schedule_from_config(config) -> Schedule:
    """Rebuild a schedule from :meth:`Schedule.get_config` output.

    Parameters
    ----------
    config : dict
        ``{"name": one of "ExponentialDecay", "StepDecay", "LinearRamp", "CosineDecay", ...its
        constructor arguments, every one of them}``. No other class is ever rebuilt.

    Returns
    -------
    Schedule
        Equal to the schedule the config came from.

    Raises
    ------
    TypeError, ValueError
        For a non-dict, an unknown name, missing or unknown keys, or invalid arguments (checked
        by the constructor, as for any caller).

    Examples
    --------
    >>> schedule_from_config({"name": "StepDecay", "initial": 0.1, "factor": 0.5, "every": 10})
    StepDecay(initial=0.1, factor=0.5, every=10)
    """
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {describe(config)}")
    name = config.get("name")
    if not isinstance(name, str) or name not in _SCHEDULES:
        raise ValueError(f"config['name'] must be one of {sorted(_SCHEDULES)}, got {describe(name)}")
    expected, given = set(_ARGUMENTS[name]), set(config) - {"name"}
    if given != expected:
        missing = [k for k in _ARGUMENTS[name] if k not in given]
        unknown = sorted(given - expected, key=repr)
        raise ValueError(
            f"config for {name} must have the keys {list(_ARGUMENTS[name])}, "
            f"got missing {missing} and unknown {unknown}"
        )
    return _SCHEDULES[name](**{k: config[k] for k in _ARGUMENTS[name]})


# ----------------------------------------------------------------------------- scheduled hyperparameters
class ScheduledHyperparameters:
    """Mixin of the optimizers and strategies: hyperparameters given as a number or as a :class:`Schedule`.

    A scheduled hyperparameter ``name`` keeps its current value in ``self._<name>`` (what the math
    reads, so the formulas never see a schedule) and its schedule in ``self._schedules[name]``. The
    public property reads the current value: epoch 1's until a trainer moves it, each epoch's during
    ``train`` (:meth:`_set_epoch`, once per epoch) and epoch 1's again after it.
    """

    def _set_hyperparameter(self, name: str, value, check, rule) -> None:
        """Set ``name`` to a number (``check(value, name)`` validates it) or to a schedule (epoch 1's value is
        checked now, every epoch's by ``rule(schedule, epochs, name)`` at ``train()`` entry)."""
        schedules = self.__dict__.setdefault("_schedules", {})
        if isinstance(value, Schedule):
            current = check(value(1), name)
            schedules[name] = (value, rule)
        else:
            current = check(value, name)
            schedules.pop(name, None)
        setattr(self, "_" + name, current)

    def _check_schedules(self, epochs: int) -> None:
        """ValueError naming the epoch and the value if a schedule leaves its hyperparameter's range
        in any of the run's epochs ``1..epochs`` (called at ``train()`` entry)."""
        for name, (schedule, rule) in self.__dict__.get("_schedules", {}).items():
            rule(schedule, epochs, name)

    def _set_epoch(self, epoch: int) -> None:
        """Put every scheduled hyperparameter at its value for ``epoch`` (1-based)."""
        for name, (schedule, _) in self.__dict__.get("_schedules", {}).items():
            setattr(self, "_" + name, schedule(epoch))

    def _with_schedules(self, config: dict) -> dict:
        """``config`` with each scheduled hyperparameter's value replaced by its schedule's plain-data config."""
        schedules = self.__dict__.get("_schedules", {})
        return {k: (schedules[k][0].get_config() if k in schedules else v) for k, v in config.items()}


def positive_at_every_epoch(schedule: Schedule, epochs: int, name: str) -> None:
    """The rule of a learning rate or a temperature: finite and > 0 at every epoch."""
    schedule.check_positive(epochs, name)


def fraction_at_every_epoch(schedule: Schedule, epochs: int, name: str) -> None:
    """The rule of a momentum: in [0, 1) at every epoch."""
    schedule.check_range(epochs, name, 0.0, 1.0)


def from_config_value(value):
    """A hyperparameter read back from a config: a schedule's config (a dict) becomes the schedule."""
    return schedule_from_config(value) if isinstance(value, dict) else value
