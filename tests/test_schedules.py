"""minikd.schedules: each schedule against its formula written again here, the epochs == 1 conventions,
validation of every argument, check_positive / check_range, and configs as plain data."""

import copy
import doctest
import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minikd
import minikd.schedules
from minikd.schedules import (
    CosineDecay,
    ExponentialDecay,
    LinearRamp,
    Schedule,
    StepDecay,
    schedule_from_config,
)

# Sane ranges: what a learning rate, a momentum or a temperature schedule looks like.
values_ = st.floats(-10.0, 10.0, allow_nan=False)
positive = st.floats(1e-3, 10.0)
rates = st.floats(0.05, 1.5)
epochs_ = st.integers(1, 60)


# ----------------------------------------------------------------------------- references
def ref_exponential(initial, rate, e):
    return initial * rate ** (e - 1)


def ref_step(initial, factor, every, e):
    steps = 0
    for epoch in range(1, e + 1):  # count the epochs that start a new step, after the first
        if epoch > 1 and (epoch - 1) % every == 0:
            steps += 1
    return initial * factor**steps


def ref_linear(start, end, epochs, e):
    if e >= epochs:
        return end
    return start + (end - start) * (e - 1) / (epochs - 1)


def ref_cosine(initial, final, epochs, e):
    if e >= epochs:
        return final
    return final + (initial - final) * (1 + math.cos(math.pi * (e - 1) / (epochs - 1))) / 2


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def assert_matches(schedule, reference, n):
    got = schedule.values(n)
    want = [reference(e) for e in range(1, n + 1)]
    assert all(type(v) is float for v in got), [type(v) for v in got]
    bad = [(e, g, w) for e, (g, w) in enumerate(zip(got, want, strict=True), start=1) if not close(g, w)]
    assert not bad, f"{schedule!r}: (epoch, got, want) {bad[:5]}"
    assert got == [schedule(e) for e in range(1, n + 1)], "values() and __call__ disagree"


def non_increasing(xs):
    return all(b <= a for a, b in zip(xs, xs[1:], strict=False))


def non_decreasing(xs):
    return all(b >= a for a, b in zip(xs, xs[1:], strict=False))


# ----------------------------------------------------------------------------- the formulas
@given(values_, rates, st.integers(1, 80))
def test_exponential_decay_matches_its_formula(initial, rate, n):
    s = ExponentialDecay(initial, rate)
    assert_matches(s, lambda e: ref_exponential(initial, rate, e), n)
    assert s(1) == initial
    if initial > 0 and rate <= 1:
        assert non_increasing(s.values(n))
    if initial > 0 and rate >= 1:
        assert non_decreasing(s.values(n))


@given(values_, rates, st.integers(1, 12), st.integers(1, 80))
def test_step_decay_matches_its_formula(initial, factor, every, n):
    s = StepDecay(initial, factor, every)
    assert_matches(s, lambda e: ref_step(initial, factor, every, e), n)
    vals = s.values(n)
    assert vals[: every] == [initial] * min(every, n), "the first `every` epochs hold initial"
    if initial > 0 and factor <= 1:
        assert non_increasing(vals)


@given(values_, values_, epochs_, st.integers(0, 20))
def test_linear_ramp_matches_its_formula_and_holds_end(start, end, epochs, extra):
    s = LinearRamp(start, end, epochs)
    n = epochs + extra
    assert_matches(s, lambda e: ref_linear(start, end, epochs, e), n)
    vals = s.values(n)
    assert s(epochs) == end and vals[epochs - 1:] == [end] * (extra + 1), "end is exact at `epochs`, then held"
    if epochs > 1:
        assert s(1) == start
    assert all(min(start, end) <= v <= max(start, end) for v in vals)
    assert (non_decreasing if end >= start else non_increasing)(vals)


@given(values_, values_, epochs_, st.integers(0, 20))
def test_cosine_decay_matches_its_formula_and_holds_final(initial, final, epochs, extra):
    s = CosineDecay(initial, final, epochs)
    n = epochs + extra
    assert_matches(s, lambda e: ref_cosine(initial, final, epochs, e), n)
    vals = s.values(n)
    assert s(epochs) == final and vals[epochs - 1:] == [final] * (extra + 1)
    if epochs > 1:
        assert s(1) == initial
    assert all(min(initial, final) <= v <= max(initial, final) for v in vals)
    assert (non_increasing if initial >= final else non_decreasing)(vals)


