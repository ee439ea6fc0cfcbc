"""Small helpers of the loop: argument checks shared by the trainers, accuracy, and progress output."""

from __future__ import annotations

import sys

import numpy as np

from .._validation import check_features, check_instance, describe
from ..optim import Optimizer


def _accuracy(logits: np.ndarray, y_kind, y) -> float:
    pred = logits.argmax(axis=1)
    truth = y if y_kind == "index" else y.argmax(axis=1)
    return float(np.mean(pred == truth))


def _label_kind(y) -> str | None:
    """Kind of canonical labels: None, "index" (int (N,)) or "prob" ((N, C) rows)."""
    if y is None:
        return None
    return "index" if y.ndim == 1 else "prob"


def _check_student(student) -> None:
    if not (callable(getattr(student, "_forward_train", None)) and hasattr(student, "params")):
        hint = " (a class: did you forget the ()?)" if isinstance(student, type) else ""
        raise TypeError(f"student must be a minikd MLP, got {describe(student)}{hint}")


def _check_optimizer(optimizer) -> None:
    check_instance(optimizer, Optimizer, "optimizer", "a minikd optimizer instance (SGD(...), Adam(...))")


def _check_X(X, name: str, student) -> np.ndarray:
    return check_features(X, name, student.input_dim, student.dtype, ndim=2, what="the student's layer_sizes[0]")


def _check_callbacks(callbacks):
    if callbacks is None:
        return ()
    if callable(callbacks) or hasattr(callbacks, "on_epoch_end"):
        callbacks = (callbacks,)
    try:
        callbacks = tuple(callbacks)
    except TypeError:
        raise TypeError(f"callbacks must be a sequence of callbacks, got {describe(callbacks)}") from None
    for i, cb in enumerate(callbacks):
        if not (callable(cb) or any(hasattr(cb, m) for m in ("on_train_begin", "on_epoch_end", "on_train_end"))):
            raise TypeError(
                f"callbacks[{i}] must be a callable f(epoch, logs) or have on_epoch_end/on_train_begin/"
                f"on_train_end, got {describe(cb)}"
            )
    return callbacks


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.4f}"


def _epoch_line(epoch: int, epochs: int, logs: dict) -> str:
    width = len(str(epochs))
    parts = [f"epoch {epoch:>{width}}/{epochs}", f"loss {_fmt(logs['loss'])}"]
    if logs.get("soft_loss") is not None or logs.get("hard_loss") is not None:
        parts[-1] += f" (soft {_fmt(logs.get('soft_loss'))}, hard {_fmt(logs.get('hard_loss'))})"
    if "val_loss" in logs:
        parts.append(f"val_loss {_fmt(logs['val_loss'])}")
        parts.append(f"val_acc {_fmt(logs['val_accuracy'])}")
        if logs.get("teacher_agreement") is not None:
            parts.append(f"agree {_fmt(logs['teacher_agreement'])}")
        if "students" in logs:  # a cohort: the values above are means; each student's accuracy
            parts.append("students' val_acc " + "/".join(_fmt(s.get("val_accuracy")) for s in logs["students"]))
    parts.append(f"{logs['epoch_time']:.2f}s")
    return "  ".join(parts)


def _progress_bar(epoch, epochs, b, n_batches, loss) -> None:
    width = 30
    done = int(width * b / n_batches)
    sys.stdout.write(f"\repoch {epoch}/{epochs} [{'=' * done}{' ' * (width - done)}] "
                     f"{b}/{n_batches} loss {loss:.4f}")
    sys.stdout.flush()


def _print_epoch(epoch: int, epochs: int, logs: dict, bar: bool) -> None:
    """The epoch's line of progress output (clearing the live batch bar first, on a terminal)."""
    if bar and sys.stdout.isatty():
        sys.stdout.write("\r\033[K")
    print(_epoch_line(epoch, epochs, logs), flush=True)
