"""Tests of MutualLearningTrainer (deep mutual learning): what each step's teacher is, the mean over peers,
simultaneous against sequential updates, independence and seeds, early stopping on the students' mean,
checkpoints of a cohort (schema, ranking, bit-identical resume) and bad input."""

import numpy as np
import pytest
import reference_losses as ref
from hypothesis import given
from hypothesis import strategies as st

from minikd import (
    MLP,
    SGD,
    Adam,
    DistillationLoss,
    KnowledgeDistillationTrainer,
    MutualLearningTrainer,
    SupervisedTrainer,
)
from minikd._checkpoint_format import decode, encode
from minikd.checkpoint import CheckpointError, CheckpointManager, DistillationCheckpointConfig, load_checkpoint
from minikd.datasets import make_blobs
from minikd.gradcheck import numerical_gradient, rel_error
from minikd.strategies import DecoupledKDLoss
from minikd.trainer import History, PeerMeanStrategy, TrainingDivergedError

BATCH = 16


@pytest.fixture(scope="module")
def data():
    X, y = make_blobs(n_samples=100, n_features=4, n_classes=3, cluster_std=2.0, seed=3)
    return X[:70], y[:70], X[70:], y[70:]


def cohort(k=2, seed=0, **kw):
    sizes = [[4, 8, 3], [4, 12, 3], [4, 6, 6, 3], [4, 10, 3]]
    return [MLP(sizes[i], seed=seed + i, **kw) for i in range(k)]


def sgd():
    return SGD(learning_rate=0.1, momentum=0.9)


def train(data, students, *, update="simultaneous", epochs=3, trainer_seed=0, strategy=None, trainer_kw=None, **kw):
    X, y, Xv, yv = data
    trainer = MutualLearningTrainer(strategy or DistillationLoss(temperature=2.0, alpha=0.5), update=update,
                                    seed=trainer_seed, **(trainer_kw or {}))
    kw.setdefault("optimizer", sgd)
    kw.setdefault("verbose", 0)
    histories = trainer.train(students, X, y, epochs=epochs, batch_size=BATCH, **kw)
    return trainer, histories


def same_params(a, b):
    return all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


