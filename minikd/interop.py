"""Hand-off to PyTorch, without importing it: move an MLP across, and check a PyTorch loss.

minikd never imports torch. This module works on NumPy arrays and on anything that converts to
one: objects with ``.numpy()`` (PyTorch, TensorFlow), with ``__array__`` (JAX, CuPy on the host),
and, generically, objects with ``.detach()`` and ``.cpu()`` (a PyTorch tensor that requires grad
or lives on a GPU), which are called first when present.

Models
------
An ``MLP([D, H1, ..., C], activation)`` is the PyTorch module ::

    nn.Sequential(nn.Linear(D, H1), act(), nn.Linear(H1, H2), act(), ..., nn.Linear(H_last, C))

whose ``state_dict`` has the keys ``"0.weight"``, ``"0.bias"``, ``"2.weight"``, ... : the Linear
layers sit at the even indices 0, 2, 4, ... because one activation module sits between each pair
(also for ``activation="identity"``, as ``nn.Identity()``, so the indices never depend on the
activation). PyTorch stores a Linear weight as (out_features, in_features), the transpose of
minikd's ``W_k`` of shape (in, out): ``state_dict["{2(k-1)}.weight"] == params["W{k}"].T``.

- :func:`to_torch_state_dict` -- MLP -> dict of NumPy arrays, keyed and shaped like that state_dict;
- :func:`torch_sequential_spec` / :func:`torch_sequential_code` -- the Sequential to build for it;
- :func:`from_torch_state_dict` -- a state_dict (tensors or arrays) -> MLP, with strict checks.

Losses
------
Distillation code in the wild weights the same two terms in different ways. With N samples,
student logits z, teacher logits v, labels y, q = softmax(v/T), p = softmax(z/T),
``CE = mean_i CE(softmax(z_i), y_i)`` and ``KL = mean_i KL(q_i || p_i)`` (a batch mean of
per-sample sums, PyTorch's ``reduction="batchmean"``), every convention below computes

    L = w_hard * CE + w_soft * T**2 * KL

for some weights (w_hard, w_soft) that its hyperparameters determine. :data:`LOSS_CONVENTIONS`
lists them and :func:`reference_distillation_loss` states, for each, exactly what its source
computes. :func:`reference_distillation_loss` gives minikd's loss and gradient in a convention's
own scale (to check a PyTorch implementation's numbers), and :func:`convert_hyperparameters`
translates a setting from one convention to another.
"""

from __future__ import annotations

import inspect
import keyword
import math
import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from ._validation import (
    check_choice,
    check_float_array,
    check_fraction,
    check_model_dtype,
    check_nonnegative_float,
    check_positive_float,
    describe,
)
from .layers import ACTIVATIONS, leaky_relu_forward
from .mlp import MLP
from .strategies import DistillationLoss

__all__ = [
    "to_torch_state_dict",
    "from_torch_state_dict",
    "torch_sequential_spec",
    "torch_sequential_code",
    "LOSS_CONVENTIONS",
    "ReferenceLoss",
    "ConvertedHyperparameters",
    "reference_distillation_loss",
    "convert_hyperparameters",
]

# The slope minikd's MLP uses for leaky_relu (the default of leaky_relu_forward): read, not copied,
# so the PyTorch module we describe can never drift from the NumPy one.
_LEAKY_SLOPE = float(inspect.signature(leaky_relu_forward).parameters["negative_slope"].default)

# minikd activation name -> (torch.nn class name, constructor arguments...)
_TORCH_ACTIVATIONS = {
    "relu": ("ReLU",),
    "leaky_relu": ("LeakyReLU", _LEAKY_SLOPE),
    "tanh": ("Tanh",),
    "sigmoid": ("Sigmoid",),
    "identity": ("Identity",),
}

# "<prefix><index>.<weight|bias>": the prefix is empty or ends with a dot ("net.", "model.net.").
_KEY = re.compile(r"(?P<prefix>(?:.*\.)?)(?P<index>\d+)\.(?P<kind>weight|bias)")


# ----------------------------------------------------------------------------- array conversion
def _as_numpy_like(value):
    """Turn a tensor into something NumPy can read, without knowing its library.

    ``.detach()`` (a PyTorch tensor that requires grad), ``.cpu()`` (a tensor on a GPU) and
    ``.numpy()`` (PyTorch, TensorFlow) are called when present; anything else (NumPy arrays,
    lists, objects with ``__array__``) is returned unchanged for the validators to read.
    """
    if isinstance(value, (np.ndarray, np.generic)):
        return value
    for method in ("detach", "cpu", "numpy"):
        fn = getattr(value, method, None)
        if callable(fn):
            try:
                value = fn()
            except Exception as exc:  # e.g. torch's bfloat16, which has no NumPy dtype
                raise TypeError(
                    f"could not convert {describe(value)} to a NumPy array with .{method}(): {exc} "
                    "(for a bfloat16 tensor call .float() first)"
                ) from exc
    return value


