"""Tests of minikd.interop: MLP <-> PyTorch state_dict round trips, the Sequential description,
the loss conventions (a slow loop reference, finite differences, conversions between them),
optional PyTorch cross-checks (a real nn.Sequential; each convention written literally in torch,
with autograd), and bad input."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minikd.gradcheck import numerical_gradient, rel_error
from minikd.interop import (
    _TORCH_ACTIVATIONS,
    LOSS_CONVENTIONS,
    ConvertedHyperparameters,
    ReferenceLoss,
    convert_hyperparameters,
    from_torch_state_dict,
    reference_distillation_loss,
    to_torch_state_dict,
    torch_sequential_code,
    torch_sequential_spec,
)
from minikd.layers import ACTIVATIONS
from minikd.mlp import MLP
from minikd.strategies import DistillationLoss

ACTS = sorted(ACTIVATIONS)
SIZES = [[3, 2], [5, 4, 3], [6, 8, 1, 4]]
TUTORIAL = {"soft_target_loss_weight": 0.25, "ce_loss_weight": 0.75}  # the tutorial's own setting
# One representative setting per convention (the forms each source uses).
SETTINGS = {
    "minikd": 0.3,
    "aidotnet": 0.6,
    "pytorch_tutorial": TUTORIAL,
    "keras": 0.1,
    "keras_no_t2": 0.1,
    "torchdistill": {"alpha": 0.5, "beta": 0.8},
    "soft_alpha": 0.7,
}


def _random_model(sizes, activation="tanh", seed=0, dtype=np.float64):
    """A model with random weights *and* biases (zero biases would hide a bias mix-up)."""
    model = MLP(sizes, activation=activation, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    model.set_params({k: rng.normal(0, 0.5, v.shape) for k, v in model.params.items()})
    return model


def _problem(n=5, c=4, seed=0, scale=2.0):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, scale, (n, c))
    v = rng.normal(0, scale, (n, c))
    y = rng.integers(0, c, n)
    return z, v, y


class FakeTensor:
    """Duck-typed stand-in for a torch tensor: ``.numpy()`` refuses while it requires grad."""

    def __init__(self, array, requires_grad=False):
        self._array = np.asarray(array)
        self.requires_grad = requires_grad
        self.calls = []

    def detach(self):
        self.calls.append("detach")
        return FakeTensor(self._array, requires_grad=False)

    def cpu(self):
        self.calls.append("cpu")
        return self

    def numpy(self):
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad.")
        return self._array


# ----------------------------------------------------------------------------- MLP -> state_dict
@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_state_dict_keys_shapes_values_and_dtype(sizes, dtype):
    model = _random_model(sizes, dtype=dtype)
    sd = to_torch_state_dict(model)
    expected_keys = [f"{2 * k}.{kind}" for k in range(len(sizes) - 1) for kind in ("weight", "bias")]
    assert list(sd) == expected_keys
    for k in range(1, len(sizes)):
        W, b = sd[f"{2 * (k - 1)}.weight"], sd[f"{2 * (k - 1)}.bias"]
        assert W.shape == (sizes[k], sizes[k - 1]), f"layer {k}: torch weights are (out, in)"
        assert b.shape == (sizes[k],)
        assert W.dtype == dtype and b.dtype == dtype
        assert W.flags.c_contiguous
        np.testing.assert_array_equal(W, model.params[f"W{k}"].T, err_msg=f"layer {k} weight")
        np.testing.assert_array_equal(b, model.params[f"b{k}"], err_msg=f"layer {k} bias")


def test_state_dict_is_a_copy():
    model = _random_model([1, 3, 1])  # (1, 3) and (3, 1) weights: W.T is contiguous, still copied
    before = model.get_params()
    sd = to_torch_state_dict(model)
    for value in sd.values():
        value += 1.0
    for key, value in model.params.items():
        np.testing.assert_array_equal(value, before[key], err_msg=f"{key} changed with the state_dict")


def test_state_dict_prefix():
    model = _random_model([3, 4, 2])
    sd = to_torch_state_dict(model, prefix="net.")
    assert list(sd) == ["net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"]


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sizes", SIZES)
def test_round_trip_is_exact(sizes, dtype, activation):
    model = _random_model(sizes, activation=activation, dtype=dtype)
    back = from_torch_state_dict(to_torch_state_dict(model), activation=activation)
    assert back.get_config() == model.get_config()
    for key in model.params:
        assert back.params[key].dtype == model.params[key].dtype
        np.testing.assert_array_equal(back.params[key], model.params[key], err_msg=key)
    X = np.random.default_rng(3).normal(size=(4, sizes[0]))
    np.testing.assert_array_equal(back.forward(X), model.forward(X), err_msg="forward differs")


@pytest.mark.parametrize("prefix", [None, "net.", "model.net."])
def test_round_trip_with_prefix(prefix):
    model = _random_model([4, 5, 3])
    sd = to_torch_state_dict(model, prefix=prefix or "model.net.")
    back = from_torch_state_dict(sd, activation="tanh", prefix=prefix)
    for key in model.params:
        np.testing.assert_array_equal(back.params[key], model.params[key], err_msg=key)


def test_key_order_does_not_matter_and_values_are_copied():
    model = _random_model([4, 5, 3, 2])
    sd = to_torch_state_dict(model)
    back = from_torch_state_dict(dict(reversed(list(sd.items()))), activation="tanh")
    np.testing.assert_array_equal(back.params["W3"], model.params["W3"], err_msg="W3")
    sd["0.weight"][:] = 0.0  # the model must not share memory with the state_dict
    np.testing.assert_array_equal(back.params["W1"], model.params["W1"], err_msg="W1 shares memory")


def test_tensor_like_values_that_require_grad_are_detached():
    model = _random_model([3, 4, 2])
    sd = {k: FakeTensor(v, requires_grad=True) for k, v in to_torch_state_dict(model).items()}
    back = from_torch_state_dict(sd, activation="tanh")
    for key in model.params:
        np.testing.assert_array_equal(back.params[key], model.params[key], err_msg=key)
    assert sd["0.weight"].calls == ["detach"]


@pytest.mark.parametrize(
    ("dtypes", "dtype", "expected"),
    [
        ((np.float32, np.float32), None, np.float32),
        ((np.float64, np.float64), None, np.float64),
        ((np.float32, np.float64), None, np.float64),  # mixed: the wider one
        ((np.float16, np.float16), None, np.float32),  # minikd's dtype policy
        ((np.int64, np.int64), None, np.float64),
        ((np.float64, np.float64), np.float32, np.float32),
        ((np.float32, np.float32), "float64", np.float64),
    ],
)
def test_dtype_inference(dtypes, dtype, expected):
    w_dtype, b_dtype = dtypes
    sd = {"0.weight": np.ones((2, 3), dtype=w_dtype), "0.bias": np.arange(2).astype(b_dtype)}
    model = from_torch_state_dict(sd, activation="relu", dtype=dtype)
    assert model.dtype == expected
    assert all(p.dtype == expected for p in model.params.values())
    assert model.layer_sizes == (3, 2)


# ----------------------------------------------------------------------------- Sequential description
def test_spec_and_code():
    model = MLP([4, 3, 5, 2], activation="relu", seed=0)
    assert torch_sequential_spec(model) == [
        ("Linear", 4, 3), ("ReLU",), ("Linear", 3, 5), ("ReLU",), ("Linear", 5, 2),
    ]
    code = torch_sequential_code(model, name="student")
    assert "student = nn.Sequential(" in code
    assert code.count("nn.Linear(") == 3 and code.count("nn.ReLU()") == 2
    assert code.rstrip().endswith(").double()"), "a float64 model needs a float64 module"
    code32 = torch_sequential_code(MLP([4, 2], seed=0, dtype=np.float32))
    assert ".double()" not in code32 and "nn.Linear(4, 2)" in code32
    compile(code, "<spec>", "exec")  # valid Python, whether or not torch is installed


@pytest.mark.parametrize(
    ("activation", "module"),
    [("relu", ("ReLU",)), ("leaky_relu", ("LeakyReLU", 0.01)), ("tanh", ("Tanh",)),
     ("sigmoid", ("Sigmoid",)), ("identity", ("Identity",))],
)
def test_every_activation_maps_to_its_torch_module(activation, module):
    spec = torch_sequential_spec(MLP([3, 4, 2], activation=activation, seed=0))
    assert spec[1] == module, "the activation sits at index 1, between the Linear layers"
    assert spec[0][0] == spec[2][0] == "Linear"


def test_torch_activation_table_covers_minikd():
    assert set(_TORCH_ACTIVATIONS) == set(ACTIVATIONS)


def test_leaky_relu_slope_matches_the_numpy_layer():
    model = _random_model([2, 3, 2], activation="leaky_relu")
    slope = torch_sequential_spec(model)[1][1]
    x = -np.ones((1, 2))
    hidden = x @ model.params["W1"] + model.params["b1"]
    out = np.where(hidden > 0, hidden, slope * hidden) @ model.params["W2"] + model.params["b2"]
    np.testing.assert_allclose(model.forward(x), out, rtol=1e-15, err_msg="slope differs")


# ----------------------------------------------------------------------------- bad input: models
def _sd(sizes=(3, 4, 2)):
    return to_torch_state_dict(_random_model(list(sizes)))


def _without(sd, key):
    return {k: v for k, v in sd.items() if k != key}


def _renamed(sd, mapping):
    return {mapping.get(k, k): v for k, v in sd.items()}


BAD_STATE_DICTS = [
    ("missing bias", lambda sd: _without(sd, "2.bias"), ValueError, r"missing key '2\.bias'.*zero bias"),
    ("missing weight", lambda sd: _without(sd, "0.weight"), ValueError, r"missing key '0\.weight'"),
    ("extra key", lambda sd: {**sd, "num_batches_tracked": np.zeros(())}, ValueError,
     r"'num_batches_tracked', which is not of the form"),
    ("extra buffer", lambda sd: {**sd, "0.running_mean": np.zeros(4)}, ValueError, r"'0\.running_mean'"),
    ("named layers", lambda sd: _renamed(sd, {"0.weight": "fc1.weight"}), ValueError, r"'fc1\.weight'"),
    ("two prefixes", lambda sd: _renamed(sd, {"2.weight": "head.2.weight", "2.bias": "head.2.bias"}),
     ValueError, r"share one prefix.*\['', 'head\.'\]"),
    ("gap in indices", lambda sd: _renamed(sd, {"2.weight": "4.weight", "2.bias": "4.bias"}), ValueError,
     r"indices must be 0, 2, 4.*got \[0, 4\]"),
    ("no activations", lambda sd: _renamed(sd, {"2.weight": "1.weight", "2.bias": "1.bias"}), ValueError,
     r"got \[0, 1\]"),
    ("not from 0", lambda sd: _renamed(sd, {"0.weight": "6.weight", "0.bias": "6.bias"}), ValueError,
     r"got \[2, 6\]"),
    ("leading zero", lambda sd: _renamed(sd, {"2.weight": "02.weight", "2.bias": "02.bias"}), ValueError,
     r"'02\.weight'"),
    ("bias length", lambda sd: {**sd, "2.bias": np.zeros(3)}, ValueError,
     r"state_dict\['2\.bias'\] must have shape \(2,\).*got shape \(3,\)"),
    ("weight 1-D", lambda sd: {**sd, "0.weight": np.zeros(12)}, ValueError,
     r"state_dict\['0\.weight'\] must be 2-D"),
    ("weight 3-D", lambda sd: {**sd, "0.weight": np.zeros((4, 3, 1))}, ValueError, r"must be 2-D"),
    ("bias 2-D", lambda sd: {**sd, "0.bias": np.zeros((4, 1))}, ValueError, r"must be 1-D"),
    ("layers do not chain", lambda sd: {**sd, "2.weight": np.zeros((2, 5))}, ValueError,
     r"takes 5 inputs, but the previous layer '0\.weight' outputs 4"),
    ("transposed second weight", lambda sd: {**sd, "2.weight": sd["2.weight"].T.copy()}, ValueError,
     r"looks transposed"),
    ("transposed first weight", lambda sd: {**sd, "0.weight": sd["0.weight"].T.copy()}, ValueError,
     r"weight looks transposed"),
    ("NaN", lambda sd: {**sd, "0.bias": np.full(4, np.nan)}, ValueError, r"finite"),
    ("empty weight", lambda sd: {"0.weight": np.zeros((0, 3)), "0.bias": np.zeros(0)}, ValueError,
     r"must not be empty"),
    ("empty dict", lambda sd: {}, ValueError, r"at least one Linear layer"),
    ("bool values", lambda sd: {**sd, "0.bias": np.ones(4, dtype=bool)}, TypeError, r"real numbers"),
    ("string value", lambda sd: {**sd, "0.bias": "zeros"}, TypeError, r"state_dict\['0\.bias'\]"),
    ("int key", lambda sd: {0: sd["0.weight"]}, TypeError, r"keys must be strings"),
    ("not a mapping", lambda sd: list(sd.values()), TypeError, r"must be a dict"),
]


@pytest.mark.parametrize(("case", "mutate", "error", "match"), BAD_STATE_DICTS,
                         ids=[case[0] for case in BAD_STATE_DICTS])
def test_bad_state_dicts_raise_clear_errors(case, mutate, error, match):
    with pytest.raises(error, match=match):
        from_torch_state_dict(mutate(_sd()), activation="relu")


def test_bad_arguments_of_from_torch_state_dict():
    sd = _sd()
    with pytest.raises(ValueError, match="activation must be one of"):
        from_torch_state_dict(sd, activation="gelu")
    with pytest.raises(TypeError, match="dtype must be np.float32 or np.float64"):
        from_torch_state_dict(sd, dtype=np.int32)
    with pytest.raises(ValueError, match=r"prefix must be empty or end with '\.'"):
        from_torch_state_dict(_renamed(sd, {k: "net" + k for k in sd}), prefix="net")
    with pytest.raises(ValueError, match=r"unexpected key 'net\.0\.weight': with prefix=''"):
        from_torch_state_dict(to_torch_state_dict(_random_model([3, 2]), prefix="net."), prefix="")


def test_failing_tensor_conversion_is_a_type_error():
    class BFloat16Like:
        def numpy(self):
            raise TypeError("Got unsupported ScalarType BFloat16")

    sd = {**_sd(), "0.bias": BFloat16Like()}
    with pytest.raises(TypeError, match=r"\.numpy\(\).*BFloat16.*\.float\(\)"):
        from_torch_state_dict(sd)


def test_bad_arguments_of_the_export_functions():
    with pytest.raises(TypeError, match="mlp must be a minikd MLP"):
        to_torch_state_dict({"W1": np.zeros((2, 2))})
    with pytest.raises(TypeError, match="mlp must be a minikd MLP"):
        torch_sequential_spec("model")
    model = MLP([2, 2], seed=0)
    with pytest.raises(TypeError, match="prefix must be a string"):
        to_torch_state_dict(model, prefix=1)
    with pytest.raises(ValueError, match="prefix must be empty or end with"):
        to_torch_state_dict(model, prefix="net")
    with pytest.raises(ValueError, match="name must be a Python identifier"):
        torch_sequential_code(model, name="class")
    with pytest.raises(TypeError, match="name must be a string"):
        torch_sequential_code(model, name=None)


# ----------------------------------------------------------------------------- loss conventions
def _slow_terms(z, v, y, T):
    """CE, KL, Keras's clipped KL and the teacher entropy, batch means, by explicit loops."""
    n, c = z.shape
    ce = kl = kl_clipped = entropy = 0.0
    for i in range(n):
        zt = [z[i, j] / T for j in range(c)]
        vt = [v[i, j] / T for j in range(c)]
        zmax, vmax, z1max = max(zt), max(vt), max(z[i])
        p = [math.exp(a - zmax) for a in zt]
        q = [math.exp(a - vmax) for a in vt]
        p1 = [math.exp(a - z1max) for a in z[i]]
        p = [a / sum(p) for a in p]
        q = [a / sum(q) for a in q]
        p1 = [a / sum(p1) for a in p1]
        if y is not None:
            ce -= math.log(p1[int(y[i])])
        for j in range(c):
            kl += q[j] * math.log(q[j] / p[j])
            entropy -= q[j] * math.log(q[j])
            qc, pc = min(max(q[j], 1e-7), 1.0), min(max(p[j], 1e-7), 1.0)
            kl_clipped += qc * math.log(qc / pc)
    return ce / n, kl / n, kl_clipped / n, entropy / n


