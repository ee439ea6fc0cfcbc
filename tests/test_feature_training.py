"""Training with hidden-layer and relational losses: the trainer's step 3 gives each term its layers,
step 4 takes the gradients at hidden layers and of the strategy's own parameters, the optimizer,
early stopping and checkpoints keep the strategy's parameters, and bad layers or batches are refused.
"""

import re

import numpy as np
import pytest

from minikd import (
    MLP,
    SGD,
    Adam,
    CompositeStrategy,
    DistillationCheckpointConfig,
    DistillationLoss,
    KnowledgeDistillationTrainer,
    TeacherModelWrapper,
)
from minikd._checkpoint_format import encode
from minikd.checkpoint import CheckpointError, load_checkpoint
from minikd.strategies import (
    AttentionTransferLoss,
    CosineHintLoss,
    HintLoss,
    PKTLoss,
    RKDLoss,
    SimilarityPreservingLoss,
)
from minikd.teachers import EnsembleTeacher


def data(n=60, d=5, c=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)


def teacher():
    return MLP([5, 12, 9, 3], seed=0)  # hidden widths (12, 9)


def hint_composite(w=0.5, seed=0):
    return CompositeStrategy([(1.0, DistillationLoss(4.0, 0.1)), (w, HintLoss(student_layer=-1, teacher_layer=-1,
                                                                              seed=seed))])


# ----------------------------------------------------------------------------- gradients through a step
def _step_loss_and_grads(trainer, student, X, y, idx):
    """The loss of train_step's step 3 and the gradients of step 4, without the update."""
    trainer._dtype = student.dtype
    t_logits, t_hidden = trainer.get_teacher_outputs(X, idx)
    z, cache = student._forward_train(X)
    loss, dz, parts = trainer.strategy._compute_step(z, t_logits, "index", y, cache, t_hidden)
    return loss, student._backward(dz, cache, parts.get("dhidden")) | parts.get("dparams", {})


@pytest.mark.parametrize("strategy", [
    hint_composite(),
    CompositeStrategy([(1.0, DistillationLoss(2.0, 0.5)), (0.3, CosineHintLoss(0, 0)),
                       (0.2, RKDLoss(student_layer=-1, teacher_layer=1)), (0.7, HintLoss(1, 0, seed=3)),
                       (0.4, AttentionTransferLoss(student_layer=1, teacher_layer=0)),
                       (2.0, SimilarityPreservingLoss(0, 1)), (1.5, PKTLoss(student_layer=-1, teacher_layer=0))]),
    HintLoss(student_layer=0, teacher_layer=-1, seed=1),
    RKDLoss(),  # on logits
], ids=["kd+hint", "every-loss-on-mixed-layers", "hint-alone", "rkd-logits"])
def test_every_gradient_of_a_step_matches_central_differences(strategy):
    """d(step-3 loss)/d(every student and strategy parameter) vs central differences in float64. The
    second case has two terms on the student's layer given as 1 and as -1 (the same layer: they add)."""
    X, y = data(n=12)
    student = MLP([5, 12, 12, 3], seed=2)  # hidden widths (12, 12): every width pairs with the teacher's 12
    trainer = KnowledgeDistillationTrainer(MLP([5, 12, 12, 3], seed=0), strategy, seed=0)
    trainer.train(student, X, y, epochs=1, batch_size=12, optimizer=SGD(0.01), verbose=0)  # binds, fills cache
    idx = np.arange(12)
    _, grads = _step_loss_and_grads(trainer, student, X, y, idx)
    params = student.params | strategy._named_params()
    assert set(grads) == set(params)
    rng = np.random.default_rng(0)
    for name, p in params.items():
        for flat in rng.choice(p.size, size=min(6, p.size), replace=False):
            at = np.unravel_index(flat, p.shape)
            old, eps = p[at], 1e-6
            p[at] = old + eps
            up, _ = _step_loss_and_grads(trainer, student, X, y, idx)
            p[at] = old - eps
            down, _ = _step_loss_and_grads(trainer, student, X, y, idx)
            p[at] = old
            numeric = (up - down) / (2 * eps)
            assert grads[name][at] == pytest.approx(numeric, rel=1e-5, abs=1e-8), (name, at)


def test_the_finite_difference_check_above_can_fail():
    """Drop the hidden-layer gradient: the check must see the difference in W1."""
    X, y = data(n=12)
    student = MLP([5, 12, 3], seed=2)
    strategy = CompositeStrategy([(1.0, DistillationLoss(4.0, 0.1)), (1.0, HintLoss(0, 0, regressor=False))])
    trainer = KnowledgeDistillationTrainer(MLP([5, 12, 3], seed=0), strategy, seed=0)
    trainer.train(student, X, y, epochs=1, batch_size=12, verbose=0)
    idx = np.arange(12)
    trainer._dtype = student.dtype
    t_logits, t_hidden = trainer.get_teacher_outputs(X, idx)
    z, cache = student._forward_train(X)
    _, dz, parts = strategy._compute_step(z, t_logits, "index", y, cache, t_hidden)
    with_hidden = student._backward(dz, cache, parts["dhidden"])["W1"]
    without = student._backward(dz, cache)["W1"]
    assert np.abs(with_hidden - without).max() > 1e-3


