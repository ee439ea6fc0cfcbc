"""Optimizers: SGD (momentum, Nesterov, weight decay) and Adam, with PyTorch's update rules.

An optimizer updates a model's parameters in place from their gradients::

    grads = model.backward(dlogits, cache)   # dict keyed like model.params
    optimizer.step(model.params, grads)      # W <- W - lr * update, for every array

Both take dicts mapping names (``"W1"``, ``"b1"``, ...) to ndarrays of any shape. The per-parameter
buffers (momentum, Adam's moments) are created lazily on the first step with the parameter's dtype,
so a float32 model stays float32 end to end: every scalar in the update is a Python float, which
NumPy never lets promote a float32 array.

``state_dict()`` returns plain data (strings, numbers and dicts of copied ndarrays) that a
checkpoint can pickle and a restricted unpickler can load; ``load_state_dict`` restores it exactly,
so a run resumed from a checkpoint is bit-for-bit the run that never stopped.

The public ``step`` validates its inputs and then calls ``_step``, the bare update, which the
trainer calls directly after validating the model once.

``_step`` is the update formula, one parameter after another, as its docstring writes it. Two things
it does for speed (each measured to pay on this project's machine: benchmarks/README.md), neither of
which changes what it computes in practice: a parameter larger than ``BLOCK_BYTES`` is updated in
blocks of rows that fit the CPU cache (:func:`_row_blocks`, the loop inside ``_step``; bit-identical
results), and every ``subnormal_flush_interval`` steps buffer entries below the smallest normal
float are set to 0 (:meth:`Optimizer._flush_subnormals`).
"""

from __future__ import annotations

import math
import warnings
import weakref
from collections.abc import Mapping

import numpy as np

from ._validation import (
    check_bool,
    check_float_array,
    check_fraction,
    check_int,
    check_nonnegative_float,
    check_positive_float,
    describe,
)
from .schedules import ScheduledHyperparameters, fraction_at_every_epoch, from_config_value, positive_at_every_epoch

__all__ = ["Optimizer", "SGD", "Adam"]

#: Version of the layout returned by ``state_dict``; bumped on incompatible changes.
STATE_FORMAT_VERSION = 1


def _check_beta(value, name: str) -> float:
    """A decay rate in [0, 1)."""
    return check_fraction(value, name, high_open=True)


def _positive_fraction_at_every_epoch(schedule, epochs: int, name: str) -> None:
    """A Nesterov momentum's rule: in (0, 1) at every epoch."""
    schedule.check_range(epochs, name, 0.0, 1.0, low_open=True)


#: Largest block of a parameter, in bytes, that an update processes at once (see _row_blocks).
BLOCK_BYTES = 256 * 1024


