"""Distillation strategies: the softened-softmax loss of Hinton et al. (2015) and its family.

A strategy turns a batch of student logits ``z`` (shape (N, C)), the frozen teacher's logits ``v``
(same shape) and, optionally, the true labels into a scalar loss and its gradient with respect to
the student logits, ``dlogits`` (shape (N, C)), which the student's ``backward`` consumes.

Every gradient here is derived by hand in its class docstring and checked against central
differences (``minikd.gradcheck``) and, when PyTorch is installed, against autograd.

==========================  ===========================================================  ==========
strategy                    per-sample loss (the batch loss is the mean over N samples)  labels
==========================  ===========================================================  ==========
``DistillationLoss``        alpha * CE(z, y) + (1 - alpha) * T^2 * KL(softmax(v/T) ||    optional
                            softmax(z/T))   (Hinton et al. 2015)
``LogitMatchingLoss``       alpha * CE(z, y) + (1 - alpha) * ||z - v||^2 / (2C)          optional
                            (Ba & Caruana 2014; the T -> infinity limit of the above)
``DecoupledKDLoss``         T^2 * (alpha * TCKD + beta * NCKD)   (Zhao et al. 2022)      required
``CompositeStrategy``       sum_k weight_k * loss_k                                      as parts
``CrossEntropyLoss``        CE(z, y), no teacher (the supervised baseline)               required
==========================  ===========================================================  ==========

Conventions shared by all strategies
------------------------------------
- ``alpha`` weights the **hard** (true-label) term, as in the seed library: ``alpha = 0`` is pure
  distillation, ``alpha = 1`` plain cross-entropy. Without labels there is no hard term and the
  soft term gets the full weight 1 (not ``1 - alpha``): ``L = (1/N) sum_i T^2 KL_i``. (The
  exception is ``DecoupledKDLoss``, whose alpha and beta weight its two terms, as in the paper.)
- Reduction: the mean over the N samples of per-sample sums over the C classes (PyTorch's
  ``reduction="batchmean"``), never a mean over classes.
- The cross-entropy term always uses temperature 1; only the soft term is softened.
- Inputs are one vector (C,) or a batch (N, C); labels are integer indices (N,) or probability
  rows (N, C) (for one vector: an int or a (C,) row). float32 logits give a float32 gradient
  (float16 is promoted to float32); the loss is a Python float, computed in float64 from the
  float32 logits (see "Precision" in :class:`DistillationLoss`), so a float32 loss is as
  accurate as the float32 inputs allow, not as float32 arithmetic.

Two ways in
-----------
The public methods ``compute_loss``, ``compute_gradient`` and ``loss_and_gradient`` validate
everything and accept single vectors. The private ``_compute(z, v, labels_kind, labels)`` is the
math alone, and what a trainer's step calls (it has checked its inputs once, at ``train()``):
``z`` and ``v`` are 2-D float arrays of the same shape and dtype, ``(labels_kind, labels)`` is the
output of ``minikd._validation.check_labels`` (or ``(None, None)``), and it returns
``(loss, dlogits, parts)`` with ``dlogits`` shaped like ``z`` and in its dtype.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod

import numpy as np

from ._validation import (
    check_float_array,
    check_fraction,
    check_labels,
    check_nonnegative_float,
    check_positive_float,
    check_temperature_range,
    describe,
)
from .functional import _log_softmax64, _softened_kl64

__all__ = [
    "DistillationStrategy",
    "CrossEntropyLoss",
    "DistillationLoss",
    "LogitMatchingLoss",
    "DecoupledKDLoss",
    "CompositeStrategy",
    "strategy_from_config",
]

# Every subclass of DistillationStrategy, by class name: what strategy_from_config may rebuild.
# Only classes that are already imported can appear here, so a config can never import code.
_REGISTRY: dict[str, type] = {}


# ----------------------------------------------------------------------------- small math helpers
def _logsumexp(a: np.ndarray) -> np.ndarray:
    """log(sum(exp(a))) over the last axis, shifted by the row maximum so nothing overflows."""
    m = a.max(axis=-1)
    return m + np.log(np.exp(a - m[..., None]).sum(axis=-1))


def _cross_entropy_term(log_p1: np.ndarray, labels_kind: str, labels: np.ndarray):
    """Per-sample CE ``-sum_j y_j log p_j`` (N,) and its gradient ``p - y`` (N, C), unscaled.

    ``log_p1`` is ``log softmax(z)`` at temperature 1. Integer labels are never expanded into
    one-hot rows: ``CE_i = -log p_{i, y_i}`` picks one entry per row, and ``p - onehot(y)`` is
    ``p`` with 1 subtracted at ``(i, y_i)``. Same numbers as the one-hot formulas, but building
    the one-hot rows cost more than the rest of the loss on small batches (see benchmarks/).
    """
    p1 = np.exp(log_p1)  # (N, C), a new array: it becomes the gradient
    if labels_kind == "index":
        rows = np.arange(labels.shape[0])
        p1[rows, labels] -= 1.0  # softmax(z) - onehot(y)
        return -log_p1[rows, labels], p1
    p1 -= labels
    return -(labels * log_p1).sum(axis=1), p1


# ----------------------------------------------------------------------------- the base class
class DistillationStrategy(ABC):
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

    def __init__(self, temperature: float = 1.0, alpha: float = 0.0):
        self.temperature = temperature
        self.alpha = alpha

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        taken = _REGISTRY.get(cls.__name__)
        if taken is None or taken.__module__ != __name__:  # minikd's own names are reserved
            _REGISTRY[cls.__name__] = cls

    # -- hyperparameters (validated whenever they are set, e.g. by a temperature schedule)
    @property
    def temperature(self) -> float:
        """Softmax temperature T > 0 of the soft term (its accurate range, and the warning
        outside it: "Temperature range" in :class:`DistillationLoss`)."""
        return self._temperature

    @temperature.setter
    def temperature(self, value) -> None:
        self._temperature = check_positive_float(value, "temperature")

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

    # -- plain-data configuration
    def _params(self) -> dict:
        """The constructor's keyword arguments that rebuild this strategy."""
        return {"temperature": self.temperature, "alpha": self.alpha}

    def get_config(self) -> dict:
        """Plain-data description: ``{"name": class name, "temperature": ..., "alpha": ..., ...}``.

        :func:`strategy_from_config` rebuilds an equal strategy from it (checkpoints store this,
        never the object).
        """
        return {"name": type(self).__name__, "temperature": self.temperature, "alpha": self.alpha,
                **self._params()}

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
        return cls(**{k: params[k] for k in params if k in accepted})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"