def _check_mlp(mlp) -> MLP:
    if not isinstance(mlp, MLP):
        raise TypeError(f"mlp must be a minikd MLP, got {describe(mlp)}")
    return mlp


def _check_prefix(prefix) -> str:
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a string such as '' or 'net.', got {describe(prefix)}")
    if prefix and not prefix.endswith("."):
        raise ValueError(f"prefix must be empty or end with '.', such as 'net.', got {prefix!r}")
    return prefix


# ----------------------------------------------------------------------------- MLP -> PyTorch
def to_torch_state_dict(mlp, prefix: str = "") -> dict:
    """The weights of an MLP as the ``state_dict`` of the equivalent ``nn.Sequential``.

    Parameters
    ----------
    mlp : MLP
        L dense layers, ``params`` "W1", "b1", ..., "WL", "bL".
    prefix : str, default ""
        Put in front of every key, for a Sequential that is an attribute of a larger module
        (``"net."`` gives ``"net.0.weight"``). Empty or ending with ``"."``.

    Returns
    -------
    dict of str -> ndarray
        In layer order, for k = 1..L: ``f"{prefix}{2(k-1)}.weight"`` -> ``W_k.T`` of shape
        (out_k, in_k) and ``f"{prefix}{2(k-1)}.bias"`` -> ``b_k`` of shape (out_k,). New
        C-contiguous arrays of the model's dtype (changing them does not change the model).
        Load it into the module of :func:`torch_sequential_code` with
        ``model.load_state_dict({k: torch.from_numpy(a) for k, a in sd.items()}, strict=True)``.

    Notes
    -----
    ``nn.Linear`` computes ``x @ weight.T + bias`` with ``weight`` of shape (out, in); minikd's
    dense layer computes ``x @ W + b`` with ``W`` of shape (in, out). So ``weight = W.T``
    exactly (a transpose moves numbers, it does not round them).

    Examples
    --------
    >>> model = MLP([4, 3, 2], seed=0)
    >>> {k: v.shape for k, v in to_torch_state_dict(model).items()}
    {'0.weight': (3, 4), '0.bias': (3,), '2.weight': (2, 3), '2.bias': (2,)}
    """
    mlp = _check_mlp(mlp)
    prefix = _check_prefix(prefix)
    state = {}
    for k in range(1, mlp.num_layers + 1):
        index = 2 * (k - 1)
        state[f"{prefix}{index}.weight"] = np.array(mlp.params[f"W{k}"].T, order="C", copy=True)
        state[f"{prefix}{index}.bias"] = mlp.params[f"b{k}"].copy()
    return state


def torch_sequential_spec(mlp) -> list:
    """The layers of the ``nn.Sequential`` equivalent to an MLP, as plain tuples.

    Parameters
    ----------
    mlp : MLP

    Returns
    -------
    list of tuple
        ``("Linear", in_features, out_features)`` for each dense layer and, between two of them,
        the activation: ``("ReLU",)``, ``("LeakyReLU", 0.01)``, ``("Tanh",)``, ``("Sigmoid",)`` or
        ``("Identity",)``. The first element is the ``torch.nn`` class name and the rest are its
        constructor arguments; entry i of the list is module i of the Sequential, so the Linear
        layers are at 0, 2, 4, ...

    Examples
    --------
    >>> torch_sequential_spec(MLP([4, 3, 2], activation="tanh", seed=0))
    [('Linear', 4, 3), ('Tanh',), ('Linear', 3, 2)]
    """
    mlp = _check_mlp(mlp)
    act = _TORCH_ACTIVATIONS[mlp.activation]
    spec = []
    for k in range(mlp.num_layers):
        if k > 0:
            spec.append(act)
        spec.append(("Linear", mlp.layer_sizes[k], mlp.layer_sizes[k + 1]))
    return spec


def torch_sequential_code(mlp, name: str = "model") -> str:
    """Python source that builds the ``nn.Sequential`` equivalent to an MLP.

    Parameters
    ----------
    mlp : MLP
    name : str, default "model"
        The variable the code assigns the module to (a Python identifier).

    Returns
    -------
    str
        Imports ``torch`` and ``torch.nn as nn`` and builds the module of
        :func:`torch_sequential_spec`, in float64 (``.double()``) for a float64 MLP; a float32 MLP
        gives PyTorch's default float32. Run it (or paste it), then load
        :func:`to_torch_state_dict` into it.

    Examples
    --------
    >>> print(torch_sequential_code(MLP([4, 3, 2], seed=0)))
    import torch
    import torch.nn as nn
    <BLANKLINE>
    model = nn.Sequential(
        nn.Linear(4, 3),
        nn.ReLU(),
        nn.Linear(3, 2),
    ).double()
    """
    mlp = _check_mlp(mlp)
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {describe(name)}")
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"name must be a Python identifier, got {name!r}")
    lines = ["import torch", "import torch.nn as nn", "", f"{name} = nn.Sequential("]
    for cls, *args in torch_sequential_spec(mlp):
        lines.append(f"    nn.{cls}({', '.join(repr(a) for a in args)}),")
    lines.append(").double()" if mlp.dtype == np.float64 else ")")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- PyTorch -> MLP
