"""Softmax, log-softmax, cross-entropy, KL divergence and one-hot encoding.

Every function here is numerically stable and dtype-preserving: float32 logits give float32
results, float64 logits give float64 results (the losses are computed in float64 either way:
"Precision of the losses" below).

Stability
---------
softmax(z / T) is computed as ``exp(s) / sum(exp(s))`` with ``s = (z - max(z)) / T``: the largest
exponent is exp(0) = 1, so nothing overflows and the denominator is >= 1. log_softmax is
``s - log(sum(exp(s)))`` (log-sum-exp), so no ``log(0)`` is ever taken: it stays finite for logits
of magnitude 1e4 at temperature 0.01 (``s`` of magnitude 2e6). The maximum is subtracted *before*
dividing by T: ``z - max(z)`` is exact for nearby logits, so adding a constant to a row cancels
exactly, and rounding ``z / T`` first would cost float32 up to 0.06 in ``s`` at T = 0.01.

Only logits whose row spans more than the float range (about 3.4e38 in float32, 1.8e308 in
float64) can push ``s`` to -inf. softmax is still exact there (probability 0); log_softmax,
cross_entropy and kl_divergence raise a ValueError rather than return -inf/inf.

Precision of the losses
-----------------------
cross_entropy and kl_divergence compute in float64 from ``s`` rounded to the logits' dtype
(``_log_softmax64``), so float32 losses are as accurate as float32 inputs allow (PyTorch's float32
KL is up to 1e4 times less accurate on small KLs, ``tests/test_float32_accuracy.py``); their
``reduction="none"`` arrays are still returned in the logits' dtype. kl_divergence switches to a
high-temperature form when T > 100 and every row spans at most T (``_softened_kl64``) and stays accurate up
to T = 1e30 (float32) and 1e100 (float64); above those it warns (``UserWarning``).

Dimension names: N samples, C classes. The public functions validate their inputs; the private
``_softmax``/``_log_softmax`` are the bare math for hot loops whose inputs are already checked.
"""

from __future__ import annotations

import numpy as np

from ._validation import (
    check_choice,
    check_float_array,
    check_int,
    check_labels,
    check_positive_float,
    check_temperature_range,
    describe,
)

__all__ = ["softmax", "log_softmax", "cross_entropy", "kl_divergence", "one_hot"]

_REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------------- the bare math
# (smallest normal, largest) number of each float dtype: a temperature outside this range would
# round to 0 or inf in that dtype (float32 with T = 1e-40 or 1e300).
_NORMAL_RANGE = {np.dtype(t): (float(np.finfo(t).tiny), float(np.finfo(t).max)) for t in (np.float32, np.float64)}


def _shifted(z: np.ndarray, temperature: float, axis: int) -> np.ndarray:
    """``(z - max(z)) / T`` along ``axis``, in z's dtype (<= 0, exactly 0 at the maximum).

    A T that is not a normal number of z's dtype is applied in float64 and the result cast back,
    so it never rounds to 0 (a division by zero) or inf. Entries below the float range become
    -inf; with a normal T that comes with an overflow RuntimeWarning, which the callers silence.
    """
    s = z - np.maximum.reduce(z, axis=axis, keepdims=True)  # = z.max(...), without its Python wrapper
    if temperature != 1.0:
        lo, hi = _NORMAL_RANGE.get(s.dtype, (0.0, np.inf))
        if lo <= temperature <= hi:
            s /= temperature
        else:
            with np.errstate(over="ignore"):  # below the float range: -inf, probability 0
                s = (s.astype(np.float64) / temperature).astype(s.dtype)
    return s


def _softmax(z: np.ndarray, temperature: float = 1.0, axis: int = -1) -> np.ndarray:
    """softmax(z / T) along ``axis`` without validation. Same shape and dtype as ``z``.

    Expects finite float logits and a finite T > 0. A row spanning more than the float range
    overflows to -inf in ``s`` (probability 0, the right answer) with a RuntimeWarning; the
    public functions silence it.
    """
    s = _shifted(z, temperature, axis)
    np.exp(s, out=s)
    s /= s.sum(axis=axis, keepdims=True)
    return s


def _log_softmax(z: np.ndarray, temperature: float = 1.0, axis: int = -1) -> np.ndarray:
    """log softmax(z / T) along ``axis`` without validation. Same shape and dtype as ``z``.

    Same expectations as :func:`_softmax`; entries are -inf only where the true value is below
    the float range.
    """
    s = _shifted(z, temperature, axis)
    s -= np.log(np.exp(s).sum(axis=axis, keepdims=True))  # the sum is in [1, C]
    return s


