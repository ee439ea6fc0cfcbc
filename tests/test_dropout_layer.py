"""Tests of minikd.layers' inverted dropout: the formula with a fixed mask, float64 gradient checks,
the statistics of the drawn mask (seeded, so deterministic), dtype preservation, p = 0, and the
validation of p, rng and mask."""

import numpy as np
import pytest

from minikd.gradcheck import numerical_gradient, rel_error
from minikd.layers import DropoutCache, dropout_backward, dropout_forward

TOL = 1e-7  # rel_error threshold of a correct float64 gradient (see minikd.gradcheck)


def _mask_with_both(rng, shape, p):
    """A keep-mask drawn at rate 1 - p with at least one kept and one dropped entry."""
    mask = rng.random(shape) >= p
    flat = mask.reshape(-1)
    flat[0], flat[-1] = True, False
    return mask


# ----------------------------------------------------------------------------- the formula, fixed mask
@pytest.mark.parametrize("seed", range(8))
def test_forward_with_a_fixed_mask_is_the_formula(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 7, size=rng.integers(1, 4)))
    p = float(rng.uniform(0, 0.95))
    x = rng.standard_normal(shape)
    mask = rng.random(shape) >= p
    x0 = x.copy()
    out, cache = dropout_forward(x, p, mask=mask)
    assert isinstance(cache, DropoutCache)
    assert cache.mask is mask and cache.scale == 1 / (1 - p)
    np.testing.assert_array_equal(out, np.where(mask, x * (1 / (1 - p)), 0.0),
                                  err_msg=f"out != x * mask / (1 - p) at p = {p}")
    np.testing.assert_allclose(out, x * mask / (1 - p), rtol=4.5e-16, atol=0,
                               err_msg="out vs division (two roundings apart at most)")
    np.testing.assert_array_equal(x, x0, err_msg="dropout_forward modified x")
    assert out.shape == x.shape and out is not x


@pytest.mark.parametrize("seed", range(10))
def test_backward_matches_finite_differences(seed):
    rng = np.random.default_rng(100 + seed)
    shape = tuple(rng.integers(2, 7, size=rng.integers(1, 4)))
    p = float(rng.uniform(0.05, 0.9))
    x = rng.standard_normal(shape)
    dout = rng.standard_normal(shape)
    mask = _mask_with_both(rng, shape, p)
    out, cache = dropout_forward(x, p, mask=mask)
    dx = dropout_backward(dout, cache)
    dout0 = dout.copy()
    numeric = numerical_gradient(lambda: np.sum(dropout_forward(x, p, mask=mask)[0] * dout), x)
    err = rel_error(dx, numeric)
    assert err < TOL, f"shape {shape}, p = {p}: rel_error {err:.2e}"
    np.testing.assert_array_equal(dx, dout * mask * (1 / (1 - p)), err_msg="dx != dout * mask / (1 - p)")
    np.testing.assert_array_equal(dx[~mask], 0.0, err_msg="a dropped entry passed gradient")
    np.testing.assert_array_equal(dout, dout0, err_msg="dropout_backward modified dout")


def test_backward_uses_the_forward_mask_and_scale():
    rng = np.random.default_rng(3)
    x, dout = rng.standard_normal((5, 7)), rng.standard_normal((5, 7))
    out, cache = dropout_forward(x, 0.3, rng)
    dx = dropout_backward(dout, cache)
    np.testing.assert_array_equal(dx, dout * cache.mask * (1 / 0.7), err_msg="dx = dout * mask / (1 - p)")
    np.testing.assert_array_equal(out == 0, ~cache.mask, err_msg="out is 0 exactly where dropped")


def test_backward_shape_error():
    _, cache = dropout_forward(np.ones((2, 3)), 0.5, np.random.default_rng(0))
    expected = r"dout must have the shape of the dropout output \(2, 3\), got shape \(3, 2\)"
    with pytest.raises(ValueError, match=expected):
        dropout_backward(np.ones((3, 2)), cache)


