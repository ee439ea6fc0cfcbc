"""What a newcomer gets wrong first: each bad input gets a message that names the parameter and
says what to do (the general table is ``tests/test_bad_input.py``; its rows for these cases point
here for the details).

1. an optimizer reused on another student (``Optimizer.check_params``);
2. teacher and student class counts compared before the labels (needs the trainer change);
3. ``teacher=None`` named ``teacher``, not ``model_or_callable``;
4. masked arrays refused, ``np.matrix`` converted;
5. a teacher that writes into its input gets a read-only view and a clear error;
6. teacher logits that do not fit in the student's dtype blamed on the teacher, not the learning rate.

Each case is tested on the helper that implements it and through the public ``train``, ``train_step``
and ``evaluate``.
"""

import copy
import pickle
import warnings

import numpy as np
import pytest
from test_bad_input import _check_error

from minikd.datasets import make_blobs
from minikd.functional import cross_entropy, softmax
from minikd.mlp import MLP
from minikd.optim import SGD, Adam
from minikd.strategies import DistillationLoss
from minikd.teachers import EnsembleTeacher, TeacherModelWrapper, as_teacher
from minikd.trainer import KnowledgeDistillationTrainer

X, Y = make_blobs(n_samples=40, n_features=4, n_classes=3, seed=0)
TEACHER = MLP([4, 8, 3], seed=0)



def _grads(model):
    return {k: np.full_like(v, 0.1) for k, v in model.params.items()}


def _stepped(optimizer, model):
    optimizer.step(model.params, _grads(model))
    return optimizer


def _train(student, trainer=None, **kw):
    kw = {"epochs": 1, "batch_size": 8, "verbose": 0, **kw}
    trainer = trainer or KnowledgeDistillationTrainer(TEACHER, DistillationLoss(), seed=0)
    return trainer.train(student, X, Y, **kw)


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


OPTIMIZERS = [lambda: SGD(0.1, momentum=0.9), lambda: Adam(0.01)]
OPTIMIZER_IDS = ["sgd-momentum", "adam"]


