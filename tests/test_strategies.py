"""Tests of minikd.strategies: every gradient against finite differences, every loss against a slow
loop reference (tests/reference_losses.py) and, when PyTorch is installed, against autograd; the
properties of Hinton's loss; bad input.

Finite differences and their resolution
---------------------------------------
Central differences with step eps resolve a derivative only to about
``macheps * |loss terms| / eps`` in absolute terms (plus O(eps^2) truncation). With
eps = 1e-5 * max(1, T) and temperatures in [0.5, 8] we measured (12 000 random draws per
strategy) absolute differences below 1e-9 * max(|L|, 1). So the checks are: ``rel_error < 1e-7``
over every entry of size at least 1e-2 * max(|L|, 1) (where FD noise is below 1e-7 relative), and
``|analytic - numeric| <= 2e-8 * max(|L|, 1)`` over all entries. An entry smaller than the FD
resolution cannot be checked to 1e-7 *relative* error by any float64 finite difference; those
entries are covered by the absolute check and by the PyTorch comparison (1e-10).
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import reference_losses as ref
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minikd.functional import cross_entropy, kl_divergence, softmax
from minikd.gradcheck import numerical_gradient, rel_error
from minikd.strategies import (
    CompositeStrategy,
    CrossEntropyLoss,
    DecoupledKDLoss,
    DistillationLoss,
    DistillationStrategy,
    LogitMatchingLoss,
    strategy_from_config,
)

FD_EPS = 1e-5


# ----------------------------------------------------------------------------- helpers
def make_labels(rng, mode, n, c):
    if mode == "none":
        return None
    if mode == "index":
        return rng.integers(0, c, size=n)
    return rng.dirichlet(np.ones(c), size=n)


@st.composite
def batches(draw, label_modes=("none", "index", "prob"), min_classes=2, max_classes=6,
            max_samples=5, scale=(0.25, 2.5)):
    """(z, v, labels): random logits of a hypothesis-drawn shape, scale and seed."""
    n = draw(st.integers(1, max_samples))
    c = draw(st.integers(min_classes, max_classes))
    s = draw(st.floats(*scale))
    mode = draw(st.sampled_from(label_modes))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    z = rng.standard_normal((n, c)) * s
    v = rng.standard_normal((n, c)) * s
    return z, v, make_labels(rng, mode, n, c)


temperatures = st.floats(0.5, 8.0)
fractions = st.floats(0.0, 1.0)


def assert_gradient_matches_fd(strategy, z, v, labels, temperature=1.0):
    """Analytic gradient vs float64 central differences of compute_loss (see module docstring).

    The soft terms depend on z only through z / T, so the step is ``FD_EPS * max(1, T)``: the same
    step in z / T at every temperature (with a fixed step the T^2-weighted rounding would grow
    relative to the gradient as T grows)."""
    loss, grad, _ = strategy.loss_and_gradient(z, v, labels)
    numeric = numerical_gradient(lambda x: strategy.compute_loss(x, v, labels), z.copy(),
                                 eps=FD_EPS * max(1.0, temperature))
    scale = max(abs(loss), 1.0)
    resolved = np.abs(grad) >= 1e-2 * scale
    err = rel_error(grad[resolved], numeric[resolved])
    assert err < 1e-7, (
        f"{strategy!r}: rel_error {err:.3g} over {resolved.sum()} resolved entries\n"
        f"analytic={grad}\nnumeric={numeric}"
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=2e-8 * scale,
                               err_msg=f"{strategy!r}: analytic vs numeric gradient")


def as_lists(a):
    return None if a is None else [row.tolist() if hasattr(row, "tolist") else row for row in a]


def labels_for_ref(labels):
    if labels is None:
        return None
    return [int(y) for y in labels] if labels.ndim == 1 else [list(r) for r in labels]


# ----------------------------------------------------------------------------- gradients vs FD
@given(batches(), temperatures, fractions)
def test_distillation_loss_gradient_matches_finite_differences(batch, temperature, alpha):
    z, v, labels = batch
    assert_gradient_matches_fd(DistillationLoss(temperature, alpha), z, v, labels, temperature)


@given(batches(), fractions, st.booleans())
def test_logit_matching_gradient_matches_finite_differences(batch, alpha, center):
    z, v, labels = batch
    assert_gradient_matches_fd(LogitMatchingLoss(alpha, center=center), z, v, labels)


@given(batches(label_modes=("index", "prob")), temperatures, st.floats(0.0, 2.0),
       st.floats(0.0, 8.0))
def test_dkd_gradient_matches_finite_differences(batch, temperature, alpha, beta):
    z, v, labels = batch
    assert_gradient_matches_fd(DecoupledKDLoss(temperature, alpha, beta), z, v, labels,
                               temperature)


@given(batches(label_modes=("index",)), temperatures, fractions, st.floats(0.0, 2.0),
       st.floats(0.0, 2.0))
def test_composite_gradient_matches_finite_differences(batch, temperature, alpha, w1, w2):
    z, v, labels = batch
    composite = CompositeStrategy([
        (w1 + 0.1, DistillationLoss(temperature, alpha)),
        (w2, DecoupledKDLoss(temperature, 1.0, 2.0)),
        (0.5, LogitMatchingLoss(center=True)),
    ])
    assert_gradient_matches_fd(composite, z, v, labels, temperature)


def test_gradient_check_can_fail():
    """The FD helper is not a tautology: a wrong gradient (T instead of T**2 scaling) is caught."""

    class WrongScale(DistillationLoss):
        def _compute(self, z, v, kind, y):
            loss, dz, parts = super()._compute(z, v, kind, y)
            return loss, dz * self.temperature, parts

    rng = np.random.default_rng(0)
    z, v = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    with pytest.raises(AssertionError):
        assert_gradient_matches_fd(WrongScale(2.0, 0.0), z, v, None)


# ----------------------------------------------------------------------------- loop references
@given(batches(), temperatures, fractions)
def test_distillation_loss_matches_loop_reference(batch, temperature, alpha):
    z, v, labels = batch
    got = DistillationLoss(temperature, alpha).compute_loss(z, v, labels)
    want = ref.hinton_loss(as_lists(z), as_lists(v), labels_for_ref(labels), temperature, alpha)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13, err_msg="Hinton loss vs loop")


@given(batches(), fractions, st.booleans())
def test_logit_matching_matches_loop_reference(batch, alpha, center):
    z, v, labels = batch
    got = LogitMatchingLoss(alpha, center=center).compute_loss(z, v, labels)
    want = ref.logit_matching_loss(as_lists(z), as_lists(v), labels_for_ref(labels), alpha, center)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13, err_msg="logit matching vs loop")


@given(batches(label_modes=("index", "prob")), temperatures, st.floats(0.0, 2.0),
       st.floats(0.0, 8.0))
def test_dkd_matches_loop_reference(batch, temperature, alpha, beta):
    z, v, labels = batch
    got = DecoupledKDLoss(temperature, alpha, beta).compute_loss(z, v, labels)
    want = ref.dkd_loss(as_lists(z), as_lists(v), labels_for_ref(labels), temperature, alpha, beta)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13, err_msg="DKD vs loop")


def test_reference_hinton_loss_by_hand():
    """The loop reference itself, on numbers worked out by hand: T=2, alpha=0.5, one sample."""
    z, v, y, T = [2.0, 0.0], [0.0, 0.0], [0], 2.0
    p = [math.e / (math.e + 1), 1 / (math.e + 1)]  # softmax(z / 2)
    kl = 0.5 * math.log(0.5 / p[0]) + 0.5 * math.log(0.5 / p[1])
    ce = -math.log(math.exp(2) / (math.exp(2) + 1))
    want = 0.5 * ce + 0.5 * 4 * kl
    assert math.isclose(ref.hinton_loss([z], [v], y, T, 0.5), want, rel_tol=1e-14)
    got = DistillationLoss(T, 0.5).compute_loss(np.array(z), np.array(v), 0)
    assert math.isclose(got, want, rel_tol=1e-14)


# ----------------------------------------------------------------------------- Hinton properties
wide_logits = st.integers(1, 4).flatmap(
    lambda n: st.integers(1, 6).flatmap(
        lambda c: st.tuples(
            hnp.arrays(np.float64, (n, c), elements=st.floats(-1e4, 1e4)),
            hnp.arrays(np.float64, (n, c), elements=st.floats(-1e4, 1e4)),
        )
    )
)
wide_temperatures = st.floats(0.01, 1000.0)


@given(wide_logits, wide_temperatures, fractions)
def test_distillation_loss_is_nonnegative_without_labels(zv, temperature, alpha):
    """L >= 0, and more: L obeys Pinsker's bound KL(q || p) >= ||q - p||_1^2 / 2 row by row, which
    a sign error or a wrong scale would break (the per-sample clip at 0 alone could not)."""
    z, v = zv
    loss, dz, parts = DistillationLoss(temperature, alpha).loss_and_gradient(z, v)
    assert loss >= 0.0, f"loss {loss} < 0 for T={temperature}"
    l1 = np.abs(softmax(v, temperature) - softmax(z, temperature)).sum(axis=1)
    pinsker = temperature**2 * np.mean(l1**2) / 2
    rounding = 1e-13 * temperature**2 * (1 + max(np.abs(z).max(), np.abs(v).max()) / temperature)
    assert loss >= pinsker - rounding, f"loss {loss} below Pinsker bound {pinsker}"
    assert parts["hard"] is None
    assert loss == parts["soft"]


@given(wide_logits, wide_temperatures, st.sampled_from(["none", "index"]))
def test_distillation_loss_is_zero_when_student_equals_teacher(zv, temperature, mode):
    z, _ = zv
    labels = None if mode == "none" else np.zeros(z.shape[0], dtype=int)
    loss, dz, _ = DistillationLoss(temperature, alpha=0.0).loss_and_gradient(z, z.copy(), labels)
    assert loss == 0.0
    np.testing.assert_array_equal(dz, np.zeros_like(z), err_msg="gradient at student == teacher")


@given(batches(label_modes=("none", "index")), temperatures, fractions,
       st.floats(-100, 100), st.floats(-100, 100), st.integers(0, 2**32 - 1))
def test_distillation_loss_is_invariant_to_per_row_constants(batch, temperature, alpha,
                                                             cz, cv, seed):
    z, v, labels = batch
    rng = np.random.default_rng(seed)
    shift_z = cz * rng.random((z.shape[0], 1))  # a different constant for every row
    shift_v = cv * rng.random((z.shape[0], 1))
    strategy = DistillationLoss(temperature, alpha)
    loss0, grad0, _ = strategy.loss_and_gradient(z, v, labels)
    loss1, grad1, _ = strategy.loss_and_gradient(z + shift_z, v + shift_v, labels)
    np.testing.assert_allclose(loss1, loss0, rtol=1e-10, atol=1e-11, err_msg="loss after shift")
    np.testing.assert_allclose(grad1, grad0, rtol=1e-9, atol=1e-11, err_msg="gradient after shift")


@given(batches(label_modes=("none", "index")), wide_temperatures, fractions)
def test_distillation_gradient_rows_sum_to_zero(batch, temperature, alpha):
    z, v, labels = batch
    dz = DistillationLoss(temperature, alpha).compute_gradient(z * 10, v * 10, labels)
    scale = max(1.0, temperature) / z.shape[0]
    np.testing.assert_allclose(dz.sum(axis=1), 0.0, atol=1e-14 * scale, err_msg="row sums")


@given(batches(label_modes=("index", "prob")), wide_temperatures)
def test_alpha_one_is_plain_cross_entropy(batch, temperature):
    z, v, labels = batch
    loss, dz, parts = DistillationLoss(temperature, alpha=1.0).loss_and_gradient(z, v, labels)
    assert loss == cross_entropy(z, labels)
    targets = np.eye(z.shape[1])[labels] if labels.ndim == 1 else labels
    np.testing.assert_allclose(dz, (softmax(z) - targets) / z.shape[0], rtol=1e-14, atol=2e-16,
                               err_msg="alpha=1 gradient vs plain cross-entropy gradient")
    assert parts == {"soft": 0.0, "hard": loss}


@given(batches(label_modes=("index", "prob")), wide_temperatures)
def test_alpha_zero_with_labels_is_the_pure_soft_term(batch, temperature):
    z, v, labels = batch
    strategy = DistillationLoss(temperature, alpha=0.0)
    loss, dz, parts = strategy.loss_and_gradient(z, v, labels)
    np.testing.assert_allclose(loss, temperature**2 * kl_divergence(v, z, temperature),
                               rtol=1e-13, atol=1e-300, err_msg="T^2 KL")
    assert parts["hard"] == 0.0 and parts["soft"] == loss
    no_labels_loss, no_labels_dz, _ = strategy.loss_and_gradient(z, v)
    assert loss == no_labels_loss
    np.testing.assert_array_equal(dz, no_labels_dz)
    want_dz = temperature * (softmax(z, temperature) - softmax(v, temperature)) / z.shape[0]
    # p - q cancels at high T: compare to the rounding of p and q (1e-16) times T
    np.testing.assert_allclose(dz, want_dz, rtol=1e-12, atol=1e-15 * temperature,
                               err_msg="T (p - q) / N")


def test_without_labels_the_soft_term_gets_full_weight():
    """Without labels L = T^2 KL for every alpha (not (1 - alpha) T^2 KL)."""
    rng = np.random.default_rng(1)
    z, v = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    losses = [DistillationLoss(2.0, a).compute_loss(z, v) for a in (0.0, 0.3, 1.0)]
    assert losses[0] == losses[1] == losses[2]
    np.testing.assert_allclose(losses[0], 4.0 * kl_divergence(v, z, 2.0), rtol=1e-14)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hinton_high_temperature_limit_and_its_rate(seed):
    """With zero-mean logits, T (softmax(z/T) - softmax(v/T)) -> (z - v) / C with error O(1/T).

    Expanding softmax(x/T)_j = 1/C + x_j/(C T) + (x_j^2 - mean(x^2))/(2 C T^2) + O(1/T^3) gives
    e(T) = T (p - q) - (z - v)/C = c / T + O(1/T^2), c = ((z^2 - mean z^2) - (v^2 - mean v^2))/(2C):
    so T e(T) -> c, the error halves when T doubles, and T e(T) - c is itself O(1/T).
    """
    rng = np.random.default_rng(seed)
    C = 6
    z, v = rng.standard_normal(C) * 2, rng.standard_normal(C) * 2
    z -= z.mean()
    v -= v.mean()
    limit = LogitMatchingLoss().compute_gradient(z, v)  # (z - v) / C
    np.testing.assert_allclose(limit, (z - v) / C, rtol=1e-15)
    c = ((z**2 - np.mean(z**2)) - (v**2 - np.mean(v**2))) / (2 * C)
    temps = [25.0 * 2**k for k in range(7)]  # 25 .. 1600
    errors = [DistillationLoss(T, alpha=0.0).compute_gradient(z, v) - limit for T in temps]
    sizes = [np.abs(e).max() for e in errors]
    for T, e, size, next_size in zip(temps, errors, sizes, sizes[1:], strict=False):
        assert 1.9 < size / next_size < 2.1, f"error did not halve from T={T} to {2 * T}"
        np.testing.assert_allclose(T * e, c, atol=15 * np.abs(c).max() / T,
                                   err_msg=f"T * error vs its limit at T={T}")
    np.testing.assert_allclose(temps[-1] * errors[-1], c, rtol=0.02, atol=1e-3 * np.abs(c).max())
    # the loss too: T^2 KL -> ||z - v||^2 / (2C), also with an O(1/T) error
    mse = LogitMatchingLoss().compute_loss(z, v)
    gaps = [abs(DistillationLoss(T, 0.0).compute_loss(z, v) - mse) for T in temps]
    for g, g_next in zip(gaps, gaps[1:], strict=False):
        assert 1.8 < g / g_next < 2.2, f"loss gap ratios {gaps}"


@given(st.integers(0, 2**32 - 1), st.floats(-50, 50))
def test_centred_logit_matching_is_the_limit_for_any_logits(seed, offset):
    """center=True removes the zero-mean condition: the T -> inf limit holds for shifted logits."""
    rng = np.random.default_rng(seed)
    z, v = rng.standard_normal((2, 4)) + offset, rng.standard_normal((2, 4)) - offset
    limit = LogitMatchingLoss(center=True).compute_gradient(z, v)
    far = DistillationLoss(1e4, 0.0).compute_gradient(z, v)
    np.testing.assert_allclose(far, limit, atol=1e-3 * np.abs(limit).max(), rtol=0,
                               err_msg="Hinton gradient at T=1e4 vs centred logit matching")


# ----------------------------------------------------------------------------- the temperature range
def _mpmath_hinton(mpmath, z, v, T):
    """T^2 KL(q || p) (batch mean) and T (p - q) / N at 40 + 2 log10(T) digits."""
    mpmath.mp.dps = int(40 + 2 * math.log10(max(T, 1.0)))
    T = mpmath.mpf(T)
    n, c = z.shape
    loss, grad = mpmath.mpf(0), np.zeros((n, c))
    for i in range(n):
        sz = [mpmath.mpf(float(x)) / T for x in z[i]]
        sv = [mpmath.mpf(float(x)) / T for x in v[i]]
        lz = mpmath.log(mpmath.fsum(mpmath.exp(x) for x in sz))
        lv = mpmath.log(mpmath.fsum(mpmath.exp(x) for x in sv))
        log_p, log_q = [x - lz for x in sz], [x - lv for x in sv]
        loss += T * T * mpmath.fsum(mpmath.exp(b) * (b - a) for a, b in zip(log_p, log_q, strict=True))
        grad[i] = [float(T * (mpmath.exp(a) - mpmath.exp(b)) / n) for a, b in zip(log_p, log_q, strict=True)]
    return float(loss / n), grad


@pytest.mark.parametrize("gap", [1.0, 0.01])
@pytest.mark.parametrize("T", [1.0, 10.0, 1e3, 1e5, 1e8, 1e12, 1e30, 1e60, 1e100])
def test_hinton_loss_is_accurate_over_the_documented_temperature_range_float64(T, gap):
    """Against a 40+ digit reference: relative error <= 1e-9 (loss) and 1e-12 (gradient, max entry
    relative to the largest) from T = 1 to 1e100, also for a student within 1 % of its teacher.
    (Rows spanning more than T use the standard form, whose loss error is ~1e-16 log C / KL: 4e-11
    here at T = 10 with KL = 3e-6; the high-temperature form reaches ~1e-14.) Before the
    high-temperature form the loss was off by 1e-4 at T = 1e4, 100 % at T = 1e8, and 0 at 1e30."""
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(12)
    z = rng.standard_normal((6, 10)) * 3
    v = z + rng.standard_normal((6, 10)) * 3 * gap
    want_loss, want_grad = _mpmath_hinton(mpmath, z, v, T)
    loss, grad, _ = DistillationLoss(T, 0.0).loss_and_gradient(z, v)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-9, err_msg=f"loss at T={T:g}")
    np.testing.assert_allclose(grad, want_grad, rtol=0, atol=1e-12 * np.abs(want_grad).max(),
                               err_msg=f"gradient at T={T:g}")


@pytest.mark.parametrize("dtype, T", [(np.float64, 1e10), (np.float64, 1e30), (np.float64, 1e100),
                                      (np.float32, 1e10), (np.float32, 1e30)])
def test_hinton_loss_at_huge_temperature_is_the_logit_matching_limit(dtype, T):
    """No mpmath needed: for T >= 1e10 and logits of size ~3, T^2 KL and T (p - q) equal their
    T -> infinity limits (centred logit matching, Hinton et al. eq. 3) up to O(|z| / T) <= 1e-9
    relative; float32 to its rounding of s (1e-6 here). Never a silent 0."""
    rng = np.random.default_rng(13)
    z = (rng.standard_normal((5, 7)) * 3).astype(dtype)
    v = (rng.standard_normal((5, 7)) * 3).astype(dtype)
    loss, grad, _ = DistillationLoss(T, 0.0).loss_and_gradient(z, v)
    limit_loss, limit_grad, _ = LogitMatchingLoss(center=True).loss_and_gradient(z.astype(np.float64),
                                                                               v.astype(np.float64))
    rtol = 1e-8 if dtype == np.float64 else 2e-6
    assert loss > 0
    np.testing.assert_allclose(loss, limit_loss, rtol=rtol, err_msg=f"T^2 KL at T={T:g} vs its limit")
    np.testing.assert_allclose(grad, limit_grad, rtol=0, atol=rtol * np.abs(limit_grad).max(),
                               err_msg=f"T (p - q) at T={T:g} vs its limit")
    assert grad.dtype == dtype


@pytest.mark.parametrize("T, label_mode", [(150.0, "none"), (150.0, "index"), (1e3, "none")])
def test_high_temperature_form_gradient_matches_finite_differences(T, label_mode):
    """T > 100 and rows spanning less than T take the high-temperature form
    (minikd.functional._softened_kl64): its gradient against central differences, as for every
    other loss. (Labels only at T = 150: the step FD_EPS * T suits the soft term, not the
    cross-entropy at T = 1.)"""
    rng = np.random.default_rng(14)
    z, v = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    labels = make_labels(rng, label_mode, 4, 5)
    assert_gradient_matches_fd(DistillationLoss(T, 0.3), z, v, labels, T)


@pytest.mark.parametrize("T", [150.0, 250.0])
def test_high_temperature_form_matches_pytorch(T):
    """(PyTorch's float64 loss itself is off by ~1.5e-16 T^2, 1e-11 at T = 250: no higher T here.)"""
    torch = pytest.importorskip("torch")
    hinton, _, _ = torch_losses(torch)
    rng = np.random.default_rng(15)
    z, v, y = rng.standard_normal((6, 5)), rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    ours = DistillationLoss(T, 0.4).loss_and_gradient(z, v, y)
    theirs = torch_loss_and_grad(torch, hinton, z, torch.tensor(v), torch.tensor(y), T, 0.4)
    assert_matches_torch(ours, theirs, f"DistillationLoss high-temperature form, T={T}")


@pytest.mark.parametrize("dtype, T", [(np.float32, 1e31), (np.float64, 1e101)])
def test_temperature_above_the_documented_range_warns(dtype, T):
    z = np.zeros((2, 3), dtype=dtype)
    z[:, 0] = 1
    with pytest.warns(UserWarning, match=re.escape(f"temperature={T!r} is above ") + rf".* for {np.dtype(dtype)} "
                                         r"logits.*LogitMatchingLoss\(center=True\)"):
        DistillationLoss(T, 0.0).loss_and_gradient(z, z[:, ::-1])
    with pytest.warns(UserWarning, match=r"kl_divergence: temperature="):
        kl_divergence(z, z[:, ::-1], T)


def test_dkd_warns_above_its_temperature_range():
    z = np.array([[1.0, 0.0, 2.0]])
    with pytest.warns(UserWarning, match=r"DecoupledKDLoss: temperature=10000.0 is above 1000"):
        DecoupledKDLoss(1e4).loss_and_gradient(z, z[:, ::-1], np.array([0]))


def test_temperatures_within_the_range_do_not_warn():
    import warnings

    z = np.array([[1.0, 0.0, 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DistillationLoss(1e30, 0.0).loss_and_gradient(z.astype(np.float32), z[:, ::-1].astype(np.float32))
        DistillationLoss(1e100, 0.0).loss_and_gradient(z, z[:, ::-1])
        DecoupledKDLoss(1e3).loss_and_gradient(z, z[:, ::-1], np.array([0]))


all_strategies = [
    CrossEntropyLoss(),
    DistillationLoss(3.0, 0.3),
    LogitMatchingLoss(0.3),
    LogitMatchingLoss(0.0, center=True),
    DecoupledKDLoss(4.0, 1.0, 8.0),
    CompositeStrategy([(1.0, DistillationLoss(2.0, 1.0)), (0.5, DecoupledKDLoss())]),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(
    st.integers(1, 3).flatmap(lambda n: st.integers(2, 5).flatmap(lambda c: st.tuples(
        hnp.arrays(np.float64, (n, c), elements=st.floats(-1e4, 1e4)),
        hnp.arrays(np.float64, (n, c), elements=st.floats(-1e4, 1e4)),
        hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)),
    ))),
    st.sampled_from([0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]) | st.floats(0.01, 1000.0),
)
def test_finite_for_huge_logits_and_extreme_temperatures(dtype, zvy, temperature):
    z, v, y = zvy
    z = z.astype(dtype)
    v = v.astype(dtype)
    strategies = [
        CrossEntropyLoss(),
        DistillationLoss(temperature, 0.3),
        LogitMatchingLoss(0.3),
        LogitMatchingLoss(0.0, center=True),
        DecoupledKDLoss(temperature, 1.0, 8.0),
        CompositeStrategy([(1.0, DistillationLoss(temperature, 1.0)),
                           (0.5, DecoupledKDLoss(temperature))]),
    ]
    for strategy in strategies:
        loss, dz, parts = strategy.loss_and_gradient(z, v, y)
        assert math.isfinite(loss), f"{strategy!r}: loss {loss} at T={temperature}"
        assert np.isfinite(dz).all(), f"{strategy!r}: non-finite gradient at T={temperature}"
        assert dz.dtype == dtype
        assert all(math.isfinite(p) for p in parts.values() if p is not None)


@pytest.mark.parametrize("strategy", all_strategies, ids=repr)
def test_dtypes_float32_in_float32_out(strategy):
    rng = np.random.default_rng(0)
    z, v, y = rng.standard_normal((4, 5)), rng.standard_normal((4, 5)), np.array([0, 1, 2, 4])
    for z_dtype, v_dtype in [(np.float32, np.float32), (np.float32, np.float64),
                             (np.float64, np.float32), (np.float16, np.float16)]:
        loss, dz, parts = strategy.loss_and_gradient(z.astype(z_dtype), v.astype(v_dtype), y)
        assert type(loss) is float
        assert dz.dtype == np.result_type(z_dtype, np.float32), (z_dtype, v_dtype, dz.dtype)
        assert all(type(p) is float for p in parts.values() if p is not None)
    loss32 = strategy.compute_loss(z.astype(np.float32), v.astype(np.float32), y)
    loss64 = strategy.compute_loss(z, v, y)
    np.testing.assert_allclose(loss32, loss64, rtol=1e-5, err_msg="float32 vs float64 loss")


@pytest.mark.parametrize("strategy", all_strategies, ids=repr)
@pytest.mark.parametrize("label_kind", ["none", "int", "row"])
def test_single_vector_is_exactly_a_batch_of_one(strategy, label_kind):
    rng = np.random.default_rng(3)
    z, v = rng.standard_normal(5), rng.standard_normal(5)
    if label_kind == "none":
        if strategy.requires_labels:
            with pytest.raises(ValueError, match="labels are required"):
                strategy.loss_and_gradient(z, v)
            return
        one, batch = None, None
    elif label_kind == "int":
        one, batch = 3, np.array([3])
    else:
        one = rng.dirichlet(np.ones(5))
        batch = one[None, :]
    loss1, dz1, parts1 = strategy.loss_and_gradient(z, v, one)
    loss_b, dz_b, parts_b = strategy.loss_and_gradient(z[None, :], v[None, :], batch)
    assert dz1.shape == (5,)
    assert loss1 == loss_b and parts1 == parts_b
    np.testing.assert_array_equal(dz1, dz_b[0])
    assert strategy.compute_loss(z, v, one) == loss1
    np.testing.assert_array_equal(strategy.compute_gradient(z, v, one), dz1)


@pytest.mark.parametrize("strategy, z, v", [
    (LogitMatchingLoss(), np.array([[1e20, 0.0]], np.float32), np.array([[-1e20, 0.0]], np.float32)),
    (DistillationLoss(0.01, 0.0), np.array([[1e37, -1e37, 0.0]], np.float32),
     np.array([[0.0, 1e37, -1e37]], np.float32)),
    (DecoupledKDLoss(1e-300), np.array([[1e10, -1e10, 0.0]]), np.array([[0.0, 1e10, -1e10]])),
])
def test_overflow_is_a_clear_error_not_nan(strategy, z, v):
    with pytest.raises(ValueError, match=r"overflowed for these inputs .* too large for temperature"):
        strategy.loss_and_gradient(z, v, np.array([0]))


def test_parts_add_up_to_the_loss():
    rng = np.random.default_rng(4)
    z, v, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    for strategy in all_strategies:
        loss, _, parts = strategy.loss_and_gradient(z, v, y)
        assert loss == parts["soft"] + (parts["hard"] or 0.0), (strategy, parts)
    _, _, parts = DistillationLoss(2.0, 0.25).loss_and_gradient(z, v, y)
    np.testing.assert_allclose(parts["hard"], 0.25 * cross_entropy(z, y), rtol=1e-14)
    np.testing.assert_allclose(parts["soft"], 0.75 * 4 * kl_divergence(v, z, 2.0), rtol=1e-14)


def test_one_class_gives_zero_loss_and_gradient():
    z, v = np.array([[3.0], [-1.0]]), np.array([[0.5], [2.0]])
    loss, dz, _ = DistillationLoss(2.0, 0.5).loss_and_gradient(z, v, np.array([0, 0]))
    assert loss == 0.0
    np.testing.assert_array_equal(dz, np.zeros_like(z))


# ----------------------------------------------------------------------------- DKD specifics
@given(batches(label_modes=("index",), max_classes=8, scale=(0.25, 4.0)), temperatures)
def test_dkd_decomposition_of_kl(batch, temperature):
    """Zhao et al. (2022), eq. (1): KL(q || p) = TCKD + (1 - q_g) NCKD, sample by sample."""
    z, v, labels = batch
    dkd = DecoupledKDLoss(temperature, alpha=1.0, beta=1.0)
    for i in range(z.shape[0]):
        _, _, parts = dkd.loss_and_gradient(z[i], v[i], int(labels[i]))
        q_g = softmax(v[i], temperature)[labels[i]]
        kl_t2 = DistillationLoss(temperature, 0.0).compute_loss(z[i], v[i])  # T^2 KL
        np.testing.assert_allclose(parts["tckd"] + (1 - q_g) * parts["nckd"], kl_t2,
                                   rtol=1e-11, atol=1e-14, err_msg="TCKD + (1 - q_g) NCKD")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4])
def test_dkd_two_classes_is_finite_and_reduces_to_alpha_kd(dtype, scale):
    """C = 2: the non-target distribution has one class, NCKD = 0 (no NaN), DKD = alpha T^2 KL."""
    rng = np.random.default_rng(5)
    z = (rng.standard_normal((8, 2)) * scale).astype(dtype)
    v = (rng.standard_normal((8, 2)) * scale).astype(dtype)
    y = rng.integers(0, 2, 8)
    loss, dz, parts = DecoupledKDLoss(2.0, alpha=0.7, beta=8.0).loss_and_gradient(z, v, y)
    assert parts["nckd"] == 0.0
    assert math.isfinite(loss) and np.isfinite(dz).all()
    kd_loss, kd_dz, _ = DistillationLoss(2.0, 0.0).loss_and_gradient(z, v)
    rtol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(loss, 0.7 * kd_loss, rtol=rtol, atol=1e-30, err_msg="loss")
    np.testing.assert_allclose(dz, 0.7 * kd_dz, rtol=rtol, atol=1e-6 * np.abs(kd_dz).max(),
                               err_msg="gradient")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dkd_non_target_term_ignores_a_huge_target_logit(dtype):
    """NCKD depends only on the non-target logits, even when the target logit is 1500 above them
    (where a "subtract 1000 from the target logit" mask would let the target leak back in)."""
    z = np.array([[1500.0, 0.0, 1.0]], dtype=dtype)
    v = np.array([[0.0, 2.0, 0.0]], dtype=dtype)
    _, dz, parts = DecoupledKDLoss(1.0, alpha=1.0, beta=1.0).loss_and_gradient(z, v, np.array([0]))
    want = DistillationLoss(1.0, 0.0).compute_loss(np.array([0.0, 1.0]), np.array([2.0, 0.0]))
    np.testing.assert_allclose(parts["nckd"], want, rtol=1e-6 if dtype == np.float32 else 1e-13)
    assert np.isfinite(dz).all() and math.isfinite(parts["tckd"])


def test_dkd_two_classes_gradient_matches_finite_differences():
    rng = np.random.default_rng(6)
    z, v, y = rng.standard_normal((5, 2)), rng.standard_normal((5, 2)), rng.integers(0, 2, 5)
    assert_gradient_matches_fd(DecoupledKDLoss(1.5, 1.0, 8.0), z, v, y)


def test_dkd_probability_rows_use_their_argmax():
    rng = np.random.default_rng(7)
    z, v = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    y = np.array([0, 3, 4, 1])
    dkd = DecoupledKDLoss()
    want_loss, want_dz, _ = dkd.loss_and_gradient(z, v, y)
    one_hot = np.eye(5)[y]
    loss, dz, _ = dkd.loss_and_gradient(z, v, one_hot)
    assert loss == want_loss
    np.testing.assert_array_equal(dz, want_dz)
    soft_rows = 0.5 * one_hot + 0.5 / 5  # label smoothing keeps the argmax
    assert dkd.compute_loss(z, v, soft_rows) == want_loss


def test_dkd_terms_are_weighted_by_alpha_and_beta():
    rng = np.random.default_rng(8)
    z, v, y = rng.standard_normal((3, 6)), rng.standard_normal((3, 6)), np.array([1, 5, 0])
    _, _, base = DecoupledKDLoss(2.0, 1.0, 1.0).loss_and_gradient(z, v, y)
    loss, _, parts = DecoupledKDLoss(2.0, 0.25, 3.0).loss_and_gradient(z, v, y)
    np.testing.assert_allclose(parts["tckd"], 0.25 * base["tckd"], rtol=1e-14)
    np.testing.assert_allclose(parts["nckd"], 3.0 * base["nckd"], rtol=1e-14)
    assert parts["hard"] is None and loss == parts["soft"]


def test_dkd_accepts_alpha_above_one_and_requires_labels():
    dkd = DecoupledKDLoss(alpha=2.0)
    assert dkd.alpha == 2.0 and dkd.requires_labels
    z = np.zeros((2, 3))
    with pytest.raises(ValueError, match="labels are required by DecoupledKDLoss"):
        dkd.compute_loss(z, z)
    with pytest.raises(ValueError, match="at least 2 classes"):
        dkd.compute_loss(np.zeros((2, 1)), np.zeros((2, 1)), np.array([0, 0]))
    with pytest.raises(ValueError, match=r"beta must be a finite number >= 0, got -1"):
        DecoupledKDLoss(beta=-1)
    with pytest.raises(ValueError, match=r"alpha must be a finite number >= 0, got -0.5"):
        DecoupledKDLoss(alpha=-0.5)


# ----------------------------------------------------------------------------- cross-entropy
@given(batches(label_modes=("index", "prob")))
def test_cross_entropy_loss_needs_no_teacher(batch):
    z, v, labels = batch
    ce = CrossEntropyLoss()
    loss, dz, parts = ce.loss_and_gradient(z, None, labels)
    assert loss == cross_entropy(z, labels)
    assert parts == {"soft": 0.0, "hard": loss}
    kd_loss, kd_dz, _ = DistillationLoss(5.0, alpha=1.0).loss_and_gradient(z, v, labels)
    assert loss == kd_loss
    np.testing.assert_allclose(dz, kd_dz, rtol=1e-15, atol=1e-18, err_msg="CE vs alpha=1 KD")
    assert ce.compute_loss(z, v, labels) == loss  # a teacher, if given, is ignored
    assert_gradient_matches_fd(ce, z, None, labels)


def test_cross_entropy_loss_requires_labels_and_checks_a_given_teacher():
    ce = CrossEntropyLoss()
    assert ce.requires_labels and not ce.uses_teacher
    with pytest.raises(ValueError, match="labels are required by CrossEntropyLoss, got None"):
        ce.compute_loss(np.zeros((2, 3)), None)
    with pytest.raises(ValueError, match="teacher_logits must have the same shape"):
        ce.compute_loss(np.zeros((2, 3)), np.zeros((2, 4)), np.array([0, 1]))
    with pytest.raises(TypeError, match="teacher_logits must be an array-like"):
        DistillationLoss().compute_loss(np.zeros((2, 3)), None)
    assert CompositeStrategy([(1.0, ce)]).compute_loss(np.zeros((2, 3)), None, [0, 1]) > 0
    with pytest.raises(TypeError, match="teacher_logits must be an array-like"):
        CompositeStrategy([(1.0, ce), (1.0, DistillationLoss())]).compute_loss(
            np.zeros((2, 3)), None, [0, 1])


# ----------------------------------------------------------------------------- composite
def test_composite_is_the_weighted_sum_of_its_parts():
    rng = np.random.default_rng(9)
    z, v, y = rng.standard_normal((5, 4)), rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    a, b = DistillationLoss(2.0, 0.4), DecoupledKDLoss(3.0, 1.0, 4.0)
    composite = CompositeStrategy([(0.3, a), (1.7, b)])
    loss, dz, parts = composite.loss_and_gradient(z, v, y)
    la, ga, pa = a.loss_and_gradient(z, v, y)
    lb, gb, pb = b.loss_and_gradient(z, v, y)
    np.testing.assert_allclose(loss, 0.3 * la + 1.7 * lb, rtol=1e-14)
    np.testing.assert_allclose(dz, 0.3 * ga + 1.7 * gb, rtol=1e-14, atol=1e-17)
    np.testing.assert_allclose(parts["soft"], 0.3 * pa["soft"] + 1.7 * pb["soft"], rtol=1e-14)
    np.testing.assert_allclose(parts["hard"], 0.3 * pa["hard"], rtol=1e-14)
    assert parts["component_0"] == 0.3 * la and parts["component_1"] == 1.7 * lb
    assert composite.temperature == 2.0 and composite.alpha == 0.4
    assert composite.requires_labels
    with pytest.raises(AttributeError):
        composite.temperature = 5.0
    no_hard = CompositeStrategy([(1.0, LogitMatchingLoss())])
    assert no_hard.loss_and_gradient(z, v)[2]["hard"] is None
    assert not no_hard.requires_labels


@pytest.mark.parametrize("bad, exc, match", [
    ([], ValueError, "at least one"),
    ("abc", TypeError, "strategies must be a sequence"),
    (5, TypeError, "strategies must be a sequence"),
    ([DistillationLoss()], TypeError, r"strategies\[0\] must be a \(weight, strategy\) pair"),
    ([(1.0, "kd")], TypeError, r"strategies\[0\] strategy must be a DistillationStrategy"),
    ([(-1.0, DistillationLoss())], ValueError, r"strategies\[0\] weight must be a finite number"),
    ([(0.0, DistillationLoss())], ValueError, "at least one weight"),
    ([(float("nan"), DistillationLoss())], ValueError, r"weight must be a finite number >= 0"),
])
def test_composite_rejects_bad_input(bad, exc, match):
    with pytest.raises(exc, match=match):
        CompositeStrategy(bad)


# ----------------------------------------------------------------------------- configs
config_cases = [
    CrossEntropyLoss(),
    DistillationLoss(2.5, 0.1),
    LogitMatchingLoss(0.2, center=True),
    DecoupledKDLoss(4.0, 0.5, 2.0),
    CompositeStrategy([(1.0, DistillationLoss(1.0, 1.0)),
                       (0.5, CompositeStrategy([(2.0, DecoupledKDLoss())]))]),
]


@pytest.mark.parametrize("strategy", config_cases, ids=repr)
def test_config_round_trip(strategy):
    config = strategy.get_config()
    assert config["name"] == type(strategy).__name__
    assert config["temperature"] == strategy.temperature and config["alpha"] == strategy.alpha
    plain = json.loads(json.dumps(config))  # plain data only
    rebuilt = strategy_from_config(plain)
    assert type(rebuilt) is type(strategy)
    assert rebuilt.get_config() == config
    assert repr(rebuilt) == repr(strategy)
    rng = np.random.default_rng(10)
    z, v, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), np.array([0, 1, 3])
    assert rebuilt.compute_loss(z, v, y) == strategy.compute_loss(z, v, y)