# ----------------------------------------------------------------------------- statistics (seeded)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_kept_fraction_is_one_minus_p(p):
    n = 200_000
    x = np.ones((400, 500))
    out, cache = dropout_forward(x, p, np.random.default_rng(11))
    assert cache.mask.dtype == np.bool_ and cache.mask.shape == x.shape
    kept = cache.mask.mean()
    se = np.sqrt(p * (1 - p) / n)
    assert abs(kept - (1 - p)) < 4 * se, f"p = {p}: kept {kept:.5f}, expected {1 - p} +- {4 * se:.5f}"
    assert set(np.unique(out)) == {0.0, 1 / (1 - p)}, "entries must be 0 or 1 / (1 - p)"


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_mean_output_is_x(p):
    # 1,000 draws of a constant (8, 25) x from one generator: 200,000 samples of x_i m_i / (1 - p),
    # whose variance is c**2 p / (1 - p).
    c, draws = 2.5, 1000
    x = np.full((8, 25), c)
    rng = np.random.default_rng(12)
    total = np.zeros_like(x)
    for _ in range(draws):
        total += dropout_forward(x, p, rng)[0]
    mean = total.sum() / (draws * x.size)
    se = c * np.sqrt(p / (1 - p) / (draws * x.size))
    assert abs(mean - c) < 4 * se, f"p = {p}: mean {mean:.5f}, expected {c} +- {4 * se:.5f}"
    # and at every position (a mask that favoured some entries would show here)
    per_entry_se = c * np.sqrt(p / (1 - p) / draws)
    worst = np.abs(total / draws - c).max()
    assert worst < 5 * per_entry_se, f"p = {p}: an entry's mean is {worst / per_entry_se:.1f} SE from {c}"


def test_masks_depend_on_the_seed_only():
    x = np.ones((50, 40))
    a = dropout_forward(x, 0.5, np.random.default_rng(1))[1].mask
    b = dropout_forward(x, 0.5, np.random.default_rng(1))[1].mask
    c = dropout_forward(x, 0.5, np.random.default_rng(2))[1].mask
    np.testing.assert_array_equal(a, b, err_msg="the same seed must give the same mask")
    assert (a != c).any(), "different seeds gave the same mask"
    rng = np.random.default_rng(1)
    first, second = (dropout_forward(x, 0.5, rng)[1].mask for _ in range(2))
    np.testing.assert_array_equal(first, a)
    assert (first != second).any(), "one generator must give a new mask on each call"
    # the uniforms are float64 whatever x is: a float32 x gets the same mask from the same seed
    f32 = dropout_forward(x.astype(np.float32), 0.5, np.random.default_rng(1))[1].mask
    np.testing.assert_array_equal(f32, a, err_msg="float32 and float64 x got different masks")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.0, 0.3])
def test_preserves_dtype(dtype, p):
    x = np.linspace(-3, 3, 12, dtype=dtype).reshape(3, 4)
    out, cache = dropout_forward(x, np.float64(p), np.random.default_rng(0))
    dx = dropout_backward(np.ones_like(x), cache)
    assert out.dtype == dtype and dx.dtype == dtype, f"{out.dtype}, {dx.dtype}"
    assert type(cache.scale) is float
    out, cache = dropout_forward(x, p, mask=np.ones(x.shape, dtype=bool))
    assert out.dtype == dx.dtype == dtype


# ----------------------------------------------------------------------------- p = 0
def test_p_zero_returns_x_itself_and_draws_nothing():
    x = np.random.default_rng(4).standard_normal((3, 5))
    rng = np.random.default_rng(5)
    state = rng.bit_generator.state
    out, cache = dropout_forward(x, 0, rng)
    assert out is x, "p = 0 must return x itself"
    assert rng.bit_generator.state == state, "p = 0 must not advance rng"
    assert cache.scale == 1.0
    assert cache.mask.shape == x.shape and cache.mask.dtype == np.bool_ and cache.mask.all()
    dout = np.arange(15.0).reshape(3, 5)
    dx = dropout_backward(dout, cache)
    np.testing.assert_array_equal(dx, dout, err_msg="p = 0: dx must equal dout")
    assert dx is not dout
    with pytest.raises(TypeError, match="rng"):  # required at p = 0 too
        dropout_forward(x, 0.0)


