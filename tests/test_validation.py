"""Tests of minikd._validation: the dtype policy, label forms and scalar checks.

Every error test checks the exception type and that the message names the parameter (and, where
it matters, the rule or the value received).
"""

from __future__ import annotations

import fractions

import numpy as np
import pytest

from minikd._validation import (
    cast_to_dtype,
    check_choice,
    check_float_array,
    check_fraction,
    check_int,
    check_labels,
    check_nonnegative_float,
    check_positive_float,
    describe,
)


# ----------------------------------------------------------------------------- check_float_array
@pytest.mark.parametrize(("dtype", "expected"), [
    (np.float64, np.float64),
    (np.float32, np.float32),
    (np.float16, np.float32),
    (np.longdouble, np.float64),
    (np.int8, np.float64),
    (np.int64, np.float64),
    (np.uint8, np.float64),
    (np.uint64, np.float64),
])
def test_float_array_dtype_policy(dtype, expected):
    x = np.array([[1, 2], [3, 4]], dtype=dtype)
    out = check_float_array(x, "X")
    assert out.dtype == expected, f"{np.dtype(dtype)} -> {out.dtype}, expected {np.dtype(expected)}"
    np.testing.assert_array_equal(out, [[1, 2], [3, 4]], err_msg="values are kept")


def test_float_array_keeps_float_arrays_without_copy_and_converts_lists():
    x = np.ones((2, 2), dtype=np.float32)
    assert check_float_array(x, "X") is x, "float32/float64 arrays are returned as they are"
    out = check_float_array([[1, 2], [3, 4]], "X")
    assert out.dtype == np.float64 and out.shape == (2, 2)
    assert check_float_array(x, "X", dtype=np.float64).dtype == np.float64, "dtype= casts"


@pytest.mark.parametrize("value", [
    np.array([True, False]),
    np.array([1, 2], dtype=object),
    np.array([1 + 2j]),
    np.array(["1.0", "2.0"]),
    "1.0",
    None,
    {"a": 1},
    [[1.0], [1.0, 2.0]],  # ragged
    np.array(["2020-01-01"], dtype="datetime64[D]"),
])
def test_float_array_rejects_non_real_dtypes(value):
    with pytest.raises(TypeError, match="features"):
        check_float_array(value, "features")


def test_float_array_large_longdouble_is_rejected_not_warned():
    x = np.array([np.finfo(np.longdouble).max, 1.0], dtype=np.longdouble)
    if np.finfo(np.longdouble).max == np.finfo(np.float64).max:
        pytest.skip("longdouble is float64 on this platform")
    with pytest.raises(ValueError, match="X must contain only finite"):
        check_float_array(x, "X")


@pytest.mark.parametrize(("shape", "ndim", "ok"), [
    ((3,), (1, 2), True),
    ((2, 3), (1, 2), True),
    ((), (1, 2), False),
    ((2, 2, 2), (1, 2), False),
    ((2, 3), 2, True),
    ((3,), 2, False),
    ((2, 2, 2), range(1, 33), True),
    ((), range(1, 33), False),
])
def test_float_array_ndim(shape, ndim, ok):
    x = np.zeros(shape)
    if ok:
        assert check_float_array(x, "logits", ndim=ndim).shape == shape
    else:
        with pytest.raises(ValueError, match=r"logits must be .*-D, got an array of shape"):
            check_float_array(x, "logits", ndim=ndim)


def test_float_array_ndim_message_is_short_for_ranges():
    with pytest.raises(ValueError) as info:
        check_float_array(np.float64(1.0), "z", ndim=range(1, 33))
    assert len(str(info.value)) < 100, f"message too long: {info.value}"
    assert "1-D" in str(info.value) and "32-D" in str(info.value)