# ----------------------------------------------------------------------------- no teacher
class CrossEntropyLoss(DistillationStrategy):
    r"""Plain cross-entropy on the true labels, ignoring the teacher (supervised training).

    The loss of :class:`minikd.SupervisedTrainer` (teachers and from-scratch baselines). It is
    ``DistillationLoss(alpha=1.0)`` with labels, but needs no teacher: ``teacher_logits`` may be
    None (if given, they are validated and ignored). Labels are required.

    Notes
    -----
    ``L = (1/N) sum_i CE(softmax(z_i), y_i)`` with ``CE(s, y) = -sum_j y_j log s_j``; batch mean.
    As in :class:`DistillationLoss`, ``dL/dz_i = (softmax(z_i) - y_i) / N`` (rows of y sum to 1:
    ``d/dz_k (-sum_j y_j log p_j) = -sum_j y_j (delta_jk - p_k) = p_k - y_k``).
    ``parts`` is ``{"soft": 0.0, "hard": L}``. ``temperature`` is 1.0 and ``alpha`` 1.0 (all the
    weight on the hard term); neither is a constructor argument.
    """

    requires_labels = True
    uses_teacher = False

    def __init__(self):
        super().__init__(1.0, 1.0)

    def _params(self) -> dict:
        return {}

    def _compute(self, z, v, labels_kind, labels):
        if labels_kind is None:
            raise ValueError("labels are required by CrossEntropyLoss, got None")
        n = z.shape[0]
        ce, dce = _cross_entropy_term(_log_softmax64(z), labels_kind, labels)  # float64: see DistillationLoss
        hard = float(ce.sum()) / n
        dce /= n  # dce is a new array
        return hard, dce.astype(z.dtype, copy=False), {"soft": 0.0, "hard": hard}


