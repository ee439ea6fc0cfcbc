"""Tests of minikd.functional: softmax, log_softmax, cross_entropy, kl_divergence, one_hot.

Three kinds of evidence:

- property tests (hypothesis) of the math: rows sum to 1, shift invariance, log_softmax = log softmax,
  CE >= 0, KL >= 0 with equality iff the distributions are equal (and Pinsker's lower bound), finite
  at extreme logits and temperatures, dtype preservation, consistent reductions;
- a slow, obviously-correct reference written with ``math.exp``/``math.log`` in Python loops, and an
  optional PyTorch cross-check;
- a fuzz test: any dtype/shape either gives a finite result of the documented dtype or a
  ValueError/TypeError, never another exception or a RuntimeWarning.
"""

from __future__ import annotations

import math
import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from minikd.functional import cross_entropy, kl_divergence, log_softmax, one_hot, softmax
from minikd.gradcheck import check_gradients

FLOAT_DTYPES = (np.float32, np.float64)
# Tolerances for results computed in each dtype (values of order one).
TOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-12}


# ----------------------------------------------------------------------------- strategies
def _elements(dtype, bound):
    width = 32 if np.dtype(dtype) == np.float32 else 64
    return st.floats(-bound, bound, width=width, allow_nan=False, allow_infinity=False)


def _shapes():
    return st.tuples(st.integers(1, 8), st.integers(1, 10))


# Temperatures log-uniform in [0.01, 1000].
temperatures = st.floats(math.log(0.01), math.log(1000.0)).map(math.exp)


@st.composite
def logits(draw, dtype=None, bound=1e4, shape=None):
    """Logits of shape (N, C), N in 1..8, C in 1..10, entries in [-bound, bound]."""
    dtype = draw(st.sampled_from(FLOAT_DTYPES)) if dtype is None else dtype
    shape = draw(_shapes()) if shape is None else shape
    return draw(hnp.arrays(dtype, shape, elements=_elements(dtype, bound)))


@st.composite
def grid_logits(draw, dtype=None):
    """Logits on the grid k / 64 with |k / 64| <= 1e4: exactly representable in float32, and so is
    every sum with an integer shift of magnitude <= 1e4 (at most 21 significant bits)."""
    dtype = draw(st.sampled_from(FLOAT_DTYPES)) if dtype is None else dtype
    shape = draw(_shapes())
    k = draw(hnp.arrays(np.int64, shape, elements=st.integers(-640_000, 640_000)))
    return (k / 64).astype(dtype)


@st.composite
def logit_pairs(draw, bound=1e4):
    """Two logit arrays of the same shape and dtype."""
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    shape = draw(_shapes())
    p = draw(logits(dtype=dtype, bound=bound, shape=shape))
    q = draw(logits(dtype=dtype, bound=bound, shape=shape))
    return p, q


# ----------------------------------------------------------------------------- slow references
def slow_log_softmax_row(row, temperature=1.0):
    """log softmax(row / T) of one row, with Python floats, math.exp/math.log and math.fsum."""
    scaled = [float(v) / temperature for v in row]
    m = max(scaled)
    log_total = math.log(math.fsum(math.exp(v - m) for v in scaled))
    return [v - m - log_total for v in scaled]


def slow_softmax(z, temperature=1.0):
    return np.array([[math.exp(v) for v in slow_log_softmax_row(row, temperature)] for row in z])


def slow_cross_entropy_rows(z, y):
    """-log p_y per row, the naive way (moderate logits only: exp must not overflow)."""
    out = []
    for row, label in zip(z.tolist(), y.tolist(), strict=True):
        exps = [math.exp(v) for v in row]
        out.append(-math.log(exps[label] / sum(exps)))
    return np.array(out)


def slow_kl_rows(p_logits, q_logits, temperature):
    """Per-row KL(softmax(p / T) || softmax(q / T)) and the sum of |terms| (the rounding scale)."""
    kls, scales = [], []
    for prow, qrow in zip(p_logits.tolist(), q_logits.tolist(), strict=True):
        logp = slow_log_softmax_row(prow, temperature)
        logq = slow_log_softmax_row(qrow, temperature)
        terms = [math.exp(a) * (a - b) for a, b in zip(logp, logq, strict=True) if math.exp(a) > 0]
        kls.append(math.fsum(terms))
        scales.append(math.fsum(abs(t) for t in terms) + 1.0)
    return np.array(kls), np.array(scales)