@given(positive, positive, st.integers(2, 60))
def test_cosine_is_symmetric_about_its_midpoint(initial, final, epochs):
    # value(e) + value(epochs + 1 - e) = initial + final: cos(pi - x) = -cos(x)
    s = CosineDecay(initial, final, epochs)
    for e in range(1, epochs + 1):
        assert math.isclose(s(e) + s(epochs + 1 - e), initial + final, rel_tol=1e-12)


def test_known_values():
    assert ExponentialDecay(0.1, 0.5).values(4) == [0.1, 0.05, 0.025, 0.0125]
    assert StepDecay(1.0, 0.1, 3).values(7) == [1.0, 1.0, 1.0, 0.1, 0.1, 0.1, pytest.approx(0.01)]
    assert LinearRamp(0.0, 1.0, 5).values(7) == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    np.testing.assert_allclose(CosineDecay(2.0, 0.0, 3).values(4), [2.0, 1.0, 0.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(CosineDecay(1.0, 0.0, 5).values(5),
                               [1.0, (1 + math.sqrt(0.5)) / 2, 0.5, (1 - math.sqrt(0.5)) / 2, 0.0], rtol=1e-14)


# ----------------------------------------------------------------------------- epochs == 1
def test_epochs_one_gives_the_target_from_epoch_one():
    assert LinearRamp(0.0, 0.3, 1).values(4) == [0.3] * 4
    assert CosineDecay(0.5, 0.01, 1).values(4) == [0.01] * 4


def test_epochs_two_gives_start_then_target():
    assert LinearRamp(0.1, 0.3, 2).values(3) == [0.1, 0.3, 0.3]
    assert CosineDecay(0.5, 0.01, 2).values(3) == [0.5, 0.01, 0.01]


def test_values_are_python_floats_for_numpy_and_int_arguments():
    for s in (ExponentialDecay(np.float32(0.5), np.int64(1)), StepDecay(1, 2, np.int64(2)),
              LinearRamp(np.float64(0), 1, 3), CosineDecay(1, 0, np.int32(4))):
        assert all(type(v) is float for v in s.values(5)), s
        assert all(type(v) in (float, int) for v in s.get_config().values() if not isinstance(v, str)), s


# ----------------------------------------------------------------------------- overflow
def test_overflow_gives_inf_and_check_positive_reports_it():
    s = ExponentialDecay(1.0, 10.0)
    assert s(1000) == math.inf and s(10**400) == math.inf
    assert ExponentialDecay(-1.0, 10.0)(1000) == -math.inf
    assert ExponentialDecay(0.0, 10.0)(1000) == 0.0
    assert ExponentialDecay(1.0, 0.5)(10**400) == 0.0 and ExponentialDecay(1.0, 1.0)(10**400) == 1.0
    assert StepDecay(1.0, 10.0, 1)(1000) == math.inf and StepDecay(1.0, 0.5, 1)(10**400) == 0.0
    first_inf = next(e for e in range(1, 1001) if ref_exponential_or_inf(1.0, 10.0, e) == math.inf)
    with pytest.raises(ValueError, match=rf"learning_rate.*got inf at epoch {first_inf} \(of 1000\)"):
        s.check_positive(1000, "learning_rate")


def ref_exponential_or_inf(initial, rate, e):
    try:
        return initial * rate ** (e - 1)
    except OverflowError:
        return math.inf


@pytest.mark.parametrize("initial, final, epochs", [(2012345297.4234114, -13020040238.576588, 280757814),
                                                    (6.678940706043589e-06, 0.00010586106961229359, 448560106)])
def test_cosine_never_leaves_its_range_through_rounding(initial, final, epochs):
    # at epoch 2, w = (1 + cos(pi / (epochs - 1))) / 2 rounds to 1.0 and final + (initial - final) * 1.0 lands
    # one ulp beyond initial (found by a random search); the value must stay within [final, initial]
    s = CosineDecay(initial, final, epochs)
    assert final + (initial - final) * 1.0 != initial, "the case no longer shows the rounding"
    assert min(initial, final) <= s(2) <= max(initial, final) and s(2) == initial
    assert (non_increasing if initial >= final else non_decreasing)([s(1), s(2), s(3)])


def test_ramps_between_extreme_values_do_not_overflow():
    assert LinearRamp(-1.7e308, 1.7e308, 3).values(3) == [-1.7e308, 0.0, 1.7e308]
    assert CosineDecay(1.7e308, -1.7e308, 3).values(3) == [1.7e308, 0.0, -1.7e308]
    assert LinearRamp(0.0, 1.0, 10**400)(2) == 0.0


# ----------------------------------------------------------------------------- check_positive, check_range
def test_check_positive_names_the_first_bad_epoch_and_its_value():
    s = LinearRamp(0.1, -0.1, 10)
    first = next(e for e in range(1, 11) if s(e) <= 0)
    with pytest.raises(ValueError, match=rf"temperature .*> 0.*got {s(first)!r} at epoch {first} \(of 10\)"):
        s.check_positive(10, "temperature")
    assert first == 6
    s.check_positive(5, "temperature")  # the first five epochs are positive


def test_check_positive_catches_zero_and_underflow():
    with pytest.raises(ValueError, match=r"got 0\.0 at epoch 3"):
        LinearRamp(1.0, 0.0, 3).check_positive(3, "learning_rate")
    with pytest.raises(ValueError, match=r"got 0\.0 at epoch"):
        ExponentialDecay(1.0, 1e-3).check_positive(200, "learning_rate")
    with pytest.raises(ValueError, match=r"got -1\.0 at epoch 1 "):
        ExponentialDecay(-1.0, 0.5).check_positive(3, "learning_rate")
    CosineDecay(0.1, 1e-4, 50).check_positive(100, "learning_rate")


def test_check_range_is_half_open_by_default():
    LinearRamp(0.5, 0.99, 10).check_range(20, "momentum", 0.0, 1.0)
    LinearRamp(0.0, 0.9, 10).check_range(20, "momentum", 0.0, 1.0)  # 0 is allowed
    with pytest.raises(ValueError, match=r"momentum must be a number in \[0\.0, 1\.0\).*got 1\.0 at epoch 10"):
        LinearRamp(0.5, 1.0, 10).check_range(20, "momentum", 0.0, 1.0)
    with pytest.raises(ValueError, match=r"got -0\.5 at epoch 1 "):
        LinearRamp(-0.5, 0.5, 3).check_range(3, "momentum", 0.0, 1.0)
    LinearRamp(0.5, 1.0, 10).check_range(20, "x", 0.0, 1.0, high_open=False)
    with pytest.raises(ValueError, match=r"\(0\.0, 1\.0\]"):
        LinearRamp(0.0, 1.0, 10).check_range(20, "x", 0.0, 1.0, low_open=True, high_open=False)


def test_check_range_refuses_overflow_to_inf():
    with pytest.raises(ValueError, match="got inf at epoch"):
        ExponentialDecay(1.0, 10.0).check_range(1000, "x", 0.0, math.inf)


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError),
                                      ("2", TypeError), (None, TypeError)])
