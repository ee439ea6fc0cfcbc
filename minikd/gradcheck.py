"""Finite-difference gradient checking in float64 (after cs231n's ``gradient_check.py``).

Use it to prove a hand-written gradient: compute the analytic gradient, compute a numerical one by
central differences, and compare them with :func:`rel_error`.

Thresholds (float64, central differences, ``eps = 1e-6``)
---------------------------------------------------------
The central difference ``(f(x + eps) - f(x - eps)) / (2 eps)`` has truncation error O(eps**2) and
rounding error O(macheps * |f| / eps); with eps = 1e-6 both are around 1e-10 relative for smooth
functions of order-one values. So, comparing analytic and numerical gradients:

- ``rel_error < 1e-7``: correct (the tests of minikd require this);
- ``1e-7 .. 1e-4``: suspicious, unless the function has kinks near x (ReLU at 0);
- ``> 1e-4``: the gradient is wrong.

Always check in float64: float32 rounding (1e-7 relative) swamps the differences.
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np

from ._validation import check_float_array, check_positive_float, check_seed, describe

__all__ = ["numerical_gradient", "rel_error", "check_gradients"]


def numerical_gradient(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of a scalar function ``f`` at ``x``.

    Parameters
    ----------
    f : callable
        ``f()`` or ``f(x)`` returning a real number. ``x`` is perturbed **in place**, one entry at
        a time, and restored afterwards (also if ``f`` raises), so ``f`` may read ``x`` through a
        closure (as when ``x`` is an entry of ``model.params``). A callable that takes at least
        one parameter is called as ``f(x)``.
    x : ndarray of float64, any shape
        The point at which to differentiate.
    eps : float, default 1e-6
        Step size.

    Returns
    -------
    ndarray of float64, same shape as ``x``
        ``grad[i] = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``, finite.

    Raises
    ------
    TypeError
        If ``f`` is not callable or returns something other than a real number (an array of
        more than one element, None, a string), or ``x`` is not a float64 ndarray.
    ValueError
        If ``x`` is read-only, ``f`` returns NaN or inf, ``x[i] +- eps`` or a difference is
        beyond the float64 range. ``x`` is restored in every case.
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {describe(f)}")
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TypeError(f"x must be a float64 ndarray (checks are done in float64), got {describe(x)}")
    if not x.flags.writeable:
        raise ValueError(f"x must be writeable (it is perturbed in place), got a read-only {describe(x)}")
    eps = check_positive_float(eps, "eps")
    try:
        takes_arg = len(inspect.signature(f).parameters) > 0
    except (TypeError, ValueError):
        takes_arg = True

    def call(i, old) -> float:
        return _finite_scalar(f(x) if takes_arg else f(), f"f (at x{list(i)} = {old!r} +- eps)")

    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):  # every entry, in C order; none for an empty x
        old = float(x[i])
        plus, minus = old + eps, old - eps  # Python floats: overflow gives inf, no warning
        if not (np.isfinite(plus) and np.isfinite(minus)):
            raise ValueError(
                f"x{list(i)} = {old!r} plus or minus eps = {eps!r} is beyond the float64 range"
            )
        try:
            x[i] = plus
            f_plus = call(i, old)
            x[i] = minus
            f_minus = call(i, old)
        finally:
            x[i] = old
        g = (f_plus - f_minus) / (2 * eps)
        if not np.isfinite(g):
            raise ValueError(
                f"the central difference at x{list(i)} is beyond the float64 range: f = {f_plus!r} "
                f"at x + eps and {f_minus!r} at x - eps, eps = {eps!r}"
            )
        grad[i] = g
    return grad


class _FixedMasks:
    """Replays a model's ``dropout_rng`` (when it has one) so that every forward pass draws the same masks."""

    def __init__(self, model):
        self.rng = getattr(model, "dropout_rng", None)
        self.state = None if self.rng is None else self.rng.bit_generator.state

    def replay(self) -> None:
        if self.rng is not None:
            self.rng.bit_generator.state = self.state


def _check_model(model, X, dlogits, eps: float, seed, masks: _FixedMasks) -> dict:
    """The model form of :func:`check_gradients` (``model`` float64), every forward pass with the same masks."""
    masks.replay()
    logits, cache = model.forward_train(X)  # validates X
    if dlogits is None:
        dlogits = np.random.default_rng(seed).standard_normal(logits.shape)
    dlogits = check_float_array(dlogits, "dlogits", ndim=(1, 2), dtype=np.float64)
    if dlogits.shape != logits.shape:
        raise ValueError(f"dlogits must have the shape of the logits {logits.shape}, got {dlogits.shape}")
    grads = model.backward(dlogits, cache)

    def objective() -> float:
        masks.replay()  # the masks of the analytic pass
        out, _ = model.forward_train(X)
        return float(np.sum(out * dlogits))

    return {name: rel_error(grads[name], numerical_gradient(objective, p, eps)) for name, p in model.params.items()}