def _log_softmax64(z: np.ndarray, temperature: float = 1.0, axis: int = -1) -> np.ndarray:
    """log softmax(z / T) along ``axis`` in float64, for loss values. Same shape as ``z``.

    ``s = (z - max z) / T`` is computed in z's dtype, as in :func:`_log_softmax` (so a float32
    row spanning more than the float32 range still gives -inf: the callers report it), and the
    log-sum-exp and everything after it in float64. For float64 z this is exactly
    :func:`_log_softmax`.

    Why: a float32 log-probability carries a rounding error of about ``eps32 * |log p_j|``
    (eps32 = 6e-8), so ``KL = sum_j q_j (log q_j - log p_j)`` computed from float32 log-softmaxes
    is off by about ``eps32 * H(q)`` (up to ``eps32 * log C``) in absolute terms, which is large
    relative to a small KL (a KL of 2e-3 at T = 20 lost 1e-4 relative). Rounding ``s`` alone costs
    only ``eps32 * |s_j| <= eps32 * |log p_j|`` per entry, and does not grow as KL shrinks for a
    given ``|z - v| / |z|``; float64 row sums of float32 terms would not help (measured: the
    rounding of the log-probabilities, not of the sums, dominates).
    """
    s = _shifted(z, temperature, axis).astype(np.float64, copy=False)
    s -= np.log(np.exp(s).sum(axis=axis, keepdims=True))  # the sum is in [1, C]
    return s


# Above this temperature _softened_kl64 tries its high-temperature form (below it the standard
# form's float64 loss error, about 1.5e-16 T^2 in absolute terms, is below 2e-12, and the
# standard form costs half the NumPy calls: benchmarks/README.md).
_HIGH_TEMPERATURE = 100.0


def _softened_kl64(z: np.ndarray, v: np.ndarray, temperature: float, skip_zeros: bool = False):
    """``KL(q || p)`` per row and ``p - q``, float64, for p = softmax(z/T), q = softmax(v/T).

    Parameters: ``z``, ``v`` 2-D of one float dtype. Returns ``(kl (N,), p_minus_q (N, C),
    log_p (N, C) or None)``; ``log_p`` is None on the high-temperature path.

    Two paths, chosen per batch:

    - T > 100 and every row of z and of v spans at most T (``s = (x - max x)/T`` in [-1, 0]):
      the **high-temperature form**. The log-sum-exp is split as ``lse(s) = log C + l(s)`` with
      ``l(s) = log1p(mean_j expm1(s_j))``, accurate to rounding relative to ``|s|``; then
      ``u = log q - log p = (s_v - l(s_v)) - (s_z - l(s_z))`` never carries the constant
      ``log C`` (whose rounding, 1e-16 log C, times T^2 was the whole loss at T = 1e8),
      ``p - q = -p expm1(u)`` (no cancellation of two numbers near 1/C) and
      ``KL = sum_j p_j phi(u_j)``, ``phi(u) = u e^u - e^u + 1 >= 0`` (see the code). Neither
      error grows with T any more (it grew like 1e-16 T^2 / |z - v|^2 for the loss);
    - otherwise the **standard form** ``sum_j q_j (log q_j - log p_j)`` from log-softmaxes.
      With ``skip_zeros``, terms with q_j = 0 are 0 even where log q_j is -inf (a row beyond
      the float range), instead of NaN.
    """
    if temperature > _HIGH_TEMPERATURE:
        s_z = _shifted(z, temperature, -1).astype(np.float64, copy=False)
        s_v = _shifted(v, temperature, -1).astype(np.float64, copy=False)
        if s_z.min() >= -1.0 and s_v.min() >= -1.0:
            return _softened_kl64_high_temperature(s_z, s_v)
    log_p = _log_softmax64(z, temperature)  # (N, C) student
    log_q = _log_softmax64(v, temperature)  # (N, C) teacher
    q = np.exp(log_q)
    if skip_zeros:  # -inf - -inf would be NaN
        log_ratio = np.subtract(log_q, log_p, out=np.zeros_like(log_p), where=q > 0)
    else:
        log_ratio = log_q - log_p
    kl = np.maximum((q * log_ratio).sum(axis=1), 0)  # (N,); rounding can give -1e-17
    return kl, np.exp(log_p) - q, log_p


