"""Tests of SelfDistillationTrainer (born-again networks): what each generation's teacher is,
independence of the generations, seeds, fresh optimizers, pass-through settings, bad input."""

import numpy as np
import pytest

from minikd.datasets import make_blobs
from minikd.mlp import MLP
from minikd.optim import SGD, Adam
from minikd.self_distillation import SelfDistillationResult, SelfDistillationTrainer
from minikd.strategies import CompositeStrategy, CrossEntropyLoss, DistillationLoss, HintLoss
from minikd.trainer import History, KnowledgeDistillationTrainer, SupervisedTrainer

EPOCHS, BATCH = 3, 20


@pytest.fixture(scope="module")
def data():
    X, y = make_blobs(n_samples=80, n_features=4, n_classes=3, cluster_std=2.0, seed=0)
    return X, y


def run(data, generations=3, seed=0, student_seed=0, optimizer=None, **kwargs):
    X, y = data
    trainer = SelfDistillationTrainer(DistillationLoss(temperature=3.0, alpha=0.3), generations=generations,
                                      seed=seed)
    student = MLP([4, 12, 3], seed=student_seed)
    result = trainer.train(student, X, y, epochs=kwargs.pop("epochs", EPOCHS), batch_size=BATCH,
                           optimizer=SGD(0.05, momentum=0.9) if optimizer is None else optimizer,
                           verbose=0, **kwargs)
    return student, result


def assert_same_params(a, b, msg=""):
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key], err_msg=f"{msg} {key}")


def params_differ(a, b):
    return any(not np.array_equal(a.params[k], b.params[k]) for k in a.params)


# ------------------------------------------------------------------ the structure of a run
def test_result_holds_every_generation(data):
    student, result = run(data, generations=3)
    assert isinstance(result, SelfDistillationResult)
    assert len(result) == len(result.models) == len(result.histories) == len(result.trainers) == 3
    assert result.models[0] is student, "generation 0 is the given student, trained in place"
    assert result.final_model is result.models[-1]
    assert isinstance(result.trainers[0], SupervisedTrainer)
    for k in (1, 2):
        assert isinstance(result.trainers[k], KnowledgeDistillationTrainer)
        assert result.models[k].get_config() == student.get_config()
    for h in result.histories:
        assert isinstance(h, History) and len(h.loss) == EPOCHS
    h0, h1 = result.histories[0], result.histories[1]
    assert h0.soft_loss == [0.0] * EPOCHS and h0.hard_loss == h0.loss, "generation 0 learns from the labels only"
    assert all(s > 0 for s in h1.soft_loss) and all(h > 0 for h in h1.hard_loss)
    assert result.seeds[0]["init"] is None and all(isinstance(s["init"], int) for s in result.seeds[1:])


def test_generation_k_teacher_logits_are_generation_k_minus_1_outputs(data):
    X, _ = data
    _, result = run(data, generations=3)
    idx = np.array([5, 0, 79, 33, 33, 12])
    for k in (1, 2):
        trainer = result.trainers[k]
        expected = result.models[k - 1].forward(X)
        np.testing.assert_allclose(trainer.get_teacher_predictions(X[idx], idx), expected[idx], rtol=1e-12,
                                   atol=1e-12, err_msg=f"generation {k}: cached teacher logits by dataset index")
        np.testing.assert_allclose(trainer.get_teacher_predictions(X, None), expected, rtol=1e-12, atol=1e-12,
                                   err_msg=f"generation {k}: uncached teacher logits")
        assert trainer.teacher.model is not result.models[k - 1], "the teacher must be a copy"


class RecordingLoss(DistillationLoss):
    """Hinton's loss that remembers the teacher logits of every training step."""

    def __init__(self, temperature=3.0, alpha=0.3):
        super().__init__(temperature, alpha)
        self.seen = []

    def _compute(self, z, v, labels_kind, labels):
        self.seen.append(v.copy())
        return super()._compute(z, v, labels_kind, labels)


