"""Tests of dropout in the MLP (DESIGN.md, "Beyond logits", "Recipe and schedules"):
``MLP(..., dropout=, input_dropout=)`` drops in ``forward_train`` only, ``cache.hidden`` holds the
dropped outputs, ``backward`` applies the cached masks (central differences with the masks held
fixed), rate 0 is the model without dropout, ``dropout_rng`` is seeded, separate from the weights and
saved/restored as plain data, configs and checkpoints carry the rates, and bad rates are refused."""

import json
import math

import numpy as np
import pytest

import minikd.mlp
from minikd import MLP, SGD, SupervisedTrainer, TeacherModelWrapper
from minikd._checkpoint_format import decode, encode
from minikd._run_state import check_rng_state
from minikd.checkpoint import CheckpointError, DistillationCheckpointConfig, load_checkpoint
from minikd.datasets import make_blobs
from minikd.gradcheck import check_gradients, numerical_gradient, rel_error
from minikd.layers import ACTIVATIONS, DropoutCache

TOL = 1e-7  # rel_error threshold of a correct float64 gradient (see minikd.gradcheck)
ACTS = sorted(ACTIVATIONS)
KINKED = ("relu", "leaky_relu")
EPS = {"relu": 1e-4, "leaky_relu": 1e-4, "identity": 1e-4, "tanh": 1e-5, "sigmoid": 3e-5}  # as test_mlp


def _model(sizes, activation="relu", seed=0, **rates):
    """A float64 model with random non-zero biases (so no unit sits at a ReLU kink by construction)."""
    model = MLP(sizes, activation=activation, seed=seed, **rates)
    rng = np.random.default_rng(seed + 100)
    model.set_params({k: rng.normal(0, 0.5, v.shape) if k.startswith("b") else v for k, v in model.params.items()})
    return model


def _reference_weights(sizes, activation, rng, dtype=np.float64):
    """The documented initialisation, drawn by hand from ``rng`` (He for ReLU-like, else Glorot)."""
    params = {}
    for k in range(1, len(sizes)):
        fan_in, fan_out = sizes[k - 1], sizes[k]
        var = 2 / fan_in if activation in KINKED else 2 / (fan_in + fan_out)
        params[f"W{k}"] = (rng.standard_normal((fan_in, fan_out)) * math.sqrt(var)).astype(dtype)
        params[f"b{k}"] = np.zeros(fan_out, dtype)
    return params


def _masks(cache):
    """Every keep-mask of a forward pass, the input's first (None where nothing was dropped)."""
    drops = [cache.input_dropout] + [layer.dropout for layer in cache.layers[:-1]]
    return [None if d is None else d.mask for d in drops]


def _assert_same_masks(a, b, what):
    assert len(a) == len(b), what
    for i, (m, n) in enumerate(zip(a, b, strict=True)):
        assert (m is None) == (n is None), f"{what}: mask {i}"
        if m is not None:
            np.testing.assert_array_equal(m, n, err_msg=f"{what}: mask {i}")


def _margin(cache):
    """Distance of the nearest pre-activation from 0 (a ReLU kink)."""
    return min((np.abs(layer.activation.x).min() for layer in cache.layers[:-1]), default=np.inf)


