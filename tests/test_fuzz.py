"""Property-based API fuzzing: random shapes, dtypes and values thrown at the public API.

Random shapes, dtypes (ints, float16/32/64, bool, complex, object, strings) and values (NaN, inf,
huge, subnormal) and plain junk (None, strings, ragged lists, dicts) go into the public functions
and classes. The contract checked for every call: it either **returns a correct, finite result**
(each test checks what "correct" means for that function: probabilities sum to 1, losses are
>= 0, shapes and dtypes follow the dtype policy, ...) **or raises ValueError/TypeError** with a
message written by minikd (not a NumPy error passing through). Anything else fails the test: an
IndexError, an AssertionError, a RuntimeWarning (the suite turns them into errors), a NaN.

Finite values are not bounded: huge logits, inputs, gradients and learning rates must give a
finite result or a ValueError (e.g. "the logits overflow"), never an overflow warning or inf.
"""

from __future__ import annotations

import math
import re

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from minikd.checkpoint import DistillationCheckpointConfig
from minikd.datasets import label_subset, make_blobs, train_test_split
from minikd.functional import cross_entropy, kl_divergence, log_softmax, one_hot, softmax
from minikd.gradcheck import numerical_gradient, rel_error
from minikd.interop import LOSS_CONVENTIONS, convert_hyperparameters, from_torch_state_dict, reference_distillation_loss
from minikd.mlp import MLP
from minikd.optim import SGD, Adam
from minikd.strategies import CrossEntropyLoss, DecoupledKDLoss, DistillationLoss, LogitMatchingLoss
from minikd.teachers import TeacherModelWrapper
from minikd.trainer import KnowledgeDistillationTrainer, SupervisedTrainer, TrainingDivergedError

# Messages that start like this come from NumPy or Python, not from minikd's checks.
_INTERNAL = re.compile(
    r"operands could not be broadcast|index -?\d+ is out of bounds|axis -?\d+ is out of bounds|could not convert"
    r"|setting an array element|zero-dimensional arrays|only 0-dimensional|object of type|unsupported operand"
    r"|'[<>]=?' not supported|cannot reshape|float\(\) argument|int\(\) argument|unhashable type", re.IGNORECASE)

def _call(fn):
    """Run fn: return (result, None), or (None, exc) for a ValueError/TypeError written by minikd."""
    try:
        result = fn()
        event("returned a result")  # --hypothesis-show-statistics: how often each outcome happens
        return result, None
    except (ValueError, TypeError) as exc:
        event(f"raised {type(exc).__name__}")
        message = str(exc)
        assert message, f"{type(exc).__name__} without a message"
        assert not _INTERNAL.match(message), f"an internal error leaked out: {type(exc).__name__}: {message}"
        return None, exc


def _float_dtype_of(dtype):
    """The dtype policy: float32/64 kept, float16 -> float32, integers -> float64."""
    dtype = np.dtype(dtype)
    if dtype == np.float16:
        return np.dtype(np.float32)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


# ============================================================================ generators
_FLOATS = (np.float16, np.float32, np.float64)
_INTS = (np.int8, np.int32, np.int64, np.uint8, np.uint64)
_OTHER = (np.bool_, np.complex128, np.object_, np.dtype("U3"))


def _elements(dtype, bound=None):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        width = 8 * dtype.itemsize
        limit = min(bound or np.finfo(dtype).max, float(np.finfo(dtype).max))
        return st.one_of(st.floats(-3, 3, width=width), st.floats(-limit, limit, width=width),
                         st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0]))
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return st.one_of(st.integers(max(info.min, -3), 5), st.integers(info.min, info.max))
    if dtype.kind == "b":
        return st.booleans()
    if dtype.kind == "c":
        return st.complex_numbers(max_magnitude=10, allow_nan=False, allow_infinity=False)
    if dtype.kind == "U":
        return st.text(alphabet="ab1", max_size=3)
    return st.one_of(st.none(), st.integers(-3, 3), st.floats(-3, 3), st.text(alphabet="ab", max_size=2))


_SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


def any_array(shape=_SHAPES, bound=None, dtypes=_FLOATS + _INTS + _OTHER):
    """Any dtype, any shape, any values (NaN, inf, huge, subnormal)."""
    return st.sampled_from(dtypes).flatmap(lambda dt: hnp.arrays(dt, shape, elements=_elements(dt, bound)))


