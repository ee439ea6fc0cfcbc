"""Tests of EnsembleTeacher: identities, weights, the three modes against a slow reference, what
softening each mode means, use in the trainer, dtypes, and bad input."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from minikd.datasets import make_blobs
from minikd.functional import log_softmax, softmax
from minikd.mlp import MLP
from minikd.optim import SGD
from minikd.strategies import DistillationLoss, LogitMatchingLoss
from minikd.teachers import EnsembleTeacher, TeacherModel, TeacherModelWrapper
from minikd.trainer import KnowledgeDistillationTrainer

MODES = ("logits", "probabilities", "geometric")


def fixed(logits):
    """A callable teacher that returns the given (N, C) logits whatever X of N rows it gets."""
    logits = np.asarray(logits)

    def teacher(X):
        assert X.shape[0] == logits.shape[0]
        return logits

    return teacher


def slow_reference(member_logits, weights, mode):
    """Obviously-correct per-sample loops in float64 Python math (weights already normalised)."""
    K = len(member_logits)
    N, C = member_logits[0].shape
    out = np.empty((N, C))
    for i in range(N):
        probs = []
        for k in range(K):
            row = [float(v) for v in member_logits[k][i]]
            top = max(row)
            total = sum(math.exp(v - top) for v in row)
            probs.append([math.exp(v - top) / total for v in row])
        for j in range(C):
            if mode == "logits":
                out[i, j] = sum(weights[k] * float(member_logits[k][i, j]) for k in range(K))
            elif mode == "probabilities":
                out[i, j] = math.log(sum(weights[k] * probs[k][j] for k in range(K)))
            else:  # geometric: log of the normalised prod_k p_k^w_k
                out[i, j] = sum(weights[k] * math.log(probs[k][j]) for k in range(K))
        if mode == "geometric":
            out[i] -= math.log(sum(math.exp(g) for g in out[i]))
    return out


@pytest.fixture(scope="module")
def members():
    rng = np.random.default_rng(0)
    return [rng.normal(scale=3.0, size=(6, 4)) for _ in range(3)]


# ------------------------------------------------------------------ identities
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("k", [1, 2, 5])
def test_ensemble_of_identical_teachers_is_that_teacher(mode, k):
    teacher = MLP([5, 12, 4], seed=3)
    X = np.random.default_rng(1).normal(size=(7, 5))
    out = EnsembleTeacher([teacher] * k, mode=mode).get_logits(X)
    v = teacher.forward(X)
    # "logits" gives the teacher's logits; the two probability modes give its log-probabilities
    expected = v if mode == "logits" else log_softmax(v)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12,
                               err_msg=f"{k} copies of one teacher, mode={mode}")
    np.testing.assert_allclose(softmax(out, 3.0), softmax(v, 3.0), rtol=1e-12, atol=1e-15,
                               err_msg="the softened targets must be the teacher's")


def test_two_identical_teachers_train_bit_identically_to_the_teacher():
    """0.5 v + 0.5 v == v exactly, so distilling from the ensemble is the same run, bit for bit."""
    X, y = make_blobs(n_samples=60, n_features=4, n_classes=3, seed=0)
    teacher = MLP([4, 16, 3], seed=0)
    students = []
    for t in (teacher, EnsembleTeacher([teacher, teacher.copy()])):
        student = MLP([4, 8, 3], seed=1)
        KnowledgeDistillationTrainer(t, DistillationLoss(2.0, 0.5), seed=0).train(
            student, X, y, epochs=3, batch_size=16, optimizer=SGD(0.05, momentum=0.9), verbose=0)
        students.append(student)
    for key in students[0].params:
        np.testing.assert_array_equal(students[1].params[key], students[0].params[key], err_msg=key)


# ------------------------------------------------------------------ weights
@pytest.mark.parametrize("mode", MODES)
def test_weight_one_on_a_teacher_selects_it(members, mode):
    for i in range(3):
        w = np.zeros(3)
        w[i] = 1.0
        out = EnsembleTeacher([fixed(v) for v in members], weights=w, mode=mode).get_logits(np.zeros((6, 2)))
        expected = members[i] if mode == "logits" else log_softmax(members[i])
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12, err_msg=f"weights {w}, mode={mode}")


@pytest.mark.parametrize("mode", MODES)
def test_weights_are_normalised_and_honoured(members, mode):
    teachers = [fixed(v) for v in members]
    X = np.zeros((6, 2))
    raw = EnsembleTeacher(teachers, weights=[1, 1, 2], mode=mode)
    np.testing.assert_allclose(raw.weights, [0.25, 0.25, 0.5], rtol=0, atol=1e-15)
    normalised = EnsembleTeacher(teachers, weights=[0.25, 0.25, 0.5], mode=mode)
    np.testing.assert_allclose(raw.get_logits(X), normalised.get_logits(X), rtol=1e-13, atol=1e-13,
                               err_msg="weights [1, 1, 2] must act as [0.25, 0.25, 0.5]")
    np.testing.assert_allclose(raw.get_logits(X), slow_reference(members, [0.25, 0.25, 0.5], mode),
                               rtol=1e-10, atol=1e-10, err_msg=mode)
    uniform = EnsembleTeacher(teachers, mode=mode).get_logits(X)
    assert not np.allclose(uniform, raw.get_logits(X)), "unequal weights must change the result"
    np.testing.assert_allclose(uniform, slow_reference(members, [1 / 3] * 3, mode), rtol=1e-10, atol=1e-10)


def test_weights_attribute_is_a_copy(members):
    ens = EnsembleTeacher([fixed(v) for v in members], weights=[1, 2, 1])
    w = ens.weights
    w[:] = 0
    np.testing.assert_allclose(ens.weights, [0.25, 0.5, 0.25], rtol=0, atol=1e-15)


# ------------------------------------------------------------------ the modes against the reference
@given(
    K=st.integers(1, 4),
    N=st.integers(1, 5),
    C=st.integers(2, 6),
    data=st.data(),
)
def test_modes_agree_with_slow_reference(K, N, C, data):
    elems = st.floats(-30, 30, allow_nan=False, allow_infinity=False)
    logits = [data.draw(arrays(np.float64, (N, C), elements=elems)) for _ in range(K)]
    raw_w = data.draw(st.lists(st.floats(0, 5, allow_nan=False), min_size=K, max_size=K).filter(
        lambda w: sum(w) > 1e-3))
    weights = np.asarray(raw_w) / sum(raw_w)
    for mode in MODES:
        ens = EnsembleTeacher([fixed(v) for v in logits], weights=raw_w, mode=mode)
        np.testing.assert_allclose(ens.get_logits(np.zeros((N, 3))), slow_reference(logits, weights, mode),
                                   rtol=1e-9, atol=1e-9, err_msg=f"mode={mode}, weights={raw_w}")


@pytest.mark.parametrize("T", [0.5, 1.0, 4.0, 20.0])
def test_geometric_and_logits_modes_give_the_same_softened_targets(members, T):
    """sum_k w_k log_softmax(v_k) differs from sum_k w_k v_k by a per-row constant."""
    teachers = [fixed(v) for v in members]
    X = np.zeros((6, 2))
    geo = EnsembleTeacher(teachers, weights=[0.2, 0.3, 0.5], mode="geometric").get_logits(X)
    mean = EnsembleTeacher(teachers, weights=[0.2, 0.3, 0.5], mode="logits").get_logits(X)
    np.testing.assert_allclose(softmax(geo, T), softmax(mean, T), rtol=1e-10, atol=1e-14, err_msg=f"T={T}")
    # = the normalised geometric mean of the members' softened distributions
    prod = np.prod([softmax(v, T) ** w for v, w in zip(members, [0.2, 0.3, 0.5], strict=True)], axis=0)
    np.testing.assert_allclose(softmax(mean, T), prod / prod.sum(axis=1, keepdims=True), rtol=1e-10, atol=1e-14)
    # ... but the raw values differ, which LogitMatchingLoss(center=False) sees (and center=True does not)
    z = np.random.default_rng(2).normal(size=mean.shape)
    raw = LogitMatchingLoss()
    assert abs(raw.compute_loss(z, geo) - raw.compute_loss(z, mean)) > 1e-3
    centred = LogitMatchingLoss(center=True)
    np.testing.assert_allclose(centred.compute_loss(z, geo), centred.compute_loss(z, mean), rtol=1e-10)


def test_softening_the_probability_mode_is_a_power_of_the_mean(members):
    """softmax(log p̄ / T) = p̄^(1/T) / Z: not the mean of the members' softened distributions."""
    ens = EnsembleTeacher([fixed(v) for v in members], mode="probabilities")
    out = ens.get_logits(np.zeros((6, 2)))
    p_bar = np.mean([softmax(v) for v in members], axis=0)
    np.testing.assert_allclose(np.exp(out), p_bar, rtol=1e-12, atol=1e-15, err_msg="T = 1: exactly the mean")
    T = 4.0
    powered = p_bar ** (1 / T)
    np.testing.assert_allclose(softmax(out, T), powered / powered.sum(axis=1, keepdims=True), rtol=1e-10)
    mean_of_softened = np.mean([softmax(v, T) for v in members], axis=0)
    assert np.abs(softmax(out, T) - mean_of_softened).max() > 1e-2


