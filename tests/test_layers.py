"""Tests of minikd.layers: values against independent references, float64 gradient checks,
dtype preservation, numerical stability, and shape errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minikd.gradcheck import check_gradients
from minikd.layers import (
    ACTIVATIONS,
    ActivationCache,
    DenseCache,
    LeakyReluCache,
    dense_backward,
    dense_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)

TOL = 1e-7  # rel_error threshold of a correct float64 gradient (see minikd.gradcheck)

# Obviously-correct elementwise references: value and derivative of each activation.
REFERENCES = {
    "relu": (lambda x: x if x > 0 else 0.0, lambda x: 1.0 if x > 0 else 0.0),
    "leaky_relu": (lambda x: x if x > 0 else 0.01 * x, lambda x: 1.0 if x > 0 else 0.01),
    "tanh": (np.tanh, lambda x: 1.0 - np.tanh(x) ** 2),
    "sigmoid": (lambda x: 1.0 / (1.0 + np.exp(-x)),
                lambda x: np.exp(-x) / (1.0 + np.exp(-x)) ** 2),
    "identity": (lambda x: x, lambda x: 1.0),
}
KINKED = ("relu", "leaky_relu")


def _away_from_zero(rng, shape, low=1e-3, high=3.0):
    """Values of magnitude in [low, high): no finite-difference step below ``low`` crosses 0."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(low, high, size=shape)


# ----------------------------------------------------------------------------- dense
def test_dense_forward_matches_loop():
    rng = np.random.default_rng(0)
    x, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    out, cache = dense_forward(x, W, b)
    expected = np.zeros((4, 5))
    for n in range(4):
        for h in range(5):
            expected[n, h] = sum(x[n, d] * W[d, h] for d in range(3)) + b[h]
    np.testing.assert_allclose(out, expected, rtol=1e-12, err_msg="dense_forward != x @ W + b")
    assert isinstance(cache, DenseCache)
    assert cache.x is x and cache.W is W


def test_dense_gradients():
    rng = np.random.default_rng(1)
    x, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    _, cache = dense_forward(x, W, b)
    dx, dW, db = dense_backward(dout, cache)
    assert dx.shape == x.shape and dW.shape == W.shape and db.shape == b.shape
    errors = check_gradients(
        lambda: np.sum(dense_forward(x, W, b)[0] * dout), inputs=[x, W, b], analytic=[dx, dW, db]
    )
    assert max(errors.values()) < TOL, f"dense gradients disagree: {errors}"