def _parse_keys(state_dict: Mapping, prefix) -> tuple[str, dict]:
    """Check the keys; return the prefix and {layer index: {"weight": key, "bias": key}}."""
    found = {}  # key -> (prefix, index, kind)
    for key in state_dict:
        if not isinstance(key, str):
            raise TypeError(f"state_dict keys must be strings like '0.weight', got {describe(key)}")
        match = _KEY.fullmatch(key)
        if match is None or match["index"] != str(int(match["index"])):
            raise ValueError(
                f"state_dict has key {key!r}, which is not of the form '<i>.weight' or '<i>.bias' "
                "(optionally after a prefix such as 'net.'): minikd reads the state_dict of an "
                "nn.Sequential of Linear layers and activations"
            )
        found[key] = (match["prefix"], int(match["index"]), match["kind"])
    prefixes = sorted({p for p, _, _ in found.values()})
    if prefix is None:
        if len(prefixes) > 1:
            raise ValueError(
                f"state_dict keys must share one prefix, got keys with the prefixes {prefixes}; "
                "keep only the keys of one nn.Sequential"
            )
        prefix = prefixes[0]
    else:
        for key, (p, _, _) in found.items():
            if p != prefix:
                raise ValueError(
                    f"state_dict has unexpected key {key!r}: with prefix={prefix!r} every key "
                    f"must be '{prefix}<i>.weight' or '{prefix}<i>.bias'"
                )
    layers: dict[int, dict] = {}
    for key, (_, index, kind) in found.items():
        layers.setdefault(index, {})[kind] = key
    for index in sorted(layers):
        for kind in ("weight", "bias"):
            if kind not in layers[index]:
                hint = (" (minikd's dense layers always have a bias: for nn.Linear(..., bias=False) "
                        "add a zero bias)") if kind == "bias" else ""
                raise ValueError(f"state_dict is missing key '{prefix}{index}.{kind}'{hint}")
    indices = sorted(layers)
    expected = list(range(0, 2 * len(indices), 2))
    if indices != expected:
        raise ValueError(
            f"state_dict layer indices must be 0, 2, 4, ... (the Linear layers of an nn.Sequential "
            f"with one activation module between each pair), got {indices}; a Sequential with "
            "other modules (such as Dropout) between its Linear layers, or none, must be renumbered"
        )
    return prefix, layers