# ----------------------------------------------------------------------------- rate 0: the model of before
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("sizes", [[4, 3], [4, 6, 3], [5, 7, 6, 3]])
def test_rate_zero_is_the_model_built_without_the_arguments(sizes, activation, dtype):
    plain = MLP(sizes, activation=activation, seed=11, dtype=dtype)
    zero = MLP(sizes, activation=activation, seed=11, dtype=dtype, dropout=0.0, input_dropout=0.0)
    reference = _reference_weights(sizes, activation, np.random.default_rng(11), dtype)
    for key in reference:
        assert plain.params[key].dtype == dtype
        np.testing.assert_array_equal(plain.params[key], reference[key], err_msg=f"{key}: init stream changed")
        np.testing.assert_array_equal(zero.params[key], reference[key], err_msg=f"{key} at rate 0")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, sizes[0]))
    biased = {k: rng.normal(0, 0.5, v.shape) if k.startswith("b") else v for k, v in plain.params.items()}
    out = []
    for model in (plain, zero):
        model.set_params(biased)
        logits, cache = model.forward_train(X, need_input_grad=True)
        dhidden = {k: np.ones_like(H) for k, H in enumerate(cache.hidden)}
        grads, dX = model.backward(np.ones_like(logits), cache, dhidden)
        out.append((logits, cache.hidden, grads, dX))
    (l1, h1, g1, x1), (l2, h2, g2, x2) = out
    np.testing.assert_array_equal(l1, l2, err_msg="logits")
    for k, (a, b) in enumerate(zip(h1, h2, strict=True)):
        np.testing.assert_array_equal(a, b, err_msg=f"hidden[{k}]")
    for key in g1:
        np.testing.assert_array_equal(g1[key], g2[key], err_msg=f"grad {key}")
    np.testing.assert_array_equal(x1, x2, err_msg="dX")
    np.testing.assert_array_equal(l1, plain.forward(X), err_msg="forward_train at rate 0 vs forward")


def test_a_generator_seed_is_advanced_by_the_weights_only():
    sizes = [4, 6, 5, 3]
    given, by_hand = np.random.default_rng(5), np.random.default_rng(5)
    model = MLP(sizes, seed=given, dropout=0.5)
    reference = _reference_weights(sizes, "relu", by_hand)
    for key in reference:
        np.testing.assert_array_equal(model.params[key], reference[key], err_msg=key)
    assert given.bit_generator.state == by_hand.bit_generator.state, "the dropout generator drew from the seed"


def test_rate_zero_draws_nothing_and_makes_no_mask(monkeypatch):
    model = _model([4, 6, 5, 3])
    X = np.random.default_rng(1).normal(size=(5, 4))
    before = model.dropout_rng.bit_generator.state

    def fail(*args):
        raise AssertionError("a mask was drawn at rate 0")

    monkeypatch.setattr(minikd.mlp, "_draw_dropout", fail)
    logits, cache = model._forward_train(X, need_input_grad=True)
    model._backward(np.ones_like(logits), cache)
    model.forward_train(X)
    assert _masks(cache) == [None, None, None]
    assert cache.layers[0].dense.x is X, "the input was copied"
    for k, H in enumerate(cache.hidden):
        assert H is cache.layers[k].activation.out, f"hidden[{k}] is not the activation output itself"
    assert model.dropout_rng.bit_generator.state == before, "forward_train at rate 0 advanced dropout_rng"


def test_each_rate_drops_only_its_own_arrays():
    X = np.random.default_rng(2).normal(size=(8, 4))
    _, cache = _model([4, 6, 5, 3], dropout=0.5)._forward_train(X)
    masks = _masks(cache)
    assert masks[0] is None and cache.layers[0].dense.x is X and all(m is not None for m in masks[1:])
    _, cache = _model([4, 6, 5, 3], input_dropout=0.5)._forward_train(X)
    masks = _masks(cache)
    assert masks[0] is not None and masks[1:] == [None, None]
    assert all(H is cache.layers[k].activation.out for k, H in enumerate(cache.hidden))


# ----------------------------------------------------------------------------- evaluation never drops
def test_forward_predict_and_predict_proba_never_drop():
    dropping = _model([4, 16, 12, 3], dropout=0.5, input_dropout=0.3)
    plain = _model([4, 16, 12, 3])
    for key in plain.params:
        np.testing.assert_array_equal(dropping.params[key], plain.params[key], err_msg=key)
    X = np.random.default_rng(3).normal(size=(20, 4))
    state = dropping.dropout_rng.bit_generator.state
    np.testing.assert_array_equal(dropping.forward(X), plain.forward(X), err_msg="forward dropped")
    np.testing.assert_array_equal(dropping.forward(X[0]), plain.forward(X[0]), err_msg="forward of one sample")
    np.testing.assert_array_equal(dropping.predict(X), plain.predict(X), err_msg="predict")
    np.testing.assert_array_equal(dropping.predict_proba(X, 2.0), plain.predict_proba(X, 2.0), err_msg="proba")
    logits, cache = dropping.forward_train(X, drop=False)
    np.testing.assert_array_equal(logits, plain.forward(X), err_msg="forward_train(drop=False)")
    assert _masks(cache) == [None, None, None]
    assert dropping.dropout_rng.bit_generator.state == state, "evaluation advanced dropout_rng"
    trained, _ = dropping.forward_train(X)
    assert not np.allclose(trained, plain.forward(X)), "forward_train did not drop: the test above proves nothing"