def test_repr_shows_the_constructor_arguments():
    assert repr(DistillationLoss(3.0, 0.3)) == "DistillationLoss(temperature=3.0, alpha=0.3)"
    assert repr(LogitMatchingLoss()) == "LogitMatchingLoss(alpha=0.0, center=False)"
    assert repr(DecoupledKDLoss()) == "DecoupledKDLoss(temperature=4.0, alpha=1.0, beta=8.0)"
    assert repr(CompositeStrategy([(0.5, LogitMatchingLoss())])) == (
        "CompositeStrategy([(0.5, LogitMatchingLoss(alpha=0.0, center=False))])")


@pytest.mark.parametrize("config, exc, match", [
    (["DistillationLoss"], TypeError, "config must be a dict"),
    ({"temperature": 2.0}, ValueError, r"config\['name'\] must be a strategy class name"),
    ({"name": "os.system"}, ValueError, r"config\['name'\] must be one of \["),
    ({"name": "DistillationStrategy"}, ValueError, r"must be one of"),
    ({"name": "DistillationLoss", "temprature": 2.0}, ValueError, r"unknown key\(s\) \['temprature'\]"),
    ({"name": "DistillationLoss", "temperature": -2.0}, ValueError, "temperature must be"),
    ({"name": "CompositeStrategy", "strategies": [[1.0]]}, TypeError, r"\[weight, config\] pair"),
])
def test_strategy_from_config_rejects_bad_configs(config, exc, match):
    with pytest.raises(exc, match=match):
        strategy_from_config(config)


