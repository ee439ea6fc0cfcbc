"""A multilayer perceptron over a dict of arrays (after cs231n's ``fc_net.py``).

``MLP([D, H1, ..., C])`` is ``L = len(layer_sizes) - 1`` dense layers; every hidden layer is
followed by the activation, the last one is linear and outputs the logits::

    z1 = X @ W1 + b1;  a1 = f(z1)           # (N, D) @ (D, H1) -> (N, H1); a1 is cache.hidden[0]
    ...
    logits = a_{L-1} @ WL + bL              # (N, H_{L-1}) @ (H_{L-1}, C) -> (N, C)

The parameters live in ``model.params`` ("W1", "b1", ..., "WL", "bL"); :meth:`MLP.backward` returns
gradients in a dict with the same keys, shapes and dtype, so an optimizer can do
``params[k] -= lr * grads[k]``.

Initialisation
--------------
Weights are drawn in float64, then cast, so a float32 and a float64 model with the same seed start
from the same weights up to rounding; biases are zero:

- ReLU / leaky ReLU: He et al. (2015), ``W ~ N(0, 2 / fan_in)``, which keeps the variance of
  the activations constant through layers that zero half their inputs;
- tanh / sigmoid / identity: Glorot & Bengio (2010), ``W ~ N(0, 2 / (fan_in + fan_out))``.

Hidden layers
-------------
They are indexed from 0, like Python (-1 the last): ``cache.hidden[k]`` is ``a_{k+1}`` above, hidden
layer k's output after its activation (and after dropout, see "Dropout"), (N, H_k), the very array the
next layer consumed (always 2-D: (1, H_k) after a one-sample forward pass).
``backward(dlogits, cache, dhidden={k: dH_k})`` adds the gradients of a loss on hidden layers (feature
distillation) to those from the logits. With ``L = L_logits + sum_k L_k(cache.hidden[k])`` and
``j = k + 1``, ``a_j`` reaches the loss along two paths, through the next dense layer and directly, so
its gradient is the sum::

    dL/da_j = dz_{j+1} W_{j+1}^T  +  dH_k            # (N, H_k)

added **before** layer j's activation backward, ``dL/dz_j = f'(z_j) * dL/da_j``: the layers below
see both contributions, the layers above only ``dlogits``. The gradients are linear in
``(dlogits, dhidden)``.

Dropout
-------
``MLP(..., dropout=p, input_dropout=p_in)``: inverted dropout (:func:`minikd.layers.dropout_forward`) on the
input X (rate ``p_in``) and on every hidden layer's output after its activation (rate ``p``), in
:meth:`MLP.forward_train` only. :meth:`MLP.forward`, ``predict`` and ``predict_proba`` never drop: the
scaling makes the expected dropped output the undropped one, so evaluation needs no rescaling. With
``m_j`` a fresh keep-mask, each entry True with probability ``1 - p``::

    d_j = a_j * m_j / (1 - p)             # (N, H_k): cache.hidden[k], what layer j + 1 consumes

so ``cache.hidden[k]`` is ``d_j``, and ``dhidden[k]`` is ``dL/dd_j``, the gradient with respect to that very
array (a loss computed on ``cache.hidden[k]`` gives exactly this). Both paths reach ``d_j``, so their sum
goes back through the mask before the activation::

    dL/dd_j = dz_{j+1} W_{j+1}^T  +  dH_k
    dL/da_j = dL/dd_j * m_j / (1 - p)     # a dropped unit gets no gradient from either path
    dL/dz_j = f'(z_j) * dL/da_j

and ``dL/dX = dL/dX_dropped * m_0 / (1 - p_in)`` for the input. The masks live in the cache
(``cache.layers[k].dropout``, ``cache.input_dropout``), so :meth:`MLP.backward` uses those of the forward
pass it is given; at rate 0 there is no mask (None there), nothing is drawn, and the pass is exactly the
one without dropout. The masks come from ``model.dropout_rng`` (its docstring says how to save and
restore it), a generator of its own: a child (``SeedSequence.spawn``) of the seed sequence of the
initialisation generator, whose stream it leaves untouched, so a seed gives the same weights at every
rate, and the same masks for float32 and float64 models. Only ``forward_train`` draws from it:
``x.size`` float64 uniforms per dropped array, the input first, then the hidden layers in order.

Max-norm
--------
``MLP(..., max_norm=c)`` (Hinton et al. 2012; Srivastava et al. 2014, section 5.1): after each update the
trainer calls :meth:`MLP.apply_max_norm`, which rescales every hidden unit's incoming weight vector (a
column of ``W_k``, k < L: the hidden layers, not the output layer) whose L2 norm exceeds ``c`` back to norm
``c``, i.e. projects it onto the ball of radius ``c``. Biases are not constrained. ``None`` (default): no
constraint, nothing computed.

Public methods validate their inputs; the private ``_forward_train``/``_backward`` hold only the math
and are what the trainers call in their hot loop, on arrays they validated once.
"""