def test_a_given_mask_is_used_also_at_p_zero_and_rng_is_not_advanced():
    x = np.arange(1.0, 7.0).reshape(2, 3)
    mask = np.array([[True, False, True], [False, True, False]])
    rng = np.random.default_rng(6)
    state = rng.bit_generator.state
    out, cache = dropout_forward(x, 0.0, rng, mask=mask)
    np.testing.assert_array_equal(out, [[1.0, 0.0, 3.0], [0.0, 5.0, 0.0]])
    assert cache.mask is mask and rng.bit_generator.state == state
    out, _ = dropout_forward(x, 0.5, rng, mask=mask)
    np.testing.assert_array_equal(out, [[2.0, 0.0, 6.0], [0.0, 10.0, 0.0]])
    assert rng.bit_generator.state == state, "a given mask must not advance rng"


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("p, match", [
    (-0.1, r"p must be a number in \[0, 1\), got -0\.1"),
    (1, r"p must be a number in \[0, 1\), got 1: .*nothing would be kept"),
    (1.0, r"got 1\.0: .*nothing would be kept"),
    (1.5, r"p must be a number in \[0, 1\), got 1\.5"),
    (float("nan"), r"p must be a number in \[0, 1\), got nan"),
    (float("inf"), r"p must be a number in \[0, 1\), got inf"),
    (10**400, r"p must be a number in \[0, 1\), got 1000"),
])
def test_p_value_errors(p, match):
    with pytest.raises(ValueError, match=match):
        dropout_forward(np.ones((2, 3)), p, np.random.default_rng(0))


@pytest.mark.parametrize("p, match", [
    (True, r"p must be a real number, got True \(type bool\)"),
    ("0.5", r"p must be a real number, got '0\.5' \(type str\)"),
    (None, r"p must be a real number, got None"),
])
def test_p_type_errors(p, match):
    with pytest.raises(TypeError, match=match):
        dropout_forward(np.ones((2, 3)), p, np.random.default_rng(0))


@pytest.mark.parametrize("rng, shown", [
    (None, r"None \(type NoneType\)"),
    (42, r"42 \(type int\)"),
    (np.random.RandomState(0), r"RandomState.*\(type RandomState\)"),
])
def test_rng_errors(rng, shown):
    with pytest.raises(TypeError, match=r"rng must be a np\.random\.Generator .*unless mask is given, got " + shown):
        dropout_forward(np.ones((2, 3)), 0.5, rng)


@pytest.mark.parametrize("mask, error, match", [
    (np.ones((3, 2), dtype=bool), ValueError, r"mask must have the shape of x \(2, 3\), got shape \(3, 2\)"),
    (np.ones(6, dtype=bool), ValueError, r"mask must have the shape of x \(2, 3\), got shape \(6,\)"),
    (np.ones((2, 3)), TypeError, r"mask must be a boolean ndarray .*\(2, 3\), got ndarray of shape \(2, 3\) "
                                 r"and dtype float64"),
    (np.ones((2, 3), dtype=np.int8), TypeError, r"mask must be a boolean ndarray .*dtype int8"),
    ([[True] * 3] * 2, TypeError, r"mask must be a boolean ndarray .*\(type list\)"),
])
def test_mask_errors(mask, error, match):
    with pytest.raises(error, match=match):
        dropout_forward(np.ones((2, 3)), 0.5, mask=mask)


def test_accepts_numpy_and_int_p():
    x = np.ones((2, 3))
    mask = np.array([[True, False, True], [True, True, False]])
    for p in (np.float64(0.5), np.float32(0.5), 0):
        out, cache = dropout_forward(x, p, mask=mask)
        assert type(cache.scale) is float and cache.scale == 1 / (1 - float(p))