def test_the_loop_sees_the_previous_generations_outputs(data):
    """End to end: the teacher logits that reach the loss are generation k-1's final outputs."""
    X, y = data
    n = X.shape[0]
    strategy = RecordingLoss()
    result = SelfDistillationTrainer(strategy, generations=3, seed=1).train(
        MLP([4, 12, 3], seed=0), X, y, epochs=2, batch_size=n, optimizer=SGD(0.05), verbose=0)
    assert len(strategy.seen) == 4, "one full batch per epoch, 2 epochs, generations 1 and 2"
    for step, v in enumerate(strategy.seen):
        k = 1 + step // 2
        reference = result.models[k - 1].forward(X)
        order = np.lexsort(v.T)  # the batch is a permutation of the data set: compare as sets of rows
        ref_order = np.lexsort(reference.T)
        np.testing.assert_allclose(v[order], reference[ref_order], rtol=1e-12, atol=1e-12,
                                   err_msg=f"step {step} (generation {k})")


def test_each_generation_equals_a_hand_made_distillation_run(data):
    """The trainer adds nothing to the loop: generation k is KnowledgeDistillationTrainer(copy of k-1)
    on MLP.from_config(config, seed=init seed) with a fresh optimizer and the shuffle seed."""
    X, y = data
    template = Adam(0.01)
    student, result = run(data, generations=3, optimizer=template)
    assert template.t == 0 and template.state_dict()["t"] == 0, "the template optimizer is never stepped"
    gen0 = MLP([4, 12, 3], seed=0)
    SupervisedTrainer(seed=result.seeds[0]["shuffle"]).train(gen0, X, y, epochs=EPOCHS, batch_size=BATCH,
                                                             optimizer=Adam(0.01), verbose=0)
    assert_same_params(gen0, result.models[0], "generation 0")
    for k in (1, 2):
        manual = MLP.from_config(student.get_config(), seed=result.seeds[k]["init"])
        KnowledgeDistillationTrainer(result.models[k - 1].copy(), DistillationLoss(3.0, 0.3),
                                     seed=result.seeds[k]["shuffle"]).train(
            manual, X, y, epochs=EPOCHS, batch_size=BATCH, optimizer=Adam(0.01), verbose=0)
        assert_same_params(manual, result.models[k], f"generation {k}")


# ------------------------------------------------------------------ independence
def test_generations_are_independent_objects(data):
    _, result = run(data, generations=3)
    arrays = [(k, key, p) for k, m in enumerate(result.models) for key, p in m.params.items()]
    arrays += [(f"teacher of {k}", key, p) for k, t in enumerate(result.trainers[1:], start=1)
               for key, p in t.teacher.model.params.items()]
    for i, (ka, name_a, a) in enumerate(arrays):
        for kb, name_b, b in arrays[i + 1:]:
            assert not np.shares_memory(a, b), f"{ka}.{name_a} and {kb}.{name_b} share memory"


def test_training_later_generations_does_not_change_earlier_ones(data):
    _, one = run(data, generations=1)
    _, two = run(data, generations=2)
    _, three = run(data, generations=3)
    assert_same_params(one.models[0], three.models[0], "generation 0 after two more generations")
    assert_same_params(two.models[1], three.models[1], "generation 1 after one more generation")
    assert params_differ(three.models[1], three.models[2])


def test_changing_a_model_afterwards_does_not_change_its_frozen_copy(data):
    X, _ = data
    _, result = run(data, generations=2)
    before = result.trainers[1].teacher.get_logits(X)
    result.models[0].params["W1"] += 1.0
    np.testing.assert_array_equal(result.trainers[1].teacher.get_logits(X), before)