from __future__ import annotations

import copy as _copy
import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from ._validation import (
    cast_to_dtype,
    check_bool,
    check_choice,
    check_features,
    check_float_array,
    check_int,
    check_model_dtype,
    check_positive_float,
    check_seed,
    describe,
)
from .functional import _softmax
from .layers import (
    ACTIVATIONS,
    DenseCache,
    DropoutCache,
    _check_drop_probability,
    _dense_forward,
    _draw_dropout,
    dense_backward,
    dropout_backward,
)

__all__ = ["MLP", "MLPCache", "LayerCache", "check_hidden_index"]

_DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}
_HE_INIT = ("relu", "leaky_relu")  # the other activations get Glorot/Xavier init
_CONFIG_KEYS = ("layer_sizes", "activation", "dtype")
_OPTIONAL_CONFIG_KEYS = ("dropout", "input_dropout", "max_norm")  # absent in older configs: 0.0, 0.0, None


class LayerCache(NamedTuple):
    """The intermediates of one layer of a forward pass.

    Attributes
    ----------
    dense : DenseCache
        ``(x, W)``: the layer input (N, in) and weights (in, out).
    activation : NamedTuple or None
        The activation's cache (its input ``z`` and output ``a``, both (N, out)); None for the
        last layer, which is linear.
    dropout : DropoutCache or None
        The dropout of the activation output (its keep-mask (N, out) and scale ``1 / (1 - p)``);
        None for the last layer, at ``dropout = 0`` and in a pass without dropout.
    """

    dense: DenseCache
    activation: tuple | None
    dropout: DropoutCache | None = None


class MLPCache(NamedTuple):
    """Everything :meth:`MLP.backward` needs from :meth:`MLP.forward_train`.

    Attributes
    ----------
    layers : tuple of LayerCache
        One per dense layer, first to last; ``layers[0].dense.x`` is the input X, as a 2-D array
        (after input dropout, when there is some).
    logits : ndarray of shape (N, C), or (C,) when the input was one sample of shape (D,)
        The output of the forward pass; ``dlogits`` must have this shape.
    single : bool
        Whether the input was one sample of shape (D,).
    need_input_grad : bool
        Whether :meth:`MLP.backward` also returns the gradient with respect to X.
    input_dropout : DropoutCache or None
        The dropout of the input (keep-mask (N, D) and scale); None at ``input_dropout = 0`` and in
        a pass without dropout.
    hidden : tuple of ndarray, one of shape (N, H_k) per hidden layer (a property)
        ``hidden[k]`` is the output of hidden layer k (0-based, k = 0 .. L-2) **after** its
        activation and dropout: the very array the next layer consumed (``hidden[k] is
        layers[k + 1].dense.x``), not a copy; without dropout, ``layers[k].activation``'s output
        itself. ``()`` for a model without hidden layers (``MLP([D, C])``). Hidden layers are always
        2-D: a one-sample forward pass (X of shape (D,)) gives rows of shape **(1, H_k)**, while its
        logits are (C,). ``dhidden[k]`` in :meth:`MLP.backward` takes the shape of
        ``hidden[k]``.
    """

    layers: tuple
    logits: np.ndarray
    single: bool = False
    need_input_grad: bool = False
    input_dropout: DropoutCache | None = None

    @property
    def hidden(self) -> tuple:
        """The hidden layers' outputs, read from the next layers' inputs (see the class docstring)."""
        return tuple(layer.dense.x for layer in self.layers[1:])


def _check_layer_sizes(layer_sizes) -> tuple[int, ...]:
    if isinstance(layer_sizes, (str, bytes)) or not isinstance(layer_sizes, (Sequence, np.ndarray)):
        raise TypeError(
            f"layer_sizes must be a list of positive ints like [64, 32, 10], got {describe(layer_sizes)}"
        )
    if len(layer_sizes) < 2:
        raise ValueError(
            "layer_sizes must have at least 2 entries (input and output sizes), "
            f"got {list(layer_sizes)!r}"
        )
    return tuple(check_int(n, f"layer_sizes[{i}]", minimum=1) for i, n in enumerate(layer_sizes))