def _slow_loss(convention, setting, z, v, y, T):
    """Each convention's loss as its source writes it (see reference_distillation_loss)."""
    ce, kl, kl_clip, _ = _slow_terms(z, v, y, T)
    if convention in ("minikd", "aidotnet"):
        return T * T * kl if y is None else setting * ce + (1 - setting) * T * T * kl
    if convention == "pytorch_tutorial":
        return setting["soft_target_loss_weight"] * kl * T**2 + setting["ce_loss_weight"] * ce
    if convention == "keras":
        return setting * ce + (1 - setting) * kl_clip * T**2
    if convention == "keras_no_t2":
        return setting * ce + (1 - setting) * kl_clip
    if convention == "torchdistill":
        alpha, beta = (setting, 1 - setting) if np.isscalar(setting) else (setting["alpha"], setting["beta"])
        if alpha == 0 or y is None:
            return kl
        return alpha * ce + beta * T**2 * kl
    assert convention == "soft_alpha"
    return setting * T * T * kl + (1 - setting) * ce


@pytest.mark.parametrize("convention", LOSS_CONVENTIONS)
@pytest.mark.parametrize("T", [1.0, 2.5, 10.0])
def test_reference_matches_each_source_formula(convention, T):
    z, v, y = _problem(seed=1)
    setting = SETTINGS[convention]
    ref = reference_distillation_loss(z, v, y, T, setting, convention=convention)
    assert isinstance(ref, ReferenceLoss)
    expected = _slow_loss(convention, setting, z, v, y, T)
    np.testing.assert_allclose(ref.loss, expected, rtol=1e-12, err_msg=f"{convention} at T={T}")
    np.testing.assert_allclose(ref.soft + ref.hard, ref.loss, rtol=1e-14, err_msg="parts do not add up")