def _softened_kl64_high_temperature(s_z: np.ndarray, s_v: np.ndarray):
    """The high-temperature form of :func:`_softened_kl64`, from float64 s in [-1, 0]."""
    r_z = s_z - np.log1p(np.expm1(s_z).mean(axis=1, keepdims=True))  # log(C p), (N, C)
    r_v = s_v - np.log1p(np.expm1(s_v).mean(axis=1, keepdims=True))  # log(C q)
    u = r_v - r_z                                                     # log(q / p)
    p = np.exp(r_z) / s_z.shape[1]
    p_minus_q = -p * np.expm1(u)                                      # = p (1 - q/p)
    # KL = sum_j p_j phi(u_j) with phi(u) = u e^u - e^u + 1 >= 0 (it is sum_j q_j u_j: the
    # p_j - q_j add up to 0), so a rounding error common to all u_j (from l(s)) cancels to
    # first order. For |u| <= 1e-3 phi is its series (truncation < 3e-18 relative): no
    # cancellation at all; otherwise q_j u_j + p_j - q_j loses only 1e-16 / |u| relative.
    if np.abs(u).max() <= 1e-3:
        phi = u * u * (1 / 2 + u * (1 / 3 + u * (1 / 8 + u * (1 / 30 + u / 144))))
        kl = (p * phi).sum(axis=1)
    else:
        kl = np.maximum((p * np.exp(u) * u + p_minus_q).sum(axis=1), 0)
    return kl, p_minus_q, None


def _guarded(fn, z: np.ndarray, temperature: float, axis: int = -1, dtype=None) -> np.ndarray:
    """Run ``_softmax``/``_log_softmax``/``_log_softmax64`` for a public function: silence the
    overflow of a row spanning more than the float range (it rounds to -inf, as it should), and
    scale in float64 when T is not a normal number of z's dtype (float32 with T < 1.2e-38 or
    T > 3.4e38); the result is then cast to ``dtype`` (default: z's dtype)."""
    info = np.finfo(z.dtype)
    with np.errstate(over="ignore"):
        if temperature != 1.0 and not info.tiny <= temperature <= info.max:
            return fn(z.astype(np.float64), temperature, axis).astype(dtype or z.dtype)
        return fn(z, temperature, axis)


def _reduce(per_sample: np.ndarray, reduction: str, overflow_message: str, dtype=None):
    """Reduce per-sample losses (computed in float64); raise ValueError(overflow_message) if one
    is not finite or beyond the range of ``dtype`` (the logits' dtype: "none" returns that dtype)."""
    dtype = np.dtype(dtype or per_sample.dtype)
    with np.errstate(over="ignore"):
        total = per_sample.sum(dtype=np.float64)  # float64: float32 losses cannot overflow it
    if not ((np.abs(per_sample) <= np.finfo(dtype).max).all() and np.isfinite(total)):
        raise ValueError(overflow_message)
    if reduction == "none":
        return per_sample.astype(dtype, copy=False)
    if reduction == "sum":
        return float(total)
    return float(total / per_sample.shape[0]) if per_sample.ndim else float(total)


def _beyond_range(what: str, names: str, dtype, temperature: float | None = None) -> str:
    """Error message for a result beyond the float range."""
    at = "" if temperature is None else f" at temperature={temperature!r}"
    return (
        f"{what} is not representable in {np.dtype(dtype)} (beyond {np.finfo(dtype).max:.3g}): "
        f"a row of {names} spans too wide a range{at}; rescale {names}"
    )


def _axis(axis, ndim: int) -> int:
    axis = check_int(axis, "axis")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis must be in [{-ndim}, {ndim - 1}] for a {ndim}-D array, got {axis}")
    return axis


# ----------------------------------------------------------------------------- public API
def softmax(z, temperature: float = 1.0, axis: int = -1) -> np.ndarray:
    """Softmax of ``z / temperature``, the "softened" probabilities of Hinton et al. (2015).

    Parameters
    ----------
    z : array_like of shape (C,) or (N, C) (any ndim >= 1 is accepted)
        Logits.
    temperature : float, default 1.0
        T > 0. T > 1 flattens the distribution, T < 1 sharpens it.
    axis : int, default -1
        The class axis.

    Returns
    -------
    ndarray, same shape as ``z``
        Non-negative entries that sum to 1 along ``axis``. Same dtype as ``z`` for float32 and
        float64; float16 gives float32, integers give float64.

    Notes
    -----
    ``softmax(z / T)_j = exp(z_j / T) / sum_k exp(z_k / T)``, computed after subtracting the row
    maximum (which cancels in the ratio), so it never overflows. Adding a constant to every logit
    of a row leaves it unchanged.
    """
    z = check_float_array(z, "z", ndim=range(1, 33))
    t = check_positive_float(temperature, "temperature")
    return _guarded(_softmax, z, t, _axis(axis, z.ndim))