# ----------------------------------------------------------------------------- Hinton's loss
class DistillationLoss(DistillationStrategy):
    r"""Hinton's softened-softmax distillation loss (Hinton, Vinyals & Dean 2015).

    Parameters
    ----------
    temperature : float, default 3.0
        T > 0. Both the student's and the teacher's logits are divided by T in the soft term.
    alpha : float in [0, 1], default 0.3
        Weight of the hard (true-label) term; the soft term gets ``1 - alpha``.

    Notes
    -----
    **Loss.** With student logits z_i, teacher logits v_i (rows of shape (C,)), labels y_i (one-hot
    or probability rows), p_i = softmax(z_i / T), q_i = softmax(v_i / T):

    .. math::

        L = \frac{1}{N} \sum_i \Big[ \alpha\, \mathrm{CE}(\mathrm{softmax}(z_i), y_i)
            + (1 - \alpha)\, T^2\, \mathrm{KL}(q_i \,\|\, p_i) \Big]

    ``CE(s, y) = -sum_j y_j log s_j`` (at temperature 1) and
    ``KL(q || p) = sum_j q_j (log q_j - log p_j)``. Without labels the loss is
    ``(1/N) sum_i T^2 KL(q_i || p_i)``: the soft term gets weight 1, not ``1 - alpha``.
    Reduction: batch mean of per-sample sums (PyTorch's ``"batchmean"``).

    **Gradient.** Write s = z / T. Since ``sum_j q_j log q_j`` does not depend on z,
    ``d KL / d s_k = -sum_j q_j (delta_jk - p_k) = p_k - q_k`` (using ``d log p_j / d s_k =
    delta_jk - p_k`` and ``sum_j q_j = 1``), and ``ds/dz = 1/T``, so
    ``d(T^2 KL)/dz = T (p - q)``. Likewise ``d CE / dz = softmax(z) - y`` (rows of y sum to 1).
    Hence

    .. math::

        \frac{\partial L}{\partial z_i} = \frac{1}{N} \Big[ \alpha (\mathrm{softmax}(z_i) - y_i)
            + (1 - \alpha)\, T\, (p_i - q_i) \Big].

    Each row of the gradient sums to 0 (the loss is unchanged by adding a constant to a row).

    **Why T².** For large T, ``T (p - q) -> (z - v) / C`` for zero-mean logits (Hinton et al.,
    section 2.1), so without the T² factor the soft gradient would shrink like 1/T² and the
    balance with the hard term would change with T. With it, the soft gradient's scale is
    roughly independent of T; :class:`LogitMatchingLoss` is this limit.

    **Precision.** The loss is computed in float64 whatever the logits' dtype, and the gradient
    is returned in the student's dtype (float32 stays float32). Only ``s = (z - max z) / T`` is
    rounded to the logits' dtype, as a float32 model would; the log-sum-exp, the log-probabilities
    and the sums are float64. Why: a float32 log-probability is off by about ``6e-8 |log p_j|``,
    so a KL summed from float32 log-softmaxes is off by about ``6e-8 H(q)`` (up to
    ``6e-8 log C``) in absolute terms, a large relative error when the KL is small (high T, or a
    student close to its teacher); summing the same float32 terms in float64 does not help
    (measured: the terms' rounding, not the sum's, dominates). Rounding ``s`` alone moves the loss
    by at most ``eps32 * sum |dL/ds| |s|`` (``tests/test_float32_accuracy.py``); on 300 random
    float32 cases (T in [0.5, 20], ``tests/test_float32_accuracy.py``) the median relative error
    is 5e-9 against PyTorch float32's 1.5e-7, the largest 4.5e-6 against 1.6 (a student within
    1 % of its teacher, whose KL is far smaller than its terms; ``benchmarks/precision_float32.py``).

    **Temperature range.** When T > 100 and every row of z and v spans at most T the KL is
    computed in a high-temperature form (``minikd.functional._softened_kl64``): the log-sum-exp
    is split as ``log C + log1p(mean_j expm1(s_j))`` so that ``log q_j - log p_j`` never carries
    the constant ``log C``, ``p - q = -p expm1(log q - log p)`` and the KL is a sum of
    non-negative terms. Measured against 40+ digit mpmath references (C = 10, logits of size 1 to
    10, a teacher at 1 % to 100 % of that from the student): in float64 the loss and gradient
    agree to 1e-14 wherever this form applies, up to T = 1e150 (otherwise the standard form's
    loss error is about ``1e-16 log C / KL`` relative, 4e-11 for KL = 3e-6, and at most
    ``1.5e-16 T^2`` absolute: 2e-12 at T = 100); in float32 to the rounding of s (1e-8 to 1e-5
    relative, larger when the student is closer to its teacher, whatever T) up to T = 1e30.
    Before (main at fdea3e3, same cases), the loss's relative error grew like
    ``1e-16 T^2 / |z - v|^2`` in float64 (100 % from T = 1e6 for a student within 1 % of its
    teacher) and like ``6e-8 T^2 / |z - v|^2`` in float32 (10 times the loss at T = 100 for that
    student; the loss exactly 0 from T = 1e8 on). The documented range, checked at every call
    (``minikd._validation.TEMPERATURE_LIMITS``): **T <= 1e30 for float32 logits, T <= 1e100 for
    float64**. Above it a float32 ``s`` underflows (logit differences below ``T * 1.2e-38``) and
    the loss would silently become 0, and in float64 ``T**2`` overflows at 1.3e154: a
    ``UserWarning`` names the temperature, the dtype and the limit, and points to
    :class:`LogitMatchingLoss` (``center=True``), the T -> infinity limit. A warning rather than
    an error because the limit is a sufficient condition on T alone: logits whose differences
    are large enough stay accurate beyond it. At small T the limits are the float range (a row
    of ``z / T`` spanning more than 3.4e38 in float32 is reported as an overflow, a ValueError).

    **Porting hyperparameters** (all verified against the sources named; users get this wrong):

    - *PyTorch tutorial* "Knowledge Distillation Tutorial" (pytorch/tutorials,
      ``beginner_source/knowledge_distillation_tutorial.py``, ``train_knowledge_distillation``):
      ``loss = soft_target_loss_weight * soft_targets_loss + ce_loss_weight * label_loss`` with
      independent weights (0.25 and 0.75 in the tutorial) and ``soft_targets_loss =
      sum(soft_targets * (soft_targets.log() - soft_prob)) / N * T**2``, ``soft_targets =
      softmax(v / T)``, ``soft_prob = log_softmax(z / T)``: that is ``T^2 KL`` with the batch
      mean, minikd's soft term (``F.kl_div(soft_prob, soft_targets, reduction="batchmean") *
      T**2`` is the same number). So minikd's ``alpha = ce_loss_weight / (ce_loss_weight +
      soft_target_loss_weight)``, and the tutorial's loss is ``(ce_loss_weight +
      soft_target_loss_weight)`` times minikd's. An earlier revision of the tutorial used
      ``-sum(soft_targets * soft_prob) / N * T**2``, the soft-target cross-entropy, which exceeds
      ``T^2 KL`` by ``T^2 H(q)`` (the teacher's entropy, constant for the student): same
      gradients, larger loss values. ``soft_targets.log()`` is ``-inf`` where a float32 teacher
      probability underflows, which makes the tutorial's loss NaN (see
      :func:`minikd.interop.reference_distillation_loss`).
    - *Keras example* "Knowledge Distillation" (keras-team/keras-io,
      ``examples/vision/knowledge_distillation.py``): ``loss = alpha * student_loss + (1 - alpha)
      * distillation_loss`` with ``keras.losses.KLDivergence`` (batch mean of per-sample sums):
      alpha weights the hard (student) loss, as in minikd. The T² factor depends on the version:
      an early version (2020) does **not** multiply the KL by T², a later revision does. To
      reproduce a version without T² (``a * CE + (1 - a) * KL``) use
      ``alpha = a T^2 / (a T^2 + 1 - a)``; the loss is then ``(a T^2 + 1 - a) / T^2`` times
      the Keras one.
    - *torchdistill* ``KDLoss`` (``torchdistill/losses/single.py`` and ``mid_level.py``):
      ``alpha * CE + beta * T^2 * KL`` with ``beta = 1 - alpha`` by default, KL with
      ``"batchmean"``: alpha weights the hard term, the same convention as minikd. But with
      ``alpha`` None or 0, or without targets, it returns the bare KL (no T², no beta), where
      minikd returns ``T^2 KL``.
    - *The opposite convention* is common too: the widely copied ``loss_fn_kd`` of
      knowledge-distillation-pytorch (``model/net.py``) computes ``alpha * T^2 * KL + (1 - alpha)
      * CE`` (alpha weights the **soft** term): use ``alpha_minikd = 1 - alpha_there``. Its
      ``nn.KLDivLoss()`` uses the default ``reduction="mean"``, which averages over all N·C
      entries, so its KL is C times smaller than the batch mean used here.

    Examples
    --------
    >>> import numpy as np
    >>> loss_fn = DistillationLoss(temperature=2.0, alpha=0.5)
    >>> z = np.array([[2.0, 0.5, -1.0]]); v = np.array([[1.5, 1.0, -0.5]])
    >>> loss, dz, parts = loss_fn.loss_and_gradient(z, v, labels=np.array([0]))
    >>> bool(np.isclose(loss, parts["soft"] + parts["hard"])), dz.shape
    (True, (1, 3))
    """

    def __init__(self, temperature: float = 3.0, alpha: float = 0.3):
        super().__init__(temperature, alpha)

    def _check_range(self, dtype) -> None:
        check_temperature_range(self.temperature, np.dtype(dtype), "DistillationLoss")

    def _compute(self, z, v, labels_kind, labels):
        n, T = z.shape[0], self._temperature  # _temperature, _alpha: the values behind the validated properties
        w_hard = self._alpha if labels_kind is not None else 0.0
        w_soft = 1.0 - w_hard  # w_soft + w_hard = 1: at least one term is on
        soft, hard, dz, log_p = 0.0, (None if labels_kind is None else 0.0), None, None
        if w_soft > 0:
            kl, p_minus_q, log_p = _softened_kl64(z, v, T)  # KL(q || p) (N,), p - q (N, C); float64: "Precision"
            soft = w_soft * T * T * float(kl.sum()) / n
            dz = (w_soft * T / n) * p_minus_q
        if w_hard > 0:
            log_p1 = log_p if (T == 1.0 and log_p is not None) else _log_softmax64(z)
            ce, dce = _cross_entropy_term(log_p1, labels_kind, labels)
            hard = w_hard * float(ce.sum()) / n
            dce *= w_hard / n  # dce is a new array
            if dz is None:
                dz = dce
            else:
                dz += dce
        return soft + (hard or 0.0), dz.astype(z.dtype, copy=False), {"soft": soft, "hard": hard}