def test_base_class_is_abstract():
    with pytest.raises(TypeError):
        DistillationStrategy(1.0, 0.0)


# ----------------------------------------------------------------------------- bad input
Z = np.zeros((4, 3))


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"temperature": 0}, ValueError, r"temperature must be a finite number > 0, got 0"),
    ({"temperature": -1.0}, ValueError, r"temperature must be a finite number > 0, got -1.0"),
    ({"temperature": float("inf")}, ValueError, r"temperature must be a finite number > 0, got inf"),
    ({"temperature": float("nan")}, ValueError, r"temperature must be a finite number > 0, got nan"),
    ({"temperature": "3"}, TypeError, r"temperature must be a real number, got '3'"),
    ({"alpha": 1.5}, ValueError, r"alpha must be a number in \[0, 1\], got 1.5"),
    ({"alpha": -0.1}, ValueError, r"alpha must be a number in \[0, 1\], got -0.1"),
    ({"alpha": None}, TypeError, r"alpha must be a real number, got None"),
])
def test_bad_hyperparameters(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        DistillationLoss(**kwargs)


def test_hyperparameters_are_validated_when_set_later():
    strategy = DistillationLoss()
    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0, got -2"):
        strategy.temperature = -2
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\], got 2"):
        strategy.alpha = 2
    assert strategy.temperature == 3.0 and strategy.alpha == 0.3
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\], got 1.2"):
        LogitMatchingLoss(alpha=1.2)
    with pytest.raises(TypeError, match="center must be a bool, got 'yes'"):
        LogitMatchingLoss(center="yes")


