"""Layers as plain functions that return a cache (after cs231n's ``layers.py``).

Every layer is a pair of functions::

    out, cache = <layer>_forward(x, ...)     # cache: a small NamedTuple of what backward needs
    dx = <layer>_backward(dout, cache)        # dout: dLoss/dout, the gradient arriving from above

so each intermediate of a forward pass is a named field you can inspect in a debugger, and each
backward is a few lines of math you can check against :mod:`minikd.gradcheck`.

Dimension names: N samples, D input features, H output units. Every function is dtype-preserving
(float32 in -> float32 out) and does not modify its arguments.

Checks
------
These functions sit on the hot path of training, so they only run checks that cost a few attribute
reads: shapes (``ValueError``). They do not scan values (NaN/inf) or convert dtypes; the public
methods of :class:`minikd.mlp.MLP` validate whole inputs once at their boundary.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "DenseCache",
    "ActivationCache",
    "LeakyReluCache",
    "dense_forward",
    "dense_backward",
    "relu_forward",
    "relu_backward",
    "leaky_relu_forward",
    "leaky_relu_backward",
    "tanh_forward",
    "tanh_backward",
    "sigmoid_forward",
    "sigmoid_backward",
    "identity_forward",
    "identity_backward",
    "ACTIVATIONS",
]


# ----------------------------------------------------------------------------- caches
class DenseCache(NamedTuple):
    """What :func:`dense_backward` needs from :func:`dense_forward`.

    Attributes
    ----------
    x : ndarray of shape (N, D)
        The layer input.
    W : ndarray of shape (D, H)
        The weights used in the forward pass.
    """

    x: np.ndarray
    W: np.ndarray


class ActivationCache(NamedTuple):
    """What an elementwise activation's backward needs from its forward.

    Attributes
    ----------
    x : ndarray of shape (N, H)
        The activation input (the pre-activation ``z`` of a dense layer).
    out : ndarray of shape (N, H)
        The activation output ``f(x)``. ReLU, tanh and sigmoid express their derivative through it.
    """

    x: np.ndarray
    out: np.ndarray


class LeakyReluCache(NamedTuple):
    """:class:`ActivationCache` plus the slope used for ``x <= 0``.

    Attributes
    ----------
    x : ndarray of shape (N, H)
        The activation input.
    out : ndarray of shape (N, H)
        The activation output.
    negative_slope : float
        The slope ``a`` of the negative part.
    """

    x: np.ndarray
    out: np.ndarray
    negative_slope: float


def _check_dout(dout: np.ndarray, expected: tuple, layer: str) -> None:
    if dout.shape != expected:
        raise ValueError(
            f"dout must have the shape of the {layer} output {expected}, got shape {dout.shape}"
        )


# ----------------------------------------------------------------------------- dense (affine)
def dense_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, DenseCache]:
    """Fully connected (affine) layer: ``out = x @ W + b``.

    Parameters
    ----------
    x : ndarray of shape (N, D)
        Inputs, one row per sample.
    W : ndarray of shape (D, H)
        Weights.
    b : ndarray of shape (H,)
        Biases.

    Returns
    -------
    out : ndarray of shape (N, H)
    cache : DenseCache
        ``(x, W)``, for :func:`dense_backward`.

    Notes
    -----
    ``out_nh = sum_d x_nd W_dh + b_h``. The bias is added in place to the fresh matmul result.
    """
    if x.ndim != 2 or W.ndim != 2 or b.ndim != 1:
        raise ValueError(
            f"x, W and b must be 2-D, 2-D and 1-D, got shapes {x.shape}, {W.shape} and {b.shape}"
        )
    if x.shape[1] != W.shape[0] or W.shape[1] != b.shape[0]:
        raise ValueError(
            f"x (N, D), W (D, H) and b (H,) have inconsistent shapes {x.shape}, {W.shape} and {b.shape}"
        )
    return _dense_forward(x, W, b)


def _dense_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, DenseCache]:
    """The math of :func:`dense_forward`, without the shape checks (what ``MLP`` calls)."""
    out = x @ W  # (N, D) @ (D, H) -> (N, H)
    out += b
    return out, DenseCache(x, W)


def dense_backward(dout: np.ndarray, cache: DenseCache, need_dx: bool = True):
    """Backward pass of :func:`dense_forward`.

    Parameters
    ----------
    dout : ndarray of shape (N, H)
        Gradient of the loss with respect to the layer output.
    cache : DenseCache
        From :func:`dense_forward`.
    need_dx : bool, default True
        Whether to compute the input gradient. The first layer of a network does not need it
        (nobody updates the data), and skipping it saves one matmul.

    Returns
    -------
    dx : ndarray of shape (N, D), or None when ``need_dx`` is False
    dW : ndarray of shape (D, H)
    db : ndarray of shape (H,)

    Notes
    -----
    From ``out = x W + b``:

    - ``dL/dx = dout W^T``, since ``out_nh`` depends on ``x_nd`` through ``W_dh``;
    - ``dL/dW = x^T dout``: ``dL/dW_dh = sum_n x_nd dout_nh`` (summed over the batch);
    - ``dL/db = sum_n dout_nh``, since ``b_h`` is added to every row.
    """
    x, W = cache
    _check_dout(dout, (x.shape[0], W.shape[1]), "dense")
    dx = dout @ W.T if need_dx else None  # (N, H) @ (H, D) -> (N, D)
    dW = x.T @ dout  # (D, N) @ (N, H) -> (D, H)
    db = dout.sum(axis=0)  # (H,)
    return dx, dW, db


# ----------------------------------------------------------------------------- activations
def relu_forward(x: np.ndarray) -> tuple[np.ndarray, ActivationCache]:
    """Rectified linear unit, ``max(x, 0)`` elementwise.

    Parameters
    ----------
    x : ndarray of any shape, e.g. (N, H)

    Returns
    -------
    out : ndarray, same shape and dtype as ``x``
    cache : ActivationCache
    """
    out = np.maximum(x, 0)
    return out, ActivationCache(x, out)


def relu_backward(dout: np.ndarray, cache: ActivationCache) -> np.ndarray:
    """Backward pass of :func:`relu_forward`.

    Parameters
    ----------
    dout : ndarray, shape of the ReLU output
    cache : ActivationCache

    Returns
    -------
    dx : ndarray, same shape as ``dout``

    Notes
    -----
    ``d max(x, 0) / dx`` is 1 for ``x > 0`` and 0 for ``x < 0`` (at 0 we take 0), and
    ``x > 0`` exactly where ``out > 0``: ``dx = dout * (out > 0)``. Multiplying by the mask is
    about 18x faster than the boolean assignment ``dx[out <= 0] = 0``.
    """
    _check_dout(dout, cache.out.shape, "ReLU")
    return dout * (cache.out > 0)


def leaky_relu_forward(
    x: np.ndarray, negative_slope: float = 0.01
) -> tuple[np.ndarray, LeakyReluCache]:
    """Leaky ReLU: ``x`` for ``x > 0``, ``negative_slope * x`` otherwise.

    Parameters
    ----------
    x : ndarray of any shape, e.g. (N, H)
    negative_slope : float, default 0.01
        The slope ``a`` of the negative part (as PyTorch's ``LeakyReLU``).

    Returns
    -------
    out : ndarray, same shape and dtype as ``x``
    cache : LeakyReluCache
    """
    negative_slope = float(negative_slope)  # a Python float keeps float32 arrays float32
    out = np.where(x > 0, x, negative_slope * x)
    return out, LeakyReluCache(x, out, negative_slope)


def leaky_relu_backward(dout: np.ndarray, cache: LeakyReluCache) -> np.ndarray:
    """Backward pass of :func:`leaky_relu_forward`.

    Parameters
    ----------
    dout : ndarray, shape of the activation output
    cache : LeakyReluCache

    Returns
    -------
    dx : ndarray, same shape as ``dout``

    Notes
    -----
    The derivative is 1 for ``x > 0`` and ``a`` otherwise: ``dx = where(x > 0, dout, a * dout)``.
    """
    _check_dout(dout, cache.out.shape, "leaky ReLU")
    return np.where(cache.x > 0, dout, cache.negative_slope * dout)


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, ActivationCache]:
    """Hyperbolic tangent, elementwise.

    Parameters
    ----------
    x : ndarray of any shape, e.g. (N, H)

    Returns
    -------
    out : ndarray, same shape and dtype as ``x``, values in [-1, 1]
    cache : ActivationCache
    """
    out = np.tanh(x)
    return out, ActivationCache(x, out)


def tanh_backward(dout: np.ndarray, cache: ActivationCache) -> np.ndarray:
    """Backward pass of :func:`tanh_forward`.

    Parameters
    ----------
    dout : ndarray, shape of the tanh output
    cache : ActivationCache

    Returns
    -------
    dx : ndarray, same shape as ``dout``

    Notes
    -----
    ``d tanh(x) / dx = 1 - tanh(x)**2``, so ``dx = dout * (1 - out**2)``.
    """
    _check_dout(dout, cache.out.shape, "tanh")
    return dout * (1 - cache.out**2)


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, ActivationCache]:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, computed without overflow.

    Parameters
    ----------
    x : ndarray of any shape, e.g. (N, H)

    Returns
    -------
    out : ndarray, same shape and dtype as ``x``, values in [0, 1]
    cache : ActivationCache

    Notes
    -----
    The textbook formula overflows in ``exp(-x)`` for very negative ``x`` (``x = -1e4``). With
    ``e = exp(-|x|)``, which lies in (0, 1] and never overflows,

    - ``x >= 0``: ``sigmoid(x) = 1 / (1 + e)``;
    - ``x < 0``:  ``sigmoid(x) = exp(x) / (1 + exp(x)) = e / (1 + e)``.

    Both branches are accurate to a few ulps, also where ``sigmoid(x)`` is tiny.
    """
    e = np.exp(-np.abs(x))  # in (0, 1]
    out = np.where(x >= 0, 1, e) / (1 + e)
    return out, ActivationCache(x, out)


def sigmoid_backward(dout: np.ndarray, cache: ActivationCache) -> np.ndarray:
    """Backward pass of :func:`sigmoid_forward`.

    Parameters
    ----------
    dout : ndarray, shape of the sigmoid output
    cache : ActivationCache

    Returns
    -------
    dx : ndarray, same shape as ``dout``

    Notes
    -----
    ``d sigmoid(x) / dx = sigmoid(x) (1 - sigmoid(x))``, so ``dx = dout * out * (1 - out)``.
    """
    _check_dout(dout, cache.out.shape, "sigmoid")
    out = cache.out
    return dout * out * (1 - out)


def identity_forward(x: np.ndarray) -> tuple[np.ndarray, ActivationCache]:
    """Identity activation (a linear network): ``out = x``, returned as is, not copied.

    Parameters
    ----------
    x : ndarray of any shape, e.g. (N, H)

    Returns
    -------
    out : ndarray, ``x`` itself
    cache : ActivationCache
    """
    return x, ActivationCache(x, x)


def identity_backward(dout: np.ndarray, cache: ActivationCache) -> np.ndarray:
    """Backward pass of :func:`identity_forward`: ``dx = dout`` (returned as is, not copied).

    Parameters
    ----------
    dout : ndarray, shape of the activation output
    cache : ActivationCache

    Returns
    -------
    dx : ndarray, ``dout`` itself
    """
    _check_dout(dout, cache.out.shape, "identity")
    return dout


#: Activation name -> (forward, backward). ``forward(x) -> (out, cache)``,
#: ``backward(dout, cache) -> dx``. The names are the ``activation`` choices of :class:`minikd.MLP`.
ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "tanh": (tanh_forward, tanh_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "identity": (identity_forward, identity_backward),
}