def good_array(shape, bound=1e4):
    """Valid numbers: float16/32/64 or int arrays of finite values, mostly moderate, up to ``bound``."""
    def build(dt):
        dt = np.dtype(dt)
        if dt.kind in "iu":
            return hnp.arrays(dt, shape, elements=st.integers(0, 20))
        width = 8 * dt.itemsize
        b = min(bound, float(np.finfo(dt).max))
        return hnp.arrays(dt, shape, elements=st.one_of(st.floats(-5, 5, width=width), st.floats(-b, b, width=width)))
    return st.sampled_from(_FLOATS + (np.float64, np.float64, np.int64)).flatmap(build)


def mostly(good, bad, percent_good=75):
    """``good`` most of the time, else ``bad``: every argument is valid often enough for the
    success path to be tested, and invalid often enough for every check to be hit."""
    return st.integers(0, 99).flatmap(lambda k: good if k < percent_good else bad)


JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(), st.text(max_size=3),
    st.lists(st.floats(-3, 3), max_size=3), st.just([[1.0], [1.0, 2.0]]), st.just({"a": 1}),
    st.just(object()), st.just(np.float64(2.0)), st.just(np.array(1.5)),
)
REAL = st.one_of(st.floats(), st.integers(-10, 10), st.floats(0, 5), st.floats(1e-320, 1e-300),
                 st.sampled_from([0, 1, 0.5, 1e308, -0.0]), JUNK)
TEMPERATURE = mostly(st.one_of(st.floats(0.05, 50), st.sampled_from([1, 2, 0.5, 1e-3, 1e3])), REAL)
FRACTION = mostly(st.one_of(st.floats(0, 1), st.sampled_from([0, 1, 0.3])), REAL)


def values(shape, bound=None):
    """Mostly valid arrays of the given shape; else any array of that shape, any array, or junk."""
    bad = st.one_of(any_array(st.just(shape), bound, _FLOATS + _INTS), any_array(bound=bound), JUNK)
    return mostly(good_array(shape, bound=min(bound or 1e300, 1e300)), bad)


@st.composite
def batch(draw, max_n=5, max_c=5):
    return draw(st.integers(1, max_n)), draw(st.integers(1, max_c))


@st.composite
def good_labels(draw, n, c):
    kind = draw(st.sampled_from(["index", "index-float", "rows", "one-hot"]))
    if kind == "index":
        return draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))
    if kind == "index-float":
        return draw(hnp.arrays(np.float64, n, elements=st.integers(0, c - 1).map(float)))
    if kind == "one-hot":
        return np.eye(c)[draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))]
    raw = draw(hnp.arrays(np.float64, (n, c), elements=st.floats(0, 10)))
    raw[:, 0] += 1e-3
    return raw / raw.sum(axis=1, keepdims=True)


def labels_for(n, c):
    """Valid labels for N samples of C classes most of the time; else wrong shapes, values or junk."""
    bad = st.one_of(any_array(st.sampled_from([(n,), (n, c), (n + 1,), (n, c + 1), ()])),
                    hnp.arrays(np.int64, n, elements=st.integers(-2, c + 1)), JUNK)
    return mostly(good_labels(n, c), bad)


# ============================================================================ functional
_ND_SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


@given(z=mostly(_ND_SHAPES.flatmap(good_array), any_array()), t=TEMPERATURE,
       axis=mostly(st.integers(-1, 0), st.one_of(st.integers(-4, 4), JUNK)))
def test_fuzz_softmax_and_log_softmax(z, t, axis):
    for fn in (softmax, log_softmax):
        out, exc = _call(lambda fn=fn: fn(z, t, axis))
        if exc is not None:
            continue
        assert out.shape == z.shape and out.dtype == _float_dtype_of(z.dtype)
        assert np.isfinite(out).all()
        total = (out if fn is softmax else np.exp(out.astype(np.float64))).sum(axis=axis, dtype=np.float64)
        tol = 1e-5 if out.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(total, 1.0, rtol=0, atol=tol * z.shape[axis], err_msg=f"{fn.__name__} T={t!r}")
        if fn is softmax:
            assert (out >= 0).all() and (out <= 1).all()
        else:
            assert (out <= 0).all()


@given(data=st.data(), nc=batch(), reduction=mostly(st.sampled_from(["mean", "sum", "none"]), JUNK),
       single=st.booleans())