def from_torch_state_dict(state_dict, activation: str = "relu", *, prefix=None, dtype=None) -> MLP:
    """Build an MLP from the ``state_dict`` of an ``nn.Sequential`` of Linear layers.

    Parameters
    ----------
    state_dict : mapping of str -> tensor or array_like
        ``"0.weight"`` of shape (H1, D), ``"0.bias"`` of shape (H1,), ``"2.weight"`` of shape
        (H2, H1), ... (PyTorch's (out_features, in_features) layout), as returned by
        ``module.state_dict()``. Values may be NumPy arrays or any object with ``.numpy()`` or
        ``__array__``; a tensor that requires grad or lives on a GPU is detached / moved first
        (through its ``.detach()`` / ``.cpu()`` methods; torch is never imported). The insertion
        order of the keys does not matter: layers are ordered by their index.
    activation : {"relu", "leaky_relu", "tanh", "sigmoid", "identity"}, default "relu"
        The activation between the Linear layers. A state_dict does not record it: pass the
        one your Sequential uses (leaky_relu means ``nn.LeakyReLU(0.01)``).
    prefix : str or None, default None
        None: every key must share one prefix, which is found and stripped (``"net.0.weight"``
        works, as from a module whose Sequential is ``self.net``). A string (``""``, ``"net."``):
        every key must start with exactly it.
    dtype : {None, np.float32, np.float64}
        None keeps the arrays' dtype: float32 or float64 if all are (float16 becomes float32,
        integers float64 per minikd's dtype policy), float64 if they are mixed.

    Returns
    -------
    MLP
        ``layer_sizes`` inferred from the shapes, ``params["W{k}"]`` = the transposed weight of
        Linear layer k (a copy: the tensors are not shared).

    Raises
    ------
    TypeError
        A non-mapping, non-string keys, values that are not real-number arrays.
    ValueError
        A key that is not ``"<prefix><i>.weight|bias"``; more than one prefix; a missing weight
        or bias; indices that are not 0, 2, 4, ...; a weight that is not 2-D or a bias that is
        not 1-D; a bias whose length is not the weight's out_features; consecutive layers that do
        not chain (in_features of one != out_features of the previous one; a transposed weight is
        named as such); non-finite values. The message names the key.

    Examples
    --------
    >>> model = MLP([4, 3, 2], activation="tanh", seed=0)
    >>> back = from_torch_state_dict(to_torch_state_dict(model), activation="tanh")
    >>> back.layer_sizes, all(np.array_equal(back.params[k], model.params[k]) for k in model.params)
    ((4, 3, 2), True)
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a dict of tensors or arrays, got {describe(state_dict)}")
    if len(state_dict) == 0:
        raise ValueError("state_dict must hold at least one Linear layer ('0.weight', '0.bias'), got {}")
    activation = check_choice(activation, "activation", ACTIVATIONS)
    if dtype is not None:
        dtype = check_model_dtype(dtype)
    if prefix is not None:
        prefix = _check_prefix(prefix)
    prefix, layers = _parse_keys(state_dict, prefix)

    sizes: list[int] = []
    params = {}
    prev_key = None
    for k, index in enumerate(sorted(layers), start=1):
        w_key, b_key = layers[index]["weight"], layers[index]["bias"]
        W = check_float_array(_as_numpy_like(state_dict[w_key]), f"state_dict[{w_key!r}]", ndim=2)
        b = check_float_array(_as_numpy_like(state_dict[b_key]), f"state_dict[{b_key!r}]", ndim=1)
        out_features, in_features = W.shape
        if b.shape != (out_features,):
            hint = ""
            if b.shape == (in_features,) and in_features != out_features:
                hint = (" The weight looks transposed: PyTorch stores a Linear weight as "
                        "(out_features, in_features), the transpose of minikd's W.")
            raise ValueError(
                f"state_dict[{b_key!r}] must have shape ({out_features},) (the out_features of "
                f"{w_key!r}, of shape {W.shape} = (out_features, in_features)), got shape "
                f"{b.shape}.{hint}"
            )
        if sizes and in_features != sizes[-1]:
            hint = ""
            if W.shape[0] == sizes[-1] and W.shape[0] != W.shape[1]:
                hint = (" It looks transposed: PyTorch stores a Linear weight as (out_features, "
                        "in_features), the transpose of minikd's W.")
            raise ValueError(
                f"state_dict[{w_key!r}] of shape {W.shape} takes {in_features} inputs, but the "
                f"previous layer {prev_key!r} outputs {sizes[-1]}: consecutive Linear layers must "
                f"chain (in_features of one == out_features of the previous one).{hint}"
            )
        if not sizes:
            sizes.append(in_features)
        sizes.append(out_features)
        params[f"W{k}"], params[f"b{k}"] = W.T, b
        prev_key = w_key

    if dtype is None:
        dtype = np.result_type(*params.values())
    config = {"layer_sizes": sizes, "activation": activation, "dtype": np.dtype(dtype).name}
    return MLP.from_config(config, params=params, seed=0)


# ----------------------------------------------------------------------------- loss conventions
LOSS_CONVENTIONS = ("minikd", "aidotnet", "pytorch_tutorial", "keras", "keras_no_t2",
                    "torchdistill", "soft_alpha")
"""Names accepted by :func:`reference_distillation_loss` and :func:`convert_hyperparameters`."""

_ALPHA_CONVENTIONS = ("minikd", "aidotnet", "keras", "keras_no_t2", "soft_alpha")
_TUTORIAL_KEYS = ("soft_target_loss_weight", "ce_loss_weight")
_TORCHDISTILL_KEYS = ("alpha", "beta")


class ReferenceLoss(NamedTuple):
    """What :func:`reference_distillation_loss` returns, in the chosen convention's scale.

    Attributes
    ----------
    loss : float
        The convention's loss value.
    dlogits : ndarray, shape of the student logits, their float dtype
        Its gradient with respect to the student logits.
    soft : float
        The weighted soft term, ``w_soft * T**2 * KL`` (what the convention adds for the teacher).
    hard : float or None
        The weighted hard term, ``w_hard * CE``; None without labels. ``loss == soft + (hard or 0)``.
    """

    loss: float
    dlogits: np.ndarray
    soft: float
    hard: float | None


class ConvertedHyperparameters(NamedTuple):
    """What :func:`convert_hyperparameters` returns.

    Attributes
    ----------
    value : float or dict
        The setting in the target convention: a float ``alpha`` for the alpha conventions, a dict
        ``{"soft_target_loss_weight": ..., "ce_loss_weight": ...}`` for ``"pytorch_tutorial"`` and
        ``{"alpha": ..., "beta": ...}`` for ``"torchdistill"``.
    loss_scale : float
        ``L_to = loss_scale * L_from`` for all logits and labels, so the gradients scale the same
        way. 1.0 means the two settings give the same loss. Otherwise the two losses have the same
        minimiser and the same gradient directions; Adam's steps are (up to its eps) unchanged,
        and plain SGD takes the same steps with the learning rate divided by ``loss_scale``.
    """

    value: float | dict
    loss_scale: float


def _check_convention(convention, name: str) -> str:
    return check_choice(convention, name, LOSS_CONVENTIONS)


def _parse_hyperparameters(convention: str, value, name: str):
    """Validate a convention's hyperparameters; return them as a float or a dict of floats."""
    if convention in _ALPHA_CONVENTIONS:
        if isinstance(value, (Mapping, Sequence)) and not isinstance(value, str):
            raise TypeError(
                f"{name} for convention {convention!r} must be one number alpha in [0, 1], "
                f"got {describe(value)}"
            )
        return check_fraction(value, name)
    keys = _TUTORIAL_KEYS if convention == "pytorch_tutorial" else _TORCHDISTILL_KEYS
    if convention == "torchdistill" and not isinstance(value, (Mapping, Sequence)):
        alpha = check_fraction(value, name)  # beta defaults to 1 - alpha, as in torchdistill
        return {"alpha": alpha, "beta": 1.0 - alpha}
    if isinstance(value, Mapping):
        unknown = sorted(str(k) for k in value if k not in keys)
        if unknown:
            raise ValueError(f"{name} for convention {convention!r} has unknown key(s) {unknown}; "
                             f"accepted: {list(keys)}")
        if convention == "torchdistill" and "beta" not in value and "alpha" in value:
            alpha = check_fraction(value["alpha"], f"{name}['alpha']")
            return {"alpha": alpha, "beta": 1.0 - alpha}
        missing = [k for k in keys if k not in value]
        if missing:
            raise ValueError(f"{name} for convention {convention!r} is missing key(s) {missing}")
        items = [(k, value[k], f"{name}[{k!r}]") for k in keys]
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        items = [(k, v, f"{name}[{i}] ({k})") for i, (k, v) in enumerate(zip(keys, value, strict=True))]
    else:
        form = ("(soft_target_loss_weight, ce_loss_weight)" if convention == "pytorch_tutorial"
                else "alpha in [0, 1], (alpha, beta)")
        raise TypeError(f"{name} for convention {convention!r} must be {form} or a dict with the "
                        f"keys {list(keys)}, got {describe(value)}")
    return {k: check_nonnegative_float(v, label) for k, v, label in items}