class Spy(MutualLearningTrainer):
    """Records, per batch, every student's logits before any update and, per step, the logits of every
    student just before that step, with the step's StepRecord."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches = []

    def _train_batch(self, run, X_batch, y_batch, indices):
        self._steps = []
        before = [lane.student.forward(X_batch) for lane in run.lanes]
        records = super()._train_batch(run, X_batch, y_batch, indices)
        self.batches.append((before, self._steps))
        return records

    def train_step(self, student, X_batch, y_batch, indices, optimizer, validate=True):
        now = [s.forward(X_batch) for s in self.students]
        rec = super().train_step(student, X_batch, y_batch, indices, optimizer, validate)
        self._steps.append((student, now, rec))
        return rec


@pytest.mark.parametrize("k", [2, 3])
def test_each_step_teacher_logits_are_the_peers_logits_before_any_update(data, k):
    X, y, _, _ = data
    students = cohort(k)
    trainer = Spy(DistillationLoss(temperature=2.0, alpha=0.5), seed=0)
    trainer.train(students, X, y, epochs=2, batch_size=BATCH, optimizer=sgd, verbose=0)
    assert len(trainer.batches) == 2 * -(-X.shape[0] // BATCH)
    for before, steps in trainer.batches:
        assert [s for s, _, _ in steps] == students  # each student once per batch, in order
        for i, (_, _, rec) in enumerate(steps):
            expected = np.stack([before[j] for j in range(k) if j != i])  # (K - 1, B, C)
            np.testing.assert_array_equal(rec.teacher_logits, expected)
            np.testing.assert_array_equal(rec.student_logits, before[i])
    # the peers did change during the batch: a teacher taken after the update would be another array
    _, steps = trainer.batches[0]
    assert not np.array_equal(steps[-1][1][0], trainer.batches[0][0][0])


def test_sequential_update_recomputes_the_peers_after_each_update(data):
    X, y, _, _ = data
    students = cohort(3)
    trainer = Spy(DistillationLoss(temperature=2.0, alpha=0.5), update="sequential", seed=0)
    trainer.train(students, X, y, epochs=1, batch_size=BATCH, optimizer=sgd, verbose=0)
    for before, steps in trainer.batches:
        for i, (_, now, rec) in enumerate(steps):
            expected = np.stack([now[j] for j in range(3) if j != i])  # the peers as they are at this step
            np.testing.assert_array_equal(rec.teacher_logits, expected)
        # student 0 sees the batch-start peers; student 2 sees students 0 and 1 after their updates
        np.testing.assert_array_equal(steps[0][2].teacher_logits, np.stack(before[1:]))
        assert not np.array_equal(steps[2][2].teacher_logits[0], before[0])


def test_identical_students_stay_identical_when_simultaneous_and_not_when_sequential(data):
    """A symmetric cohort has symmetric updates only if every student sees the peers from before any update."""
    a = MLP([4, 8, 3], seed=5)
    students = [a, a.copy()]
    train(data, students, update="simultaneous")
    assert same_params(*students)
    b = MLP([4, 8, 3], seed=5)
    students = [b, b.copy()]
    train(data, students, update="sequential")
    assert not same_params(*students)
    assert not same_params(students[0], a)  # they trained


def test_two_students_step_is_a_distillation_step_from_the_frozen_peer(data):
    """With one batch per epoch, mutual learning's first step of student 0 is KnowledgeDistillationTrainer's
    step with a teacher that is a frozen copy of student 1."""
    X, y, _, _ = data
    strategy = DistillationLoss(temperature=2.0, alpha=0.5)
    students = cohort(2)
    peer_before = students[1].copy()
    MutualLearningTrainer(strategy, seed=0).train(students, X, y, epochs=1, batch_size=X.shape[0], optimizer=sgd,
                                                  verbose=0)
    reference = cohort(2)[0]
    KnowledgeDistillationTrainer(peer_before, strategy, seed=0).train(reference, X, y, epochs=1,
                                                                      batch_size=X.shape[0], optimizer=sgd(),
                                                                      verbose=0)
    for key in reference.params:
        np.testing.assert_allclose(students[0].params[key], reference.params[key], rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------- the mean over peers
@given(st.integers(1, 4), st.integers(1, 6), st.integers(2, 5), st.integers(0, 2**32 - 1),
       st.floats(0.5, 6.0), st.floats(0.0, 1.0))
def test_peer_mean_properties(n_peers, n, c, seed, temperature, alpha):
    """Against the slow per-row reference, and what any mean must satisfy: peers in another order give the
    same loss, P copies of one peer give that peer's loss, and a peer equal to the student adds no soft term."""
    rng = np.random.default_rng(seed)
    z, v = 3 * rng.normal(size=(n, c)), 3 * rng.normal(size=(n_peers, n, c))
    y = rng.integers(0, c, size=n)
    peer_mean = PeerMeanStrategy(DistillationLoss(temperature=temperature, alpha=alpha))
    loss, _, parts = peer_mean._compute_step(z, v, "index", y, None, {})
    reference = np.mean([ref.hinton_loss(z, v_p, y, temperature, alpha) for v_p in v])
    assert loss == pytest.approx(reference, rel=1e-9, abs=1e-12)
    shuffled = v[rng.permutation(n_peers)]
    assert peer_mean._compute_step(z, shuffled, "index", y, None, {})[0] == pytest.approx(loss, rel=1e-12, abs=1e-15)
    copies = np.repeat(v[:1], n_peers, axis=0)
    single = peer_mean._compute_step(z, v[:1], "index", y, None, {})[0]
    assert peer_mean._compute_step(z, copies, "index", y, None, {})[0] == pytest.approx(single, rel=1e-12)
    itself = peer_mean._compute_step(z, np.repeat(z[None], n_peers, axis=0), "index", y, None, {})[2]
    assert abs(itself["soft"]) < 1e-10 and parts["soft"] >= -1e-12