# ----------------------------------------------------------------------------- training
def test_a_distillation_run_learns_the_regressor_and_saves_it(tmp_path):
    X, y = data()
    strategy = hint_composite()
    hint = strategy.strategies[1][1]
    student = MLP([5, 7, 3], seed=1)
    KnowledgeDistillationTrainer(teacher(), strategy, seed=0).evaluate(student, X, y)  # binds the strategy
    W0 = hint.params["W"].copy()
    assert W0.shape == (7, 9)  # built at entry: student's last hidden (7) -> teacher's last hidden (9)
    trainer = KnowledgeDistillationTrainer(teacher(), strategy, seed=0, checkpoint_config=DistillationCheckpointConfig(
        checkpoint_directory=tmp_path, save_every_epochs=1, best_metric="loss"))
    optimizer = Adam(learning_rate=0.01)
    history = trainer.train(student, X, y, epochs=15, batch_size=16, optimizer=optimizer, verbose=0)
    assert np.abs(hint.params["W"] - W0).max() > 1e-3, "the optimizer must train the regressor"
    assert history.soft_loss[-1] < history.soft_loss[0]
    # the hint term went down: the regressor and the student both learned to match the teacher's layer
    t_hidden = TeacherModelWrapper(teacher()).get_hidden(X, [-1])[0]
    _, cache = student.forward_train(X)
    first = HintLoss(seed=0)
    assert hint.compute_loss(cache.hidden[-1], t_hidden) < first.compute_loss(cache.hidden[-1], t_hidden)
    ckpt = load_checkpoint(sorted(tmp_path.glob("*.pkl"))[-1])
    saved = ckpt.trainer_state["strategy_params"]
    assert set(saved) == {"strategy.1.W", "strategy.1.b"}
    np.testing.assert_array_equal(saved["strategy.1.W"], hint.params["W"])
    assert set(ckpt.optimizer_state["buffers"]["exp_avg"]) == set(student.params) | set(saved)  # Adam's moments too


def test_resume_is_bit_identical_with_a_trained_regressor(tmp_path):
    X, y = data()
    X_val, y_val = data(n=20, seed=1)

    def run(epochs, resume_from=None, directory=tmp_path / "a"):
        strategy = hint_composite(seed=5)
        trainer = KnowledgeDistillationTrainer(teacher(), strategy, seed=0, use_early_stopping=True,
                                               early_stopping_patience=50,
                                               checkpoint_config=DistillationCheckpointConfig(
                                                   checkpoint_directory=directory, save_every_epochs=1))
        student = MLP([5, 7, 3], seed=1)
        trainer.train(student, X, y, epochs=epochs, batch_size=16, optimizer=Adam(learning_rate=0.01),
                      validation_data=(X_val, y_val), verbose=0, resume_from=resume_from)
        return student, strategy.strategies[1][1]

    straight, hint_straight = run(6, directory=tmp_path / "straight")
    run(3)
    ckpt = sorted((tmp_path / "a").glob("*epoch0003.pkl"))[0]
    resumed, hint_resumed = run(6, resume_from=ckpt)
    for k in straight.params:
        np.testing.assert_array_equal(resumed.params[k], straight.params[k])
    for k in ("W", "b"):
        np.testing.assert_array_equal(hint_resumed.params[k], hint_straight.params[k])


def test_early_stopping_restores_the_regressor_of_the_best_epoch():
    X, y = data()
    X_val, y_val = data(n=20, seed=1)
    strategy = hint_composite()
    hint = strategy.strategies[1][1]
    seen = {}
    trainer = KnowledgeDistillationTrainer(teacher(), strategy, seed=0, use_early_stopping=True,
                                           early_stopping_patience=3, early_stopping_min_delta=0.0)
    history = trainer.train(MLP([5, 7, 3], seed=1), X, y, epochs=40, batch_size=16,
                            optimizer=SGD(learning_rate=0.3, momentum=0.9), validation_data=(X_val, y_val),
                            verbose=0, callbacks=[lambda e, logs: seen.__setitem__(e, hint.params["W"].copy())])
    best = history.best_epoch
    assert best < max(seen), "the run should go on after its best epoch for this test to mean something"
    assert np.abs(seen[max(seen)] - seen[best]).max() > 0
    np.testing.assert_array_equal(hint.params["W"], seen[best])