def _weights(convention: str, hp, T: float, has_labels: bool) -> tuple[float, float]:
    """(w_hard, w_soft) of ``L = w_hard * CE + w_soft * T**2 * KL`` for a convention's setting."""
    if convention in ("minikd", "aidotnet"):
        return (hp, 1.0 - hp) if has_labels else (0.0, 1.0)
    if convention == "torchdistill":
        # KDLoss.forward returns the bare batchmean KL when alpha is 0 or there are no targets.
        if not has_labels or hp["alpha"] == 0:
            return 0.0, 1.0 / T / T  # not 1 / (T * T): T * T can underflow to 0
        return hp["alpha"], hp["beta"]
    if convention == "pytorch_tutorial":
        w_hard, w_soft = hp["ce_loss_weight"], hp["soft_target_loss_weight"]
    elif convention == "keras":
        w_hard, w_soft = hp, 1.0 - hp
    elif convention == "keras_no_t2":
        w_hard, w_soft = hp, (1.0 - hp) / T / T
    else:  # soft_alpha
        w_hard, w_soft = 1.0 - hp, hp
    if not has_labels and w_hard > 0:
        raise ValueError(
            f"labels are required for convention {convention!r} with this setting: its loss has "
            f"the cross-entropy term {w_hard!r} * CE; pass labels, or give the hard term weight 0"
        )
    return w_hard, w_soft