nan_z = Z.copy()
nan_z[1, 2] = np.nan


@pytest.mark.parametrize("strategy", all_strategies, ids=repr)
@pytest.mark.parametrize("student, teacher, labels, exc, match", [
    (np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), None, ValueError,
     r"student_logits must be 1-D or 2-D, got an array of shape \(2, 3, 4\)"),
    (Z, np.zeros((4, 2)), None, ValueError,
     r"teacher_logits must have the same shape as student_logits .*\(4, 2\).*\(4, 3\)"),
    (Z, np.zeros(3), None, ValueError, r"teacher_logits must have the same shape"),
    (np.zeros((0, 3)), np.zeros((0, 3)), None, ValueError, r"student_logits must not be empty"),
    (nan_z, Z, None, ValueError, r"student_logits must contain only finite values, got 1 NaN"),
    (Z, nan_z, None, ValueError, r"teacher_logits must contain only finite values, got 1 NaN"),
    (Z, Z + np.inf, None, ValueError, r"teacher_logits must contain only finite values, got 12"),
    ("logits", Z, None, TypeError, r"student_logits must be an array-like of numbers"),
    (Z.astype(bool), Z, None, TypeError, r"student_logits must hold real numbers"),
    (Z, Z, np.array([0, 1, 2, 3]), ValueError, r"labels must be class indices in \[0, 2\], got 3"),
    (Z, Z, np.array([0, -1, 2, 0]), ValueError, r"labels must be class indices in \[0, 2\], got -1"),
    (Z, Z, np.array([0, 1]), ValueError, r"labels must have one label per sample \(4\), got 2"),
    (Z, Z, np.full((4, 2), 0.5), ValueError, r"labels given as probability rows must have 3 columns"),
    (Z, Z, np.full((4, 3), 0.5), ValueError, r"labels probability rows must sum to 1"),
    (Z, Z, np.array([0.5, 1, 2, 0]), ValueError, r"labels given as class indices must be whole"),
    (Z, Z, "cat", TypeError, r"labels must be an array-like of numbers, got 'cat'"),
    (Z, Z, np.array([True, False, True, True]), TypeError, r"labels must be integer class indices"),
    (np.zeros(3), np.zeros(3), np.zeros((2, 2)), ValueError,
     r"labels must have a scalar int or a \(C,\) probability row"),
    (np.zeros(3), np.zeros(3), 3, ValueError, r"labels must be class indices in \[0, 2\], got 3"),
])
def test_bad_inputs_name_the_parameter_and_value(strategy, student, teacher, labels, exc, match):
    with pytest.raises(exc, match=match):
        strategy.loss_and_gradient(student, teacher, labels)