def test_float_array_empty():
    with pytest.raises(ValueError, match="X must not be empty"):
        check_float_array(np.zeros((0, 3)), "X")
    with pytest.raises(ValueError, match="X must not be empty"):
        check_float_array([], "X")
    assert check_float_array(np.zeros((0, 3)), "X", allow_empty=True).shape == (0, 3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_array_non_finite(bad, dtype):
    x = np.array([[1.0, bad], [bad, 2.0]], dtype=dtype)
    with pytest.raises(ValueError, match=r"teacher_logits must contain only finite values, got 2"):
        check_float_array(x, "teacher_logits")
    out = check_float_array(x, "X", finite=False)
    np.testing.assert_array_equal(np.isfinite(out), np.isfinite(x), err_msg="finite=False keeps them")


# ----------------------------------------------------------------------------- check_labels
def test_labels_index_form():
    kind, y = check_labels([2, 0, 1], "y", 3, 3)
    assert kind == "index" and y.dtype == np.int64
    np.testing.assert_array_equal(y, [2, 0, 1])
    kind, y = check_labels(np.array([1.0, 0.0]), "y", 2, 3)
    assert kind == "index" and y.dtype == np.int64, "whole-number floats are indices"
    np.testing.assert_array_equal(y, [1, 0])
    kind, y = check_labels(np.array([4], dtype=np.uint8), "y", 1, 5)
    assert kind == "index"
    np.testing.assert_array_equal(y, [4])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_labels_prob_form(dtype):
    rows = np.array([[0.2, 0.8], [1.0, 0.0]])
    kind, y = check_labels(rows, "y", 2, 2, dtype=dtype)
    assert kind == "prob" and y.dtype == dtype and y.shape == (2, 2)
    np.testing.assert_allclose(y, rows, rtol=1e-7, err_msg="probability rows are kept")
    kind, y = check_labels(np.array([[0, 1], [1, 0]]), "y", 2, 2)
    assert kind == "prob" and y.dtype == np.float64, "integer one-hot rows are probability rows"


def test_labels_single_forms():
    kind, y = check_labels(2, "y", None, 3, single=True)
    assert kind == "index" and y.shape == () and int(y) == 2
    kind, y = check_labels(np.int8(0), "y", None, 3, single=True)
    assert kind == "index" and int(y) == 0
    kind, y = check_labels([0.0, 1.0, 0.0], "y", None, 3, single=True)
    assert kind == "prob" and y.shape == (3,)
    with pytest.raises(ValueError, match=r"y must have a scalar int or a \(C,\) probability row"):
        check_labels([[0.0, 1.0, 0.0]], "y", None, 3, single=True)


@pytest.mark.parametrize(("labels", "n", "c", "match"), [
    ([0, 3], 2, 3, r"y must be class indices in \[0, 2\], got 3$"),
    ([-1, 0], 2, 3, r"y must be class indices in \[0, 2\], got -1$"),
    ([0.0, 2.5], 2, 3, r"y given as class indices must be whole numbers, .* 2\.5"),
    ([0.0, np.nan], 2, 3, r"y must contain only finite values"),
    ([0, 1, 2], 2, 3, r"y must have one label per sample \(2\), got 3"),
    ([[0.5, 0.5]], 2, 2, r"y must have one row per sample \(2\), got 1"),
    ([[0.5, 0.5, 0.0]], 1, 2, r"y given as probability rows must have 2 columns"),
    ([[0.5, 0.6]], 1, 2, r"y probability rows must sum to 1, got a row summing to 1\.1"),
    ([[1.5, -0.5]], 1, 2, r"y probability rows must be non-negative"),
    ([[np.inf, 0.0]], 1, 2, r"y must contain only finite values"),
    ([[1e300, 0.0]], 1, 2, r"y probability rows"),
    (np.zeros((1, 2, 2)), 1, 2, r"y must have shape \(N,\) or \(N, C\), got an array of shape"),
    (np.float64(1.0), 1, 2, r"y must have shape \(N,\) or \(N, C\)"),
])
def test_labels_value_errors(labels, n, c, match):
    with pytest.raises(ValueError, match=match):
        check_labels(labels, "y", n, c)


def test_labels_huge_float64_rows_with_float32_target_do_not_warn():
    # Casting 1e300 to float32 would overflow: it must be rejected as out of [0, 1] instead.
    with pytest.raises(ValueError, match="labels probability rows"):
        check_labels(np.array([[1e300, 0.0]]), "labels", 1, 2, dtype=np.float32)


def test_labels_single_out_of_range_and_non_integer():
    with pytest.raises(ValueError, match=r"target must be class indices in \[0, 2\], got 3"):
        check_labels(3, "target", None, 3, single=True)
    with pytest.raises(ValueError, match=r"target given as class indices must be whole numbers"):
        check_labels(0.5, "target", None, 3, single=True)


@pytest.mark.parametrize("labels", [
    True, np.bool_(False), np.array([True, False]), np.array([1, 0], dtype=object),
    np.array([1j, 0]), "01", None, [[0], [0, 1]],
])
def test_labels_type_errors(labels):
    with pytest.raises(TypeError, match="labels"):
        check_labels(labels, "labels", 2, 2)


def test_labels_float32_rows_tolerance():
    rows = np.array([[0.1, 0.2, 0.7]], dtype=np.float32)  # sums to 1 only to float32 precision
    kind, y = check_labels(rows, "y", 1, 3, dtype=np.float32)
    assert kind == "prob" and y.dtype == np.float32
    with pytest.raises(ValueError, match="sum to 1"):
        check_labels(np.array([[0.1, 0.2, 0.71]]), "y", 1, 3, dtype=np.float32)


# ----------------------------------------------------------------------------- scalar checks
def test_check_int():
    assert check_int(3, "epochs", minimum=1) == 3
    assert check_int(np.int64(7), "epochs") == 7 and type(check_int(np.int64(7), "epochs")) is int
    assert check_int(5, "k", minimum=5, maximum=5) == 5


@pytest.mark.parametrize(("value", "kwargs", "error", "match"), [
    (0, {"minimum": 1}, ValueError, r"epochs must be an integer >= 1, got 0"),
    (11, {"maximum": 10}, ValueError, r"epochs must be an integer <= 10, got 11"),
    (2.0, {}, TypeError, r"epochs must be an integer, got 2\.0"),
    (True, {}, TypeError, r"epochs must be an integer, got True"),
    ("3", {}, TypeError, r"epochs must be an integer, got '3'"),
    (None, {}, TypeError, r"epochs must be an integer"),
])
def test_check_int_errors(value, kwargs, error, match):
    with pytest.raises(error, match=match):
        check_int(value, "epochs", **kwargs)


def test_check_positive_and_nonnegative_float():
    assert check_positive_float(2, "temperature") == 2.0
    assert type(check_positive_float(np.float32(0.5), "temperature")) is float
    assert check_positive_float(fractions.Fraction(1, 4), "temperature") == 0.25
    assert check_nonnegative_float(0, "weight_decay") == 0.0


@pytest.mark.parametrize(("value", "error", "match"), [
    (0.0, ValueError, r"temperature must be a finite number > 0, got 0\.0$"),
    (-1, ValueError, r"temperature must be a finite number > 0, got -1$"),
    (np.float64(-1.0), ValueError, r"temperature must be a finite number > 0, got -1\.0$"),
    (float("nan"), ValueError, r"temperature must be a finite number > 0, got nan"),
    (float("inf"), ValueError, r"temperature must be a finite number > 0, got inf"),
    (10**400, ValueError, r"temperature must be a finite number > 0, got 1000"),
    ("3", TypeError, r"temperature must be a real number, got '3'"),
    (True, TypeError, r"temperature must be a real number, got True"),
    (None, TypeError, r"temperature must be a real number"),
    (1j, TypeError, r"temperature must be a real number"),
    (np.array([1.0]), TypeError, r"temperature must be a real number, got ndarray"),
])
def test_check_positive_float_errors(value, error, match):
    with pytest.raises(error, match=match):
        check_positive_float(value, "temperature")


@pytest.mark.parametrize(("value", "match"), [
    (-0.1, r"weight_decay must be a finite number >= 0, got -0\.1"),
    (float("inf"), r"weight_decay must be a finite number >= 0, got inf"),
])
def test_check_nonnegative_float_errors(value, match):
    with pytest.raises(ValueError, match=match):
        check_nonnegative_float(value, "weight_decay")


def test_check_fraction():
    assert check_fraction(0, "alpha") == 0.0
    assert check_fraction(1, "alpha") == 1.0
    assert check_fraction(0.3, "alpha") == 0.3
    assert check_fraction(0.5, "momentum", high_open=True) == 0.5


@pytest.mark.parametrize(("value", "kwargs", "error", "match"), [
    (1.5, {}, ValueError, r"alpha must be a number in \[0, 1\], got 1\.5"),
    (-0.1, {}, ValueError, r"alpha must be a number in \[0, 1\], got -0\.1"),
    (0.0, {"low_open": True}, ValueError, r"alpha must be a number in \(0, 1\], got 0\.0"),
    (1.0, {"high_open": True}, ValueError, r"alpha must be a number in \[0, 1\), got 1\.0"),
    (float("nan"), {}, ValueError, r"alpha must be a number in \[0, 1\], got nan"),
    ("0.5", {}, TypeError, r"alpha must be a real number"),
    (False, {}, TypeError, r"alpha must be a real number"),
])
def test_check_fraction_errors(value, kwargs, error, match):
    with pytest.raises(error, match=match):
        check_fraction(value, "alpha", **kwargs)


def test_check_choice():
    assert check_choice("mean", "reduction", ("mean", "sum")) == "mean"
    with pytest.raises(ValueError, match=r"reduction must be one of \['mean', 'sum'\], got 'avg'"):
        check_choice("avg", "reduction", ("mean", "sum"))
    with pytest.raises(TypeError, match=r"reduction must be a string, .* got None"):
        check_choice(None, "reduction", ("mean", "sum"))


def test_describe_is_short_and_safe():
    assert describe(np.zeros((2, 3), np.float32)) == "ndarray of shape (2, 3) and dtype float32"
    text = describe("x" * 1000)
    assert len(text) < 100 and text.endswith("(type str)")


# ---------------------------------------------------------------------------- one home per rule
def test_one_bool_rule_everywhere():
    from minikd import MLP, SGD, DistillationCheckpointConfig, DistillationLoss, KnowledgeDistillationTrainer
    from minikd.datasets import load_digits

    cases = [lambda: SGD(0.1, momentum=0.5, nesterov="yes"), lambda: load_digits(return_images=1),
             lambda: DistillationCheckpointConfig(save_teacher=1),
             lambda: KnowledgeDistillationTrainer(MLP([4, 3]), DistillationLoss(), use_early_stopping="no"),
             lambda: MLP([4, 3]).forward_train(np.zeros((2, 4)), need_input_grad=0)]
    for case in cases:
        with pytest.raises(TypeError, match="must be True or False, got"):
            case()


def test_one_dtype_rule_everywhere():
    from minikd import MLP
    from minikd.datasets import load_digits
    from minikd.interop import from_torch_state_dict

    sd = {"0.weight": np.zeros((3, 4)), "0.bias": np.zeros(3)}
    for case in (lambda: MLP([4, 3], dtype=np.float16), lambda: load_digits(dtype=np.float16),
                 lambda: from_torch_state_dict(sd, dtype=np.float16)):
        with pytest.raises(TypeError, match="dtype must be np.float32 or np.float64, got float16"):
            case()


def test_one_seed_rule_everywhere():
    from minikd import MLP, DistillationLoss, KnowledgeDistillationTrainer, SelfDistillationTrainer, SupervisedTrainer
    from minikd.datasets import make_blobs

    X, y = make_blobs(n_samples=30, n_features=4, n_classes=3, seed=np.random.default_rng(0))
    builders = [lambda s: MLP([4, 3], seed=s), lambda s: SupervisedTrainer(seed=s),
                lambda s: KnowledgeDistillationTrainer(MLP([4, 3]), DistillationLoss(), seed=s),
                lambda s: SelfDistillationTrainer(DistillationLoss(), seed=s),
                lambda s: make_blobs(n_samples=10, seed=s)]
    for build in builders:
        build(np.random.default_rng(1))  # a Generator is accepted everywhere
        build(3)
        with pytest.raises(TypeError, match="seed must be None, an int >= 0 or a np.random.Generator"):
            build(1.5)
        with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
            build(-1)
    # a trainer with a Generator continues it across train calls (an int seed restarts)
    gen_trainer = SupervisedTrainer(seed=np.random.default_rng(5))
    a, b = MLP([4, 3], seed=0), MLP([4, 3], seed=0)
    gen_trainer.train(a, X, y, epochs=1, batch_size=5, verbose=0)
    gen_trainer.train(b, X, y, epochs=1, batch_size=5, verbose=0)
    assert not np.array_equal(a.params["W1"], b.params["W1"])
    assert gen_trainer.get_config()["seed"] == "np.random.Generator"


def test_a_value_that_overflows_the_students_dtype_names_the_input_not_the_learning_rate():
    from minikd import MLP, SupervisedTrainer

    X = np.ones((10, 4))
    X[3, 2] = 1e39
    with pytest.raises(ValueError, match=r"X must fit in the model dtype float32.*1e\+39"):
        SupervisedTrainer(seed=0).train(MLP([4, 3], dtype=np.float32), X, np.zeros(10, int), epochs=1, batch_size=5,
                                        verbose=0)
    with pytest.raises(ValueError, match=r"validation_data\[0\] \(X_val\) must fit in the model dtype float32"):
        SupervisedTrainer(seed=0).train(MLP([4, 3], dtype=np.float32), np.ones((10, 4)), np.zeros(10, int),
                                        epochs=1, batch_size=5, verbose=0, validation_data=(X, np.zeros(10, int)))


def test_classes_instead_of_instances_get_the_hint():
    from minikd import MLP, SGD, DistillationLoss, KnowledgeDistillationTrainer, SupervisedTrainer

    with pytest.raises(TypeError, match="did you forget the"):
        KnowledgeDistillationTrainer(MLP([4, 3]), DistillationLoss)
    with pytest.raises(TypeError, match="optimizer must be .* did you forget the"):
        SupervisedTrainer().train(MLP([4, 3]), np.ones((4, 4)), np.zeros(4, int), optimizer=SGD, batch_size=2,
                                    verbose=0)
    with pytest.raises(TypeError, match="student must be a minikd MLP.*did you forget the"):
        SupervisedTrainer().train(MLP, np.ones((4, 4)), np.zeros(4, int), verbose=0)


# ----------------------------------------------------------------------------- array subclasses, casts
def _matrix(a):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix(a)


def test_np_matrix_becomes_a_plain_ndarray():
    out = check_float_array(_matrix([[1.0, 2.0]]), "x")
    assert type(out) is np.ndarray and out.shape == (1, 2)
    kind, labels = check_labels(_matrix(np.eye(3)), "y", 3, 3)
    assert kind == "prob" and type(labels) is np.ndarray


@pytest.mark.parametrize("check", [lambda m: check_float_array(m, "x"), lambda m: check_labels(m, "x", 3, 3)],
                         ids=["float-array", "labels"])
def test_masked_arrays_are_refused_with_both_ways_out(check):
    masked = np.ma.masked_array([0.0, 1.0, np.nan], mask=[False, False, True])
    with pytest.raises(TypeError, match=r"^x must not be a masked array.*1 masked value.*filled\(.*\.data"):
        check(masked)


def test_cast_to_dtype():
    a = np.array([1.0, -2.0])
    assert cast_to_dtype(a, np.float64, "a", "advice") is a
    assert cast_to_dtype(a, np.float32, "a", "advice").dtype == np.float32
    with pytest.raises(ValueError, match=r"^a must fit in the model dtype float32 \(largest 3\.4e\+38\), got a value "
                                         r"of magnitude 1e\+39; scale it$"):
        cast_to_dtype(np.array([1.0, 1e39]), np.float32, "a", "scale it")