def test_a_teachers_hidden_layers_and_logits_never_drop():
    X = np.random.default_rng(4).normal(size=(10, 4))
    dropping = TeacherModelWrapper(_model([4, 16, 12, 3], dropout=0.5, input_dropout=0.2))
    plain = TeacherModelWrapper(_model([4, 16, 12, 3]))
    state = dropping.model.dropout_rng.bit_generator.state
    for a, b in zip(dropping.get_hidden(X, [0, -1]), plain.get_hidden(X, [0, -1]), strict=True):
        np.testing.assert_array_equal(a, b, err_msg="get_hidden dropped")
    np.testing.assert_array_equal(dropping.get_logits(X), plain.get_logits(X), err_msg="get_logits dropped")
    assert dropping.model.dropout_rng.bit_generator.state == state


# ----------------------------------------------------------------------------- the formula, keep rate, scaling
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_cache_holds_the_dropped_outputs_that_the_next_layer_used(dtype):
    p, p_in = 0.4, 0.25
    model = MLP([5, 9, 7, 3], seed=0, dtype=dtype, dropout=p, input_dropout=p_in)
    X = np.random.default_rng(5).normal(size=(6, 5)).astype(dtype)
    logits, cache = model.forward_train(X)
    assert isinstance(cache.input_dropout, DropoutCache) and cache.input_dropout.scale == 1 / (1 - p_in)
    m0 = cache.input_dropout.mask
    assert m0.dtype == np.bool_ and m0.shape == X.shape
    np.testing.assert_array_equal(cache.layers[0].dense.x, X * m0 * (1 / (1 - p_in)), err_msg="dropped X")
    assert cache.layers[0].dense.x.dtype == dtype
    a = cache.layers[0].dense.x
    for k, H in enumerate(cache.hidden):
        layer = cache.layers[k]
        z = a @ model.params[f"W{k + 1}"] + model.params[f"b{k + 1}"]
        np.testing.assert_allclose(layer.activation.out, np.maximum(z, 0), rtol=1e-6, err_msg=f"a[{k}]")
        assert layer.dropout.scale == 1 / (1 - p) and layer.dropout.mask.shape == H.shape
        expected = np.where(layer.dropout.mask, layer.activation.out * (1 / (1 - p)), 0)
        np.testing.assert_array_equal(H, expected, err_msg=f"hidden[{k}] != a * mask / (1 - p)")
        assert H is cache.layers[k + 1].dense.x and H.dtype == dtype
        a = H
    np.testing.assert_allclose(logits, a @ model.params["W3"] + model.params["b3"], rtol=1e-6)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_the_empirical_keep_rate_is_one_minus_p(p):
    model = MLP([40, 400, 300, 3], seed=1, dropout=p, input_dropout=p)
    X = np.random.default_rng(6).normal(size=(100, 40))
    _, cache = model.forward_train(X)
    for i, mask in enumerate(_masks(cache)):
        n = mask.size
        kept = mask.mean()
        sigma = math.sqrt(p * (1 - p) / n)
        assert abs(kept - (1 - p)) < 5 * sigma, f"mask {i}: kept {kept:.4f} of {n}, expected {1 - p} +- {sigma:.4f}"