@pytest.mark.parametrize("convention", LOSS_CONVENTIONS)
@pytest.mark.parametrize("with_labels", [True, False])
def test_reference_gradient_matches_finite_differences(convention, with_labels):
    z, v, y = _problem(seed=2)
    setting = SETTINGS[convention]
    if not with_labels:
        y = None
        setting = {"pytorch_tutorial": {"soft_target_loss_weight": 0.4, "ce_loss_weight": 0.0},
                   "keras": 0.0, "keras_no_t2": 0.0, "soft_alpha": 1.0}.get(convention, setting)
    T = 3.0
    ref = reference_distillation_loss(z, v, y, T, setting, convention=convention)
    # eps = 1e-5: entries of the gradient are ~1e-3 (a mean over N, times weights < 1), so the
    # rounding noise of eps = 1e-6 (~1e-16 * |L| / eps = 1e-10) would already be 1e-7 relative.
    numeric = numerical_gradient(
        lambda x: reference_distillation_loss(x, v, y, T, setting, convention=convention).loss, z, eps=1e-5)
    err = rel_error(ref.dlogits, numeric)
    assert err < 1e-7, f"{convention} (labels={with_labels}): rel_error {err:.2e}"
    np.testing.assert_allclose(ref.dlogits.sum(axis=1), 0.0, atol=1e-15, err_msg="rows must sum to 0")