def test_peer_mean_is_the_mean_of_the_strategy_over_peers():
    rng = np.random.default_rng(0)
    z, v = rng.normal(size=(5, 4)), rng.normal(size=(3, 5, 4))
    y = rng.integers(0, 4, size=5)
    strategy = DistillationLoss(temperature=2.5, alpha=0.3)
    loss, dz, parts = PeerMeanStrategy(strategy)._compute_step(z, v, "index", y, None, {})
    expected = np.mean([ref.hinton_loss(z, v_p, y, 2.5, 0.3) for v_p in v])  # slow, by the formula
    assert loss == pytest.approx(expected, rel=1e-12)
    per_peer = [strategy.loss_and_gradient(z, v_p, y) for v_p in v]
    np.testing.assert_allclose(dz, np.mean([g for _, g, _ in per_peer], axis=0), rtol=1e-12)
    assert parts["soft"] + parts["hard"] == pytest.approx(loss, rel=1e-12)
    assert parts["hard"] == pytest.approx(per_peer[0][2]["hard"], rel=1e-12)  # the same for every peer


@pytest.mark.parametrize("strategy", [DistillationLoss(temperature=3.0, alpha=0.4),
                                      DistillationLoss(temperature=1.0, alpha=0.0),
                                      DecoupledKDLoss(alpha=1.0, beta=4.0, temperature=2.0)],
                         ids=["kd", "kd-soft-only", "dkd"])
def test_peer_mean_gradient_against_finite_differences(strategy):
    rng = np.random.default_rng(1)
    z, v = rng.normal(size=(6, 5)), 2 * rng.normal(size=(3, 6, 5))
    y = rng.integers(0, 5, size=6)
    peer_mean = PeerMeanStrategy(strategy)
    _, dz, _ = peer_mean._compute_step(z, v, "index", y, None, {})
    numeric = numerical_gradient(lambda: peer_mean._compute_step(z, v, "index", y, None, {})[0], z)
    assert rel_error(dz, numeric) < 1e-7


def test_one_peer_is_the_strategy_bit_for_bit():
    rng = np.random.default_rng(2)
    z, v = rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    y = rng.integers(0, 3, size=7)
    strategy = DistillationLoss(temperature=4.0, alpha=0.2)
    got = PeerMeanStrategy(strategy)._compute_step(z, v[None], "index", y, None, {})
    want = strategy._compute(z, v, "index", y)
    assert got[0] == want[0] and got[2] == want[2]
    np.testing.assert_array_equal(got[1], want[1])


def test_peer_mean_forwards_everything_else_to_the_strategy():
    strategy = DistillationLoss(temperature=2.0, alpha=0.5)
    trainer = MutualLearningTrainer(strategy)
    assert trainer.distillation_strategy is strategy
    assert trainer.strategy.temperature == 2.0 and trainer.strategy.requires_labels is strategy.requires_labels
    assert trainer.get_config()["strategy"] == strategy.get_config()
    assert trainer.get_config()["update"] == "simultaneous"
    assert "DistillationLoss" in repr(trainer.strategy)


# ---------------------------------------------------------------------------- independence, seeds, results
def test_students_are_independent_objects_and_the_same_seed_gives_identical_students(data):
    first, second = cohort(2), cohort(2)
    _, h1 = train(data, first)
    _, h2 = train(data, second)
    for a, b in zip(first, second, strict=True):
        assert same_params(a, b)
    assert [h.loss for h in h1] == [h.loss for h in h2]
    for a in first[0].params.values():
        assert not any(np.shares_memory(a, b) for b in first[1].params.values())
    before = {k: v.copy() for k, v in first[1].params.items()}
    first[0].params["W1"] += 1.0  # changing one student leaves the other as it was
    assert all(np.array_equal(first[1].params[k], before[k]) for k in before)
    third = cohort(2)
    train(data, third, trainer_seed=1)  # another shuffling
    assert not same_params(third[0], second[0])