@pytest.mark.parametrize("p", [0.2, 0.6])
def test_the_inverse_scaling_keeps_the_expected_logits(p):
    """A linear network without biases is linear in each mask, so the mean of its logits over masks is
    forward(X); without the 1 / (1 - p) factors it would be (1 - p)(1 - p_in) forward(X)."""
    p_in = p / 2
    model = MLP([6, 30, 4], activation="identity", seed=0, dropout=p, input_dropout=p_in)
    X = np.random.default_rng(7).normal(size=(3, 6))
    draws = np.stack([model.forward_train(X)[0] for _ in range(4000)])
    mean, se = draws.mean(axis=0), draws.std(axis=0) / math.sqrt(len(draws))
    expected = model.forward(X)
    assert np.all(np.abs(mean - expected) < 5 * se), (mean, expected, se)
    unscaled = (1 - p) * (1 - p_in) * expected
    assert np.any(np.abs(unscaled - expected) > 20 * se), "the test could not tell the scaling from none"


# ----------------------------------------------------------------------------- backward vs finite differences
def _fixed_mask_check(model, X, dlogits, dhidden, eps):
    """Analytic gradients of L = sum(dlogits * logits) + sum_k sum(dH_k * hidden_k) (hidden_k the dropped
    outputs) vs central differences for every parameter and X, every pass replaying ``dropout_rng`` so
    that it draws the masks of the analytic pass (checked); return {name: rel_error}.

    As test_mlp_hidden's ``noise_aware`` check: a central difference carries rounding noise of about
    macheps * S / eps, S the sum of the magnitudes of L's terms, whatever the size of the entry (masks
    and 1 / (1 - p) spread the entries over many orders of magnitude); entries below 1e-3 * S are
    compared absolutely, to 1e-9 * S, and the relative error is taken over the others."""
    start = model.dropout_rng.bit_generator.state
    logits, cache = model.forward_train(X, need_input_grad=True)
    grads, dX = model.backward(dlogits, cache, dhidden=dhidden)
    masks = _masks(cache)
    n_hidden = len(model.hidden_sizes)
    S = float(np.abs(dlogits * logits).sum() + sum(np.abs(dH * cache.hidden[k % n_hidden]).sum()
                                                    for k, dH in dhidden.items()))

    def loss() -> float:
        model.dropout_rng.bit_generator.state = start
        out, c = model.forward_train(X)
        _assert_same_masks(_masks(c), masks, "a finite-difference pass drew other masks")
        return float(np.sum(out * dlogits) + sum(np.sum(dH * c.hidden[k % n_hidden]) for k, dH in dhidden.items()))

    pairs = {name: (grads[name], numerical_gradient(loss, p, eps)) for name, p in model.params.items()}
    pairs["X"] = (dX, numerical_gradient(loss, X, eps))
    errors = {}
    for name, (analytic, numeric) in pairs.items():
        big = np.abs(analytic) >= 1e-3 * S
        assert big.any(), f"{name}: no entry large enough to compare relatively"
        errors[name] = rel_error(analytic[big], numeric[big])
        small_error = np.abs(analytic - numeric)[~big].max(initial=0.0)
        assert small_error <= 1e-9 * S, (name, small_error, S)
    return errors


@pytest.mark.parametrize("with_dhidden", [False, True], ids=["dlogits", "dlogits+dhidden"])
@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("sizes", [[4, 6, 3], [4, 7, 6, 3], [5, 8, 6, 7, 3]])
def test_backward_matches_finite_differences_with_the_masks_held_fixed(sizes, activation, with_dhidden):
    model = _model(sizes, activation, seed=4, dropout=0.4, input_dropout=0.3)
    rng = np.random.default_rng(4)
    X = rng.choice([-1.0, 1.0], (4, sizes[0])) * rng.uniform(0.5, 1.5, (4, sizes[0]))
    state = model.dropout_rng.bit_generator.state
    logits, cache = model.forward_train(X)
    model.dropout_rng.bit_generator.state = state
    assert activation not in KINKED or _margin(cache) > 1e-2, "a pre-activation is too close to a kink"
    for i, mask in enumerate(_masks(cache)):
        assert mask.any() and not mask.all(), f"mask {i} keeps everything or nothing: the check would be weak"
    dlogits = rng.normal(size=logits.shape)
    n_hidden = len(sizes) - 2
    dhidden = {k: rng.normal(size=cache.hidden[k].shape) for k in ([0, -1] if n_hidden > 1 else [0])}
    errors = _fixed_mask_check(model, X, dlogits, dhidden if with_dhidden else {}, EPS[activation])
    assert max(errors.values()) < TOL, errors