def test_keras_example_setting_is_not_minikds_alpha():
    """The Keras example's alpha = 0.1, T = 10, in its first revision (no T**2)."""
    out = convert_hyperparameters(0.1, "keras_no_t2", "minikd", 10.0)
    np.testing.assert_allclose(out.value, 10.0 / 10.9, rtol=1e-15, err_msg="a T^2 / (a T^2 + 1 - a)")
    np.testing.assert_allclose(out.loss_scale, 100.0 / 10.9, rtol=1e-15, err_msg="T^2 / (a T^2 + 1 - a)")
    # With T**2 (the current revision) Keras's alpha is minikd's alpha.
    assert convert_hyperparameters(0.1, "keras", "minikd", 10.0) == ConvertedHyperparameters(0.1, 1.0)


@pytest.mark.parametrize(
    ("setting", "src", "dst", "expected"),
    [
        (0.3, "minikd", "keras", (0.3, 1.0)),
        (0.3, "minikd", "aidotnet", (0.3, 1.0)),
        (0.3, "minikd", "soft_alpha", (0.7, 1.0)),
        (0.3, "minikd", "torchdistill", ({"alpha": 0.3, "beta": 0.7}, 1.0)),
        (0.3, "minikd", "pytorch_tutorial", ({"soft_target_loss_weight": 0.7, "ce_loss_weight": 0.3}, 1.0)),
        (TUTORIAL, "pytorch_tutorial", "minikd", (0.75, 1.0)),
        ({"soft_target_loss_weight": 1.0, "ce_loss_weight": 1.0}, "pytorch_tutorial", "minikd", (0.5, 0.5)),
        (TUTORIAL, "pytorch_tutorial", "torchdistill", ({"alpha": 0.75, "beta": 0.25}, 1.0)),
        (0.4, "torchdistill", "minikd", (0.4, 1.0)),
        ((0.5, 1.5), "torchdistill", "keras", (0.25, 0.5)),
        (0.0, "minikd", "torchdistill", ({"alpha": 0.0, "beta": 1.0}, 0.25)),  # KDLoss drops T^2
        (0.0, "torchdistill", "minikd", (0.0, 4.0)),
        (1.0, "minikd", "keras_no_t2", (1.0, 1.0)),
        (0.0, "minikd", "keras_no_t2", (0.0, 0.25)),
    ],
)
def test_known_conversions(setting, src, dst, expected):
    out = convert_hyperparameters(setting, src, dst, 2.0)
    value, scale = expected
    if isinstance(value, dict):
        assert out.value.keys() == value.keys()
        for key in value:
            np.testing.assert_allclose(out.value[key], value[key], rtol=1e-15, err_msg=key)
    else:
        np.testing.assert_allclose(out.value, value, rtol=1e-15, err_msg="value")
    np.testing.assert_allclose(out.loss_scale, scale, rtol=1e-15, err_msg="loss_scale")


