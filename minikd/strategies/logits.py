"""The logit losses: Hinton's softened softmax, logit matching, decoupled KD, and plain cross-entropy."""

from __future__ import annotations

import numpy as np

from .._validation import check_nonnegative_float, check_temperature_range, describe
from ..functional import _log_softmax64, _softened_kl64
from .base import DistillationStrategy

__all__ = ["CrossEntropyLoss", "DistillationLoss", "LogitMatchingLoss", "DecoupledKDLoss"]


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