def reference_distillation_loss(student_logits, teacher_logits, labels, temperature, alpha,
                                convention: str = "minikd") -> ReferenceLoss:
    r"""minikd's distillation loss and gradient, in the scale of another library's convention.

    Use it to check a PyTorch (or Keras) implementation: feed it the same logits, labels and
    hyperparameters as your code, and compare your loss and ``student_logits.grad`` with
    ``loss`` and ``dlogits`` (float64 agrees to ~1e-12). For float32 logits the loss here is
    computed in float64 from them (error ~1e-8 relative, at most 1e-5 on our random cases), while
    a float32 PyTorch loss is off by ~1e-7 typically and far more on small KLs: 1e-5 to 1e-4
    relative at T = 20, and up to several times its value for a student within 1 % of its teacher
    (``tests/test_float32_accuracy.py``). Compare float32 losses with a tolerance set by your
    framework's error, or cast your logits to float64 first.

    Parameters
    ----------
    student_logits : array_like or tensor of shape (N, C) or (C,)
        Student logits z (a tensor that requires grad is fine: it is detached, never modified).
    teacher_logits : array_like or tensor, same shape
        Teacher logits v.
    labels : None, or int labels of shape (N,), or probability rows (N, C); an int or (C,) row
        for one sample
        None is allowed when the setting gives the hard term weight 0 (and for "minikd" and
        "torchdistill", which define a label-free loss; see below).
    temperature : float
        T > 0.
    alpha : float, dict or pair
        The convention's hyperparameters, as its source names them:

        - "minikd", "aidotnet", "keras", "keras_no_t2", "soft_alpha": ``alpha`` in [0, 1];
        - "pytorch_tutorial": ``{"soft_target_loss_weight": s, "ce_loss_weight": c}`` or the
          pair ``(s, c)`` (the order of ``train_knowledge_distillation``'s arguments), >= 0;
        - "torchdistill": ``alpha`` in [0, 1] (``beta = 1 - alpha``, KDLoss's default), or
          ``{"alpha": a, "beta": b}`` / ``(a, b)`` with a, b >= 0.
    convention : str, default "minikd"
        One of :data:`LOSS_CONVENTIONS`, described below.

    Returns
    -------
    ReferenceLoss
        ``(loss, dlogits, soft, hard)``: the loss as the convention computes it, its gradient with
        respect to ``student_logits`` (same shape, the logits' float dtype) and the two weighted
        terms.

    Notes
    -----
    Notation: N samples, q_i = softmax(v_i / T), p_i = softmax(z_i / T),
    ``CE = (1/N) sum_i CE(softmax(z_i), y_i)`` at temperature 1 (PyTorch's
    ``CrossEntropyLoss()``, mean reduction) and ``KL = (1/N) sum_i sum_j q_ij log(q_ij / p_ij)``
    (``F.kl_div(log p, q, reduction="batchmean")``). What each source computes, verified against
    its code:

    ``"minikd"`` / ``"aidotnet"`` (:class:`minikd.DistillationLoss`; alpha weights the **hard** term)
        ``L = alpha * CE + (1 - alpha) * T**2 * KL``; without labels ``L = T**2 * KL``.

    ``"pytorch_tutorial"`` (two independent weights)
        From pytorch/tutorials, ``beginner_source/knowledge_distillation_tutorial.py``,
        ``train_knowledge_distillation``.
        ``soft_targets_loss = sum(soft_targets * (soft_targets.log() - soft_prob)) / N * T**2``
        with ``soft_targets = softmax(v/T)`` and ``soft_prob = log_softmax(z/T)``: that is
        ``T**2 * KL``. ``L = soft_target_loss_weight * T**2 * KL + ce_loss_weight * CE`` (the
        tutorial uses 0.25 and 0.75). An earlier revision of the tutorial used
        ``-sum(soft_targets * soft_prob) / N * T**2``, the soft-target cross-entropy: the same
        gradient, but a loss larger by ``soft_target_loss_weight * T**2 * (1/N) sum_i H(q_i)``
        (the teacher's entropy). Note that ``soft_targets.log()`` is ``-inf`` where a teacher
        probability underflows to 0 (float32, ``(max v - v_j) / T`` above about 100), which makes
        the tutorial's loss NaN; minikd's stays finite.

    ``"keras"`` (alpha weights the **hard** term, as in minikd)
        From keras-team/keras-io, ``examples/vision/knowledge_distillation.py``,
        ``Distiller.train_step``.
        ``student_loss = SparseCategoricalCrossentropy(from_logits=True)(y, z)`` (= CE),
        ``distillation_loss = KLDivergence()(softmax(v/T), softmax(z/T)) * T**2`` and
        ``L = alpha * student_loss + (1 - alpha) * distillation_loss``: the same loss as minikd with
        the same alpha. ``keras.losses.KLDivergence`` clips both distributions to ``[1e-7, 1]``
        (Keras's epsilon) and averages the per-sample sums over the batch, so it equals KL
        exactly only while every softened probability is at least 1e-7.

    ``"keras_no_t2"`` (the first, 2020 revision of the same Keras example, and its many copies)
        As ``"keras"`` without the ``* T**2``: ``L = alpha * CE + (1 - alpha) * KL``. For T != 1
        no alpha of minikd gives this loss exactly, only a multiple of it; see
        :func:`convert_hyperparameters`.

    ``"torchdistill"`` (alpha weights the **hard** term)
        From yoshitomo-matsubara/torchdistill, ``torchdistill/losses/mid_level.py`` and
        ``single.py``, ``KDLoss``.
        ``soft_loss = KLDivLoss(reduction="batchmean")(log_softmax(z/T), softmax(v/T))`` (= KL);
        ``L = alpha * CrossEntropyLoss()(z, y) + beta * T**2 * soft_loss`` with ``beta = 1 - alpha``
        by default. But if ``alpha`` is None or 0, or there are no targets, KDLoss returns the bare
        ``soft_loss``, **without** ``T**2`` and beta; this function does the same.

    ``"soft_alpha"`` (alpha weights the **soft** term: ``alpha * T**2 * KL + (1 - alpha) * CE``)
        The other widespread convention, e.g. ``loss_fn_kd`` of knowledge-distillation-pytorch
        (``model/net.py``) with ``reduction="batchmean"``. That code's original
        ``nn.KLDivLoss()`` uses ``reduction="mean"``, which averages over all N·C entries, so
        its soft term is C times smaller: to check it, use ``"pytorch_tutorial"`` with
        ``{"soft_target_loss_weight": alpha / C, "ce_loss_weight": 1 - alpha}``.

    **Computation.** Every convention is ``w_hard * CE + w_soft * T**2 * KL`` for weights its
    setting determines (for example ``(alpha, (1 - alpha) / T**2)`` for "keras_no_t2"). With
    ``s = w_hard + w_soft`` this is ``s`` times minikd's loss with ``alpha = w_hard / s``, so the
    result is ``s * DistillationLoss(T, w_hard / s).loss_and_gradient(...)``: minikd's own,
    finite-difference-checked loss and gradient, scaled. The gradient is therefore
    ``dL/dz_i = (1/N) [w_hard (softmax(z_i) - y_i) + w_soft T (p_i - q_i)]``.

    Examples
    --------
    The PyTorch tutorial's setting (T = 2, weights 0.25 soft and 0.75 CE):

    >>> z = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 0.5]]); v = np.array([[1.5, 1.0, -0.5], [0.2, 2.0, 0.1]])
    >>> ref = reference_distillation_loss(z, v, np.array([0, 1]), 2.0,
    ...                                   {"soft_target_loss_weight": 0.25, "ce_loss_weight": 0.75},
    ...                                   convention="pytorch_tutorial")
    >>> round(ref.loss, 6), ref.dlogits.shape
    (0.382975, (2, 3))
    """
    conv = _check_convention(convention, "convention")
    T = check_positive_float(temperature, "temperature")
    hp = _parse_hyperparameters(conv, alpha, "alpha")
    z = _as_numpy_like(student_logits)
    v = _as_numpy_like(teacher_logits)
    y = None if labels is None else _as_numpy_like(labels)
    w_hard, w_soft = _weights(conv, hp, T, y is not None)
    scale = w_hard + w_soft
    if not math.isfinite(scale):
        raise ValueError(
            f"alpha={alpha!r} at temperature={T!r} gives convention {conv!r} the weights "
            f"(hard {w_hard!r}, soft {w_soft!r}) of w_hard * CE + w_soft * T**2 * KL, beyond the float range"
        )
    inner_alpha = w_hard / scale if scale > 0 else 0.0
    loss, dz, parts = DistillationLoss(T, inner_alpha).loss_and_gradient(z, v, y)
    with np.errstate(over="ignore", invalid="ignore"):  # reported below as a ValueError
        result = ReferenceLoss(scale * loss, dz * scale, scale * parts["soft"],
                               None if parts["hard"] is None else scale * parts["hard"])
    if not (math.isfinite(result.loss) and np.isfinite(result.dlogits).all()):
        raise ValueError(
            f"the {conv!r} loss is beyond the float range for alpha={alpha!r}: minikd's loss "
            f"{loss!r} times the convention's scale {scale!r} overflows"
        )
    return result