class _ParamsAndConfig:
    """The MLP's state half: copies of its parameters, loading them, max-norm, copies of the model and its
    plain-data config (kept apart from the math in :class:`MLP`)."""

    def get_params(self) -> dict:
        """A copy of ``params`` (a dict of new arrays), e.g. to remember the best weights.

        Returns
        -------
        dict of str -> ndarray
        """
        return {key: value.copy() for key, value in self.params.items()}

    def set_params(self, params) -> None:
        """Copy ``params`` into the model, after checking all of them.

        Parameters
        ----------
        params : mapping of str -> array_like
            Exactly the keys of ``self.params``, each of the same shape, finite. Values are cast to
            the model dtype and copied into the existing arrays (the caller's arrays are not kept,
            so changing them later does not change the model).

        Raises
        ------
        ValueError
            Naming the key that is missing, unexpected, of the wrong shape or not finite. Nothing
            is changed when any check fails.
        """
        checked = _checked_params(self, params)
        for key, value in checked.items():
            np.copyto(self.params[key], value)

    def apply_max_norm(self) -> None:
        """Rescale, in place, each hidden unit's incoming weights (columns of W_1 .. W_{L-1}) whose L2 norm
        exceeds ``max_norm`` to norm ``max_norm`` (module docstring, "Max-norm"); nothing if it is None."""
        if self.max_norm is not None:
            _project_columns([self.params[w] for w, _ in self._keys[:-1]], self.max_norm)

    def copy(self) -> MLP:
        """An independent deep copy: same configuration, copied parameters and dropout generator.

        Returns
        -------
        MLP
            Changing its ``params`` does not change this model, and vice versa; its ``dropout_rng``
            starts from this model's state and is advanced on its own.
        """
        return _copy.deepcopy(self)

    def get_config(self) -> dict:
        """The constructor arguments as plain data (for checkpoints).

        Returns
        -------
        dict
            ``{"layer_sizes": list of int, "activation": str, "dtype": "float32" or "float64",
            "dropout": float, "input_dropout": float, "max_norm": float or None}``.
        """
        return {"layer_sizes": list(self.layer_sizes), "activation": self.activation, "dtype": self.dtype.name,
                "dropout": self.dropout, "input_dropout": self.input_dropout, "max_norm": self.max_norm}

    @classmethod
    def from_config(cls, config, params=None, seed=None) -> MLP:
        """Build a model from :meth:`get_config` output, optionally with given parameters.

        Parameters
        ----------
        config : dict
            The keys "layer_sizes", "activation" and "dtype", and optionally "dropout",
            "input_dropout" (0.0 when absent, as in configs saved before dropout) and "max_norm" (None
            when absent); no others.
        params : mapping of str -> array_like, optional
            Loaded with :meth:`set_params`; without it the weights are freshly initialised.
        seed : int, numpy.random.Generator or None
            Seed of the initialisation (irrelevant when ``params`` is given) and of ``dropout_rng``.

        Returns
        -------
        MLP
        """
        _check_config(config)
        model = cls(config["layer_sizes"], activation=config["activation"], seed=seed, dtype=config["dtype"],
                    dropout=config.get("dropout", 0.0), input_dropout=config.get("input_dropout", 0.0),
                    max_norm=config.get("max_norm"))
        if params is not None:
            model.set_params(params)
        return model


