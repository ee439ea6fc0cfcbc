"""Tests of the hidden-layer losses (minikd.strategies.features): gradients against float64 central
differences, values against slow loops written from the docstrings' formulas, properties that catch
sign and scale bugs, PyTorch autograd (when installed), validation and configs.

Finite differences
------------------
The step is relative to the scale s of the inputs (``1e-5 * s`` for the cosine, ``1e-6 * s`` for
attention transfer, whose truncation error at p = 4 reached 1e-7 with 1e-5, and ``1e-3 * s`` for the
quadratic HintLoss, whose central differences have no truncation error). Rows are drawn with norms in
[0.5 s, 2 s] and, for attention transfer, every entry at least 0.2 times its row's largest, so no step
crosses a kink (|x| at 0 for p = 1) or a zero row. As in tests/test_strategies.py, ``rel_error < 1e-7``
is required over the entries of size >= 1e-2 times the largest (FD rounding noise is far below 1e-7
relative there) and ``|analytic - numeric| <= 1e-8 * max|analytic|`` over all entries.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minikd.gradcheck import numerical_gradient, rel_error
from minikd.strategies import AttentionTransferLoss, CosineHintLoss, HintLoss, strategy_from_config


# ----------------------------------------------------------------------------- slow references
def ref_hint(S, T, W=None, b=None):
    """(1/(N d_t)) sum_ij (sum_k S_ik W_kj + b_j - T_ij)^2, loops and math.fsum."""
    n, d_t = len(T), len(T[0])
    terms = []
    for i in range(n):
        for j in range(d_t):
            r = S[i][j] if W is None else math.fsum([S[i][k] * W[k][j] for k in range(len(S[i]))] + [b[j]])
            terms.append((r - T[i][j]) ** 2)
    return math.fsum(terms) / (n * d_t)


def ref_cosine(S, T):
    """(1/N) sum_i (1 - x.y / (|x| |y|)), with cos = 0 for a zero row."""
    total = []
    for x, y in zip(S, T, strict=True):
        nx = math.sqrt(math.fsum(v * v for v in x))
        ny = math.sqrt(math.fsum(v * v for v in y))
        cos = 0.0 if nx == 0 or ny == 0 else math.fsum(a * c for a, c in zip(x, y, strict=True)) / (nx * ny)
        total.append(1.0 - cos)
    return math.fsum(total) / len(S)


def ref_attention_row(x, p):
    q = [abs(v) ** p for v in x]
    norm = math.sqrt(math.fsum(v * v for v in q))
    return [0.0 if norm == 0 else v / norm for v in q]


def ref_attention(S, T, p):
    """(1/(N H)) sum_ij (a(S_i)_j - a(T_i)_j)^2 with a(x) = |x|^p / || |x|^p ||_2 (0 for a zero row)."""
    terms = []
    for x, y in zip(S, T, strict=True):
        terms += [(a - c) ** 2 for a, c in zip(ref_attention_row(x, p), ref_attention_row(y, p), strict=True)]
    return math.fsum(terms) / len(terms)


# ----------------------------------------------------------------------------- inputs
def rows(rng, n, d, s, away_from_zero=False):
    """n rows of width d with norms in [0.5 s, 2 s]; entries >= 0.2 x the row's largest if asked."""
    if away_from_zero:
        x = rng.choice([-1.0, 1.0], size=(n, d)) * rng.uniform(0.2, 1.0, size=(n, d))
    else:
        x = rng.standard_normal((n, d))
        x[np.abs(x).max(axis=1) == 0, 0] = 1.0
    return x / np.linalg.norm(x, axis=1, keepdims=True) * rng.uniform(0.5, 2.0, size=(n, 1)) * s


