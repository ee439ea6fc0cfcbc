"""Tests of minikd.gradcheck: numerical_gradient, rel_error and the function form of check_gradients.

The model form of check_gradients (an MLP) is tested with the MLP, in tests/test_mlp.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from minikd.gradcheck import check_gradients, numerical_gradient, rel_error


def _point(shape=(3, 4), seed=0):
    return np.random.default_rng(seed).normal(size=shape)


# ----------------------------------------------------------------------------- numerical_gradient
def test_gradient_of_sum_of_squares_is_2x():
    x = _point()
    grad = numerical_gradient(lambda: np.sum(x**2), x)
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-8, atol=1e-8,
                               err_msg="d/dx sum(x^2) = 2x (central differences)")


def test_gradient_of_sin_is_cos_and_f_may_take_x():
    x = _point((5,), seed=1) * 3
    grad = numerical_gradient(lambda v: np.sum(np.sin(v)), x)
    np.testing.assert_allclose(grad, np.cos(x), rtol=1e-8, atol=1e-8,
                               err_msg="d/dx sum(sin x) = cos x, with f(x) called with x")


def test_central_not_forward_differences():
    # A forward difference of exp at 0 is off by eps/2 = 5e-7; a central one by eps^2/6.
    x = np.zeros(1)
    grad = numerical_gradient(lambda: np.exp(x[0]), x)
    assert abs(grad[0] - 1.0) < 1e-9, f"d/dx exp(x) at 0 is 1, got {grad[0]!r}"


def test_gradient_is_per_entry_and_of_a_cross_term():
    # f = x0 * x1 + 3 x2: each entry is perturbed separately, so the gradient is (x1, x0, 3).
    x = np.array([2.0, -5.0, 7.0])
    grad = numerical_gradient(lambda: x[0] * x[1] + 3 * x[2], x)
    np.testing.assert_allclose(grad, [-5.0, 2.0, 3.0], rtol=1e-8, atol=1e-8,
                               err_msg="gradient of x0 x1 + 3 x2")


def test_x_is_restored_and_shape_and_dtype_kept():
    x = _point((2, 3, 2), seed=2)
    before = x.copy()
    grad = numerical_gradient(lambda: float(np.sum(np.tanh(x))), x)
    np.testing.assert_array_equal(x, before, err_msg="x must be restored exactly")
    assert grad.shape == x.shape and grad.dtype == np.float64


def test_x_is_restored_when_f_raises():
    x = np.array([1.0, 2.0])
    calls = []

    def f():
        calls.append(x.copy())
        raise ArithmeticError("boom")

    with pytest.raises(ArithmeticError):
        numerical_gradient(f, x)
    assert calls and calls[0][0] != 1.0, "x[0] was perturbed before the call"
    np.testing.assert_array_equal(x, [1.0, 2.0], err_msg="x must be restored after an exception")


def test_non_contiguous_zero_d_and_empty_x():
    base = _point((4, 6), seed=3)
    view = base[:, ::2]  # not contiguous; perturbing it perturbs base
    grad = numerical_gradient(lambda: np.sum(base**3), view)
    np.testing.assert_allclose(grad, 3 * view**2, rtol=1e-8, atol=1e-8,
                               err_msg="gradient through a strided view")
    scalar = np.array(1.5)
    np.testing.assert_allclose(numerical_gradient(lambda: scalar**2, scalar), 3.0, rtol=1e-8,
                               err_msg="0-D x")
    empty = np.zeros((0, 3))
    assert numerical_gradient(lambda: 0.0, empty).shape == (0, 3)


@pytest.mark.parametrize(("f", "x", "eps", "error", "match"), [
    ("not callable", np.zeros(2), 1e-6, TypeError, "f must be callable"),
    (lambda: 0.0, np.zeros(2, dtype=np.float32), 1e-6, TypeError, "x must be a float64"),
    (lambda: 0.0, [0.0, 1.0], 1e-6, TypeError, "x must be a float64"),
    (lambda: 0.0, np.zeros(2), 0.0, ValueError, "eps"),
    (lambda: 0.0, np.zeros(2), "1e-6", TypeError, "eps"),
])
def test_numerical_gradient_errors(f, x, eps, error, match):
    with pytest.raises(error, match=match):
        numerical_gradient(f, x, eps)


# ----------------------------------------------------------------------------- rel_error
@pytest.mark.parametrize(("a", "b", "expected"), [
    (1.0, 1.0, 0.0),
    (1.0, 2.0, 1 / 3),
    (-1.0, 1.0, 1.0),
    (0.0, 0.0, 0.0),  # the 1e-8 floor: no 0 / 0
    (0.0, 1e-9, 0.1),  # |diff| / 1e-8 near zero
    ([1.0, 2.0, 4.0], [1.0, 3.0, 4.0], 0.2),  # the largest elementwise error
    ([[1.0, 1.0]], [[1.0, 1.0 + 2e-12]], 1e-12),
    ([], [], 0.0),
])
def test_rel_error_values(a, b, expected):
    # rtol 1e-4: 1 + 2e-12 is not exact in binary
    np.testing.assert_allclose(rel_error(a, b), expected, rtol=1e-4, atol=1e-20,
                               err_msg=f"rel_error({a}, {b})")
    np.testing.assert_allclose(rel_error(b, a), expected, rtol=1e-4, atol=1e-20,
                               err_msg="rel_error is symmetric")
    assert isinstance(rel_error(a, b), float)


def test_rel_error_is_at_most_1_and_handles_non_finite_values():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=100) * 1e3, rng.normal(size=100) * 1e-9
    assert 0.0 <= rel_error(a, b) <= 1.0
    assert rel_error(np.inf, np.inf) == 0.0, "identical values have no error"
    assert rel_error([1.0, np.nan], [1.0, 1.0]) == 1.0, "a NaN entry never agrees"
    assert rel_error([np.nan], [np.nan]) == 1.0
    assert rel_error([np.inf], [1.0]) == 1.0
    assert rel_error([np.inf], [-np.inf]) == 1.0
    assert rel_error([1e308], [-1e308]) == 1.0, "no overflow in |a| + |b|"


def test_rel_error_shape_mismatch():
    with pytest.raises(ValueError, match=r"a and b must have the same shape, got \(3,\) and \(3, 1\)"):
        rel_error(np.zeros(3), np.zeros((3, 1)))


# ----------------------------------------------------------------------------- check_gradients
def _least_squares(seed=4):
    """f(W, b) = 0.5 ||A W + b - B||^2, with dW = A^T R and db = sum_rows R (R = A W + b - B)."""
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(5, 3)), rng.normal(size=(5, 2)) - 3  # residuals far from 0
    W, b = rng.normal(size=(3, 2)), rng.normal(size=(2,))

    def f():
        return 0.5 * np.sum((A @ W + b - B) ** 2)

    R = A @ W + b - B
    return f, W, b, A.T @ R, R.sum(axis=0)


def test_check_gradients_accepts_the_right_gradient():
    f, W, b, dW, db = _least_squares()
    errors = check_gradients(f, inputs=[W, b], analytic=[dW, db])
    assert set(errors) == {0, 1}
    assert errors[0] < 1e-7 and errors[1] < 1e-7, f"correct gradients flagged: {errors}"


@pytest.mark.parametrize("mistake", ["factor 2", "sign", "one entry", "missing bias term"])
def test_check_gradients_catches_a_wrong_gradient(mistake):
    f, W, b, dW, db = _least_squares()
    wrong_dW, wrong_db = dW.copy(), db.copy()
    if mistake == "factor 2":
        wrong_dW *= 2
    elif mistake == "sign":
        wrong_dW = -wrong_dW
    elif mistake == "one entry":
        wrong_dW[1, 0] += 0.05 * (abs(wrong_dW[1, 0]) + 1)
    else:
        wrong_db = np.zeros_like(db)
    errors = check_gradients(f, inputs=[W, b], analytic=[wrong_dW, wrong_db])
    bad = 1 if mistake == "missing bias term" else 0
    assert errors[bad] > 1e-4, f"{mistake}: wrong gradient not caught, errors {errors}"
    assert errors[1 - bad] < 1e-7, f"{mistake}: the correct gradient must still pass, {errors}"


def test_check_gradients_restores_inputs():
    f, W, b, dW, db = _least_squares()
    W0, b0 = W.copy(), b.copy()
    check_gradients(f, inputs=[W, b], analytic=[dW, db])
    np.testing.assert_array_equal(W, W0, err_msg="W restored")
    np.testing.assert_array_equal(b, b0, err_msg="b restored")


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"inputs": None, "analytic": None}, ValueError, "inputs and analytic"),
    ({"inputs": [np.zeros(2)], "analytic": []}, ValueError, "inputs and analytic"),
    ({"inputs": [np.zeros(2)], "analytic": [np.zeros(3)]}, ValueError, "same shape"),
    ({"inputs": [np.zeros(2, np.float32)], "analytic": [np.zeros(2)]}, TypeError, r"inputs\[0\]"),
])
def test_check_gradients_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        check_gradients(lambda: 0.0, **kwargs)


def test_check_gradients_rejects_non_callable():
    with pytest.raises(TypeError, match="model_or_fn"):
        check_gradients(42, inputs=[np.zeros(1)], analytic=[np.zeros(1)])