class MLP(_ParamsAndConfig):
    """Multilayer perceptron classifier with hand-written backpropagation.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[D, H1, ..., C]``: input features, hidden widths, classes; at least 2 positive ints.
    activation : {"relu", "leaky_relu", "tanh", "sigmoid", "identity"}, default "relu"
        Applied after every hidden layer; the last layer is linear (it outputs logits).
    seed : int, numpy.random.Generator or None, default None
        Seed of the weight initialisation, through ``np.random.default_rng(seed)`` (a Generator is
        used as is, and advanced), and of :attr:`dropout_rng`. The global ``np.random`` state is never touched.
    dtype : {np.float32, np.float64}, default np.float64
        Dtype of the parameters, the logits and the gradients.
    dropout, input_dropout : float in [0, 1), default 0.0
        Probability of dropping each hidden unit / each input feature in :meth:`forward_train`
        (inverted dropout; module docstring, "Dropout"). 0 turns it off.
    max_norm : float > 0 or None, default None
        Largest L2 norm of a hidden unit's incoming weights, enforced after each update by the trainers
        (:meth:`apply_max_norm`; module docstring, "Max-norm"). None: no constraint.

    Attributes
    ----------
    layer_sizes : tuple of int
    activation : str
    dtype : numpy.dtype
    dropout, input_dropout : float
    params : dict of str -> ndarray
        "W1", "b1", ..., "WL", "bL"; ``W_k`` has shape (in_k, out_k), ``b_k`` shape (out_k,).
    num_layers : int
        ``L``, the number of dense layers (``len(layer_sizes) - 1``).

    Notes
    -----
    The initialisation (He or Glorot), the hidden layers and dropout: the module docstring.

    Examples
    --------
    >>> model = MLP([64, 32, 10], activation="relu", seed=0)
    >>> model
    MLP([64, 32, 10], activation='relu', dtype=float64, params=2,410)
    """

    def __init__(self, layer_sizes, activation: str = "relu", seed=None, dtype=np.float64,
                 dropout: float = 0.0, input_dropout: float = 0.0, max_norm: float | None = None):
        self.layer_sizes = _check_layer_sizes(layer_sizes)
        self.activation = check_choice(activation, "activation", ACTIVATIONS)
        self.dtype = check_model_dtype(dtype)
        self.dropout = _check_drop_probability(dropout, "dropout")
        self.input_dropout = _check_drop_probability(input_dropout, "input_dropout")
        self.max_norm = None if max_norm is None else check_positive_float(max_norm, "max_norm")
        rng = np.random.default_rng(check_seed(seed))
        self._dropout_rng = _child_generator(rng)  # before the weights: it never draws from rng

        self.num_layers = len(self.layer_sizes) - 1
        self._act_forward, self._act_backward = ACTIVATIONS[self.activation]
        self._keys = tuple((f"W{k}", f"b{k}") for k in range(1, self.num_layers + 1))
        self.params = _init_params(self.layer_sizes, self.activation, self.dtype, rng)

    # ------------------------------------------------------------------------- description
    @property
    def input_dim(self) -> int:
        """D, the number of input features (``layer_sizes[0]``)."""
        return self.layer_sizes[0]

    @property
    def output_dim(self) -> int:
        """C, the number of classes (``layer_sizes[-1]``)."""
        return self.layer_sizes[-1]

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """``(H_0, ..., H_{L-2})``, the widths of the hidden layers (``layer_sizes[1:-1]``; () if none)."""
        return self.layer_sizes[1:-1]

    @property
    def num_parameters(self) -> int:
        """Total number of scalars in ``params``."""
        return sum(p.size for p in self.params.values())

    @property
    def dropout_rng(self) -> np.random.Generator:
        """The generator of the dropout masks, a PCG64 ``np.random.Generator`` (module docstring, "Dropout").

        Save and restore it as plain data: ``state = model.dropout_rng.bit_generator.state`` (a new dict
        of str and int) and ``model.dropout_rng.bit_generator.state = state``.
        """
        return self._dropout_rng

    def __repr__(self) -> str:
        rates = "".join(f", {name}={getattr(self, name)!r}" for name in _OPTIONAL_CONFIG_KEYS if getattr(self, name))
        return (f"MLP({list(self.layer_sizes)}, activation={self.activation!r}{rates}, "
                f"dtype={self.dtype.name}, params={self.num_parameters:,})")

    # ------------------------------------------------------------------------- forward
    def forward(self, X) -> np.ndarray:
        """Logits of the network.

        Parameters
        ----------
        X : array_like of shape (N, D) or (D,)
            Finite inputs; cast to the model dtype (a float32 model gives float32 logits for
            float64 or integer input).

        Returns
        -------
        logits : ndarray of shape (N, C), or (C,) for X of shape (D,)
        """
        logits, _ = self.forward_train(X, drop=False)  # evaluation never drops
        return logits

    def forward_train(self, X, need_input_grad: bool = False, *, drop: bool = True) -> tuple[np.ndarray, MLPCache]:
        """Forward pass that keeps every intermediate for :meth:`backward`, with dropout.

        Parameters
        ----------
        X : array_like of shape (N, D) or (D,)
            Finite inputs; cast to the model dtype.
        need_input_grad : bool, default False
            If True, :meth:`backward` also returns ``dL/dX`` (for input saliency, adversarial
            examples, ...). Training never needs it.
        drop : bool, default True
            Apply the model's dropout, new masks from :attr:`dropout_rng`; False: :meth:`forward`'s pass.

        Returns
        -------
        logits : ndarray of shape (N, C), or (C,) for X of shape (D,)
        cache : MLPCache
            Pass it to :meth:`backward`. ``cache.hidden[k]``, (N, H_k) or (1, H_k) for X of shape (D,),
            is hidden layer k's output (0-based); ``cache.layers[k].dense.x`` the input of "W{k+1}".
        """
        return _checked_forward(self, X, check_bool(need_input_grad, "need_input_grad"), check_bool(drop, "drop"))

    def _forward_train(self, X: np.ndarray, need_input_grad: bool = False, drop: bool = True):
        """The math of :meth:`forward_train`, without checks: X is a 2-D array of the model dtype."""
        p_in, p = (self.input_dropout, self.dropout) if drop else (0.0, 0.0)  # the dropout rates
        X, input_drop = _draw_dropout(X, p_in, self._dropout_rng) if p_in else (X, None)  # X * m_0 / (1 - p_in)
        layers, a = [], X  # a: (N, D), then each hidden layer's output (N, H_k)
        for w_key, b_key in self._keys[:-1]:  # the hidden layers
            z, dense_cache = _dense_forward(a, self.params[w_key], self.params[b_key])  # (N, H_k)
            a, act_cache = self._act_forward(z)
            a, drop_cache = _draw_dropout(a, p, self._dropout_rng) if p else (a, None)  # a * m / (1 - p)
            layers.append(LayerCache(dense_cache, act_cache, drop_cache))
        w_key, b_key = self._keys[-1]  # the last layer is linear: its output is the logits
        logits, dense_cache = _dense_forward(a, self.params[w_key], self.params[b_key])  # (N, C)
        layers.append(LayerCache(dense_cache, None))
        return logits, MLPCache(tuple(layers), logits, False, need_input_grad, input_drop)

    # ------------------------------------------------------------------------- backward
    def backward(self, dlogits, cache: MLPCache, dhidden=None):
        """Backpropagate ``dL/dlogits``, and any gradients arriving at hidden layers, through the network.

        Parameters
        ----------
        dlogits : array_like of shape (N, C), or (C,) for a one-sample forward pass
            Gradient of the loss with respect to the logits; must have the shape of
            ``cache.logits``. Cast to the model dtype. Zeros for a loss on hidden layers only.
        cache : MLPCache
            From :meth:`forward_train` on this model.
        dhidden : dict of int -> array_like, optional
            ``{k: dH_k}``, dL/d``cache.hidden[k]``: k an int in ``[-(L-1), L-2]`` (-1 the last hidden
            layer), each layer once; dH_k finite, of the shape of ``cache.hidden[k]`` ((N, H_k) or (1, H_k)),
            cast to the model dtype. None or ``{}``: exactly the gradients of ``dlogits`` alone.

        Returns
        -------
        grads : dict of str -> ndarray
            Keyed like ``params`` ("W1", "b1", ...), each of the same shape and dtype.
        dX : ndarray of shape (N, D) or (D,), only if the forward pass had ``need_input_grad=True``
            Then the return value is the pair ``(grads, dX)``.

        Notes
        -----
        Walking the layers from last to first with ``dout = dlogits``: the activation's backward
        turns ``dL/da_k`` into ``dL/dz_k``, and :func:`minikd.layers.dense_backward` turns that into
        ``dL/dW_k = a_{k-1}^T dz_k``, ``dL/db_k = sum_n dz_k`` and ``dL/da_{k-1} = dz_k W_k^T``.
        The first layer's input gradient is skipped unless it was asked for. ``dH_k`` (for
        ``cache.hidden[k] = a_{k+1}``) is added before that layer's activation backward:
        ``dL/da_{k+1} = dz_{k+2} W_{k+2}^T + dH_k`` (module docstring, "Hidden layers"). With dropout
        that sum is the gradient at the dropped output, ``cache.hidden[k]``; it then goes through the mask.
        """
        dlogits = _check_backward_inputs(self, dlogits, cache)
        dhidden = _check_dhidden(self, dhidden, cache)
        with np.errstate(over="ignore", invalid="ignore"):
            out = self._backward(dlogits, cache, dhidden)
        _check_finite_grads(out[0] if isinstance(out, tuple) else out, dlogits, dhidden)
        return out

    def _backward(self, dlogits: np.ndarray, cache: MLPCache, dhidden=None):
        """The math of :meth:`backward`, without checks (dlogits, dhidden cast to the model dtype; negative keys ok)."""
        dout = dlogits if dlogits.ndim == 2 else dlogits[None, :]  # (N, C)
        if dout.dtype != self.dtype:
            dout = dout.astype(self.dtype)
        if dhidden:  # {k: dH_k} with k = -1 the last hidden layer -> k in 0 .. L-2
            dhidden = _by_layer(dhidden, self.num_layers - 1)
        act_backward = self._act_backward
        grads = {}
        for k in range(self.num_layers - 1, -1, -1):
            dense_cache, act_cache, drop_cache = cache.layers[k]
            if act_cache is not None:
                if dhidden and k in dhidden:  # dL/d hidden[k] = (from the layer above) + dH_k
                    dout = dout + np.asarray(dhidden[k], dtype=self.dtype)
                if drop_cache is not None:  # through the dropout: dL/da_k = dL/d hidden[k] * m / (1 - p)
                    dout = dropout_backward(dout, drop_cache)
                dout = act_backward(dout, act_cache)  # dL/da_k -> dL/dz_k
            need_dx = k > 0 or cache.need_input_grad
            dout, grads[self._keys[k][0]], grads[self._keys[k][1]] = dense_backward(
                dout, dense_cache, need_dx=need_dx
            )
        grads = {key: grads[key] for key in self.params}  # "W1", "b1", ... order
        if not cache.need_input_grad:
            return grads
        if cache.input_dropout is not None:  # dL/dX = dL/d(dropped X) * m_0 / (1 - p_in)
            dout = dropout_backward(dout, cache.input_dropout)
        return grads, (dout[0] if cache.single else dout)

    # ------------------------------------------------------------------------- prediction
    def predict(self, X):
        """Predicted class indices (the argmax of the logits).

        Parameters
        ----------
        X : array_like of shape (N, D) or (D,)

        Returns
        -------
        ndarray of int of shape (N,), or an int for X of shape (D,)
        """
        logits = self.forward(X)
        if logits.ndim == 1:
            return int(np.argmax(logits))
        return np.argmax(logits, axis=1)

    def predict_proba(self, X, temperature: float = 1.0) -> np.ndarray:
        """Class probabilities ``softmax(logits / temperature)``.

        Parameters
        ----------
        X : array_like of shape (N, D) or (D,)
        temperature : float, default 1.0
            T > 0; T > 1 gives the softened probabilities of distillation.

        Returns
        -------
        ndarray of shape (N, C) or (C,), model dtype
            Rows are non-negative and sum to 1.
        """
        t = check_positive_float(temperature, "temperature")
        logits = self.forward(X)
        with np.errstate(over="ignore"):  # a tiny T: logits / T beyond the float range, probability 0
            return _softmax(logits, t)


