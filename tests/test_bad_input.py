"""Bad input to every public entry point.

Every case must raise a ``ValueError`` or ``TypeError`` (nothing else: no ``IndexError``, no bare
``AssertionError``, no ``TrainingDivergedError`` that blames the learning rate for bad data, no
silent NaN) whose message names the parameter and shows the value received. The cases follow the
issue's list: wrong types, wrong ndim, empty arrays, NaN/inf, bad labels, probability rows that do
not sum to 1, class-count and feature-count mismatches, bad temperatures and alphas, bad
batch_size/epochs, unknown names, and teachers that return the wrong shape or NaN.

The bugs this suite found are kept as separate regression tests at the end of the file.
"""

import re

import numpy as np
import pytest

from minikd.checkpoint import CheckpointManager, DistillationCheckpointConfig, load_checkpoint
from minikd.datasets import label_subset, load_digits, make_blobs, train_test_split
from minikd.functional import cross_entropy, kl_divergence, log_softmax, one_hot, softmax
from minikd.gradcheck import check_gradients, numerical_gradient, rel_error
from minikd.interop import (
    convert_hyperparameters,
    from_torch_state_dict,
    reference_distillation_loss,
    to_torch_state_dict,
    torch_sequential_code,
)
from minikd.mlp import MLP
from minikd.optim import SGD, Adam
from minikd.self_distillation import SelfDistillationTrainer
from minikd.strategies import (
    CompositeStrategy,
    CrossEntropyLoss,
    DecoupledKDLoss,
    DistillationLoss,
    HintLoss,
    LogitMatchingLoss,
    strategy_from_config,
)
from minikd.teachers import EnsembleTeacher, TeacherModelWrapper
from minikd.trainer import EarlyStopping, KnowledgeDistillationTrainer, MutualLearningTrainer, SupervisedTrainer

# Phrases of errors raised from inside NumPy or Python rather than by minikd's checks.
_INTERNAL = ("operands could not be broadcast", "out of bounds", "could not convert", "setting an array element",
             "cannot be concatenated", "only 0-dimensional", "has no len()", "unsupported operand",
             "required positional argument", "is not subscriptable", "object is not callable",
             "assignment destination is read-only", "output array is read-only", "unexpected keyword argument",
             "not aligned")

RNG = np.random.default_rng(0)
X, Y = make_blobs(n_samples=40, n_features=4, n_classes=3, seed=0)
Z = RNG.normal(size=(5, 3))  # student logits
V = RNG.normal(size=(5, 3))  # teacher logits
LABELS = np.array([0, 1, 2, 0, 1])
TEACHER = MLP([4, 8, 3], seed=0)
NAN_X = np.where(X > 2, np.nan, X)


def _student(seed=1, **kw):
    return MLP([4, 6, 3], seed=seed, **kw)


def _kd(teacher=TEACHER, strategy=None, **kw):
    return KnowledgeDistillationTrainer(teacher, strategy or DistillationLoss(), seed=0, **kw)


def _train(student=None, X=X, y=Y, trainer=None, **kw):
    kw = {"epochs": 1, "batch_size": 8, "verbose": 0, **kw}
    return (trainer or _kd()).train(_student() if student is None else student, X, y, **kw)


def _step(X_batch=X[:8], y_batch=Y[:8], indices=None, student=None, optimizer=None):
    return _kd().train_step(_student() if student is None else student, X_batch, y_batch, indices,
                            SGD(0.1) if optimizer is None else optimizer)


def _backward(dlogits, cache_from=None):
    model = _student()
    _, cache = (cache_from or model).forward_train(X[:5])
    return model.backward(dlogits, cache)


def _step_sgd(params, grads, optimizer=None):
    return (optimizer or SGD(0.1)).step(params, grads)


def _callable_teacher(output):
    """A callable teacher that returns ``output(X)``."""
    def teacher(X_batch):
        return output(X_batch)
    return teacher


class _ArrayFails:
    """Something whose ``__array__`` raises a RuntimeError (like a torch tensor that requires grad)."""

    def __array__(self, *args, **kwargs):
        raise RuntimeError("Can't call numpy() on Tensor that requires grad")

    def __repr__(self):
        return "ArrayFails()"


def _used_sgd():
    """An SGD with momentum that has taken one step on a [4, 6, 3] student."""
    model = _student()
    optimizer = SGD(0.1, momentum=0.9)
    optimizer.step(model.params, {k: np.ones_like(v) for k, v in model.params.items()})
    return optimizer