def test_histories_one_per_student_and_logs_are_the_means(data):
    seen = []
    trainer, histories = train(data, cohort(3), epochs=2, validation_data=data[2:],
                               callbacks=[lambda epoch, logs: seen.append(logs)])
    assert isinstance(histories, list) and len(histories) == 3 and all(isinstance(h, History) for h in histories)
    assert trainer.history == histories and trainer.students is not None
    for epoch, logs in enumerate(seen):
        for name in ("loss", "val_loss", "val_accuracy", "teacher_agreement", "soft_loss", "hard_loss"):
            values = [getattr(h, name)[epoch] for h in histories]
            assert logs[name] == pytest.approx(np.mean(values), rel=1e-12), name
            assert [s[name] for s in logs["students"]] == values
        assert len({h.loss[epoch] for h in histories}) == 3  # three different students


def test_evaluate_is_against_the_peers(data):
    X, y, Xv, yv = data
    trainer, histories = train(data, cohort(2), validation_data=(Xv, yv))
    s0, s1 = trainer.students
    z0, z1 = s0.forward(Xv), s1.forward(Xv)
    out = trainer.evaluate(s0, Xv, yv)
    assert out["loss"] == pytest.approx(DistillationLoss(temperature=2.0, alpha=0.5).compute_loss(z0, z1, yv),
                                        rel=1e-12)
    assert out["teacher_agreement"] == pytest.approx(np.mean(z0.argmax(1) == z1.argmax(1)))
    assert out["loss"] == pytest.approx(histories[0].val_loss[-1], rel=1e-12)  # what validation measured
    three = cohort(3)
    agreement = trainer.evaluate(three[0], Xv, yv, peers=three[1:])["teacher_agreement"]
    z = [m.forward(Xv).argmax(1) for m in three]
    assert agreement == pytest.approx(np.mean([np.mean(z[0] == z[1]), np.mean(z[0] == z[2])]))


def test_train_step_alone_has_no_peers(data):
    X, y, _, _ = data
    trainer = MutualLearningTrainer(DistillationLoss())
    with pytest.raises(RuntimeError, match="other students of a cohort"):
        trainer.train_step(MLP([4, 8, 3]), X[:8], y[:8], None, sgd())


def test_mutual_learning_helps_a_student_that_is_alone_to_agree(data):
    """The soft term is really applied: after mutual learning the two students agree more on held-out data
    than the same two students trained alone."""
    X, y, Xv, yv = data
    alone = cohort(2)
    for m in alone:
        SupervisedTrainer(seed=0).train(m, X, y, epochs=3, batch_size=BATCH, optimizer=sgd(), verbose=0)
    strategy = DistillationLoss(temperature=1.0, alpha=0.1)
    mutual = cohort(2)
    train(data, mutual, strategy=strategy)
    kl = [DistillationLoss(temperature=1.0, alpha=0.0).compute_loss(a.forward(Xv), b.forward(Xv))
          for a, b in (alone, mutual)]
    assert kl[1] < 0.5 * kl[0], kl


def test_optimizers_list_and_factory_and_default(data):
    students = cohort(2)
    optimizers = [SGD(0.05), Adam(0.01)]
    train(data, students, optimizer=optimizers)
    assert optimizers[0].t > 0 and optimizers[1].t > 0
    assert "W1" in optimizers[1].state_dict()["buffers"]["exp_avg"]
    train(data, cohort(2), optimizer=None)  # the default: one fresh SGD per student


def test_augment_and_dropout_run(data):
    def jitter(X_batch, rng):
        return X_batch + 0.01 * rng.standard_normal(X_batch.shape)

    students = cohort(2, dropout=0.2)
    before = [s.params["W1"].copy() for s in students]
    _, histories = train(data, students, augment=jitter)
    assert all(not np.array_equal(s.params["W1"], b) for s, b in zip(students, before, strict=True))
    assert all(np.isfinite(h.loss).all() for h in histories)