# ------------------------------------------------------------------ shapes, dtypes, members
def test_single_sample_and_batch_agree():
    teachers = [MLP([3, 6, 4], seed=s) for s in range(3)]
    X = np.random.default_rng(0).normal(size=(5, 3))
    for mode in MODES:
        ens = EnsembleTeacher(teachers, weights=[3, 1, 1], mode=mode)
        batch = ens.get_logits(X)
        assert batch.shape == (5, 4)
        single = ens.get_logits(X[2])
        assert single.shape == (4,)
        np.testing.assert_allclose(single, batch[2], rtol=1e-12, atol=1e-12, err_msg=mode)


@pytest.mark.parametrize("mode", MODES)
def test_dtype_follows_the_members(mode):
    X = np.ones((4, 3))
    f32 = [MLP([3, 5, 2], seed=s, dtype=np.float32) for s in range(2)]
    assert EnsembleTeacher(f32, mode=mode).get_logits(X).dtype == np.float32
    mixed = [f32[0], MLP([3, 5, 2], seed=9)]
    assert EnsembleTeacher(mixed, mode=mode).get_logits(X).dtype == np.float64


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits_stay_finite(mode, dtype):
    big = np.array([[1e4, -1e4, 0.0], [-5e3, 5e3, 1.0]], dtype=dtype)
    ens = EnsembleTeacher([fixed(big), fixed(-big), fixed(big[::-1].copy())], mode=mode)
    out = ens.get_logits(np.zeros((2, 1)))  # RuntimeWarnings are errors in this suite
    assert out.dtype == dtype and np.isfinite(out).all()
    if mode != "logits":
        np.testing.assert_allclose(np.exp(out.astype(np.float64)).sum(axis=1), 1.0, rtol=1e-5)