def test_the_hidden_cache_holds_the_teachers_layers_by_dataset_index():
    X, y = data()
    strategy = CompositeStrategy([(1.0, HintLoss(0, 0, seed=0)), (1.0, CosineHintLoss(-1, -1)),
                                  (1.0, HintLoss(-1, 1, seed=1))])  # teacher layers 0, -1 and 1 (= -1)
    trainer = KnowledgeDistillationTrainer(teacher(), strategy, seed=0)
    trainer.train(MLP([5, 12, 9, 3], seed=1), X, y, epochs=1, batch_size=16, verbose=0)
    assert set(trainer._hidden_cache) == {0, -1, 1}
    expected = TeacherModelWrapper(teacher()).get_hidden(X, [0, -1])
    idx = np.array([7, 3, 59, 0])
    hidden = trainer.get_teacher_hidden(X[idx], idx)
    np.testing.assert_array_equal(hidden[0], expected[0][idx])
    np.testing.assert_array_equal(hidden[-1], expected[1][idx])
    np.testing.assert_array_equal(hidden[1], expected[1][idx])
    np.testing.assert_allclose(trainer.get_teacher_hidden(X[idx], None)[0], expected[0][idx], rtol=1e-12)


def test_without_the_cache_the_run_is_the_same():
    X, y = data()
    students = []
    for cache in (True, False):
        trainer = KnowledgeDistillationTrainer(teacher(), hint_composite(), seed=0, cache_teacher_logits=cache)
        student = MLP([5, 7, 3], seed=1)
        trainer.train(student, X, y, epochs=3, batch_size=16, verbose=0)
        students.append(student)
    for k in students[0].params:
        np.testing.assert_allclose(students[0].params[k], students[1].params[k], rtol=1e-10, atol=1e-12)


def test_an_ensemble_of_mlps_gives_its_mean_hidden_layer():
    X, y = data()
    ensemble = EnsembleTeacher([MLP([5, 12, 9, 3], seed=s) for s in range(3)])
    trainer = KnowledgeDistillationTrainer(ensemble, CompositeStrategy([(1.0, DistillationLoss(2.0)),
                                                                        (1.0, HintLoss(seed=0))]), seed=0)
    trainer.train(MLP([5, 7, 3], seed=1), X, y, epochs=2, batch_size=16, verbose=0)
    np.testing.assert_allclose(trainer._hidden_cache[-1], ensemble.get_hidden(X, [-1])[0], rtol=1e-12)


def test_evaluate_uses_the_hidden_layers_too():
    X, y = data()
    strategy = CompositeStrategy([(1.0, DistillationLoss(2.0, 0.5)), (3.0, CosineHintLoss(student_layer=0))])
    trainer = KnowledgeDistillationTrainer(teacher(), strategy, seed=0)
    student = MLP([5, 9, 3], seed=1)
    got = trainer.evaluate(student, X, y)["loss"]
    logits, cache = student.forward_train(X)
    t = TeacherModelWrapper(teacher())
    expected = (DistillationLoss(2.0, 0.5).compute_loss(logits, t.get_logits(X), y)
                + 3.0 * CosineHintLoss().compute_loss(cache.hidden[0], t.get_hidden(X, [-1])[0]))
    assert got == pytest.approx(expected, rel=1e-12)


# ----------------------------------------------------------------------------- what is refused
def test_bad_layer_indices_and_widths_are_value_errors_naming_the_layer_and_shapes():
    X, y = data()
    cases = [
        (HintLoss(student_layer=2), "HintLoss's student_layer must be a hidden-layer index in [-1, 0]"),
        (HintLoss(teacher_layer=-3), "HintLoss's teacher_layer must be a hidden-layer index in [-2, 1]"),
        (CosineHintLoss(0, 0), "d_s = 7 and d_t = 12 (the student's layer 0 has width 7, the teacher's layer 0 "
                               "width 12)"),
        (CompositeStrategy([(1.0, DistillationLoss()),
                            (1.0, AttentionTransferLoss(student_layer=-1, teacher_layer=0))]),
         "strategies[1]: AttentionTransferLoss"),
    ]
    for strategy, message in cases:
        trainer = KnowledgeDistillationTrainer(teacher(), strategy, seed=0)
        with pytest.raises(ValueError, match=re.escape(message)):
            trainer.train(MLP([5, 7, 3], seed=1), X, y, epochs=1, verbose=0)