def convert_hyperparameters(alpha_or_weights, from_convention: str, to_convention: str,
                            temperature: float) -> ConvertedHyperparameters:
    """Translate a distillation setting from one loss convention to another.

    Parameters
    ----------
    alpha_or_weights : float, dict or pair
        The setting in ``from_convention``, in the forms of :func:`reference_distillation_loss`.
    from_convention, to_convention : str
        Names from :data:`LOSS_CONVENTIONS` (see :func:`reference_distillation_loss` for what
        each computes).
    temperature : float
        T > 0 (the same in both; it matters for "keras_no_t2" and "torchdistill").

    Returns
    -------
    ConvertedHyperparameters
        ``(value, loss_scale)``: the setting in ``to_convention`` and the factor with
        ``L_to = loss_scale * L_from`` (and the same for the gradients), for every batch with
        labels. ``loss_scale == 1`` means an exact equivalent.

    Raises
    ------
    ValueError
        For an unknown convention or an invalid setting, and when the setting gives both terms
        weight 0 (a loss that is identically 0), which only "pytorch_tutorial" can express.

    Notes
    -----
    Both settings are written as ``L = w_hard * CE + w_soft * T**2 * KL`` (the weights of each
    convention are listed in :func:`reference_distillation_loss`), and the target's
    hyperparameters are solved for weights ``c * (w_hard, w_soft)`` with the largest family of
    settings it has; then ``loss_scale = c``. Which conventions can express which weights:

    - "pytorch_tutorial" has two free weights: every setting converts exactly (c = 1), to
      ``soft_target_loss_weight = w_soft`` and ``ce_loss_weight = w_hard``.
    - "torchdistill" with ``alpha > 0`` has two free weights (alpha, beta): exact, with
      ``alpha = w_hard`` and ``beta = w_soft``. For pure distillation (w_hard = 0) it must use
      ``alpha = 0``, where KDLoss drops T² and beta: ``{"alpha": 0, "beta": 1}`` with
      ``c = 1 / (w_soft T**2)``.
    - "minikd", "aidotnet", "keras" (``w_hard + w_soft = 1``): ``alpha = w_hard / s`` with
      ``s = w_hard + w_soft`` and ``c = 1 / s``; "soft_alpha": ``alpha = w_soft / s``, ``c = 1 / s``.
      Between these three the conversion is exact (s = 1).
    - "keras_no_t2" (``w_hard + w_soft T**2 = 1``): ``alpha = w_hard / (w_hard + w_soft T**2)``
      and ``c = 1 / (w_hard + w_soft T**2)``. So Keras's original ``alpha = a`` without T² is
      minikd's ``alpha = a T**2 / (a T**2 + 1 - a)`` with ``loss_scale = T**2 / (a T**2 + 1 - a)``:
      the same training up to a constant factor, but not the same loss values, and never the
      same alpha. (The Keras example's alpha = 0.1 at T = 10 is minikd's alpha of about 0.917.)

    A constant factor changes nothing for Adam (up to its eps) and is a learning-rate change for
    SGD, but it does change the printed loss: compare values with
    :func:`reference_distillation_loss` in the convention you actually run.

    Examples
    --------
    >>> convert_hyperparameters(0.3, "minikd", "soft_alpha", 4.0)
    ConvertedHyperparameters(value=0.7, loss_scale=1.0)
    >>> convert_hyperparameters({"soft_target_loss_weight": 0.25, "ce_loss_weight": 0.75},
    ...                         "pytorch_tutorial", "minikd", 2.0)
    ConvertedHyperparameters(value=0.75, loss_scale=1.0)
    """
    src = _check_convention(from_convention, "from_convention")
    dst = _check_convention(to_convention, "to_convention")
    T = check_positive_float(temperature, "temperature")
    hp = _parse_hyperparameters(src, alpha_or_weights, "alpha_or_weights")
    w_hard, w_soft = _weights(src, hp, T, has_labels=True)
    if not (math.isfinite(w_hard) and math.isfinite(w_soft)):
        raise ValueError(
            f"alpha_or_weights {alpha_or_weights!r} of {src!r} at temperature {T!r} gives the weights (hard "
            f"{w_hard!r}, soft {w_soft!r}) of w_hard * CE + w_soft * T**2 * KL, beyond the float range"
        )
    if dst == "pytorch_tutorial":
        return ConvertedHyperparameters({"soft_target_loss_weight": w_soft, "ce_loss_weight": w_hard}, 1.0)
    if w_hard == 0 and w_soft == 0:
        raise ValueError(
            f"alpha_or_weights {alpha_or_weights!r} gives both terms of the {src!r} loss weight 0 "
            f"(the loss is identically 0): no setting of {dst!r} gives that loss"
        )
    if dst == "torchdistill" and w_hard > 0:
        return ConvertedHyperparameters({"alpha": w_hard, "beta": w_soft}, 1.0)
    if dst == "torchdistill":
        total = w_soft * T * T
    elif dst == "keras_no_t2":
        total = w_hard + w_soft * T * T
    else:
        total = w_hard + w_soft
    # total can overflow (huge weights or T) or underflow to 0 (w_soft * T**2 for a tiny T)
    if not (math.isfinite(total) and total > 0 and math.isfinite(1.0 / total)):
        raise ValueError(
            f"converting alpha_or_weights {alpha_or_weights!r} from {src!r} to {dst!r} at "
            f"temperature {T!r} needs a loss_scale of 1 / {total!r}, beyond the float range"
        )
    if dst == "torchdistill":
        value = {"alpha": 0.0, "beta": 1.0}
    elif dst == "keras_no_t2":
        value = w_hard / total
    else:
        value = (w_soft if dst == "soft_alpha" else w_hard) / total  # else minikd, aidotnet, keras
    return ConvertedHyperparameters(value, 1.0 / total)