def test_fuzz_cross_entropy(data, nc, reduction, single):
    n, c = nc
    logits = data.draw(values((c,) if single else (n, c)), label="logits")
    if single:
        labels = data.draw(mostly(st.one_of(st.integers(0, c - 1), good_labels(1, c).map(lambda y: y[0])),
                                  st.one_of(st.integers(-2, c + 1), st.floats(), JUNK)), label="labels")
    else:
        labels = data.draw(labels_for(n, c), label="labels")
    out, exc = _call(lambda: cross_entropy(logits, labels, reduction))
    if exc is not None:
        return
    out_arr = np.asarray(out)
    assert np.isfinite(out_arr).all() and (out_arr >= 0).all()
    if reduction == "none":  # the logits decide: (C,) is one sample (junk such as a list may be 1-D)
        assert out_arr.shape == (() if np.ndim(logits) == 1 else (np.shape(logits)[0],))
    else:
        assert isinstance(out, float)
    # an independent check for integer labels: -log softmax(z)[y], from the stable formula
    lab = np.asarray(labels)
    if reduction == "none" and np.ndim(logits) == 2 and lab.ndim == 1 and np.asarray(logits).dtype == np.float64:
        z = np.asarray(logits)
        shifted = z - z.max(axis=1, keepdims=True)
        ref = -(shifted[np.arange(n), lab.astype(int)] - np.log(np.exp(shifted).sum(axis=1)))
        np.testing.assert_allclose(out_arr, ref, rtol=1e-10, atol=1e-12, err_msg="CE of integer labels")


@pytest.mark.filterwarnings("ignore:.*the largest temperature at which it is accurate")  # by design
@given(data=st.data(), nc=batch(), t=TEMPERATURE, reduction=st.sampled_from(["mean", "sum", "none"]))
def test_fuzz_kl_divergence(data, nc, t, reduction):
    n, c = nc
    p = data.draw(values((n, c)), label="p")
    q = data.draw(mostly(values((n, c)), values((n, c + 1))), label="q")
    out, exc = _call(lambda: kl_divergence(p, q, t, reduction))
    if exc is None:
        assert np.isfinite(out).all() and (np.asarray(out) >= 0).all()
    same, exc = _call(lambda: kl_divergence(p, p, t, reduction))
    if exc is None:
        np.testing.assert_allclose(same, 0.0, atol=1e-6, err_msg="KL(P || P) = 0")


@given(data=st.data(), c=st.integers(1, 5),
       dtype=mostly(st.sampled_from([np.float16, np.float32, np.float64, "f8"]),
                    st.one_of(st.sampled_from([int, bool, "foo", "U3"]), JUNK)))
def test_fuzz_one_hot(data, c, dtype):
    labels = data.draw(mostly(st.one_of(st.integers(0, c - 1), hnp.arrays(np.int64, st.integers(0, 4),
                                                                          elements=st.integers(0, c - 1))),
                              st.one_of(any_array(), JUNK, st.integers(-2, 6))), label="labels")
    num_classes = data.draw(mostly(st.just(c), st.one_of(st.integers(-1, 6), JUNK)), label="num_classes")
    out, exc = _call(lambda: one_hot(labels, num_classes, dtype))
    if exc is not None:
        return
    y = np.asarray(labels).astype(np.int64)
    assert out.shape == y.shape + (num_classes,) and out.dtype == np.dtype(dtype)
    assert (out.sum(axis=-1) == 1).all() and (np.argmax(out, axis=-1) == y).all()


# ============================================================================ strategies
STRATEGIES = [
    (DistillationLoss, {"temperature": TEMPERATURE, "alpha": FRACTION}),
    (LogitMatchingLoss, {"alpha": FRACTION, "center": mostly(st.booleans(), JUNK)}),
    (DecoupledKDLoss, {"temperature": TEMPERATURE, "alpha": mostly(st.floats(0, 10), REAL),
                       "beta": mostly(st.floats(0, 10), REAL)}),
    (CrossEntropyLoss, {}),
]