# ----------------------------------------------------------------------------- softmax
@given(logits(), temperatures)
def test_softmax_rows_are_probability_vectors(z, t):
    p = softmax(z, t)
    assert p.dtype == z.dtype and p.shape == z.shape
    assert np.all((p >= 0) & (p <= 1)), f"entries outside [0, 1]: {p}"
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=10 * TOL[z.dtype],
                               err_msg=f"softmax rows must sum to 1 (T={t})")


@given(logits(bound=50.0), temperatures)
def test_softmax_matches_slow_reference(z, t):
    np.testing.assert_allclose(softmax(z, t), slow_softmax(z, t), rtol=50 * TOL[z.dtype],
                               atol=TOL[z.dtype], err_msg=f"softmax differs from reference, T={t}")


@given(grid_logits(), temperatures, st.data())
def test_softmax_and_log_softmax_invariant_to_row_constant(z, t, data):
    c = data.draw(hnp.arrays(np.int64, (z.shape[0], 1), elements=st.integers(-10_000, 10_000)))
    shifted = z + c.astype(z.dtype)  # exact: every value stays on the 1/64 grid within 2e4
    tol = TOL[z.dtype]
    np.testing.assert_allclose(softmax(shifted, t), softmax(z, t), rtol=tol, atol=tol,
                               err_msg=f"softmax changed when adding {c.ravel()} to rows (T={t})")
    np.testing.assert_allclose(log_softmax(shifted, t), log_softmax(z, t), rtol=tol, atol=tol,
                               err_msg=f"log_softmax changed when adding {c.ravel()} (T={t})")


@given(logits(), temperatures)
def test_log_softmax_is_log_of_softmax(z, t):
    p = softmax(z, t)
    logp = log_softmax(z, t)
    assert logp.dtype == z.dtype and logp.shape == z.shape
    mask = p > 1e-30
    assert mask.any(axis=1).all(), "every row has a probability of at least 1/C"
    np.testing.assert_allclose(logp[mask], np.log(p[mask]), rtol=10 * TOL[z.dtype],
                               atol=10 * TOL[z.dtype], err_msg=f"log_softmax != log(softmax), T={t}")


@given(logits(), temperatures)
def test_log_softmax_is_nonpositive_and_finite(z, t):
    logp = log_softmax(z, t)
    assert np.isfinite(logp).all(), f"non-finite log_softmax at T={t}: {logp}"
    assert (logp <= 0).all(), f"positive log-probability at T={t}: {logp.max()}"


@given(logits(dtype=np.float64), temperatures)
def test_softmax_with_temperature_equals_softmax_of_scaled_logits(z, t):
    # z / T is rounded before the max is subtracted on the right-hand side: allow 1e-9.
    for fn in (softmax, log_softmax):
        np.testing.assert_allclose(fn(z, t), fn(z / t), rtol=1e-9, atol=1e-9,
                                   err_msg=f"{fn.__name__}(z, T) != {fn.__name__}(z / T), T={t}")


@given(grid_logits(dtype=np.float32), st.integers(-6, 9).map(lambda k: 2.0**k))
def test_softmax_with_temperature_equals_softmax_of_scaled_logits_float32(z, t):
    scaled = z / np.float32(t)  # exact: a power-of-two temperature only moves the exponent
    for fn in (softmax, log_softmax):
        np.testing.assert_allclose(fn(z, t), fn(scaled), rtol=TOL[z.dtype], atol=TOL[z.dtype],
                                   err_msg=f"float32 {fn.__name__}(z, T) != {fn.__name__}(z / T), T={t}")


def test_softmax_small_example_by_hand():
    z = np.array([[0.0, np.log(3.0)], [1.0, 1.0]])
    np.testing.assert_allclose(softmax(z), [[0.25, 0.75], [0.5, 0.5]], rtol=1e-15,
                               err_msg="softmax of [0, log 3] is [1/4, 3/4]")
    np.testing.assert_allclose(softmax(z, temperature=2.0)[0], [1 / (1 + np.sqrt(3)),
                                                               np.sqrt(3) / (1 + np.sqrt(3))],
                               rtol=1e-15, err_msg="T=2 takes the square root of the odds")