# ------------------------------------------------------------------ seeds and optimizers
def test_same_seed_gives_identical_generations(data):
    _, a = run(data, generations=3, seed=7)
    _, b = run(data, generations=3, seed=7)
    assert a.seeds == b.seeds
    for k in range(3):
        assert_same_params(a.models[k], b.models[k], f"generation {k}")
    _, c = run(data, generations=3, seed=8)
    assert a.seeds != c.seeds
    for k in range(3):  # generation 0 too: the shuffling seed differs
        assert params_differ(a.models[k], c.models[k]), f"seed 8 must give a different generation {k}"


def test_generation_seeds_are_distinct_and_prefix_stable():
    s3 = SelfDistillationTrainer(DistillationLoss(), generations=3, seed=0).generation_seeds()
    s5 = SelfDistillationTrainer(DistillationLoss(), generations=5, seed=0).generation_seeds()
    assert s5[:3] == s3
    shuffles = [s["shuffle"] for s in s5]
    inits = [s["init"] for s in s5[1:]]
    assert len(set(shuffles)) == 5 and len(set(inits)) == 4


def test_a_factory_makes_one_fresh_optimizer_per_generation(data):
    X, _ = data
    made = []

    def factory():
        made.append(SGD(0.05, momentum=0.9))
        return made[-1]

    run(data, generations=3, optimizer=factory)
    steps = EPOCHS * -(-X.shape[0] // BATCH)
    assert len(made) == 3 and len({id(o) for o in made}) == 3
    assert [o.t for o in made] == [steps] * 3, "each optimizer took one generation's steps only"
    _, with_class = run(data, generations=2, optimizer=SGD)  # a class is a factory too
    assert len(with_class) == 2


def test_float32_students_stay_float32(data):
    X, y = data
    result = SelfDistillationTrainer(DistillationLoss(), generations=2, seed=0).train(
        MLP([4, 8, 3], seed=0, dtype=np.float32), X, y, epochs=1, batch_size=BATCH, verbose=0)
    assert all(m.dtype == np.float32 for m in result.models)
    assert all(p.dtype == np.float32 for m in result.models for p in m.params.values())


# ------------------------------------------------------------------ pass-through settings
def test_validation_data_callbacks_and_early_stopping_reach_every_generation(data):
    X, y = data
    begun = []

    class Recorder:
        def on_train_begin(self, trainer, logs):
            begun.append(trainer)

        def on_epoch_end(self, epoch, logs):
            return epoch == 2  # stop each generation after its second epoch

    trainer = SelfDistillationTrainer(DistillationLoss(), generations=3, seed=0, use_early_stopping=True,
                                      early_stopping_patience=4, early_stopping_min_delta=0.0,
                                      early_stopping_monitor="val_accuracy")
    result = trainer.train(MLP([4, 12, 3], seed=0), X, y, epochs=6, batch_size=BATCH,
                           validation_data=(X[:30], y[:30]), callbacks=[Recorder()], verbose=0)
    assert begun == result.trainers, "on_train_begin once per generation, with that generation's trainer"
    assert trainer.result is result
    for k, (h, t) in enumerate(zip(result.histories, result.trainers, strict=True)):
        assert len(h.loss) == 2 and h.stopped_epoch == 2, f"the callback stops generation {k} only"
        assert len(h.val_accuracy) == 2
        assert t.use_early_stopping and t.early_stopping.patience == 4 and t.early_stopping.min_delta == 0.0
        assert t.early_stopping_monitor == "val_accuracy" and not t.early_stopping.lower_is_better
    assert result.histories[0].teacher_agreement == [None, None]
    assert all(0.0 <= a <= 1.0 for h in result.histories[1:] for a in h.teacher_agreement)


def test_verbose_prints_a_header_per_generation(data, capsys):
    X, y = data
    trainer = SelfDistillationTrainer(DistillationLoss(), generations=2, seed=0)
    trainer.train(MLP([4, 8, 3], seed=0), X, y, epochs=1, batch_size=BATCH, verbose=1)
    out = capsys.readouterr().out
    assert "generation 0 (1/2)" in out and "from the labels" in out
    assert "generation 1 (2/2)" in out and "from generation 0 (DistillationLoss)" in out
    trainer.train(MLP([4, 8, 3], seed=0), X, y, epochs=1, batch_size=BATCH, verbose=0)
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"generations": 0}, ValueError, "generations must be an integer >= 1, got 0"),
        ({"generations": -2}, ValueError, "generations must be an integer >= 1, got -2"),
        ({"generations": 1.5}, TypeError, "generations must be an integer"),
        ({"generations": True}, TypeError, "generations must be an integer"),
        ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
        ({"early_stopping_patience": 0}, ValueError, "early_stopping_patience must be an integer >= 1"),
    ],
)
def test_rejects_bad_settings(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        SelfDistillationTrainer(DistillationLoss(), **kwargs)


def test_rejects_bad_strategy():
    with pytest.raises(TypeError, match="distillation_strategy must be a minikd DistillationStrategy"):
        SelfDistillationTrainer("kd")
    with pytest.raises(ValueError, match="must use the teacher"):
        SelfDistillationTrainer(CrossEntropyLoss())


def test_rejects_bad_train_arguments(data):
    X, y = data
    trainer = SelfDistillationTrainer(DistillationLoss(), generations=2, seed=0)
    with pytest.raises(ValueError, match="y is required"):
        trainer.train(MLP([4, 8, 3], seed=0), X, None, verbose=0)
    with pytest.raises(TypeError, match="student must be a minikd MLP"):
        trainer.train("mlp", X, y, verbose=0)
    with pytest.raises(TypeError, match="optimizer must be a minikd optimizer"):
        trainer.train(MLP([4, 8, 3], seed=0), X, y, optimizer=0.01, verbose=0)
    with pytest.raises(TypeError, match="optimizer factory must return a minikd optimizer"):
        trainer.train(MLP([4, 8, 3], seed=0), X, y, optimizer=lambda: "sgd", verbose=0)
    shared = SGD(0.05)
    with pytest.raises(ValueError, match="must return a new optimizer for every generation"):
        trainer.train(MLP([4, 8, 3], seed=0), X, y, epochs=1, batch_size=BATCH, optimizer=lambda: shared,
                      verbose=0)
    with pytest.raises(ValueError, match="verbose must be an integer <= 2"):
        trainer.train(MLP([4, 8, 3], seed=0), X, y, verbose=3)


def test_each_generation_starts_with_a_fresh_regressor(data):
    """HintLoss's regressor maps a student's hidden layer to its teacher's: each generation's fresh student
    gets one built from the loss's seed, not the previous generation's trained one."""
    X, y = data
    starts, ends = [], []

    class Recorder:
        def on_train_begin(self, trainer, logs):
            starts.append({k: v.copy() for k, v in trainer.strategy._named_params().items()})

        def on_train_end(self, trainer, logs):
            ends.append({k: v.copy() for k, v in trainer.strategy._named_params().items()})

    strategy = CompositeStrategy([(1.0, DistillationLoss(temperature=3.0, alpha=0.3)),
                                  (0.5, HintLoss(student_layer=-1, teacher_layer=-1, seed=7))])
    SelfDistillationTrainer(strategy, generations=3, seed=0).train(
        MLP([4, 12, 3], seed=0), X, y, epochs=EPOCHS, batch_size=BATCH, optimizer=SGD(0.05, momentum=0.9),
        callbacks=[Recorder()], verbose=0)
    assert starts[0] == {} and set(starts[1]) == {"strategy.1.W", "strategy.1.b"}  # generation 0: cross-entropy
    for name in starts[1]:
        np.testing.assert_array_equal(starts[2][name], starts[1][name])  # built again from seed 7
        assert not np.array_equal(ends[1][name], starts[1][name])  # ... although generation 1 trained it