# ----------------------------------------------------------------------------- construction and forward
def _init_params(layer_sizes: tuple, activation: str, dtype: np.dtype, rng: np.random.Generator) -> dict:
    """Freshly initialised ``{"W1": (D, H1), "b1": (H1,), ...}`` (module docstring), drawn from ``rng``."""
    params = {}
    for k in range(1, len(layer_sizes)):
        fan_in, fan_out = layer_sizes[k - 1], layer_sizes[k]
        if activation in _HE_INIT:
            std = math.sqrt(2.0 / fan_in)
        else:
            std = math.sqrt(2.0 / (fan_in + fan_out))
        params[f"W{k}"] = (rng.standard_normal((fan_in, fan_out)) * std).astype(dtype)
        params[f"b{k}"] = np.zeros(fan_out, dtype=dtype)
    return params


def _child_generator(rng: np.random.Generator) -> np.random.Generator:
    """A PCG64 generator independent of ``rng``'s stream, without drawing from it (``MLP.dropout_rng``).

    A child of ``rng``'s seed sequence, ``SeedSequence.spawn``: for an int seed, ``SeedSequence(seed,
    spawn_key=(0,))``; for a given Generator, its next child (two models built from one Generator get
    different streams). A bit generator without a seed sequence (a legacy-seeded MT19937) gets one
    seeded from the first raw words of a copy of it, so ``rng`` itself is not advanced either.
    """
    seed_seq = getattr(rng.bit_generator, "seed_seq", None)
    if isinstance(seed_seq, np.random.SeedSequence):
        return np.random.default_rng(seed_seq.spawn(1)[0])
    return np.random.default_rng(_copy.deepcopy(rng.bit_generator).random_raw(4).tolist())