@pytest.mark.parametrize("fn", [softmax, log_softmax])
def test_axis_0_is_the_transpose_of_axis_minus_1(fn):
    z = np.random.default_rng(0).normal(size=(4, 3)) * 5
    np.testing.assert_allclose(fn(z, 2.0, axis=0), fn(z.T, 2.0).T, rtol=1e-14, atol=1e-15,
                               err_msg=f"{fn.__name__} along axis 0")
    np.testing.assert_allclose(fn(z, 2.0, axis=0), fn(z, 2.0, axis=-2), rtol=0, atol=0,
                               err_msg="axis=0 and axis=-2 are the same axis of a 2-D array")
    if fn is softmax:
        np.testing.assert_allclose(fn(z, axis=0).sum(axis=0), 1.0, rtol=1e-14,
                                   err_msg="columns sum to 1 with axis=0")


def test_softmax_one_sample_and_higher_dims():
    z = np.random.default_rng(1).normal(size=(2, 3, 5))
    np.testing.assert_allclose(softmax(z[0, 0]), softmax(z[:1, 0])[0], rtol=1e-15,
                               err_msg="a (C,) vector is one row")
    np.testing.assert_allclose(softmax(z), softmax(z.reshape(6, 5)).reshape(2, 3, 5), rtol=1e-15,
                               err_msg="3-D logits: softmax over the last axis")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("t", [0.01, 1.0, 1000.0])
def test_extreme_logits_and_temperatures_are_finite_examples(dtype, t):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4 - 1, -1e4]], dtype=dtype)
    q = z[::-1].copy()
    p = softmax(z, t)
    logp = log_softmax(z, t)
    assert p.dtype == dtype and logp.dtype == dtype
    assert np.isfinite(p).all() and np.isfinite(logp).all(), f"T={t}: {p}, {logp}"
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=TOL[np.dtype(dtype)] * 10)
    ce = cross_entropy(z / t, np.array([1, 0, 2]), reduction="none")
    kl = kl_divergence(z, q, t, reduction="none")
    assert np.isfinite(ce).all() and np.isfinite(kl).all(), f"T={t}: CE {ce}, KL {kl}"
    assert (ce >= 0).all() and (kl >= 0).all()
    if t == 0.01:
        # -log p of the class 2e4 below the maximum, sharpened by 1/T = 100: 2e6.
        np.testing.assert_allclose(ce[0], 2e6, rtol=1e-6, err_msg="CE of a far-off class")


def test_float32_softmax_is_accurate_for_large_close_logits():
    # s = (z - max z) / T rounds only the small differences; rounding z / T first (to ~1e6,
    # float32 spacing 0.0625) would move the exponents by up to 0.03: 4% in the probabilities.
    z = np.array([[9876.5, 9876.5 - 0.02, 9876.5 - 0.05]], dtype=np.float32)
    for fn in (softmax, log_softmax):
        np.testing.assert_allclose(fn(z, 0.01), fn(z.astype(np.float64), 0.01), rtol=1e-5,
                                   atol=1e-6, err_msg=f"float32 {fn.__name__} at T=0.01")


extreme_values = st.sampled_from([1e4, -1e4, 0.0, 9999.5, -9999.5, 1e-3])


@given(st.sampled_from(FLOAT_DTYPES), _shapes(), st.data(),
       st.sampled_from([0.01, 0.0100001, 1.0, 999.99, 1000.0]) | temperatures)
def test_all_functions_finite_at_extreme_logits_and_temperatures(dtype, shape, data, t):
    z = data.draw(hnp.arrays(dtype, shape, elements=extreme_values | _elements(dtype, 1e4)))
    v = data.draw(hnp.arrays(dtype, shape, elements=extreme_values | _elements(dtype, 1e4)))
    y = data.draw(hnp.arrays(np.int64, shape[0], elements=st.integers(0, shape[1] - 1)))
    for name, value in [("softmax", softmax(z, t)), ("log_softmax", log_softmax(z, t)),
                        ("cross_entropy", cross_entropy(z / t, y, reduction="none")),
                        ("kl_divergence", kl_divergence(v, z, t, reduction="none"))]:
        assert np.isfinite(value).all(), f"{name} is not finite at T={t}: {value}"
        assert value.dtype == dtype, f"{name} returned {value.dtype} for {np.dtype(dtype)} input"


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_dtype_is_preserved(dtype):
    z = np.random.default_rng(2).normal(size=(3, 4)).astype(dtype)
    for out in (softmax(z), log_softmax(z), softmax(z, 3.0), log_softmax(z, 0.5, axis=0),
                cross_entropy(z, [0, 1, 2], reduction="none"),
                kl_divergence(z, z[::-1], 2.0, reduction="none")):
        assert out.dtype == dtype, f"{np.dtype(dtype)} in, {out.dtype} out"