def test_dhidden_is_the_gradient_with_respect_to_the_dropped_output():
    """One hidden layer by hand: dL/dW1 = Xd^T (f'(z) * (G * m / (1 - p))), Xd the dropped input,
    for L = sum(G * hidden[0]); the other convention (G taken at the activation output) differs."""
    p, p_in = 0.5, 0.2
    model = _model([4, 10, 3], activation="tanh", dropout=p, input_dropout=p_in)
    rng = np.random.default_rng(8)
    X = rng.normal(size=(6, 4))
    logits, cache = model.forward_train(X)
    G = rng.normal(size=cache.hidden[0].shape)
    grads = model.backward(np.zeros_like(logits), cache, dhidden={0: G})
    Xd, a, m = cache.layers[0].dense.x, cache.layers[0].activation.out, cache.layers[0].dropout.mask
    np.testing.assert_array_equal(Xd, X * cache.input_dropout.mask * (1 / (1 - p_in)))
    dz = (1 - a**2) * (G * m / (1 - p))
    np.testing.assert_allclose(grads["W1"], Xd.T @ dz, rtol=1e-12, err_msg="dW1")
    np.testing.assert_allclose(grads["b1"], dz.sum(axis=0), rtol=1e-12, err_msg="db1")
    assert not grads["W2"].any() and not grads["b2"].any()
    other = Xd.T @ ((1 - a**2) * G)
    assert rel_error(grads["W1"], other) > 1e-2, "the two conventions agree here: the test proves nothing"


def test_backward_uses_the_masks_of_the_cache_it_is_given():
    model = _model([4, 8, 6, 3], dropout=0.5, input_dropout=0.3)
    X = np.random.default_rng(9).normal(size=(5, 4))
    logits, first = model.forward_train(X, need_input_grad=True)
    dlogits = np.ones_like(logits)
    grads_then, dX_then = model.backward(dlogits, first)
    _, second = model.forward_train(X, need_input_grad=True)
    assert any(not np.array_equal(a, b) for a, b in zip(_masks(first), _masks(second), strict=True))
    state = model.dropout_rng.bit_generator.state
    grads_now, dX_now = model.backward(dlogits, first)
    assert model.dropout_rng.bit_generator.state == state, "backward drew from dropout_rng"
    for key in grads_then:
        np.testing.assert_array_equal(grads_now[key], grads_then[key], err_msg=key)
    np.testing.assert_array_equal(dX_now, dX_then)
    np.testing.assert_array_equal(dX_now[~first.input_dropout.mask], 0.0, err_msg="a dropped input got gradient")


def test_a_one_sample_pass_drops_like_a_batch_of_one():
    model = _model([4, 8, 6, 3], dropout=0.5, input_dropout=0.3)
    x = np.random.default_rng(10).normal(size=4)
    state = model.dropout_rng.bit_generator.state
    logits, cache = model.forward_train(x, need_input_grad=True)
    grads, dx = model.backward(np.ones(3), cache, dhidden={-1: np.ones((1, 6))})
    model.dropout_rng.bit_generator.state = state
    logits2, cache2 = model.forward_train(x[None, :], need_input_grad=True)
    grads2, dx2 = model.backward(np.ones((1, 3)), cache2, dhidden={-1: np.ones((1, 6))})
    assert logits.shape == (3,) and dx.shape == (4,) and cache.hidden[0].shape == (1, 8)
    _assert_same_masks(_masks(cache), _masks(cache2), "one sample vs a batch of one")
    np.testing.assert_array_equal(logits, logits2[0])
    np.testing.assert_array_equal(dx, dx2[0])
    for key in grads:
        np.testing.assert_array_equal(grads[key], grads2[key], err_msg=key)