def _checked_forward(model: MLP, X, need_input_grad: bool, drop: bool) -> tuple[np.ndarray, MLPCache]:
    """:meth:`MLP.forward_train` after its flags are checked: validate X (shape (D,) or (N, D), finite,
    non-empty) and cast it to the model dtype, run the math, refuse logits that overflowed, and give a
    one-sample pass its (C,) logits."""
    X = check_features(X, "X", model.input_dim, model.dtype)
    single = X.ndim == 1
    with np.errstate(over="ignore", invalid="ignore"):
        logits, cache = model._forward_train(X[None, :] if single else X, need_input_grad, drop)
    if not np.isfinite(logits).all():
        raise ValueError(
            f"X is too large for this model: the logits overflow (X of magnitude up to "
            f"{float(np.abs(X).max()):.3g}); rescale X"
        )
    if not single:
        return logits, cache
    logits = logits[0]  # (C,)
    return logits, cache._replace(logits=logits, single=True)


# ----------------------------------------------------------------------------- checks of the public methods
def _check_config(config) -> None:
    """Validate :meth:`MLP.from_config`'s ``config``: the keys of :meth:`MLP.get_config`, the rates optional."""
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a dict, got {describe(config)}")
    expected = list(_CONFIG_KEYS + _OPTIONAL_CONFIG_KEYS)
    for key in _CONFIG_KEYS:
        if key not in config:
            raise ValueError(f"config is missing key {key!r} (expected {expected}, the last three optional)")
    extra = [key for key in config if key not in expected]
    if extra:
        raise ValueError(f"config has unexpected key {extra[0]!r} (expected {expected}, the last three optional)")