def test_dtype_policy_for_other_inputs():
    assert softmax(np.array([1, 2, 3], dtype=np.int8)).dtype == np.float64
    assert softmax(np.array([1, 2, 3], dtype=np.float16)).dtype == np.float32
    assert log_softmax([1.0, 2.0]).dtype == np.float64
    mixed = kl_divergence(np.zeros((1, 2), np.float32), np.ones((1, 2)), reduction="none")
    assert mixed.dtype == np.float64, "mixed float32/float64 KL is computed in float64"


# ----------------------------------------------------------------------------- cross-entropy
@given(logits(bound=30.0), st.data())
def test_cross_entropy_is_minus_log_p_of_the_label(z, data):
    y = data.draw(hnp.arrays(np.int64, z.shape[0], elements=st.integers(0, z.shape[1] - 1)))
    ce = cross_entropy(z, y, reduction="none")
    assert ce.dtype == z.dtype and ce.shape == (z.shape[0],)
    assert (ce >= 0).all(), f"negative cross-entropy {ce}"
    np.testing.assert_allclose(ce, slow_cross_entropy_rows(z, y), rtol=TOL[z.dtype] * 10,
                               atol=TOL[z.dtype] * 10, err_msg="CE != -log p_y (slow reference)")


@given(logits(), st.data())
def test_cross_entropy_one_hot_rows_equal_indices(z, data):
    c = z.shape[1]
    y = data.draw(hnp.arrays(np.int64, z.shape[0], elements=st.integers(0, c - 1)))
    y_hot = np.eye(c, dtype=z.dtype)[y]
    for reduction in ("none", "sum", "mean"):
        by_index = cross_entropy(z, y, reduction=reduction)
        by_row = cross_entropy(z, y_hot, reduction=reduction)
        np.testing.assert_allclose(by_row, by_index, rtol=TOL[z.dtype], atol=TOL[z.dtype],
                                   err_msg=f"one-hot rows vs indices, reduction={reduction}")


@given(logits(), st.data())
def test_cross_entropy_with_probability_rows(z, data):
    w = data.draw(hnp.arrays(np.float64, z.shape, elements=st.floats(0, 1)))
    assume((w.sum(axis=1) > 0.1).all())
    y = w / w.sum(axis=1, keepdims=True)
    ce = cross_entropy(z, y, reduction="none")
    expected = -(y * log_softmax(z).astype(np.float64)).sum(axis=1)
    np.testing.assert_allclose(ce, expected, rtol=10 * TOL[z.dtype], atol=10 * TOL[z.dtype],
                               err_msg="CE with probability rows is -sum_j y_j log p_j")
    assert (ce >= 0).all()


@given(logits(), st.data())
def test_reductions_are_consistent(z, data):
    n, c = z.shape
    y = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))
    v = data.draw(logits(dtype=z.dtype, shape=z.shape))
    t = data.draw(temperatures)
    for name, fn in [("cross_entropy", lambda r: cross_entropy(z, y, reduction=r)),
                     ("kl_divergence", lambda r: kl_divergence(v, z, t, reduction=r))]:
        per_sample = fn("none")
        assert per_sample.shape == (n,), name
        total, mean = fn("sum"), fn("mean")
        assert isinstance(total, float) and isinstance(mean, float), name
        scale = TOL[z.dtype] * (1 + float(np.abs(per_sample.astype(np.float64)).sum()))
        np.testing.assert_allclose(total, per_sample.astype(np.float64).sum(), rtol=0, atol=scale,
                                   err_msg=f"{name}: 'sum' is the sum of 'none'")
        np.testing.assert_allclose(mean, total / n, rtol=0, atol=scale / n,
                                   err_msg=f"{name}: 'mean' is the batch mean (sum / N)")