# ----------------------------------------------------------------------------- PyTorch
def torch_losses(torch):
    F = torch.nn.functional

    def hinton(z, v, y, T, alpha):
        soft = T**2 * F.kl_div(F.log_softmax(z / T, dim=1), F.softmax(v / T, dim=1),
                               reduction="batchmean")
        if y is None:
            return soft
        return alpha * F.cross_entropy(z, y) + (1 - alpha) * soft

    def logit_matching(z, v, y, alpha, center):
        d = z - v
        if center:
            d = d - d.mean(dim=1, keepdim=True)
        soft = 0.5 * F.mse_loss(d, torch.zeros_like(d))  # mean over N*C entries, halved
        if y is None:
            return soft
        return alpha * F.cross_entropy(z, y) + (1 - alpha) * soft

    def dkd(z, v, y, T, alpha, beta):
        # The official formulation (megvii-research/mdistiller, mdistiller/distillers/DKD.py).
        n = z.shape[0]
        gt = F.one_hot(y, z.shape[1]).bool()
        other = ~gt
        ps, pt = F.softmax(z / T, dim=1), F.softmax(v / T, dim=1)

        def binary(p):
            return torch.stack([(p * gt).sum(1), (p * other).sum(1)], dim=1)

        tckd = F.kl_div(torch.log(binary(ps)), binary(pt), reduction="sum") * T**2 / n
        log_ps2 = F.log_softmax(z / T - 1000.0 * gt, dim=1)
        pt2 = F.softmax(v / T - 1000.0 * gt, dim=1)
        nckd = F.kl_div(log_ps2, pt2, reduction="sum") * T**2 / n
        return alpha * tckd + beta * nckd

    return hinton, logit_matching, dkd