def log_softmax(z, temperature: float = 1.0, axis: int = -1) -> np.ndarray:
    """Logarithm of ``softmax(z / temperature)``, computed with log-sum-exp.

    Parameters
    ----------
    z : array_like of shape (C,) or (N, C) (any ndim >= 1 is accepted)
        Logits.
    temperature : float, default 1.0
        T > 0.
    axis : int, default -1
        The class axis.

    Returns
    -------
    ndarray, same shape as ``z``
        Finite entries <= 0. Same dtype as ``z`` for float32 and float64; float16 gives float32,
        integers give float64.

    Raises
    ------
    ValueError
        If some log-probability is below the most negative float (it would be -inf): only when
        a row of ``z`` spans more than the float range (about 3.4e38 in float32), or does so
        after dividing by T.

    Notes
    -----
    ``log softmax(s)_j = s_j - log sum_k exp(s_k)`` with ``s = (z - max_k z_k) / T``.
    Unlike ``log(softmax(s))``, it stays finite when a probability underflows to 0.
    """
    z = check_float_array(z, "z", ndim=range(1, 33))
    t = check_positive_float(temperature, "temperature")
    out = _guarded(_log_softmax, z, t, _axis(axis, z.ndim))
    if not np.isfinite(out).all():
        raise ValueError(_beyond_range("log_softmax(z / temperature)", "z", z.dtype, t))
    return out


def cross_entropy(logits, labels, reduction: str = "mean"):
    """Cross-entropy between targets and ``softmax(logits)``.

    Parameters
    ----------
    logits : array_like of shape (N, C) or (C,)
        Predicted logits.
    labels : array_like of shape (N,) of int, or (N, C) of probability rows
        Targets; for one sample (logits of shape (C,)) an int or a (C,) probability row.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" is the mean over samples of the per-sample sums over classes; "none" returns the
        per-sample losses, shape (N,) (shape () for one sample).

    Returns
    -------
    float or ndarray of shape (N,)
        A float for "mean" and "sum"; for "none" an array of the logits' float dtype.

    Raises
    ------
    ValueError
        For invalid labels, and if a loss is beyond the float range (logits spanning more
        than about 3.4e38 in float32).

    Notes
    -----
    ``CE_i = -sum_j y_ij log softmax(z_i)_j``; with an integer label this is ``-log p_{i, y_i}``.
    Its gradient with respect to the logits is ``softmax(z_i) - y_i`` (per sample; divide by N
    for the mean), see :class:`minikd.DistillationLoss`.
    """
    logits = check_float_array(logits, "logits")
    reduction = check_choice(reduction, "reduction", _REDUCTIONS)
    single = logits.ndim == 1
    n = None if single else logits.shape[0]
    kind, y = check_labels(labels, "labels", n, logits.shape[-1], logits.dtype, single=single)
    logp = _guarded(_log_softmax64, logits, 1.0, dtype=np.float64)  # float64 loss values: see _log_softmax64
    if kind == "index":
        per_sample = -np.take_along_axis(
            np.atleast_2d(logp), np.atleast_1d(y)[:, None], axis=1
        )[:, 0]
        if single:
            per_sample = per_sample[0]
    else:
        # Classes with y_ij = 0 contribute 0, even where log p_ij is -inf (0 * -inf would be NaN).
        with np.errstate(over="ignore"):
            per_sample = -(y * np.where(y > 0, logp, 0)).sum(axis=-1)
    return _reduce(np.asarray(per_sample), reduction,
                   _beyond_range("the cross-entropy", "logits", logits.dtype), logits.dtype)


