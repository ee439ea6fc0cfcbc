"""What a learner meets stepping through ``train_step`` in a debugger, measured with ``sys.settrace``.

The promise: step 3 is one call of the loss, "step into" on it lands in the strategy's
``_compute_step``, whose one line (for a logit loss) hands the logits to ``_compute``, the math; the
student's softmax is at most 4 frames below ``train_step``: at most 12 line events from the step-3 line
to the first line of the softmax, and at most 51 from entering ``train_step``. Step 2's forward through a
[64, 32, 10] student is most of those (3 of them the dropout lines of ``MLP._forward_train``: the rates,
the input and one per hidden layer, skipped expressions at rate 0); step 1 asks for the teacher's logits
and hidden layers, and step 3's call spans two lines. These were 10 and 40 before hidden-layer losses
and dropout: the hop through ``_compute_step`` (where a feature loss picks its layers), the teacher's
hidden layers and dropout cost 9. The SGD update formula is one frame below ``train_step``. These counts
are what a debugger's "step" shows, one event per press.
"""

import linecache
import sys

import numpy as np
import pytest

from minikd import MLP, SGD, DistillationLoss, KnowledgeDistillationTrainer, functional
from minikd.datasets import load_digits
from minikd.optim import SGD as SGDClass
from minikd.trainer import KnowledgeDistillationTrainerBase


def _trace_step(trainer, student, optimizer, X, y, idx):
    """Run one train_step under a tracer; return its events as (kind, function, depth below
    train_step, line text), kind "call" or "line", in order."""
    events = []

    def depth(frame):
        d = 0
        while frame is not None and frame.f_code.co_name != "train_step":
            frame, d = frame.f_back, d + 1
        return d

    def tracer(frame, event, arg):
        if event in ("call", "line"):
            text = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
            events.append((event, frame.f_code.co_name, depth(frame), text))
        return tracer

    sys.settrace(tracer)
    try:
        trainer.train_step(student, X, y, idx, optimizer, validate=False)
    finally:
        sys.settrace(None)
    return events


@pytest.fixture(scope="module")
def setup():
    X, y = load_digits()
    X, y = X[:256], y[:256]
    teacher = MLP([64, 256, 256, 10], seed=0)
    trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=4.0, alpha=0.1), seed=0)
    student = MLP([64, 32, 10], seed=0)
    optimizer = SGD(learning_rate=0.05, momentum=0.9)
    trainer.train(student, X, y, epochs=1, batch_size=32, optimizer=optimizer, verbose=0)  # fills the cache
    idx = np.arange(32)
    return trainer, student, optimizer, X[idx], y[idx], idx


def test_step_into_step_3_lands_in_the_math_and_reaches_the_softmax_in_few_steps(setup):
    trainer, student, optimizer, X, y, idx = setup
    events = _trace_step(trainer, student, optimizer, X, y, idx)
    lines = [e for e in events if e[0] == "line"]
    step3 = next(i for i, (_, name, _, text) in enumerate(lines) if name == "train_step" and "# 3." in text)
    softmax = next(i for i, (_, name, _, _) in enumerate(lines) if name == "_log_softmax64")
    # "step into" on the step-3 line: the first frame entered is the strategy's math, one below train_step
    at = events.index(lines[step3])
    calls = [e for e in events[at:] if e[0] == "call"]
    assert calls[0][1:3] == ("_compute_step", 1), calls[0]
    hop = [text for kind, name, _, text in events[at:] if kind == "line" and name == "_compute_step"]
    assert hop == ["return self._compute(z, v, labels_kind, labels)"], hop  # one line, then the math
    assert calls[1][1:3] == ("_compute", 2), calls[1]
    assert lines[softmax][2] <= 4, f"the student's softmax is {lines[softmax][2]} frames below train_step"
    shown = [f"{name}: {text}" for _, name, _, text in lines[step3:softmax + 1]]
    assert softmax - step3 <= 12, f"{softmax - step3} line events from step 3 to the softmax: {shown}"
    assert softmax + 1 <= 51, f"{softmax + 1} line events from entering train_step to the softmax"


def test_the_sgd_formula_is_one_frame_below_train_step(setup):
    trainer, student, optimizer, X, y, idx = setup
    events = _trace_step(trainer, student, optimizer, X, y, idx)
    step_calls = [e for e in events if e[0] == "call" and e[1] == "_step"]
    assert len(step_calls) == 1 and step_calls[0][2] == 1, step_calls
    formula = [text for kind, name, depth, text in events if kind == "line" and name == "_step" and depth == 1]
    assert any("w -= lr * g" in text for text in formula), formula
    assert "_step" in SGDClass.__dict__  # SGD's own _step holds the formula, not a base-class dispatcher


def test_the_four_steps_are_four_marked_lines_of_train_step():
    import inspect

    source = inspect.getsource(KnowledgeDistillationTrainerBase.train_step)
    for k in "1234":
        assert sum(f"# {k}." in line for line in source.splitlines()) == 1, k
    assert "self.strategy._compute_step(" in source and "inspect" not in source
    assert functional._log_softmax64  # the function the count above stops at exists