# ---------------------------------------------------------------------------- early stopping
def test_early_stopping_follows_the_mean_of_the_students(data):
    X, y, Xv, yv = data
    kw = dict(validation_data=(Xv, yv), optimizer=lambda: SGD(0.3, momentum=0.9))
    trainer, histories = train(data, cohort(2, seed=3), epochs=12, trainer_kw=dict(
        use_early_stopping=True, early_stopping_patience=12, early_stopping_min_delta=0.0), **kw)
    mean = np.mean([h.val_loss for h in histories], axis=0)
    best = int(np.argmin(mean)) + 1
    assert [int(np.argmin(h.val_loss)) + 1 for h in histories][0] != best  # student 0 alone would pick another
    assert all(h.best_epoch == best for h in histories)
    # the restored weights are those of the best epoch: the same run stopped there
    ref = cohort(2, seed=3)
    train(data, ref, epochs=best, **kw)
    for a, b in zip(trainer.students, ref, strict=True):
        assert same_params(a, b)


# ---------------------------------------------------------------------------- checkpoints and resume
def _config(directory, **kw):
    kw = {"save_every_epochs": 1, "keep_best_n": 0, "best_metric": "val_loss", **kw}
    return DistillationCheckpointConfig(directory, **kw)


def _mixed_cohort():
    return [MLP([4, 8, 3], seed=0, dropout=0.25), MLP([4, 12, 3], seed=1)]


def _mixed_optimizers():
    return [SGD(0.1, momentum=0.9), Adam(0.01)]


def _run(data, directory, students, epochs, resume_from=None, update="sequential", optimizer=None):
    X, y, Xv, yv = data
    trainer = MutualLearningTrainer(DistillationLoss(temperature=2.0, alpha=0.5), update=update, seed=4,
                                    checkpoint_config=_config(directory), use_early_stopping=True,
                                    early_stopping_patience=50)
    histories = trainer.train(students, X, y, epochs=epochs, batch_size=BATCH,
                              optimizer=optimizer or _mixed_optimizers(),
                              validation_data=(Xv, yv), verbose=0, resume_from=resume_from)
    return trainer, histories


@pytest.fixture()
def cohort_checkpoint(tmp_path, data):
    _run(data, tmp_path / "run", _mixed_cohort(), epochs=3)
    return tmp_path / "run" / "distillation_epoch0003.pkl"


def test_a_cohort_checkpoint_holds_every_student_optimizer_and_history(cohort_checkpoint):
    ckpt = load_checkpoint(cohort_checkpoint)
    assert isinstance(ckpt.student, list) and len(ckpt.student) == 2
    assert [list(m.layer_sizes) for m in ckpt.student] == [[4, 8, 3], [4, 12, 3]]
    assert [c["name"] for c in ckpt.optimizer_config] == ["SGD", "Adam"]
    assert isinstance(ckpt.history, list) and [len(h.loss) for h in ckpt.history] == [3, 3]
    assert set(ckpt.early_stopping_state["best_params"]) == {"0.W1", "0.b1", "0.W2", "0.b2",
                                                             "1.W1", "1.b1", "1.W2", "1.b2"}
    assert ckpt.trainer_config["update"] == "sequential"
    mean = np.mean([h.val_loss[-1] for h in ckpt.history])
    assert ckpt.metrics["val_loss"] == pytest.approx(mean, rel=1e-12)  # the ranking uses the mean


def test_checkpoint_ranking_follows_the_mean(tmp_path, data):
    X, y, Xv, yv = data
    config = _config(tmp_path / "best", keep_best_n=2)
    trainer = MutualLearningTrainer(DistillationLoss(temperature=2.0, alpha=0.5), seed=0, checkpoint_config=config)
    histories = trainer.train(cohort(2), X, y, epochs=6, batch_size=BATCH, optimizer=lambda: SGD(0.3, momentum=0.9),
                              validation_data=(Xv, yv), verbose=0)
    mean = np.mean([h.val_loss for h in histories], axis=0)
    best_two = sorted(np.argsort(mean, kind="stable")[:2] + 1)
    index = CheckpointManager(config).read_index()
    kept = sorted(entry["epoch"] for entry in index if entry["epoch"] != 6)  # the last is kept too
    assert set(kept) <= set(best_two) and kept
    for entry in index:
        assert entry["metrics"]["val_loss"] == pytest.approx(mean[entry["epoch"] - 1], rel=1e-12)