def kl_divergence(p_logits, q_logits, temperature: float = 1.0, reduction: str = "mean"):
    """KL divergence ``KL(P || Q)`` between ``P = softmax(p_logits / T)`` and ``Q = softmax(q_logits / T)``.

    In distillation ``p_logits`` are the teacher's (the target) and ``q_logits`` the student's
    (the model being fitted), as in Hinton et al. (2015) and PyTorch's
    ``F.kl_div(log_softmax(student / T), softmax(teacher / T), reduction="batchmean")``.

    Parameters
    ----------
    p_logits : array_like of shape (N, C) or (C,)
        Logits of the target distribution P.
    q_logits : array_like, same shape as ``p_logits``
        Logits of the approximating distribution Q.
    temperature : float, default 1.0
        T > 0, applied to both.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" is the batch mean of the per-sample sums over classes (PyTorch's "batchmean").

    Returns
    -------
    float or ndarray of shape (N,)
        Non-negative; zero exactly when the two softened distributions are equal. The ``T**2``
        factor of the distillation loss is *not* included here. A float for "mean" and "sum";
        for "none" an array of the common float dtype of the inputs.

    Raises
    ------
    ValueError
        For mismatched shapes, and if the divergence is beyond the float range (only when a row
        of logits spans more than the float range, about 3.4e38 in float32, or does so after
        dividing by T).

    Warns
    -----
    UserWarning
        If ``temperature`` is above 1e30 (float32 logits) or 1e100 (float64), where the result
        may be wrong or silently 0 (``minikd._validation.TEMPERATURE_LIMITS``).

    Notes
    -----
    ``KL(P || Q) = sum_j P_j (log P_j - log Q_j)``, computed from float64 log-softmaxes so that
    terms with ``P_j = 0`` contribute exactly 0 and nothing is ``log(0)``. Rounding can make a
    true zero come out as -1e-17; the per-sample value is clipped at 0, which the true value obeys.
    When every row spans at most T, the high-temperature form of ``_softened_kl64`` is used
    instead (its docstring says why: the ``log C`` in both log-sum-exps would otherwise cost
    ``1e-16 T^2`` of the KL's ``|p - q|^2``-sized value).
    """
    p_logits = check_float_array(p_logits, "p_logits")
    q_logits = check_float_array(q_logits, "q_logits")
    if p_logits.shape != q_logits.shape:
        raise ValueError(
            f"p_logits and q_logits must have the same shape, got {p_logits.shape} and {q_logits.shape}"
        )
    t = check_positive_float(temperature, "temperature")
    reduction = check_choice(reduction, "reduction", _REDUCTIONS)
    dtype = np.result_type(p_logits, q_logits)
    check_temperature_range(t, dtype, "kl_divergence")
    # float64 whatever the dtype, and a high-temperature form (see _log_softmax64, _softened_kl64)
    target = np.atleast_2d(p_logits.astype(dtype, copy=False))
    model = np.atleast_2d(q_logits.astype(dtype, copy=False))
    with np.errstate(over="ignore"):  # a row beyond the float range: -inf, reported below
        per_sample = _softened_kl64(model, target, t, skip_zeros=True)[0]
    if p_logits.ndim == 1:
        per_sample = per_sample[0]
    return _reduce(np.asarray(per_sample), reduction,
                   _beyond_range("the KL divergence", "p_logits and q_logits", dtype, t), dtype)


def one_hot(labels, num_classes: int, dtype=np.float64) -> np.ndarray:
    """One-hot encode integer class indices.

    Parameters
    ----------
    labels : array_like of int, shape (N,) (or a scalar int)
        Class indices in ``[0, num_classes)``.
    num_classes : int
        C >= 1.
    dtype : float dtype, default float64

    Returns
    -------
    ndarray of shape (N, C) (or (C,) for a scalar)
        Row i has a 1 in column ``labels[i]`` and 0 elsewhere.
    """
    num_classes = check_int(num_classes, "num_classes", minimum=1)
    try:
        float_dtype = np.dtype(dtype)
    except (TypeError, ValueError):
        float_dtype = None
    if float_dtype is None or float_dtype.kind != "f":
        raise TypeError(f"dtype must be a floating-point dtype, got {describe(dtype)}")
    try:
        single = np.ndim(labels) == 0
    except (TypeError, ValueError):  # ragged nested lists: check_labels reports them
        single = False
    kind, y = check_labels(labels, "labels", None, num_classes, single=single)
    if kind != "index":
        raise ValueError(f"labels must be integer class indices, got shape {np.shape(labels)}")
    return _one_hot(y, num_classes, float_dtype)


def _one_hot(y: np.ndarray, num_classes: int, dtype) -> np.ndarray:
    """One-hot of already-validated int indices y (shape () or (N,))."""
    out = np.zeros(np.shape(y) + (num_classes,), dtype=dtype)
    np.put_along_axis(out, np.asarray(y)[..., None], 1, axis=-1)
    return out