# Realistic settings: exact 0 and 1, and values not so small that 1 / value overflows.
_ALPHA = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(1e-6, 1.0))
_WEIGHT = st.one_of(st.just(0.0), st.floats(1e-6, 2.0))


@st.composite
def _settings(draw, convention):
    if convention == "pytorch_tutorial":
        return {"soft_target_loss_weight": draw(_WEIGHT), "ce_loss_weight": draw(_WEIGHT)}
    if convention == "torchdistill":
        return draw(st.one_of(_ALPHA, st.tuples(_WEIGHT, _WEIGHT)))
    return draw(_ALPHA)


@st.composite
def _conversion_cases(draw):
    src = draw(st.sampled_from(LOSS_CONVENTIONS))
    dst = draw(st.sampled_from(LOSS_CONVENTIONS))
    return src, dst, draw(_settings(src)), draw(st.sampled_from([0.5, 1.0, 2.0, 4.0, 20.0]))


@given(_conversion_cases(), st.integers(0, 2**16))
def test_converted_settings_give_the_scaled_loss(case, seed):
    src, dst, setting, T = case
    z, v, y = _problem(n=3, c=4, seed=seed)
    try:
        out = convert_hyperparameters(setting, src, dst, T)
    except ValueError as exc:  # only a loss that is identically 0 has no equivalent
        assert "identically 0" in str(exc)
        ref = reference_distillation_loss(z, v, y, T, setting, convention=src)
        assert ref.loss == 0.0 and not ref.dlogits.any()
        return
    before = reference_distillation_loss(z, v, y, T, setting, convention=src)
    after = reference_distillation_loss(z, v, y, T, out.value, convention=dst)
    np.testing.assert_allclose(after.loss, out.loss_scale * before.loss, rtol=1e-10, atol=1e-300,
                               err_msg=f"{src} {setting!r} -> {dst} {out.value!r} at T={T}")
    np.testing.assert_allclose(after.dlogits, out.loss_scale * before.dlogits, rtol=1e-9, atol=1e-15,
                               err_msg="gradients must scale like the loss")


