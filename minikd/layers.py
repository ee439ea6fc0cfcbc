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
reads: shapes (``ValueError``), and for :func:`dropout_forward` the kind and range of ``p``, ``rng`` and
``mask`` (``TypeError`` / ``ValueError``). They do not scan values (NaN/inf) or convert dtypes; the public
methods of :class:`minikd.mlp.MLP` validate whole inputs once at their boundary.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._validation import check_fraction, describe

__all__ = [
    "DenseCache",
    "ActivationCache",
    "LeakyReluCache",
    "DropoutCache",
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
    "dropout_forward",
    "dropout_backward",
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


class DropoutCache(NamedTuple):
    """What :func:`dropout_backward` needs from :func:`dropout_forward`.

    Attributes
    ----------
    mask : ndarray of bool, shape of ``x``
        The keep-mask: True where the entry was kept, False where it was dropped. At ``p = 0``
        (no mask given) an all-True read-only view, ``np.broadcast_to(True, x.shape)``, costing
        no memory.
    scale : float
        ``1 / (1 - p)``, the factor applied to the kept entries (1.0 at ``p = 0``).
    """

    mask: np.ndarray
    scale: float


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


# ----------------------------------------------------------------------------- dropout
def dropout_forward(
    x: np.ndarray, p: float, rng: np.random.Generator | None = None, mask: np.ndarray | None = None
) -> tuple[np.ndarray, DropoutCache]:
    """Inverted dropout (cs231n): keep each entry with probability ``1 - p``, scale it by ``1 / (1 - p)``.

    Parameters
    ----------
    x : ndarray of any shape, e.g. (N, H)
        The layer input (a hidden layer's output, or the network input).
    p : float in [0, 1)
        The probability of *dropping* an entry (PyTorch's ``Dropout(p)``). ``p = 1`` is refused:
        nothing would be kept and ``1 / (1 - p)`` is infinite.
    rng : numpy.random.Generator, optional
        Draws the mask; advanced by ``x.size`` float64 draws. Required unless ``mask`` is given
        (then it is neither needed nor advanced), also at ``p = 0``, so that code which runs at
        ``p = 0`` does not fail only once ``p > 0``.
    mask : ndarray of bool, shape of ``x``, optional
        A keep-mask to use instead of drawing one (used as it is, also at ``p = 0``): for gradient
        checks, and for reusing the mask of an earlier forward pass.

    Returns
    -------
    out : ndarray, same shape and dtype as ``x``
        ``x * mask * scale``. At ``p = 0`` without a ``mask``: ``x`` itself, not copied (as
        :func:`identity_forward`), and ``rng`` is not advanced.
    cache : DropoutCache
        ``(mask, scale)``; ``mask`` is the given array itself when one was given.

    Raises
    ------
    TypeError
        If ``p`` is not a real number (a bool, a string), ``rng`` is not a ``np.random.Generator``
        (or None with no ``mask``), or ``mask`` is not a boolean ndarray.
    ValueError
        If ``p`` is not in [0, 1) (NaN included), or ``mask`` does not have the shape of ``x``.

    Notes
    -----
    With ``m_i ~ Bernoulli(1 - p)`` independently and ``s = 1 / (1 - p)``, ``out_i = x_i m_i s``.

    - The mask is drawn as ``rng.random(x.shape) >= p``. ``rng.random`` is uniform on [0, 1), so
      ``P(u < p) = p`` and the complement ``u >= p`` has probability exactly ``1 - p`` (for the
      float64 grid of ``rng.random``: to within 2**-53). Comparing with ``p`` itself avoids the
      rounding of ``1 - p``, and ``>=`` keeps every entry at ``p = 0`` (``u = 0`` is possible).
      The uniforms are always float64 and only the boolean mask meets ``x``, so ``x`` is not
      promoted (float32 stays float32) and a seed gives the same mask for float32 and float64 ``x``.
    - ``E[out_i] = x_i (1 - p) s = x_i``: the inverted scaling keeps the expected output unchanged,
      so evaluation uses the layer as the identity, with no rescaling.
    - ``out`` is linear in ``x`` for a fixed mask, ``d out_i / d x_i = m_i s``, so
      ``dx = dout * mask / (1 - p) = dout * mask * scale`` (:func:`dropout_backward`).
    - The forward multiplies by ``scale`` (as the backward does) rather than dividing by
      ``1 - p``; the two can differ in the last bit.
    - A dropped entry is ``x_i * 0``: 0 for finite ``x_i`` (-0.0 for negative ones), NaN for
      ``x_i = inf`` or NaN (values are not scanned; see "Checks" above).
    """
    p = _check_drop_probability(p)
    if mask is None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(
                "rng must be a np.random.Generator (e.g. np.random.default_rng(seed)) to draw the "
                f"dropout mask; it is required unless mask is given, got {describe(rng)}"
            )
        if p == 0:
            return x, DropoutCache(np.broadcast_to(np.True_, x.shape), 1.0)
        return _draw_dropout(x, p, rng)
    _check_mask(mask, x.shape)
    return _dropout_forward(x, mask, 1.0 / (1.0 - p))  # p a Python float: keeps float32 arrays float32


def _draw_dropout(x: np.ndarray, p: float, rng: np.random.Generator) -> tuple[np.ndarray, DropoutCache]:
    """The math of :func:`dropout_forward` with a drawn mask, without the checks (what ``MLP`` calls):
    ``p`` a Python float in (0, 1), ``rng`` a Generator, advanced by ``x.size`` float64 draws."""
    mask = rng.random(x.shape) >= p  # keeps each entry with probability 1 - p (Notes of dropout_forward)
    return _dropout_forward(x, mask, 1.0 / (1.0 - p))


def _dropout_forward(x: np.ndarray, mask: np.ndarray, scale: float) -> tuple[np.ndarray, DropoutCache]:
    """The math of :func:`dropout_forward` for a given mask, without the checks."""
    out = x * mask * scale  # bool mask and Python float scale: the dtype of x
    return out, DropoutCache(mask, scale)


def _check_drop_probability(p, name: str = "p") -> float:
    """``float(p)`` for a real ``p`` in [0, 1); ``TypeError`` / ``ValueError`` naming ``name`` otherwise.

    The one rule for a dropout rate: :func:`dropout_forward`'s ``p`` and ``MLP``'s ``dropout`` and
    ``input_dropout``.
    """
    try:
        return check_fraction(p, name, high_open=True)  # bools, strings and NaN refused too
    except ValueError as exc:
        if p == 1:  # a real number by now (check_fraction raises TypeError otherwise); not float(p): 10**400
            raise ValueError(f"{exc}: {name} is the probability of dropping an entry, and at {name} = 1 "
                             f"nothing would be kept (the scale 1 / (1 - {name}) is infinite)") from None
        raise


def _check_mask(mask, shape: tuple) -> None:
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        raise TypeError(f"mask must be a boolean ndarray (True = keep) of the shape of x {shape}, got {describe(mask)}")
    if mask.shape != shape:
        raise ValueError(f"mask must have the shape of x {shape}, got shape {mask.shape}")


def dropout_backward(dout: np.ndarray, cache: DropoutCache) -> np.ndarray:
    """Backward pass of :func:`dropout_forward`.

    Parameters
    ----------
    dout : ndarray, shape of the dropout output
    cache : DropoutCache

    Returns
    -------
    dx : ndarray, same shape and dtype as ``dout`` (a new array, also at ``p = 0``)

    Notes
    -----
    For a fixed mask the forward is linear, ``out_i = x_i m_i s``, so the gradient passes through
    the kept entries with the same scale and is 0 at the dropped ones:
    ``dx = dout * mask * scale = dout * mask / (1 - p)``.
    """
    _check_dout(dout, cache.mask.shape, "dropout")
    return dout * cache.mask * cache.scale


#: Activation name -> (forward, backward). ``forward(x) -> (out, cache)``,
#: ``backward(dout, cache) -> dx``. The names are the ``activation`` choices of :class:`minikd.MLP`.
ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "tanh": (tanh_forward, tanh_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "identity": (identity_forward, identity_backward),
}