def torch_loss_and_grad(torch, fn, z, *args):
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    loss = fn(zt, *args)
    loss.backward()
    return loss.item(), zt.grad.numpy()


def assert_matches_torch(ours, theirs, what):
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10, atol=1e-12, err_msg=f"{what} loss")
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-10, atol=1e-12, err_msg=f"{what} grad")


@given(batches(max_classes=8), st.floats(0.1, 20.0), fractions)
def test_distillation_loss_matches_pytorch(batch, temperature, alpha):
    torch = pytest.importorskip("torch")
    hinton, _, _ = torch_losses(torch)
    z, v, labels = batch
    vt = torch.tensor(v)
    yt = None if labels is None else torch.tensor(labels)
    ours = DistillationLoss(temperature, alpha).loss_and_gradient(z, v, labels)
    theirs = torch_loss_and_grad(torch, hinton, z, vt, yt, temperature, alpha)
    assert_matches_torch(ours, theirs, "DistillationLoss")


@given(batches(max_classes=8), fractions, st.booleans())
def test_logit_matching_matches_pytorch(batch, alpha, center):
    torch = pytest.importorskip("torch")
    _, logit_matching, _ = torch_losses(torch)
    z, v, labels = batch
    yt = None if labels is None else torch.tensor(labels)
    ours = LogitMatchingLoss(alpha, center=center).loss_and_gradient(z, v, labels)
    theirs = torch_loss_and_grad(torch, logit_matching, z, torch.tensor(v), yt, alpha, center)
    assert_matches_torch(ours, theirs, "LogitMatchingLoss")


