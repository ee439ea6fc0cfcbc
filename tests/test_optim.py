"""Tests for minikd.optim: SGD and Adam against slow references and PyTorch, state, bad input."""

from __future__ import annotations

import doctest
import math
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minikd.optim
from minikd.optim import SGD, Adam, Optimizer

SGD_CONFIGS = [
    dict(learning_rate=0.1),
    dict(learning_rate=0.05, weight_decay=0.01),
    dict(learning_rate=0.05, momentum=0.9),
    dict(learning_rate=0.05, momentum=0.9, weight_decay=1e-3),
    dict(learning_rate=0.05, momentum=0.5, nesterov=True),
    dict(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
]
ADAM_CONFIGS = [
    dict(),
    dict(learning_rate=0.01, beta1=0.8, beta2=0.99, eps=1e-6),
    dict(learning_rate=0.01, weight_decay=0.05),
    dict(learning_rate=0.02, beta1=0.0, beta2=0.5, eps=1e-3, weight_decay=0.1),
]


def _make_params(rng, dtype=np.float64):
    return {
        "W1": rng.standard_normal((4, 3)).astype(dtype),
        "b1": rng.standard_normal(3).astype(dtype),
        "W2": rng.standard_normal((3, 2)).astype(dtype),
    }


def _make_grads(rng, params):
    return {k: rng.standard_normal(v.shape).astype(v.dtype) for k, v in params.items()}


def _copy(params):
    return {k: v.copy() for k, v in params.items()}


# ----------------------------------------------------------------------------- slow references
def _reference_sgd(params, grad_seq, learning_rate, momentum=0.0, nesterov=False, weight_decay=0.0):
    """Element by element, straight from the PyTorch documentation of torch.optim.SGD."""
    params = {k: v.astype(np.float64).ravel().tolist() for k, v in params.items()}
    bufs = {k: None for k in params}
    for grads in grad_seq:
        for k, w in params.items():
            g = [gi + weight_decay * wi for gi, wi in zip(grads[k].ravel().tolist(), w, strict=True)]
            if momentum != 0:
                if bufs[k] is None:
                    bufs[k] = list(g)
                else:
                    bufs[k] = [momentum * bi + gi for bi, gi in zip(bufs[k], g, strict=True)]
                if nesterov:
                    g = [gi + momentum * bi for gi, bi in zip(g, bufs[k], strict=True)]
                else:
                    g = bufs[k]
            params[k] = [wi - learning_rate * gi for wi, gi in zip(w, g, strict=True)]
    return params


def _reference_adam(params, grad_seq, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                    weight_decay=0.0):
    """Element by element, Algorithm 1 of Kingma & Ba (2015) with L2 decay added to the gradient."""
    params = {k: v.astype(np.float64).ravel().tolist() for k, v in params.items()}
    m = {k: [0.0] * len(v) for k, v in params.items()}
    v = {k: [0.0] * len(p) for k, p in params.items()}
    for t, grads in enumerate(grad_seq, start=1):
        for k, w in params.items():
            new_w = []
            for i, (gi, wi) in enumerate(zip(grads[k].ravel().tolist(), w, strict=True)):
                gi = gi + weight_decay * wi
                m[k][i] = beta1 * m[k][i] + (1 - beta1) * gi
                v[k][i] = beta2 * v[k][i] + (1 - beta2) * gi * gi
                m_hat = m[k][i] / (1 - beta1**t)
                v_hat = v[k][i] / (1 - beta2**t)
                new_w.append(wi - learning_rate * m_hat / (math.sqrt(v_hat) + eps))
            params[k] = new_w
    return params


def _run(opt, params, grad_seq):
    for grads in grad_seq:
        opt.step(params, grads)
    return params


@pytest.mark.parametrize("config", SGD_CONFIGS)
def test_sgd_matches_slow_reference(config):
    rng = np.random.default_rng(0)
    params = _make_params(rng)
    grad_seq = [_make_grads(rng, params) for _ in range(6)]
    expected = _reference_sgd(params, grad_seq, **config)
    got = _run(SGD(**config), _copy(params), grad_seq)
    for k in params:
        np.testing.assert_allclose(got[k].ravel(), expected[k], rtol=1e-12, atol=1e-14,
                                   err_msg=f"SGD({config}) parameter {k}")


@pytest.mark.parametrize("config", ADAM_CONFIGS)
def test_adam_matches_slow_reference(config):
    rng = np.random.default_rng(1)
    params = _make_params(rng)
    grad_seq = [_make_grads(rng, params) for _ in range(6)]
    expected = _reference_adam(params, grad_seq, **config)
    got = _run(Adam(**config), _copy(params), grad_seq)
    for k in params:
        np.testing.assert_allclose(got[k].ravel(), expected[k], rtol=1e-12, atol=1e-14,
                                   err_msg=f"Adam({config}) parameter {k}")


def test_sgd_first_steps_by_hand():
    # lr=0.1, m=0.5: v1 = g1 = 1, W1 = 1 - 0.1 = 0.9; v2 = 0.5 * 1 + 2 = 2.5, W2 = 0.9 - 0.25 = 0.65
    params = {"w": np.array([1.0])}
    opt = SGD(learning_rate=0.1, momentum=0.5)
    opt.step(params, {"w": np.array([1.0])})
    np.testing.assert_allclose(params["w"], [0.9], rtol=1e-15, err_msg="after step 1")
    opt.step(params, {"w": np.array([2.0])})
    np.testing.assert_allclose(params["w"], [0.65], rtol=1e-15, err_msg="after step 2")


def test_adam_first_step_is_lr_times_sign():
    # At t=1, m_hat = g and v_hat = g², so the step is lr * g / (|g| + eps) ≈ lr * sign(g).
    params = {"w": np.array([1.0, 1.0, 1.0])}
    Adam(learning_rate=0.01, eps=1e-12).step(params, {"w": np.array([3.0, -0.5, 1e-3])})
    np.testing.assert_allclose(params["w"], [0.99, 1.01, 0.99], rtol=1e-9,
                               err_msg="Adam's first step should be lr * sign(grad)")


# ----------------------------------------------------------------------------- PyTorch cross-check
@pytest.mark.parametrize("config", SGD_CONFIGS + [dict(learning_rate=0.3, momentum=0.99)])
def test_sgd_matches_torch(config):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    params = _make_params(rng)
    grad_seq = [_make_grads(rng, params) for _ in range(5)]
    got = _run(SGD(**config), _copy(params), grad_seq)

    tparams = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    topt = torch.optim.SGD(
        list(tparams.values()), lr=config["learning_rate"], momentum=config.get("momentum", 0.0),
        nesterov=config.get("nesterov", False), weight_decay=config.get("weight_decay", 0.0),
    )
    for grads in grad_seq:
        for k, p in tparams.items():
            p.grad = torch.tensor(grads[k], dtype=torch.float64)
        topt.step()
    for k, p in tparams.items():
        np.testing.assert_allclose(got[k], p.detach().numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=f"SGD({config}) vs torch.optim.SGD, parameter {k}")


@pytest.mark.parametrize("config", ADAM_CONFIGS)
def test_adam_matches_torch(config):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    params = _make_params(rng)
    grad_seq = [_make_grads(rng, params) for _ in range(5)]
    got = _run(Adam(**config), _copy(params), grad_seq)

    full = Adam(**config).get_config()
    tparams = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    topt = torch.optim.Adam(
        list(tparams.values()), lr=full["learning_rate"], betas=(full["beta1"], full["beta2"]),
        eps=full["eps"], weight_decay=full["weight_decay"],
    )
    for grads in grad_seq:
        for k, p in tparams.items():
            p.grad = torch.tensor(grads[k], dtype=torch.float64)
        topt.step()
    for k, p in tparams.items():
        np.testing.assert_allclose(got[k], p.detach().numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=f"Adam({config}) vs torch.optim.Adam, parameter {k}")


# ----------------------------------------------------------------------------- in place, dtypes
@pytest.mark.parametrize("make_opt", [
    lambda: SGD(learning_rate=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda: Adam(learning_rate=0.1, weight_decay=0.01),
], ids=["sgd", "adam"])
@pytest.mark.parametrize("grad_dtype", [np.float32, np.float64])
def test_float32_params_stay_float32_and_update_in_place(make_opt, grad_dtype):
    rng = np.random.default_rng(4)
    params = _make_params(rng, np.float32)
    originals = dict(params)
    opt = make_opt()
    for _ in range(3):
        grads = {k: rng.standard_normal(v.shape).astype(grad_dtype) for k, v in params.items()}
        opt.step(params, grads)
    for k, W in params.items():
        assert W is originals[k], f"params[{k!r}] was replaced instead of updated in place"
        assert W.dtype == np.float32, f"params[{k!r}] became {W.dtype}"
    for buffer_name, buffers in opt.state_dict()["buffers"].items():
        for k, buf in buffers.items():
            assert buf.dtype == np.float32, f"{buffer_name} buffer for {k!r} is {buf.dtype}"


def test_float32_update_matches_float64_update_closely():
    rng = np.random.default_rng(5)
    params64 = _make_params(rng)
    params32 = {k: v.astype(np.float32) for k, v in params64.items()}
    grad_seq = [_make_grads(rng, params64) for _ in range(4)]
    for make in (lambda: SGD(0.1, momentum=0.9), lambda: Adam(0.01)):
        p64 = _run(make(), _copy(params64), grad_seq)
        p32 = _run(make(), _copy(params32), grad_seq)
        for k in p64:
            np.testing.assert_allclose(p32[k], p64[k], rtol=1e-5, atol=1e-6,
                                       err_msg=f"{make()} float32 vs float64, parameter {k}")


# ----------------------------------------------------------------------------- cache-blocked updates
@pytest.mark.parametrize("shape", [(), (1,), (7,), (37, 5), (3, 4, 6), (1000, 3)])
@pytest.mark.parametrize("block_bytes", [1, 8, 40, 10**9])
def test_row_blocks_cover_every_row_once(monkeypatch, shape, block_bytes):
    monkeypatch.setattr(minikd.optim, "BLOCK_BYTES", block_bytes)
    W = np.arange(math.prod(shape), dtype=np.float64).reshape(shape)
    seen = np.zeros(shape, dtype=int)
    for rows in minikd.optim._row_blocks(W):
        seen[rows] += 1
        assert W[rows].nbytes <= max(block_bytes, W[0].nbytes if W.ndim else W.nbytes)
    assert (seen == 1).all()


@pytest.mark.parametrize("config", [("sgd", c) for c in SGD_CONFIGS] + [("adam", c) for c in ADAM_CONFIGS],
                         ids=lambda c: f"{c[0]}-{c[1]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blocked_update_is_bit_identical_to_the_whole_array_update(monkeypatch, config, dtype):
    kind, kwargs = config
    rng = np.random.default_rng(13)
    params = {"W": rng.standard_normal((50, 7)).astype(dtype), "T": rng.standard_normal((6, 2, 3)).astype(dtype),
              "s": np.array(0.5, dtype=dtype), "b": rng.standard_normal(7).astype(dtype)}
    grad_seq = [_make_grads(rng, params) for _ in range(5)]
    results = []
    for block_bytes in (10**9, 64):  # one block per array, then blocks of a few rows
        monkeypatch.setattr(minikd.optim, "BLOCK_BYTES", block_bytes)
        opt = (SGD if kind == "sgd" else Adam)(**kwargs)
        results.append((_run(opt, _copy(params), grad_seq), opt.state_dict()))
    (p_whole, s_whole), (p_blocked, s_blocked) = results
    for k in params:
        assert np.array_equal(p_whole[k], p_blocked[k]), k
    for name, buffers in s_whole["buffers"].items():
        for k, buf in buffers.items():
            assert np.array_equal(buf, s_blocked["buffers"][name][k]), (name, k)


# ----------------------------------------------------------------------------- subnormal buffers
class _NeverFlushingSGD(SGD):
    _subnormal_flush_interval = 10**12  # the behaviour without the flush, for comparison


class _NeverFlushingAdam(Adam):
    _subnormal_flush_interval = 10**12


@pytest.mark.parametrize("value, exc", [(0, ValueError), (-64, ValueError), (2.5, TypeError), ("64", TypeError),
                                        (None, TypeError)])
def test_subnormal_flush_interval_is_validated(value, exc):
    opt = SGD(0.1, momentum=0.9)
    with pytest.raises(exc, match="subnormal_flush_interval"):
        opt.subnormal_flush_interval = value
    assert opt.subnormal_flush_interval == 64
    opt.subnormal_flush_interval = 10
    assert opt.subnormal_flush_interval == 10 and SGD(0.1).subnormal_flush_interval == 64


def _subnormal_count(buffers):
    return sum(int(((b != 0) & (np.abs(b) < np.finfo(b.dtype).tiny)).sum()) for b in buffers.values())


def _dead_unit_run(opt, dtype, steps):
    """One gradient of magnitude ~1e3 * tiny, then exact zeros (the weights of a dead unit)."""
    tiny = float(np.finfo(dtype).tiny)
    params = {"W": np.ones((3, 4), dtype=dtype), "b": np.full(4, -2.0, dtype=dtype)}
    first = {"W": np.full((3, 4), 1e3 * tiny, dtype=dtype), "b": np.linspace(1e2, 1e4, 4).astype(dtype) * tiny}
    zeros = {k: np.zeros_like(v) for k, v in params.items()}
    opt._step(params, first)
    seen = []
    for _ in range(steps - 1):
        opt._step(params, zeros)
        seen.append({name: _subnormal_count(bufs) for name, bufs in opt._buffers.items()})
    return params, seen


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make_opt", [
    (lambda: SGD(0.1, momentum=0.9), lambda: _NeverFlushingSGD(0.1, momentum=0.9)),
    (lambda: Adam(0.01), lambda: _NeverFlushingAdam(0.01)),
], ids=["sgd", "adam"])
def test_buffers_of_a_zero_gradient_do_not_stay_subnormal(make_opt, dtype):
    flushing, never = make_opt[0](), make_opt[1]()
    steps = 640
    params, seen = _dead_unit_run(flushing, dtype, steps)
    params_never, seen_never = _dead_unit_run(never, dtype, steps)
    # Without the flush the decaying entries end up subnormal and stay there for ever
    # (m * smallest subnormal rounds back to the smallest subnormal): the reason for the flush.
    assert any(count > 0 for count in seen_never[-1].values()), seen_never[-1]
    # With it, every 64th step leaves no subnormal entry, and they never come back.
    interval = flushing.subnormal_flush_interval
    assert interval == 64
    for t, counts in enumerate(seen, start=2):
        if t % interval == 0 or t > 300:
            assert all(c == 0 for c in counts.values()), f"step {t}: subnormal buffer entries {counts}"
    # The parameters are the same, bit for bit: lr * (a subnormal number) is far below their rounding unit.
    for k in params:
        assert np.array_equal(params[k], params_never[k]), k


@pytest.mark.parametrize("make_opt", [lambda: SGD(0.1, momentum=0.9), lambda: Adam(0.01)], ids=["sgd", "adam"])
def test_flush_keeps_normal_entries_and_steps_identical_until_then(make_opt):
    rng = np.random.default_rng(12)
    params = _make_params(rng, np.float32)
    grad_seq = [_make_grads(rng, params) for _ in range(70)]
    a, b = make_opt(), make_opt()
    b.subnormal_flush_interval = 10**12
    pa, pb = _run(a, _copy(params), grad_seq), _run(b, _copy(params), grad_seq)
    # Ordinary gradients never decay that far: the flush at step 64 changed nothing at all.
    for k in params:
        assert np.array_equal(pa[k], pb[k]), k
    for name in a._buffers:
        for k in a._buffers[name]:
            assert np.array_equal(a._buffers[name][k], b._buffers[name][k]), (name, k)


@pytest.mark.parametrize("make_opt", [lambda: SGD(0.1, momentum=0.9), lambda: Adam(0.01)], ids=["sgd", "adam"])
def test_resume_across_a_flush_is_bit_identical(make_opt):
    dtype = np.float32
    opt = make_opt()
    params, _ = _dead_unit_run(opt, dtype, 50)  # t = 50, buffers decaying towards subnormal
    saved_params, state = _copy(params), pickle.loads(pickle.dumps(opt.state_dict()))
    zeros = {k: np.zeros_like(v) for k, v in params.items()}
    for _ in range(100):  # through the flush at t = 64 and t = 128
        opt._step(params, zeros)
    resumed = type(opt)(learning_rate=1.0)
    resumed.load_state_dict(state)
    for _ in range(100):
        resumed._step(saved_params, zeros)
    for k in params:
        assert np.array_equal(params[k], saved_params[k]), k
    for name in opt._buffers:
        for k in opt._buffers[name]:
            assert np.array_equal(opt._buffers[name][k], resumed._buffers[name][k]), (name, k)


def test_step_does_not_modify_grads():
    rng = np.random.default_rng(6)
    params = _make_params(rng)
    for opt in (SGD(0.1, momentum=0.9, weight_decay=0.1), Adam(0.1, weight_decay=0.1)):
        for _ in range(2):
            grads = _make_grads(rng, params)
            saved = _copy(grads)
            opt.step(params, grads)
            for k in grads:
                np.testing.assert_array_equal(grads[k], saved[k], err_msg=f"{opt} changed grads[{k!r}]")


def test_validated_step_equals_unvalidated_step():
    rng = np.random.default_rng(7)
    params = _make_params(rng)
    grad_seq = [_make_grads(rng, params) for _ in range(3)]
    for make in (lambda: SGD(0.1, momentum=0.9, nesterov=True), lambda: Adam(0.05)):
        a, b = _copy(params), _copy(params)
        opt_a, opt_b = make(), make()
        for grads in grad_seq:
            opt_a.step(a, grads)
            opt_b._step(b, grads)
        for k in params:
            assert np.array_equal(a[k], b[k]), f"{opt_a}: step and _step differ for {k!r}"


@given(
    w=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
                 elements=st.floats(-1e3, 1e3)),
    lr=st.floats(1e-4, 10.0),
)
def test_plain_sgd_step_is_w_minus_lr_g(w, lr):
    g = np.cos(w) * 3.0  # any finite gradient of the same shape
    params = {"w": w.copy()}
    SGD(learning_rate=lr).step(params, {"w": g})
    np.testing.assert_allclose(params["w"], w - lr * g, rtol=1e-15, atol=0,
                               err_msg="plain SGD must be W - lr * grad")