def test_dense_backward_can_skip_dx():
    rng = np.random.default_rng(2)
    x, W, b = rng.standard_normal((6, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    dout = rng.standard_normal((6, 3))
    _, cache = dense_forward(x, W, b)
    dx, dW, db = dense_backward(dout, cache)
    none, dW2, db2 = dense_backward(dout, cache, need_dx=False)
    assert dx is not None and none is None
    np.testing.assert_array_equal(dW2, dW, err_msg="need_dx=False changed dW")
    np.testing.assert_array_equal(db2, db, err_msg="need_dx=False changed db")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_preserves_dtype(dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4)).astype(dtype)
    W = rng.standard_normal((4, 3)).astype(dtype)
    b = np.zeros(3, dtype=dtype)
    out, cache = dense_forward(x, W, b)
    dx, dW, db = dense_backward(np.ones_like(out), cache)
    assert out.dtype == dx.dtype == dW.dtype == db.dtype == dtype


def test_dense_shape_errors():
    x, W, b = np.ones((4, 3)), np.ones((3, 5)), np.ones(5)
    with pytest.raises(ValueError, match="x, W and b"):
        dense_forward(np.ones(3), W, b)
    with pytest.raises(ValueError, match=r"inconsistent shapes \(4, 2\), \(3, 5\)"):
        dense_forward(np.ones((4, 2)), W, b)
    with pytest.raises(ValueError, match="inconsistent"):
        dense_forward(x, W, np.ones(4))
    _, cache = dense_forward(x, W, b)
    with pytest.raises(ValueError, match=r"dout must have the shape .*\(4, 5\), got shape \(4, 4\)"):
        dense_backward(np.ones((4, 4)), cache)


# ----------------------------------------------------------------------------- activations
def test_registry():
    assert set(ACTIVATIONS) == {"relu", "leaky_relu", "tanh", "sigmoid", "identity"}
    assert ACTIVATIONS["relu"] == (relu_forward, relu_backward)
    assert ACTIVATIONS["tanh"] == (tanh_forward, tanh_backward)
    assert ACTIVATIONS["sigmoid"] == (sigmoid_forward, sigmoid_backward)
    assert ACTIVATIONS["leaky_relu"] == (leaky_relu_forward, leaky_relu_backward)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_matches_reference(name):
    forward, backward = ACTIVATIONS[name]
    value, derivative = REFERENCES[name]
    x = _away_from_zero(np.random.default_rng(4), (5, 6))
    dout = np.random.default_rng(5).standard_normal((5, 6))
    out, cache = forward(x)
    dx = backward(dout, cache)
    np.testing.assert_allclose(out, np.vectorize(value)(x), rtol=1e-12, atol=1e-15,
                               err_msg=f"{name} forward")
    np.testing.assert_allclose(dx, dout * np.vectorize(derivative)(x), rtol=1e-12, atol=1e-15,
                               err_msg=f"{name} backward")


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradients(name):
    forward, backward = ACTIVATIONS[name]
    # Gradient entries far above the finite-difference noise (~1e-16 * |f| / eps): |dout| >= 0.5
    # and |x| <= 2 (tanh' and sigmoid' >= 0.07). The kinked ones are piecewise linear, so central
    # differences are exact whenever the step (1e-4) does not cross 0, which |x| >= 1e-3 ensures.
    rng = np.random.default_rng(6)
    x = _away_from_zero(rng, (4, 5)) if name in KINKED else rng.uniform(-2, 2, (4, 5))
    dout = _away_from_zero(rng, (4, 5), low=0.5, high=1.5)
    _, cache = forward(x)
    dx = backward(dout, cache)
    eps = 1e-4 if name in KINKED else 1e-6
    errors = check_gradients(lambda: np.sum(forward(x)[0] * dout), inputs=[x], analytic=[dx],
                             eps=eps)
    assert errors[0] < TOL, f"{name}: rel_error {errors[0]:.2e}"


@pytest.mark.parametrize("slope", [0.01, 0.2, 1.5])
def test_leaky_relu_slope(slope):
    rng = np.random.default_rng(7)
    x = _away_from_zero(rng, (3, 4))
    dout = _away_from_zero(rng, (3, 4), low=0.5, high=1.5)
    out, cache = leaky_relu_forward(x, negative_slope=slope)
    assert isinstance(cache, LeakyReluCache) and cache.negative_slope == slope
    np.testing.assert_allclose(out, np.where(x > 0, x, slope * x), rtol=1e-15, err_msg="values")
    dx = leaky_relu_backward(dout, cache)
    errors = check_gradients(lambda: np.sum(leaky_relu_forward(x, slope)[0] * dout),
                             inputs=[x], analytic=[dx], eps=1e-4)
    assert errors[0] < TOL, f"leaky_relu(slope={slope}): rel_error {errors[0]:.2e}"


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_preserves_dtype_and_inputs(name, dtype):
    forward, backward = ACTIVATIONS[name]
    x = np.linspace(-3, 3, 12, dtype=dtype).reshape(3, 4)
    dout = np.linspace(1, 2, 12, dtype=dtype).reshape(3, 4)
    x0, dout0 = x.copy(), dout.copy()
    out, cache = forward(x)
    dx = backward(dout, cache)
    assert out.dtype == dtype and dx.dtype == dtype, f"{name}: {out.dtype}, {dx.dtype}"
    assert out.shape == dx.shape == x.shape
    np.testing.assert_array_equal(x, x0, err_msg=f"{name} forward modified its input")
    np.testing.assert_array_equal(dout, dout0, err_msg=f"{name} backward modified dout")


def test_leaky_relu_keeps_float32_with_numpy_slope():
    x = np.array([[-1.0, 2.0]], dtype=np.float32)
    out, cache = leaky_relu_forward(x, negative_slope=np.float64(0.1))
    dx = leaky_relu_backward(np.ones_like(x), cache)
    assert out.dtype == dx.dtype == np.float32


def test_relu_gradient_at_zero_is_zero():
    out, cache = relu_forward(np.array([[0.0, -0.0, 1.0, -1.0]]))
    np.testing.assert_array_equal(relu_backward(np.ones((1, 4)), cache), [[0.0, 0.0, 1.0, 0.0]],
                                  err_msg="ReLU subgradient convention at 0")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_and_accurate_in_the_tails(dtype):
    x = np.array([-1e4, -1e3, -80.0, -20.0, 0.0, 20.0, 80.0, 1e3, 1e4], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out, cache = sigmoid_forward(x)
        dx = sigmoid_backward(np.ones_like(x), cache)
    assert out.dtype == dtype and np.isfinite(out).all() and np.isfinite(dx).all()
    assert out[0] == 0.0 and out[-1] == 1.0 and out[4] == 0.5
    assert np.all(np.diff(out) >= 0), "sigmoid must be monotone"
    # The negative tail keeps full relative precision (1 - sigmoid(20) would not):
    tiny = np.exp(np.array([-80.0, -20.0]))
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out[2:4], tiny / (1 + tiny), rtol=rtol, err_msg="sigmoid tail")
    np.testing.assert_allclose(out[:5] + out[::-1][:5], 1.0, rtol=rtol, err_msg="symmetry")


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_backward_shape_error(name):
    forward, backward = ACTIVATIONS[name]
    _, cache = forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"dout must have the shape .*\(2, 3\)"):
        backward(np.ones((3, 2)), cache)


def test_caches_are_named_tuples():
    x = np.ones((2, 3))
    for name, (forward, _) in ACTIVATIONS.items():
        _, cache = forward(x)
        assert isinstance(cache, (ActivationCache, LeakyReluCache)), name
        assert cache.x is x, f"{name} cache.x must be the input"


@given(
    x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6),
                 elements=st.floats(-1e4, 1e4, allow_nan=False)),
    name=st.sampled_from(sorted(ACTIVATIONS)),
)
def test_activation_properties(x, name):
    forward, backward = ACTIVATIONS[name]
    dout = np.ones_like(x)
    out, cache = forward(x)
    dx = backward(dout, cache)
    assert out.shape == dx.shape == x.shape
    assert np.isfinite(out).all() and np.isfinite(dx).all()
    if name in ("relu", "leaky_relu", "tanh", "sigmoid"):  # monotone: f' >= 0
        assert (dx >= 0).all()
    if name == "tanh":
        assert (np.abs(out) <= 1).all() and (dx <= 1).all()
    if name == "sigmoid":
        assert ((out >= 0) & (out <= 1)).all() and (dx <= 0.25).all()
    if name == "relu":
        assert set(np.unique(dx)) <= {0.0, 1.0} and (out >= 0).all()