def test_values_and_checks_validate_epochs(bad, exc):
    s = ExponentialDecay(1.0, 0.5)
    for call in (lambda: s.values(bad), lambda: s.check_positive(bad, "lr"),
                 lambda: s.check_range(bad, "m", 0.0, 1.0)):
        with pytest.raises(exc, match="epochs"):
            call()


# ----------------------------------------------------------------------------- validation
SCHEDULES = [ExponentialDecay(0.1, 0.9), StepDecay(0.1, 0.5, 10), LinearRamp(0.01, 0.1, 5), CosineDecay(0.1, 0.0, 20)]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
@pytest.mark.parametrize("bad, exc, shown", [(0, ValueError, "0"), (-1, ValueError, "-1"),
                                             (1.5, TypeError, r"1\.5"), (True, TypeError, "True"),
                                             ("2", TypeError, "'2'"), (None, TypeError, "None"),
                                             (np.float64(2.0), TypeError, r"(np\.float64\()?2\.0\)? \(type float64\)")])
def test_bad_epoch_is_refused_naming_epoch_and_the_value(schedule, bad, exc, shown):
    with pytest.raises(exc, match=rf"^epoch must be an integer.*, got {shown}( |$)"):
        schedule(bad)


def test_numpy_integer_epochs_are_accepted():
    assert ExponentialDecay(1.0, 0.5)(np.int64(3)) == 0.25


