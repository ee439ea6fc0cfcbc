"""Tests of EnsembleTeacher's element-wise modes ("max", "median") and of
EnsembleTeacher.weighted_by_accuracy: against np.max/np.median and slow loops, what softening them
means, hidden layers, the refusal of weights, a distillation run, config/repr and checkpoint
fingerprints."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from minikd.checkpoint import DistillationCheckpointConfig, load_checkpoint
from minikd.datasets import make_blobs
from minikd.functional import softmax
from minikd.mlp import MLP
from minikd.optim import SGD
from minikd.strategies import DistillationLoss
from minikd.teachers import EnsembleTeacher
from minikd.trainer import KnowledgeDistillationTrainer, SupervisedTrainer

ELEMENTWISE = ("max", "median")
WEIGHTED = ("logits", "probabilities", "geometric")


def fixed(logits):
    """A callable teacher that returns the given (N, C) logits whatever X of N rows it gets."""
    logits = np.asarray(logits)

    def teacher(X):
        assert X.shape[0] == logits.shape[0]
        return logits

    return teacher


def slow_elementwise(member_logits, mode):
    """Per-entry loops in Python: the max, or the middle of the sorted column (even K: mean of the two)."""
    K = len(member_logits)
    N, C = member_logits[0].shape
    out = np.empty((N, C))
    for i in range(N):
        for j in range(C):
            column = sorted(float(member_logits[k][i, j]) for k in range(K))
            if mode == "max":
                out[i, j] = column[-1]
            elif K % 2:
                out[i, j] = column[K // 2]
            else:
                out[i, j] = (column[K // 2 - 1] + column[K // 2]) / 2
    return out


def slow_accuracy(logits, labels):
    """Share of rows whose first largest entry is at the label, by a Python loop."""
    right = 0
    for row, label in zip(logits.tolist(), labels.tolist(), strict=True):
        best = 0
        for j, value in enumerate(row):
            if value > row[best]:
                best = j
        right += best == label
    return right / len(labels)


# Continuous values, and values from a few integers so that ties (in a column, or in argmax) are common.
VALUES = st.one_of(st.floats(-30, 30, allow_nan=False, allow_infinity=False),
                   st.integers(-2, 2).map(float))


# ------------------------------------------------------------------ the modes against references
@given(K=st.integers(1, 6), N=st.integers(1, 5), C=st.integers(2, 6), data=st.data())
def test_max_and_median_are_np_max_and_np_median_over_the_teachers(K, N, C, data):
    logits = [data.draw(arrays(np.float64, (N, C), elements=VALUES)) for _ in range(K)]
    stack = np.stack(logits)                                            # (K, N, C)
    references = {"max": np.max(stack, axis=0), "median": np.median(stack, axis=0)}
    for mode in ELEMENTWISE:
        out = EnsembleTeacher([fixed(v) for v in logits], mode=mode).get_logits(np.zeros((N, 3)))
        assert out.shape == (N, C) and out.dtype == np.float64
        np.testing.assert_array_equal(out, references[mode], err_msg=f"mode={mode}, K={K}")
        np.testing.assert_allclose(out, slow_elementwise(logits, mode), rtol=1e-15, atol=0,
                                   err_msg=f"mode={mode}, K={K}: slow loop")


def test_median_of_an_even_number_of_teachers_is_the_mean_of_the_middle_two_and_ties_are_kept():
    columns = np.array([[1.0, 3.0, 3.0, 7.0],     # a tie in the middle: 3
                        [4.0, 1.0, 3.0, 2.0],     # 2.5, a value no teacher gave
                        [5.0, 5.0, 5.0, 5.0],     # all tied
                        [-1.0, 9.0, 9.0, -4.0]])  # a tie at the top: max 9, median (-1 + 9) / 2 = 4
    members = [fixed(columns[:, k].reshape(1, 4)) for k in range(4)]    # teacher k gives column k
    X = np.zeros((1, 2))
    np.testing.assert_array_equal(EnsembleTeacher(members, mode="median").get_logits(X), [[3.0, 2.5, 5.0, 4.0]])
    np.testing.assert_array_equal(EnsembleTeacher(members, mode="max").get_logits(X), [[7.0, 4.0, 5.0, 9.0]])
    np.testing.assert_array_equal(EnsembleTeacher(members[:3], mode="median").get_logits(X),
                                  [[3.0, 3.0, 5.0, 9.0]])


@pytest.mark.parametrize("mode", ELEMENTWISE)
def test_one_teacher_is_itself_and_two_give_their_median_as_mean(mode):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    X = np.zeros((5, 2))
    np.testing.assert_array_equal(EnsembleTeacher([fixed(a)], mode=mode).get_logits(X), a)
    if mode == "median":  # K = 2: the plain mean, mode "logits" with equal weights
        np.testing.assert_allclose(EnsembleTeacher([fixed(a), fixed(b)], mode=mode).get_logits(X),
                                   EnsembleTeacher([fixed(a), fixed(b)]).get_logits(X), rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("mode", ELEMENTWISE)
def test_dtype_follows_the_members_and_a_single_sample_is_a_row(mode):
    X = np.random.default_rng(1).normal(size=(4, 3))
    f32 = [MLP([3, 5, 2], seed=s, dtype=np.float32) for s in range(4)]
    out = EnsembleTeacher(f32, mode=mode).get_logits(X)
    assert out.dtype == np.float32
    reference = np.max if mode == "max" else np.median
    np.testing.assert_array_equal(out, reference(np.stack([m.forward(X) for m in f32]), axis=0))
    mixed = EnsembleTeacher([f32[0], MLP([3, 5, 2], seed=9)], mode=mode)
    assert mixed.get_logits(X).dtype == np.float64
    assert mixed.get_logits(X, dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(mixed.get_logits(X[2]), mixed.get_logits(X)[2])


def test_a_median_that_overflows_is_a_clear_error_not_inf():
    huge = np.full((1, 2), 3e38, dtype=np.float32)  # (3e38 + 3e38) / 2 overflows float32
    ensemble = EnsembleTeacher([fixed(huge), fixed(huge)], mode="median")
    with pytest.raises(ValueError, match=r"EnsembleTeacher\(mode='median'\) overflowed"):
        ensemble.get_logits(np.zeros((1, 1)))
    assert np.isfinite(EnsembleTeacher([fixed(huge), fixed(huge)], mode="max").get_logits(np.zeros((1, 1)))).all()


# ------------------------------------------------------------------ what a temperature sees
@pytest.mark.parametrize("T", [0.5, 1.0, 4.0])
@pytest.mark.parametrize("mode", ELEMENTWISE)
def test_softening_commutes_with_the_elementwise_modes(mode, T):
    rng = np.random.default_rng(2)
    members = [rng.normal(scale=3.0, size=(6, 5)) for _ in range(4)]
    u = EnsembleTeacher([fixed(v) for v in members], mode=mode).get_logits(np.zeros((6, 1)))
    softened = EnsembleTeacher([fixed(v / T) for v in members], mode=mode).get_logits(np.zeros((6, 1)))
    np.testing.assert_allclose(softmax(u, T), softmax(softened), rtol=1e-12, atol=1e-15, err_msg=f"T={T}")


@pytest.mark.parametrize("mode", ELEMENTWISE)
def test_the_elementwise_modes_are_not_distribution_level(mode):
    """Shifting one member's logits by a constant keeps its distribution and changes the max/median;
    the weighted modes only move by a per-row constant."""
    rng = np.random.default_rng(3)
    members = [rng.normal(size=(6, 5)) for _ in range(3)]
    shifted = [members[0] + 10.0] + members[1:]
    np.testing.assert_allclose(softmax(shifted[0]), softmax(members[0]), rtol=1e-12)
    X = np.zeros((6, 1))
    for weighted in WEIGHTED:
        before = EnsembleTeacher([fixed(v) for v in members], mode=weighted).get_logits(X)
        after = EnsembleTeacher([fixed(v) for v in shifted], mode=weighted).get_logits(X)
        np.testing.assert_allclose(softmax(after, 4.0), softmax(before, 4.0), rtol=1e-10, atol=1e-14,
                                   err_msg=weighted)
    before = EnsembleTeacher([fixed(v) for v in members], mode=mode).get_logits(X)
    after = EnsembleTeacher([fixed(v) for v in shifted], mode=mode).get_logits(X)
    assert np.abs(softmax(after, 4.0) - softmax(before, 4.0)).max() > 1e-2
    if mode == "max":  # the member that sits 10 higher wins every class: the ensemble is that member
        np.testing.assert_array_equal(after, shifted[0])


# ------------------------------------------------------------------ hidden layers
@pytest.mark.parametrize("mode", ELEMENTWISE)
@pytest.mark.parametrize("K", [3, 4])
def test_get_hidden_is_the_elementwise_max_or_median_of_the_members(mode, K):
    members = [MLP([4, 5, 6, 3], activation="tanh", seed=s) for s in range(K)]
    X = np.random.default_rng(4).normal(size=(5, 4))
    hidden = [m.forward_train(X)[1].hidden for m in members]
    reference = np.max if mode == "max" else np.median
    ensemble = EnsembleTeacher(members, mode=mode)
    H0, H1 = ensemble.get_hidden(X, [0, -1])
    np.testing.assert_array_equal(H0, reference(np.stack([h[0] for h in hidden]), axis=0))
    np.testing.assert_array_equal(H1, reference(np.stack([h[1] for h in hidden]), axis=0))
    mean = EnsembleTeacher(members).get_hidden(X, -1)[0]
    assert np.abs(H1 - mean).max() > 1e-3, "not the mean"
    (H32,) = ensemble.get_hidden(X[0], 0, dtype=np.float32)
    assert H32.shape == (1, 5) and H32.dtype == np.float32
    np.testing.assert_allclose(H32[0], H0[0], rtol=1e-6)
    f32 = EnsembleTeacher([MLP([4, 5, 3], seed=s, dtype=np.float32) for s in range(K)], mode=mode)
    assert f32.get_hidden(X, 0)[0].dtype == np.float32


def test_get_hidden_width_mismatch_names_the_mode():
    ensemble = EnsembleTeacher([MLP([4, 5, 6, 3], seed=0), MLP([4, 6, 3], seed=1)], mode="median")
    with pytest.raises(ValueError, match=r"same width in every member to be combined \(mode='median'\), "
                                         r"got widths \[5, 6\]"):
        ensemble.get_hidden(np.ones((2, 4)), 0)


# ------------------------------------------------------------------ weights do not apply
@pytest.mark.parametrize("mode", ELEMENTWISE)
@pytest.mark.parametrize("weights, shown", [([1, 2, 1], r"\[1, 2, 1\]"),
                                            (np.array([1 / 3, 1 / 3, 1 / 3]), r"\[0.333"),
                                            ([1.0], r"\[1.0\]")])
def test_explicit_weights_are_refused_with_max_and_median(mode, weights, shown):
    teachers = [MLP([3, 4, 2], seed=s) for s in range(3)]
    with pytest.raises(ValueError, match=rf"weights must be None with mode='{mode}' \(the element-wise {mode} "
                                         rf"over the teachers takes no weights.*\), got {shown}"):
        EnsembleTeacher(teachers, weights=weights, mode=mode)
    ensemble = EnsembleTeacher(teachers, mode=mode)  # the default, None, is fine
    np.testing.assert_allclose(ensemble.weights, [1 / 3] * 3, rtol=0, atol=1e-15)


# ------------------------------------------------------------------ config, repr, fingerprints
def test_get_config_and_repr_include_the_mode_and_rebuild_the_ensemble():
    teachers = [MLP([3, 4, 2], seed=s) for s in range(3)]
    X = np.random.default_rng(5).normal(size=(4, 3))
    for mode in ELEMENTWISE:
        ensemble = EnsembleTeacher(teachers, mode=mode)
        assert ensemble.get_config() == {"weights": None, "mode": mode}
        assert repr(ensemble) == f"EnsembleTeacher(3 teachers, mode='{mode}', output_dimension=2)"
        rebuilt = EnsembleTeacher(ensemble.teachers, **ensemble.get_config())
        np.testing.assert_array_equal(rebuilt.get_logits(X), ensemble.get_logits(X))
    weighted = EnsembleTeacher(teachers, weights=[1, 1, 2], mode="geometric")
    assert weighted.get_config() == {"weights": [0.25, 0.25, 0.5], "mode": "geometric"}
    assert "weights=[0.25, 0.25, 0.5], mode='geometric'" in repr(weighted)
    rebuilt = EnsembleTeacher(teachers, **weighted.get_config())
    np.testing.assert_array_equal(rebuilt.get_logits(X), weighted.get_logits(X))


def _fingerprint(ensemble, X):
    return KnowledgeDistillationTrainer(ensemble, DistillationLoss())._teacher_fingerprint(X)


def test_the_fingerprint_differs_by_mode():
    members = [MLP([4, 8, 3], seed=s) for s in range(3)]
    X = np.zeros((5, 4))
    modes = WEIGHTED + ELEMENTWISE
    prints = {mode: _fingerprint(EnsembleTeacher(members, mode=mode), X) for mode in modes}
    assert all(p.startswith("params:") for p in prints.values())
    assert len(set(prints.values())) == len(modes), prints
    assert _fingerprint(EnsembleTeacher([m.copy() for m in members], mode="max"), X) == prints["max"]


def test_a_checkpoint_of_a_max_ensemble_does_not_resume_with_median(tmp_path):
    X, y = make_blobs(n_samples=40, n_features=4, n_classes=3, seed=2)
    members = [MLP([4, 8, 3], seed=s) for s in range(3)]
    config = DistillationCheckpointConfig(tmp_path, save_every_epochs=1, best_metric="loss")

    def run(mode, epochs, resume_from=None):
        trainer = KnowledgeDistillationTrainer(EnsembleTeacher(members, mode=mode), DistillationLoss(),
                                               checkpoint_config=config, seed=0)
        return trainer.train(MLP([4, 6, 3], seed=1), X, y, epochs=epochs, batch_size=10, verbose=0,
                             resume_from=resume_from)

    run("max", 1)
    assert load_checkpoint(tmp_path / "distillation_epoch0001.pkl").fingerprint["teacher"].startswith("params:")
    with pytest.raises(ValueError, match="cannot resume: the teacher"):
        run("median", 2, resume_from="latest")
    assert run("max", 2, resume_from="latest").epochs == [1, 2]


# ------------------------------------------------------------------ distillation
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_distilling_from_a_max_ensemble(dtype):
    X, y = make_blobs(n_samples=150, n_features=4, n_classes=3, cluster_std=1.5, seed=3)
    X = X.astype(dtype)
    members = [MLP([4, 16, 3], seed=s, dtype=dtype) for s in range(3)]
    for s, member in enumerate(members):
        SupervisedTrainer(seed=s).train(member, X, y, epochs=15, batch_size=16,
                                        optimizer=SGD(0.05, momentum=0.9), verbose=0)
    ensemble = EnsembleTeacher(members, mode="max")
    trainer = KnowledgeDistillationTrainer(ensemble, DistillationLoss(temperature=3.0, alpha=0.3), seed=0)
    student = MLP([4, 8, 3], seed=10, dtype=dtype)
    history = trainer.train(student, X, y, epochs=15, batch_size=16, optimizer=SGD(0.05, momentum=0.9),
                            verbose=0)
    # the trainer distils from the element-wise max, cached by dataset index
    idx = np.array([3, 77, 12])
    max_logits = np.max(np.stack([m.forward(X[idx]) for m in members]), axis=0)
    np.testing.assert_allclose(trainer.get_teacher_predictions(X[idx], idx), max_logits, rtol=1e-6)
    assert student.params["W1"].dtype == dtype
    assert all(np.isfinite(history.loss)) and history.loss[-1] < 0.7 * history.loss[0], history.loss
    metrics = trainer.evaluate(student, X, y)
    assert metrics["accuracy"] > 0.8 and metrics["teacher_agreement"] > 0.8, metrics


# ------------------------------------------------------------------ weighted_by_accuracy
@given(K=st.integers(1, 5), N=st.integers(1, 8), C=st.integers(2, 5), data=st.data())
def test_weights_by_accuracy_sum_to_one_and_follow_a_slow_loop(K, N, C, data):
    logits = [data.draw(arrays(np.float64, (N, C), elements=VALUES)) for _ in range(K)]
    y = data.draw(arrays(np.int64, (N,), elements=st.integers(0, C - 1)))
    accuracies = np.array([slow_accuracy(v, y) for v in logits])
    teachers = [fixed(v) for v in logits]
    X_val = np.zeros((N, 2))
    mode = data.draw(st.sampled_from(WEIGHTED))
    if accuracies.max() == 0:
        with pytest.raises(ValueError, match="all zero"):
            EnsembleTeacher.weighted_by_accuracy(teachers, X_val, y, mode=mode)
        return
    ensemble = EnsembleTeacher.weighted_by_accuracy(teachers, X_val, y, mode=mode)
    assert ensemble.mode == mode
    np.testing.assert_allclose(ensemble.weights.sum(), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(ensemble.weights, accuracies / accuracies.sum(), rtol=1e-14, atol=1e-15,
                               err_msg=f"accuracies {accuracies}")
    np.testing.assert_allclose(ensemble.get_logits(X_val),
                               EnsembleTeacher(teachers, weights=accuracies, mode=mode).get_logits(X_val),
                               rtol=1e-14, atol=1e-14)


def test_weights_by_accuracy_of_trained_teachers():
    X, y = make_blobs(n_samples=120, n_features=4, n_classes=3, cluster_std=2.5, seed=4)
    good, bad = MLP([4, 16, 3], seed=0), MLP([4, 16, 3], seed=1)  # bad stays untrained
    SupervisedTrainer(seed=0).train(good, X[:80], y[:80], epochs=20, batch_size=16,
                                    optimizer=SGD(0.05, momentum=0.9), verbose=0)
    ensemble = EnsembleTeacher.weighted_by_accuracy([good, bad], X[80:], y[80:].astype(float))
    accuracies = np.array([slow_accuracy(m.forward(X[80:]), y[80:]) for m in (good, bad)])
    assert accuracies[0] > accuracies[1] > 0
    np.testing.assert_allclose(ensemble.weights, accuracies / accuracies.sum(), rtol=1e-14)
    assert ensemble.weights[0] > ensemble.weights[1] and ensemble.mode == "logits"


@pytest.mark.parametrize("mode", ELEMENTWISE)
def test_weights_by_accuracy_refuses_the_elementwise_modes(mode):
    with pytest.raises(ValueError, match=rf"mode must be one of \['logits', 'probabilities', 'geometric'\] for "
                                         rf"weighted_by_accuracy \(mode='{mode}' takes no weights\), got '{mode}'"):
        EnsembleTeacher.weighted_by_accuracy([MLP([3, 4, 2], seed=0)], np.zeros((2, 3)), [0, 1], mode=mode)


def test_weights_by_accuracy_all_wrong_is_a_clear_error():
    wrong = fixed(np.eye(3)[[1, 2, 0, 1]])  # predicts 1, 2, 0, 1
    with pytest.raises(ValueError, match=r"at least one of the 4 validation samples right, got accuracies "
                                         r"\[0.0, 0.0\] \(all zero\)"):
        EnsembleTeacher.weighted_by_accuracy([wrong, wrong], np.zeros((4, 2)), [0, 1, 2, 0])


@pytest.mark.parametrize("X_val, y_val, exc, match", [
    (np.zeros(3), [0], ValueError, r"X_val must be 2-D, got an array of shape \(3,\)"),
    (np.zeros((0, 3)), [], ValueError, "X_val must not be empty"),
    (np.full((2, 3), np.nan), [0, 1], ValueError, "X_val must contain only finite values"),
    ("abc", [0], TypeError, "X_val must be"),
    (np.zeros((2, 3)), [0, 1, 1], ValueError, r"y_val must have one label per sample \(2\), got 3"),
    (np.zeros((2, 3)), [0, 2], ValueError, r"y_val must be class indices in \[0, 1\], got 2"),
    (np.zeros((2, 3)), [0, 0.5], ValueError, "y_val given as class indices must be whole numbers"),
    (np.zeros((2, 3)), np.eye(2), ValueError, r"y_val must be integer class indices of shape \(N,\), got "
                                              r"probability rows of shape \(2, 2\); pass y_val.argmax"),
    (np.zeros((2, 3)), None, TypeError, "y_val must be"),
])
def test_weights_by_accuracy_validates_its_data(X_val, y_val, exc, match):
    teachers = [MLP([3, 4, 2], seed=s) for s in range(2)]
    with pytest.raises(exc, match=match):
        EnsembleTeacher.weighted_by_accuracy(teachers, X_val, y_val)


def test_weights_by_accuracy_validates_teachers_and_mode_like_the_constructor():
    with pytest.raises(ValueError, match="teachers must hold at least one teacher"):
        EnsembleTeacher.weighted_by_accuracy([], np.zeros((2, 3)), [0, 1])
    with pytest.raises(ValueError, match=r"mode must be one of .*got 'mean'"):
        EnsembleTeacher.weighted_by_accuracy([MLP([3, 4, 2], seed=0)], np.zeros((2, 3)), [0, 1], mode="mean")