def _project_columns(weights: list, c: float) -> None:
    """Scale each column of each W (in, out) whose L2 norm is above c down to norm c, in place."""
    for W in weights:
        norms = np.sqrt((W * W).sum(axis=0))                  # (out,): one incoming vector per unit
        too_long = norms > c
        if too_long.any():
            W[:, too_long] *= (c / norms[too_long]).astype(W.dtype)


def _by_layer(dhidden: dict, n_hidden: int) -> dict:
    """``{k: dH}`` with every k in 0 .. n_hidden - 1; two keys naming one layer (-1 and n_hidden - 1) add."""
    out = {}
    for k, dH in dhidden.items():
        k %= n_hidden
        out[k] = dH if k not in out else out[k] + dH
    return out


def _check_finite_grads(grads: dict, dlogits: np.ndarray, dhidden: dict) -> None:
    """Refuse gradients that overflowed in :meth:`MLP.backward`, naming the inputs that caused it."""
    if all(np.isfinite(g).all() for g in grads.values()):
        return
    if not dhidden:
        raise ValueError(
            f"dlogits is too large: the gradients overflow (dlogits of magnitude up to "
            f"{float(np.abs(dlogits).max()):.3g})"
        )
    biggest = max(float(np.abs(d).max()) for d in (dlogits, *dhidden.values()))
    raise ValueError(
        "dlogits or dhidden is too large: the gradients overflow (dlogits and dhidden of "
        f"magnitude up to {biggest:.3g})"
    )


def _check_backward_inputs(model: MLP, dlogits, cache) -> np.ndarray:
    """Validate :meth:`MLP.backward`'s inputs; return ``dlogits`` as a float array."""
    if not isinstance(cache, MLPCache):
        raise TypeError(f"cache must be the MLPCache from forward_train, got {describe(cache)}")
    if len(cache.layers) != model.num_layers:
        raise ValueError(
            f"cache must come from a forward pass of this {model.num_layers}-layer model, "
            f"got a cache of {len(cache.layers)} layers"
        )
    for k, layer in enumerate(cache.layers, start=1):
        if layer.dense.W.shape != model.params[f"W{k}"].shape:
            raise ValueError(
                f"cache must come from a forward pass of this model: its layer {k} has W of shape "
                f"{layer.dense.W.shape}, this model's W{k} has shape {model.params[f'W{k}'].shape}"
            )
    dlogits = check_float_array(dlogits, "dlogits", ndim=(1, 2))
    if dlogits.shape != cache.logits.shape:
        raise ValueError(
            f"dlogits must have the shape of the logits {cache.logits.shape}, "
            f"got shape {dlogits.shape}"
        )
    return dlogits