@pytest.mark.filterwarnings("ignore:.*the largest temperature at which it is accurate")  # by design
@pytest.mark.parametrize(("cls", "hyper"), STRATEGIES, ids=[c.__name__ for c, _ in STRATEGIES])
@given(data=st.data(), nc=batch(), single=st.booleans())
def test_fuzz_strategies(cls, hyper, data, nc, single):
    kwargs = {k: data.draw(v, label=k) for k, v in hyper.items() if data.draw(st.booleans(), label=f"set {k}")}
    strategy, exc = _call(lambda: cls(**kwargs))
    if exc is not None:
        return
    n, c = nc
    shape = (c,) if single else (n, c)
    z = data.draw(values(shape), label="z")
    v = data.draw(mostly(values(shape), st.one_of(st.none(), values((n, c + 1)))), label="v")
    if single:
        labels = data.draw(st.one_of(st.none(), mostly(st.integers(0, c - 1), st.integers(-1, c + 1))),
                           label="labels")
    else:
        labels = data.draw(st.one_of(st.none(), labels_for(n, c)), label="labels")
    out, exc = _call(lambda: strategy.loss_and_gradient(z, v, labels))
    if exc is not None:
        return
    loss, dz, parts = out
    z_arr = np.asarray(z)
    assert isinstance(loss, float) and math.isfinite(loss) and loss >= 0
    assert dz.shape == z_arr.shape and dz.dtype == _float_dtype_of(z_arr.dtype) and np.isfinite(dz).all()
    assert math.isclose(loss, parts["soft"] + (parts["hard"] or 0.0), rel_tol=1e-9, abs_tol=1e-12)
    if cls is not LogitMatchingLoss:  # softmax losses do not change when a row of logits is shifted
        # The soft gradient is T (p - q) / N: each of the C entries of p and q carries a rounding
        # error of about one ulp, which the factor T scales (float16 logits at T = 1000 in float32:
        # a row sum of 3e-5 from rounding alone, found by this test).
        scale = max(1.0, float(np.abs(dz).max()), getattr(strategy, "temperature", 1.0))
        tol = (1e-5 if dz.dtype == np.float32 else 1e-12) * scale * z_arr.shape[-1]
        np.testing.assert_allclose(dz.sum(axis=-1, dtype=np.float64), 0.0, atol=tol, err_msg="gradient rows sum to 0")


# ============================================================================ MLP and optimizers
@given(data=st.data(),
       sizes=mostly(st.lists(st.integers(1, 5), min_size=2, max_size=4), st.one_of(st.lists(st.integers(-1, 5),
                                                                                        max_size=4), JUNK)),
       activation=mostly(st.sampled_from(["relu", "tanh", "sigmoid", "leaky_relu", "identity"]),
                         st.one_of(st.just("gelu"), JUNK)),
       dtype=mostly(st.sampled_from([np.float32, np.float64, "float32"]), st.one_of(st.sampled_from([np.float16,
                                                                                                   int]), JUNK)),
       seed=mostly(st.integers(0, 3), st.one_of(st.integers(-1, 0), JUNK)))
def test_fuzz_mlp(data, sizes, activation, dtype, seed):
    model, exc = _call(lambda: MLP(sizes, activation=activation, seed=seed, dtype=dtype))
    if exc is not None:
        return
    d, c = model.input_dim, model.output_dim
    n = data.draw(st.integers(1, 4))
    X = data.draw(mostly(st.one_of(values((n, d)), values((d,))), values((n, d + 1))),
                  label="X")
    logits, exc = _call(lambda: model.forward(X))
    if exc is not None:
        return
    expected = (c,) if np.ndim(X) == 1 else (np.shape(X)[0], c)
    assert logits.shape == expected and logits.dtype == model.dtype and np.isfinite(logits).all()
    pred = model.predict(X)
    assert np.all((0 <= np.asarray(pred)) & (np.asarray(pred) < c))
    proba, exc = _call(lambda: model.predict_proba(X, data.draw(TEMPERATURE, label="temperature")))
    if exc is None:
        assert np.isfinite(proba).all()
        np.testing.assert_allclose(proba.sum(axis=-1), 1.0, atol=1e-5)
    _, cache = model.forward_train(X)
    dlogits = data.draw(mostly(values(expected), values(expected[:-1] + (c + 1,))), label="dlogits")
    grads, exc = _call(lambda: model.backward(dlogits, cache))
    if exc is None:
        assert set(grads) == set(model.params)
        for k, g in grads.items():
            assert g.shape == model.params[k].shape and g.dtype == model.dtype and np.isfinite(g).all(), k