def _row_blocks(W: np.ndarray):
    """Index expressions that split W into blocks of rows of at most ~``BLOCK_BYTES`` each:
    ``(...,)`` (all of W) for an array of at most that size.

    An update makes several passes over a parameter and its buffers (``v *= m``, ``v += g``,
    ``lr * v``, ``W -= ...``). For a parameter larger than the CPU cache each pass reads its
    arrays from main memory again; done block by block, every pass after the first finds the
    block (W, g, v and a temporary: ~1 MiB) still in the L2 cache. Same arithmetic, same
    results bit for bit (every operation is elementwise); the epoch of a 784-1200-1200-10
    student was 1.09x faster with it, the small models are one block (benchmarks/README.md).
    """
    if W.ndim == 0 or W.nbytes <= BLOCK_BYTES:
        return (...,)
    rows = max(1, BLOCK_BYTES * W.shape[0] // W.nbytes)
    return [slice(start, start + rows) for start in range(0, W.shape[0], rows)]


class Optimizer(ScheduledHyperparameters):
    """Base class: validation, hyperparameters and (de)serialisation of the per-parameter state.

    Subclasses set ``_buffer_names`` (the per-parameter arrays they keep, e.g. ``("momentum",)``),
    implement ``_step`` (the bare update) and ``get_config`` (their hyperparameters), and accept
    those hyperparameters as keyword arguments of ``__init__``.

    Parameters
    ----------
    learning_rate : float
        Step size, a finite number > 0. May be changed between steps (a learning-rate schedule);
        assignments are validated.

    Attributes
    ----------
    t : int
        Number of updates taken so far.

    Notes
    -----
    **One optimizer per model.** The buffers belong to the parameters they were built for. Before
    each use, :meth:`check_params` compares them with the parameters at hand: other names, shapes
    or dtypes are a ``ValueError``; the same layout but the arrays of *another* model (a new
    student of the same architecture) is a ``UserWarning``, because its momentum would silently
    be carried over. Training the same model in two calls (the same arrays, updated in place) is
    a continuation and stays silent.
    """

    _buffer_names: tuple[str, ...] = ()

    def __init__(self, learning_rate: float):
        self.learning_rate = learning_rate
        self.t = 0
        self._buffers: dict[str, dict[str, np.ndarray]] = {b: {} for b in self._buffer_names}
        # Weak references to the parameter arrays the state was built on (see check_params):
        # None until the first update, and after reset() or load_state_dict().
        self._owner: dict[str, weakref.ref] | None = None

    def __getstate__(self) -> dict:
        """Pickling and ``copy.deepcopy``: everything but the weak references to the owner's arrays
        (which cannot be pickled); a copy learns its owner at its next update."""
        state = self.__dict__.copy()
        state["_owner"] = None
        return state

    # ------------------------------------------------------------------ hyperparameters
    @property
    def learning_rate(self) -> float:
        """Step size, a finite float > 0 (validated on assignment). May be set to a
        :class:`~minikd.schedules.Schedule`: it then reads as the current epoch's value (epoch 1's
        outside ``train``), and every epoch's value is checked at ``train()`` entry."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        self._set_hyperparameter("learning_rate", value, check_positive_float, positive_at_every_epoch)

    def get_config(self) -> dict:
        """Hyperparameters as plain data (a schedule as its config dict); :meth:`Optimizer.load_state_dict`
        rebuilds them."""
        return self._with_schedules({"learning_rate": self.learning_rate})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={from_config_value(v)!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ the update
    def step(self, params, grads) -> None:
        """Update ``params`` in place from ``grads``, after validating both.

        Parameters
        ----------
        params : dict of str -> ndarray
            The model's parameters (float arrays of any shape), updated in place.
        grads : dict of str -> array_like
            Gradients of the loss with the same keys and shapes as ``params``, finite. They are
            cast to each parameter's dtype and never modified.

        Raises
        ------
        TypeError
            If ``params`` or ``grads`` is not a dict, or an array is not a float array.
        ValueError
            If the keys or shapes differ, a gradient is not finite, or the optimizer's state was
            built for other parameters (call ``reset()`` to start over): see :meth:`check_params`.

        Warns
        -----
        UserWarning
            If the state was built on another model's arrays of the same layout (:meth:`check_params`).
        """
        grads = self._check_step_inputs(params, grads)
        # An update that overflows (a huge learning rate, Adam's g * g) is refused and undone, so a
        # failed step never leaves inf in the parameters or the optimizer's buffers.
        saved_params = {k: v.copy() for k, v in params.items()}
        saved_buffers = {b: {k: v.copy() for k, v in bufs.items()} for b, bufs in self._buffers.items()}
        saved_t, saved_owner = self.t, self._owner
        with np.errstate(over="ignore", invalid="ignore"):
            self._step(params, grads)
        finite = all(np.isfinite(v).all() for v in params.values()) and all(
            np.isfinite(v).all() for bufs in self._buffers.values() for v in bufs.values())
        if not finite:
            for k, v in saved_params.items():
                params[k][...] = v
            self._buffers, self.t, self._owner = saved_buffers, saved_t, saved_owner
            raise ValueError(
                f"the update would overflow: learning_rate ({self.learning_rate!r}) times the gradient is beyond "
                "the float range for some parameter; nothing was changed"
            )

    def _step(self, params: dict, grads: dict) -> None:
        """The bare update, no validation: ``grads[k]`` has the shape and dtype of ``params[k]``.

        Subclasses implement it, increment ``self.t`` and end
        with ``self._flush_subnormals()``.
        """
        raise NotImplementedError

    _subnormal_flush_interval = 64

    @property
    def subnormal_flush_interval(self) -> int:
        """Every this many updates, buffer entries smaller in magnitude than the smallest normal
        number of their dtype are set to zero (see :meth:`_flush_subnormals`). An int >= 1,
        default 64; a huge value switches the flush off. Not part of ``state_dict()``."""
        return self._subnormal_flush_interval

    @subnormal_flush_interval.setter
    def subnormal_flush_interval(self, value) -> None:
        self._subnormal_flush_interval = check_int(value, "subnormal_flush_interval", minimum=1)

    def _flush_subnormals(self) -> None:
        """Every ``subnormal_flush_interval`` updates, set subnormal buffer entries to exactly 0.

        Why: the buffer entry of a parameter whose gradient is exactly 0 from some step on (the
        weights of a dead ReLU unit) decays geometrically, ``v <- m * v``, down through the
        subnormal numbers (below 1.2e-38 in float32, 2.2e-308 in float64), and there it stays
        for ever: ``0.9 * (smallest subnormal)`` rounds back to the smallest subnormal. x86 CPUs
        handle arithmetic on subnormal numbers in microcode, ~100 times slower than on normal
        ones, so a float32 student with a few dead units spent ~25 us of a ~140 us step in the
        momentum update (benchmarks/README.md). NumPy cannot switch the CPU to flush-to-zero
        mode, so the optimizer does it itself, in one pass every ``subnormal_flush_interval``
        (64) steps.

        What it changes: an entry below the smallest normal number ``tiny`` becomes 0. Its
        contribution to a parameter, ``lr * v`` with ``|v| < tiny``, is below the rounding unit
        of every parameter larger than about ``tiny / eps`` (1e-31 in float32), so the
        parameters are, in practice, unchanged. The flush depends only on the state and on
        ``t``, so a run resumed from ``state_dict()`` stays bit-identical to one that never
        stopped. PyTorch does not flush (unless ``torch.set_flush_denormal(True)``), so minikd
        and ``torch.optim`` agree to rounding, not bit for bit, once buffers decay that far.
        """
        if self.t % self.subnormal_flush_interval:
            return
        for buffers in self._buffers.values():
            for buf in buffers.values():
                buf[np.abs(buf) < np.finfo(buf.dtype).tiny] = 0

    def reset(self) -> None:
        """Forget the per-parameter state (buffers and step count); keep the hyperparameters."""
        self.t = 0
        self._buffers = {b: {} for b in self._buffer_names}
        self._owner = None

    def _check_step_inputs(self, params, grads) -> dict:
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a dict of name -> ndarray, got {describe(params)}")
        if not isinstance(grads, Mapping):
            raise TypeError(f"grads must be a dict of name -> ndarray, got {describe(grads)}")
        if not params:
            raise ValueError("params must not be empty, got an empty dict")
        if set(grads) != set(params):
            missing = sorted(map(str, set(params) - set(grads)))
            extra = sorted(map(str, set(grads) - set(params)))
            raise ValueError(
                f"grads must have the same keys as params; missing from grads: {missing}, "
                f"not in params: {extra}"
            )
        checked = {}
        for name, W in params.items():
            if not isinstance(W, np.ndarray) or W.dtype.kind != "f":
                raise TypeError(
                    f"params[{name!r}] must be a float ndarray (it is updated in place), "
                    f"got {describe(W)}"
                )
            if not W.flags.writeable:
                raise ValueError(f"params[{name!r}] must be writeable (it is updated in place)")
            g = check_float_array(grads[name], f"grads[{name!r}]", ndim=W.ndim, allow_empty=True)
            if g.shape != W.shape:
                raise ValueError(
                    f"grads[{name!r}] must have the shape of params[{name!r}] {W.shape}, "
                    f"got shape {g.shape}"
                )
            if g.dtype != W.dtype:
                with np.errstate(over="ignore"):
                    g = g.astype(W.dtype)
                if not np.isfinite(g).all():
                    raise ValueError(
                        f"grads[{name!r}] must fit in the dtype of params[{name!r}] ({W.dtype}), got values of "
                        f"magnitude up to {float(np.abs(grads[name]).max()):.3g}"
                    )
            checked[name] = g
        self.check_params(params)
        return checked

    _ANOTHER_MODEL = ("this optimizer's state was built for another model: pass a new optimizer "
                      "or call optimizer.reset()")

    def check_params(self, params, *, stacklevel: int = 2) -> None:
        """Check that this optimizer's state (if any) belongs to ``params``.

        Called by :meth:`step` before every update; a trainer calls it once when ``train`` begins
        (its steps use the bare update). An optimizer that has not stepped yet, or keeps no
        buffers (``SGD`` without momentum), accepts any parameters.

        Parameters
        ----------
        params : dict of str -> ndarray
            The parameters the next update will change (e.g. ``model.params``).

        stacklevel : int, default 2
            Of the warning below (a trainer passes the level of its caller).

        Raises
        ------
        TypeError
            If ``params`` is not a dict.
        ValueError
            If the buffers were built for other parameter names, shapes or dtypes: such a state
            cannot be applied. Pass a new optimizer, or call ``reset()`` to start over.

        Warns
        -----
        UserWarning
            If the buffers match in names, shapes and dtypes but were built on the arrays of
            another model (e.g. a new student of the same architecture): its momentum (Adam: its
            moments and step count) would be carried over to this one. Not an error, since carrying
            state over can be deliberate (a copy that continues its original's run); the state
            then belongs to ``params``, so the warning is given once per change of model. Training
            the same model in several calls (its arrays are updated in place) is a continuation
            and gives no warning; nor does an optimizer just restored with ``load_state_dict``.
        """
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a dict of name -> ndarray, got {describe(params)}")
        for buffer_name, buffers in self._buffers.items():
            if not buffers:
                continue
            if set(buffers) != set(params):
                raise ValueError(
                    f"params have keys {sorted(map(str, params))} but this optimizer's {buffer_name!r} state "
                    f"has keys {sorted(map(str, buffers))}: {self._ANOTHER_MODEL}"
                )
            for name, buf in buffers.items():
                W = params[name]
                shape, dtype = getattr(W, "shape", None), getattr(W, "dtype", None)
                if shape != buf.shape:
                    raise ValueError(
                        f"params[{name!r}] has shape {shape} but this optimizer's {buffer_name!r} state for it "
                        f"has shape {buf.shape}: {self._ANOTHER_MODEL}"
                    )
                if dtype != buf.dtype:
                    raise ValueError(
                        f"params[{name!r}] has dtype {dtype} but this optimizer's {buffer_name!r} state for it "
                        f"has dtype {buf.dtype}: {self._ANOTHER_MODEL}"
                    )
        owner = self._owner
        if owner is None or not any(self._buffers.values()):  # nothing to carry over: these are its model's
            self._owner = {name: weakref.ref(W) for name, W in params.items()}
            return
        if any(name not in owner or owner[name]() is not W for name, W in params.items()):
            warnings.warn(
                f"{type(self).__name__}: the optimizer's state (t={self.t} updates) was built for another "
                "model with parameters of the same names and shapes; its buffers are carried over to these "
                "parameters. If that is not intended, pass a new optimizer or call optimizer.reset()",
                UserWarning, stacklevel=stacklevel,
            )
            self._owner = {name: weakref.ref(W) for name, W in params.items()}

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """The optimizer's full state as plain, picklable data.

        Returns
        -------
        dict
            ``{"format_version": int, "type": str (class name), "config": get_config(),
            "t": int, "buffers": {buffer_name: {param_name: ndarray copy}}}``. Nothing in it is
            shared with the optimizer, so later steps do not change a saved state.
        """
        return {
            "format_version": STATE_FORMAT_VERSION,
            "type": type(self).__name__,
            "config": dict(self.get_config()),
            "t": int(self.t),
            "buffers": {
                b: {name: arr.copy() for name, arr in bufs.items()}
                for b, bufs in self._buffers.items()
            },
        }

    def load_state_dict(self, state) -> None:
        """Restore a state returned by ``state_dict`` (hyperparameters, step count, buffers).

        The arrays are copied, so the same ``state`` can be loaded again. The state is checked
        completely before anything is changed: on error the optimizer is left as it was.

        Parameters
        ----------
        state : dict
            As returned by ``state_dict()`` of an optimizer of the same class.

        Raises
        ------
        TypeError, ValueError
            If ``state`` is not such a dict (wrong class, version, keys, hyperparameters, or
            buffers that are not finite float arrays with consistent names and shapes).
        """
        config, t, restored = _check_state(self, state)
        # Everything checked: commit.
        self.__init__(**config)
        self.t = t
        self._buffers = restored


def _check_state(optimizer, state) -> tuple[dict, int, dict]:
    """Check a ``state_dict()`` for ``optimizer`` (see :meth:`Optimizer.load_state_dict`) without
    changing anything; return its config, step count and a copy of its buffers."""
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a dict from state_dict(), got {describe(state)}")
    expected_keys = {"format_version", "type", "config", "t", "buffers"}
    if set(state) != expected_keys:
        raise ValueError(
            f"state must have the keys {sorted(expected_keys)}, got {sorted(map(str, state))}"
        )
    if state["format_version"] != STATE_FORMAT_VERSION:
        raise ValueError(
            f"state['format_version'] must be {STATE_FORMAT_VERSION}, "
            f"got {state['format_version']!r}"
        )
    if state["type"] != type(optimizer).__name__:
        raise ValueError(
            f"state['type'] must be {type(optimizer).__name__!r} (the state of this optimizer "
            f"class), got {state['type']!r}"
        )
    config = state["config"]
    if not isinstance(config, Mapping) or set(config) != set(optimizer.get_config()):
        raise ValueError(
            f"state['config'] must be a dict with the keys {sorted(optimizer.get_config())}, "
            f"got {describe(config)}"
        )
    config = {k: from_config_value(v) for k, v in config.items()}  # a schedule's config -> the schedule
    type(optimizer)(**config)  # validates every hyperparameter before anything changes
    t = check_int(state["t"], "state['t']", minimum=0)
    buffers = state["buffers"]
    if not isinstance(buffers, Mapping) or set(buffers) != set(optimizer._buffer_names):
        raise ValueError(
            f"state['buffers'] must be a dict with the keys {sorted(optimizer._buffer_names)}, "
            f"got {describe(buffers)}"
        )
    restored: dict[str, dict[str, np.ndarray]] = {}
    reference = None
    for b in optimizer._buffer_names:
        bufs = buffers[b]
        if not isinstance(bufs, Mapping):
            raise TypeError(
                f"state['buffers'][{b!r}] must be a dict of name -> ndarray, "
                f"got {describe(bufs)}"
            )
        restored[b] = {}
        for name, arr in bufs.items():
            label = f"state['buffers'][{b!r}][{name!r}]"
            if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f":
                raise TypeError(f"{label} must be a float ndarray, got {describe(arr)}")
            if arr.size and not np.isfinite(arr).all():
                raise ValueError(f"{label} must contain only finite values")
            restored[b][name] = arr.copy()
        shapes = {name: arr.shape for name, arr in restored[b].items()}
        if reference is None:
            reference = shapes
        elif shapes != reference:
            raise ValueError(
                f"state['buffers'] must hold the same parameter names and shapes in every "
                f"buffer, got {reference} and {shapes} (in {b!r})"
            )
    if reference and t == 0:
        raise ValueError("state['t'] must be >= 1 when the buffers are not empty, got 0")
    return config, t, restored


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay.

    Same update as ``torch.optim.SGD`` (with ``dampening=0``).

    Parameters
    ----------
    learning_rate : float, default 0.01
        Step size lr, a finite number > 0.
    momentum : float, default 0.0
        Momentum factor m in [0, 1). 0 is plain SGD (no buffer is kept).
    nesterov : bool, default False
        Use Nesterov momentum; needs ``momentum > 0``.
    weight_decay : float, default 0.0
        L2 penalty coefficient wd >= 0, added to the gradient (coupled weight decay).

    Notes
    -----
    For each parameter W with gradient dW and momentum buffer v (zero before the first step)::

        g = dW + wd * W                              # L2 weight decay
        v = m * v + g                                # momentum buffer
        u = g + m * v if nesterov else v             # Nesterov looks one step ahead
        W = W - lr * u

    With ``momentum=0``: ``W <- W - lr * g``. Adding ``wd * W`` to the gradient is the gradient of
    the penalty ``(wd / 2) * ||W||²``. The buffer is updated in place (``v *= m; v += g``) and has
    the parameter's dtype.

    Examples
    --------
    >>> import numpy as np
    >>> params = {"W": np.array([1.0, -2.0])}
    >>> opt = SGD(learning_rate=0.1, momentum=0.9)
    >>> opt.step(params, {"W": 2 * params["W"]})     # gradient of ||W||²
    >>> params["W"]
    array([ 0.8, -1.6])
    """

    _buffer_names = ("momentum",)

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(learning_rate)
        check_bool(nesterov, "nesterov")
        self._set_hyperparameter("momentum", momentum, _check_beta,
                                 _positive_fraction_at_every_epoch if nesterov else fraction_at_every_epoch)
        if nesterov and self._momentum == 0.0:
            raise ValueError(f"nesterov=True requires momentum > 0, got momentum={momentum!r}")
        self._nesterov = bool(nesterov)
        self._weight_decay = check_nonnegative_float(weight_decay, "weight_decay")

    momentum = property(lambda self: self._momentum, doc="Momentum factor in [0, 1) (the current epoch's, "
                                                          "if given as a schedule).")
    nesterov = property(lambda self: self._nesterov, doc="Whether Nesterov momentum is used.")
    weight_decay = property(lambda self: self._weight_decay, doc="L2 coefficient >= 0.")

    def get_config(self) -> dict:
        return self._with_schedules({"learning_rate": self.learning_rate, "momentum": self._momentum,
                                     "nesterov": self._nesterov, "weight_decay": self._weight_decay})

    def _step(self, params: dict, grads: dict) -> None:
        lr, m, wd = self._learning_rate, self._momentum, self._weight_decay
        velocity = self._buffers["momentum"]  # name -> v, shaped like the parameter
        for name, W in params.items():
            if m and name not in velocity:
                velocity[name] = np.zeros_like(W)                # so the first step gives v = m * 0 + g = g
            for rows in _row_blocks(W):                          # all of W, or cache-sized blocks of its rows
                w, g = W[rows], grads[name][rows]                # views
                if wd:
                    g = g + wd * w                               # L2 weight decay (new array: grads are never modified)
                if m:
                    v = velocity[name][rows]
                    v *= m                                       # v = m * v + g, in place
                    v += g
                    g = g + m * v if self._nesterov else v       # the update u
                w -= lr * g                                      # W = W - lr * u, in place
        self.t += 1
        self._flush_subnormals()


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction and optional L2 weight decay.

    Same update as ``torch.optim.Adam`` (``amsgrad=False``; weight decay added to the gradient,
    not decoupled as in AdamW).

    Parameters
    ----------
    learning_rate : float, default 1e-3
        Step size lr, a finite number > 0.
    beta1 : float, default 0.9
        Decay rate of the first-moment estimate, in [0, 1).
    beta2 : float, default 0.999
        Decay rate of the second-moment estimate, in [0, 1).
    eps : float, default 1e-8
        Added to the denominator for stability, a finite number > 0.
    weight_decay : float, default 0.0
        L2 penalty coefficient wd >= 0, added to the gradient.

    Notes
    -----
    At step t = 1, 2, ... for each parameter W with gradient dW and moment estimates m, v
    (zero at t = 0)::

        g     = dW + wd * W                          # L2 weight decay
        m     = beta1 * m + (1 - beta1) * g          # first moment
        v     = beta2 * v + (1 - beta2) * g**2       # second moment (elementwise)
        m_hat = m / (1 - beta1**t)                   # bias corrections
        v_hat = v / (1 - beta2**t)
        W     = W - lr * m_hat / (sqrt(v_hat) + eps)

    Computed as PyTorch does: ``W -= (lr / (1 - β1^t)) * m / (sqrt(v) / sqrt(1 - β2^t) + eps)``.
    The step count t is shared by all parameters and saved in ``state_dict()["t"]``.
    """

    _buffer_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, learning_rate: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(learning_rate)
        self._beta1 = _check_beta(beta1, "beta1")
        self._beta2 = _check_beta(beta2, "beta2")
        self._eps = check_positive_float(eps, "eps")
        self._weight_decay = check_nonnegative_float(weight_decay, "weight_decay")

    beta1 = property(lambda self: self._beta1, doc="First-moment decay rate in [0, 1).")
    beta2 = property(lambda self: self._beta2, doc="Second-moment decay rate in [0, 1).")
    eps = property(lambda self: self._eps, doc="Denominator offset > 0.")
    weight_decay = property(lambda self: self._weight_decay, doc="L2 coefficient >= 0.")

    def get_config(self) -> dict:
        return self._with_schedules({"learning_rate": self.learning_rate, "beta1": self._beta1,
                                     "beta2": self._beta2, "eps": self._eps, "weight_decay": self._weight_decay})

    def _step(self, params: dict, grads: dict) -> None:
        b1, b2, eps, wd = self._beta1, self._beta2, self._eps, self._weight_decay
        self.t += 1
        t = self.t
        step_size = self._learning_rate / (1.0 - b1**t)        # Python floats: no promotion
        bias_correction2_sqrt = math.sqrt(1.0 - b2**t)
        exp_avg, exp_avg_sq = self._buffers["exp_avg"], self._buffers["exp_avg_sq"]
        for name, W in params.items():
            if name not in exp_avg:
                exp_avg[name], exp_avg_sq[name] = np.zeros_like(W), np.zeros_like(W)
            for rows in _row_blocks(W):                         # all of W, or cache-sized blocks of its rows
                w, g, m, v = W[rows], grads[name][rows], exp_avg[name][rows], exp_avg_sq[name][rows]  # views
                if wd:
                    g = g + wd * w                              # new array: grads are never modified
                m *= b1                                         # m = b1 m + (1 - b1) g
                m += (1.0 - b1) * g
                v *= b2                                         # v = b2 v + (1 - b2) g^2
                v += (1.0 - b2) * (g * g)
                denom = np.sqrt(v)                              # sqrt(v / (1 - b2^t)) + eps
                denom /= bias_correction2_sqrt
                denom += eps
                w -= step_size * (m / denom)                    # W = W - lr m / (1 - b1^t) / denom
        self._flush_subnormals()