def check_hidden_index(k, sizes: tuple, name: str, owner: str) -> int:
    """Validate one index into hidden layers of widths ``sizes``; return it in ``0 .. len(sizes) - 1``.

    Parameters
    ----------
    k : int
        0-based; negative counts from the end (-1 the last hidden layer).
    sizes : tuple of int
        The hidden widths of the model (``MLP.hidden_sizes``).
    name : str
        What ``k`` is, for the message (``"dhidden key"``, ``"layers[1]"``).
    owner : str
        The model, for the message (``"this model MLP([4, 5, 3], ...)"``).

    Raises
    ------
    TypeError
        If ``k`` is not an int (bool is refused).
    ValueError
        If ``k`` is outside ``[-len(sizes), len(sizes) - 1]``.
    """
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{name} must be an int index of a hidden layer (0-based, -1 the last), got {describe(k)}")
    n = len(sizes)
    if n == 0:
        raise ValueError(f"{name} must index a hidden layer, but {owner} has no hidden layers, got {int(k)}")
    if not -n <= k < n:
        raise ValueError(
            f"{name} must be a hidden-layer index in [{-n}, {n - 1}] ({owner} has {n} hidden "
            f"layer{'s' if n > 1 else ''} of widths {sizes}), got {int(k)}"
        )
    return int(k) % n


def _check_dhidden(model: MLP, dhidden, cache: MLPCache) -> dict:
    """Validate :meth:`MLP.backward`'s ``dhidden``; return ``{k: dH_k}`` with k in 0 .. L-2 and each
    dH_k in the model dtype, of the shape of ``cache.hidden[k]``, finite."""
    if dhidden is None:
        return {}
    if not isinstance(dhidden, Mapping):
        raise TypeError(
            "dhidden must be a dict {k: dH_k} from hidden-layer indices to the gradients arriving at "
            f"them, got {describe(dhidden)}"
        )
    hidden = cache.hidden
    owner = f"this model {model!r}"
    checked, given_as = {}, {}
    for key, value in dhidden.items():
        k = check_hidden_index(key, model.hidden_sizes, f"dhidden[{key!r}]: the key", owner)
        key = int(key)  # an np.int64 key is shown as a plain int below
        if k in checked:
            raise ValueError(
                f"dhidden[{key}] and dhidden[{given_as[k]}] both name hidden layer {k}: give each "
                "layer once (add the two gradients)"
            )
        name = f"dhidden[{key}]"
        dH = check_float_array(value, name, ndim=range(0, 33))
        if dH.shape != hidden[k].shape:
            hint = ("; a one-sample forward pass keeps hidden layers 2-D, (1, H_k): pass dH[None, :]"
                    if cache.single and dH.shape == hidden[k].shape[1:] else "")
            raise ValueError(
                f"{name} must have the shape of cache.hidden[{k}] {hidden[k].shape}, got shape {dH.shape}{hint}"
            )
        checked[k] = cast_to_dtype(dH, model.dtype, name, "scale the loss down")  # finite after the cast
        given_as[k] = key
    return checked


def _checked_params(model: MLP, params) -> dict:
    """Validate parameters for :meth:`MLP.set_params`: exactly the model's keys and shapes, finite in
    its dtype; return them cast to it (nothing of the model changed yet)."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of arrays, got {describe(params)}")
    missing = [key for key in model.params if key not in params]
    if missing:
        raise ValueError(f"params is missing key {missing[0]!r} (expected {list(model.params)})")
    extra = [key for key in params if key not in model.params]
    if extra:
        raise ValueError(f"params has unexpected key {extra[0]!r} (expected {list(model.params)})")
    checked = {}
    for key, current in model.params.items():
        name = f"params[{key!r}]"
        value = check_float_array(params[key], name, ndim=current.ndim)
        if value.shape != current.shape:
            raise ValueError(f"{name} must have shape {current.shape}, got shape {value.shape}")
        with np.errstate(over="ignore"):
            value = value.astype(model.dtype, copy=False)
        if not np.isfinite(value).all():
            raise ValueError(f"{name} must fit in the model dtype {model.dtype}, got inf after the cast")
        checked[key] = value
    return checked