# ----------------------------------------------------------------------------- randomness
def test_the_same_seed_gives_the_same_masks_and_a_new_pass_new_ones():
    X = np.random.default_rng(11).normal(size=(6, 5))
    a = MLP([5, 9, 7, 3], seed=7, dropout=0.5, input_dropout=0.2)
    b = MLP([5, 9, 7, 3], seed=7, dropout=0.5, input_dropout=0.2)
    single = MLP([5, 9, 7, 3], seed=7, dropout=0.5, input_dropout=0.2, dtype=np.float32)
    other = MLP([5, 9, 7, 3], seed=8, dropout=0.5, input_dropout=0.2)
    passes = []
    for i in range(3):
        masks = _masks(a.forward_train(X)[1])
        _assert_same_masks(masks, _masks(b.forward_train(X)[1]), f"pass {i}, same seed")
        _assert_same_masks(masks, _masks(single.forward_train(X)[1]), f"pass {i}, float32 vs float64")
        passes.append(masks)
        assert any(not np.array_equal(m, n) for m, n in zip(masks, _masks(other.forward_train(X)[1]), strict=True))
    for i in (1, 2):
        assert all(not np.array_equal(m, n) for m, n in zip(passes[0], passes[i], strict=True)), f"pass {i} repeats"


def test_the_dropout_generator_is_the_documented_child_of_the_seed():
    model = MLP([4, 5, 3], seed=3, dropout=0.5)
    child = np.random.default_rng(np.random.SeedSequence(3).spawn(1)[0])
    assert model.dropout_rng.bit_generator.state == child.bit_generator.state
    assert model.dropout_rng.bit_generator.state != np.random.default_rng(3).bit_generator.state


def test_models_built_from_one_generator_get_different_streams_reproducibly():
    def two(seed):
        g = np.random.default_rng(seed)
        return MLP([4, 5, 3], seed=g, dropout=0.5), MLP([4, 5, 3], seed=g, dropout=0.5)

    first, second = two(1)
    again, _ = two(1)
    assert first.dropout_rng.bit_generator.state != second.dropout_rng.bit_generator.state
    assert first.dropout_rng.bit_generator.state == again.dropout_rng.bit_generator.state


def test_a_bit_generator_without_a_seed_sequence_is_not_advanced():
    class Words(np.random.bit_generator.ISeedSequence):  # no spawn(), as a legacy-seeded bit generator
        def generate_state(self, n_words, dtype=np.uint32):
            return np.arange(1, n_words + 1, dtype=dtype)

    given, by_hand = (np.random.Generator(np.random.PCG64(Words())) for _ in range(2))
    model = MLP([4, 5, 3], seed=given, dropout=0.5)
    np.testing.assert_array_equal(model.params["W1"], _reference_weights([4, 5, 3], "relu", by_hand)["W1"])
    assert given.bit_generator.state == by_hand.bit_generator.state
    assert isinstance(model.dropout_rng.bit_generator, np.random.PCG64)
    X = np.ones((3, 4))
    model.forward_train(X)  # draws
    assert given.bit_generator.state == by_hand.bit_generator.state


def _plain_data(value) -> bool:
    if isinstance(value, dict):
        return all(type(k) is str and _plain_data(v) for k, v in value.items())
    return type(value) in (str, int)


def test_the_dropout_rng_state_round_trips_as_plain_data():
    model = MLP([5, 9, 7, 3], seed=2, dropout=0.5, input_dropout=0.2)
    other = MLP([5, 9, 7, 3], seed=99, dropout=0.5, input_dropout=0.2)
    X = np.random.default_rng(12).normal(size=(6, 5))
    model.forward_train(X)  # not the initial state
    state = model.dropout_rng.bit_generator.state
    assert _plain_data(state) and json.loads(json.dumps(state)) == state
    assert check_rng_state(state, "dropout_rng") == state, "the trainer's rule for a generator state"
    state["state"]["state"] += 1  # a new dict each time: changing it changes nothing
    state = model.dropout_rng.bit_generator.state
    masks = _masks(model.forward_train(X)[1])
    model.dropout_rng.bit_generator.state = json.loads(json.dumps(state))
    _assert_same_masks(_masks(model.forward_train(X)[1]), masks, "after restoring the state")
    other.dropout_rng.bit_generator.state = state
    _assert_same_masks(_masks(other.forward_train(X)[1]), masks, "another model given the state")