@given(_conversion_cases())
def test_conversion_round_trip(case):
    """There and back: the loss comes back scaled by the product of the two loss_scales, and a
    one-number alpha comes back as itself (a pair of weights comes back normalised)."""
    src, dst, setting, T = case
    try:
        there = convert_hyperparameters(setting, src, dst, T)
    except ValueError:
        return
    back = convert_hyperparameters(there.value, dst, src, T)
    z, v, y = _problem(n=3, c=4, seed=14)
    original = reference_distillation_loss(z, v, y, T, setting, convention=src).loss
    returned = reference_distillation_loss(z, v, y, T, back.value, convention=src).loss
    np.testing.assert_allclose(returned, there.loss_scale * back.loss_scale * original, rtol=1e-10,
                               err_msg=f"{src} -> {dst} -> {src}")
    if src in ("minikd", "aidotnet", "keras", "keras_no_t2", "soft_alpha"):
        # 1 - (1 - a) cancels to ~1e-16 absolute: a relative tolerance alone fails for a ~ 1e-5
        np.testing.assert_allclose(back.value, setting, rtol=1e-12, atol=1e-15, err_msg="alpha")
        np.testing.assert_allclose(there.loss_scale * back.loss_scale, 1.0, rtol=1e-12, err_msg="scales")


def test_label_free_losses():
    z, v, _ = _problem(seed=4)
    T = 2.0
    t2kl = DistillationLoss(T, 0.5).compute_loss(z, v)  # minikd without labels: T^2 KL
    assert reference_distillation_loss(z, v, None, T, 0.5).loss == pytest.approx(t2kl, rel=1e-14)
    ref = reference_distillation_loss(z, v, None, T, 0.5, convention="torchdistill")
    assert ref.loss == pytest.approx(t2kl / T**2, rel=1e-14), "KDLoss returns the bare KL"
    assert ref.hard is None
    soft_only = reference_distillation_loss(z, v, None, T, {"soft_target_loss_weight": 0.4, "ce_loss_weight": 0},
                                            convention="pytorch_tutorial")
    assert soft_only.loss == pytest.approx(0.4 * t2kl, rel=1e-14)
    with pytest.raises(ValueError, match=r"labels are required for convention 'keras'"):
        reference_distillation_loss(z, v, None, T, 0.1, convention="keras")
    with pytest.raises(ValueError, match=r"labels are required for convention 'soft_alpha'"):
        reference_distillation_loss(z, v, None, T, 0.9, convention="soft_alpha")


def test_reference_accepts_tensors_and_keeps_float32():
    z, v, y = _problem(seed=5)
    ref64 = reference_distillation_loss(z, v, y, 2.0, 0.3)
    ref = reference_distillation_loss(FakeTensor(z, requires_grad=True), FakeTensor(v), FakeTensor(y), 2.0, 0.3)
    np.testing.assert_array_equal(ref.dlogits, ref64.dlogits, err_msg="tensor inputs")
    ref32 = reference_distillation_loss(z.astype(np.float32), v.astype(np.float32), y, 2.0, TUTORIAL,
                                        convention="pytorch_tutorial")
    assert ref32.dlogits.dtype == np.float32
    single = reference_distillation_loss(z[0], v[0], int(y[0]), 2.0, 0.3)
    np.testing.assert_allclose(single.dlogits, reference_distillation_loss(z[:1], v[:1], y[:1], 2.0, 0.3).dlogits[0],
                               rtol=1e-15, err_msg="one sample of shape (C,)")


def test_torchdistill_forms_agree():
    z, v, y = _problem(seed=6)
    losses = [reference_distillation_loss(z, v, y, 3.0, s, convention="torchdistill").loss
              for s in (0.25, {"alpha": 0.25}, {"alpha": 0.25, "beta": 0.75}, (0.25, 0.75))]
    np.testing.assert_allclose(losses, losses[0], rtol=1e-15, err_msg="alpha alone means beta = 1 - alpha")


BAD_REFERENCE_CALLS = [
    ({"convention": "hinton"}, ValueError, r"convention must be one of"),
    ({"temperature": 0.0}, ValueError, r"temperature must be a finite number > 0"),
    ({"alpha": 1.5}, ValueError, r"alpha must be a number in \[0, 1\]"),
    ({"alpha": (0.2, 0.8)}, TypeError, r"alpha for convention 'minikd' must be one number"),
    ({"alpha": {"alpha": 0.2}}, TypeError, r"must be one number"),
    ({"alpha": (0.2, 0.8, 0.1), "convention": "pytorch_tutorial"}, TypeError,
     r"\(soft_target_loss_weight, ce_loss_weight\)"),
    ({"alpha": 0.5, "convention": "pytorch_tutorial"}, TypeError, r"soft_target_loss_weight"),
    ({"alpha": {"soft_target_loss_weight": 0.5}, "convention": "pytorch_tutorial"}, ValueError,
     r"missing key\(s\) \['ce_loss_weight'\]"),
    ({"alpha": {"soft_weight": 0.5, "ce_loss_weight": 0.5}, "convention": "pytorch_tutorial"}, ValueError,
     r"unknown key\(s\) \['soft_weight'\]"),
    ({"alpha": (-0.1, 1.0), "convention": "pytorch_tutorial"}, ValueError,
     r"alpha\[0\] \(soft_target_loss_weight\) must be a finite number >= 0"),
    ({"alpha": {"beta": 0.5}, "convention": "torchdistill"}, ValueError, r"missing key\(s\) \['alpha'\]"),
    ({"alpha": 1.2, "convention": "torchdistill"}, ValueError, r"alpha must be a number in \[0, 1\]"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), BAD_REFERENCE_CALLS)