@given(data=st.data(), cls=st.sampled_from([SGD, Adam]),
       lr=mostly(st.floats(1e-6, 10), REAL),
       dtype=st.sampled_from([np.float32, np.float64]), shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=3))
def test_fuzz_optimizer_step(data, cls, lr, dtype, shape):
    name, good = ("momentum", st.floats(0, 0.99)) if cls is SGD else ("beta2", st.floats(0, 0.999))
    extra = {name: data.draw(mostly(good, REAL), label=name)}
    optimizer, exc = _call(lambda: cls(lr, **extra))
    if exc is not None:
        return
    params = {"W": np.ones(shape, dtype), "b": np.zeros(shape[-1], dtype)}
    grads = {"W": data.draw(values(shape), label="gW"),
             "b": data.draw(mostly(values((shape[-1],)), values((shape[-1] + 1,))), label="gb")}
    if data.draw(st.integers(0, 9), label="drop a key") == 0:
        grads.pop("b")
    for _ in range(2):
        _, exc = _call(lambda: optimizer.step(params, grads))
        if exc is not None:
            break
        for k, p in params.items():
            assert p.dtype == dtype and np.isfinite(p).all(), k
    restored = cls(lr, **extra)
    restored.load_state_dict(optimizer.state_dict())
    assert restored.t == optimizer.t


# ============================================================================ teachers and trainers
@given(data=st.data(), n=st.integers(1, 4))
def test_fuzz_teacher_output_is_checked(data, n):
    output = data.draw(mostly(values((n, 3)), st.one_of(values((n + 1, 3)), values((n,)), values((n, 3, 1)),
                                                        values((n, 2)))), label="output")
    for declared in (3, None):  # C declared, or inferred from the first call
        teacher = TeacherModelWrapper(lambda X: output, output_dimension=declared)
        logits, exc = _call(lambda teacher=teacher: teacher.get_logits(np.zeros((n, 2))))
        if exc is None:
            assert logits.ndim == 2 and logits.shape[0] == n and logits.dtype in (np.float32, np.float64)
            assert np.isfinite(logits).all() and teacher.output_dimension == logits.shape[1]
            assert declared is None or logits.shape[1] == declared