def test_copy_carries_the_rates_and_an_independent_generator_in_the_same_state():
    model = MLP([5, 9, 3], seed=4, dropout=0.3, input_dropout=0.1)
    X = np.random.default_rng(13).normal(size=(6, 5))
    clone = model.copy()
    assert (clone.dropout, clone.input_dropout) == (0.3, 0.1) and clone.dropout_rng is not model.dropout_rng
    state = model.dropout_rng.bit_generator.state
    masks = _masks(clone.forward_train(X)[1])
    assert model.dropout_rng.bit_generator.state == state, "the copy's draws advanced the original"
    _assert_same_masks(_masks(model.forward_train(X)[1]), masks, "the copy starts from the original's state")


# ----------------------------------------------------------------------------- config
def test_the_config_round_trip_carries_the_rates():
    model = MLP([5, 9, 3], activation="tanh", seed=4, dropout=0.3, input_dropout=0.1)
    config = model.get_config()
    assert config == {"layer_sizes": [5, 9, 3], "activation": "tanh", "dtype": "float64",
                      "dropout": 0.3, "input_dropout": 0.1, "max_norm": None}
    assert json.loads(json.dumps(config)) == config and type(config["dropout"]) is float
    rebuilt = MLP.from_config(config, params=model.params)
    assert (rebuilt.dropout, rebuilt.input_dropout) == (0.3, 0.1)
    assert repr(rebuilt) == repr(model) and "dropout=0.3, input_dropout=0.1" in repr(model)
    X = np.random.default_rng(14).normal(size=(4, 5))
    np.testing.assert_array_equal(rebuilt.forward(X), model.forward(X))
    fresh, same = MLP.from_config(config, seed=4), MLP([5, 9, 3], activation="tanh", seed=4, dropout=0.3,
                                                       input_dropout=0.1)
    np.testing.assert_array_equal(fresh.params["W1"], same.params["W1"])
    assert fresh.dropout_rng.bit_generator.state == same.dropout_rng.bit_generator.state


def test_a_config_without_the_rates_gives_no_dropout():
    model = MLP.from_config({"layer_sizes": [3, 4, 2], "activation": "relu", "dtype": "float32"}, seed=0)
    assert (model.dropout, model.input_dropout) == (0.0, 0.0)
    assert model.get_config() == {"layer_sizes": [3, 4, 2], "activation": "relu", "dtype": "float32",
                                  "dropout": 0.0, "input_dropout": 0.0, "max_norm": None}
    assert "dropout" not in repr(model)
    model = MLP.from_config({"layer_sizes": [3, 4, 2], "activation": "relu", "dtype": "float32", "dropout": 0.5})
    assert (model.dropout, model.input_dropout) == (0.5, 0.0)


@pytest.mark.parametrize(
    "extra, error, match",
    [
        ({"dropout": 1.0}, ValueError, r"dropout must be a number in \[0, 1\), got 1\.0"),
        ({"input_dropout": -0.5}, ValueError, r"input_dropout must be a number in \[0, 1\), got -0\.5"),
        ({"dropout": "0.5"}, TypeError, "dropout"),
        ({"dropout_rate": 0.5}, ValueError, "config has unexpected key 'dropout_rate'"),
    ],
)
def test_bad_rates_in_a_config(extra, error, match):
    with pytest.raises(error, match=match):
        MLP.from_config({"layer_sizes": [3, 2], "activation": "relu", "dtype": "float64", **extra})


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("name", ["dropout", "input_dropout"])
@pytest.mark.parametrize(
    "value, error, match",
    [
        (1.0, ValueError, r"{name} must be a number in \[0, 1\), got 1\.0: {name} is the probability of dropping"),
        (1, ValueError, r"{name} must be a number in \[0, 1\), got 1\b.*nothing would be kept"),
        (1.5, ValueError, r"{name} must be a number in \[0, 1\), got 1\.5$"),
        (-0.1, ValueError, r"{name} must be a number in \[0, 1\), got -0\.1"),
        (float("nan"), ValueError, r"{name} must be a number in \[0, 1\), got nan"),
        (float("inf"), ValueError, r"{name} must be a number in \[0, 1\), got inf"),
        ("0.5", TypeError, "{name}"),
        (True, TypeError, "{name}"),
        (None, TypeError, "{name}"),
    ],
)
def test_bad_rates_are_refused_naming_the_parameter_rule_and_value(name, value, error, match):
    with pytest.raises(error, match=match.format(name=name)):
        MLP([3, 4, 2], **{name: value})


