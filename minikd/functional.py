"""Softmax, log-softmax, cross-entropy, KL divergence and one-hot encoding.

Every function here is numerically stable and dtype-preserving: float32 logits give float32
results, float64 logits give float64 results.

Stability
---------
softmax(z / T) is computed as ``exp(s - max(s)) / sum(exp(s - max(s)))`` with ``s = z / T``: the
largest exponent is exp(0) = 1, so nothing overflows and the denominator is >= 1. log_softmax is
``s - max(s) - log(sum(exp(s - max(s))))`` (log-sum-exp), so no ``log(0)`` is ever taken: it stays
finite for logits of magnitude 1e4 at temperature 0.01 (``s`` of magnitude 1e6).

Dimension names: N samples, C classes. The public functions validate their inputs; the private
``_softmax``/``_log_softmax`` are the bare math for hot loops whose inputs are already checked.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_choice, check_float_array, check_int, check_labels, check_positive_float

__all__ = ["softmax", "log_softmax", "cross_entropy", "kl_divergence", "one_hot"]

_REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------------- the bare math
def _softmax(z: np.ndarray, temperature: float = 1.0, axis: int = -1) -> np.ndarray:
    """softmax(z / T) along ``axis`` without validation. Same shape and dtype as ``z``."""
    s = z / temperature if temperature != 1.0 else z.copy()
    s -= s.max(axis=axis, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=axis, keepdims=True)
    return s


def _log_softmax(z: np.ndarray, temperature: float = 1.0, axis: int = -1) -> np.ndarray:
    """log softmax(z / T) along ``axis`` without validation. Same shape and dtype as ``z``."""
    s = z / temperature if temperature != 1.0 else z.copy()
    s -= s.max(axis=axis, keepdims=True)
    s -= np.log(np.exp(s).sum(axis=axis, keepdims=True))
    return s


def _reduce(per_sample: np.ndarray, reduction: str):
    if reduction == "none":
        return per_sample
    total = per_sample.sum()
    if reduction == "sum":
        return float(total)
    return float(total / per_sample.shape[0]) if per_sample.ndim else float(total)


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
    ndarray, same shape and dtype as ``z``
        Non-negative entries that sum to 1 along ``axis``.

    Notes
    -----
    ``softmax(z / T)_j = exp(z_j / T) / sum_k exp(z_k / T)``, computed after subtracting the row
    maximum (which cancels in the ratio), so it never overflows. Adding a constant to every logit
    of a row leaves it unchanged.
    """
    z = check_float_array(z, "z", ndim=range(1, 33))
    t = check_positive_float(temperature, "temperature")
    return _softmax(z, t, _axis(axis, z.ndim))


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
    ndarray, same shape and dtype as ``z``
        Entries <= 0, finite wherever ``z`` is finite.

    Notes
    -----
    ``log softmax(s)_j = s_j - m - log sum_k exp(s_k - m)`` with ``s = z / T`` and ``m = max_k s_k``.
    Unlike ``log(softmax(s))``, it stays finite when a probability underflows to 0.
    """
    z = check_float_array(z, "z", ndim=range(1, 33))
    t = check_positive_float(temperature, "temperature")
    return _log_softmax(z, t, _axis(axis, z.ndim))


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
    logp = _log_softmax(logits)
    if kind == "index":
        per_sample = -np.take_along_axis(
            np.atleast_2d(logp), np.atleast_1d(y)[:, None], axis=1
        )[:, 0]
        if single:
            per_sample = per_sample[0]
    else:
        per_sample = -(y * logp).sum(axis=-1)
    return _reduce(np.asarray(per_sample), reduction)


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
        factor of the distillation loss is *not* included here.

    Notes
    -----
    ``KL(P || Q) = sum_j P_j (log P_j - log Q_j)``, computed from log-softmaxes so that terms
    with ``P_j = 0`` contribute exactly 0 and nothing is ``log(0)``. Rounding can make a true
    zero come out as -1e-17; the per-sample value is clipped at 0, which the true value obeys.
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
    logp = _log_softmax(p_logits.astype(dtype, copy=False), t)
    logq = _log_softmax(q_logits.astype(dtype, copy=False), t)
    per_sample = np.maximum((np.exp(logp) * (logp - logq)).sum(axis=-1), 0)
    return _reduce(np.asarray(per_sample), reduction)


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
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
    single = np.ndim(labels) == 0 and not isinstance(labels, (list, tuple))
    kind, y = check_labels(labels, "labels", None, num_classes, single=single)
    if kind != "index":
        raise ValueError(f"labels must be integer class indices, got shape {np.shape(labels)}")
    return _one_hot(y, num_classes, dtype)


def _one_hot(y: np.ndarray, num_classes: int, dtype) -> np.ndarray:
    """One-hot of already-validated int indices y (shape () or (N,))."""
    out = np.zeros(np.shape(y) + (num_classes,), dtype=dtype)
    np.put_along_axis(out, np.asarray(y)[..., None], 1, axis=-1)
    return out