def test_single_sample_forms():
    z = np.array([1.0, 2.0, 0.5])
    expected = -np.log(softmax(z)[1])
    np.testing.assert_allclose(cross_entropy(z, 1), expected, rtol=1e-14,
                               err_msg="scalar int label for (C,) logits")
    np.testing.assert_allclose(cross_entropy(z, np.array([0.0, 1.0, 0.0])), expected, rtol=1e-14,
                               err_msg="(C,) probability row for (C,) logits")
    assert np.shape(cross_entropy(z, 1, reduction="none")) == ()
    np.testing.assert_allclose(cross_entropy(z, 1, reduction="sum"), expected, rtol=1e-14)
    np.testing.assert_allclose(kl_divergence(z, z[::-1], 2.0),
                               kl_divergence(z[None], z[None, ::-1], 2.0), rtol=1e-14,
                               err_msg="a (C,) pair is one sample")


def test_cross_entropy_gradient_is_softmax_minus_labels():
    # Moderate logits: rel_error is elementwise, so gradient entries near 1e-6 would measure the
    # finite-difference rounding (1e-10 absolute), not the formula.
    rng = np.random.default_rng(3)
    z = rng.normal(size=(4, 5))
    y = np.array([0, 4, 2, 2])
    analytic = (softmax(z) - one_hot(y, 5)) / len(y)
    errors = check_gradients(lambda: cross_entropy(z, y), inputs=[z], analytic=[analytic])
    assert errors[0] < 1e-7, f"d CE / d logits: rel_error {errors[0]:.2e}"


def test_kl_gradient_with_respect_to_student_logits():
    rng = np.random.default_rng(4)
    p, q, t = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), 2.5
    analytic = (softmax(q, t) - softmax(p, t)) / (t * len(q))
    errors = check_gradients(lambda: kl_divergence(p, q, t), inputs=[q], analytic=[analytic])
    assert errors[0] < 1e-7, f"d KL / d q_logits: rel_error {errors[0]:.2e}"


# ----------------------------------------------------------------------------- KL divergence
@given(logit_pairs(bound=100.0), temperatures)
def test_kl_matches_slow_reference(pair, t):
    p, q = pair
    kl = kl_divergence(p, q, t, reduction="none")
    assert kl.dtype == p.dtype
    expected, scale = slow_kl_rows(p, q, t)
    tol = (1e-11 if p.dtype == np.float64 else 1e-4) * scale
    assert (np.abs(kl - np.maximum(expected, 0)) <= tol).all(), (
        f"KL {kl} vs slow reference {expected} (tolerance {tol}) at T={t}"
    )


@given(logit_pairs(), temperatures)
def test_kl_is_nonnegative_and_zero_for_equal_logits(pair, t):
    p, q = pair
    kl = kl_divergence(p, q, t, reduction="none")
    assert np.isfinite(kl).all() and (kl >= 0).all(), f"KL {kl} at T={t}"
    assert (kl_divergence(p, p, t, reduction="none") == 0).all(), "KL(P || P) must be exactly 0"
    assert kl_divergence(q, q, t) == 0.0


@given(grid_logits(), temperatures, st.data())
def test_kl_is_zero_for_logits_differing_by_a_row_constant(z, t, data):
    c = data.draw(hnp.arrays(np.int64, (z.shape[0], 1), elements=st.integers(-10_000, 10_000)))
    kl = kl_divergence(z, z + c.astype(z.dtype), t, reduction="none")
    np.testing.assert_allclose(kl, 0.0, rtol=0, atol=TOL[z.dtype],
                               err_msg=f"equal softmaxes (shift {c.ravel()}) must give KL 0, T={t}")


@given(logit_pairs(bound=100.0), temperatures)
def test_kl_is_positive_for_different_distributions_pinsker(pair, t):
    p, q = (a.astype(np.float64) for a in pair)
    gap = np.abs(softmax(p, t) - softmax(q, t)).max(axis=1)  # <= total variation distance
    assume(gap.max() > 1e-3)
    kl = kl_divergence(p, q, t, reduction="none")
    # Pinsker: KL >= 2 TV^2 >= 2 gap^2 (rounding allowance 1e-9).
    assert (kl >= 2 * gap**2 - 1e-9).all(), f"KL {kl} below Pinsker's bound {2 * gap**2}"
    assert (kl[gap > 1e-3] > 0).all()


def test_kl_direction_is_teacher_then_student():
    p = np.array([[5.0, 0.0, 0.0]])
    q = np.array([[0.0, 0.0, 0.0]])  # uniform
    expected, _ = slow_kl_rows(p, q, 1.0)
    reverse, _ = slow_kl_rows(q, p, 1.0)
    assert abs(expected[0] - reverse[0]) > 0.1, "this example is asymmetric"
    np.testing.assert_allclose(kl_divergence(p, q), expected[0], rtol=1e-13,
                               err_msg="kl_divergence(p, q) is KL(softmax(p) || softmax(q))")