def test_resume_is_bit_identical(tmp_path, data):
    whole = _mixed_cohort()
    _, h_whole = _run(data, tmp_path / "whole", whole, epochs=6)
    part = _mixed_cohort()
    _run(data, tmp_path / "part", part, epochs=3)
    resumed = _mixed_cohort()  # fresh objects: everything comes from the file
    _, h_resumed = _run(data, tmp_path / "part", resumed, epochs=6, resume_from="latest")
    for a, b in zip(whole, resumed, strict=True):
        assert same_params(a, b)
        assert a.dropout_rng.bit_generator.state == b.dropout_rng.bit_generator.state
    for a, b in zip(h_whole, h_resumed, strict=True):
        assert a.loss == b.loss and a.val_loss == b.val_loss and a.best_epoch == b.best_epoch


def test_a_crafted_dropout_state_changes_the_resumed_run(tmp_path, data, cohort_checkpoint):
    """The resume test above can fail: a different saved dropout state gives another run."""
    raw = decode(cohort_checkpoint.read_bytes())
    raw["student"][0]["dropout_rng"]["state"]["state"] += 1
    bad = tmp_path / "crafted.pkl"
    bad.write_bytes(encode(raw))
    _, h_genuine = _run(data, tmp_path / "a", _mixed_cohort(), epochs=5, resume_from=cohort_checkpoint)
    _, h_crafted = _run(data, tmp_path / "b", _mixed_cohort(), epochs=5, resume_from=bad)
    assert h_genuine[0].loss[:3] == h_crafted[0].loss[:3]  # the saved epochs
    assert h_genuine[0].loss[3:] != h_crafted[0].loss[3:]  # other masks from epoch 4 on


@pytest.mark.parametrize("change, match", [
    (dict(update="simultaneous"), "trainer setting 'update'"),
    (dict(students=lambda: [MLP([4, 8, 3], seed=0, dropout=0.25), MLP([4, 16, 3], seed=1)]),
     "student 1's architecture"),
    (dict(students=lambda: _mixed_cohort() + [MLP([4, 8, 3])]), "holds 2 student"),
])
def test_a_resume_of_another_cohort_is_refused(tmp_path, data, cohort_checkpoint, change, match):
    students = change.get("students", _mixed_cohort)()
    with pytest.raises(ValueError, match=match):
        _run(data, tmp_path / "other", students, epochs=5, resume_from=cohort_checkpoint,
             update=change.get("update", "sequential"), optimizer=None if len(students) == 2 else sgd)


def test_a_single_student_checkpoint_does_not_resume_a_cohort(tmp_path, data):
    X, y, Xv, yv = data
    config = _config(tmp_path / "single")
    KnowledgeDistillationTrainer(MLP([4, 8, 3]), DistillationLoss(), seed=0, checkpoint_config=config).train(
        MLP([4, 8, 3], seed=0), X, y, epochs=1, batch_size=BATCH, validation_data=(Xv, yv), verbose=0)
    with pytest.raises(ValueError, match="holds 1 student"):
        _run(data, tmp_path / "x", _mixed_cohort(), epochs=3,
             resume_from=tmp_path / "single" / "distillation_epoch0001.pkl")


def _drop_student(raw):
    raw["student"].pop()