def _finite_scalar(value, what: str) -> float:
    """``float(value)`` for a finite real scalar (or a one-element real array); raise otherwise."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item() if value.dtype.kind in "iuf" else value
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must return a real number (the scalar to differentiate), got {describe(value)}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{what} must return a finite number, got {v!r}")
    return v


def rel_error(a, b) -> float:
    """Largest elementwise relative error ``|a - b| / max(|a| + |b|, 1e-8)`` (0 for empty input).

    Parameters
    ----------
    a, b : array_like of the same shape

    Returns
    -------
    float in [0, 1]
        0 when ``a == b``; 1 is the largest possible error (opposite signs). Equal entries
        (also equal infinities) count 0; an infinite or NaN entry that differs from its
        counterpart counts 1, the worst value.

    Notes
    -----
    The 1e-8 floor keeps entries where both gradients are (nearly) zero from dividing 0 by 0:
    there the error is the absolute difference scaled by 1e8. The formula is evaluated on
    ``a / 2`` and ``b / 2`` (the same ratio) so that ``|a| + |b|`` cannot overflow.
    """
    a = check_float_array(a, "a", ndim=range(0, 33), allow_empty=True, finite=False, dtype=np.float64)
    b = check_float_array(b, "b", ndim=range(0, 33), allow_empty=True, finite=False, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    half_a, half_b = a / 2, b / 2
    with np.errstate(invalid="ignore"):  # inf - inf and inf / inf: handled below
        err = np.abs(half_a - half_b) / np.maximum(np.abs(half_a) + np.abs(half_b), 0.5e-8)
    err = np.where(a == b, 0.0, np.where(np.isnan(err), 1.0, err))
    return float(err.max())


def check_gradients(model_or_fn, X=None, dlogits=None, *, inputs=None, analytic=None,
                    eps: float = 1e-6, seed: int = 0) -> dict:
    """Compare analytic and numerical gradients; return the relative error of each.

    Two forms:

    - ``check_gradients(model, X)``: for an :class:`minikd.MLP` (float64), checks
      ``model.backward`` against central differences of the scalar
      ``sum(forward_train(X)[0] * dlogits)`` for every parameter. ``dlogits`` (shape (N, C))
      defaults to a fixed random draw, so every output direction is tested, not only one. A model
      with dropout is checked with its masks held fixed (Notes).
    - ``check_gradients(fn, inputs=[x1, x2, ...], analytic=[g1, g2, ...])``: ``fn()`` returns a
      scalar that reads the float64 arrays ``inputs`` (perturbed in place); ``analytic`` are the
      claimed gradients with respect to each.

    Parameters
    ----------
    model_or_fn : MLP or callable
    X : ndarray of shape (N, D), for the model form
    dlogits : ndarray of shape (N, C), optional, for the model form
    inputs, analytic : sequences of float64 ndarrays, for the function form
    eps : float, default 1e-6
    seed : int >= 0 or numpy.random.Generator, default 0
        Seed of the random ``dlogits``.

    Returns
    -------
    dict
        Parameter name (model form) or input position (function form) -> rel_error.
        Values below 1e-7 mean the gradients agree.

    Notes
    -----
    Dropout (``MLP(..., dropout=p)``): with the masks fixed, a dropout network is an ordinary,
    differentiable function of its weights (each dropped unit multiplies by 0, each kept one by
    ``1 / (1 - p)``), and that function's gradient is exactly what ``backward`` computes from the
    cache. So rather than refuse such a model, which would leave its dropout path unchecked, every
    forward pass of the check (the analytic one and each finite difference) starts from the same
    state of ``model.dropout_rng`` and so draws the same masks; the state is put back afterwards, so
    the check leaves the model's random stream as it found it.
    """
    if callable(getattr(model_or_fn, "forward_train", None)):
        model = model_or_fn
        if X is None:
            raise ValueError("X must be given to check a model's gradients, got None")
        seed = check_seed(seed)
        eps = check_positive_float(eps, "eps")
        if any(p.dtype != np.float64 for p in model.params.values()):
            raise TypeError("check_gradients needs a float64 model; build it with dtype=np.float64")
        masks = _FixedMasks(model)
        try:
            return _check_model(model, X, dlogits, eps, seed, masks)
        finally:
            masks.replay()  # the model's dropout stream as the check found it
    if not callable(model_or_fn):
        raise TypeError(f"model_or_fn must be an MLP or a callable, got {describe(model_or_fn)}")
    if inputs is None or analytic is None:
        raise ValueError(
            "inputs and analytic must both be given for a function (lists of float64 ndarrays and "
            f"their claimed gradients), got inputs={describe(inputs)} and analytic={describe(analytic)}"
        )
    for name, seq in (("inputs", inputs), ("analytic", analytic)):
        if not isinstance(seq, (list, tuple)):
            raise TypeError(f"{name} must be a list of float64 ndarrays for a function, got {describe(seq)}")
    if len(inputs) != len(analytic):
        raise ValueError(
            f"inputs and analytic must have the same length, got {len(inputs)} and {len(analytic)}"
        )
    checked = []
    for i, (x, g) in enumerate(zip(inputs, analytic, strict=True)):
        if not isinstance(x, np.ndarray) or x.dtype != np.float64:
            raise TypeError(f"inputs[{i}] must be a float64 ndarray (checks are done in float64), "
                            f"got {describe(x)}")
        g = check_float_array(g, f"analytic[{i}]", ndim=range(0, 33), allow_empty=True, finite=False)
        if g.shape != x.shape:
            raise ValueError(
                f"analytic[{i}] must have the same shape as inputs[{i}] {x.shape}, got shape {g.shape}"
            )
        checked.append((x, g))
    return {i: rel_error(g, numerical_gradient(model_or_fn, x, eps)) for i, (x, g) in enumerate(checked)}
