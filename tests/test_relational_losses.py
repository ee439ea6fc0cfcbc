"""Tests of minikd.strategies.relational (RKDLoss, SimilarityPreservingLoss, PKTLoss).

Every gradient against float64 central differences, every loss against a slow loop reference
(pure Python over i, j, k), the invariances that catch sign and scale mistakes, and, when PyTorch is
installed, autograd on the same convention (1e-10) and the reference code's convention.

Finite differences: the losses are functions of directions and ratios of lengths, so the step is
``FD_STEP * length``, with ``length`` the smallest nonzero row norm or distance between rows of S
(the length on which they vary; for PKT also the distance of two student rows from antipodal, where
its kernel is near 0). With ``unit = max(|L|, w, 1) / length`` (w = RKD's weights), the
natural size of the gradient and of ``curvature * length``, FD rounding is about 1e-11 and the
O(eps^2) truncation about 1e-10 of a unit, so the check is ``rel_error < 1e-7`` over the entries of
size at least ``max(1e-2 * largest, 1e-3 * unit)`` (near a minimum a gradient of 1e-4 units is off by
1e-6 relative; some draws have a zero gradient) plus ``|analytic - numeric| <= 1e-7 * max(largest,
unit)`` over all entries.

PKT near antipodal student rows (kernel K_ij below 1e-3) is left to the torch comparison: there
``1 + cos`` cancels, K carries a relative rounding of 1e-16 / K, and no FD step resolves 1e-7 (at
K = 1e-5 only steps near 1e-6 do; the analytic gradient agrees with autograd to 1e-14).

PKTLoss(eps=0) is infinite where a student cosine is -1 and the teacher's is not (P_ij = 0 < Q_ij),
which in one dimension is any pair of rows of opposite signs: its draws need widths >= 2.

Duplicated rows: at exactly duplicated student rows RKD's distance has a kink and its angle a jump
(the unit difference goes from 0 to a unit vector), so no finite difference across them means
anything. The tests check that the gradient is finite there and equals the directional derivative
along every perturbation that keeps the duplicates together (moving the other rows, or moving a
duplicated pair as one), where the function is smooth.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from minikd.gradcheck import numerical_gradient, rel_error
from minikd.strategies import (
    PKTLoss,
    RKDLoss,
    SimilarityPreservingLoss,
    strategy_from_config,
)

FD_STEP = 1e-5  # relative to length_scale(S): see the module docstring


# ----------------------------------------------------------------------------- helpers
def rkd_variants():
    return [RKDLoss(), RKDLoss(angle_weight=0.0), RKDLoss(distance_weight=0.0), RKDLoss(1.0, 1.0)]


def all_losses():
    return [*rkd_variants(), SimilarityPreservingLoss(), PKTLoss(), PKTLoss(eps=0.0)]


@st.composite
def embeddings(draw, min_n=2, max_n=7, max_d=5, duplicates=False):
    """(S, T, scale): random embeddings of a drawn shape and scale (1e-2 to 1e2), T of another width."""
    n = draw(st.integers(min_n, max_n))
    d_s, d_t = draw(st.integers(1, max_d)), draw(st.integers(1, max_d))
    scale = 10.0 ** draw(st.floats(-2.0, 2.0))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    S = rng.standard_normal((n, d_s)) * scale
    T = rng.standard_normal((n, d_t)) * 10.0 ** draw(st.floats(-2.0, 2.0))
    if duplicates:
        i, j = rng.choice(n, size=2, replace=False)
        S[j] = S[i]
        T[rng.integers(n)] = T[rng.integers(n)]
    return S, T, scale


def assume_defined(loss_fn, S, T):
    """PKTLoss(eps=0) is infinite for antipodal student rows, certain in one dimension."""
    assume(not (isinstance(loss_fn, PKTLoss) and loss_fn.eps == 0 and min(S.shape[1], T.shape[1]) == 1))


def length_scale(S, loss_fn=None):
    """The smallest nonzero row norm or distance between rows of S: the length the losses vary on.

    For PKT also the distance from antipodal: where two unit rows are at an angle pi - delta,
    K = (1 + cos) / 2 ~ delta^2 / 4 and log P varies on the length |x| delta ~ 2 |x| sqrt(K)."""
    norms = np.linalg.norm(S, axis=1)
    lengths = np.r_[norms, np.linalg.norm(S[:, None] - S[None, :], axis=-1).ravel()]
    length = float(lengths[lengths > 0].min())
    if isinstance(loss_fn, PKTLoss) and (norms > 0).all():
        U = S / norms[:, None]
        length *= min(1.0, 2.0 * math.sqrt(max((U @ U.T + 1).min() / 2, 1e-300)))
    return length


def min_kernel(S):
    """The smallest entry of PKT's student kernel (1 + cos) / 2 (0 for antipodal rows)."""
    norms = np.linalg.norm(S, axis=1)
    U = S / np.where(norms > 0, norms, 1.0)[:, None]
    return float((U @ U.T + 1).min() / 2)