def test_accepts_mlps_callables_wrappers_and_ensembles_and_is_a_teacher():
    a, b = MLP([3, 5, 2], seed=0), MLP([3, 5, 2], seed=1)
    inner = EnsembleTeacher([a, b])
    ens = EnsembleTeacher([a, lambda X: b.forward(X), TeacherModelWrapper(b), inner])
    assert isinstance(ens, TeacherModel)
    assert ens.output_dimension == 2
    X = np.ones((3, 3))
    expected = 0.25 * a.forward(X) + 0.5 * b.forward(X) + 0.25 * inner.get_logits(X)
    np.testing.assert_allclose(ens.get_logits(X), expected, rtol=1e-12)
    assert "EnsembleTeacher(4 teachers" in repr(ens)


def test_output_dimension_of_callables_is_known_after_a_call():
    ens = EnsembleTeacher([lambda X: np.zeros((X.shape[0], 5)), lambda X: np.ones((X.shape[0], 5))])
    assert ens.output_dimension is None
    ens.get_logits(np.zeros((2, 3)))
    assert ens.output_dimension == 5


def test_trainer_caches_the_ensemble_logits():
    X, y = make_blobs(n_samples=50, n_features=4, n_classes=3, seed=1)
    ens = EnsembleTeacher([MLP([4, 8, 3], seed=s) for s in range(3)], mode="probabilities")
    trainer = KnowledgeDistillationTrainer(ens, DistillationLoss(4.0, 0.0), seed=0)
    trainer.train(MLP([4, 6, 3], seed=0), X, epochs=1, batch_size=10, verbose=0)
    idx = np.array([7, 3, 41])
    np.testing.assert_allclose(trainer.get_teacher_predictions(X[idx], idx), ens.get_logits(X)[idx],
                               rtol=1e-12, err_msg="cached ensemble logits by dataset index")