def test_good_rates_are_stored_as_python_floats():
    model = MLP([3, 4, 2], dropout=np.float32(0.5), input_dropout=0)
    assert type(model.dropout) is float and type(model.input_dropout) is float
    assert (model.dropout, model.input_dropout) == (0.5, 0.0)


def test_drop_must_be_a_bool():
    with pytest.raises(TypeError, match="drop must be True or False, got"):
        MLP([3, 2], dropout=0.5).forward_train(np.ones((1, 3)), drop="no")


# ----------------------------------------------------------------------------- gradcheck
def test_check_gradients_holds_the_masks_fixed_and_leaves_the_stream_alone():
    model = _model([4, 7, 6, 3], activation="tanh", dropout=0.5, input_dropout=0.3)
    X = np.random.default_rng(15).normal(size=(5, 4))
    state = model.dropout_rng.bit_generator.state
    errors = check_gradients(model, X, eps=1e-5)
    assert max(errors.values()) < TOL, errors
    assert model.dropout_rng.bit_generator.state == state, "check_gradients changed the model's dropout stream"


def test_check_gradients_catches_a_wrong_dropout_backward(monkeypatch):
    model = _model([4, 7, 6, 3], activation="tanh", dropout=0.5)
    X = np.random.default_rng(16).normal(size=(5, 4))
    monkeypatch.setattr(minikd.mlp, "dropout_backward", lambda dout, cache: dout * cache.mask)  # no 1 / (1 - p)
    errors = check_gradients(model, X, eps=1e-5)
    assert errors["W1"] > 1e-2 and errors["W2"] > 1e-2, errors
    assert errors["W3"] < TOL, "the last layer's gradient does not go through a mask"


# ----------------------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A genuine checkpoint of a student with dropout after one epoch."""
    X, y = make_blobs(n_samples=40, n_features=4, n_classes=3, seed=0)
    directory = tmp_path_factory.mktemp("dropout-run")
    config = DistillationCheckpointConfig(directory, save_every_epochs=1, keep_best_n=0, best_metric="loss")
    SupervisedTrainer(checkpoint_config=config, seed=0).train(
        MLP([4, 8, 3], seed=1, dropout=0.3, input_dropout=0.1), X, y, epochs=1, batch_size=20,
        optimizer=SGD(0.05), verbose=0)
    (path,) = sorted(directory.glob("*.pkl"))
    return path


def test_a_checkpoint_carries_the_rates(saved):
    ckpt = load_checkpoint(saved)
    assert (ckpt.student.dropout, ckpt.student.input_dropout) == (0.3, 0.1)


def _rewrite(saved, tmp_path, mutate):
    raw = decode(saved.read_bytes())
    mutate(raw["student"]["config"])
    path = tmp_path / "crafted.pkl"
    path.write_bytes(encode(raw))
    return path


def test_a_checkpoint_saved_before_dropout_loads_without_it(saved, tmp_path):
    def old(config):
        del config["dropout"], config["input_dropout"]

    ckpt = load_checkpoint(_rewrite(saved, tmp_path, old))
    assert (ckpt.student.dropout, ckpt.student.input_dropout) == (0.0, 0.0)


@pytest.mark.parametrize("key", ["dropout", "input_dropout"])
@pytest.mark.parametrize("value", [1.0, 1, -0.1, float("nan"), float("inf"), "0.3", True, None, [0.3]])
def test_a_crafted_checkpoint_with_a_bad_rate_is_a_checkpoint_error(saved, tmp_path, key, value):
    path = _rewrite(saved, tmp_path, lambda config: config.update({key: value}))
    match = rf"crafted\.pkl.*student\['config'\]\['{key}'\] must be a number in \[0, 1\)"
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path)