FLOAT_BAD = [("x", TypeError), (None, TypeError), (True, TypeError), ([1.0], TypeError), (1 + 0j, TypeError),
             (math.nan, ValueError), (math.inf, ValueError), (-math.inf, ValueError), (10**400, ValueError)]
POSITIVE_BAD = FLOAT_BAD + [(0.0, ValueError), (-0.5, ValueError), (0, ValueError)]
INT_BAD = [(0, ValueError), (-3, ValueError), (2.0, TypeError), (1.5, TypeError), (True, TypeError),
           ("3", TypeError), (None, TypeError)]

GOOD = {
    ExponentialDecay: {"initial": 0.1, "rate": 0.9},
    StepDecay: {"initial": 0.1, "factor": 0.5, "every": 10},
    LinearRamp: {"start": 0.0, "end": 0.1, "epochs": 5},
    CosineDecay: {"initial": 0.1, "final": 0.0, "epochs": 20},
}
RULES = {"initial": FLOAT_BAD, "start": FLOAT_BAD, "end": FLOAT_BAD, "final": FLOAT_BAD,
         "rate": POSITIVE_BAD, "factor": POSITIVE_BAD, "every": INT_BAD, "epochs": INT_BAD}
CASES = [(cls, arg, bad, exc) for cls, good in GOOD.items() for arg in good for bad, exc in RULES[arg]]


@pytest.mark.parametrize("cls, arg, bad, exc", CASES,
                         ids=[f"{c.__name__}-{a}-{b!r}"[:60] for c, a, b, _ in CASES])
def test_bad_constructor_arguments_are_refused_naming_the_parameter(cls, arg, bad, exc):
    with pytest.raises(exc, match=rf"^{arg} must be"):
        cls(**{**GOOD[cls], arg: bad})


@pytest.mark.parametrize("cls", GOOD)
def test_negative_and_zero_values_are_allowed_where_only_finiteness_is_required(cls):
    for arg in GOOD[cls]:
        if RULES[arg] is FLOAT_BAD:
            for v in (0.0, -2.5, 0):
                cls(**{**GOOD[cls], arg: v})


def test_rates_above_one_are_allowed():
    assert ExponentialDecay(1.0, 2.0).values(3) == [1.0, 2.0, 4.0]
    assert StepDecay(1.0, 3.0, 1).values(3) == [1.0, 3.0, 9.0]


# ----------------------------------------------------------------------------- configs, equality, repr
@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_config_round_trip(schedule):
    config = schedule.get_config()
    assert config["name"] == type(schedule).__name__
    assert list(config) == ["name", *GOOD[type(schedule)]]
    assert all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in config.values())
    rebuilt = schedule_from_config(config)
    assert rebuilt == schedule and type(rebuilt) is type(schedule) and hash(rebuilt) == hash(schedule)
    assert rebuilt.values(30) == schedule.values(30)
    assert schedule_from_config(copy.deepcopy(config)).get_config() == config
    assert eval(repr(schedule), vars(minikd.schedules)) == schedule  # the repr is the constructor call


def test_equality_is_by_config():
    assert ExponentialDecay(1, 0.5) == ExponentialDecay(1.0, 0.5)
    assert ExponentialDecay(1.0, 0.5) != ExponentialDecay(1.0, 0.25)
    assert LinearRamp(0.0, 1.0, 5) != CosineDecay(0.0, 1.0, 5)  # same numbers, another class
    assert StepDecay(1.0, 0.5, 2) != StepDecay(1.0, 0.5, 3)
    assert ExponentialDecay(1.0, 0.5) != {"name": "ExponentialDecay", "initial": 1.0, "rate": 0.5}
    assert len({ExponentialDecay(1, 0.5), ExponentialDecay(1.0, 0.5), StepDecay(1, 0.5, 1)}) == 2


def test_repr_shows_the_arguments():
    assert repr(StepDecay(0.1, 0.5, 10)) == "StepDecay(initial=0.1, factor=0.5, every=10)"
    assert repr(CosineDecay(1, 0, 5)) == "CosineDecay(initial=1.0, final=0.0, epochs=5)"