def test_bad_reference_calls(kwargs, error, match):
    z, v, y = _problem(seed=7)
    args = {"temperature": 2.0, "alpha": 0.3, "convention": "minikd", **kwargs}
    with pytest.raises(error, match=match):
        reference_distillation_loss(z, v, y, args["temperature"], args["alpha"], convention=args["convention"])


def test_bad_logits_are_reported_by_minikd():
    z, v, y = _problem(seed=8)
    with pytest.raises(ValueError, match="same shape as student_logits"):
        reference_distillation_loss(z, v[:, :3], y, 2.0, 0.3)
    with pytest.raises(ValueError, match="labels must be class indices"):
        reference_distillation_loss(z, v, y + 10, 2.0, 0.3)


def test_bad_conversions():
    with pytest.raises(ValueError, match="from_convention must be one of"):
        convert_hyperparameters(0.3, "pytorch", "minikd", 2.0)
    with pytest.raises(ValueError, match="to_convention must be one of"):
        convert_hyperparameters(0.3, "minikd", "tf", 2.0)
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        convert_hyperparameters(0.3, "minikd", "keras", -1)
    zero = {"soft_target_loss_weight": 0.0, "ce_loss_weight": 0.0}
    with pytest.raises(ValueError, match=r"identically 0.*no setting of 'minikd'"):
        convert_hyperparameters(zero, "pytorch_tutorial", "minikd", 2.0)
    assert convert_hyperparameters(zero, "pytorch_tutorial", "pytorch_tutorial", 2.0).loss_scale == 1.0


# ----------------------------------------------------------------------------- PyTorch cross-checks
def _torch_net(torch, model):
    namespace = {}
    exec(torch_sequential_code(model, name="net"), namespace)  # our own generated code
    return namespace["net"]


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("sizes", [[5, 4, 3], [6, 8, 7, 4]])
def test_real_sequential_loads_the_state_dict_and_agrees(sizes, activation):
    torch = pytest.importorskip("torch")
    model = _random_model(sizes, activation=activation)
    net = _torch_net(torch, model)
    sd = to_torch_state_dict(model)
    reference = net.state_dict()
    assert list(reference) == list(sd), "keys (and their order) of the real nn.Sequential"
    assert {k: tuple(t.shape) for k, t in reference.items()} == {k: a.shape for k, a in sd.items()}
    net.load_state_dict({k: torch.from_numpy(a) for k, a in sd.items()}, strict=True)
    X = np.random.default_rng(9).normal(size=(7, sizes[0]))
    with torch.no_grad():
        out = net(torch.from_numpy(X)).numpy()
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, model.forward(X), rtol=1e-12, atol=1e-12,
                               err_msg=f"torch vs minikd, {activation}")


def test_real_sequential_float32():
    torch = pytest.importorskip("torch")
    model = _random_model([5, 4, 3], activation="relu", dtype=np.float32)
    net = _torch_net(torch, model)
    net.load_state_dict({k: torch.from_numpy(a) for k, a in to_torch_state_dict(model).items()}, strict=True)
    X = np.random.default_rng(10).normal(size=(6, 5)).astype(np.float32)
    with torch.no_grad():
        out = net(torch.from_numpy(X)).numpy()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, model.forward(X), rtol=1e-5, atol=1e-6, err_msg="float32")


@pytest.mark.parametrize("activation", ACTS)
def test_from_a_torch_module(activation):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    act = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.01), "tanh": nn.Tanh,
           "sigmoid": nn.Sigmoid, "identity": nn.Identity}[activation]

    class Wrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(5, 6), act(), nn.Linear(6, 4), act(), nn.Linear(4, 3)).double()

        def forward(self, x):
            return self.net(x)

    module = Wrapper()
    X = np.random.default_rng(11).normal(size=(4, 5))
    with torch.no_grad():
        expected = module(torch.from_numpy(X)).numpy()
    for source in (module.state_dict(), dict(module.named_parameters())):  # the latter require grad
        model = from_torch_state_dict(source, activation=activation)
        assert model.layer_sizes == (5, 6, 4, 3) and model.dtype == np.float64
        np.testing.assert_allclose(model.forward(X), expected, rtol=1e-12, atol=1e-12, err_msg=activation)
    assert module.net[0].weight.requires_grad, "the module is left as it was"