COHORT_MUTATIONS = [
    ("one optimizer in the list", lambda r: r["optimizer"].pop(), "optimizer must be a dict, or a list"),
    ("students fewer than optimizers", _drop_student, "student must be None or a list of 2 students"),
    ("student a dict for a cohort", lambda r: r.update(student=r["student"][0]), "student must be None or a list"),
    ("second student's param wrong shape", lambda r: r["student"][1]["params"].update(W1=np.zeros((4, 8))),
     "student\\[1\\]\\['params'\\]\\['W1'\\].*shape \\(4, 12\\)"),
    ("second optimizer's moment wrong shape",
     lambda r: r["optimizer"][1]["state"]["buffers"]["exp_avg"].update(W1=np.zeros((4, 8))),
     "optimizer\\[1\\].*W1.*shape \\(4, 12\\)"),
    ("history not a list", lambda r: r["trainer"].update(history=r["trainer"]["history"][0]),
     "history'\\] must be a list of 2 histories"),
    ("history list short", lambda r: r["trainer"]["history"].pop(), "history'\\] must be a list of 2"),
    ("second history too long", lambda r: r["trainer"]["history"][1]["loss"].append(1.0),
     "history'\\]\\[1\\]\\['loss'\\]"),
    ("best params of a single student", lambda r: r["trainer"]["early_stopping"]["best_params"].update(
        W1=np.zeros((4, 8))), "best_params.*unexpected \\['W1'\\]"),
    ("best params of student 1 wrong shape", lambda r: r["trainer"]["early_stopping"]["best_params"].update(
        {"1.b1": np.zeros(3)}), "best_params.*1.b1.*shape \\(12,\\)"),
    ("strategy params in a cohort", lambda r: r["trainer"]["strategy_params"].update(
        {"strategy.W": np.zeros((2, 2))}), "strategy_params'\\] must be \\{\\}"),
]


@pytest.mark.parametrize("mutate, match", [m[1:] for m in COHORT_MUTATIONS], ids=[m[0] for m in COHORT_MUTATIONS])
def test_every_cohort_field_is_validated(cohort_checkpoint, tmp_path, mutate, match):
    raw = decode(cohort_checkpoint.read_bytes())
    mutate(raw)
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(encode(raw))
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(bad)


def test_progress_shows_the_means_and_each_students_accuracy(data, capsys):
    _, histories = train(data, cohort(2), epochs=1, validation_data=data[2:], verbose=1)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    accs = [h.val_accuracy[0] for h in histories]
    assert f"val_acc {np.mean(accs):.4f}" in line and f"students' val_acc {accs[0]:.4f}/{accs[1]:.4f}" in line


def test_divergence_names_the_student(data):
    X, y, _, _ = data
    trainer = MutualLearningTrainer(DistillationLoss(), seed=0)
    # student 1's first update overflows its parameters: the next batch names it, not student 0 (whose loss
    # its NaN logits would spoil)
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, batch 2/5: student 1 of the cohort: its logits"):
        trainer.train(cohort(2), X, y, epochs=1, batch_size=BATCH, verbose=0, optimizer=[SGD(0.01), SGD(1e308)])
    for update in ("simultaneous", "sequential"):  # a loss that is not finite names its student
        trainer = MutualLearningTrainer(DistillationLoss(), update=update, seed=0)
        X_bad = X.copy()
        X_bad[0, 0] = 1e308
        with pytest.raises(TrainingDivergedError, match=r"student [01] of the cohort"):
            trainer.train(cohort(2), X_bad, y, epochs=1, batch_size=BATCH, verbose=0)
    sequential = MutualLearningTrainer(DistillationLoss(), update="sequential", seed=0)
    with pytest.raises(TrainingDivergedError, match=r"batch 1/5: student 0 of the cohort: its logits"):
        sequential.train(cohort(2), X, y, epochs=1, batch_size=BATCH, verbose=0, optimizer=[SGD(1e308), SGD(0.01)])


def test_early_stopping_on_the_mean_validation_accuracy(data):
    X, y, Xv, yv = data
    kw = dict(validation_data=(Xv, yv), optimizer=lambda: SGD(0.3, momentum=0.9))
    trainer, histories = train(data, cohort(2, seed=3), epochs=10, trainer_kw=dict(
        use_early_stopping=True, early_stopping_patience=10, early_stopping_min_delta=0.0,
        early_stopping_monitor="val_accuracy"), **kw)
    mean = np.mean([h.val_accuracy for h in histories], axis=0)
    assert all(h.best_epoch == int(np.argmax(mean)) + 1 for h in histories)  # the first epoch of the highest mean
    assert trainer.get_config()["early_stopping_monitor"] == "val_accuracy"