def test_schedules_are_immutable():
    s = LinearRamp(0.0, 1.0, 5)
    with pytest.raises(AttributeError, match="immutable"):
        s.epochs = 0
    with pytest.raises(AttributeError, match="immutable"):
        del s.end
    assert s.get_config() == {"name": "LinearRamp", "start": 0.0, "end": 1.0, "epochs": 5}
    assert copy.deepcopy(s) == s and copy.copy(s) == s


class Constant(Schedule):
    def __init__(self, value):
        self.value = value

    def _value(self, epoch):
        return self.value

    def _params(self):
        return {"value": self.value}


@pytest.mark.parametrize("name", ["Constant", "Schedule", "SGD", "os.system", "exponentialdecay", "", None, 3])
def test_schedule_from_config_refuses_other_names(name):
    with pytest.raises(ValueError, match=r"config\['name'\] must be one of \['CosineDecay', 'ExponentialDecay', "
                                         r"'LinearRamp', 'StepDecay'\], got " + re.escape(repr(name))):
        schedule_from_config({"name": name, "value": 1.0})


def test_a_schedule_of_your_own_works_but_is_not_rebuilt():
    c = Constant(0.5)
    assert type(Constant(np.float64(0.5))(1)) is float and type(Constant(np.float32(0.5)).values(2)[1]) is float
    assert c.values(3) == [0.5] * 3 and c.get_config() == {"name": "Constant", "value": 0.5}
    with pytest.raises(ValueError, match="Constant"):
        schedule_from_config(c.get_config())


def test_schedule_from_config_refuses_missing_name_and_non_dicts():
    with pytest.raises(ValueError, match=r"config\['name'\].*got None"):
        schedule_from_config({"initial": 1.0, "rate": 0.5})
    for bad in (None, [("name", "ExponentialDecay")], "ExponentialDecay", ExponentialDecay(1.0, 0.5)):
        with pytest.raises(TypeError, match="config must be a dict"):
            schedule_from_config(bad)


@pytest.mark.parametrize("config, words", [
    ({"name": "ExponentialDecay", "initial": 1.0}, r"missing \['rate'\] and unknown \[\]"),
    ({"name": "ExponentialDecay", "initial": 1.0, "rate": 0.5, "extra": 1}, r"missing \[\] and unknown \['extra'\]"),
    ({"name": "StepDecay", "initial": 1.0, "factor": 0.5, "evry": 2}, r"missing \['every'\] and unknown \['evry'\]"),
    ({"name": "LinearRamp", "start": 0.0, "end": 1.0, "epochs": 2, 3: 4}, r"unknown \[3\]"),
    ({"name": "CosineDecay"}, r"missing \['initial', 'final', 'epochs'\]"),
])
def test_schedule_from_config_refuses_bad_keys(config, words):
    with pytest.raises(ValueError, match=rf"^config for {config['name']} must have the keys .*{words}"):
        schedule_from_config(config)


@pytest.mark.parametrize("config, exc, arg", [
    ({"name": "ExponentialDecay", "initial": 1.0, "rate": -0.5}, ValueError, "rate"),
    ({"name": "StepDecay", "initial": 1.0, "factor": 0.5, "every": 0}, ValueError, "every"),
    ({"name": "LinearRamp", "start": "0", "end": 1.0, "epochs": 2}, TypeError, "start"),
    ({"name": "CosineDecay", "initial": 1.0, "final": math.nan, "epochs": 2}, ValueError, "final"),
])
def test_schedule_from_config_validates_the_values(config, exc, arg):
    with pytest.raises(exc, match=rf"^{arg} must be"):
        schedule_from_config(config)


# ----------------------------------------------------------------------------- the package
def test_docstring_examples_run():
    result = doctest.testmod(minikd.schedules)
    assert result.attempted >= 5 and result.failed == 0, result


def test_the_module_is_public():
    assert "schedules" in minikd.__all__ and minikd.schedules is minikd.schedules
    assert set(minikd.schedules.__all__) == {"Schedule", "ExponentialDecay", "StepDecay", "LinearRamp",
                                              "CosineDecay", "schedule_from_config"}