@given(data=st.data(), n=st.integers(1, 8), supervised=st.booleans(), cache=st.booleans(),
       epochs=mostly(st.integers(1, 2), st.one_of(st.integers(-1, 0), JUNK)),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_fuzz_train(data, n, supervised, cache, epochs, dtype):
    X = data.draw(mostly(values((n, 3), bound=10.0), values((n, 4), bound=10.0)), label="X")
    y = data.draw(mostly(good_labels(n, 2), st.one_of(st.none(), labels_for(n, 2))), label="y")
    batch_size = data.draw(mostly(st.integers(1, n), st.one_of(st.integers(-1, 0), st.just(n + 1), JUNK)),
                           label="batch_size")
    teacher = MLP([3, 4, 2], seed=0)
    trainer = (SupervisedTrainer(seed=0) if supervised
               else KnowledgeDistillationTrainer(teacher, DistillationLoss(), seed=0, cache_teacher_logits=cache))
    student = MLP([3, 4, 2], seed=1, dtype=dtype)
    try:
        history, exc = _call(lambda: trainer.train(student, X, y, epochs=epochs, batch_size=batch_size,
                                                   optimizer=SGD(0.05), verbose=0))
    except TrainingDivergedError as err:  # the one other documented outcome
        assert err.epoch >= 1 and err.batch >= 1
        return
    if exc is not None:
        return
    assert history.epochs == list(range(1, epochs + 1))
    assert all(math.isfinite(v) for v in history.loss)
    assert all(p.dtype == dtype and np.isfinite(p).all() for p in student.params.values())
    if not (supervised and y is None):
        metrics = trainer.evaluate(student, X, y)
        assert math.isfinite(metrics["loss"]) and (y is None or 0 <= metrics["accuracy"] <= 1)


# ============================================================================ data sets, gradcheck, interop
@given(data=st.data(), n=mostly(st.integers(4, 10), st.integers(0, 3)),
       test_size=mostly(st.one_of(st.integers(1, 4), st.floats(0.1, 0.9)), st.one_of(st.integers(-1, 9),
                                                                                    st.floats(-0.5, 1.5), JUNK)),
       seed=mostly(st.integers(0, 3), st.one_of(st.integers(-1, 0), JUNK)),
       stratify=mostly(st.booleans(), JUNK))
def test_fuzz_train_test_split(data, n, test_size, seed, stratify):
    X = data.draw(mostly(good_array((n, 2)), st.one_of(any_array(), JUNK)), label="X")
    y = data.draw(mostly(hnp.arrays(np.int64, n, elements=st.integers(0, 1)), st.one_of(any_array(), JUNK)), label="y")
    out, exc = _call(lambda: train_test_split(X, y, test_size=test_size, seed=seed, stratify=stratify))
    if exc is not None:
        return
    X_train, X_test, y_train, y_test = out
    n = np.shape(X)[0]
    assert len(X_train) + len(X_test) == n and len(y_train) == len(X_train) and len(y_test) == len(X_test)
    assert len(X_train) >= 1 and len(X_test) >= 1
    if np.ndim(y) == 1 and np.asarray(y).dtype.kind in "iub":
        np.testing.assert_array_equal(np.sort(np.concatenate([y_train, y_test])), np.sort(y), err_msg="a partition")


@given(y=mostly(hnp.arrays(np.int64, st.integers(1, 8), elements=st.integers(0, 2)), st.one_of(any_array(), JUNK)),
       fraction=mostly(st.floats(0.01, 1), REAL), stratify=mostly(st.booleans(), JUNK))
def test_fuzz_label_subset(y, fraction, stratify):
    idx, exc = _call(lambda: label_subset(y, fraction, seed=0, stratify=stratify))
    if exc is None:
        n = np.shape(y)[0]
        assert idx.dtype == np.int64 and len(np.unique(idx)) == len(idx) and ((0 <= idx) & (idx < n)).all()


@given(n_samples=mostly(st.integers(3, 12), st.one_of(st.integers(-1, 2), JUNK)),
       n_features=mostly(st.integers(1, 4), st.one_of(st.integers(-1, 0), JUNK)),
       n_classes=mostly(st.integers(1, 3), st.one_of(st.integers(-1, 0), JUNK)),
       cluster_std=mostly(st.floats(0, 1e3), REAL),
       center_box=mostly(st.tuples(st.floats(-1e3, -1), st.floats(1, 1e3)), st.one_of(st.tuples(REAL, REAL), JUNK)),
       dtype=mostly(st.sampled_from([np.float32, np.float64]), st.sampled_from([np.int64, np.float16, "foo"])))
def test_fuzz_make_blobs(n_samples, n_features, n_classes, cluster_std, center_box, dtype):
    out, exc = _call(lambda: make_blobs(n_samples, n_features, n_classes, cluster_std, center_box, seed=0,
                                        dtype=dtype))
    if exc is not None:
        return
    X, y = out
    assert X.shape == (n_samples, n_features) and X.dtype == dtype and np.isfinite(X).all()
    counts = np.bincount(y, minlength=n_classes)
    assert len(counts) == n_classes and counts.max() - counts.min() <= 1


@given(a=mostly(_ND_SHAPES.flatmap(good_array), st.one_of(any_array(), JUNK)),
       b=mostly(_ND_SHAPES.flatmap(good_array), st.one_of(any_array(), JUNK)))
def test_fuzz_rel_error(a, b):
    r, exc = _call(lambda: rel_error(a, b))
    if exc is None:
        assert 0.0 <= r <= 1.0
    same, exc = _call(lambda: rel_error(a, a))
    if exc is None:
        assert same == 0.0 or np.isnan(np.asarray(a, dtype=np.float64)).any()


@given(result=mostly(st.floats(-1e300, 1e300), st.one_of(REAL, any_array(), JUNK)),
       x=hnp.arrays(np.float64, st.integers(0, 3), elements=mostly(st.floats(-10, 10), st.floats(-1e308, 1e308))))
def test_fuzz_numerical_gradient(result, x):
    x0 = x.copy()
    grad, exc = _call(lambda: numerical_gradient(lambda v: result, x))
    np.testing.assert_array_equal(x, x0, err_msg="x restored")
    if exc is None:
        assert grad.shape == x.shape and np.isfinite(grad).all()
        np.testing.assert_array_equal(grad, 0.0, err_msg="a constant function has gradient 0")


_ALPHAS = {
    "pytorch_tutorial": st.one_of(st.tuples(st.floats(0, 2), st.floats(0, 2)),
                                  st.fixed_dictionaries({"soft_target_loss_weight": st.floats(0, 2),
                                                         "ce_loss_weight": st.floats(0, 2)})),
    "torchdistill": st.one_of(st.floats(0, 1), st.tuples(st.floats(0, 2), st.floats(0, 2)),
                              st.fixed_dictionaries({"alpha": st.floats(0, 1)})),
}


@given(data=st.data(), nc=batch(), t=TEMPERATURE,
       convention=mostly(st.sampled_from(LOSS_CONVENTIONS), JUNK, percent_good=90))
def test_fuzz_reference_loss_and_conversion(data, nc, t, convention):
    n, c = nc
    good_alpha = _ALPHAS.get(convention, st.floats(0, 1)) if isinstance(convention, str) else st.floats(0, 1)
    bad_alpha = st.one_of(REAL, st.tuples(REAL, REAL), st.fixed_dictionaries({"alpha": REAL}))
    alpha = data.draw(mostly(good_alpha, bad_alpha), label="alpha")
    z, v = data.draw(values((n, c)), label="z"), data.draw(mostly(values((n, c)), values((n, c + 1))), label="v")
    labels = data.draw(st.one_of(st.none(), labels_for(n, c)), label="labels")
    ref, exc = _call(lambda: reference_distillation_loss(z, v, labels, t, alpha, convention))
    if exc is None:
        assert math.isfinite(ref.loss) and ref.loss >= 0 and np.isfinite(ref.dlogits).all()
        assert ref.dlogits.shape == np.shape(z)
    to = data.draw(st.sampled_from(LOSS_CONVENTIONS), label="to")
    conv, exc = _call(lambda: convert_hyperparameters(alpha, convention, to, t))
    if exc is None:
        assert math.isfinite(conv.loss_scale) and conv.loss_scale > 0
        for value in (conv.value.values() if isinstance(conv.value, dict) else [conv.value]):
            assert math.isfinite(value) and value >= 0


@given(data=st.data(), sizes=st.lists(st.integers(1, 4), min_size=2, max_size=4),
       activation=mostly(st.sampled_from(["relu", "tanh"]), JUNK))
def test_fuzz_from_torch_state_dict(data, sizes, activation):
    state = {}
    for k in range(len(sizes) - 1):
        out_f, in_f = sizes[k + 1], sizes[k]
        state[f"{2 * k}.weight"] = data.draw(mostly(values((out_f, in_f)), values((in_f, out_f)), 90), label="W")
        state[f"{2 * k}.bias"] = data.draw(mostly(values((out_f,)), values((in_f,)), 90), label="b")
    if data.draw(st.integers(0, 9), label="junk key") == 0:
        state[data.draw(st.one_of(st.text(max_size=4), st.integers()), label="key")] = data.draw(values((2,)))
    model, exc = _call(lambda: from_torch_state_dict(state, activation=activation))
    if exc is None:
        for k in range(model.num_layers):  # W_k is the transposed weight, whatever shapes were drawn
            np.testing.assert_array_equal(model.params[f"W{k + 1}"].T, state[f"{2 * k}.weight"], err_msg=f"W{k + 1}")
        assert all(np.isfinite(p).all() for p in model.params.values())


@given(directory=mostly(st.text(alphabet="ab/", min_size=1, max_size=4), JUNK),
       every=mostly(st.integers(1, 3), st.one_of(st.integers(-1, 0), JUNK)),
       keep=mostly(st.integers(0, 3), st.one_of(st.just(-1), JUNK)),
       metric=mostly(st.sampled_from(["loss", "val_loss", "val_accuracy"]), st.one_of(st.just("accuracy"), JUNK)),
       prefix=mostly(st.text(alphabet="ab_-1", min_size=1, max_size=4), st.one_of(st.text(max_size=4), JUNK)),
       flag=mostly(st.booleans(), JUNK))
def test_fuzz_checkpoint_config(directory, every, keep, metric, prefix, flag):
    config, exc = _call(lambda: DistillationCheckpointConfig(directory, every, keep, metric, flag, flag, flag, prefix))
    if exc is None:
        assert config.save_every_epochs >= 1 and config.keep_best_n >= 0 and isinstance(config.lower_is_better, bool)
        assert str(config.checkpoint_directory) != "" and re.fullmatch(r"[A-Za-z0-9_-]+", config.prefix)