@st.composite
def batches(draw, same_width=True, away_from_zero=False):
    """(S, T, s): hypothesis-drawn N (1-6), widths (1-6), scale s (1e-3 to 1e3), duplicated rows."""
    n = draw(st.integers(1, 6))
    d_s = draw(st.integers(1, 6))
    d_t = d_s if same_width else draw(st.integers(1, 6))
    s = 10.0 ** draw(st.floats(-3, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    S, T = rows(rng, n, d_s, s, away_from_zero), rows(rng, n, d_t, s, away_from_zero)
    if n >= 2 and draw(st.booleans()):
        S[-1], T[-1] = S[0], T[0]  # a duplicated sample
    return S, T, s


def assert_matches_fd(analytic, numeric, what):
    analytic, numeric = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    top = float(np.abs(analytic).max()) if analytic.size else 0.0
    resolved = np.abs(analytic) >= 1e-2 * top
    err = rel_error(analytic[resolved], numeric[resolved])
    assert err < 1e-7, f"{what}: rel_error {err:.3g}\nanalytic={analytic}\nnumeric={numeric}"
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-8 * top, err_msg=what)


def fd_dS(loss_fn, S, T, eps):
    return numerical_gradient(lambda x: loss_fn.compute_loss(x, T), S.copy(), eps=eps)


# ----------------------------------------------------------------------------- gradients
@given(batches(same_width=False), st.integers(0, 2**32 - 1))
def test_hint_gradients_match_finite_differences(batch, seed):
    S, T, s = batch
    loss_fn = HintLoss(seed=seed, student_dim=S.shape[1], teacher_dim=T.shape[1])
    W, b = loss_fn.params["W"], loss_fn.params["b"]
    b[:] = np.random.default_rng(seed).standard_normal(b.shape) * s  # written in place: the loss must see it
    _, dS, dparams = loss_fn.loss_and_gradient(S, T)
    assert_matches_fd(dS, fd_dS(loss_fn, S, T, 1e-3 * s), "HintLoss dS")
    f = lambda: loss_fn.compute_loss(S, T)  # noqa: E731 -- reads W and b through params
    assert_matches_fd(dparams["W"], numerical_gradient(f, W, eps=1e-3 / math.sqrt(S.shape[1])), "HintLoss dW")
    assert_matches_fd(dparams["b"], numerical_gradient(f, b, eps=1e-3 * s), "HintLoss db")


@given(batches())
def test_hint_without_regressor_gradient_matches_finite_differences(batch):
    S, T, s = batch
    loss_fn = HintLoss(regressor=False)
    assert_matches_fd(loss_fn.compute_gradient(S, T), fd_dS(loss_fn, S, T, 1e-3 * s), "HintLoss(regressor=False)")


@given(batches())
def test_cosine_gradient_matches_finite_differences(batch):
    S, T, s = batch
    loss_fn = CosineHintLoss()
    assert_matches_fd(loss_fn.compute_gradient(S, T), fd_dS(loss_fn, S, T, 1e-5 * s), "CosineHintLoss")


@given(batches(away_from_zero=True), st.one_of(st.sampled_from([1.0, 2.0, 3.0]), st.floats(1.0, 4.0)))
def test_attention_gradient_matches_finite_differences(batch, p):
    S, T, s = batch
    loss_fn = AttentionTransferLoss(p)
    # |x|^p's higher derivatives grow with p: a smaller step keeps the O(eps^2) truncation below 1e-8
    assert_matches_fd(loss_fn.compute_gradient(S, T), fd_dS(loss_fn, S, T, 1e-6 * s), f"AT p={p}")


def test_gradient_check_can_fail():
    """The FD assertion rejects a gradient that is 1e-6 off, and the sign or scale bugs it is meant to catch."""
    rng = np.random.default_rng(0)
    S, T = rows(rng, 4, 3, 1.0), rows(rng, 4, 3, 1.0)
    for loss_fn in (HintLoss(regressor=False), CosineHintLoss(), AttentionTransferLoss(2)):
        g, numeric = loss_fn.compute_gradient(S, T), fd_dS(loss_fn, S, T, 1e-5)
        assert_matches_fd(g, numeric, repr(loss_fn))
        for wrong in (g * (1 + 1e-6), -g, g * 3 / 4):
            with pytest.raises(AssertionError):
                assert_matches_fd(wrong, numeric, repr(loss_fn))


# ----------------------------------------------------------------------------- slow references
@given(batches(same_width=False), st.integers(0, 2**32 - 1))
def test_hint_matches_loop_reference(batch, seed):
    S, T, s = batch
    loss_fn = HintLoss(seed=seed)
    loss = loss_fn.compute_loss(S, T)
    W, b = loss_fn.params["W"], loss_fn.params["b"]
    assert loss == pytest.approx(ref_hint(S.tolist(), T.tolist(), W.tolist(), b.tolist()), rel=1e-12, abs=1e-12 * s * s)
    if S.shape[1] == T.shape[1]:
        loss = HintLoss(regressor=False).compute_loss(S, T)
        assert loss == pytest.approx(ref_hint(S.tolist(), T.tolist()), rel=1e-12, abs=1e-12 * s * s)


@given(batches(), st.booleans())
def test_cosine_matches_loop_reference(batch, zero_row):
    S, T, _ = batch
    if zero_row:
        S[0] = 0.0
    expected = ref_cosine(S.tolist(), T.tolist())
    assert CosineHintLoss().compute_loss(S, T) == pytest.approx(expected, rel=1e-12, abs=1e-12)


@given(batches(), st.floats(1.0, 4.0), st.booleans())
def test_attention_matches_loop_reference(batch, p, zero_row):
    S, T, _ = batch
    if zero_row:
        T[0] = 0.0
    loss = AttentionTransferLoss(p).compute_loss(S, T)
    assert loss == pytest.approx(ref_attention(S.tolist(), T.tolist(), p), rel=1e-12, abs=1e-12)


def test_references_by_hand():
    """The references themselves, on numbers worked out on paper."""
    assert ref_hint([[1.0, 2.0]], [[0.0, 0.0]]) == 2.5                              # (1 + 4) / 2
    assert ref_hint([[1.0]], [[0.0, 1.0]], W=[[2.0, 3.0]], b=[0.5, 0.0]) == (2.5**2 + 2**2) / 2
    assert ref_cosine([[1.0, 0.0], [1.0, 1.0]], [[0.0, 1.0], [2.0, 2.0]]) == pytest.approx(0.5)  # (1 + 0) / 2
    assert ref_attention([[3.0, 4.0]], [[4.0, 3.0]], 1) == pytest.approx((0.2**2 + 0.2**2) / 2)
    assert AttentionTransferLoss(1).compute_loss([[3.0, 4.0]], [[4.0, 3.0]]) == pytest.approx(0.04)


# ----------------------------------------------------------------------------- properties
def all_losses(d_s, d_t, seed=0):
    yield HintLoss(seed=seed, student_dim=d_s, teacher_dim=d_t)
    if d_s == d_t:
        yield HintLoss(regressor=False)
        yield CosineHintLoss()
        yield AttentionTransferLoss(1)
        yield AttentionTransferLoss(2.5)


@given(batches(), st.booleans())
def test_losses_are_nonnegative_and_bounded(batch, zero_row):
    S, T, _ = batch
    if zero_row:
        S[0] = 0.0
    h = S.shape[1]
    for loss_fn in all_losses(h, h):
        loss, dS, _ = loss_fn.loss_and_gradient(S, T)
        assert loss >= 0 and np.isfinite(dS).all(), repr(loss_fn)
    assert CosineHintLoss().compute_loss(S, T) <= 2 + 1e-15
    assert AttentionTransferLoss(2).compute_loss(S, T) <= 2 / h + 1e-15  # a mean over N·H, not a sum


@given(batches(), st.booleans())
def test_zero_when_student_equals_teacher(batch, zero_row):
    S, _, s = batch
    if zero_row:
        S[0] = 0.0
    h = S.shape[1]
    for loss_fn in (HintLoss(regressor=False), AttentionTransferLoss(1), AttentionTransferLoss(3.5)):
        loss, dS, _ = loss_fn.loss_and_gradient(S, S.copy())
        assert loss == 0.0 and not dS.any(), repr(loss_fn)
    identity = HintLoss(student_dim=h, teacher_dim=h, seed=1)
    identity.params["W"][:] = np.eye(h)
    loss, dS, dparams = identity.loss_and_gradient(S, S.copy())
    assert loss == 0.0 and not dS.any() and not dparams["W"].any() and not dparams["b"].any()
    loss, dS, _ = CosineHintLoss().loss_and_gradient(S, S.copy())
    assert loss <= 1e-15 * S.shape[0] + (1.0 / S.shape[0] if zero_row else 0.0)  # a zero row: cos 0, loss 1
    assert np.abs(dS).max() <= 1e-15 / s


@given(batches(), st.floats(1e-3, 1e3), st.integers(0, 2**32 - 1))
def test_cosine_and_attention_ignore_positive_row_scales(batch, c, seed):
    S, T, _ = batch
    scale = np.random.default_rng(seed).uniform(0.5, 2.0, size=(S.shape[0], 1)) * c
    for loss_fn in (CosineHintLoss(), AttentionTransferLoss(1.5)):
        loss, dS, _ = loss_fn.loss_and_gradient(S, T)
        loss_s, dS_s, _ = loss_fn.loss_and_gradient(S * scale, T)
        assert loss_s == pytest.approx(loss, rel=1e-12, abs=1e-14), repr(loss_fn)
        assert loss_fn.compute_loss(S, T * scale) == pytest.approx(loss, rel=1e-12, abs=1e-14), repr(loss_fn)
        np.testing.assert_allclose(dS_s * scale, dS, rtol=1e-10, atol=1e-12 * np.abs(dS).max(), err_msg=repr(loss_fn))


@pytest.mark.parametrize("c", [1e-300, 1e-150, 1e150, 1e300])
def test_cosine_and_attention_at_extreme_scales(c):
    """Rows are divided by their largest entry first: no square over- or underflows, no eps shifts the value."""
    rng = np.random.default_rng(5)
    S, T = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    for loss_fn in (CosineHintLoss(), AttentionTransferLoss(3)):
        loss, dS, _ = loss_fn.loss_and_gradient(S, T)
        loss_c, dS_c, _ = loss_fn.loss_and_gradient(S * c, T / c)
        assert loss_c == pytest.approx(loss, rel=1e-14), repr(loss_fn)
        np.testing.assert_allclose(dS_c * c, dS, rtol=1e-13, atol=1e-15, err_msg=repr(loss_fn))


@given(batches())
def test_symmetric_losses_and_sign_rules(batch):
    S, T, _ = batch
    for loss_fn in (HintLoss(regressor=False), CosineHintLoss(), AttentionTransferLoss(2), AttentionTransferLoss(1)):
        assert loss_fn.compute_loss(S, T) == pytest.approx(loss_fn.compute_loss(T, S), rel=1e-13, abs=1e-15)
    hint = HintLoss(regressor=False)
    np.testing.assert_array_equal(hint.compute_gradient(S, T), -hint.compute_gradient(T, S))
    # cos(S, -T) = -cos(S, T): the per-sample losses become 1 + cos, their mean 2 - L
    cosine = CosineHintLoss()
    assert cosine.compute_loss(S, -T) == pytest.approx(2 - cosine.compute_loss(S, T), abs=1e-14)
    at = AttentionTransferLoss(2)  # |x|^p ignores signs; its gradient is odd in S
    assert at.compute_loss(-S, T) == at.compute_loss(S, T)
    np.testing.assert_array_equal(at.compute_gradient(-S, T), -at.compute_gradient(S, T))


@given(batches(same_width=False), st.integers(0, 2**32 - 1))
def test_hint_gradient_carries_one_over_n_times_d_t(batch, seed):
    S, T, _ = batch
    n, d_t = T.shape
    if S.shape[1] == d_t:  # no regressor: dS = 2 (S - T) / (N d_t), exactly the definition of the mean
        np.testing.assert_allclose(HintLoss(regressor=False).compute_gradient(S, T) * (n * d_t) / 2, S - T,
                                   rtol=1e-14, atol=1e-14 * np.abs(S - T).max())
    one = HintLoss(seed=seed, student_dim=S.shape[1], teacher_dim=d_t)
    loss, dS, dp = one.loss_and_gradient(S, T)
    twice = HintLoss(seed=seed, student_dim=S.shape[1], teacher_dim=d_t)  # the batch repeated: N -> 2N
    loss2, dS2, dp2 = twice.loss_and_gradient(np.vstack([S, S]), np.vstack([T, T]))
    assert loss2 == pytest.approx(loss, rel=1e-13)
    np.testing.assert_allclose(dS2[:n] * 2, dS, rtol=1e-12, atol=1e-14 * np.abs(dS).max())
    np.testing.assert_allclose(dp2["W"], dp["W"], rtol=1e-12, atol=1e-14 * np.abs(dp["W"]).max())
    wide = HintLoss(regressor=True, student_dim=S.shape[1], teacher_dim=2 * d_t)  # the teacher's columns repeated
    wide.params["W"][:] = np.hstack([one.params["W"]] * 2)
    loss_w, dS_w, dp_w = wide.loss_and_gradient(S, np.hstack([T, T]))
    assert loss_w == pytest.approx(loss, rel=1e-13)
    np.testing.assert_allclose(dS_w, dS, rtol=1e-12, atol=1e-14 * np.abs(dS).max())
    np.testing.assert_allclose(dp_w["W"][:, :d_t] * 2, dp["W"], rtol=1e-12, atol=1e-14 * np.abs(dp["W"]).max())


@pytest.mark.parametrize("n", [1, 2])
def test_zero_rows_identical_rows_and_small_batches(n):
    rng = np.random.default_rng(n)
    S, T = rng.standard_normal((n, 4)), rng.standard_normal((n, 4))
    S[0] = 0.0
    for loss_fn in all_losses(4, 4):
        loss, dS, _ = loss_fn.loss_and_gradient(S, T)
        assert np.isfinite(loss) and np.isfinite(dS).all(), repr(loss_fn)
        if not isinstance(loss_fn, HintLoss):
            assert not dS[0].any(), f"{loss_fn!r}: a zero student row must get a zero gradient"
        loss, dS, _ = loss_fn.loss_and_gradient(S, np.zeros_like(T))  # a zero teacher too
        assert np.isfinite(loss) and np.isfinite(dS).all(), repr(loss_fn)
    assert CosineHintLoss().compute_loss(S[:1], T[:1]) == 1.0           # cos := 0 for a zero row
    assert AttentionTransferLoss().compute_loss(S[:1], T[:1]) == pytest.approx(1 / 4)  # |a(T_0)|^2 / H
    one_hot = np.zeros((1, 4))
    one_hot[0, 1] = 2.0  # p = 1 at entries exactly 0: the subgradient 0 there
    dS = AttentionTransferLoss(1).compute_gradient(one_hot, np.ones((1, 4)))
    assert dS[0, 0] == dS[0, 2] == dS[0, 3] == 0.0 and dS[0, 1] == 0.0  # a(x) = e_1 for any positive x_1


# ----------------------------------------------------------------------------- PyTorch
def _torch_batch(rng, n, d, s=1.0):
    return rows(rng, n, d, s, away_from_zero=True)


@pytest.mark.parametrize("seed", range(4))
def test_hint_matches_pytorch_mse_on_a_linear_regressor(seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    n, d_s, d_t = 5, 3 + seed, 4
    S, T = rng.standard_normal((n, d_s)), rng.standard_normal((n, d_t))
    loss_fn = HintLoss(seed=seed, student_dim=d_s, teacher_dim=d_t)
    loss_fn.params["b"][:] = rng.standard_normal(d_t)
    loss, dS, dp = loss_fn.loss_and_gradient(S, T)
    linear = torch.nn.Linear(d_s, d_t).double()
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(loss_fn.params["W"].T))  # nn.Linear's weight is (d_t, d_s) = W.T
        linear.bias.copy_(torch.tensor(loss_fn.params["b"]))
    s = torch.tensor(S, requires_grad=True)
    out = torch.nn.MSELoss()(linear(s), torch.tensor(T))
    out.backward()
    assert loss == pytest.approx(out.item(), rel=1e-10)
    np.testing.assert_allclose(dS, s.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dp["W"], linear.weight.grad.numpy().T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dp["b"], linear.bias.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n, d", [(1, 3), (2, 1), (5, 4), (6, 6)])
def test_cosine_matches_pytorch_cosine_embedding_loss(n, d):
    """Rows of norm >= 0.5, where torch's 1e-12 on each squared norm changes the cosine by < 1e-11."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10 * n + d)
    S, T = _torch_batch(rng, n, d), _torch_batch(rng, n, d)
    loss, dS, _ = CosineHintLoss().loss_and_gradient(S, T)
    s = torch.tensor(S, requires_grad=True)
    out = torch.nn.CosineEmbeddingLoss()(s, torch.tensor(T), torch.ones(n, dtype=torch.float64))
    out.backward()
    assert loss == pytest.approx(out.item(), rel=1e-10, abs=1e-10)
    np.testing.assert_allclose(dS, s.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_pytorch_cosine_guard_is_as_documented():
    """torch adds 1e-12 to each squared norm; for a zero student row its gradient is -1e6 y_hat / N, ours 0."""
    torch = pytest.importorskip("torch")
    tiny = torch.tensor([[1e-6]], dtype=torch.float64)
    assert torch.nn.CosineEmbeddingLoss()(tiny, tiny, torch.ones(1)).item() == pytest.approx(0.5)
    assert CosineHintLoss().compute_loss([[1e-6]], [[1e-6]]) == 0.0
    y = np.array([[1.0, 2.0, 2.0]])
    s = torch.zeros((1, 3), dtype=torch.float64, requires_grad=True)
    torch.nn.CosineEmbeddingLoss()(s, torch.tensor(y), torch.ones(1)).backward()
    np.testing.assert_allclose(s.grad.numpy(), -1e6 * y / 3, rtol=1e-6)
    assert not CosineHintLoss().compute_gradient(np.zeros((1, 3)), y).any()


@pytest.mark.parametrize("p", [1.0, 1.5, 2.0, 3.0, 4.0])
def test_attention_matches_the_formula_in_pytorch(p):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(int(p * 10))
    S, T = _torch_batch(rng, 5, 4, 3.0), _torch_batch(rng, 5, 4, 0.3)
    loss, dS, _ = AttentionTransferLoss(p).loss_and_gradient(S, T)
    s = torch.tensor(S, requires_grad=True)
    out = (F.normalize(s.abs().pow(p), dim=1) - F.normalize(torch.tensor(T).abs().pow(p), dim=1)).pow(2).mean()
    out.backward()
    assert loss == pytest.approx(out.item(), rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(dS, s.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_attention_is_the_authors_at_loss_on_one_channel_maps():
    """szagoruyko/attention-transfer utils.py: at(x) normalises x.pow(2).mean(1) flattened; at_loss takes
    .pow(2).mean() of the difference. A row of H units is a one-channel map of H positions."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    S, T = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))

    def attention_map(x):  # (N, C, H, W) -> (N, H*W), mean over channels, unit rows
        return F.normalize(x.pow(2).mean(1).view(x.size(0), -1))

    s = torch.tensor(S).view(4, 1, 6, 1).requires_grad_(True)
    out = (attention_map(s) - attention_map(torch.tensor(T).view(4, 1, 6, 1))).pow(2).mean()
    out.backward()
    loss, dS, _ = AttentionTransferLoss(2).loss_and_gradient(S, T)
    assert loss == pytest.approx(out.item(), rel=1e-10)
    np.testing.assert_allclose(dS, s.grad.view(4, 6).numpy(), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- validation and configs
@pytest.mark.parametrize("make, S, T, words", [
    (lambda: HintLoss(regressor=False), np.ones((2, 3)), np.ones((2, 4)), ("d_s = 3", "d_t = 4")),
    (lambda: CosineHintLoss(), np.ones((2, 3)), np.ones((2, 4)), ("d_s = 3", "d_t = 4")),
    (lambda: AttentionTransferLoss(), np.ones((2, 5)), np.ones((2, 2)), ("d_s = 5", "d_t = 2")),
    (lambda: HintLoss(student_dim=3, teacher_dim=4), np.ones((2, 3)), np.ones((2, 5)), ("(3, 4)", "d_t = 5")),
    (lambda: HintLoss(student_dim=2), np.ones((2, 3)), np.ones((2, 4)), ("(2, 4)", "d_s = 3")),
    (lambda: HintLoss(), np.ones((2, 3)), np.ones((3, 3)), ("same N",)),
])
def test_bad_widths_and_batches(make, S, T, words):
    with pytest.raises(ValueError) as info:
        make().loss_and_gradient(S, T)
    for word in words:
        assert word in str(info.value)


def test_hint_regressor_is_fixed_by_its_first_call():
    loss_fn = HintLoss(seed=0)
    assert loss_fn.params == {}
    loss_fn.compute_loss(np.ones((2, 3)), np.ones((2, 4)))
    assert loss_fn.params["W"].shape == (3, 4) and loss_fn.params["b"].shape == (4,)
    assert not loss_fn.params["b"].any()
    with pytest.raises(ValueError, match=r"\(3, 4\).*d_s = 2"):
        loss_fn.compute_loss(np.ones((2, 2)), np.ones((2, 4)))
    assert HintLoss(regressor=False).params == {}
    with pytest.raises(ValueError, match="d_s = 3 and d_t = 4"):
        HintLoss(regressor=False, student_dim=3, teacher_dim=4)


def test_hint_init_is_seeded_and_scaled():
    W = HintLoss(seed=7, student_dim=400, teacher_dim=50).params["W"]
    np.testing.assert_array_equal(W, HintLoss(seed=7, student_dim=400, teacher_dim=50).params["W"])
    np.testing.assert_array_equal(W, np.random.default_rng(7).standard_normal((400, 50)) / 20)
    assert W.var() == pytest.approx(1 / 400, rel=0.05)
    lazy = HintLoss(seed=7)
    lazy.compute_loss(np.ones((1, 400)), np.ones((1, 50)))
    np.testing.assert_array_equal(lazy.params["W"], W)


def test_writing_into_params_changes_the_loss():
    loss_fn = HintLoss(seed=0, student_dim=2, teacher_dim=2)
    S = np.array([[1.0, 2.0]])
    loss_fn.params["W"][:] = np.eye(2)
    assert loss_fn.compute_loss(S, S) == 0.0
    loss_fn.params["b"][:] = 1.0
    assert loss_fn.compute_loss(S, S) == 1.0


@pytest.mark.parametrize("kwargs, error", [
    ({"seed": -1}, ValueError), ({"seed": 1.5}, TypeError), ({"seed": "0"}, TypeError),
    ({"regressor": 1}, TypeError), ({"student_dim": 0}, ValueError), ({"teacher_dim": 2.0}, TypeError),
    ({"student_layer": "hidden"}, ValueError),
])
def test_hint_bad_arguments(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        HintLoss(**kwargs)


@pytest.mark.parametrize("p, error", [(0.5, ValueError), (0, ValueError), (-2, ValueError),
                                      (float("nan"), ValueError), (float("inf"), ValueError), ("2", TypeError),
                                      (True, TypeError), (None, TypeError)])
def test_attention_bad_p(p, error):
    with pytest.raises(error, match="p must be"):
        AttentionTransferLoss(p)


@pytest.mark.parametrize("loss_fn", [
    HintLoss(student_layer=0, teacher_layer=-2, seed=3, student_dim=3, teacher_dim=5),
    HintLoss(regressor=False, student_layer="logits", teacher_layer="logits"),
    CosineHintLoss(student_layer=1, teacher_layer=0),
    AttentionTransferLoss(p=3, student_layer=-1, teacher_layer=2),
], ids=repr)
def test_config_round_trip(loss_fn):
    config = loss_fn.get_config()
    rebuilt = strategy_from_config(config)
    assert type(rebuilt) is type(loss_fn) and rebuilt.get_config() == config
    assert "W" not in config and "params" not in config  # parameters live in params (and checkpoints)
    S, T = np.ones((2, 3)), np.arange(10.0).reshape(2, 5)
    if isinstance(loss_fn, HintLoss) and loss_fn.regressor:
        # same seed and widths: the same *initial* regressor; trained values would not be carried over
        np.testing.assert_array_equal(rebuilt.params["W"], loss_fn.params["W"])
        assert rebuilt.compute_loss(S, T) == loss_fn.compute_loss(S, T)


def test_hint_config_records_widths_learned_on_the_first_call():
    loss_fn = HintLoss(seed=1)
    loss_fn.compute_loss(np.ones((2, 3)), np.ones((2, 2)))
    rebuilt = strategy_from_config(loss_fn.get_config())
    np.testing.assert_array_equal(rebuilt.params["W"], loss_fn.params["W"])
    generator = HintLoss(seed=np.random.default_rng(0))
    assert generator.get_config()["seed"] is None  # a Generator is not plain data


@pytest.mark.parametrize("make", [lambda: HintLoss(seed=0), lambda: HintLoss(regressor=False), CosineHintLoss,
                                  lambda: AttentionTransferLoss(1.5)])
def test_float32_in_float32_out(make):
    rng = np.random.default_rng(0)
    S, T = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)
    loss_fn = make()
    loss, dS, dparams = loss_fn.loss_and_gradient(S, T)
    assert isinstance(loss, float) and dS.dtype == np.float32 and dS.shape == S.shape
    for key, g in dparams.items():  # the regressor's arrays are float64, and so are their gradients
        assert g.dtype == loss_fn.params[key].dtype == np.float64
    loss64, dS64, _ = make().loss_and_gradient(S.astype(np.float64), T.astype(np.float64))
    assert loss == pytest.approx(loss64, rel=1e-12)
    np.testing.assert_allclose(dS, dS64, rtol=1e-6, atol=1e-7)
    assert make().loss_and_gradient(S, T.astype(np.float64))[1].dtype == np.float32