# ----------------------------------------------------------------------------- Ba & Caruana
class LogitMatchingLoss(DistillationStrategy):
    r"""Regression of the student's logits onto the teacher's (Ba & Caruana 2014).

    Parameters
    ----------
    alpha : float in [0, 1], default 0.0
        Weight of the hard (true-label) cross-entropy term; the logit term gets ``1 - alpha``
        (weight 1 without labels), the same convention as :class:`DistillationLoss`.
    center : bool, default False
        Subtract each row's mean from ``z - v`` first. The loss then ignores a constant added to
        a row of logits (as softmax does) and equals the T -> infinity limit of the Hinton loss
        for *any* logits, not only zero-mean ones.

    Notes
    -----
    **Loss.** With d_i = z_i - v_i (centred if ``center``):

    .. math::

        L = \frac{1}{N} \sum_i \Big[ \alpha\, \mathrm{CE}(\mathrm{softmax}(z_i), y_i)
            + (1 - \alpha) \frac{1}{2C} \lVert d_i \rVert^2 \Big]

    Reduction: batch mean of per-sample sums. This is half of PyTorch's
    ``F.mse_loss(z, v)`` (which averages over all N·C entries): the factor 1/(2C) is chosen so
    that the gradient matches Hinton's limit exactly.

    **Gradient.** ``d/dz_i (1/(2C)) ||z_i - v_i||^2 = (z_i - v_i) / C``. With centring,
    d = P (z - v) for the projection ``P = I - 1 1^T / C`` (symmetric, P² = P), so the gradient is
    ``P^T P (z - v) / C = P (z - v) / C``, the centred difference over C. Hence

    .. math::

        \frac{\partial L}{\partial z_i} = \frac{1}{N} \Big[ \alpha (\mathrm{softmax}(z_i) - y_i)
            + (1 - \alpha) \frac{d_i}{C} \Big].

    **High-temperature limit.** Hinton et al. (2015, section 2.1): for zero-mean logits,
    ``softmax(z/T)_j = 1/C + z_j / (C T) + O(1/T^2)``, so the Hinton soft gradient
    ``T (softmax(z/T) - softmax(v/T)) -> (z - v) / C`` and ``T^2 KL -> ||z - v||^2 / (2C)``,
    both with an O(1/T) error: "matching logits is a special case of distillation". The tests
    check this limit and its rate.

    ``temperature`` is 1.0 and is not used: the logits are compared as they are. It is kept so
    that every strategy exposes one.
    """

    def __init__(self, alpha: float = 0.0, center: bool = False):
        if not isinstance(center, (bool, np.bool_)):
            raise TypeError(f"center must be a bool, got {describe(center)}")
        super().__init__(1.0, alpha)
        self.center = bool(center)

    def _params(self) -> dict:
        return {"alpha": self.alpha, "center": self.center}

    def _compute(self, z, v, labels_kind, labels):
        n, c = z.shape
        w_hard = self.alpha if labels_kind is not None else 0.0
        w_soft = 1.0 - w_hard
        dz = np.zeros_like(z)
        soft, hard = 0.0, (None if labels_kind is None else 0.0)
        if w_soft > 0:
            d = z - v  # (N, C)
            if self.center:
                d -= d.mean(axis=1, keepdims=True)
            # float32 squares, summed in float64 (all terms >= 0: the squares' rounding is all that remains)
            soft = w_soft * float((d * d).sum(dtype=np.float64)) / (2 * c * n)
            dz += (w_soft / (n * c)) * d
        if w_hard > 0:
            ce, dce = _cross_entropy_term(_log_softmax64(z), labels_kind, labels)  # float64, as in DistillationLoss
            hard = w_hard * float(ce.sum()) / n
            dz += (w_hard / n) * dce
        return soft + (hard or 0.0), dz, {"soft": soft, "hard": hard}


