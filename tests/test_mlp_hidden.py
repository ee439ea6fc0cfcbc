"""Tests of the hidden-layer contract (DESIGN.md, "Beyond logits"): ``MLPCache.hidden``,
``MLP.backward(dlogits, cache, dhidden=...)`` (finite differences, linearity, bad input, a PyTorch
cross-check), and ``get_hidden``/``hidden_sizes`` of TeacherModelWrapper and EnsembleTeacher."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from minikd import MLP, EnsembleTeacher, TeacherModelWrapper
from minikd.gradcheck import numerical_gradient, rel_error
from minikd.layers import ACTIVATIONS
from minikd.mlp import MLPCache

TOL = 1e-7  # rel_error threshold of a correct float64 gradient (see minikd.gradcheck)
ACTS = sorted(ACTIVATIONS)
KINKED = ("relu", "leaky_relu")
EPS = {"relu": 1e-4, "leaky_relu": 1e-4, "identity": 1e-4, "tanh": 1e-5, "sigmoid": 3e-5}  # as test_mlp


def _by_hand(activation, z):
    return {
        "relu": np.maximum(z, 0),
        "leaky_relu": np.where(z > 0, z, 0.01 * z),
        "tanh": np.tanh(z),
        "sigmoid": 1 / (1 + np.exp(-z)),
        "identity": z,
    }[activation]


def _model(sizes, activation, seed=0, dtype=np.float64):
    """A model with random non-zero biases (so no unit sits at a ReLU kink by construction)."""
    model = MLP(sizes, activation=activation, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 100)
    model.set_params({k: rng.normal(0, 0.5, v.shape) if k.startswith("b") else v for k, v in model.params.items()})
    return model


def _margin(cache):
    """Distance of the nearest pre-activation from 0 (a ReLU kink)."""
    return min((np.abs(layer.activation.x).min() for layer in cache.layers[:-1]), default=np.inf)


# ----------------------------------------------------------------------------- cache.hidden
@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("sizes", [[4, 3], [4, 5, 3], [4, 6, 5, 3], [4, 6, 5, 7, 3]])
def test_hidden_is_each_activation_output_computed_by_hand_and_the_array_the_next_layer_used(activation, sizes):
    model = _model(sizes, activation)
    X = np.random.default_rng(1).normal(size=(5, 4))
    logits, cache = model.forward_train(X)
    assert isinstance(cache.hidden, tuple) and len(cache.hidden) == len(sizes) - 2
    a = X
    for k, H in enumerate(cache.hidden):
        a = _by_hand(activation, a @ model.params[f"W{k + 1}"] + model.params[f"b{k + 1}"])
        assert H.shape == (5, sizes[k + 1]) and H.dtype == np.float64
        np.testing.assert_allclose(H, a, rtol=1e-13, atol=1e-15, err_msg=f"hidden[{k}]")
        assert H is cache.layers[k + 1].dense.x, f"hidden[{k}] is not the array layer {k + 2} consumed"
        assert H is cache.layers[k].activation.out
    L = len(sizes) - 1
    np.testing.assert_allclose(logits, a @ model.params[f"W{L}"] + model.params[f"b{L}"], rtol=1e-13)


def test_no_hidden_layers_gives_an_empty_tuple():
    _, cache = MLP([4, 3], seed=0).forward_train(np.ones((2, 4)))
    assert cache.hidden == ()
    assert MLP([4, 3]).hidden_sizes == () and MLP([4, 5, 6, 3]).hidden_sizes == (5, 6)


def test_one_sample_hidden_layers_are_1_by_H_rows_and_float32_is_kept():
    model = _model([4, 5, 6, 3], "tanh", dtype=np.float32)
    x = np.arange(4.0)
    logits, cache = model.forward_train(x)
    assert logits.shape == (3,)
    assert [H.shape for H in cache.hidden] == [(1, 5), (1, 6)]
    assert all(H.dtype == np.float32 for H in cache.hidden)
    _, batch = model.forward_train(x[None, :])
    for H, Hb in zip(cache.hidden, batch.hidden, strict=True):
        np.testing.assert_array_equal(H, Hb)


def test_hidden_is_a_property_so_replace_keeps_it_consistent():
    model = _model([4, 5, 3], "relu")
    _, cache = model.forward_train(np.ones((2, 4)))
    assert "hidden" not in MLPCache._fields  # derived from layers, never stored twice
    assert cache._replace(single=True).hidden[0] is cache.hidden[0]


# ----------------------------------------------------------------------------- backward with dhidden
def _feature_loss_check(model, X, dlogits, dhidden, eps, noise_aware=False):
    """Analytic gradients of L = sum(dlogits * logits) + sum_k sum(dH_k * hidden_k) vs central
    differences, for every parameter and X; return {name: rel_error}.

    ``noise_aware`` (for random shapes and weights): a central difference carries rounding noise of
    about macheps * S / eps, with S the sum of the magnitudes of L's terms, whatever the size of the
    entry; entries below 1e-3 * S (a random network has entries of 1e-7 next to ones of 1) are then
    compared absolutely, to 1e-9 * S, and the relative error is taken over the others."""
    logits, cache = model.forward_train(X, need_input_grad=True)
    grads, dX = model.backward(dlogits, cache, dhidden=dhidden)
    n_hidden = len(model.hidden_sizes)
    S = float(np.abs(dlogits * logits).sum() + sum(np.abs(dH * cache.hidden[k % n_hidden]).sum()
                                                    for k, dH in dhidden.items()))

    def loss() -> float:
        out, c = model.forward_train(X)
        return float(np.sum(out * dlogits) + sum(np.sum(dH * c.hidden[k % n_hidden]) for k, dH in dhidden.items()))

    pairs = {name: (grads[name], numerical_gradient(loss, p, eps)) for name, p in model.params.items()}
    pairs["X"] = (dX, numerical_gradient(loss, X, eps))
    errors = {}
    for name, (analytic, numeric) in pairs.items():
        big = np.abs(analytic) >= (1e-3 * S if noise_aware else 0.0)
        errors[name] = rel_error(analytic[big], numeric[big])
        small_error = np.abs(analytic - numeric)[~big].max(initial=0.0)
        assert small_error <= 1e-9 * S, (name, small_error, S)
    return errors


CASES = [  # (sizes, dhidden keys)
    ([3, 4, 2], [0]),
    ([3, 4, 2], [-1]),
    ([4, 5, 6, 3], [0]),
    ([4, 5, 6, 3], [-1]),
    ([4, 5, 6, 3], [0, -1]),
    ([5, 6, 4, 7, 3], [1]),
    ([5, 6, 4, 7, 3], [-3, 1, 2]),
]


@pytest.mark.parametrize("zero_dlogits", [False, True], ids=["with-dlogits", "features-only"])
@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize(("sizes", "keys"), CASES)
def test_backward_with_dhidden_matches_finite_differences(sizes, keys, activation, zero_dlogits):
    model = _model(sizes, activation, seed=3)
    rng = np.random.default_rng(4)
    X = rng.choice([-1.0, 1.0], (3, sizes[0])) * rng.uniform(0.5, 1.5, (3, sizes[0]))
    logits, cache = model.forward_train(X)
    assert activation not in KINKED or _margin(cache) > 1e-2, "a pre-activation is too close to a kink"
    dlogits = np.zeros_like(logits) if zero_dlogits else rng.normal(size=logits.shape)
    dhidden = {k: rng.normal(size=cache.hidden[k].shape) for k in keys}
    errors = _feature_loss_check(model, X, dlogits, dhidden, EPS[activation])
    assert max(errors.values()) < TOL, errors


def test_features_only_gradient_leaves_the_layers_above_untouched():
    model = _model([4, 5, 6, 3], "tanh")
    X = np.random.default_rng(0).normal(size=(3, 4))
    logits, cache = model.forward_train(X)
    grads = model.backward(np.zeros_like(logits), cache, dhidden={0: np.ones((3, 5))})
    for key in ("W2", "b2", "W3", "b3"):
        assert not grads[key].any(), f"{key} gets a gradient from a loss on hidden layer 0"
    assert grads["W1"].any() and grads["b1"].any()


@given(
    sizes=st.lists(st.integers(1, 5), min_size=2, max_size=5),
    n=st.integers(1, 4),
    activation=st.sampled_from(ACTS),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_backward_with_dhidden_matches_finite_differences_property(sizes, n, activation, seed, data):
    sizes = [*sizes, 2] if len(sizes) == 2 else sizes  # at least one hidden layer
    model = _model(sizes, activation, seed=seed)
    rng = np.random.default_rng(seed + 1)  # not the stream of the weights
    X = rng.normal(size=(n, sizes[0]))
    logits, cache = model.forward_train(X)
    assume(activation not in KINKED or _margin(cache) > 1e-2)
    L1 = len(sizes) - 2
    keys = data.draw(st.sets(st.integers(0, L1 - 1), min_size=1, max_size=L1))
    negative = data.draw(st.booleans())
    dhidden = {(k - L1 if negative else k): rng.normal(size=cache.hidden[k].shape) for k in keys}
    dlogits = rng.normal(size=logits.shape) * data.draw(st.sampled_from([0.0, 1.0]))
    errors = _feature_loss_check(model, X, dlogits, dhidden, EPS[activation], noise_aware=True)
    assert max(errors.values()) < TOL, (sizes, activation, dhidden.keys(), errors)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradients_from_logits_and_hidden_layers_add(dtype):
    model = _model([4, 5, 6, 3], "tanh", dtype=dtype)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(6, 4))
    logits, cache = model.forward_train(X)
    dlogits = rng.normal(size=logits.shape)
    a, b, c = rng.normal(size=(6, 5)), rng.normal(size=(6, 5)), rng.normal(size=(6, 6))
    g1 = model.backward(dlogits, cache, dhidden={0: a, -1: c})
    g2 = model.backward(np.zeros_like(logits), cache, dhidden={0: b})
    g12 = model.backward(dlogits, cache, dhidden={0: a + b, 1: c})
    rtol = 1e-12 if dtype == np.float64 else 1e-4
    for key in model.params:
        assert g12[key].dtype == dtype, key
        scale = np.abs(g1[key]).max() + np.abs(g2[key]).max()
        np.testing.assert_allclose(g1[key] + g2[key], g12[key], rtol=0, atol=rtol * scale, err_msg=key)


@pytest.mark.parametrize("single", [False, True])
def test_no_dhidden_gives_exactly_todays_gradients(single):
    model = _model([4, 5, 6, 3], "relu")
    X = np.random.default_rng(6).normal(size=(4,) if single else (7, 4))
    logits, cache = model.forward_train(X)
    dlogits = np.random.default_rng(7).normal(size=logits.shape)
    before = model._backward(dlogits, cache)  # the pre-existing call, positional, no dhidden
    for out in (model.backward(dlogits, cache), model.backward(dlogits, cache, dhidden=None),
                model.backward(dlogits, cache, dhidden={}), model._backward(dlogits, cache, {})):
        assert list(out) == list(before)
        for key in before:
            np.testing.assert_array_equal(out[key], before[key], err_msg=key)


def test_one_sample_backward_takes_1_by_H_rows_and_matches_the_batch_of_one():
    model = _model([4, 5, 6, 3], "sigmoid")
    x = np.random.default_rng(8).normal(size=4)
    logits, cache = model.forward_train(x)
    logits_b, cache_b = model.forward_train(x[None, :])
    dlogits, dH = np.arange(3.0), np.linspace(-1, 1, 6)[None, :]
    g = model.backward(dlogits, cache, dhidden={-1: dH})
    gb = model.backward(dlogits[None, :], cache_b, dhidden={1: dH})
    for key in g:
        np.testing.assert_array_equal(g[key], gb[key], err_msg=key)


def test_private_backward_normalises_negative_keys():
    model = _model([4, 5, 6, 3], "tanh")
    X = np.random.default_rng(9).normal(size=(3, 4))
    logits, cache = model.forward_train(X)
    dH = np.random.default_rng(10).normal(size=(3, 6))
    g_neg = model._backward(logits * 0, cache, {-1: dH})
    g_pos = model.backward(logits * 0, cache, {1: dH})
    for key in g_pos:
        np.testing.assert_array_equal(g_neg[key], g_pos[key], err_msg=key)


def test_private_backward_casts_dhidden_to_the_model_dtype():
    model = _model([4, 5, 3], "tanh", dtype=np.float32)
    logits, cache = model.forward_train(np.ones((2, 4), dtype=np.float32))
    grads = model._backward(logits, cache, {0: np.ones((2, 5))})  # a float64 dH_k
    assert all(g.dtype == np.float32 for g in grads.values())


def _bad_dhidden_cases():
    ok = np.zeros((3, 5))
    return [
        ([(1, 0)], TypeError, r"dhidden must be a dict \{k: dH_k\}.*got \[\(1, 0\)\]"),
        (np.zeros(3), TypeError, r"dhidden must be a dict"),
        ({"0": ok}, TypeError, r"dhidden\['0'\]: the key must be an int index of a hidden layer.*got '0'"),
        ({0.0: ok}, TypeError, r"dhidden\[0\.0\]: the key must be an int"),
        ({True: ok}, TypeError, r"dhidden\[True\]: the key must be an int"),
        ({2: ok}, ValueError, r"dhidden\[2\]: the key must be a hidden-layer index in \[-2, 1\].*2 hidden layers "
                              r"of widths \(5, 6\)\), got 2"),
        ({-3: ok}, ValueError, r"dhidden\[-3\]: the key must be a hidden-layer index in \[-2, 1\].*got -3"),
        ({1: np.zeros((3, 6)), -1: np.zeros((3, 6))}, ValueError,
         r"dhidden\[-1\] and dhidden\[1\] both name hidden layer 1"),
        ({0: np.zeros((3, 6))}, ValueError, r"dhidden\[0\] must have the shape of cache.hidden\[0\] \(3, 5\), "
                                            r"got shape \(3, 6\)"),
        ({0: np.zeros(5)}, ValueError, r"dhidden\[0\] must have the shape of cache.hidden\[0\] \(3, 5\), "
                                       r"got shape \(5,\)"),
        ({np.int64(-2): np.zeros((3, 6))}, ValueError, r"dhidden\[-2\] must have the shape of cache.hidden\[0\]"),
        ({0: np.full((3, 5), np.nan)}, ValueError, r"dhidden\[0\] must contain only finite values, got 15 NaN"),
        ({-2: np.full((3, 5), np.inf)}, ValueError, r"dhidden\[-2\] must contain only finite values"),
        ({0: np.zeros((3, 5), dtype=complex)}, TypeError, r"dhidden\[0\] must hold real numbers"),
        ({0: "abc"}, TypeError, r"dhidden\[0\] must be an array-like of numbers, got 'abc'"),
        ({0: None}, TypeError, r"dhidden\[0\] must be an array-like of numbers"),
    ]


@pytest.mark.parametrize(("dhidden", "error", "match"), _bad_dhidden_cases())
def test_bad_dhidden_is_refused_with_its_name_rule_and_value(dhidden, error, match):
    model = _model([4, 5, 6, 3], "relu")
    logits, cache = model.forward_train(np.ones((3, 4)))
    with pytest.raises(error, match=match):
        model.backward(np.zeros_like(logits), cache, dhidden=dhidden)


def test_bad_dhidden_special_cases():
    flat = MLP([4, 3], seed=0)
    logits, cache = flat.forward_train(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"dhidden\[0\]: the key must index a hidden layer, but this model .* has "
                                         r"no hidden layers, got 0"):
        flat.backward(logits, cache, dhidden={0: np.zeros((2, 4))})
    flat.backward(logits, cache, dhidden={})  # nothing to check
    model = _model([4, 5, 3], "relu", dtype=np.float32)
    logits, cache = model.forward_train(np.ones(4))
    with pytest.raises(ValueError, match=r"\(1, 5\), got shape \(5,\); a one-sample forward pass keeps hidden "
                                         r"layers 2-D, \(1, H_k\): pass dH\[None, :\]"):
        model.backward(logits, cache, dhidden={0: np.zeros(5)})
    with pytest.raises(ValueError, match=r"dhidden\[0\] must fit in the model dtype float32.*1e\+39"):
        model.backward(logits, cache, dhidden={0: np.full((1, 5), 1e39)})
    linear = MLP([4, 5, 3], activation="identity", seed=0, dtype=np.float32)
    logits, cache = linear.forward_train(np.full(4, 10.0))
    with pytest.raises(ValueError, match=r"dlogits or dhidden is too large: the gradients overflow \(dlogits and "
                                         r"dhidden of magnitude up to 3e\+38\)"):
        linear.backward(logits, cache, dhidden={0: np.full((1, 5), 3e38)})


# ----------------------------------------------------------------------------- PyTorch cross-check
@pytest.mark.parametrize("activation", ACTS)
def test_backward_with_dhidden_matches_torch_autograd(activation):
    torch = pytest.importorskip("torch")
    fns = {"relu": torch.relu, "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
           "tanh": torch.tanh, "sigmoid": torch.sigmoid, "identity": lambda z: z}
    model = _model([5, 7, 6, 4, 3], activation, seed=11)
    rng = np.random.default_rng(12)
    X = rng.normal(size=(8, 5))
    logits, cache = model.forward_train(X)
    dlogits = rng.normal(size=logits.shape)
    dhidden = {0: rng.normal(size=(8, 7)), -1: rng.normal(size=(8, 4))}
    grads = model.backward(dlogits, cache, dhidden=dhidden)

    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in model.params.items()}
    a, hidden = torch.tensor(X, dtype=torch.float64), []
    for k in range(1, model.num_layers):
        a = fns[activation](a @ params[f"W{k}"] + params[f"b{k}"])
        hidden.append(a)
    out = a @ params[f"W{model.num_layers}"] + params[f"b{model.num_layers}"]
    loss = (out * torch.tensor(dlogits)).sum() + sum((hidden[k] * torch.tensor(d)).sum() for k, d in dhidden.items())
    loss.backward()
    for key, p in params.items():
        np.testing.assert_allclose(grads[key], p.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=key)


# ----------------------------------------------------------------------------- teachers
def test_get_hidden_matches_forward_train_in_the_order_asked():
    model = _model([4, 5, 6, 7, 3], "leaky_relu")
    teacher = TeacherModelWrapper(model)
    assert teacher.hidden_sizes == (5, 6, 7)
    X = np.random.default_rng(13).normal(size=(9, 4))
    _, cache = model.forward_train(X)
    out = teacher.get_hidden(X, [2, 0, -2, -1])
    assert isinstance(out, tuple) and [H.shape for H in out] == [(9, 7), (9, 5), (9, 6), (9, 7)]
    for H, k in zip(out, [2, 0, 1, 2], strict=True):
        np.testing.assert_array_equal(H, cache.hidden[k])
    (H,) = teacher.get_hidden(X, -3)  # an int gives a 1-tuple
    np.testing.assert_array_equal(H, cache.hidden[0])
    (H,) = teacher.get_hidden(X, np.array([1]))
    np.testing.assert_array_equal(H, cache.hidden[1])


def test_get_hidden_one_sample_dtype_and_read_only_input():
    model = _model([4, 5, 3], "tanh")
    teacher = TeacherModelWrapper(model)
    x = np.arange(4.0)
    (H,) = teacher.get_hidden(x, 0)
    assert H.shape == (1, 5) and H.dtype == np.float64
    (H32,) = teacher.get_hidden(x, 0, dtype=np.float32)
    assert H32.dtype == np.float32
    np.testing.assert_allclose(H32, H, rtol=1e-6)
    assert x.flags.writeable  # the caller's array is untouched
    big = MLP([2, 3, 2], activation="identity", seed=0)
    big.set_params({k: np.full(v.shape, 1e20) for k, v in big.params.items()})
    with pytest.raises(ValueError, match=r"hidden layer 0 of the teacher .* must fit in the student's dtype float32"):
        TeacherModelWrapper(big).get_hidden(np.full(2, 1e19), 0, dtype=np.float32)
    with pytest.raises(ValueError, match="X must have 4 features|4"):
        teacher.get_hidden(np.ones((2, 3)), 0)


@pytest.mark.parametrize(("layers", "error", "match"), [
    ("0", TypeError, r"layers must be an int or a sequence of ints.*got '0'"),
    (0.0, TypeError, r"layers must be an int or a sequence of ints"),
    (True, TypeError, r"layers must be an int or a sequence of ints"),
    ([], ValueError, r"layers must name at least one hidden layer"),
    ([0, "1"], TypeError, r"layers\[1\] must be an int index of a hidden layer"),
    ([0, 2], ValueError, r"layers\[1\] must be a hidden-layer index in \[-2, 1\] \(the teacher MLP.*got 2"),
    (-3, ValueError, r"layers\[0\] must be a hidden-layer index in \[-2, 1\].*got -3"),
])
def test_get_hidden_bad_layers(layers, error, match):
    teacher = TeacherModelWrapper(MLP([4, 5, 6, 3], seed=0))
    with pytest.raises(error, match=match):
        teacher.get_hidden(np.ones((2, 4)), layers)


def test_get_hidden_refuses_a_callable_teacher_and_a_model_without_hidden_layers():
    teacher = TeacherModelWrapper(lambda X: X[:, :3])
    assert teacher.hidden_sizes is None
    with pytest.raises(TypeError, match=r"get_hidden needs an MLP teacher \(or an EnsembleTeacher of MLPs\).*"
                                        r"callable X -> logits.*wrap a minikd.MLP"):
        teacher.get_hidden(np.ones((2, 4)), -1)
    flat = TeacherModelWrapper(MLP([4, 3], seed=0))
    assert flat.hidden_sizes == ()
    with pytest.raises(ValueError, match=r"the teacher MLP\(\[4, 3\].* has no hidden layers"):
        flat.get_hidden(np.ones((2, 4)), -1)


def test_ensemble_get_hidden_is_the_weighted_mean_of_the_members():
    members = [_model([4, 5, 6, 3], "relu", seed=s) for s in range(3)]
    X = np.random.default_rng(14).normal(size=(5, 4))
    hidden = [m.forward_train(X)[1].hidden for m in members]
    ensemble = EnsembleTeacher(members)
    assert ensemble.hidden_sizes == (5, 6)
    H0, H1 = ensemble.get_hidden(X, [0, -1])
    np.testing.assert_allclose(H0, (hidden[0][0] + hidden[1][0] + hidden[2][0]) / 3, rtol=1e-13)
    np.testing.assert_allclose(H1, (hidden[0][1] + hidden[1][1] + hidden[2][1]) / 3, rtol=1e-13)
    weighted = EnsembleTeacher(members, weights=[1, 0, 3])
    (H,) = weighted.get_hidden(X, 1)
    np.testing.assert_allclose(H, 0.25 * hidden[0][1] + 0.75 * hidden[2][1], rtol=1e-13)
    (H32,) = ensemble.get_hidden(X[0], 0, dtype=np.float32)
    assert H32.shape == (1, 5) and H32.dtype == np.float32


def test_ensemble_of_different_depths_averages_layers_counted_from_the_end():
    deep, shallow = _model([4, 5, 6, 3], "tanh", seed=0), _model([4, 6, 3], "tanh", seed=1)
    ensemble = EnsembleTeacher([deep, shallow])
    assert ensemble.hidden_sizes is None  # no common tuple of widths
    X = np.random.default_rng(15).normal(size=(3, 4))
    (H,) = ensemble.get_hidden(X, -1)
    expected = (deep.forward_train(X)[1].hidden[1] + shallow.forward_train(X)[1].hidden[0]) / 2
    np.testing.assert_allclose(H, expected, rtol=1e-13)
    with pytest.raises(ValueError, match=r"layers\[0\] = 0 must name hidden layers of the same width in every "
                                         r"member to be averaged, got widths \[5, 6\]"):
        ensemble.get_hidden(X, 0)
    with pytest.raises(ValueError, match=r"layers\[0\] must be a hidden-layer index in \[-1, 0\] \(teachers\[1\]"):
        ensemble.get_hidden(X, 1)


def test_ensemble_get_hidden_refuses_a_callable_member():
    ensemble = EnsembleTeacher([MLP([4, 5, 3], seed=0), lambda X: np.zeros((len(X), 3))])
    assert ensemble.hidden_sizes is None
    with pytest.raises(TypeError, match=r"needs every member to be an MLP \(or an ensemble of MLPs\): teachers\[1\]"):
        ensemble.get_hidden(np.ones((2, 4)), 0)