def assert_gradient_matches_fd(loss_fn, S, T):
    loss, grad, _ = loss_fn.loss_and_gradient(S, T)
    length = length_scale(S, loss_fn)
    numeric = numerical_gradient(lambda x: loss_fn.compute_loss(x, T), S.copy(), eps=FD_STEP * length)
    weights = loss_fn.distance_weight + loss_fn.angle_weight if isinstance(loss_fn, RKDLoss) else 1.0
    unit = max(abs(loss), weights, 1.0) / length  # the natural size of the gradient (and curvature * length)
    resolved = np.abs(numeric) >= max(1e-2 * np.abs(numeric).max(), 1e-3 * unit)
    err = rel_error(grad[resolved], numeric[resolved])
    assert err < 1e-7, f"{loss_fn!r}: rel_error {err:.3g}\nanalytic={grad}\nnumeric={numeric}"
    np.testing.assert_allclose(grad, numeric, rtol=0, atol=1e-7 * max(np.abs(numeric).max(), unit),
                               err_msg=f"{loss_fn!r}: analytic vs numeric gradient")


def directional_fd(loss_fn, S, T, V, h):
    """Central difference of t -> L(S + t V, T) at 0."""
    return (loss_fn.compute_loss(S + h * V, T) - loss_fn.compute_loss(S - h * V, T)) / (2 * h)


# ----------------------------------------------------------------------------- slow loop references
def _norm(v):
    return math.sqrt(sum(a * a for a in v))


def _huber(r):
    return 0.5 * r * r if abs(r) < 1 else abs(r) - 0.5