def test_a_teacher_without_hidden_layers_is_refused_at_train_entry_but_logits_are_fine():
    X, y = data()
    t = teacher()
    callable_teacher = TeacherModelWrapper(lambda X: t.forward(X), output_dimension=3)
    trainer = KnowledgeDistillationTrainer(callable_teacher, HintLoss(seed=0), seed=0)
    with pytest.raises(ValueError, match="cannot give its hidden layers"):
        trainer.train(MLP([5, 7, 3], seed=1), X, y, epochs=1, verbose=0)
    trainer = KnowledgeDistillationTrainer(callable_teacher, HintLoss(student_layer=-1, teacher_layer="logits",
                                                                      seed=0), seed=0)
    trainer.train(MLP([5, 7, 3], seed=1), X, y, epochs=1, verbose=0)  # a hint onto the teacher's logits: fine


def test_batch_sizes_too_small_for_a_relational_loss():
    X, y = data(n=10)
    trainer = KnowledgeDistillationTrainer(teacher(), RKDLoss(), seed=0)
    with pytest.raises(ValueError, match="batch_size must be at least 3 for RKDLoss"):
        trainer.train(MLP([5, 7, 3], seed=1), X, y, epochs=1, batch_size=2, verbose=0)
    with pytest.raises(ValueError, match="validation_data must hold at least 3 samples"):
        trainer.train(MLP([5, 7, 3], seed=1), X, y, epochs=1, batch_size=4, validation_data=(X[:2], y[:2]),
                      verbose=0)
    with pytest.raises(ValueError, match="X must hold at least 3 samples"):
        trainer.evaluate(MLP([5, 7, 3], seed=1), X[:2], y[:2])


@pytest.mark.parametrize("n, batch_size, strategy, expected", [
    (10, 4, RKDLoss(), [4, 6]),  # a last batch of 2 < 3 joins the one before
    (11, 4, RKDLoss(), [4, 4, 3]),  # 3 is enough
    (9, 4, RKDLoss(angle_weight=0.0), [4, 5]),  # distances only: 2 are needed, 1 joins
    (10, 4, DistillationLoss(), [4, 4, 2]),  # a logit loss takes any batch
])
def test_a_last_batch_too_small_for_the_loss_joins_the_one_before(monkeypatch, n, batch_size, strategy, expected):
    X, y = data(n=n)
    trainer = KnowledgeDistillationTrainer(teacher(), strategy, seed=0)
    sizes = []
    original = trainer.train_step

    def recording(student, X_batch, *args, **kwargs):
        sizes.append(X_batch.shape[0])
        return original(student, X_batch, *args, **kwargs)

    monkeypatch.setattr(trainer, "train_step", recording)
    trainer.train(MLP([5, 7, 3], seed=1), X, y, epochs=2, batch_size=batch_size, verbose=0)
    assert sizes == expected * 2


def test_a_checkpoint_with_bad_strategy_params_is_refused(tmp_path):
    X, y = data()
    config = DistillationCheckpointConfig(checkpoint_directory=tmp_path, save_every_epochs=1, best_metric="loss")
    trainer = KnowledgeDistillationTrainer(teacher(), hint_composite(), seed=0, checkpoint_config=config)
    trainer.train(MLP([5, 7, 3], seed=1), X, y, epochs=1, batch_size=16, verbose=0)
    path = sorted(tmp_path.glob("*.pkl"))[0]
    raw = load_checkpoint(path).raw

    def write(mutate, name):
        state = {k: v for k, v in raw.items()}
        state["trainer"] = dict(raw["trainer"], strategy_params=dict(raw["trainer"]["strategy_params"]))
        mutate(state["trainer"]["strategy_params"])
        out = tmp_path / name
        out.write_bytes(encode(state))
        return out

    bad_name = write(lambda p: p.update({"../evil": p.pop("strategy.1.W")}), "bad_name.pkl")
    with pytest.raises(CheckpointError, match="strategy_params"):
        load_checkpoint(bad_name)
    non_finite = write(lambda p: p.update({"strategy.1.b": np.full(9, np.nan)}), "nan.pkl")
    with pytest.raises(CheckpointError, match="finite"):
        load_checkpoint(non_finite)
    wrong_shape = write(lambda p: p.update({"strategy.1.W": np.zeros((3, 3))}), "shape.pkl")
    with pytest.raises(CheckpointError):  # the optimizer's buffers no longer match it
        load_checkpoint(wrong_shape)


def test_a_composite_with_hidden_terms_refuses_logits_alone():
    z = np.zeros((4, 3))
    with pytest.raises(ValueError, match="needs the models' hidden layers"):
        hint_composite().loss_and_gradient(z, z)
    logit_only = CompositeStrategy([(1.0, DistillationLoss()), (1.0, RKDLoss())])  # RKD on logits: fine
    assert logit_only.loss_and_gradient(z + np.arange(3), z)[0] >= 0
    assert logit_only.min_batch_size == 3 and logit_only.required_student_layers == ()
    assert hint_composite().required_student_layers == (-1,) == hint_composite().required_teacher_layers
