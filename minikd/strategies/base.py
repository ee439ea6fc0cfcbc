"""The base class of every strategy: validated public methods around one method of math, ``_compute``."""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod

import numpy as np

from .._validation import check_float_array, check_fraction, check_labels, check_positive_float, describe
from ..schedules import ScheduledHyperparameters, from_config_value, positive_at_every_epoch

__all__ = ["DistillationStrategy", "strategy_from_config"]

# Every subclass of DistillationStrategy, by class name: what strategy_from_config may rebuild.
# Only classes that are already imported can appear here, so a config can never import code.
_REGISTRY: dict[str, type] = {}


# ----------------------------------------------------------------------------- the base class
class DistillationStrategy(ScheduledHyperparameters, ABC):
    """Base class of the distillation losses (the seed library's ``IDistillationStrategy``).

    Parameters
    ----------
    temperature : float, default 1.0
        T > 0, finite: the softmax temperature of the soft term.
    alpha : float, default 0.0
        Weight of the hard (true-label) term, in [0, 1] (subclasses may document another rule).

    Notes
    -----
    **A strategy of your own** implements one method, the math:
    ``_compute(z, v, labels_kind, labels) -> (loss, dlogits, parts)``. It receives validated 2-D
    arrays ``z`` (student logits) and ``v`` (teacher logits, or None when ``uses_teacher`` is
    False) of the same shape (N, C) and dtype, and labels as ``check_labels`` returns them
    (``("index", int64 (N,))``, ``("prob", (N, C) rows in z's dtype)`` or ``(None, None)``); it
    returns the loss as a Python float, ``dlogits`` shaped like ``z`` **in z's dtype**, and
    ``parts``, the weighted contributions ``{"soft": float, "hard": float or None}`` (``hard``
    None when there is no hard term) with ``loss == soft + (hard or 0)``. The trainer's step
    calls it directly (step 3 of ``train_step``), so a breakpoint in it stops in every step.
    Optionally ``_check_range(dtype)`` warns about hyperparameters outside the range the math
    is accurate in for that dtype (called at ``train()`` entry and by the public methods, never
    per step). This class validates the public inputs and reshapes a single vector (C,) into a
    batch of one and back. The same signature serves losses on other representations: a
    feature loss reads ``z``/``v`` as the student's and the teacher's representation of the
    batch, returns the gradient with respect to the student's, and puts the gradients of its own
    trainable parameters in ``parts["dparams"]``.

    Attributes
    ----------
    requires_labels : bool
        True for strategies that cannot work without labels (a trainer can check it up front).
    uses_teacher : bool
        False for strategies that ignore the teacher; ``teacher_logits`` may then be None.
    """

    requires_labels: bool = False
    uses_teacher: bool = True
    #: The smallest batch the loss is defined for (2 for pairwise relations, 3 for angles): the
    #: trainer checks ``batch_size`` against it and merges a smaller last batch into the one before.
    min_batch_size: int = 1
    #: Hidden layers (ints into ``cache.hidden``, as declared: -1 the last) the loss reads from the
    #: student and from the teacher; a logit loss reads none.
    required_student_layers: tuple = ()
    required_teacher_layers: tuple = ()

    def __init__(self, temperature: float = 1.0, alpha: float = 0.0):
        self.temperature = temperature
        self.alpha = alpha

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        taken = _REGISTRY.get(cls.__name__)
        if taken is None or not taken.__module__.startswith("minikd.strategies"):  # minikd's own names are reserved
            _REGISTRY[cls.__name__] = cls

    # -- hyperparameters (validated whenever they are set, e.g. by a temperature schedule)
    @property
    def temperature(self) -> float:
        """Softmax temperature T > 0 of the soft term (its accurate range, and the warning
        outside it: "Temperature range" in :class:`DistillationLoss`)."""
        return self._temperature

    @temperature.setter
    def temperature(self, value) -> None:
        # a Schedule is accepted (a temperature curriculum): it reads as the current epoch's value
        self._set_hyperparameter("temperature", value, check_positive_float, positive_at_every_epoch)

    def _check_schedules(self, epochs: int, dtype=None) -> None:
        """ValueError if a scheduled temperature leaves (0, inf) in epochs ``1..epochs``; with ``dtype``, also
        :meth:`_check_range`'s warning for every epoch's temperature (called at ``train()`` entry)."""
        super()._check_schedules(epochs)
        schedule = self.__dict__.get("_schedules", {}).get("temperature")
        if dtype is not None and schedule is not None:
            for value in sorted(set(schedule[0].values(epochs))):
                self._temperature = value
                self._check_range(dtype)
            self._set_epoch(1)

    @property
    def alpha(self) -> float:
        """Weight of the hard (true-label) term."""
        return self._alpha

    @alpha.setter
    def alpha(self, value) -> None:
        self._alpha = self._check_alpha(value)

    @staticmethod
    def _check_alpha(value) -> float:
        return check_fraction(value, "alpha")

    # -- public, validated API
    def compute_loss(self, student_logits, teacher_logits, labels=None) -> float:
        """The loss, a Python float. See :meth:`loss_and_gradient` for the arguments."""
        return self.loss_and_gradient(student_logits, teacher_logits, labels)[0]

    def compute_gradient(self, student_logits, teacher_logits, labels=None) -> np.ndarray:
        """Gradient of the loss with respect to ``student_logits``, shaped like them.

        See :meth:`loss_and_gradient` for the arguments.
        """
        return self.loss_and_gradient(student_logits, teacher_logits, labels)[1]

    def loss_and_gradient(self, student_logits, teacher_logits, labels=None):
        """Loss, gradient and the loss's parts in one pass (each softmax is computed once).

        Parameters
        ----------
        student_logits : array_like of shape (N, C) or (C,)
            Student logits z. Must be finite.
        teacher_logits : array_like, same shape as ``student_logits``
            Teacher logits v (same number of classes). Must be finite. May be None for a
            strategy that does not use a teacher (``uses_teacher`` False).
        labels : None, array_like of int of shape (N,) or of probability rows (N, C)
            True labels; for one vector an int or a (C,) probability row. None: no hard term.

        Returns
        -------
        loss : float
        dlogits : ndarray, same shape as ``student_logits``
            dL/dz, in the student's dtype (float16 is promoted to float32).
        parts : dict
            Weighted contributions: ``{"soft": float, "hard": float or None, ...}``.

        Raises
        ------
        TypeError, ValueError
            For wrong types, shapes, class counts, non-finite logits or invalid labels; the
            message names the parameter and the value received. Also a ValueError, rather than
            an inf or NaN result, when an intermediate overflows the float range: only for
            absurd inputs, e.g. float32 logits whose row spans more than ``3.4e38 * T``, or a
            logit difference above 1.8e19 in float32 for :class:`LogitMatchingLoss`. (Logits
            of magnitude 1e4 at temperatures 0.01 to 1000 are fine in float32 and float64.)
        """
        z, v, kind, y, single = self._prepare(student_logits, teacher_logits, labels)
        self._check_range(np.result_type(z, v) if v is not None else z.dtype)
        with np.errstate(over="ignore", invalid="ignore"):  # reported below as a ValueError
            loss, dz, parts = self._loss_and_gradient(z, v, kind, y)
        if not (math.isfinite(loss) and np.isfinite(dz).all()):
            largest = float(np.abs(z).max() if v is None else max(np.abs(z).max(), np.abs(v).max()))
            raise ValueError(
                f"{type(self).__name__} overflowed for these inputs (loss {loss!r}): logits of "
                f"magnitude up to {largest:.3g} in {z.dtype} are too large for temperature "
                f"{self.temperature!r}; rescale the logits, raise the temperature or use float64"
            )
        return loss, (dz[0] if single else dz), parts

    def _prepare(self, student_logits, teacher_logits, labels):
        """Validate the public inputs; return 2-D logits, canonical labels and ``single``."""
        z = check_float_array(student_logits, "student_logits", ndim=(1, 2))
        if teacher_logits is None and not self.uses_teacher:
            v = None
        else:
            v = check_float_array(teacher_logits, "teacher_logits", ndim=(1, 2))
        if v is not None and z.shape != v.shape:
            raise ValueError(
                "teacher_logits must have the same shape as student_logits (same samples and "
                f"same number of classes), got teacher_logits of shape {v.shape} and "
                f"student_logits of shape {z.shape}"
            )
        single = z.ndim == 1
        kind = y = None
        if labels is not None:
            dtype = z.dtype if v is None else np.result_type(z, v)
            kind, y = check_labels(labels, "labels", None if single else z.shape[0], z.shape[-1],
                                   dtype=dtype, single=single)
        if single:
            z = z[None, :]
            v = None if v is None else v[None, :]
            y = None if y is None else y[None, ...]
        return z, v, kind, y, single

    def _check_range(self, dtype) -> None:
        """Warn if a hyperparameter is outside the range where the math is accurate for ``dtype``
        (default: nothing to check). Called at ``train()`` entry and by the public methods."""
        return None

    # -- the unvalidated path
    def _loss_and_gradient(self, student_logits, teacher_logits, labels_kind=None, labels=None):
        """:meth:`_compute` for validated inputs whose dtypes may differ (a float64 teacher, a float32
        student): computes in the common dtype and returns the gradient in the student's.

        Parameters
        ----------
        student_logits, teacher_logits : ndarray of shape (N, C), float32 or float64, finite
            ``teacher_logits`` may be None for a strategy whose ``uses_teacher`` is False.
        labels_kind : {"index", "prob", None}
        labels : ndarray of int64 of shape (N,), ndarray of shape (N, C), or None
            As returned by ``minikd._validation.check_labels``.

        Returns
        -------
        (float, ndarray of shape (N, C) in the student's dtype, dict)

        Notes
        -----
        No checks at all: inputs that the public methods reject give wrong results, and the
        absurdly large ones they report as overflow give inf/NaN with a RuntimeWarning.
        """
        z, v = student_logits, teacher_logits
        if v is not None and v.dtype != z.dtype:  # e.g. a float64 teacher, a float32 student
            dtype = np.result_type(z, v)
            z, v = z.astype(dtype, copy=False), v.astype(dtype, copy=False)
        if labels_kind == "prob" and labels.dtype != z.dtype:
            labels = labels.astype(z.dtype)
        loss, dz, parts = self._compute(z, v, labels_kind, labels)
        return loss, dz.astype(student_logits.dtype, copy=False), parts

    @abstractmethod
    def _compute(self, z, v, labels_kind, labels):
        """The math: ``(loss, dlogits, parts)`` for 2-D ``z``, ``v`` of one dtype (see the class Notes)."""

    # -- in a trainer (step 3 of train_step)
    def _compute_step(self, z, v, labels_kind, labels, student_cache, teacher_hidden):
        """Step 3 of ``train_step``: the loss of a batch and its gradients, from everything the models gave.

        A logit loss reads the logits only, so this is its :meth:`_compute`. Feature losses read hidden
        layers, and :class:`~minikd.strategies.CompositeStrategy` sums its terms' steps.

        Parameters
        ----------
        z, v : ndarray of shape (B, C), one dtype
            Student and teacher logits (``v`` None without a teacher).
        labels_kind, labels
            As for :meth:`_compute`.
        student_cache : MLPCache
            The student's forward pass of step 2; ``student_cache.hidden[k]`` (B, H_k) is hidden layer k.
        teacher_hidden : dict of int -> ndarray of shape (B, H)
            The teacher's hidden layers that the strategy requires, keyed by the indices it declares.

        Returns
        -------
        loss : float
        dlogits : ndarray of shape (B, C), in z's dtype
        parts : dict
            As :meth:`_compute`'s, and for losses that have them ``"dhidden"`` (``{k: dL/dH_k}``, the
            gradients arriving at the student's hidden layers, for ``MLP.backward``) and ``"dparams"``
            (the gradients of the strategy's own parameters, keyed as in :meth:`_named_params`).
        """
        return self._compute(z, v, labels_kind, labels)

    def _bind(self, student_sizes: tuple, teacher_sizes, classes: int, prefix: str = "strategy.") -> None:
        """Check the strategy against the models at ``train()`` entry and create its parameters.

        Parameters
        ----------
        student_sizes : tuple of int
            The student's hidden widths (``MLP.hidden_sizes``).
        teacher_sizes : tuple of int or None
            The teacher's hidden widths; None if the teacher cannot give hidden layers.
        classes : int
            C, the width of the logits.
        prefix : str
            Where the trainer keeps this strategy's parameters: ``prefix + name``.

        A logit loss needs nothing. Feature losses check their layer indices and widths here
        (``ValueError`` naming the layer and the shapes) and build what they train (HintLoss's regressor).
        """
        return None

    def _reset_params(self) -> None:
        """Forget the trained parameters, so that the next ``train`` builds them afresh from the strategy's
        seed (a new student, e.g. each generation of :class:`~minikd.SelfDistillationTrainer`); nothing here."""

    def _named_params(self) -> dict:
        """The strategy's trainable arrays under the names the trainer's optimizer uses (``{}`` here;
        ``"strategy.W"`` for a feature loss, ``"strategy.1.W"`` for term 1 of a CompositeStrategy)."""
        return {}

    # -- plain-data configuration
    def _params(self) -> dict:
        """The constructor's keyword arguments that rebuild this strategy."""
        return {"temperature": self.temperature, "alpha": self.alpha}

    def get_config(self) -> dict:
        """Plain-data description: ``{"name": class name, "temperature": ..., "alpha": ..., ...}``.

        :func:`strategy_from_config` rebuilds an equal strategy from it (checkpoints store this,
        never the object).
        """
        return self._with_schedules({"name": type(self).__name__, "temperature": self.temperature,
                                     "alpha": self.alpha, **self._params()})

    @classmethod
    def _from_config(cls, params: dict):
        accepted = set(inspect.signature(cls).parameters)
        derived = {"temperature", "alpha"} - accepted  # reported by get_config, not constructor args
        unknown = sorted(set(params) - accepted - derived)
        if unknown:
            raise ValueError(
                f"config for {cls.__name__} has unknown key(s) {unknown}; "
                f"accepted: {sorted(accepted)}"
            )
        return cls(**{k: from_config_value(params[k]) if k == "temperature" else params[k]
                      for k in params if k in accepted})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={from_config_value(v)!r}" for k, v in self._with_schedules(self._params()).items())
        return f"{type(self).__name__}({args})"


# ----------------------------------------------------------------------------- configs
def strategy_from_config(config) -> DistillationStrategy:
    """Rebuild a strategy from :meth:`DistillationStrategy.get_config` output.

    Parameters
    ----------
    config : dict
        ``{"name": class name, ...constructor arguments}``. ``name`` must be a
        :class:`DistillationStrategy` subclass that has been imported (no code is ever loaded).

    Returns
    -------
    DistillationStrategy

    Raises
    ------
    TypeError, ValueError
        For a non-dict, a missing or unknown name, or unknown or invalid arguments.
    """
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {describe(config)}")
    name = config.get("name")
    if not isinstance(name, str):
        raise ValueError(f"config['name'] must be a strategy class name, got {name!r}")
    cls = _REGISTRY.get(name)
    if cls is None or inspect.isabstract(cls):
        known = sorted(k for k, c in _REGISTRY.items() if not inspect.isabstract(c))
        raise ValueError(f"config['name'] must be one of {known}, got {name!r}")
    return cls._from_config({k: v for k, v in config.items() if k != "name"})