@given(batches(label_modes=("index",), max_classes=8), st.floats(0.5, 20.0),
       st.floats(0.0, 2.0), st.floats(0.0, 10.0))
def test_dkd_matches_the_official_formulation_in_pytorch(batch, temperature, alpha, beta):
    torch = pytest.importorskip("torch")
    _, _, dkd = torch_losses(torch)
    z, v, labels = batch
    ours = DecoupledKDLoss(temperature, alpha, beta).loss_and_gradient(z, v, labels)
    theirs = torch_loss_and_grad(torch, dkd, z, torch.tensor(v), torch.tensor(labels),
                                 temperature, alpha, beta)
    assert_matches_torch(ours, theirs, "DecoupledKDLoss")


def test_composite_matches_pytorch():
    torch = pytest.importorskip("torch")
    hinton, logit_matching, dkd = torch_losses(torch)
    rng = np.random.default_rng(11)
    z, v, y = rng.standard_normal((6, 5)), rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    vt, yt = torch.tensor(v), torch.tensor(y)
    composite = CompositeStrategy([(0.7, DistillationLoss(2.0, 0.2)),
                                   (1.3, DecoupledKDLoss(3.0, 1.0, 8.0)),
                                   (0.4, LogitMatchingLoss(0.5, center=True)),
                                   (0.2, CrossEntropyLoss())])

    def total(zt):
        return (0.7 * hinton(zt, vt, yt, 2.0, 0.2) + 1.3 * dkd(zt, vt, yt, 3.0, 1.0, 8.0)
                + 0.4 * logit_matching(zt, vt, yt, 0.5, True)
                + 0.2 * torch.nn.functional.cross_entropy(zt, yt))

    assert_matches_torch(composite.loss_and_gradient(z, v, y),
                         torch_loss_and_grad(torch, total, z), "CompositeStrategy")