# ----------------------------------------------------------------------------- DKD
# DKD's KLs use the standard log-softmax form, whose loss error grows like 1e-16 T^2 / |z - v|^2
# (relative 2e-6 at T = 1e3 for a student within 1 % of its teacher): see DecoupledKDLoss.
_DKD_TEMPERATURE_LIMITS = {np.dtype(np.float32): 1e3, np.dtype(np.float64): 1e3}

class DecoupledKDLoss(DistillationStrategy):
    r"""Decoupled knowledge distillation, DKD (Zhao, Cui, Song, Qiu & Liang, CVPR 2022).

    Parameters
    ----------
    temperature : float, default 4.0
        T > 0.
    alpha : float >= 0, default 1.0
        Weight of TCKD, the target-class term. Unlike the other strategies, alpha here is not a
        hard-label weight and is not limited to [0, 1].
    beta : float >= 0, default 8.0
        Weight of NCKD, the non-target-class term. The defaults are the paper's CIFAR-100
        setting (alpha = 1, beta = 8, T = 4).

    Notes
    -----
    **Loss.** DKD needs labels: each sample's target class g (an integer label, or the argmax
    of a probability row: ties go to the first maximum, and a soft row contributes only its
    argmax). Let p = softmax(z/T) (student), q = softmax(v/T) (teacher) and, for the student,

    - the binary distribution b^S = (p_g, 1 - p_g) (target vs. all the others),
    - the non-target distribution p̂_j = p_j / (1 - p_g) over the C - 1 classes j != g;

    likewise b^T and q̂ for the teacher. Then, following the paper's definition,

    .. math::

        \mathrm{TCKD} = \mathrm{KL}(b^T \| b^S), \quad
        \mathrm{NCKD} = \mathrm{KL}(\hat q \| \hat p), \quad
        L = \frac{1}{N} \sum_i T^2 \big( \alpha\, \mathrm{TCKD}_i + \beta\, \mathrm{NCKD}_i \big).

    Reduction: batch mean (the official code, megvii-research/mdistiller ``DKD.py``, sums the KL
    over the batch and divides by N). There is no cross-entropy term: the official trainer adds
    ``CE`` separately (and warms the DKD weight up over the first epochs); add it here with
    ``CompositeStrategy([(1.0, CrossEntropyLoss()), (1.0, DecoupledKDLoss())])``.
    The paper's decomposition ``KL(q || p) = TCKD + (1 - q_g) NCKD`` holds exactly and is tested.

    **Numerics.** Everything is computed from log-probabilities: ``log(1 - p_g)`` is the
    log-sum-exp of ``log p_j`` over j != g (no ``1 - p_g`` cancellation, no ``log(0)``), and
    ``log p̂`` is the log-softmax of the non-target logits alone (``p_j / (1 - p_g)`` is exactly
    that softmax, and it stays accurate when the target logit dominates). With C = 2 the
    non-target distribution has a single
    class, p̂ = q̂ = (1,), so NCKD = 0 and its gradient is 0 exactly; the loss is then
    ``alpha T^2 KL(q || p)``. C = 1 is rejected: there is no non-target class. (The official
    code "removes" the target by subtracting 1000 from its logit and takes ``torch.log`` of the
    binary probabilities; both break for extreme logits, e.g. once the target logit exceeds the
    others by more than 1000 T; a user reported an infinite NCKD on a binary task, mdistiller
    issue #60. Here the target entry is removed, not masked, and everything stays in log space.)

    **Gradient (derived by hand).** Write s = z/T, so ``d p_j / d s_k = p_j (delta_jk - p_k)``.

    *TCKD.* ``TCKD = q_g log(q_g/p_g) + (1 - q_g) log((1 - q_g)/(1 - p_g))``, so
    ``d TCKD / d p_g = -q_g/p_g + (1 - q_g)/(1 - p_g) = (p_g - q_g) / (p_g (1 - p_g))``. With
    ``d p_g / d s_k = p_g (delta_gk - p_k)``:

    - k = g: ``(p_g - q_g)/(p_g (1 - p_g)) * p_g (1 - p_g) = p_g - q_g``;
    - k != g: ``(p_g - q_g)/(p_g (1 - p_g)) * (-p_g p_k) = -(p_g - q_g) p̂_k``.

    *NCKD.* p̂ = softmax of the non-target entries of s alone (the common factor cancels), so
    it does not depend on s_g, and as for any softmax KL, ``d NCKD / d s_k = p̂_k - q̂_k`` for
    k != g and 0 for k = g.

    With ``ds/dz = 1/T`` and the T²/N factor:

    .. math::

        \frac{\partial L}{\partial z_{ig}} = \frac{T}{N} \alpha (p_{ig} - q_{ig}), \qquad
        \frac{\partial L}{\partial z_{ik}} = \frac{T}{N} \big[ \beta (\hat p_{ik} - \hat q_{ik})
            - \alpha (p_{ig} - q_{ig}) \hat p_{ik} \big] \quad (k \ne g).

    Each row sums to 0 (``sum_k p̂_k = sum_k q̂_k = 1``).

    ``parts`` holds ``"tckd"`` = ``alpha T^2 mean(TCKD)`` and ``"nckd"`` = ``beta T^2 mean(NCKD)``;
    ``"soft"`` is their sum and ``"hard"`` is None.

    **Precision and temperature range.** As in :class:`DistillationLoss`, the loss is computed in
    float64 from the logits (``s = (z - max z)/T`` rounded to their dtype) and the gradient is
    returned in the student's dtype. The KLs use the standard log-softmax form (not the
    high-temperature form), whose loss error grows like ``1e-16 T^2 / |z - v|^2`` (relative 2e-6
    at T = 1e3 for a student within 1 % of its teacher): above T = 1e3 a ``UserWarning`` says so.
    """

    requires_labels = True

    def __init__(self, temperature: float = 4.0, alpha: float = 1.0, beta: float = 8.0):
        super().__init__(temperature, alpha)
        self.beta = beta

    @property
    def beta(self) -> float:
        """Weight of the non-target-class term NCKD."""
        return self._beta

    @beta.setter
    def beta(self, value) -> None:
        self._beta = check_nonnegative_float(value, "beta")

    @staticmethod
    def _check_alpha(value) -> float:
        return check_nonnegative_float(value, "alpha")

    def _params(self) -> dict:
        return {"temperature": self.temperature, "alpha": self.alpha, "beta": self.beta}

    def _check_range(self, dtype) -> None:
        check_temperature_range(self.temperature, np.dtype(dtype), "DecoupledKDLoss", _DKD_TEMPERATURE_LIMITS)

    def _compute(self, z, v, labels_kind, labels):
        if labels_kind is None:
            raise ValueError(
                "labels are required by DecoupledKDLoss (TCKD and NCKD are defined by each "
                "sample's target class), got None"
            )
        n, c = z.shape
        if c < 2:
            raise ValueError(
                f"DecoupledKDLoss needs at least 2 classes (a target and a non-target class), "
                f"got logits of shape {z.shape}"
            )
        T, a, b = self.temperature, self.alpha, self.beta
        target = labels if labels_kind == "index" else np.argmax(labels, axis=1)  # (N,)
        rows = np.arange(n)
        log_p = _log_softmax64(z, T)  # (N, C) student, float64 (as in DistillationLoss, "Precision")
        log_q = _log_softmax64(v, T)  # (N, C) teacher
        other = np.ones((n, c), dtype=bool)
        other[rows, target] = False
        log_p_other = log_p[other].reshape(n, c - 1)  # log p_j for j != g, (N, C-1)
        log_q_other = log_q[other].reshape(n, c - 1)

        # TCKD: KL between the binary (target, non-target) distributions, from logs.
        log_pt, log_qt = log_p[rows, target], log_q[rows, target]      # log p_g, (N,)
        log_po, log_qo = _logsumexp(log_p_other), _logsumexp(log_q_other)  # log(1 - p_g), (N,)
        pt, qt, qo = np.exp(log_pt), np.exp(log_qt), np.exp(log_qo)
        tckd = np.maximum(qt * (log_qt - log_pt) + qo * (log_qo - log_po), 0)  # (N,)

        # NCKD: KL between the renormalised non-target distributions. p̂ is the softmax of the
        # non-target logits alone (equal to p_j / (1 - p_g), but without subtracting two large
        # logs when the target logit dominates).
        log_p_hat = _log_softmax64(z[other].reshape(n, c - 1), T)  # (N, C-1)
        log_q_hat = _log_softmax64(v[other].reshape(n, c - 1), T)
        p_hat, q_hat = np.exp(log_p_hat), np.exp(log_q_hat)
        nckd = np.maximum((q_hat * (log_q_hat - log_p_hat)).sum(axis=1), 0)  # (N,)

        tckd_part = a * T * T * float(tckd.sum()) / n
        nckd_part = b * T * T * float(nckd.sum()) / n

        dz = np.empty_like(log_p)  # float64; returned in the student's dtype
        dz[rows, target] = a * (pt - qt)
        dz[other] = (b * (p_hat - q_hat) - a * (pt - qt)[:, None] * p_hat).ravel()
        dz *= T / n
        soft = tckd_part + nckd_part
        return soft, dz.astype(z.dtype, copy=False), {"soft": soft, "hard": None, "tckd": tckd_part,
                                                      "nckd": nckd_part}