# ============================================================================ 1. reused optimizer
@pytest.mark.parametrize("make", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_check_params_names_the_key_and_both_shapes(make):
    optimizer = _stepped(make(), MLP([4, 6, 3], seed=0))
    other = MLP([4, 7, 3], seed=0)
    _check_error(lambda: optimizer.check_params(other.params), ValueError,
                 ("params['W1']", "(4, 7)", "(4, 6)",
                  "this optimizer's state was built for another model: pass a new optimizer or call "
                  "optimizer.reset()"))


@pytest.mark.parametrize("make", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_check_params_names_other_keys(make):
    optimizer = _stepped(make(), MLP([4, 6, 3], seed=0))
    deeper = MLP([4, 6, 6, 3], seed=0)
    _check_error(lambda: optimizer.check_params(deeper.params), ValueError,
                 ("params", "'W3'", "['W1', 'W2', 'b1', 'b2']", "optimizer.reset()"))


@pytest.mark.parametrize("make", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_check_params_names_both_dtypes(make):
    """A float64 buffer would silently turn a float32 student's update into float64 arithmetic."""
    optimizer = _stepped(make(), MLP([4, 6, 3], seed=0))
    student32 = MLP([4, 6, 3], seed=0, dtype=np.float32)
    _check_error(lambda: optimizer.check_params(student32.params), ValueError,
                 ("params['W1']", "float32", "float64", "optimizer.reset()"))


def test_check_params_of_a_non_dict():
    _check_error(lambda: SGD(0.1).check_params([np.ones(2)]), TypeError, ("params", "[array"))


@pytest.mark.parametrize("make", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_public_step_on_a_differently_shaped_model(make):
    optimizer = _stepped(make(), MLP([4, 6, 3], seed=0))
    other = MLP([4, 7, 3], seed=0)
    _check_error(lambda: optimizer.step(other.params, _grads(other)), ValueError,
                 ("params['W1']", "(4, 7)", "(4, 6)", "optimizer.reset()"))


@pytest.mark.parametrize("make", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_check_params_of_the_same_model_is_silent(make, no_warnings):
    """Training one model in several calls is a continuation: no warning."""
    model = MLP([4, 6, 3], seed=0)
    optimizer = _stepped(_stepped(make(), model), model)
    optimizer.check_params(model.params)


@pytest.mark.parametrize("make", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_check_params_of_another_model_of_the_same_shape_warns_once(make):
    optimizer = _stepped(make(), MLP([4, 6, 3], seed=0))
    other = MLP([4, 6, 3], seed=1)
    with pytest.warns(UserWarning, match=r"t=1 updates\) was built for another model.*optimizer\.reset\(\)"):
        optimizer.check_params(other.params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimizer.check_params(other.params)  # the state now belongs to `other`


def test_check_params_warns_when_the_first_model_is_gone():
    """The owner is held by weak references: a freed model's arrays are not mistaken for a new one's."""
    optimizer = _stepped(SGD(0.1, momentum=0.9), MLP([4, 6, 3], seed=0))
    with pytest.warns(UserWarning, match="another model"):
        optimizer.check_params(MLP([4, 6, 3], seed=1).params)


@pytest.mark.parametrize("forget", ["reset", "load_state_dict", "no-momentum"])
def test_check_params_accepts_any_model_without_a_known_owner(forget, no_warnings):
    model, other = MLP([4, 6, 3], seed=0), MLP([4, 7, 3], seed=0)
    if forget == "no-momentum":
        optimizer = _stepped(SGD(0.1), model)  # keeps no buffers: nothing to carry over
        optimizer.check_params(other.params)
        return
    optimizer = _stepped(SGD(0.1, momentum=0.9), model)
    if forget == "reset":
        optimizer.reset()
        optimizer.check_params(other.params)
    else:  # a restored state belongs to whoever it is restored for (a resumed student)
        fresh = SGD(0.1, momentum=0.9)
        fresh.load_state_dict(optimizer.state_dict())
        fresh.check_params(MLP([4, 6, 3], seed=5).params)


def test_a_refused_update_does_not_bind_the_optimizer(no_warnings):
    """An overflowing first step is undone completely, the owner included."""
    optimizer, first, other = Adam(0.1), MLP([4, 6, 3], seed=0), MLP([4, 7, 3], seed=0)
    with pytest.raises(ValueError, match="overflow"):
        optimizer.step(first.params, {k: np.full_like(v, 1e200) for k, v in first.params.items()})
    optimizer.check_params(other.params)
    optimizer.step(other.params, _grads(other))


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda o: pickle.loads(pickle.dumps(o))], ids=["deepcopy", "pickle"])
def test_a_stepped_optimizer_can_be_copied(clone):
    """The weak references to the owner's arrays cannot be pickled: a copy drops them."""
    model = MLP([4, 6, 3], seed=0)
    optimizer = _stepped(Adam(0.01), model)
    twin = clone(optimizer)
    assert twin.t == 1
    np.testing.assert_array_equal(twin.state_dict()["buffers"]["exp_avg"]["W1"],
                                  optimizer.state_dict()["buffers"]["exp_avg"]["W1"])


def test_train_in_two_calls_is_silent(no_warnings):
    student, optimizer = MLP([4, 6, 3], seed=1), SGD(0.1, momentum=0.9)
    _train(student, optimizer=optimizer)
    _train(student, optimizer=optimizer)
    assert optimizer.t == 10


def test_train_with_an_optimizer_of_another_shape():
    """On main: NumPy's 'operands could not be broadcast together'."""
    optimizer = SGD(0.1, momentum=0.9)
    _train(MLP([4, 6, 3], seed=1), optimizer=optimizer)
    _check_error(lambda: _train(MLP([4, 7, 3], seed=1), optimizer=optimizer), ValueError,
                 ("params['W1']", "(4, 7)", "(4, 6)", "optimizer.reset()"))


def test_train_with_an_optimizer_of_another_same_shaped_student_warns():
    """On main: the first student's momentum is silently carried over."""
    optimizer = SGD(0.1, momentum=0.9)
    _train(MLP([4, 6, 3], seed=1), optimizer=optimizer)
    with pytest.warns(UserWarning, match="another model"):
        _train(MLP([4, 6, 3], seed=2), optimizer=optimizer)


# ============================================================================ 2. class counts first
def _ten_class_callable(Xb):
    return np.zeros((len(Xb), 10))


@pytest.mark.parametrize("teacher", [MLP([4, 8, 10], seed=0), _ten_class_callable], ids=["mlp", "callable"])
@pytest.mark.parametrize("entry", ["train", "train_step", "evaluate"])
def test_class_counts_are_compared_before_the_labels(entry, teacher):
    """A 10-class teacher, a 5-class student and digit labels 0-9: on main 'y must be class indices
    in [0, 4], got 9', which blames the labels for what is a class-count mismatch. A callable
    teacher's class count is known only once it is called."""
    trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(), seed=0)
    student, y = MLP([4, 6, 5], seed=1), np.arange(40) % 10
    call = {"train": lambda: trainer.train(student, X, y, epochs=1, batch_size=8, verbose=0),
            "train_step": lambda: trainer.train_step(student, X[:10], y[:10], None, SGD(0.1)),
            "evaluate": lambda: trainer.evaluate(student, X, y)}[entry]
    _check_error(call, ValueError, ("teacher", "output dimension (10)", "layer_sizes[-1] = 5"))


# ============================================================================ 3. teacher=None
def test_trainer_teacher_none_is_named_teacher():
    _check_error(lambda: KnowledgeDistillationTrainer(None, DistillationLoss()), TypeError,
                 ("teacher", "None", "SupervisedTrainer"))
    with pytest.raises(TypeError) as info:
        KnowledgeDistillationTrainer(None, DistillationLoss())
    assert "model_or_callable" not in str(info.value)


def test_teacher_class_instead_of_instance():
    """A class is callable, and used to be accepted as a teacher function X -> logits."""
    _check_error(lambda: KnowledgeDistillationTrainer(MLP, DistillationLoss()), TypeError,
                 ("teacher", "MLP", "did you forget the ()?"))


def test_ensemble_member_is_named_by_its_index():
    _check_error(lambda: EnsembleTeacher([TEACHER, None]), TypeError, ("teachers[1]", "None"))
    with pytest.raises(TypeError, match=r"^teachers\[1\] must be"):
        EnsembleTeacher([TEACHER, 5])


def test_as_teacher_takes_the_callers_name():
    _check_error(lambda: as_teacher(3.0, name="my_teacher"), TypeError, ("my_teacher", "3.0"))


def test_the_wrapper_keeps_its_own_parameter_name():
    _check_error(lambda: TeacherModelWrapper(None), TypeError, ("model_or_callable", "None"))


# ============================================================================ 4. masked arrays, np.matrix
def _masked(x, where):
    """A masked copy of x with NaN under the mask at ``where`` (what a NaN-aware pipeline produces)."""
    m = np.ma.masked_array(np.array(x, dtype=float), mask=np.zeros(np.shape(x), bool))
    m.data[where] = np.nan
    m[where] = np.ma.masked
    return m


@pytest.mark.parametrize(("call", "name"), [
    (lambda: softmax(_masked(X, (0, 0))), "z"),
    (lambda: MLP([4, 6, 3], seed=1).forward(_masked(X, (0, 0))), "X"),
    (lambda: KnowledgeDistillationTrainer(TEACHER, DistillationLoss()).train(
        MLP([4, 6, 3], seed=1), _masked(X, (0, 0)), Y, epochs=1, batch_size=8, verbose=0), "X"),
    (lambda: TeacherModelWrapper(TEACHER).get_logits(_masked(X, (0, 0))), "X"),
    (lambda: cross_entropy(softmax(X[:, :3]), _masked(Y, 3)), "labels"),
    (lambda: KnowledgeDistillationTrainer(TEACHER, DistillationLoss()).train(
        MLP([4, 6, 3], seed=1), X, _masked(Y, 3), epochs=1, batch_size=8, verbose=0), "y"),
], ids=["softmax", "forward", "train-X", "teacher-X", "ce-labels", "train-y"])
def test_masked_arrays_are_refused(call, name):
    """On main the mask was ignored: the NaN under it passed the finiteness check (or broke later)."""
    _check_error(call, TypeError, (name, "masked array", "1 masked value(s)", ".filled(", ".data"))


def test_a_masked_array_without_masked_values_is_refused_too():
    """One rule for the type, whatever its mask holds today: .data states the intent."""
    _check_error(lambda: softmax(np.ma.masked_array(X)), TypeError, ("z", "0 masked value(s)", ".data"))


def _matrix(a):
    """np.matrix(a), without NumPy's PendingDeprecationWarning about the class."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix(a)


def test_np_matrix_is_used_as_a_plain_array():
    """np.matrix used to fail inside NumPy ('matrix.sum() got an unexpected keyword argument')."""
    out = softmax(_matrix(X))
    assert type(out) is np.ndarray
    np.testing.assert_array_equal(out, softmax(X))
    student = MLP([4, 6, 3], seed=1)
    np.testing.assert_array_equal(student.forward(_matrix(X)), student.forward(X))
    a, b = MLP([4, 6, 3], seed=1), MLP([4, 6, 3], seed=1)
    _train(a)
    KnowledgeDistillationTrainer(TEACHER, DistillationLoss(), seed=0).train(
        b, _matrix(X), _matrix(np.eye(3)[Y]), epochs=1, batch_size=8, verbose=0)
    c = MLP([4, 6, 3], seed=1)
    KnowledgeDistillationTrainer(TEACHER, DistillationLoss(), seed=0).train(
        c, X, np.eye(3)[Y], epochs=1, batch_size=8, verbose=0)
    for k in b.params:
        np.testing.assert_array_equal(b.params[k], c.params[k], err_msg=f"np.matrix inputs train the same: {k}")


@pytest.mark.parametrize("shape", [(1, 40), (40, 1)], ids=["row", "column"])
def test_class_indices_in_a_matrix_get_a_ravel_hint(shape):
    labels = _matrix(Y.reshape(shape))

    def call():
        KnowledgeDistillationTrainer(TEACHER, DistillationLoss()).train(
            MLP([4, 6, 3], seed=1), X, labels, epochs=1, batch_size=8, verbose=0)

    _check_error(call, ValueError, ("y", str(shape), "np.asarray(y).ravel()"))


# ============================================================================ 5. a teacher that writes into X
def _scaling_teacher(Xb):
    Xb *= 0.5  # in place: would change the caller's X
    return np.zeros((len(Xb), 3))


def _assigning_teacher(Xb):
    Xb[:, 0] = 0.0
    return np.zeros((len(Xb), 3))


class _ProtocolTeacher:
    output_dimension = 3

    def get_logits(self, Xb):
        Xb -= Xb.mean(axis=0)
        return np.zeros((len(Xb), 3))


@pytest.mark.parametrize(("teacher", "name"), [(_scaling_teacher, "_scaling_teacher"),
                                               (_assigning_teacher, "_assigning_teacher"),
                                               (_ProtocolTeacher(), "_ProtocolTeacher.get_logits")],
                         ids=["in-place-op", "assignment", "protocol"])
@pytest.mark.parametrize("entry", ["wrapper", "ensemble", "train", "train-no-cache"])
def test_a_teacher_that_writes_into_X_leaves_the_callers_X_unchanged(teacher, name, entry):
    """On main the teacher's write went through to the caller's X (the trainer passes the float64
    training set itself): the data changed under the user's feet."""
    X_user = X.copy()
    call = {
        "wrapper": lambda: as_teacher(teacher).get_logits(X_user),
        "ensemble": lambda: EnsembleTeacher([TEACHER, teacher]).get_logits(X_user),
        "train": lambda: KnowledgeDistillationTrainer(teacher, DistillationLoss()).train(
            MLP([4, 6, 3], seed=1), X_user, Y, epochs=1, batch_size=8, verbose=0),
        "train-no-cache": lambda: KnowledgeDistillationTrainer(teacher, DistillationLoss(), cache_teacher_logits=False)
        .train(MLP([4, 6, 3], seed=1), X_user, Y, epochs=1, batch_size=8, verbose=0),
    }[entry]
    _check_error(call, ValueError, ("teacher", name, "read-only", "X = X.copy()"))
    np.testing.assert_array_equal(X_user, X, err_msg="the caller's X is unchanged")
    assert X_user.flags.writeable, "the caller's array stays writeable"


def test_teachers_receive_a_read_only_view():
    seen = []

    def teacher(Xb):
        seen.append(Xb.flags.writeable)
        return np.zeros((len(Xb), 3))

    TeacherModelWrapper(teacher).get_logits(X)
    TeacherModelWrapper(teacher).get_logits(X[0])  # one sample: (1, D) for a callable
    assert seen == [False, False]


def test_a_teachers_own_value_error_passes_through_unchanged():
    error = ValueError("my teacher's own problem")

    def teacher(Xb):
        raise error

    with pytest.raises(ValueError) as info:
        TeacherModelWrapper(teacher).get_logits(X)
    assert info.value is error


def test_an_mlp_teacher_works_on_the_read_only_view():
    np.testing.assert_array_equal(TeacherModelWrapper(TEACHER).get_logits(X), TEACHER.forward(X))
    np.testing.assert_array_equal(TeacherModelWrapper(TEACHER).get_logits(X[0]), TEACHER.forward(X[:1])[0])


# ============================================================================ 6. teacher logits vs the student's dtype
def _huge_teacher(Xb):
    return np.tile([1e39, 0.0, -1e39], (len(Xb), 1))  # finite in float64, inf in float32


def test_get_logits_checks_the_cast_to_the_students_dtype():
    teacher = TeacherModelWrapper(_huge_teacher)
    _check_error(lambda: teacher.get_logits(X, dtype=np.float32), ValueError,
                 ("the logits of the teacher _huge_teacher", "the student's dtype float32", "1e+39", "float64 student"))
    assert teacher.get_logits(X, dtype=np.float64).dtype == np.float64
    assert teacher.get_logits(X).dtype == np.float64  # no dtype: the teacher's own


def test_get_logits_casts_to_the_dtype():
    out = TeacherModelWrapper(TEACHER).get_logits(X, dtype=np.float32)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, TEACHER.forward(X).astype(np.float32))
    assert TeacherModelWrapper(TEACHER).get_logits(X[0], dtype="float32").shape == (3,)


def test_get_logits_dtype_must_be_a_model_dtype():
    _check_error(lambda: TeacherModelWrapper(TEACHER).get_logits(X, dtype=np.float16), TypeError, ("dtype", "float16"))


def test_ensemble_get_logits_checks_the_cast():
    ensemble = EnsembleTeacher([_huge_teacher, _huge_teacher])
    _check_error(lambda: ensemble.get_logits(X, dtype=np.float32), ValueError,
                 ("EnsembleTeacher(mode='logits')", "float32", "1e+39"))
    assert EnsembleTeacher([TEACHER, TEACHER]).get_logits(X, dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize("cache", [True, False], ids=["cache", "no-cache"])
def test_train_blames_the_teacher_not_the_learning_rate(cache):
    """On main: a RuntimeWarning (overflow in cast) and TrainingDivergedError 'try a smaller learning rate'."""
    trainer = KnowledgeDistillationTrainer(_huge_teacher, DistillationLoss(), cache_teacher_logits=cache)
    _check_error(lambda: trainer.train(MLP([4, 6, 3], seed=1, dtype=np.float32), X, Y, epochs=1, batch_size=8,
                                       verbose=0),
                 ValueError, ("the logits of the teacher _huge_teacher", "float32", "1e+39"))