def ref_rkd(S, T, wd, wa):
    """RKD by loops over i, j, k, from difference vectors (Park et al. 2019; DESIGN's conventions)."""
    S, T = S.tolist(), T.tolist()
    n = len(S)

    def dists(X):
        D = [[_norm([a - b for a, b in zip(X[j], X[i], strict=True)]) for j in range(n)] for i in range(n)]
        mu = sum(D[i][j] for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
        return D, mu

    def unit(X, i, j):
        e = [a - b for a, b in zip(X[j], X[i], strict=True)]
        m = _norm(e)
        return [a / m for a in e] if m > 0 else [0.0] * len(e)

    total = 0.0
    if wd > 0:
        (Ds, ms), (Dt, mt) = dists(S), dists(T)
        if ms > 0 and mt > 0:
            total += wd * sum(_huber(Ds[i][j] / ms - Dt[i][j] / mt) for i in range(n) for j in range(n)) / n**2
    if wa > 0:
        acc = 0.0
        for i in range(n):
            for j in range(n):
                for k in range(n):
                    a_s = sum(a * b for a, b in zip(unit(S, i, j), unit(S, i, k), strict=True))
                    a_t = sum(a * b for a, b in zip(unit(T, i, j), unit(T, i, k), strict=True))
                    acc += _huber(a_s - a_t)
        total += wa * acc / n**3
    return total


def ref_sp(S, T):
    """SP by loops: Gram matrix, each of its rows divided by its norm, squared Frobenius / N^2."""
    def gram(X):
        G = [[sum(a * b for a, b in zip(X[i], X[j], strict=True)) for j in range(len(X))] for i in range(len(X))]
        out = []
        for row in G:
            m = _norm(row)
            out.append([g / m if m > 0 else 0.0 for g in row])
        return out

    Gs, Gt = gram(S.tolist()), gram(T.tolist())
    n = len(Gs)
    return sum((Gt[i][j] - Gs[i][j]) ** 2 for i in range(n) for j in range(n)) / n**2


def ref_pkt(S, T, eps):
    """PKT by loops: unit rows, (cos + 1) / 2, rows divided by their sums, mean of Q log((Q+eps)/(P+eps))."""
    def probs(X):
        U = []
        for x in X:
            m = _norm(x)
            U.append([a / m if m > 0 else 0.0 for a in x])
        n = len(U)
        K = [[(sum(a * b for a, b in zip(U[i], U[j], strict=True)) + 1) / 2 for j in range(n)] for i in range(n)]
        return [[k / sum(row) for k in row] for row in K]

    P, Q = probs(S.tolist()), probs(T.tolist())
    n = len(P)
    return sum(Q[i][j] * math.log((Q[i][j] + eps) / (P[i][j] + eps))
               for i in range(n) for j in range(n) if Q[i][j] > 0) / n**2


def reference(loss_fn, S, T):
    if isinstance(loss_fn, RKDLoss):
        return ref_rkd(S, T, loss_fn.distance_weight, loss_fn.angle_weight)
    if isinstance(loss_fn, SimilarityPreservingLoss):
        return ref_sp(S, T)
    return ref_pkt(S, T, loss_fn.eps)


# ----------------------------------------------------------------------------- gradients vs FD
@pytest.mark.parametrize("loss_fn", all_losses(), ids=repr)
@given(batch=embeddings(min_n=3))
def test_gradient_matches_finite_differences(loss_fn, batch):
    S, T, scale = batch
    assume_defined(loss_fn, S, T)
    assume(not isinstance(loss_fn, PKTLoss) or min_kernel(S) > 1e-3)  # see the module docstring
    assert_gradient_matches_fd(loss_fn, S, T)


@given(batch=embeddings(min_n=3, duplicates=True))
def test_rkd_gradient_at_duplicated_rows_is_finite_and_exact_along_smooth_directions(batch):
    """Rows i and j of S are equal (a kink of the distance, a jump of the angle): the gradient is
    finite, and matches FD along every direction that keeps them together."""
    S, T, _ = batch
    n = S.shape[0]
    dup = [(a, b) for a in range(n) for b in range(a + 1, n) if np.array_equal(S[a], S[b])]
    i, j = dup[0]
    length = length_scale(S)  # the smallest nonzero distance: the duplicates' 0 is left out
    rng = np.random.default_rng(0)
    for loss_fn in rkd_variants():
        loss, grad, _ = loss_fn.loss_and_gradient(S, T)
        unit = max(loss, loss_fn.distance_weight + loss_fn.angle_weight) / length
        assert np.isfinite(loss) and np.isfinite(grad).all()
        assert np.abs(grad).max() < 1e2 * unit, "a huge gradient at a zero difference"
        for _ in range(3):
            V = rng.standard_normal(S.shape)
            V[j] = V[i]  # the pair moves as one, every other row freely
            numeric = directional_fd(loss_fn, S, T, V, 1e-5 * length)
            analytic = float((grad * V).sum())
            assert abs(analytic - numeric) <= 1e-7 * max(abs(numeric), unit * np.abs(V).sum()), (
                f"{loss_fn!r}: directional derivative {analytic} vs FD {numeric}")


@pytest.mark.parametrize("loss_fn", [SimilarityPreservingLoss(), PKTLoss()], ids=repr)
@given(batch=embeddings(duplicates=True))
def test_sp_and_pkt_are_smooth_at_duplicated_rows(loss_fn, batch):
    """Duplicated rows are no special case for SP and PKT: the full FD check holds there."""
    S, T, scale = batch
    assume(not isinstance(loss_fn, PKTLoss) or min_kernel(S) > 1e-3)  # see the module docstring
    assert_gradient_matches_fd(loss_fn, S, T)


def test_rkd_gradient_check_can_fail():
    """Dropping the chain through the mean distance is caught (the FD helper is not a tautology)."""

    class NoMeanChain(RKDLoss):
        def _compute(self, S, T, kind, labels):
            n = S.shape[0]
            u, D_s, mu_s = self._distances(S)
            _, D_t, mu_t = self._distances(T)
            g = np.clip(D_s / mu_s - D_t / mu_t, -1, 1) / n**2 / mu_s
            np.fill_diagonal(g, 0.0)
            loss, _, parts = super()._compute(S, T, kind, labels)
            return loss, self.distance_weight * -2.0 * np.einsum("kl,kld->kd", g, u), parts

    S, T = np.random.default_rng(1).standard_normal((2, 5, 3))
    with pytest.raises(AssertionError):
        assert_gradient_matches_fd(NoMeanChain(angle_weight=0.0), S, T)


# ----------------------------------------------------------------------------- slow references
@pytest.mark.parametrize("loss_fn", all_losses(), ids=repr)
@given(batch=embeddings(min_n=3, duplicates=False))
def test_loss_matches_loop_reference(loss_fn, batch):
    S, T, _ = batch
    assume_defined(loss_fn, S, T)
    # PKT's kernel (1 + cos) / 2 cancels for nearly opposite rows (cos near -1: common in 2-D draws), and
    # its log amplifies that rounding in both implementations: hypothesis found a 3.3e-12 relative gap.
    rtol = 1e-10 if isinstance(loss_fn, PKTLoss) else 1e-12
    np.testing.assert_allclose(loss_fn.compute_loss(S, T), reference(loss_fn, S, T), rtol=rtol, atol=1e-14)


@pytest.mark.parametrize("loss_fn", all_losses(), ids=repr)
def test_loss_matches_loop_reference_with_duplicated_and_zero_rows(loss_fn):
    rng = np.random.default_rng(3)
    S, T = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    S[3] = S[1]
    T[4] = T[0]
    S[2] = 0.0
    np.testing.assert_allclose(loss_fn.compute_loss(S, T), reference(loss_fn, S, T), rtol=1e-12, atol=1e-14)


def test_rkd_collapsed_embedding_gives_zero_distance_term_and_no_nan():
    rng = np.random.default_rng(4)
    T = rng.standard_normal((4, 3))
    S = np.tile(rng.standard_normal(2), (4, 1))  # every student row identical: mean distance 0
    for S_, T_ in ((S, T), (T, S[:, :1].repeat(3, axis=1)), (S, S)):
        loss, grad, _ = RKDLoss(angle_weight=0.0).loss_and_gradient(S_, T_)
        assert loss == 0.0 and not grad.any()
    loss, grad, _ = RKDLoss().loss_and_gradient(S, T)  # angles: all student cosines 0
    assert np.isfinite(loss) and np.isfinite(grad).all() and not grad.any()
    assert loss == pytest.approx(ref_rkd(S, T, 25.0, 50.0), rel=1e-12)


def test_rkd_distance_term_is_zero_at_two_samples():
    """At N = 2 the one distance divided by its mean is 1 for both models."""
    S, T = np.random.default_rng(5).standard_normal((2, 2, 3))
    loss, grad, _ = RKDLoss(angle_weight=0.0).loss_and_gradient(S, T)
    assert loss == pytest.approx(0.0, abs=1e-15) and np.abs(grad).max() < 1e-14


def test_sp_and_pkt_refuse_one_sample_and_handle_a_zero_row_at_two():
    s, t = np.array([[1.0, -2.0]]), np.array([[0.5, 3.0, 1.0]])
    for loss_fn in (SimilarityPreservingLoss(), PKTLoss()):  # one sample has no relation to another
        with pytest.raises(ValueError, match="at least 2 samples, got N = 1"):
            loss_fn.loss_and_gradient(s, t)
    s2, t2 = np.array([[0.0, 0.0], [1.0, -2.0]]), np.array([[0.5, 3.0, 1.0], [1.0, 0.0, -1.0]])
    loss, grad, _ = SimilarityPreservingLoss().loss_and_gradient(s2, t2)  # row 0 of G_S is 0
    assert np.isfinite(grad).all() and loss == pytest.approx(ref_sp(s2, t2), rel=1e-12)


# ----------------------------------------------------------------------------- properties
@given(batch=embeddings(min_n=3), c=st.floats(1e-2, 1e2), shift=st.floats(-10, 10))
def test_rkd_terms_invariant_to_scaling_and_translation(batch, c, shift):
    S, T, _ = batch
    rng = np.random.default_rng(0)
    b_s, b_t = rng.standard_normal(S.shape[1]) * shift, rng.standard_normal(T.shape[1]) * shift
    for loss_fn in (RKDLoss(angle_weight=0.0), RKDLoss(distance_weight=0.0)):
        base = loss_fn.compute_loss(S, T)
        for S2, T2 in ((c * S + b_s, T), (S, c * T + b_t), (c * S, c * T)):
            np.testing.assert_allclose(loss_fn.compute_loss(S2, T2), base, rtol=1e-9, atol=1e-12,
                                       err_msg=f"{loss_fn!r}")


@given(batch=embeddings(min_n=2), c=st.floats(1e-2, 1e2))
def test_sp_invariant_to_rotation_and_global_scaling(batch, c):
    S, T, _ = batch
    rng = np.random.default_rng(1)
    Q, _ = np.linalg.qr(rng.standard_normal((S.shape[1], S.shape[1])))
    loss_fn = SimilarityPreservingLoss()
    base = loss_fn.compute_loss(S, T)
    np.testing.assert_allclose(loss_fn.compute_loss(S @ Q, T), base, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(loss_fn.compute_loss(c * S, T), base, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(loss_fn.compute_loss(S, c * T), base, rtol=1e-9, atol=1e-13)


def test_sp_is_not_invariant_to_per_row_scaling():
    """The Gram matrix's rows are normalised (paper, reference code), not S's rows: a row's own factor
    cancels, the other rows' factors do not."""
    rng = np.random.default_rng(2)
    S, T = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    c = np.array([1.0, 3.0, 0.2, 1.0, 7.0])[:, None]
    loss_fn = SimilarityPreservingLoss()
    assert abs(loss_fn.compute_loss(c * S, T) - loss_fn.compute_loss(S, T)) > 1e-3


@given(batch=embeddings(min_n=2), seed=st.integers(0, 2**32 - 1))
def test_pkt_invariant_to_positive_per_row_scaling(batch, seed):
    S, T, _ = batch
    rng = np.random.default_rng(seed)
    cs, ct = 10.0 ** rng.uniform(-2, 2, (S.shape[0], 1)), 10.0 ** rng.uniform(-2, 2, (T.shape[0], 1))
    loss_fn = PKTLoss()
    np.testing.assert_allclose(loss_fn.compute_loss(cs * S, ct * T), loss_fn.compute_loss(S, T),
                               rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("loss_fn", all_losses(), ids=repr)
@given(batch=embeddings(min_n=3, duplicates=False))
def test_nonnegative_and_zero_with_zero_gradient_when_student_equals_teacher(loss_fn, batch):
    S, T, _ = batch
    assume_defined(loss_fn, S, T)
    loss = loss_fn.compute_loss(S, T)
    # PKT with eps > 0 can dip below 0 by O(eps^2) (its docstring); every other loss is >= 0
    assert loss >= (-1e-12 if isinstance(loss_fn, PKTLoss) and loss_fn.eps > 0 else 0.0)
    loss, grad, _ = loss_fn.loss_and_gradient(S, S.copy())
    assert loss == pytest.approx(0.0, abs=1e-14)
    if isinstance(loss_fn, PKTLoss) and loss_fn.eps > 0:  # the minimum moved by O(eps): see the docstring
        assert np.abs(grad * np.abs(S).max()).max() < 1e3 * loss_fn.eps
    else:
        assert np.abs(grad * np.abs(S).max()).max() < 1e-12


def test_losses_detect_a_sign_error():
    """A teacher with different relations gives a strictly positive loss for every strategy."""
    rng = np.random.default_rng(6)
    S, T = rng.standard_normal((6, 3)), rng.standard_normal((6, 4))
    for loss_fn in all_losses():
        assert loss_fn.compute_loss(S, T) > 1e-4, loss_fn


# ----------------------------------------------------------------------------- torch
def _torch_unit(torch, e):
    """e / |e| with 0 for zero vectors and a 0 gradient through them (the double-where)."""
    sq = (e * e).sum(-1)
    nz = sq > 0
    norm = torch.sqrt(torch.where(nz, sq, torch.ones_like(sq)))
    return torch.where(nz[..., None], e / norm[..., None], torch.zeros_like(e)), torch.where(nz, norm, 0 * norm)


def torch_rkd(torch, S, T, wd, wa):
    F = torch.nn.functional
    n = S.shape[0]

    def rel(X):
        u, D = _torch_unit(torch, X[None, :, :] - X[:, None, :])
        return u, D, D.sum() / (n * (n - 1))

    (u_s, D_s, m_s), (u_t, D_t, m_t) = rel(S), rel(T)
    dist = F.smooth_l1_loss(D_s / m_s, D_t / m_t, reduction="mean")
    ang = F.smooth_l1_loss(torch.bmm(u_s, u_s.transpose(1, 2)), torch.bmm(u_t, u_t.transpose(1, 2)), reduction="mean")
    return wd * dist + wa * ang


def torch_sp(torch, S, T):
    G_s, _ = _torch_unit(torch, S @ S.T)
    G_t, _ = _torch_unit(torch, T @ T.T)
    return ((G_t - G_s) ** 2).sum() / S.shape[0] ** 2


def torch_pkt(torch, S, T, eps):
    def probs(X):
        U, _ = _torch_unit(torch, X)
        K = (U @ U.T + 1) / 2
        return K / K.sum(1, keepdim=True)

    P, Q = probs(S), probs(T)
    return torch.mean(Q * torch.log((Q + eps) / (P + eps)))


def torch_loss(torch, loss_fn, S, T):
    if isinstance(loss_fn, RKDLoss):
        return torch_rkd(torch, S, T, loss_fn.distance_weight, loss_fn.angle_weight)
    if isinstance(loss_fn, SimilarityPreservingLoss):
        return torch_sp(torch, S, T)
    return torch_pkt(torch, S, T, loss_fn.eps)


def _autograd(torch, fn, S, T):
    s = torch.tensor(S, dtype=torch.float64, requires_grad=True)
    loss = fn(s, torch.tensor(T, dtype=torch.float64))
    loss.backward()
    return loss.item(), s.grad.numpy()


@pytest.mark.parametrize("loss_fn", all_losses(), ids=repr)
def test_agrees_with_torch_autograd_on_the_same_convention(loss_fn):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    for n, d_s, d_t in [(3, 1, 2), (5, 3, 4), (8, 6, 2), (16, 4, 5)]:
        if isinstance(loss_fn, PKTLoss) and loss_fn.eps == 0 and d_s == 1:
            continue  # infinite: one-dimensional rows of opposite signs have cosine -1
        S, T = rng.standard_normal((n, d_s)) * 2, rng.standard_normal((n, d_t))
        loss, grad, _ = loss_fn.loss_and_gradient(S, T)
        t_loss, t_grad = _autograd(torch, lambda s, t: torch_loss(torch, loss_fn, s, t), S, T)
        np.testing.assert_allclose(loss, t_loss, rtol=1e-10, atol=1e-14)
        # (in one dimension the angle term's gradient is 0: both give rounding-level values)
        np.testing.assert_allclose(grad, t_grad, rtol=1e-10, atol=1e-10 * max(np.abs(t_grad).max(), 1e-4))


def test_torch_zero_handling_matches_at_duplicated_and_zero_rows():
    """The double-where torch twin gives the same finite gradient at a duplicated and a zero row."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    S, T = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    S[4], S[2] = S[0], 0.0
    for loss_fn in all_losses():
        loss, grad, _ = loss_fn.loss_and_gradient(S, T)
        t_loss, t_grad = _autograd(torch, lambda s, t, f=loss_fn: torch_loss(torch, f, s, t), S, T)
        np.testing.assert_allclose(loss, t_loss, rtol=1e-10, atol=1e-14, err_msg=repr(loss_fn))
        np.testing.assert_allclose(grad, t_grad, rtol=1e-10, atol=1e-10 * np.abs(t_grad).max(), err_msg=repr(loss_fn))


# The reference code's conventions (lenscloth/RKD metric/loss.py + metric/utils.py; RepDistiller
# distiller_zoo/SP.py and PKT.py), re-typed from reading them, to compare numbers.
def ref_code_rkd(torch, student, teacher, wd, wa):
    F = torch.nn.functional

    def pdist(e, eps=1e-12):
        e_square = e.pow(2).sum(dim=1)
        res = (e_square.unsqueeze(1) + e_square.unsqueeze(0) - 2 * e @ e.t()).clamp(min=eps).sqrt().clone()
        res[range(len(e)), range(len(e))] = 0
        return res

    with torch.no_grad():
        t_d = pdist(teacher)
        t_d = t_d / t_d[t_d > 0].mean()
        td = teacher.unsqueeze(0) - teacher.unsqueeze(1)
        norm_td = F.normalize(td, p=2, dim=2)
        t_angle = torch.bmm(norm_td, norm_td.transpose(1, 2)).view(-1)
    d = pdist(student)
    d = d / d[d > 0].mean()
    sd = student.unsqueeze(0) - student.unsqueeze(1)
    norm_sd = F.normalize(sd, p=2, dim=2)
    s_angle = torch.bmm(norm_sd, norm_sd.transpose(1, 2)).view(-1)
    return wd * F.smooth_l1_loss(d, t_d) + wa * F.smooth_l1_loss(s_angle, t_angle)


def ref_code_sp(torch, f_s, f_t):
    bsz = f_s.shape[0]
    G_s = torch.nn.functional.normalize(f_s @ f_s.t())
    G_t = torch.nn.functional.normalize(f_t @ f_t.t())
    G_diff = G_t - G_s
    return (G_diff * G_diff).sum() / (bsz * bsz)


def ref_code_pkt(torch, output_net, target_net, eps=1e-7):
    def probs(x):
        x = x / (torch.sqrt(torch.sum(x**2, dim=1, keepdim=True)) + eps)
        sim = (x @ x.t() + 1.0) / 2.0
        return sim / sim.sum(dim=1, keepdim=True)

    model_similarity, target_similarity = probs(output_net), probs(target_net)
    return torch.mean(target_similarity * torch.log((target_similarity + eps) / (model_similarity + eps)))


@pytest.mark.parametrize(("loss_fn", "ref_fn", "rtol"), [
    (RKDLoss(), lambda torch, s, t: ref_code_rkd(torch, s, t, 25.0, 50.0), 1e-8),
    (RKDLoss(1.0, 0.0), lambda torch, s, t: ref_code_rkd(torch, s, t, 1.0, 0.0), 1e-8),
    (SimilarityPreservingLoss(), ref_code_sp, 1e-10),
    (PKTLoss(), ref_code_pkt, 1e-5),  # the reference divides rows by |x| + 1e-7: O(1e-7) relative
], ids=["rkd", "rkd-distance", "sp", "pkt"])
def test_agrees_with_the_reference_code_on_generic_inputs(loss_fn, ref_fn, rtol):
    """Rows far apart (compared with the reference's 1e-6 distance clamp) and of norm about 1."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    for n, d_s, d_t in [(4, 3, 3), (8, 5, 2), (32, 8, 6)]:
        S, T = rng.standard_normal((n, d_s)), rng.standard_normal((n, d_t))
        loss, grad, _ = loss_fn.loss_and_gradient(S, T)
        r_loss, r_grad = _autograd(torch, lambda s, t, f=ref_fn: f(torch, s, t), S, T)
        np.testing.assert_allclose(loss, r_loss, rtol=rtol)
        np.testing.assert_allclose(grad, r_grad, rtol=rtol, atol=rtol * np.abs(r_grad).max())


def test_reference_code_gradient_is_huge_at_duplicated_rows_and_minikd_is_not():
    """Why minikd differs: at two identical student rows F.normalize divides their zero difference by
    1e-12, and the reference's angle gradient is of order 1e12; minikd's is finite and O(1), and
    exact along the directions that keep the pair together (test above)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    S, T = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    S[1] = S[0]
    _, theirs = _autograd(torch, lambda s, t: ref_code_rkd(torch, s, t, 0.0, 50.0), S, T)
    _, ours, _ = RKDLoss(0.0, 50.0).loss_and_gradient(S, T)
    assert np.abs(theirs).max() > 1e9
    assert np.abs(ours).max() < 1e2
    np.testing.assert_allclose(ours[2:], theirs[2:], rtol=1e-8)  # the rows away from the pair agree


# ----------------------------------------------------------------------------- API
@pytest.mark.parametrize(("loss_fn", "minimum"), [
    (RKDLoss(), 3), (RKDLoss(angle_weight=0.0), 2), (SimilarityPreservingLoss(), 2), (PKTLoss(), 2),
], ids=repr)
def test_too_small_batch_names_n_and_the_minimum(loss_fn, minimum):
    assert loss_fn.min_batch_size == minimum
    if minimum > 1:
        X = np.ones((minimum - 1, 2))
        with pytest.raises(ValueError, match=rf"at least {minimum} samples, got N = {minimum - 1}"):
            loss_fn.compute_loss(X, X)
    X = np.random.default_rng(0).standard_normal((minimum, 2))
    assert np.isfinite(loss_fn.compute_loss(X, X[:, :1]))


@pytest.mark.parametrize("loss_fn", [RKDLoss(3.0, 0.5, student_layer=1, teacher_layer=-2),
                                     SimilarityPreservingLoss("logits", 0), PKTLoss(1e-5, -1, "logits")], ids=repr)
def test_config_round_trip(loss_fn):
    config = loss_fn.get_config()
    rebuilt = strategy_from_config(config)
    assert type(rebuilt) is type(loss_fn) and rebuilt.get_config() == config
    X, Y = np.random.default_rng(0).standard_normal((2, 5, 3))
    assert rebuilt.compute_loss(X, Y) == loss_fn.compute_loss(X, Y)


@pytest.mark.parametrize("loss_fn", all_losses(), ids=repr)
def test_float32_inputs_give_float32_gradients(loss_fn):
    rng = np.random.default_rng(11)
    S, T = rng.standard_normal((6, 3)), rng.standard_normal((6, 4))
    loss32, grad32, dparams = loss_fn.loss_and_gradient(S.astype(np.float32), T.astype(np.float32))
    loss64, grad64, _ = loss_fn.loss_and_gradient(S.astype(np.float32).astype(np.float64), T.astype(np.float32))
    assert grad32.dtype == np.float32 and isinstance(loss32, float) and dparams == {}
    assert loss32 == loss64  # computed in float64 from the float32 inputs
    np.testing.assert_allclose(grad32, grad64, rtol=1e-6, atol=1e-7 * np.abs(grad64).max())


@pytest.mark.parametrize(("cls", "kwargs", "match"), [
    (RKDLoss, {"distance_weight": -1.0}, "distance_weight must be a finite number >= 0"),
    (RKDLoss, {"angle_weight": float("nan")}, "angle_weight must be a finite number >= 0"),
    (PKTLoss, {"eps": -1e-7}, "eps must be a finite number >= 0"),
    (SimilarityPreservingLoss, {"student_layer": "hidden"}, "student_layer must be an int"),
])
def test_bad_hyperparameters(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)