# ----------------------------------------------------------------------------- weighted sums
class CompositeStrategy(DistillationStrategy):
    r"""Weighted sum of strategies (the seed library's Hybrid strategy).

    Parameters
    ----------
    strategies : sequence of (weight, DistillationStrategy) pairs
        Non-empty; weights are finite and >= 0, at least one > 0.

    Notes
    -----
    ``L = sum_k w_k L_k`` and, the derivative being linear, ``dL/dz = sum_k w_k dL_k/dz``.
    Each part is summed the same way: ``soft = sum_k w_k soft_k`` and ``hard = sum_k w_k hard_k``
    over the strategies that have a hard term (None if none has one); ``parts`` also holds
    ``"component_k"`` = ``w_k L_k``.

    ``temperature`` and ``alpha`` are the **first** strategy's (for display and for code that
    reads ``strategy.temperature``); they are read-only here: set them on the components.
    ``requires_labels`` (``uses_teacher``) is True if any component requires labels (uses the
    teacher).

    Examples
    --------
    The official DKD recipe, cross-entropy plus DKD:

    >>> dkd = CompositeStrategy([(1.0, CrossEntropyLoss()), (1.0, DecoupledKDLoss())])
    >>> dkd.requires_labels, dkd.temperature
    (True, 1.0)
    """

    def __init__(self, strategies):
        if isinstance(strategies, (str, bytes)) or not hasattr(strategies, "__iter__"):
            raise TypeError(
                "strategies must be a sequence of (weight, strategy) pairs, "
                f"got {describe(strategies)}"
            )
        pairs = []
        for k, item in enumerate(strategies):
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise TypeError(
                    f"strategies[{k}] must be a (weight, strategy) pair, got {describe(item)}"
                )
            weight = check_nonnegative_float(item[0], f"strategies[{k}] weight")
            strategy = item[1]
            if not isinstance(strategy, DistillationStrategy):
                raise TypeError(
                    f"strategies[{k}] strategy must be a DistillationStrategy, "
                    f"got {describe(strategy)}"
                )
            pairs.append((weight, strategy))
        if not pairs:
            raise ValueError("strategies must hold at least one (weight, strategy) pair, got none")
        if not any(w > 0 for w, _ in pairs):
            raise ValueError(
                f"at least one weight in strategies must be > 0, got {[w for w, _ in pairs]}"
            )
        self.strategies = tuple(pairs)

    @property
    def temperature(self) -> float:
        """The first strategy's temperature (read-only)."""
        return self.strategies[0][1].temperature

    @property
    def alpha(self) -> float:
        """The first strategy's alpha (read-only)."""
        return self.strategies[0][1].alpha

    @property
    def requires_labels(self) -> bool:
        """True if any component requires labels."""
        return any(s.requires_labels for _, s in self.strategies)

    @property
    def uses_teacher(self) -> bool:
        """True if any component uses the teacher."""
        return any(s.uses_teacher for _, s in self.strategies)

    def _check_range(self, dtype) -> None:
        for _, strategy in self.strategies:
            strategy._check_range(dtype)

    def _compute(self, z, v, labels_kind, labels):
        dz = np.zeros_like(z)
        soft, hard = 0.0, None
        parts = {}
        for k, (w, strategy) in enumerate(self.strategies):
            loss_k, dz_k, parts_k = strategy._compute(z, v, labels_kind, labels)
            dz += w * dz_k
            soft += w * parts_k["soft"]
            if parts_k["hard"] is not None:
                hard = (hard or 0.0) + w * parts_k["hard"]
            parts[f"component_{k}"] = w * loss_k
        return soft + (hard or 0.0), dz, {"soft": soft, "hard": hard, **parts}

    def _params(self) -> dict:
        return {"strategies": [[w, s.get_config()] for w, s in self.strategies]}

    @classmethod
    def _from_config(cls, params: dict):
        if "strategies" not in params:
            raise ValueError("config for CompositeStrategy must have a 'strategies' list")
        unknown = sorted(set(params) - {"strategies", "temperature", "alpha"})
        if unknown:
            raise ValueError(f"config for CompositeStrategy has unknown key(s) {unknown}")
        items = params["strategies"]
        if not isinstance(items, (list, tuple)):
            raise TypeError(f"config['strategies'] must be a list, got {describe(items)}")
        pairs = []
        for k, item in enumerate(items):
            if not (isinstance(item, (list, tuple)) and len(item) == 2):
                raise TypeError(
                    f"config['strategies'][{k}] must be a [weight, config] pair, "
                    f"got {describe(item)}"
                )
            pairs.append((item[0], strategy_from_config(item[1])))
        return cls(pairs)

    def __repr__(self) -> str:
        inner = ", ".join(f"({w!r}, {s!r})" for w, s in self.strategies)
        return f"CompositeStrategy([{inner}])"


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
