"""Tests of minikd.mlp.MLP: gradient checks, shapes and dtypes, prediction, learning,
determinism, state (copy/config/params), a PyTorch cross-check, and bad input."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minikd.functional import _one_hot, _softmax, softmax
from minikd.gradcheck import check_gradients
from minikd.layers import ACTIVATIONS
from minikd.mlp import MLP, MLPCache

TOL = 1e-7  # rel_error threshold of a correct float64 gradient (see minikd.gradcheck)
ACTS = sorted(ACTIVATIONS)
KINKED = ("relu", "leaky_relu")
# Finite-difference step per activation. ReLU-type and identity networks are piecewise linear in
# each single parameter, so central differences are exact away from kinks and a larger step only
# shrinks the rounding noise (~1e-16 * |f| / eps); for tanh and sigmoid the step balances that
# noise against the O(eps**2) truncation error.
EPS = {"relu": 1e-4, "leaky_relu": 1e-4, "identity": 1e-4, "tanh": 1e-5, "sigmoid": 3e-5}
DEPTHS = [[3, 2], [5, 4, 3], [6, 8, 7, 4]]


def _signed(rng, shape, low=0.5, high=1.5):
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(low, high, size=shape)


def _gradcheck_problem(sizes, activation, seed=2):
    """A float64 model with random (non-zero) biases, inputs X and upstream gradient dlogits.

    Non-zero biases keep a sample whose hidden units are all off from landing exactly on the
    next layer's ReLU kink (z = 0 + b with b = 0). The fixed seed gives pre-activations at
    least 0.1 away from 0 (asserted below) and no gradient entry so small that the relative
    error measures finite-difference noise instead of the gradient.
    """
    model = MLP(sizes, activation=activation, seed=seed)
    rng = np.random.default_rng(seed)
    model.set_params({k: rng.normal(0, 0.5, v.shape) if k.startswith("b") else v
                      for k, v in model.params.items()})
    X = _signed(rng, (3, sizes[0]))
    dlogits = _signed(rng, (3, sizes[-1]))
    _, cache = model.forward_train(X)
    for k, layer in enumerate(cache.layers[:-1], start=1):
        margin = np.abs(layer.activation.x).min()
        assert activation not in KINKED or margin > 0.1, f"layer {k} is {margin} from a kink"
    return model, X, dlogits


def _random_model(sizes, activation="tanh", seed=0, dtype=np.float64):
    model = MLP(sizes, activation=activation, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    model.set_params({k: rng.normal(0, 0.5, v.shape) for k, v in model.params.items()})
    return model


# ----------------------------------------------------------------------------- construction
def test_attributes_and_repr():
    model = MLP([64, 32, 10], activation="relu", seed=0)
    assert repr(model) == "MLP([64, 32, 10], activation='relu', dtype=float64, params=2,410)"
    assert model.layer_sizes == (64, 32, 10) and isinstance(model.layer_sizes, tuple)
    assert model.activation == "relu" and model.dtype == np.float64
    assert model.num_layers == 2 and model.input_dim == 64 and model.output_dim == 10
    assert model.num_parameters == 64 * 32 + 32 + 32 * 10 + 10
    assert list(model.params) == ["W1", "b1", "W2", "b2"]
    assert model.params["W1"].shape == (64, 32) and model.params["b1"].shape == (32,)
    assert model.params["W2"].shape == (32, 10) and model.params["b2"].shape == (10,)
    assert all(p.dtype == np.float64 for p in model.params.values())
    assert not model.params["b1"].any() and not model.params["b2"].any(), "biases start at 0"
    m32 = MLP(np.array([3, 2]), activation="tanh", dtype="float32")
    assert repr(m32) == "MLP([3, 2], activation='tanh', dtype=float32, params=8)"
    assert type(m32.layer_sizes[0]) is int


@pytest.mark.parametrize("activation", ACTS)
def test_initialisation_scale(activation):
    model = MLP([500, 400, 300], activation=activation, seed=0)
    for k, (fan_in, fan_out) in enumerate([(500, 400), (400, 300)], start=1):
        W = model.params[f"W{k}"]
        if activation in KINKED:
            expected = np.sqrt(2 / fan_in)  # He
        else:
            expected = np.sqrt(2 / (fan_in + fan_out))  # Glorot
        # the standard error of a sample std over 1e5+ entries is ~0.2%; He and Glorot differ 25%+
        np.testing.assert_allclose(W.std(), expected, rtol=0.02, err_msg=f"{activation} W{k} std")
        assert abs(W.mean()) < 0.05 * expected, f"{activation} W{k} mean {W.mean()}"


def test_float32_and_float64_start_from_the_same_weights():
    m64 = MLP([5, 7, 3], seed=3)
    m32 = MLP([5, 7, 3], seed=3, dtype=np.float32)
    for key, value in m64.params.items():
        assert m32.params[key].dtype == np.float32
        np.testing.assert_array_equal(m32.params[key], value.astype(np.float32), err_msg=key)


def test_seeding():
    a, b, c = MLP([4, 6, 3], seed=7), MLP([4, 6, 3], seed=7), MLP([4, 6, 3], seed=8)
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key], err_msg=f"same seed, {key}")
    assert not np.array_equal(a.params["W1"], c.params["W1"]), "different seeds, same init"
    assert not np.array_equal(a.params["W1"], MLP([4, 6, 3]).params["W1"]), "seed=None reused 7"
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(MLP([4, 3], seed=g1).params["W1"], MLP([4, 3], seed=g2).params["W1"],
                                  err_msg="a Generator seed")


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("sizes", DEPTHS, ids=str)
def test_parameter_gradients(sizes, activation):
    model, X, dlogits = _gradcheck_problem(sizes, activation)
    errors = check_gradients(model, X, dlogits=dlogits, eps=EPS[activation])
    assert set(errors) == set(model.params)
    assert max(errors.values()) < TOL, f"{sizes} {activation}: {errors}"


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("sizes", DEPTHS, ids=str)
def test_input_gradient(sizes, activation):
    model, X, dlogits = _gradcheck_problem(sizes, activation)
    logits, cache = model.forward_train(X, need_input_grad=True)
    grads, dX = model.backward(dlogits, cache)
    assert dX.shape == X.shape and dX.dtype == np.float64
    plain = model.backward(dlogits, model.forward_train(X)[1])
    for key in grads:
        np.testing.assert_array_equal(grads[key], plain[key], err_msg=f"need_input_grad changed {key}")
    errors = check_gradients(lambda: np.sum(model.forward(X) * dlogits), inputs=[X], analytic=[dX],
                             eps=EPS[activation])
    assert errors[0] < TOL, f"{sizes} {activation}: dX rel_error {errors[0]:.2e}"


def test_input_gradient_of_one_sample():
    model, X, dlogits = _gradcheck_problem([5, 4, 3], "tanh")
    x, d = X[0].copy(), dlogits[0]
    _, cache = model.forward_train(x, need_input_grad=True)
    grads, dx = model.backward(d, cache)
    assert dx.shape == (5,)
    errors = check_gradients(lambda: np.sum(model.forward(x) * d), inputs=[x], analytic=[dx],
                             eps=EPS["tanh"])
    assert errors[0] < TOL, f"dx rel_error {errors[0]:.2e}"


def test_backward_returns_a_dict_without_input_grad():
    model, X, dlogits = _gradcheck_problem([5, 4, 3], "relu")
    grads = model.backward(dlogits, model.forward_train(X)[1])
    assert isinstance(grads, dict) and list(grads) == list(model.params)


# ----------------------------------------------------------------------------- shapes and dtypes
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_dtype", [np.float32, np.float64, np.uint8, np.int64])
def test_shapes_and_dtypes(dtype, x_dtype):
    model = MLP([4, 5, 3], seed=0, dtype=dtype)
    X = (np.arange(24).reshape(6, 4) % 7).astype(x_dtype)
    logits = model.forward(X)
    assert logits.shape == (6, 3) and logits.dtype == dtype, f"{x_dtype} input -> {logits.dtype}"
    logits2, cache = model.forward_train(X)
    assert isinstance(cache, MLPCache) and logits2.dtype == dtype
    np.testing.assert_array_equal(logits2, logits, err_msg="forward != forward_train")
    for dlogits_dtype in (np.float32, np.float64):
        grads = model.backward(np.ones((6, 3), dtype=dlogits_dtype), cache)
        assert list(grads) == list(model.params)
        for key, p in model.params.items():
            assert grads[key].shape == p.shape, key
            assert grads[key].dtype == dtype, f"{key}: {grads[key].dtype} for {dlogits_dtype} dlogits"


def test_private_hot_path_matches_public():
    model = _random_model([4, 6, 3], "relu", dtype=np.float32)
    X = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    dlogits = np.random.default_rng(1).standard_normal((5, 3))  # float64: cast to float32
    logits, cache = model.forward_train(X)
    logits_, cache_ = model._forward_train(X)
    np.testing.assert_array_equal(logits_, logits, err_msg="_forward_train")
    grads, grads_ = model.backward(dlogits, cache), model._backward(dlogits, cache_)
    for key in grads:
        assert grads_[key].dtype == np.float32
        np.testing.assert_array_equal(grads_[key], grads[key], err_msg=f"_backward {key}")


def test_cache_exposes_every_intermediate():
    model = _random_model([3, 4, 5, 2], "sigmoid")
    X = np.random.default_rng(0).standard_normal((2, 3))
    logits, cache = model.forward_train(X)
    assert len(cache.layers) == 3 and cache.layers[-1].activation is None
    np.testing.assert_array_equal(cache.layers[0].dense.x, X, err_msg="layer 1 input")
    a = X
    for k, layer in enumerate(cache.layers, start=1):
        z = a @ model.params[f"W{k}"] + model.params[f"b{k}"]
        a = 1 / (1 + np.exp(-z)) if k < 3 else z
        if k < 3:
            np.testing.assert_allclose(layer.activation.x, z, rtol=1e-12, err_msg=f"z{k}")
            np.testing.assert_allclose(layer.activation.out, a, rtol=1e-12, err_msg=f"a{k}")
    np.testing.assert_allclose(logits, a, rtol=1e-12, err_msg="logits")
    assert cache.logits is logits


def test_vector_and_batch_of_one_agree():
    model = _random_model([4, 6, 3], "relu")
    x = np.random.default_rng(0).standard_normal(4)
    d = np.random.default_rng(1).standard_normal(3)
    logits = model.forward(x)
    assert logits.shape == (3,)
    np.testing.assert_array_equal(logits, model.forward(x[None, :])[0], err_msg="forward")
    out, cache = model.forward_train(x)
    assert out.shape == (3,) and cache.single and cache.logits.shape == (3,)
    grads = model.backward(d, cache)
    grads1 = model.backward(d[None, :], model.forward_train(x[None, :])[1])
    for key in grads:
        assert grads[key].shape == model.params[key].shape
        np.testing.assert_array_equal(grads[key], grads1[key], err_msg=f"vector vs batch {key}")
    with pytest.raises(ValueError, match=r"dlogits must have the shape of the logits \(3,\)"):
        model.backward(d[None, :], cache)


def test_predict_and_predict_proba():
    model = _random_model([4, 6, 5], "tanh", dtype=np.float32)
    X = np.random.default_rng(0).standard_normal((20, 4))
    logits = model.forward(X)
    pred = model.predict(X)
    assert pred.shape == (20,) and pred.dtype.kind == "i"
    np.testing.assert_array_equal(pred, np.argmax(logits, axis=1), err_msg="predict != argmax")
    assert len(np.unique(pred)) > 1, "a degenerate model would not test argmax"
    one = model.predict(X[3])
    assert isinstance(one, int) and one == pred[3]
    for t in (1.0, 4.0):
        proba = model.predict_proba(X, temperature=t)
        assert proba.dtype == np.float32 and proba.shape == (20, 5)
        np.testing.assert_allclose(proba, softmax(logits, temperature=t), rtol=1e-6,
                                   err_msg=f"T={t}")
        np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6, err_msg="rows sum to 1")
    assert model.predict_proba(X[0]).shape == (5,)


@given(
    sizes=st.lists(st.integers(1, 8), min_size=2, max_size=5),
    n=st.integers(1, 6),
    activation=st.sampled_from(ACTS),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([1e-3, 1.0, 100.0]),
)
def test_random_shapes(sizes, n, activation, dtype, seed, scale):
    model = MLP(sizes, activation=activation, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed)
    X = scale * rng.standard_normal((n, sizes[0]))
    logits, cache = model.forward_train(X)
    assert logits.shape == (n, sizes[-1]) and logits.dtype == dtype
    assert np.isfinite(logits).all()
    grads = model.backward(rng.standard_normal(logits.shape), cache)
    assert list(grads) == list(model.params)
    for key, p in model.params.items():
        assert grads[key].shape == p.shape and grads[key].dtype == dtype, key
        assert np.isfinite(grads[key]).all(), key


# ----------------------------------------------------------------------------- learning
def _blobs(seed=0, n_per_class=100):
    rng = np.random.default_rng(seed)
    centers = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    X = np.concatenate([c + 0.7 * rng.standard_normal((n_per_class, 2)) for c in centers])
    y = np.repeat(np.arange(3), n_per_class)
    return X, y


def _train_sgd(seed, epochs=150, lr=0.5):
    X, y = _blobs()
    model = MLP([2, 16, 3], activation="relu", seed=seed)
    Y = _one_hot(y, 3, np.float64)
    losses = []
    for _ in range(epochs):
        logits, cache = model.forward_train(X)
        p = _softmax(logits)
        losses.append(-np.mean(np.log(p[np.arange(len(y)), y])))
        grads = model.backward((p - Y) / len(y), cache)  # d mean-CE / d logits
        for key in model.params:
            model.params[key] -= lr * grads[key]
    return model, losses, X, y


def test_learns_blobs():
    model, losses, X, y = _train_sgd(seed=0)
    accuracy = np.mean(model.predict(X) == y)
    assert accuracy >= 0.95, f"train accuracy {accuracy:.3f}"
    assert losses[-1] < 0.25 * losses[0], f"loss {losses[0]:.3f} -> {losses[-1]:.3f}"


def test_training_is_deterministic():
    a, _, _, _ = _train_sgd(seed=1, epochs=20)
    b, _, _, _ = _train_sgd(seed=1, epochs=20)
    c, _, _, _ = _train_sgd(seed=2, epochs=20)
    for key in a.params:
        assert np.array_equal(a.params[key], b.params[key]), f"same seed, different {key}"
    assert not np.array_equal(a.params["W1"], c.params["W1"]), "different seeds, same weights"


# ----------------------------------------------------------------------------- state
def test_copy_is_independent():
    model = _random_model([3, 4, 2], "relu")
    clone = model.copy()
    assert clone is not model and clone.get_config() == model.get_config()
    for key in model.params:
        assert clone.params[key] is not model.params[key]
        np.testing.assert_array_equal(clone.params[key], model.params[key], err_msg=key)
    before = model.params["W1"].copy()
    clone.params["W1"] += 1.0
    np.testing.assert_array_equal(model.params["W1"], before, err_msg="copy shares W1")


def test_config_round_trip():
    model = _random_model([3, 5, 2], "sigmoid", dtype=np.float32)
    config = model.get_config()
    assert config == {"layer_sizes": [3, 5, 2], "activation": "sigmoid", "dtype": "float32",
                      "dropout": 0.0, "input_dropout": 0.0, "max_norm": None}
    assert json.loads(json.dumps(config)) == config, "config must be plain data"
    rebuilt = MLP.from_config(config, params=model.params)
    assert rebuilt.dtype == np.float32 and repr(rebuilt) == repr(model)
    X = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_array_equal(rebuilt.forward(X), model.forward(X), err_msg="from_config")
    fresh = MLP.from_config(config, seed=0)
    np.testing.assert_array_equal(fresh.params["W1"], MLP([3, 5, 2], "sigmoid", seed=0,
                                                          dtype=np.float32).params["W1"])


def test_set_params_copies_and_casts():
    model = MLP([3, 2], seed=0, dtype=np.float32)
    W1_array = model.params["W1"]
    new = {"W1": np.arange(6, dtype=np.float64).reshape(3, 2), "b1": [0.5, -0.5]}
    model.set_params(new)
    assert model.params["W1"].dtype == np.float32 and model.params["b1"].dtype == np.float32
    assert model.params["W1"] is W1_array, "set_params copies into the existing arrays"
    np.testing.assert_array_equal(model.params["W1"], new["W1"], err_msg="values")
    new["W1"][0, 0] = 99.0
    assert model.params["W1"][0, 0] == 0.0, "set_params kept a reference to the caller's array"
    saved = model.get_params()
    model.params["b1"] += 1
    np.testing.assert_array_equal(saved["b1"], [0.5, -0.5], err_msg="get_params must copy")


def test_set_params_is_all_or_nothing():
    model = MLP([3, 4, 2], seed=0)
    before = model.get_params()
    bad = {k: np.zeros_like(v) for k, v in before.items()}
    bad["b2"] = np.array([np.nan, 0.0])
    with pytest.raises(ValueError, match=r"params\['b2'\] must contain only finite"):
        model.set_params(bad)
    for key in before:
        np.testing.assert_array_equal(model.params[key], before[key], err_msg=f"{key} changed")


# ----------------------------------------------------------------------------- PyTorch
@pytest.mark.parametrize("activation", ACTS)
def test_matches_torch(activation):
    torch = pytest.importorskip("torch")
    sizes = [5, 7, 6, 4]
    model = _random_model(sizes, activation)
    modules = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid,
               "leaky_relu": lambda: torch.nn.LeakyReLU(0.01), "identity": torch.nn.Identity}
    layers = []
    for k in range(1, len(sizes)):
        linear = torch.nn.Linear(sizes[k - 1], sizes[k]).double()
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(model.params[f"W{k}"].T.copy()))  # (out, in)
            linear.bias.copy_(torch.from_numpy(model.params[f"b{k}"]))
        layers.append(linear)
        if k < len(sizes) - 1:
            layers.append(modules[activation]())
    net = torch.nn.Sequential(*layers)
    rng = np.random.default_rng(0)
    X, dlogits = rng.standard_normal((8, 5)), rng.standard_normal((8, 4))
    logits, cache = model.forward_train(X)
    grads = model.backward(dlogits, cache)
    out = net(torch.from_numpy(X))
    out.backward(torch.from_numpy(dlogits))
    np.testing.assert_allclose(logits, out.detach().numpy(), rtol=1e-10, atol=1e-12,
                               err_msg="logits vs torch")
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    for k, linear in enumerate(linears, start=1):
        np.testing.assert_allclose(grads[f"W{k}"], linear.weight.grad.numpy().T, rtol=1e-10,
                                   atol=1e-12, err_msg=f"W{k} vs torch")
        np.testing.assert_allclose(grads[f"b{k}"], linear.bias.grad.numpy(), rtol=1e-10,
                                   atol=1e-12, err_msg=f"b{k} vs torch")


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"layer_sizes": [3, 2], "activation": "softplus"}, ValueError, "activation .*'softplus'"),
        ({"layer_sizes": [3, 2], "activation": None}, TypeError, "activation"),
        ({"layer_sizes": [3, 0]}, ValueError, r"layer_sizes\[1\] must be an integer >= 1, got 0"),
        ({"layer_sizes": [-3, 2]}, ValueError, r"layer_sizes\[0\]"),
        ({"layer_sizes": [3, 2.5]}, TypeError, r"layer_sizes\[1\] must be an integer"),
        ({"layer_sizes": [3, True]}, TypeError, r"layer_sizes\[1\]"),
        ({"layer_sizes": [3]}, ValueError, "layer_sizes must have at least 2 entries"),
        ({"layer_sizes": []}, ValueError, "layer_sizes must have at least 2"),
        ({"layer_sizes": "32"}, TypeError, "layer_sizes must be a list"),
        ({"layer_sizes": 5}, TypeError, "layer_sizes must be a list"),
        ({"layer_sizes": [3, 2], "dtype": int}, TypeError, "dtype must be np.float32 or np.float64"),
        ({"layer_sizes": [3, 2], "dtype": np.float16}, TypeError, "dtype .*float16"),
        ({"layer_sizes": [3, 2], "dtype": None}, TypeError, "dtype"),
        ({"layer_sizes": [3, 2], "dtype": "banana"}, TypeError, "dtype"),
        ({"layer_sizes": [3, 2], "seed": -1}, ValueError, "seed"),
        ({"layer_sizes": [3, 2], "seed": 1.5}, TypeError, "seed"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        MLP(**kwargs)


@pytest.mark.parametrize(
    "X, error, match",
    [
        (np.ones((5, 3)), ValueError, r"X must have 4 features \(layer_sizes\[0\]\), got 3"),
        (np.ones(3), ValueError, "X must have 4 features"),
        (np.ones((2, 3, 4)), ValueError, "X must be 1-D or 2-D"),
        (np.ones((0, 4)), ValueError, "X must not be empty"),
        (np.array([[1.0, np.nan, 0, 0]]), ValueError, "X must contain only finite"),
        (np.array([[1.0, np.inf, 0, 0]]), ValueError, "X must contain only finite"),
        ("abcd", TypeError, "X must"),
        (np.ones((2, 4), dtype=bool), TypeError, "X must hold real numbers"),
        (np.full((1, 4), 1e300), ValueError, "X must fit in the model dtype float32"),
    ],
)
def test_bad_X(X, error, match):
    model = MLP([4, 3, 2], seed=0, dtype=np.float32)
    for method in (model.forward, model.forward_train, model.predict, model.predict_proba):
        with pytest.raises(error, match=match):
            method(X)


def test_bad_backward_arguments():
    model = MLP([4, 3, 2], seed=0)
    _, cache = model.forward_train(np.ones((5, 4)))
    with pytest.raises(ValueError, match=r"dlogits must have the shape of the logits \(5, 2\), got shape \(5, 3\)"):
        model.backward(np.ones((5, 3)), cache)
    with pytest.raises(ValueError, match="dlogits must be 1-D or 2-D"):
        model.backward(np.ones((5, 2, 1)), cache)
    with pytest.raises(ValueError, match="dlogits must contain only finite"):
        model.backward(np.full((5, 2), np.nan), cache)
    with pytest.raises(TypeError, match="cache must be the MLPCache"):
        model.backward(np.ones((5, 2)), ("not", "a cache"))
    other_cache = MLP([4, 2], seed=0).forward_train(np.ones((5, 4)))[1]
    with pytest.raises(ValueError, match="cache must come from a forward pass of this 2-layer"):
        model.backward(np.ones((5, 2)), other_cache)
    with pytest.raises(TypeError, match="need_input_grad must be True or False"):
        model.forward_train(np.ones((5, 4)), need_input_grad="yes")
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        model.predict_proba(np.ones((5, 4)), temperature=0)


@pytest.mark.parametrize(
    "change, error, match",
    [
        (lambda p: p.pop("W2"), ValueError, "params is missing key 'W2'"),
        (lambda p: p.update(W9=np.ones(2)), ValueError, "params has unexpected key 'W9'"),
        (lambda p: p.update(W1=np.ones((3, 4))), ValueError,
         r"params\['W1'\] must have shape \(4, 3\), got shape \(3, 4\)"),
        (lambda p: p.update(b1=np.ones((1, 3))), ValueError, r"params\['b1'\] must be 1-D"),
        (lambda p: p.update(b2=np.array([1.0, np.inf])), ValueError, r"params\['b2'\] must contain"),
        (lambda p: p.update(b2=np.array(["a", "b"])), TypeError, r"params\['b2'\]"),
    ],
)
def test_bad_set_params(change, error, match):
    model = MLP([4, 3, 2], seed=0)
    params = model.get_params()
    change(params)
    with pytest.raises(error, match=match):
        model.set_params(params)


def test_bad_set_params_container_and_overflow():
    model = MLP([4, 3, 2], seed=0, dtype=np.float32)
    with pytest.raises(TypeError, match="params must be a dict"):
        model.set_params([np.ones((4, 3))])
    params = model.get_params()
    params["W2"] = np.full((3, 2), 1e300)
    with pytest.raises(ValueError, match=r"params\['W2'\] must fit in the model dtype float32"):
        model.set_params(params)


@pytest.mark.parametrize(
    "config, error, match",
    [
        ({"layer_sizes": [3, 2], "dtype": "float64"}, ValueError, "config is missing key 'activation'"),
        ({"layer_sizes": [3, 2], "activation": "relu", "dtype": "float64", "x": 1}, ValueError,
         "config has unexpected key 'x'"),
        ({"layer_sizes": [3, 2], "activation": "relu", "dtype": "float16"}, TypeError, "dtype"),
        ([3, 2], TypeError, "config must be a dict"),
    ],
)
def test_bad_config(config, error, match):
    with pytest.raises(error, match=match):
        MLP.from_config(config)


def test_first_layer_input_gradient_is_skipped(monkeypatch):
    import minikd.mlp as mlp_module

    calls = []
    original = mlp_module.dense_backward

    def spy(dout, cache, need_dx=True):
        calls.append(need_dx)
        return original(dout, cache, need_dx=need_dx)

    monkeypatch.setattr(mlp_module, "dense_backward", spy)
    model = MLP([4, 5, 6, 3], seed=0)
    model.backward(np.ones((2, 3)), model.forward_train(np.ones((2, 4)))[1])
    assert calls == [True, True, False], "backward computes the input gradient nobody needs"
    calls.clear()
    model.backward(np.ones((2, 3)), model.forward_train(np.ones((2, 4)), need_input_grad=True)[1])
    assert calls == [True, True, True]