# ----------------------------------------------------------------------------- one_hot
def test_one_hot_values_and_dtype():
    out = one_hot([2, 0, 1, 2], 3)
    np.testing.assert_array_equal(out, [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]],
                                  err_msg="one_hot([2, 0, 1, 2], 3)")
    assert out.dtype == np.float64
    assert one_hot(np.array([1], dtype=np.uint8), 2, dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(one_hot(np.array([1.0, 0.0]), 2), [[0, 1], [1, 0]],
                                  err_msg="whole-number floats are indices")


def test_one_hot_scalar_and_empty():
    out = one_hot(1, 4)
    np.testing.assert_array_equal(out, [0, 1, 0, 0], err_msg="scalar label gives a (C,) row")
    assert out.shape == (4,)
    np.testing.assert_array_equal(one_hot(np.int64(0), 1), [1.0])
    assert one_hot(np.array([], dtype=np.int64), 3).shape == (0, 3)


@pytest.mark.parametrize(("labels", "num_classes", "dtype", "error", "match"), [
    ([3], 3, np.float64, ValueError, "labels"),
    ([-1], 3, np.float64, ValueError, "labels"),
    ([0.5], 3, np.float64, ValueError, "labels"),
    ([[0, 1]], 2, np.float64, ValueError, "labels"),
    ([[1], [1, 2]], 3, np.float64, TypeError, "labels"),
    ("1", 3, np.float64, TypeError, "labels"),
    ([True], 3, np.float64, TypeError, "labels"),
    ([1], 0, np.float64, ValueError, "num_classes"),
    ([1], 2.0, np.float64, TypeError, "num_classes"),
    ([1], 3, np.int64, TypeError, "dtype"),
    ([1], 3, "not a dtype", TypeError, "dtype"),
])
def test_one_hot_errors(labels, num_classes, dtype, error, match):
    with pytest.raises(error, match=match):
        one_hot(labels, num_classes, dtype=dtype)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: softmax([1.0, 2.0], temperature=0.0), ValueError, "temperature"),
    (lambda: softmax([1.0, 2.0], temperature=-1.0), ValueError, "temperature"),
    (lambda: softmax([1.0, 2.0], temperature=float("nan")), ValueError, "temperature"),
    (lambda: softmax([1.0, 2.0], temperature="3"), TypeError, "temperature"),
    (lambda: log_softmax([1.0, 2.0], temperature=10**400), ValueError, "temperature"),
    (lambda: softmax([1.0, 2.0], axis=1), ValueError, "axis"),
    (lambda: softmax([1.0, 2.0], axis=0.0), TypeError, "axis"),
    (lambda: softmax(1.0), ValueError, "z"),
    (lambda: softmax([]), ValueError, "z"),
    (lambda: softmax([1.0, np.nan]), ValueError, "z"),
    (lambda: log_softmax(np.array([1 + 1j])), TypeError, "z"),
    (lambda: cross_entropy([[1.0, 2.0]], [2]), ValueError, "labels"),
    (lambda: cross_entropy([[1.0, 2.0]], [0, 1]), ValueError, "labels"),
    (lambda: cross_entropy([[1.0, 2.0]], [[0.5, 0.6]]), ValueError, "labels"),
    (lambda: cross_entropy([[1.0, 2.0]], [0], reduction="avg"), ValueError, "reduction"),
    (lambda: cross_entropy(np.ones((1, 2, 2)), [0]), ValueError, "logits"),
    (lambda: kl_divergence([[1.0, 2.0]], [[1.0, 2.0, 3.0]]), ValueError, "p_logits and q_logits"),
    (lambda: kl_divergence([[1.0, 2.0]], [[np.inf, 2.0]]), ValueError, "q_logits"),
    (lambda: kl_divergence([[1.0, 2.0]], [[1.0, 2.0]], temperature=0), ValueError, "temperature"),
    (lambda: kl_divergence([[1.0]], [[1.0]], reduction=None), TypeError, "reduction"),
])
def test_bad_input_errors_name_the_parameter(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_beyond_the_float_range_raises_instead_of_inf(dtype):
    big = np.finfo(dtype).max * 0.75
    z = np.array([[big, -big]], dtype=dtype)  # the row spans 1.5 times the largest float
    for t in (1e-3, 1.0):
        p = softmax(z, t)
        np.testing.assert_array_equal(p, [[1.0, 0.0]], err_msg="softmax is exact in the limit")
        with pytest.raises(ValueError, match="temperature"):
            log_softmax(z, t)  # log p of the second class is -1.5 max / T: not representable
    with pytest.raises(ValueError, match="logits"):
        cross_entropy(z, [1])
    np.testing.assert_array_equal(cross_entropy(z, [0], reduction="none"), [0.0],
                                  err_msg="CE of the dominant class is 0 whatever the other logits")
    with pytest.raises(ValueError, match="p_logits"):
        kl_divergence(z[:, ::-1], z, 1e-3)
    assert kl_divergence(z, z, 1e-3) == 0.0


@pytest.mark.parametrize("t", [5e-324, 1e-300, 1e-40, 1e39, 1e300])
def test_temperatures_outside_the_float32_range(t):
    z = np.array([[1.0, 2.0, 2.0], [3e38, -3e38, 0.0]], dtype=np.float32)
    p = softmax(z, t)
    assert p.dtype == np.float32 and np.isfinite(p).all()
    reference = softmax(z.astype(np.float64), t)
    np.testing.assert_allclose(p, reference, rtol=1e-6, atol=1e-7,
                               err_msg=f"float32 softmax at T={t} vs float64")


# ----------------------------------------------------------------------------- torch cross-check
def test_torch_cross_check():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    p, q = rng.normal(size=(6, 7)) * 4, rng.normal(size=(6, 7)) * 4
    y = rng.integers(0, 7, size=6)
    w = rng.random((6, 7))
    y_prob = w / w.sum(axis=1, keepdims=True)
    tp, tq = torch.from_numpy(p), torch.from_numpy(q)
    for t in (0.5, 1.0, 4.0):
        np.testing.assert_allclose(log_softmax(p, t), F.log_softmax(tp / t, dim=-1).numpy(),
                                   rtol=1e-12, atol=1e-12, err_msg=f"log_softmax vs torch, T={t}")
        expected = F.kl_div(F.log_softmax(tq / t, dim=-1), F.log_softmax(tp / t, dim=-1),
                            log_target=True, reduction="batchmean").item()
        np.testing.assert_allclose(kl_divergence(p, q, t), expected, rtol=1e-12, atol=1e-12,
                                   err_msg=f"kl_divergence vs torch kl_div batchmean, T={t}")
    for reduction in ("mean", "sum", "none"):
        for labels in (y, y_prob):
            expected = F.cross_entropy(tq, torch.from_numpy(labels), reduction=reduction).numpy()
            np.testing.assert_allclose(cross_entropy(q, labels, reduction=reduction), expected,
                                       rtol=1e-12, atol=1e-12,
                                       err_msg=f"cross_entropy vs torch, {reduction}, {labels.dtype}")


# ----------------------------------------------------------------------------- fuzz
FUZZ_DTYPES = [np.int8, np.int64, np.uint8, np.float16, np.float32, np.float64, np.bool_,
               np.object_, np.complex128]


@st.composite
def fuzz_arrays(draw, shape=None):
    """An array of a random dtype and shape (0-D to 3-D, possibly empty), any values."""
    dtype = np.dtype(draw(st.sampled_from(FUZZ_DTYPES)))
    if shape is None:
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    if dtype.kind == "O":
        elements = st.integers(-3, 3) | st.floats(allow_nan=False) | st.none()
    elif dtype.kind in "fc":
        nonfinite = draw(st.booleans())
        elements = hnp.from_dtype(dtype, allow_nan=nonfinite, allow_infinity=nonfinite)
    else:
        elements = hnp.from_dtype(dtype)
    return draw(hnp.arrays(dtype, shape, elements=elements))


@st.composite
def fuzz_labels(draw, logits_shape):
    """Labels that are often valid for ``logits_shape``, and often not."""
    n_c = logits_shape[-1] if len(logits_shape) else 1
    n = logits_shape[0] if len(logits_shape) == 2 else None
    index_shape = () if n is None else (n,)
    choices = [fuzz_arrays(), fuzz_arrays(shape=index_shape)]
    if n_c > 0:
        dtype = draw(st.sampled_from([np.int8, np.uint8, np.int64, np.float32, np.float64]))
        choices.append(hnp.arrays(np.int64, index_shape, elements=st.integers(0, min(n_c - 1, 127)))
                       .map(lambda a: a.astype(dtype)))
        choices.append(hnp.arrays(np.float64, logits_shape, elements=st.floats(0, 1)).map(
            lambda a: a / a.sum(axis=-1, keepdims=True) if (a.sum(axis=-1) > 0).all() else a))
    return draw(st.one_of(choices))


def _float_result_dtype(dtype):
    """The documented result dtype for logits of ``dtype`` (float16 -> float32, ints -> float64)."""
    dtype = np.dtype(dtype)
    return np.dtype(np.float32) if dtype in (np.float16, np.float32) else np.dtype(np.float64)


def _outcome(fn, *args, **kwargs):
    """Call fn; return its result, or None for a ValueError/TypeError. Anything else propagates,
    and RuntimeWarnings are errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        # the documented warning above a dtype's accurate temperature range is expected for wild draws
        warnings.filterwarnings("ignore", message=".*the largest temperature at which it is accurate",
                                category=UserWarning)
        try:
            return fn(*args, **kwargs)
        except (ValueError, TypeError):
            return None


def _assert_finite(value, expected_dtype, what):
    if isinstance(value, float):
        assert math.isfinite(value), f"{what}: {value}"
        return
    assert isinstance(value, np.ndarray), f"{what} returned {type(value)}"
    assert value.dtype == expected_dtype, f"{what}: dtype {value.dtype}, expected {expected_dtype}"
    assert np.isfinite(value).all(), f"{what}: non-finite result {value}"


fuzz_temperatures = (st.just(1.0) | st.floats(allow_nan=True, allow_infinity=True)
                     | st.integers(-2, 10**400) | st.sampled_from([True, "2", None, 1e-320, 1e300]))


@given(fuzz_arrays(), fuzz_temperatures, st.integers(-4, 3))
def test_fuzz_softmax_and_log_softmax(z, t, axis):
    for fn in (softmax, log_softmax):
        out = _outcome(fn, z, t, axis)
        if out is not None:
            what = f"{fn.__name__}({z.dtype} {z.shape}, T={t!r}, axis={axis})"
            _assert_finite(out, _float_result_dtype(z.dtype), what)
            assert out.shape == z.shape, what
            if fn is softmax:
                assert ((out >= 0) & (out <= 1)).all(), what


@given(st.data(), st.sampled_from(["mean", "sum", "none"]))
def test_fuzz_cross_entropy(data, reduction):
    z = data.draw(fuzz_arrays())
    y = data.draw(fuzz_labels(z.shape))
    out = _outcome(cross_entropy, z, y, reduction=reduction)
    if out is not None:
        what = f"cross_entropy({z.dtype} {z.shape}, {y.dtype} {y.shape}, {reduction})"
        _assert_finite(out, _float_result_dtype(z.dtype), what)
        assert np.all(np.asarray(out) >= 0), what


@given(st.data(), fuzz_temperatures, st.sampled_from(["mean", "sum", "none"]))
def test_fuzz_kl_divergence(data, t, reduction):
    p = data.draw(fuzz_arrays())
    q = data.draw(st.one_of(fuzz_arrays(), fuzz_arrays(shape=p.shape)))
    out = _outcome(kl_divergence, p, q, t, reduction=reduction)
    if out is not None:
        what = f"kl_divergence({p.dtype} {p.shape}, {q.dtype} {q.shape}, T={t!r}, {reduction})"
        expected = np.result_type(_float_result_dtype(p.dtype), _float_result_dtype(q.dtype))
        _assert_finite(out, expected, what)
        assert np.all(np.asarray(out) >= 0), what


@given(fuzz_arrays(), st.integers(-1, 5) | st.sampled_from([2.0, True, None]))
def test_fuzz_one_hot(labels, num_classes):
    out = _outcome(one_hot, labels, num_classes)
    if out is not None:
        what = f"one_hot({labels.dtype} {labels.shape}, {num_classes!r})"
        _assert_finite(out, np.dtype(np.float64), what)
        assert out.shape == labels.shape + (num_classes,), what
        assert set(np.unique(out)) <= {0.0, 1.0} and (out.sum(axis=-1) == 1).all(), what