# ------------------------------------------------------------------ bad input
def test_rejects_empty_or_non_sequence_teachers():
    with pytest.raises(ValueError, match="teachers must hold at least one teacher"):
        EnsembleTeacher([])
    with pytest.raises(TypeError, match="teachers must be a list or tuple"):
        EnsembleTeacher(MLP([3, 4, 2], seed=0))
    with pytest.raises(TypeError, match=r"teachers\[1\]"):
        EnsembleTeacher([MLP([3, 4, 2], seed=0), "not a teacher"])


def test_rejects_mismatched_output_dimensions():
    with pytest.raises(ValueError, match=r"same output dimension.*teachers\[0\].output_dimension = 2 and "
                                         r"teachers\[2\].output_dimension = 3"):
        EnsembleTeacher([MLP([3, 4, 2], seed=0), lambda X: X, MLP([3, 4, 3], seed=0)])
    ens = EnsembleTeacher([lambda X: np.zeros((X.shape[0], 2)), lambda X: np.zeros((X.shape[0], 3))])
    with pytest.raises(ValueError, match=r"same shape.*\(4, 2\) from teachers\[0\] and \(4, 3\) from teachers\[1\]"):
        ens.get_logits(np.zeros((4, 3)))


@pytest.mark.parametrize(
    "weights, exc, match",
    [
        ([0.5, -0.1, 0.6], ValueError, r"weights must be finite numbers >= 0, got weights\[1\] = -0.1"),
        ([0.5, np.nan, 0.5], ValueError, r"weights\[1\] = nan"),
        ([1.0, np.inf, 0.5], ValueError, r"weights\[1\] = inf"),
        ([0.0, 0.0, 0.0], ValueError, "must not all be zero"),
        ([0.5, 0.5], ValueError, r"one entry per teacher \(3\), got 2"),
        ([[0.5, 0.25, 0.25]], ValueError, "weights must be 1-D"),
        ("abc", TypeError, "weights must be an array-like"),
    ],
)
def test_rejects_bad_weights(weights, exc, match):
    teachers = [MLP([3, 4, 2], seed=s) for s in range(3)]
    with pytest.raises(exc, match=match):
        EnsembleTeacher(teachers, weights=weights)


def test_rejects_bad_mode():
    with pytest.raises(ValueError, match=r"mode must be one of .*got 'mean'"):
        EnsembleTeacher([MLP([3, 4, 2], seed=0)], mode="mean")
    with pytest.raises(TypeError, match="mode must be a string"):
        EnsembleTeacher([MLP([3, 4, 2], seed=0)], mode=1)


def test_bad_member_output_is_reported():
    ens = EnsembleTeacher([MLP([3, 4, 2], seed=0), lambda X: np.full((X.shape[0], 2), np.nan)])
    with pytest.raises(ValueError, match="finite"):
        ens.get_logits(np.zeros((2, 3)))