def _matrix(a):
    """np.matrix(a), without NumPy's PendingDeprecationWarning about the class."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix(a)


def _writes_into_X(X_batch):
    """A teacher that standardises its input in place (which would change the caller's X)."""
    X_batch -= X_batch.mean(axis=0)
    return np.zeros((len(X_batch), 3))


_HUGE_TEACHER = _callable_teacher(lambda Xb: np.tile([1e39, 0.0, -1e39], (len(Xb), 1)))  # inf in float32


def _sd(**changes):
    state = to_torch_state_dict(MLP([4, 3, 2], seed=0))
    state.update(changes)
    return state


P = pytest.param
CASES = [
    # ------------------------------------------------------------------ wrong types
    P(lambda: softmax("abc"), TypeError, ("z", "'abc'"), id="softmax-str"),
    P(lambda: softmax(np.ones(3, bool)), TypeError, ("z", "dtype bool"), id="softmax-bool"),
    P(lambda: softmax(np.array([1.0, None])), TypeError, ("z", "dtype object"), id="softmax-object"),
    P(lambda: softmax(Z + 1j), TypeError, ("z", "complex128"), id="softmax-complex"),
    P(lambda: softmax([[1.0, 2.0], [3.0]]), TypeError, ("z", "[[1.0, 2.0], [3.0]]"), id="softmax-ragged"),
    P(lambda: softmax(_ArrayFails()), TypeError, ("z", "ArrayFails()", "requires grad"), id="softmax-array-fails"),
    P(lambda: softmax(Z, axis=1.0), TypeError, ("axis", "1.0"), id="softmax-axis-float"),
    P(lambda: cross_entropy(Z, LABELS.astype(str)), TypeError, ("labels", "dtype <U21"), id="ce-labels-str"),
    P(lambda: cross_entropy(Z, LABELS > 0), TypeError, ("labels", "dtype bool"), id="ce-labels-bool"),
    P(lambda: cross_entropy(Z, None), TypeError, ("labels", "None"), id="ce-labels-none"),
    P(lambda: cross_entropy(Z, LABELS, reduction=None), TypeError, ("reduction", "None"), id="ce-reduction-none"),
    P(lambda: one_hot([0, 1], 2.0), TypeError, ("num_classes", "2.0"), id="one-hot-num-classes-float"),
    P(lambda: one_hot([0, 1], 2, dtype=int), TypeError, ("dtype", "int"), id="one-hot-int-dtype"),
    P(lambda: MLP("4,3"), TypeError, ("layer_sizes", "'4,3'"), id="mlp-sizes-str"),
    P(lambda: MLP([4, 3.0]), TypeError, ("layer_sizes[1]", "3.0"), id="mlp-size-float"),
    P(lambda: MLP([4, 3], dtype=np.float16), TypeError, ("dtype", "float16"), id="mlp-dtype-f16"),
    P(lambda: MLP([4, 3], seed="0"), TypeError, ("seed", "'0'"), id="mlp-seed-str"),
    P(lambda: _student().forward(None), TypeError, ("X", "None"), id="forward-none"),
    P(lambda: _student().forward(X > 0), TypeError, ("X", "dtype bool"), id="forward-bool"),
    P(lambda: _student().forward(X.astype(object)), TypeError, ("X", "dtype object"), id="forward-object"),
    P(lambda: _student().forward_train(X, need_input_grad=1), TypeError, ("need_input_grad", "1"),
      id="forward-train-flag-int"),
    P(lambda: _student().backward(np.zeros((5, 3)), (1, 2)), TypeError, ("cache", "(1, 2)"),
      id="backward-cache-tuple"),
    P(lambda: _backward(np.zeros((5, 3)), cache_from=MLP([4, 6, 6, 3], seed=0)), ValueError,
      ("cache", "2-layer", "3 layers"), id="backward-cache-other-depth"),
    P(lambda: _student().set_params([1, 2]), TypeError, ("params", "[1, 2]"), id="set-params-list"),
    P(lambda: MLP.from_config("relu"), TypeError, ("config", "'relu'"), id="from-config-str"),
    P(lambda: SGD("0.1"), TypeError, ("learning_rate", "'0.1'"), id="sgd-lr-str"),
    P(lambda: SGD(0.1, momentum=0.9, nesterov=1), TypeError, ("nesterov", "1"), id="sgd-nesterov-int"),
    P(lambda: Adam(beta1=None), TypeError, ("beta1", "None"), id="adam-beta1-none"),
    P(lambda: _step_sgd({"W": np.ones(3)}, [np.ones(3)]), TypeError, ("grads", "[array"), id="step-grads-list"),
    P(lambda: _step_sgd({"W": np.ones(3, int)}, {"W": np.ones(3)}), TypeError, ("params['W']", "int64"),
      id="step-int-params"),
    P(lambda: _step_sgd({"W": np.ones(3)}, {"W": np.ones(3, bool)}), TypeError, ("grads['W']", "bool"),
      id="step-bool-grads"),
    P(lambda: SGD().load_state_dict(None), TypeError, ("state", "None"), id="load-state-none"),
    P(lambda: DistillationLoss(temperature="3"), TypeError, ("temperature", "'3'"), id="kd-temperature-str"),
    P(lambda: DistillationLoss(alpha=None), TypeError, ("alpha", "None"), id="kd-alpha-none"),
    P(lambda: LogitMatchingLoss(center="yes"), TypeError, ("center", "'yes'"), id="lm-center-str"),
    P(lambda: DistillationLoss().compute_loss("z", V), TypeError, ("student_logits", "'z'"), id="kd-z-str"),
    P(lambda: DistillationLoss().compute_loss(Z, None), TypeError, ("teacher_logits", "None"), id="kd-v-none"),
    P(lambda: DistillationLoss().compute_gradient(Z, V, LABELS.astype(object)), TypeError,
      ("labels", "dtype object"), id="kd-labels-object"),
    P(lambda: CompositeStrategy([(1.0, "kd")]), TypeError, ("strategies[0]", "'kd'"), id="composite-str"),
    P(lambda: CompositeStrategy(5), TypeError, ("strategies", "5"), id="composite-int"),
    P(lambda: strategy_from_config("kd"), TypeError, ("config", "'kd'"), id="from-config-strategy-str"),
    P(lambda: TeacherModelWrapper(5), TypeError, ("model_or_callable", "5"), id="teacher-int"),
    P(lambda: TeacherModelWrapper(TEACHER, output_dimension=3.0), TypeError, ("output_dimension", "3.0"),
      id="teacher-dim-float"),
    P(lambda: KnowledgeDistillationTrainer(TEACHER, "kd"), TypeError, ("distillation_strategy", "'kd'"),
      id="trainer-strategy-str"),
    P(lambda: KnowledgeDistillationTrainer(None, DistillationLoss()), TypeError,
      ("teacher", "None", "SupervisedTrainer"), id="trainer-teacher-none"),
    P(lambda: _kd(checkpoint_config="dir"), TypeError, ("checkpoint_config", "'dir'"), id="trainer-ckpt-str"),
    P(lambda: _train(student="mlp"), TypeError, ("student", "'mlp'"), id="train-student-str"),
    P(lambda: _train(X="abc"), TypeError, ("X", "'abc'"), id="train-X-str"),
    P(lambda: _train(X=X.astype(object)), TypeError, ("X", "object"), id="train-X-object"),
    P(lambda: _train(y=Y.astype(str)), TypeError, ("y", "<U21"), id="train-y-str"),
    P(lambda: _train(optimizer="sgd"), TypeError, ("optimizer", "'sgd'"), id="train-optimizer-str"),
    P(lambda: _train(epochs=2.5), TypeError, ("epochs", "2.5"), id="train-epochs-float"),
    P(lambda: _train(batch_size="8"), TypeError, ("batch_size", "'8'"), id="train-batch-str"),
    P(lambda: _train(verbose=True), TypeError, ("verbose", "True"), id="train-verbose-bool"),
    P(lambda: _train(validation_data=X), TypeError, ("validation_data", "ndarray"), id="train-val-array"),
    P(lambda: _train(validation_data=(X, None)), TypeError, ("y_val", "None"), id="train-val-y-none"),
    P(lambda: _train(callbacks=[42]), TypeError, ("callbacks[0]", "42"), id="train-callback-int"),
    P(lambda: _train(resume_from=5), TypeError, ("path", "5"), id="train-resume-int"),
    P(lambda: _step(optimizer="sgd"), TypeError, ("optimizer", "'sgd'"), id="step-optimizer-str"),
    P(lambda: _kd().evaluate("mlp", X), TypeError, ("student", "'mlp'"), id="evaluate-student-str"),
    P(lambda: DistillationCheckpointConfig(5), TypeError, ("checkpoint_directory", "5"), id="ckpt-dir-int"),
    P(lambda: DistillationCheckpointConfig(best_metric=3), TypeError, ("best_metric", "3"), id="ckpt-metric-int"),
    P(lambda: DistillationCheckpointConfig(save_teacher="no"), TypeError, ("save_teacher", "'no'"),
      id="ckpt-save-teacher-str"),
    P(lambda: CheckpointManager("dir"), TypeError, ("config", "'dir'"), id="ckpt-manager-str"),
    P(lambda: load_checkpoint(42), TypeError, ("path", "42"), id="load-checkpoint-int"),
    P(lambda: load_digits(dtype="foo"), TypeError, ("dtype", "'foo'"), id="digits-dtype-str"),
    P(lambda: load_digits(return_images=1), TypeError, ("return_images", "1"), id="digits-images-int"),
    P(lambda: train_test_split([[1], [1, 2], [3], [4]], [0, 0, 1, 1]), TypeError, ("X", "[[1], [1, 2]"),
      id="split-X-ragged"),
    P(lambda: train_test_split(X, Y, test_size="0.5"), TypeError, ("test_size", "'0.5'"), id="split-size-str"),
    P(lambda: train_test_split(X, Y, seed=1.5), TypeError, ("seed", "1.5"), id="split-seed-float"),
    P(lambda: train_test_split(X, Y, stratify="yes"), TypeError, ("stratify", "'yes'"), id="split-stratify-str"),
    P(lambda: label_subset(np.array([0, None]), 0.5), TypeError, ("y", "object"), id="subset-y-object"),
    P(lambda: make_blobs(center_box="ab"), TypeError, ("center_box", "'ab'"), id="blobs-box-str"),
    P(lambda: make_blobs(n_samples=10.0), TypeError, ("n_samples", "10.0"), id="blobs-n-float"),
    P(lambda: rel_error("a", "b"), TypeError, ("a", "'a'"), id="rel-error-str"),
    P(lambda: rel_error(np.array([1j]), np.array([1.0])), TypeError, ("a", "complex128"), id="rel-error-complex"),
    P(lambda: numerical_gradient(lambda x: None, np.zeros(2)), TypeError, ("f", "None"), id="numgrad-f-none"),
    P(lambda: numerical_gradient(lambda x: x, np.zeros(2)), TypeError, ("f", "ndarray of shape (2,)"),
      id="numgrad-f-array"),
    P(lambda: numerical_gradient(lambda: 0.0, [0.0]), TypeError, ("x", "[0.0]"), id="numgrad-x-list"),
    P(lambda: check_gradients(lambda: 0.0, inputs=5, analytic=5), TypeError, ("inputs", "5"), id="gradcheck-inputs"),
    P(lambda: check_gradients(MLP([4, 3], seed=0), X[:2], dlogits="ab"), TypeError, ("dlogits", "'ab'"),
      id="gradcheck-dlogits-str"),
    P(lambda: check_gradients(MLP([4, 3], seed=0, dtype=np.float32), X[:2]), TypeError, ("float64",),
      id="gradcheck-float32-model"),
    P(lambda: to_torch_state_dict("mlp"), TypeError, ("mlp", "'mlp'"), id="to-torch-str"),
    P(lambda: torch_sequential_code(TEACHER, name=5), TypeError, ("name", "5"), id="torch-code-name-int"),
    P(lambda: from_torch_state_dict(None), TypeError, ("state_dict", "None"), id="from-torch-none"),
    P(lambda: from_torch_state_dict({**_sd(), 5: np.ones(2)}), TypeError, ("keys", "5"), id="from-torch-int-key"),
    P(lambda: from_torch_state_dict(_sd(**{"0.weight": "abc"})), TypeError, ("state_dict['0.weight']", "'abc'"),
      id="from-torch-str-value"),
    P(lambda: reference_distillation_loss(Z, V, LABELS, 2.0, {"a": 1}), TypeError, ("alpha", "{'a': 1}"),
      id="reference-alpha-dict"),
    P(lambda: convert_hyperparameters("0.5", "minikd", "keras", 2.0), TypeError, ("alpha_or_weights", "'0.5'"),
      id="convert-alpha-str"),

    P(lambda: EnsembleTeacher(TEACHER), TypeError, ("teachers", "MLP([4, 8, 3]"), id="ensemble-not-a-list"),
    P(lambda: EnsembleTeacher([TEACHER, 5]), TypeError, ("teachers[1]", "5"), id="ensemble-member-int"),
    P(lambda: EnsembleTeacher([TEACHER, TEACHER], weights="ab"), TypeError, ("weights", "'ab'"),
      id="ensemble-weights-str"),
    P(lambda: SelfDistillationTrainer("kd"), TypeError, ("distillation_strategy", "'kd'"), id="self-strategy-str"),
    P(lambda: SelfDistillationTrainer(DistillationLoss(), generations=1.5), TypeError, ("generations", "1.5"),
      id="self-generations-float"),
    P(lambda: SelfDistillationTrainer(DistillationLoss()).train(_student(), X, Y, optimizer="sgd", verbose=0),
      TypeError, ("optimizer", "'sgd'"), id="self-optimizer-str"),
    P(lambda: SelfDistillationTrainer(DistillationLoss()).train(_student(), X, Y, optimizer=lambda: "x",
                                                                verbose=0),
      TypeError, ("optimizer factory", "'x'"), id="self-optimizer-factory"),
    P(lambda: MutualLearningTrainer("kd"), TypeError, ("distillation_strategy", "'kd'"), id="mutual-strategy-str"),
    P(lambda: SupervisedTrainer(early_stopping_monitor=1), TypeError, ("early_stopping_monitor", "string", "got 1"),
      id="monitor-int"),
    P(lambda: MutualLearningTrainer(DistillationLoss()).train(_student(), X, Y, verbose=0), TypeError,
      ("students", "list", "MLP([4, 6, 3]", "at least 2"), id="mutual-one-mlp"),
    P(lambda: MutualLearningTrainer(DistillationLoss()).train([_student(), "x"], X, Y, verbose=0), TypeError,
      ("students[1]", "'x'"), id="mutual-student-str"),
    P(lambda: MutualLearningTrainer(DistillationLoss()).train([_student(), _student()], X, Y, verbose=0,
                                                              optimizer=SGD(0.1)),
      TypeError, ("optimizer", "one per student", "SGD"), id="mutual-one-optimizer"),
    P(lambda: MutualLearningTrainer(DistillationLoss()).train([_student(), _student()], X, Y, verbose=0,
                                                              optimizer=lambda: "x"),
      TypeError, ("optimizer factory's result[0]", "'x'"), id="mutual-optimizer-factory"),
    P(lambda: MutualLearningTrainer(DistillationLoss()).train([_student(), _student()], X, Y, verbose=0,
                                                              optimizer=[SGD(0.1), "sgd"]),
      TypeError, ("optimizer[1]", "'sgd'"), id="mutual-optimizer-list-str"),
    P(lambda: MutualLearningTrainer(DistillationLoss()).evaluate(_student(), X, Y, peers=_student()), TypeError,
      ("peers", "MLP([4, 6, 3]"), id="mutual-evaluate-peers-mlp"),

    # ------------------------------------------------------------------ wrong ndim
    P(lambda: softmax(3.0), ValueError, ("z", "shape ()"), id="softmax-0d"),
    P(lambda: cross_entropy(np.zeros((2, 2, 3)), [0, 1]), ValueError, ("logits", "(2, 2, 3)"), id="ce-3d"),
    P(lambda: cross_entropy(Z, LABELS[:, None, None]), ValueError, ("labels", "(5, 1, 1)"), id="ce-labels-3d"),
    P(lambda: cross_entropy(Z, 1), ValueError, ("labels", "shape ()"), id="ce-batch-scalar-label"),
    P(lambda: kl_divergence(np.zeros((2, 2, 3)), np.zeros((2, 2, 3))), ValueError, ("p_logits", "(2, 2, 3)"),
      id="kl-3d"),
    P(lambda: one_hot([[0, 1]], 2), ValueError, ("labels", "(1, 2)"), id="one-hot-2d"),
    P(lambda: _student().forward(np.zeros((2, 4, 1))), ValueError, ("X", "(2, 4, 1)"), id="forward-3d"),
    P(lambda: _backward(np.zeros(3)), ValueError, ("dlogits", "(5, 3)", "(3,)"), id="backward-1d"),
    P(lambda: DistillationLoss().compute_loss(np.zeros((2, 2, 3)), np.zeros((2, 2, 3))), ValueError,
      ("student_logits", "(2, 2, 3)"), id="kd-3d"),
    P(lambda: DistillationLoss().compute_loss(Z[0], V[0], np.array([1])), ValueError, ("labels", "(1,)"),
      id="kd-single-label-array"),
    P(lambda: _train(X=X[0]), ValueError, ("X", "2-D", "(4,)"), id="train-X-1d"),
    P(lambda: _train(y=Y[:, None, None]), ValueError, ("y", "(40, 1, 1)"), id="train-y-3d"),
    P(lambda: _step(X_batch=X[0]), ValueError, ("X_batch", "(4,)"), id="step-X-1d"),
    P(lambda: _step(indices=np.arange(8.0)), ValueError, ("indices", "float64"), id="step-indices-float"),
    P(lambda: from_torch_state_dict(_sd(**{"0.weight": np.ones((1, 3, 4))})), ValueError,
      ("state_dict['0.weight']", "(1, 3, 4)"), id="from-torch-3d"),
    P(lambda: label_subset(np.eye(3), 0.5), ValueError, ("y", "(3, 3)"), id="subset-2d"),
    P(lambda: train_test_split(X, np.eye(3)[Y]), ValueError, ("y", "(40, 3)", "stratify=False"),
      id="split-stratify-2d"),

    # ------------------------------------------------------------------ empty arrays
    P(lambda: softmax(np.zeros((0, 3))), ValueError, ("z", "empty", "(0, 3)"), id="softmax-empty"),
    P(lambda: log_softmax(np.zeros((3, 0))), ValueError, ("z", "empty", "(3, 0)"), id="log-softmax-empty"),
    P(lambda: cross_entropy(np.zeros((0, 3)), np.zeros(0, int)), ValueError, ("logits", "(0, 3)"), id="ce-empty"),
    P(lambda: _student().forward(np.zeros((0, 4))), ValueError, ("X", "(0, 4)"), id="forward-empty"),
    P(lambda: DecoupledKDLoss().compute_loss(np.zeros((0, 3)), np.zeros((0, 3)), []), ValueError,
      ("student_logits", "(0, 3)"), id="dkd-empty"),
    P(lambda: _train(X=X[:0], y=Y[:0]), ValueError, ("X", "(0, 4)"), id="train-empty"),
    P(lambda: _train(validation_data=(X[:0], Y[:0])), ValueError, ("X_val", "(0, 4)"), id="train-val-empty"),
    P(lambda: _kd().evaluate(_student(), X[:0]), ValueError, ("X", "(0, 4)"), id="evaluate-empty"),
    P(lambda: _step_sgd({}, {}), ValueError, ("params", "empty"), id="step-empty-params"),
    P(lambda: label_subset([], 0.5), ValueError, ("y", "[]"), id="subset-empty"),
    P(lambda: train_test_split(X[:0], Y[:0]), ValueError, ("X", "got 0"), id="split-empty"),
    P(lambda: from_torch_state_dict({}), ValueError, ("state_dict", "{}"), id="from-torch-empty"),
    P(lambda: MLP([]), ValueError, ("layer_sizes", "[]"), id="mlp-no-sizes"),
    P(lambda: CompositeStrategy([]), ValueError, ("strategies", "none"), id="composite-empty"),
    P(lambda: EnsembleTeacher([]), ValueError, ("teachers", "empty"), id="ensemble-empty"),

    # ------------------------------------------------------------------ NaN / inf anywhere
    P(lambda: softmax([1.0, np.nan]), ValueError, ("z", "finite", "1 NaN or inf"), id="softmax-nan"),
    P(lambda: log_softmax([np.inf, 1.0]), ValueError, ("z", "finite"), id="log-softmax-inf"),
    P(lambda: cross_entropy(np.full((5, 3), np.nan), LABELS), ValueError, ("logits", "15 NaN or inf"),
      id="ce-logits-nan"),
    P(lambda: cross_entropy(Z, [0, 1, np.nan, 0, 1]), ValueError, ("labels", "NaN or inf"), id="ce-labels-nan"),
    P(lambda: cross_entropy(Z, np.full((5, 3), np.inf)), ValueError, ("labels", "NaN or inf"), id="ce-rows-inf"),
    P(lambda: kl_divergence(Z, np.full((5, 3), -np.inf)), ValueError, ("q_logits", "finite"), id="kl-q-inf"),
    P(lambda: _student().forward(NAN_X), ValueError, ("X", "finite"), id="forward-nan"),
    P(lambda: _student().predict(NAN_X), ValueError, ("X", "finite"), id="predict-nan"),
    P(lambda: _backward(np.full((5, 3), np.inf)), ValueError, ("dlogits", "15 NaN or inf"), id="backward-inf"),
    P(lambda: _student().set_params({k: v * np.nan for k, v in _student().params.items()}), ValueError,
      ("params['W1']", "NaN or inf"), id="set-params-nan"),
    P(lambda: _step_sgd({"W": np.ones(3)}, {"W": np.array([1.0, np.nan, 1.0])}), ValueError,
      ("grads['W']", "1 NaN or inf"), id="step-grads-nan"),
    P(lambda: DistillationLoss().compute_loss(np.full((5, 3), np.nan), V, LABELS), ValueError,
      ("student_logits", "15 NaN or inf"), id="kd-z-nan"),
    P(lambda: DecoupledKDLoss().compute_loss(Z, np.where(V > 0, np.inf, V), LABELS), ValueError,
      ("teacher_logits", "NaN or inf"), id="dkd-v-inf"),
    P(lambda: _train(X=NAN_X), ValueError, ("X", "NaN or inf"), id="train-X-nan"),
    P(lambda: _train(y=np.where(Y > 1, np.nan, Y)), ValueError, ("y", "NaN or inf"), id="train-y-nan"),
    P(lambda: _train(y=np.where(np.eye(3)[Y] > 0, np.inf, 0.0)), ValueError, ("y", "NaN or inf"),
      id="train-rows-inf"),
    P(lambda: _train(validation_data=(NAN_X, Y)), ValueError, ("X_val", "NaN or inf"), id="train-val-X-nan"),
    P(lambda: _train(validation_data=(X, np.full(40, np.nan))), ValueError, ("y_val", "NaN or inf"),
      id="train-val-y-nan"),
    P(lambda: _step(X_batch=NAN_X[:8]), ValueError, ("X_batch", "NaN or inf"), id="step-X-nan"),
    P(lambda: _kd().evaluate(_student(), NAN_X), ValueError, ("X", "NaN or inf"), id="evaluate-X-nan"),
    P(lambda: TeacherModelWrapper(TEACHER).get_logits(NAN_X), ValueError, ("X", "NaN or inf"), id="teacher-X-nan"),
    P(lambda: numerical_gradient(lambda x: np.nan, np.zeros(2)), ValueError, ("f", "finite", "nan"),
      id="numgrad-f-nan"),
    P(lambda: check_gradients(MLP([4, 3], seed=0), X[:2], dlogits=np.full((2, 3), np.nan)), ValueError,
      ("dlogits", "NaN or inf"), id="gradcheck-dlogits-nan"),
    P(lambda: from_torch_state_dict(_sd(**{"0.bias": np.array([np.nan, 0, 0])})), ValueError,
      ("state_dict['0.bias']", "NaN or inf"), id="from-torch-nan"),
    P(lambda: reference_distillation_loss(np.full((5, 3), np.nan), V, LABELS, 2.0, 0.5), ValueError,
      ("student_logits", "NaN or inf"), id="reference-nan"),
    P(lambda: make_blobs(cluster_std=np.nan), ValueError, ("cluster_std", "nan"), id="blobs-std-nan"),
    P(lambda: make_blobs(center_box=(-np.inf, 0.0)), ValueError, ("center_box", "-inf"), id="blobs-box-inf"),
    P(lambda: train_test_split(X[:4], np.array([0.0, 0.0, np.nan, 1.0]), 2), ValueError, ("y", "NaN"),
      id="split-y-nan"),
    # finite but beyond the float range once computed
    P(lambda: make_blobs(cluster_std=1e308), ValueError, ("cluster_std", "1e+308", "beyond the range"),
      id="blobs-std-overflow"),
    P(lambda: make_blobs(center_box=(-1e308, 1e308)), ValueError, ("center_box", "1e+308"), id="blobs-box-overflow"),
    P(lambda: MLP([4, 3], dtype=np.float32).forward(np.full((2, 4), 1e300)), ValueError, ("X", "float32"),
      id="forward-cast-overflow"),
    P(lambda: DistillationLoss(temperature=1e-3).compute_loss(np.float32([[3e38, -3e38, 0.0]]),
                                                              np.float32([[0.0, 0.0, 0.0]])),
      ValueError, ("DistillationLoss", "temperature"), id="kd-float32-overflow"),
    P(lambda: reference_distillation_loss(Z, V, LABELS, 2.0, (1e308, 1e308), "pytorch_tutorial"), ValueError,
      ("alpha", "1e+308", "beyond the float range"), id="reference-weights-overflow"),
    P(lambda: reference_distillation_loss(Z, V, None, 1e-200, 0.0, "torchdistill"), ValueError,
      ("temperature=1e-200", "beyond the float range"), id="reference-tiny-temperature"),
    P(lambda: convert_hyperparameters(0.0, "minikd", "torchdistill", 1e-200), ValueError,
      ("temperature 1e-200", "beyond the float range"), id="convert-tiny-temperature"),
    P(lambda: convert_hyperparameters(0.0, "keras_no_t2", "pytorch_tutorial", 1e-182), ValueError,
      ("temperature 1e-182", "soft inf", "beyond the float range"), id="convert-weights-overflow"),
    P(lambda: numerical_gradient(lambda x: float(x.sum()), np.full(2, 1.7e308), eps=1e308), ValueError,
      ("x[0]", "1.7e+308", "eps"), id="numgrad-x-overflow"),

    # ------------------------------------------------------------------ labels
    P(lambda: cross_entropy(Z, [0, 1, 3, 0, 1]), ValueError, ("labels", "[0, 2]", "got 3"), id="ce-label-3"),
    P(lambda: cross_entropy(Z, [0, -1, 2, 0, 1]), ValueError, ("labels", "got -1"), id="ce-label-negative"),
    P(lambda: cross_entropy(Z, [0, 1.5, 2, 0, 1]), ValueError, ("labels", "whole numbers", "1.5"),
      id="ce-label-non-integer"),
    P(lambda: cross_entropy(Z, [0, 1, 2]), ValueError, ("labels", "one label per sample (5)", "got 3"),
      id="ce-labels-short"),
    P(lambda: cross_entropy(Z[0], 3), ValueError, ("labels", "got 3"), id="ce-single-label-3"),
    P(lambda: cross_entropy(Z[0], 0.5), ValueError, ("labels", "0.5"), id="ce-single-label-half"),
    P(lambda: cross_entropy(Z, np.array([0, 1, 2, 0, 2**64 - 1], dtype=np.uint64)), ValueError,
      ("labels", "18446744073709551615"), id="ce-label-huge-uint"),
    P(lambda: one_hot([0, 2], 2), ValueError, ("labels", "got 2"), id="one-hot-out-of-range"),
    P(lambda: DistillationLoss().compute_loss(Z, V, LABELS + 3), ValueError, ("labels", "got 5"),
      id="kd-label-out-of-range"),
    P(lambda: DecoupledKDLoss().compute_loss(Z, V, -LABELS - 1), ValueError, ("labels", "got -3"),
      id="dkd-label-negative"),
    P(lambda: LogitMatchingLoss(alpha=0.5).compute_loss(Z, V, LABELS[:4]), ValueError, ("labels", "got 4"),
      id="lm-labels-short"),
    P(lambda: CrossEntropyLoss().compute_loss(Z, None, LABELS + 0.25), ValueError, ("labels", "0.25"),
      id="ce-loss-label-float"),
    P(lambda: _train(y=Y + 3), ValueError, ("y", "[0, 2]", "got 5"), id="train-y-out-of-range"),
    P(lambda: _train(y=-Y), ValueError, ("y", "got -2"), id="train-y-negative"),
    P(lambda: _train(y=Y + 0.5), ValueError, ("y", "whole numbers", ".5"), id="train-y-non-integer"),
    P(lambda: _train(y=Y[:-1]), ValueError, ("y", "(40)", "got 39"), id="train-y-short"),
    P(lambda: _train(validation_data=(X, Y + 3)), ValueError, ("y_val", "got 5"), id="train-val-y-out-of-range"),
    P(lambda: _step(y_batch=Y[:7]), ValueError, ("y_batch", "(8)", "got 7"), id="step-y-short"),
    P(lambda: _kd().evaluate(_student(), X, -Y), ValueError, ("y", "got -2"), id="evaluate-y-negative"),
    P(lambda: SupervisedTrainer().train(_student(), X, None, epochs=1, batch_size=8, verbose=0), ValueError,
      ("y", "required", "None"), id="supervised-no-labels"),
    P(lambda: _kd(strategy=DecoupledKDLoss()).train(_student(), X, None, epochs=1, batch_size=8, verbose=0),
      ValueError, ("labels", "required", "None"), id="dkd-train-no-labels"),
    P(lambda: label_subset([0, 1], 0.5, seed=-1), ValueError, ("seed", "-1"), id="subset-seed-negative"),
    P(lambda: train_test_split(X[:4], np.array([0, 0, 0, 1]), 2), ValueError, ("class 1", "got 1"),
      id="split-rare-class"),

    # ------------------------------------------------------------------ probability rows
    P(lambda: cross_entropy(Z, np.full((5, 3), 0.5)), ValueError, ("labels", "sum to 1", "1.5"), id="ce-rows-sum"),
    P(lambda: cross_entropy(Z, np.eye(3)[LABELS] * -1 + np.eye(3)[(LABELS + 1) % 3] * 2), ValueError,
      ("labels", "non-negative", "-1"), id="ce-rows-negative"),
    P(lambda: cross_entropy(Z, np.eye(3)[LABELS] * 2), ValueError, ("labels", "[0, 1]", "2.0"), id="ce-rows-above-1"),
    P(lambda: cross_entropy(Z[0], np.array([0.2, 0.2, 0.2])), ValueError, ("labels", "sum to 1", "0.6"),
      id="ce-single-row-sum"),
    P(lambda: DistillationLoss().compute_loss(Z, V, np.full((5, 3), 0.2)), ValueError, ("labels", "sum to 1"),
      id="kd-rows-sum"),
    P(lambda: _train(y=np.eye(3)[Y] * 0.5), ValueError, ("y", "sum to 1", "0.5"), id="train-rows-sum"),
    P(lambda: _train(validation_data=(X, np.eye(3)[Y] * 0.9)), ValueError, ("y_val", "sum to 1", "0.9"),
      id="train-val-rows-sum"),
    P(lambda: _train(y=np.eye(4)[Y]), ValueError, ("y", "3 columns", "(40, 4)"), id="train-rows-wrong-C"),
    P(lambda: _train(y=Y[:, None]), ValueError, ("y", "3 columns", "(40, 1)"), id="train-y-column"),

    # ------------------------------------------------------------------ class-count mismatches
    P(lambda: _train(student=MLP([4, 6, 4], seed=1)), ValueError, ("output dimension (3)", "= 4"),
      id="train-teacher-3-student-4"),
    P(lambda: _train(trainer=_kd(teacher=_callable_teacher(lambda Xb: np.zeros((len(Xb), 2))))), ValueError,
      ("output dimension (2)", "= 3"), id="train-callable-teacher-2-classes"),
    P(lambda: DistillationLoss().compute_loss(Z, V[:, :2]), ValueError, ("teacher_logits", "(5, 2)", "(5, 3)"),
      id="kd-class-mismatch"),
    P(lambda: kl_divergence(Z, V[:, :2]), ValueError, ("p_logits", "(5, 3)", "(5, 2)"), id="kl-class-mismatch"),
    P(lambda: cross_entropy(Z, np.eye(4)[LABELS]), ValueError, ("labels", "3 columns", "(5, 4)"),
      id="ce-rows-wrong-C"),
    P(lambda: TeacherModelWrapper(TEACHER, output_dimension=4), ValueError, ("output_dimension", "3", "4"),
      id="teacher-dim-mismatch"),
    P(lambda: DecoupledKDLoss().compute_loss(Z[:, :1], V[:, :1], np.zeros(5, int)), ValueError,
      ("at least 2 classes", "(5, 1)"), id="dkd-one-class"),
    P(lambda: EnsembleTeacher([TEACHER, MLP([4, 8, 4], seed=0)]), ValueError, ("output_dimension = 3",
                                                                              "output_dimension = 4"),
      id="ensemble-class-mismatch"),
    P(lambda: EnsembleTeacher([TEACHER, _callable_teacher(lambda Xb: np.zeros((len(Xb), 4)))]).get_logits(X),
      ValueError, ("teachers[1]", "(40, 4)", "(40, 3)"), id="ensemble-callable-class-mismatch"),
    P(lambda: _train(trainer=_kd(teacher=EnsembleTeacher([TEACHER, TEACHER])), student=MLP([4, 6, 4], seed=1)),
      ValueError, ("output dimension (3)", "= 4"), id="train-ensemble-3-student-4"),

    # ------------------------------------------------------------------ feature-count mismatches
    P(lambda: _student().forward(np.zeros((2, 5))), ValueError, ("X", "4 features", "got 5"), id="forward-D"),
    P(lambda: _train(X=X[:, :3]), ValueError, ("X", "4 features", "got 3"), id="train-D"),
    P(lambda: _train(validation_data=(X[:, :3], Y)), ValueError, ("X_val", "4 features", "got 3"),
      id="train-val-D"),
    P(lambda: _step(X_batch=X[:8, :3]), ValueError, ("X_batch", "got 3"), id="step-D"),
    P(lambda: _kd().evaluate(_student(), X[:, :2]), ValueError, ("X", "got 2"), id="evaluate-D"),
    P(lambda: TeacherModelWrapper(TEACHER).get_logits(np.zeros((2, 5))), ValueError, ("X", "4 features", "got 5"),
      id="teacher-D"),
    P(lambda: _train(trainer=_kd(teacher=MLP([5, 8, 3], seed=0))), ValueError, ("5 features", "got 4"),
      id="train-teacher-expects-5-features"),
    P(lambda: check_gradients(MLP([4, 3], seed=0), np.zeros((2, 5))), ValueError, ("X", "got 5"), id="gradcheck-D"),
    P(lambda: from_torch_state_dict(_sd(**{"2.weight": np.zeros((2, 4))})), ValueError,
      ("'2.weight'", "(2, 4)", "outputs 3"), id="from-torch-layers-do-not-chain"),
    P(lambda: from_torch_state_dict(_sd(**{"0.weight": np.zeros((4, 3))})), ValueError, ("transposed",),
      id="from-torch-transposed"),

    # ------------------------------------------------------------------ temperature
    *[P(fn, ValueError, ("temperature", shown), id=f"{name}-T-{shown}")
      for shown, t in (("0", 0), ("-1.0", -1.0), ("nan", float("nan")), ("inf", float("inf")))
      for name, fn in (
          ("softmax", lambda t=t: softmax(Z, t)),
          ("log-softmax", lambda t=t: log_softmax(Z, t)),
          ("kl", lambda t=t: kl_divergence(Z, V, t)),
          ("kd", lambda t=t: DistillationLoss(temperature=t)),
          ("dkd", lambda t=t: DecoupledKDLoss(temperature=t)),
          ("predict-proba", lambda t=t: _student().predict_proba(X, t)),
          ("reference", lambda t=t: reference_distillation_loss(Z, V, LABELS, t, 0.5)),
          ("convert", lambda t=t: convert_hyperparameters(0.5, "minikd", "keras", t)),
      )],
    P(lambda: setattr(DistillationLoss(), "temperature", -2), ValueError, ("temperature", "-2"),
      id="kd-temperature-setter"),
    P(lambda: DistillationLoss(temperature=True), TypeError, ("temperature", "True"), id="kd-temperature-bool"),

    # ------------------------------------------------------------------ alpha
    *[P(fn, ValueError, ("alpha", shown), id=f"{name}-alpha-{shown}")
      for shown, a in (("-0.1", -0.1), ("1.5", 1.5), ("nan", float("nan")), ("inf", float("inf")))
      for name, fn in (
          ("kd", lambda a=a: DistillationLoss(alpha=a)),
          ("lm", lambda a=a: LogitMatchingLoss(alpha=a)),
          ("reference", lambda a=a: reference_distillation_loss(Z, V, LABELS, 2.0, a)),
      )],
    P(lambda: setattr(DistillationLoss(), "alpha", 2), ValueError, ("alpha", "2"), id="kd-alpha-setter"),
    P(lambda: DecoupledKDLoss(alpha=-1), ValueError, ("alpha", "-1"), id="dkd-alpha-negative"),
    P(lambda: DecoupledKDLoss(beta=np.inf), ValueError, ("beta", "inf"), id="dkd-beta-inf"),
    P(lambda: convert_hyperparameters(-0.5, "minikd", "keras", 2.0), ValueError, ("alpha_or_weights", "-0.5"),
      id="convert-alpha-negative"),
    P(lambda: CompositeStrategy([(-1.0, DistillationLoss())]), ValueError, ("weight", "-1.0"),
      id="composite-weight-negative"),

    # ------------------------------------------------------------------ batch_size, epochs and friends
    P(lambda: _train(batch_size=0), ValueError, ("batch_size", ">= 1", "got 0"), id="batch-0"),
    P(lambda: _train(batch_size=-3), ValueError, ("batch_size", "got -3"), id="batch-negative"),
    P(lambda: _train(batch_size=41), ValueError, ("batch_size", "(40)", "got 41"), id="batch-above-N"),
    P(lambda: _train(epochs=0), ValueError, ("epochs", ">= 1", "got 0"), id="epochs-0"),
    P(lambda: _train(epochs=-1), ValueError, ("epochs", "got -1"), id="epochs-negative"),
    P(lambda: _train(verbose=3), ValueError, ("verbose", "got 3"), id="verbose-3"),
    P(lambda: _kd(early_stopping_patience=0), ValueError, ("early_stopping_patience", "got 0"), id="patience-0"),
    P(lambda: _kd(early_stopping_min_delta=-1.0), ValueError, ("early_stopping_min_delta", "-1.0"),
      id="min-delta-negative"),
    P(lambda: KnowledgeDistillationTrainer(TEACHER, DistillationLoss(), seed=-1), ValueError, ("seed", "-1"),
      id="trainer-seed-negative"),
    P(lambda: SupervisedTrainer(seed=1.5), TypeError, ("seed", "1.5"), id="supervised-seed-float"),
    P(lambda: SelfDistillationTrainer(DistillationLoss(), generations=0), ValueError, ("generations", "got 0"),
      id="self-generations-0"),
    P(lambda: MutualLearningTrainer(DistillationLoss(), update="async"), ValueError, ("update", "'async'"),
      id="mutual-update-unknown"),
    P(lambda: SupervisedTrainer(early_stopping_monitor="accuracy"), ValueError,
      ("early_stopping_monitor", "val_accuracy", "'accuracy'"), id="monitor-unknown"),
    P(lambda: SelfDistillationTrainer(DistillationLoss(), early_stopping_monitor="acc"), ValueError,
      ("early_stopping_monitor", "'acc'"), id="self-monitor-unknown"),
    P(lambda: MutualLearningTrainer(DistillationLoss(), early_stopping_monitor="val_accuracy").train(
        [_student(), _student(seed=2)], X, Y, verbose=0), ValueError,
      ("early_stopping_monitor='val_accuracy'", "validation_data"), id="mutual-monitor-without-validation"),
    P(lambda: MutualLearningTrainer(CrossEntropyLoss()), ValueError, ("distillation_strategy", "CrossEntropyLoss",
                                                                      "ignores"), id="mutual-strategy-no-teacher"),
    P(lambda: MutualLearningTrainer(HintLoss()), ValueError, ("distillation_strategy", "HintLoss", "hidden layers"),
      id="mutual-strategy-hidden-layers"),
    P(lambda: MutualLearningTrainer(DistillationLoss()).train([_student()], X, Y, verbose=0), ValueError,
      ("students", "at least 2", "got 1"), id="mutual-one-student"),
    P(lambda: MutualLearningTrainer(DistillationLoss()).train([MLP([4, 8, 3]), MLP([4, 8, 5])], X, Y, verbose=0),
      ValueError, ("students[1]", "classes", "(3)", "got 5"), id="mutual-classes-differ"),
    P(lambda: MutualLearningTrainer(DistillationLoss()).train([MLP([4, 8, 3]), MLP([4, 8, 3], dtype=np.float32)], X,
                                                              Y, verbose=0),
      ValueError, ("students[1]", "dtype", "float64", "got float32"), id="mutual-dtype-differ"),
    P(lambda: (lambda m: MutualLearningTrainer(DistillationLoss()).train([m, m], X, Y, verbose=0))(_student()),
      ValueError, ("students[1] and students[0]", "independent", "same object"), id="mutual-same-student-twice"),
    P(lambda: (lambda o: MutualLearningTrainer(DistillationLoss()).train([_student(), _student()], X, Y, verbose=0,
                                                                         optimizer=[o, o]))(SGD(0.1)),
      ValueError, ("optimizer[1]", "same object"), id="mutual-same-optimizer-twice"),
    P(lambda: MutualLearningTrainer(DistillationLoss()).train([_student(), _student()], X, Y, verbose=0,
                                                              optimizer=[SGD(0.1)]),
      ValueError, ("optimizer", "one optimizer per student (2)", "got 1"), id="mutual-optimizer-list-short"),
    P(lambda: MutualLearningTrainer(DistillationLoss()).train([_student(), _student()], X, Y + 3, verbose=0),
      ValueError, ("y", "got 5"), id="mutual-labels-out-of-range"),
    P(lambda: MutualLearningTrainer(DistillationLoss(), checkpoint_config=DistillationCheckpointConfig(
        "unused_dir", save_teacher=True, best_metric="loss")).train([_student(), _student(seed=2)], X, Y, verbose=0),
      ValueError, ("save_teacher=True", "MutualLearningTrainer has none"), id="mutual-save-teacher"),
    P(lambda: MutualLearningTrainer(DistillationLoss()).evaluate(_student(), X, Y), ValueError,
      ("peers", "cohort", "None"), id="mutual-evaluate-without-peers"),
    P(lambda: SelfDistillationTrainer(DistillationLoss(), seed=-1), ValueError, ("seed", "-1"),
      id="self-seed-negative"),
    P(lambda: SelfDistillationTrainer(CrossEntropyLoss()), ValueError, ("uses_teacher", "CrossEntropyLoss()"),
      id="self-strategy-without-teacher"),
    P(lambda: SelfDistillationTrainer(DistillationLoss()).train(_student(), X, None, verbose=0), ValueError,
      ("y", "None"), id="self-no-labels"),
    P(lambda: SelfDistillationTrainer(DistillationLoss()).train(_student(), X, Y + 3, epochs=1, batch_size=8,
                                                                verbose=0),
      ValueError, ("y", "got 5"), id="self-labels-out-of-range"),
    P(lambda: EnsembleTeacher([TEACHER, TEACHER], weights=[1.0]), ValueError, ("weights", "(2)", "got 1"),
      id="ensemble-weights-short"),
    P(lambda: EnsembleTeacher([TEACHER, TEACHER], weights=[1.0, -1.0]), ValueError, ("weights[1]", "-1.0"),
      id="ensemble-weights-negative"),
    P(lambda: EnsembleTeacher([TEACHER, TEACHER], weights=[1.0, np.nan]), ValueError, ("weights[1]", "nan"),
      id="ensemble-weights-nan"),
    P(lambda: EnsembleTeacher([TEACHER, TEACHER], weights=[0, 0]), ValueError, ("weights", "[0.0, 0.0]"),
      id="ensemble-weights-zero"),
    P(lambda: EnsembleTeacher([TEACHER, TEACHER], mode="harmonic"), ValueError, ("mode", "'harmonic'"),
      id="ensemble-mode"),
    P(lambda: SGD(0.0), ValueError, ("learning_rate", "got 0.0"), id="sgd-lr-0"),
    P(lambda: SGD(-0.1), ValueError, ("learning_rate", "-0.1"), id="sgd-lr-negative"),
    P(lambda: Adam(np.nan), ValueError, ("learning_rate", "nan"), id="adam-lr-nan"),
    P(lambda: SGD(0.1, momentum=1.0), ValueError, ("momentum", "[0, 1)", "1.0"), id="sgd-momentum-1"),
    P(lambda: SGD(0.1, nesterov=True), ValueError, ("nesterov", "momentum=0.0"), id="sgd-nesterov-no-momentum"),
    P(lambda: Adam(eps=0.0), ValueError, ("eps", "0.0"), id="adam-eps-0"),
    P(lambda: MLP([4, 0]), ValueError, ("layer_sizes[1]", "got 0"), id="mlp-size-0"),
    P(lambda: MLP([4]), ValueError, ("layer_sizes", "[4]"), id="mlp-one-size"),
    P(lambda: MLP([4, 3], seed=-1), ValueError, ("seed", "-1"), id="mlp-seed-negative"),
    P(lambda: DistillationCheckpointConfig(save_every_epochs=0), ValueError, ("save_every_epochs", "got 0"),
      id="ckpt-every-0"),
    P(lambda: DistillationCheckpointConfig(keep_best_n=-1), ValueError, ("keep_best_n", "-1"), id="ckpt-keep-neg"),
    P(lambda: DistillationCheckpointConfig(prefix="../x"), ValueError, ("prefix", "'../x'"), id="ckpt-prefix-path"),
    P(lambda: train_test_split(X, Y, test_size=0), ValueError, ("test_size", "got 0"), id="split-size-0"),
    P(lambda: train_test_split(X, Y, test_size=1.0), ValueError, ("test_size", "1.0"), id="split-size-1"),
    P(lambda: train_test_split(X, Y, test_size=40), ValueError, ("test_size", "got 40"), id="split-size-N"),
    P(lambda: label_subset(Y, 0.0), ValueError, ("fraction", "got 0.0"), id="subset-fraction-0"),
    P(lambda: make_blobs(n_samples=2, n_classes=3), ValueError, ("n_samples", "got 2"), id="blobs-too-few"),
    P(lambda: make_blobs(center_box=(5, -5)), ValueError, ("center_box", "(5, -5)"), id="blobs-box-reversed"),
    P(lambda: numerical_gradient(lambda: 0.0, np.zeros(2), eps=0.0), ValueError, ("eps", "0.0"), id="numgrad-eps-0"),
    P(lambda: check_gradients(MLP([4, 3], seed=0), X[:2], seed=-1), ValueError, ("seed", "-1"),
      id="gradcheck-seed-negative"),
    P(lambda: numerical_gradient(lambda x: 0.0, np.broadcast_to(np.zeros(1), (2,))), ValueError,
      ("x", "writeable"), id="numgrad-read-only"),
    P(lambda: _step_sgd({"W": np.broadcast_to(np.ones(1), (3,))}, {"W": np.ones(3)}), ValueError,
      ("params['W']", "writeable"), id="step-read-only-params"),
    P(lambda: _step_sgd({"W": np.ones(3)}, {"W": np.ones(4)}), ValueError, ("grads['W']", "(3,)", "(4,)"),
      id="step-grads-shape"),
    P(lambda: _step_sgd({"W": np.ones(3)}, {"V": np.ones(3)}), ValueError, ("missing from grads: ['W']", "'V'"),
      id="step-grads-keys"),
    P(lambda: _step(indices=np.arange(1, 8)), ValueError, ("indices", "8", "(7,)"), id="step-indices-short"),
    P(lambda: _step(indices=-np.arange(1, 9)), ValueError, ("indices", "got -8"), id="step-indices-negative"),
    P(lambda: _train(resume_from="latest"), ValueError, ("resume_from", "checkpoint_config=None"),
      id="resume-latest-without-config"),

    # ------------------------------------------------------------------ unknown names
    P(lambda: MLP([4, 3], activation="gelu"), ValueError, ("activation", "'gelu'", "'relu'"), id="mlp-activation"),
    P(lambda: MLP([4, 3], activation=None), TypeError, ("activation", "None"), id="mlp-activation-none"),
    P(lambda: MLP.from_config({"layer_sizes": [4, 3], "activation": "swish", "dtype": "float64"}), ValueError,
      ("activation", "'swish'"), id="from-config-activation"),
    P(lambda: from_torch_state_dict(_sd(), activation="swish"), ValueError, ("activation", "'swish'"),
      id="from-torch-activation"),
    P(lambda: DistillationCheckpointConfig(best_metric="accuracy"), ValueError, ("best_metric", "'accuracy'",
                                                                                  "'val_accuracy'"),
      id="ckpt-metric-unknown"),
    P(lambda: cross_entropy(Z, LABELS, reduction="avg"), ValueError, ("reduction", "'avg'", "'mean'"),
      id="ce-reduction"),
    P(lambda: kl_divergence(Z, V, reduction="batchmean"), ValueError, ("reduction", "'batchmean'"),
      id="kl-reduction"),
    P(lambda: strategy_from_config({"name": "FancyKD"}), ValueError, ("config['name']", "'FancyKD'"),
      id="strategy-name"),
    P(lambda: strategy_from_config({"name": "DistillationLoss", "temp": 2}), ValueError, ("'temp'",),
      id="strategy-unknown-key"),
    P(lambda: reference_distillation_loss(Z, V, LABELS, 2.0, 0.5, "pytorch"), ValueError,
      ("convention", "'pytorch'", "'pytorch_tutorial'"), id="reference-convention"),
    P(lambda: convert_hyperparameters(0.5, "minikd", "tf", 2.0), ValueError, ("to_convention", "'tf'"),
      id="convert-convention"),
    P(lambda: from_torch_state_dict({**_sd(), "0.running_mean": np.zeros(3)}), ValueError, ("'0.running_mean'",),
      id="from-torch-unknown-key"),

    # ------------------------------------------------------------------ teacher callables that misbehave
    *[P(lambda out=out: TeacherModelWrapper(_callable_teacher(out)).get_logits(X[:4]), exc, needles, id=f"teacher-{i}")
      for i, (out, exc, needles) in {
          "nan": (lambda Xb: np.full((len(Xb), 3), np.nan), ValueError, ("teacher", "NaN or inf")),
          "rows+1": (lambda Xb: np.zeros((len(Xb) + 1, 3)), ValueError, ("teacher", "(4, C)", "(5, 3)")),
          "1d": (lambda Xb: np.zeros(len(Xb)), ValueError, ("teacher", "(4, C)", "(4,)")),
          "3d": (lambda Xb: np.zeros((len(Xb), 3, 1)), ValueError, ("teacher", "(4, 3, 1)")),
          "no-classes": (lambda Xb: np.zeros((len(Xb), 0)), ValueError, ("teacher", "(4, 0)")),
          "none": (lambda Xb: None, TypeError, ("teacher", "None")),
          "str": (lambda Xb: "logits", TypeError, ("teacher", "'logits'")),
          "bool": (lambda Xb: np.zeros((len(Xb), 3), bool), TypeError, ("teacher", "bool")),
      }.items()],
    P(lambda: EnsembleTeacher([TEACHER, _callable_teacher(lambda Xb: np.full((len(Xb), 3), np.nan))]).get_logits(X),
      ValueError, ("teacher", "NaN or inf"), id="ensemble-member-nan"),
    P(lambda: EnsembleTeacher([TEACHER]).get_logits(NAN_X), ValueError, ("X", "NaN or inf"), id="ensemble-X-nan"),
    P(lambda: _train(trainer=_kd(teacher=_callable_teacher(lambda Xb: np.full((len(Xb), 3), np.inf)))),
      ValueError, ("teacher", "NaN or inf"), id="train-callable-teacher-inf"),
    P(lambda: _train(trainer=_kd(teacher=_callable_teacher(lambda Xb: np.zeros((len(Xb) + 1, 3))))),
      ValueError, ("teacher", "(40, C)", "(41, 3)"), id="train-callable-teacher-extra-row"),
    P(lambda: _train(trainer=_kd(teacher=_callable_teacher(lambda Xb: np.full((len(Xb), 3), np.nan)),
                                 cache_teacher_logits=False)),
      ValueError, ("teacher", "NaN or inf"), id="train-callable-teacher-nan-no-cache"),

    # ---------------------------------------------- the newcomer cases (details: tests/test_newcomer_errors.py)
    # 1. an optimizer reused on another student
    P(lambda: _used_sgd().check_params(MLP([4, 7, 3], seed=1).params), ValueError,
      ("params['W1']", "(4, 7)", "(4, 6)", "built for another model", "optimizer.reset()"), id="optimizer-other-shape"),
    P(lambda: _used_sgd().check_params(_student(dtype=np.float32).params), ValueError,
      ("params['W1']", "float32", "float64", "optimizer.reset()"), id="optimizer-other-dtype"),
    P(lambda: _train(student=MLP([4, 7, 3], seed=1), optimizer=_used_sgd()), ValueError,
      ("params['W1']", "(4, 7)", "(4, 6)", "optimizer.reset()"), id="train-optimizer-other-shape"),
    # 2. class counts before labels
    P(lambda: _train(trainer=_kd(teacher=MLP([4, 8, 10], seed=0)), student=MLP([4, 6, 5], seed=1),
                     y=np.arange(40) % 10), ValueError, ("output dimension (10)", "layer_sizes[-1] = 5"),
      id="train-teacher-10-student-5-digit-labels"),
    # 3. the teacher is named teacher (trainer-teacher-none above), a member by its index
    P(lambda: EnsembleTeacher([TEACHER, None]), TypeError, ("teachers[1] must be", "None"), id="ensemble-member-none"),
    P(lambda: _kd(teacher=MLP), TypeError, ("teacher", "MLP", "did you forget the ()?"), id="trainer-teacher-class"),
    # 4. masked arrays and np.matrix
    P(lambda: softmax(np.ma.masked_invalid([1.0, np.nan])), TypeError, ("z", "masked array", ".filled("),
      id="softmax-masked"),
    P(lambda: _train(X=np.ma.masked_invalid(NAN_X)), TypeError, ("X", "masked array", ".data"), id="train-X-masked"),
    P(lambda: _train(y=np.ma.masked_equal(Y, 2)), TypeError, ("y", "masked array"), id="train-y-masked"),
    P(lambda: cross_entropy(Z, np.ma.masked_equal(LABELS, 2)), TypeError, ("labels", "masked array"),
      id="ce-labels-masked"),
    P(lambda: _train(y=_matrix(Y)), ValueError, ("y", "(1, 40)", "np.asarray(y).ravel()"), id="train-y-matrix"),
    # 5. a teacher that writes into its input
    P(lambda: TeacherModelWrapper(_writes_into_X).get_logits(X.copy()), ValueError,
      ("teacher", "_writes_into_X", "read-only", "X.copy()"), id="teacher-writes-X"),
    P(lambda: _train(X=X.copy(), trainer=_kd(teacher=_writes_into_X)), ValueError, ("teacher", "read-only"),
      id="train-teacher-writes-X"),
    # 6. teacher logits beyond the student's dtype
    P(lambda: TeacherModelWrapper(_HUGE_TEACHER).get_logits(X, dtype=np.float32), ValueError,
      ("teacher", "float32", "1e+39"), id="teacher-logits-beyond-float32"),
    P(lambda: _train(student=_student(dtype=np.float32), trainer=_kd(teacher=_HUGE_TEACHER)), ValueError,
      ("teacher", "float32", "1e+39"), id="train-teacher-logits-beyond-float32"),
]


def _check_error(call, exc, needles):
    """``call()`` raises ``exc`` whose message holds every needle; the first (the parameter's name)
    as a whole word, and before any phrase of an internal NumPy/Python error."""
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    message = str(info.value)
    assert isinstance(info.value, exc), f"expected {exc.__name__}, got {type(info.value).__name__}: {message}"
    for needle in needles:
        assert needle in message, f"{needle!r} not in the message: {message}"
    if re.fullmatch(r"\w+", needles[0]):
        assert re.search(rf"(?<!\w){needles[0]}(?!\w)", message), f"{needles[0]!r} is not named in: {message}"
    for phrase in _INTERNAL:  # allowed only as detail after minikd's own words, never as the message
        position = message.find(phrase)
        assert position < 0 or position > message.find(needles[0]), f"an internal error leaked out: {message}"


@pytest.mark.parametrize(("call", "exc", "needles"), CASES)
def test_bad_input_is_a_clear_value_or_type_error(call, exc, needles):
    _check_error(call, exc, needles)


def test_missing_checkpoint_is_a_checkpoint_error(tmp_path):
    from minikd.checkpoint import CheckpointError

    config = DistillationCheckpointConfig(tmp_path, best_metric="loss")
    with pytest.raises(CheckpointError, match=r"nonexistent.*does not exist"):
        _train(trainer=_kd(checkpoint_config=config), resume_from=tmp_path / "nonexistent.pkl")


# Public names that take no user input of their own: exceptions, records, protocols, abstract bases
# (exercised through their subclasses).
_NO_INPUT = {"TrainingDivergedError", "CheckpointError", "History", "StepRecord", "Checkpoint", "TeacherModel",
             "KnowledgeDistillationTrainerBase", "DistillationStrategy", "Optimizer", "SelfDistillationResult"}


def test_cases_cover_every_public_callable():
    """Each public function and class re-exported by minikd appears in this file; a new one needs cases."""
    import inspect
    import sys

    import minikd

    source = inspect.getsource(sys.modules[__name__])
    missing = [name for name in minikd.__all__
               if callable(getattr(minikd, name)) and name not in _NO_INPUT and f"{name}(" not in source]
    assert missing == [], f"public callables without a bad-input case here: {missing}"


def test_inputs_are_not_modified_by_a_rejected_call():
    z = Z.copy()
    labels = np.array([0, 1, 5, 0, 1])
    with pytest.raises(ValueError):
        DistillationLoss().loss_and_gradient(z, V, labels)
    np.testing.assert_array_equal(z, Z, err_msg="student logits untouched")
    student = _student()
    before = student.get_params()
    with pytest.raises(ValueError):
        _train(student=student, y=Y + 3)
    for k in before:
        np.testing.assert_array_equal(student.params[k], before[k], err_msg=f"rejected before training: {k}")


# ============================================================================ regressions
# Bugs this suite found (fixed in commit 1ebec67); each test names what used to happen.

class _ProtocolTeacher:
    """A hand-written TeacherModel (get_logits + output_dimension), not wrapped by minikd."""

    def __init__(self, output, output_dimension=3):
        self.output = output
        self.output_dimension = output_dimension

    def get_logits(self, X_batch):
        return self.output(X_batch)


# A hand-written TeacherModel used to be passed through as_teacher unchecked: its NaN logits came
# out as a TrainingDivergedError blaming the learning rate, a wrong class count as a NumPy
# broadcasting error, an extra row was silently cached and trained on, None failed in np.concatenate.
@pytest.mark.parametrize("cache", [True, False])
def test_protocol_teacher_returning_nan(cache):
    teacher = _ProtocolTeacher(lambda Xb: np.full((len(Xb), 3), np.nan))
    _check_error(lambda: _train(trainer=_kd(teacher=teacher, cache_teacher_logits=cache)), ValueError,
                 ("teacher", "NaN or inf"))


def test_protocol_teacher_returning_the_wrong_class_count():
    teacher = _ProtocolTeacher(lambda Xb: np.zeros((len(Xb), 2)))
    _check_error(lambda: _train(trainer=_kd(teacher=teacher)), ValueError, ("teacher", "3", "2"))


def test_protocol_teacher_returning_an_extra_row():
    teacher = _ProtocolTeacher(lambda Xb: np.zeros((len(Xb) + 1, 3)))
    _check_error(lambda: _train(trainer=_kd(teacher=teacher)), ValueError, ("teacher", "(40, C)", "(41, 3)"))


def test_protocol_teacher_returning_none():
    teacher = _ProtocolTeacher(lambda Xb: None)
    _check_error(lambda: _train(trainer=_kd(teacher=teacher)), TypeError, ("teacher", "None"))


def test_protocol_teacher_with_a_non_integer_output_dimension():
    teacher = _ProtocolTeacher(lambda Xb: np.zeros((len(Xb), 3)), output_dimension="3")
    _check_error(lambda: _kd(teacher=teacher), TypeError, ("output_dimension", "'3'"))


@pytest.mark.parametrize("entry", ["evaluate", "train_step"])
def test_class_count_mismatch_outside_train(entry):
    """Used to be a NumPy broadcasting error: only train compared the teacher's C with the student's."""
    student = MLP([4, 6, 4], seed=1)
    call = ((lambda: _kd().evaluate(student, X, None)) if entry == "evaluate"
            else (lambda: _step(y_batch=None, student=student)))
    _check_error(call, ValueError, ("3", "4", "classes"))


def test_callable_teacher_class_mismatch_without_the_logit_cache():
    """A callable teacher learns its C on its first call; without the cache that was inside train_step."""
    teacher = _callable_teacher(lambda Xb: np.zeros((len(Xb), 2)))
    _check_error(lambda: _train(trainer=_kd(teacher=teacher, cache_teacher_logits=False)), ValueError,
                 ("output dimension (2)", "= 3"))


def test_train_step_indices_beyond_the_cached_training_set():
    """Used to be an IndexError from the teacher-logit cache."""
    trainer = _kd()
    student = _student()
    trainer.train(student, X, Y, epochs=1, batch_size=8, verbose=0)  # fills the cache for 40 samples
    _check_error(lambda: trainer.train_step(student, X[:5], Y[:5], np.arange(38, 43), SGD(0.1)), ValueError,
                 ("indices", "42"))


def test_strategy_class_instead_of_instance():
    """The class (no ``()``) used to be accepted and to fail mid-train with 'missing 1 required argument'."""
    _check_error(lambda: _train(trainer=KnowledgeDistillationTrainer(TEACHER, DistillationLoss)), TypeError,
                 ("distillation_strategy", "DistillationLoss"))


def test_optimizer_class_instead_of_instance():
    """The class (no ``()``) used to be accepted and to fail mid-train with 'missing 1 required argument'."""
    _check_error(lambda: _train(optimizer=SGD), TypeError, ("optimizer", "SGD"))


@pytest.mark.parametrize("flag", ["use_early_stopping", "cache_teacher_logits", "restore_best_weights"])
def test_string_flags_are_not_silently_true(flag):
    """``bool("no")`` is True: the flags used to be coerced with bool()."""
    _check_error(lambda: _kd(**{flag: "no"}), TypeError, (flag, "'no'"))


@pytest.mark.parametrize("method", ["forward", "predict", "predict_proba"])
def test_forward_of_finite_but_huge_inputs(method):
    """Finite X whose logits overflow used to give inf/NaN logits with a RuntimeWarning."""
    _check_error(lambda: getattr(_student(), method)(np.full((2, 4), 1e308)), ValueError, ("X", "overflow"))


def test_backward_with_the_cache_of_another_model():
    """A cache of a model of the same depth used to give gradients shaped like the other model's params."""
    other = MLP([4, 9, 3], seed=2)
    _check_error(lambda: _backward(np.zeros((5, 3)), cache_from=other), ValueError, ("cache",))


def test_backward_of_finite_but_huge_dlogits():
    """Used to overflow to inf gradients with a RuntimeWarning."""
    _check_error(lambda: _backward(np.full((5, 3), 1e308)), ValueError, ("dlogits",))


def test_optimizer_step_with_grads_beyond_float32():
    """float64 gradients cast to float32 parameters used to become inf (and so did the parameters)."""
    params = {"W": np.ones(3, np.float32)}
    _check_error(lambda: SGD(0.1).step(params, {"W": np.full(3, 1e300)}), ValueError, ("grads['W']", "float32"))
    assert np.isfinite(params["W"]).all()


@pytest.mark.parametrize("optimizer", [SGD(1e308), Adam(0.1)], ids=["sgd-huge-lr", "adam-huge-grad"])
def test_optimizer_step_that_overflows_is_refused_and_changes_nothing(optimizer):
    """lr * update (SGD) or g * g (Adam's second moment) used to overflow into the parameters or buffers."""
    params = {"W": np.ones(3)}
    _check_error(lambda: optimizer.step(params, {"W": np.full(3, 1e200)}), ValueError, ("learning_rate", "overflow"))
    np.testing.assert_array_equal(params["W"], np.ones(3), err_msg="the parameters are unchanged")
    assert all(np.isfinite(b).all() for bufs in optimizer.state_dict()["buffers"].values() for b in bufs.values())


@pytest.mark.parametrize("kwargs", [{"distillation_strategy": DistillationLoss},
                                    {"distillation_strategy": DistillationLoss(), "use_early_stopping": "no"}],
                         ids=["strategy-class", "flag-string"])
def test_self_distillation_trainer_arguments(kwargs):
    """The strategy class used to fail only in generation 1; 'no' used to mean True."""
    _check_error(lambda: SelfDistillationTrainer(**kwargs), TypeError,
                 ("distillation_strategy",) if "use_early_stopping" not in kwargs else ("use_early_stopping", "'no'"))


def test_ensemble_weights_that_overflow_their_sum():
    """Their sum used to overflow to inf (RuntimeWarning) and the weights to become [0, 0]: zero logits."""
    ensemble = EnsembleTeacher([TEACHER, TEACHER], weights=[1e308, 1e308])
    np.testing.assert_allclose(ensemble.weights, [0.5, 0.5], err_msg="normalised weights")


@pytest.mark.parametrize(("kwargs", "needles"), [({"patience": 0}, ("patience", "got 0")),
                                                 ({"min_delta": np.nan}, ("min_delta", "nan"))],
                         ids=["patience-0", "min-delta-nan"])
def test_early_stopping_names_its_own_parameters(kwargs, needles):
    """Used to report them under the trainer's names (early_stopping_patience)."""
    _check_error(lambda: EarlyStopping(**kwargs), ValueError, needles)