@pytest.mark.parametrize("strategy", [DistillationLoss(3.0, 0.4), LogitMatchingLoss(0.3), DecoupledKDLoss(2.0),
                                      CrossEntropyLoss(), CompositeStrategy([(1.0, DistillationLoss()),
                                                                             (0.5, LogitMatchingLoss())])], ids=repr)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compute_returns_the_gradient_in_the_logits_dtype(strategy, dtype):
    """The contract step 3 relies on: ``_compute`` takes one dtype and gives dlogits in it."""
    rng = np.random.default_rng(0)
    z, v = rng.normal(size=(5, 4)).astype(dtype), rng.normal(size=(5, 4)).astype(dtype)
    loss, dz, parts = strategy._compute(z, v, "index", np.array([0, 1, 2, 3, 0]))
    assert dz.dtype == dtype and dz.shape == z.shape and isinstance(loss, float)
    public = strategy.loss_and_gradient(z, v, np.array([0, 1, 2, 3, 0]))
    assert public[0] == loss and np.array_equal(public[1], dz)


def test_a_temperature_beyond_the_accurate_range_warns_once_at_train_entry_not_per_step():
    from minikd import MLP, KnowledgeDistillationTrainer

    X = np.random.default_rng(0).normal(size=(40, 3))
    trainer = KnowledgeDistillationTrainer(MLP([3, 4], seed=0), DistillationLoss(temperature=1e31), seed=0)
    with pytest.warns(UserWarning, match="above 1e\\+30") as record:
        trainer.train(MLP([3, 4], seed=1, dtype=np.float32), X, epochs=2, batch_size=10, verbose=0)
    assert len([w for w in record if "above 1e+30" in str(w.message)]) == 1