def _torch_losses(torch):
    """Each convention's loss written in torch the way its source writes it."""
    F = torch.nn.functional

    def minikd(z, v, y, T, alpha):
        kl = F.kl_div(F.log_softmax(z / T, dim=1), F.softmax(v / T, dim=1), reduction="batchmean")
        return alpha * F.cross_entropy(z, y) + (1 - alpha) * T**2 * kl

    def pytorch_tutorial(z, v, y, T, w):  # train_knowledge_distillation
        soft_targets = F.softmax(v / T, dim=-1)
        soft_prob = F.log_softmax(z / T, dim=-1)
        soft_targets_loss = torch.sum(soft_targets * (soft_targets.log() - soft_prob)) / soft_prob.size()[0] * T**2
        label_loss = torch.nn.CrossEntropyLoss()(z, y)
        return w["soft_target_loss_weight"] * soft_targets_loss + w["ce_loss_weight"] * label_loss

    def keras_kld(y_true, y_pred):  # keras.losses.KLDivergence(): clip, sum over classes, batch mean
        y_true, y_pred = y_true.clamp(1e-7, 1), y_pred.clamp(1e-7, 1)
        return torch.sum(y_true * torch.log(y_true / y_pred), dim=-1).mean()

    def keras(z, v, y, T, alpha, t2=True):  # Distiller.train_step
        student_loss = F.cross_entropy(z, y)  # SparseCategoricalCrossentropy(from_logits=True)
        distillation_loss = keras_kld(F.softmax(v / T, dim=1), F.softmax(z / T, dim=1))
        if t2:
            distillation_loss = distillation_loss * T**2
        return alpha * student_loss + (1 - alpha) * distillation_loss

    def torchdistill(z, v, y, T, setting):  # KDLoss.forward
        alpha, beta = setting["alpha"], setting.get("beta", 1 - setting["alpha"])
        soft_loss = torch.nn.KLDivLoss(reduction="batchmean")(torch.log_softmax(z / T, dim=1),
                                                              torch.softmax(v / T, dim=1))
        if alpha is None or alpha == 0 or y is None:
            return soft_loss
        return alpha * torch.nn.CrossEntropyLoss(reduction="mean")(z, y) + beta * T**2 * soft_loss

    def soft_alpha(z, v, y, T, alpha):
        kl = F.kl_div(F.log_softmax(z / T, dim=1), F.softmax(v / T, dim=1), reduction="batchmean")
        return kl * T * T * alpha + F.cross_entropy(z, y) * (1 - alpha)

    return {
        "minikd": (minikd, 0.3),
        "aidotnet": (minikd, 0.6),
        "pytorch_tutorial": (pytorch_tutorial, TUTORIAL),
        "keras": (keras, 0.1),
        "keras_no_t2": (lambda *a: keras(*a, t2=False), 0.1),
        "torchdistill": (torchdistill, {"alpha": 0.5, "beta": 0.8}),
        "torchdistill_pure": (torchdistill, {"alpha": 0.0}),
        "soft_alpha": (soft_alpha, 0.7),
    }


@pytest.mark.parametrize("name", sorted(LOSS_CONVENTIONS) + ["torchdistill_pure"])
@pytest.mark.parametrize("T", [1.0, 4.0])
def test_reference_matches_torch_implementations(name, T):
    torch = pytest.importorskip("torch")
    fn, setting = _torch_losses(torch)[name]
    convention = name.replace("_pure", "")
    z, v, y = _problem(n=6, c=5, seed=12)
    zt = torch.tensor(z, requires_grad=True)
    loss = fn(zt, torch.from_numpy(v), torch.from_numpy(y), T, setting)
    loss.backward()
    ref = reference_distillation_loss(zt, torch.from_numpy(v), torch.from_numpy(y), T, setting,
                                      convention=convention)
    np.testing.assert_allclose(ref.loss, loss.item(), rtol=1e-10, err_msg=f"{name} loss at T={T}")
    np.testing.assert_allclose(ref.dlogits, zt.grad.numpy(), rtol=1e-10, atol=1e-14,
                               err_msg=f"{name} gradient (autograd) at T={T}")


def test_earlier_tutorial_revision_differs_by_the_teacher_entropy():
    """-sum(q log p) / N * T^2: same gradient, loss larger by w_soft T^2 mean H(q) (as documented)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z, v, y = _problem(n=6, c=5, seed=13)
    T, w = 2.0, TUTORIAL
    zt = torch.tensor(z, requires_grad=True)
    soft_prob = F.log_softmax(zt / T, dim=-1)
    soft_targets = F.softmax(torch.from_numpy(v) / T, dim=-1)
    old = (w["soft_target_loss_weight"] * (-torch.sum(soft_targets * soft_prob) / soft_prob.size()[0] * T**2)
           + w["ce_loss_weight"] * F.cross_entropy(zt, torch.from_numpy(y)))
    old.backward()
    ref = reference_distillation_loss(z, v, y, T, w, convention="pytorch_tutorial")
    entropy = _slow_terms(z, v, y, T)[3]
    np.testing.assert_allclose(old.item(), ref.loss + w["soft_target_loss_weight"] * T**2 * entropy,
                               rtol=1e-12, err_msg="loss offset")
    np.testing.assert_allclose(zt.grad.numpy(), ref.dlogits, rtol=1e-10, atol=1e-14, err_msg="gradient")


def test_interop_never_imports_torch():
    import subprocess
    import sys

    code = ("import sys, minikd.interop, numpy as np; "
            "m = minikd.interop.from_torch_state_dict({'0.weight': np.ones((2, 3)), '0.bias': np.zeros(2)}); "
            "minikd.interop.reference_distillation_loss(np.zeros((1, 2)), np.ones((1, 2)), [0], 2.0, 0.5); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