@pytest.mark.parametrize("make_opt", [
    lambda: SGD(learning_rate=0.05, momentum=0.9),
    lambda: SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    lambda: Adam(learning_rate=0.05),
], ids=["sgd-momentum", "sgd-nesterov", "adam"])
def test_minimises_a_quadratic(make_opt):
    # f(W) = 0.5 * sum(a * (W - c)²), minimum at W = c; the gradient is a * (W - c).
    rng = np.random.default_rng(8)
    a = rng.uniform(0.5, 2.0, size=(3, 4))
    c = rng.standard_normal((3, 4))
    params = {"W": np.zeros((3, 4))}
    opt = make_opt()
    for _ in range(2000):
        opt.step(params, {"W": a * (params["W"] - c)})
    np.testing.assert_allclose(params["W"], c, atol=1e-5, err_msg=f"{opt} did not reach the minimum")


# ----------------------------------------------------------------------------- state
@pytest.mark.parametrize("make_opt", [
    lambda: SGD(learning_rate=0.05),
    lambda: SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda: Adam(learning_rate=0.01, beta1=0.8, weight_decay=1e-3),
], ids=["sgd", "sgd-nesterov", "adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_state_dict_resume_is_bit_identical(make_opt, dtype):
    rng = np.random.default_rng(9)
    params = _make_params(rng, dtype)
    grad_seq = [_make_grads(rng, params) for _ in range(6)]

    opt = make_opt()
    _run(opt, params, grad_seq[:3])
    saved_params = _copy(params)
    state = pickle.loads(pickle.dumps(opt.state_dict()))  # what a checkpoint does
    _run(opt, params, grad_seq[3:])

    resumed = type(opt)(learning_rate=123.0)  # hyperparameters come from the state
    resumed.load_state_dict(state)
    assert resumed.get_config() == opt.get_config()
    assert resumed.t == 3
    resumed_params = _run(resumed, saved_params, grad_seq[3:])
    for k in params:
        assert resumed_params[k].dtype == params[k].dtype
        assert np.array_equal(resumed_params[k], params[k]), (
            f"{opt}: resumed run differs from the uninterrupted one for {k!r}"
        )


def _assert_plain(obj, where="state"):
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert isinstance(k, str), f"{where} has a non-string key {k!r}"
            _assert_plain(v, f"{where}[{k!r}]")
    elif isinstance(obj, np.ndarray):
        assert obj.dtype.kind == "f", f"{where} is an ndarray of dtype {obj.dtype}"
    else:
        assert type(obj) in (int, float, bool, str), f"{where} is a {type(obj).__name__}"


@pytest.mark.parametrize("opt", [SGD(0.1, momentum=0.9), Adam(0.1)], ids=["sgd", "adam"])
def test_state_dict_is_plain_data_and_a_snapshot(opt):
    rng = np.random.default_rng(10)
    params = _make_params(rng)
    opt.step(params, _make_grads(rng, params))
    state = opt.state_dict()
    _assert_plain(state)
    assert state["type"] == type(opt).__name__ and state["t"] == 1
    snapshot = {b: _copy(bufs) for b, bufs in state["buffers"].items()}
    opt.step(params, _make_grads(rng, params))
    for b, bufs in state["buffers"].items():
        for k, arr in bufs.items():
            assert np.array_equal(arr, snapshot[b][k]), f"state_dict {b}[{k!r}] changed after a step"
    # Loading copies too: stepping the loaded optimizer leaves `state` alone.
    other = type(opt)()
    other.load_state_dict(state)
    other.step(params, _make_grads(rng, params))
    for b, bufs in state["buffers"].items():
        for k, arr in bufs.items():
            assert np.array_equal(arr, snapshot[b][k]), f"loading shared {b}[{k!r}] with state"


def test_get_config_rebuilds_the_optimizer():
    for opt in (SGD(0.2, momentum=0.5, nesterov=True, weight_decay=0.1),
                Adam(0.3, beta1=0.5, beta2=0.6, eps=1e-4, weight_decay=0.2)):
        clone = type(opt)(**opt.get_config())
        assert clone.get_config() == opt.get_config()
        assert repr(clone) == repr(opt)


def test_reset_forgets_state_and_allows_new_params():
    rng = np.random.default_rng(11)
    opt = SGD(0.1, momentum=0.9)
    params = _make_params(rng)
    opt.step(params, _make_grads(rng, params))
    other = {"V": np.zeros((2, 2))}
    with pytest.raises(ValueError, match="state was built for"):
        opt.step(other, {"V": np.ones((2, 2))})
    opt.reset()
    assert opt.t == 0 and opt.state_dict()["buffers"] == {"momentum": {}}
    opt.step(other, {"V": np.ones((2, 2))})
    np.testing.assert_allclose(other["V"], -0.1, err_msg="first step after reset")


def test_learning_rate_can_be_changed_and_is_validated():
    opt = SGD(0.1)
    opt.learning_rate = 0.5
    params = {"w": np.array([1.0])}
    opt.step(params, {"w": np.array([1.0])})
    np.testing.assert_allclose(params["w"], [0.5], err_msg="the new learning rate was not used")
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="learning_rate"):
            opt.learning_rate = bad
    assert opt.learning_rate == 0.5


def test_docstring_examples_run():
    result = doctest.testmod(minikd.optim)
    assert result.attempted > 0 and result.failed == 0, result


def test_base_class_step_is_abstract():
    with pytest.raises(NotImplementedError):
        Optimizer(0.1).step({"w": np.zeros(2)}, {"w": np.zeros(2)})


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("cls, kwargs, exc, match", [
    (SGD, dict(learning_rate=0.0), ValueError, "learning_rate must be a finite number > 0, got 0.0"),
    (SGD, dict(learning_rate=-0.1), ValueError, "learning_rate.*-0.1"),
    (SGD, dict(learning_rate=float("nan")), ValueError, "learning_rate.*nan"),
    (SGD, dict(learning_rate="0.1"), TypeError, "learning_rate must be a real number"),
    (SGD, dict(momentum=1.0), ValueError, r"momentum must be a number in \[0, 1\), got 1.0"),
    (SGD, dict(momentum=-0.1), ValueError, "momentum.*-0.1"),
    (SGD, dict(nesterov=True), ValueError, "nesterov=True requires momentum > 0"),
    (SGD, dict(momentum=0.9, nesterov="yes"), TypeError, "nesterov must be True or False"),
    (SGD, dict(weight_decay=-1e-4), ValueError, "weight_decay must be a finite number >= 0"),
    (Adam, dict(learning_rate=float("inf")), ValueError, "learning_rate.*inf"),
    (Adam, dict(beta1=1.0), ValueError, r"beta1 must be a number in \[0, 1\)"),
    (Adam, dict(beta2=-0.5), ValueError, "beta2.*-0.5"),
    (Adam, dict(eps=0.0), ValueError, "eps must be a finite number > 0"),
    (Adam, dict(weight_decay=float("nan")), ValueError, "weight_decay.*nan"),
])
def test_bad_hyperparameters(cls, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cls(**kwargs)


@pytest.mark.parametrize("opt", [SGD(0.1, momentum=0.9), Adam()], ids=["sgd", "adam"])
def test_bad_step_inputs(opt):
    W = np.zeros((2, 3))
    cases = [
        ([W], {"W": W}, TypeError, "params must be a dict"),
        ({"W": W}, [W], TypeError, "grads must be a dict"),
        ({}, {}, ValueError, "params must not be empty"),
        ({"W": W}, {"V": W}, ValueError, r"missing from grads: \['W'\], not in params: \['V'\]"),
        ({"W": W}, {"W": np.zeros((3, 2))}, ValueError,
         r"grads\['W'\] must have the shape of params\['W'\] \(2, 3\), got shape \(3, 2\)"),
        ({"W": W}, {"W": np.zeros(6)}, ValueError, r"grads\['W'\] must be 2-D"),
        ({"W": W}, {"W": np.full((2, 3), np.nan)}, ValueError,
         r"grads\['W'\] must contain only finite values, got 6 NaN or inf"),
        ({"W": W}, {"W": np.zeros((2, 3), dtype=bool)}, TypeError, r"grads\['W'\] must hold real"),
        ({"W": np.zeros((2, 3), dtype=np.int64)}, {"W": W}, TypeError,
         r"params\['W'\] must be a float ndarray"),
        ({"W": [[0.0] * 3] * 2}, {"W": W}, TypeError, r"params\['W'\] must be a float ndarray"),
    ]
    for params, grads, exc, match in cases:
        with pytest.raises(exc, match=match):
            opt.step(params, grads)
    assert opt.t == 0, "a rejected step must not count"
    readonly = np.zeros(3)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        opt.step({"b": readonly}, {"b": np.ones(3)})


def test_state_of_other_shapes_is_rejected_at_step():
    opt = Adam(0.1)
    opt.step({"W": np.zeros((2, 2))}, {"W": np.ones((2, 2))})
    with pytest.raises(ValueError, match=r"params\['W'\] has shape \(3, 2\).*state.*\(2, 2\)"):
        opt.step({"W": np.zeros((3, 2))}, {"W": np.ones((3, 2))})


def test_bad_state_dicts_are_rejected_and_leave_the_optimizer_unchanged():
    rng = np.random.default_rng(12)
    params = _make_params(rng)
    source = Adam(0.05)
    source.step(params, _make_grads(rng, params))
    good = source.state_dict()

    def variant(**changes):
        state = {**good, "buffers": {b: dict(v) for b, v in good["buffers"].items()}}
        state.update(changes)
        return state

    bad_buffers = variant()
    bad_buffers["buffers"]["exp_avg"]["W1"] = np.full((4, 3), np.inf)
    mismatched = variant()
    mismatched["buffers"]["exp_avg"]["W1"] = np.zeros((4, 4))
    int_buffer = variant()
    int_buffer["buffers"]["exp_avg_sq"]["b1"] = np.zeros(3, dtype=np.int64)
    cases = [
        ("not a dict", TypeError, "state must be a dict"),
        ({"t": 1}, ValueError, "state must have the keys"),
        (variant(format_version=99), ValueError, r"state\['format_version'\] must be 1, got 99"),
        (SGD(0.1).state_dict(), ValueError, r"state\['type'\] must be 'Adam'.*got 'SGD'"),
        (variant(config={"learning_rate": 0.1}), ValueError, r"state\['config'\] must be a dict"),
        (variant(config={**good["config"], "beta1": 2.0}), ValueError, "beta1"),
        (variant(t=-1), ValueError, r"state\['t'\] must be an integer >= 0"),
        (variant(t=1.5), TypeError, r"state\['t'\] must be an integer"),
        (variant(t=0), ValueError, r"state\['t'\] must be >= 1"),
        (variant(buffers={"exp_avg": {}}), ValueError, r"state\['buffers'\] must be a dict"),
        (bad_buffers, ValueError, r"\['W1'\] must contain only finite values"),
        (mismatched, ValueError, "same parameter names and shapes"),
        (int_buffer, TypeError, r"\['b1'\] must be a float ndarray"),
    ]
    target = Adam(0.5, beta1=0.7)
    before = target.state_dict()
    for state, exc, match in cases:
        with pytest.raises(exc, match=match):
            target.load_state_dict(state)
    after = target.state_dict()
    assert after["config"] == before["config"] and after["t"] == before["t"] == 0
    assert after["buffers"] == {"exp_avg": {}, "exp_avg_sq": {}}
