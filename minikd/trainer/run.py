"""One call of ``train``: its arguments checked once, and what changes as the run goes on."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .._run_state import History
from .._validation import check_int, check_labels, describe
from ..optim import SGD
from ._helpers import _check_callbacks, _check_optimizer, _check_student, _check_X, _label_kind

__all__ = ["Lane", "Run", "augmented_batch", "bind_strategy", "check_enough_samples", "check_train_arguments",
           "check_step_arguments", "check_y", "check_class_counts", "learn_teacher_classes"]


@dataclass
class Lane:
    """One student of a run and what trains it: a distillation run has one lane, mutual learning one per student.

    Attributes
    ----------
    student : MLP
    optimizer : Optimizer
    params : dict of str -> ndarray
        What the optimizer updates: the student's parameters ("W1", "b1", ...) and the strategy's
        (``"strategy.W"``, ``"strategy.1.W"``, ...: see ``DistillationStrategy._named_params``), the
        same arrays (not copies).
    history : History
        The student's history (replaced by the checkpoint's on resume).
    """

    student: object
    optimizer: object
    params: dict = field(default_factory=dict)
    history: History = field(default_factory=History)


@dataclass
class Run:
    """The validated arguments of one ``train`` call and the state it builds up.

    Attributes
    ----------
    lanes : list of Lane
        The students and their optimizers: one for the distillation trainers, one per student of the
        cohort for :class:`~minikd.MutualLearningTrainer`.
    X : ndarray of shape (N, D), in the students' dtype
    y : ndarray of shape (N,) of int64, (N, C) probability rows, or None
    y_kind : {"index", "prob", None}
    epochs, batch_size : int
    X_val : ndarray of shape (M, D), or None
    y_val : ndarray of shape (M,) or (M, C), or None
    callbacks : tuple
    verbose : int
    augment : callable or None
        ``augment(X_batch, rng) -> X_batch``, applied to every training batch (see ``train``).
    monitor : {"val_loss", "loss"}
        What early stopping watches (with several students: its mean over them).
    val_teacher : tuple (ndarray of shape (M, C) or None, dict of int -> ndarray of shape (M, H)), or None
        The teacher's outputs on the validation set (logits and the required hidden layers), computed
        once per run (mutual learning computes its peers' after every epoch instead).
    logs : dict
        The last epoch's metrics (what callbacks receive).
    epoch_started : float
        ``time.perf_counter()`` at the start of the current epoch.
    """

    lanes: list
    X: np.ndarray
    y: np.ndarray | None
    y_kind: str | None
    epochs: int
    batch_size: int
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    callbacks: tuple
    verbose: int
    monitor: str
    augment: object = None
    val_teacher: tuple | None = None
    logs: dict = field(default_factory=dict)
    epoch_started: float = 0.0

    @property
    def params(self) -> dict:
        """What early stopping keeps and restores: the one lane's ``params``, or with several students
        every lane's under ``"{k}.{name}"`` (``"0.W1"``, ``"1.W1"``, ...), the same arrays."""
        if len(self.lanes) == 1:
            return self.lanes[0].params
        return {f"{k}.{name}": a for k, lane in enumerate(self.lanes) for name, a in lane.params.items()}


def check_train_arguments(trainer, students, X, y, epochs, batch_size, optimizers, validation_data, callbacks,
                          verbose, resume_from=None, augment=None) -> Run:
    """Validate the arguments of ``trainer.train`` (see its docstring) and return them as a :class:`Run`.

    Parameters
    ----------
    students, optimizers : list
        One per lane: ``[student]`` and ``[optimizer]`` (None for the default SGD) for the distillation
        trainers; a cohort of students (checked against each other by the caller: the same inputs,
        classes and dtype) and their optimizers for mutual learning. The data are checked against
        ``students[0]``.

    Raises
    ------
    TypeError, ValueError
        Naming the argument, the rule and the value received.
    """
    for student in students:
        _check_student(student)
    first = students[0]  # the data are checked against it (a cohort's students agree on inputs, classes, dtype)
    X = _check_X(X, "X", first)
    n = X.shape[0]
    y = _check_labels_after_classes(trainer, y, "y", X, first)
    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if batch_size > n:
        raise ValueError(f"batch_size must be at most the number of training samples ({n}), got {batch_size}")
    check_enough_samples(trainer.strategy, batch_size, "batch_size must be at least {m}")
    optimizers = [SGD(learning_rate=0.01, momentum=0.9) if opt is None else opt for opt in optimizers]
    lanes = []
    for model, optimizer in zip(students, optimizers, strict=True):
        _check_optimizer(optimizer)
        params = bind_strategy(trainer, model)
        if resume_from is None:  # a resume replaces the optimizer's state with the checkpoint's
            optimizer.check_params(params, stacklevel=4)  # a warning points at the call of train()
        lanes.append(Lane(model, optimizer, params))
    verbose = check_int(verbose, "verbose", minimum=0, maximum=2)
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be a callable augment(X_batch, rng) -> X_batch or None, got {describe(augment)}")
    callbacks = _check_callbacks(callbacks)
    X_val = y_val = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError(f"validation_data must be a tuple (X_val, y_val), got {describe(validation_data)}")
        X_val = _check_X(validation_data[0], "validation_data[0] (X_val)", first)
        _, y_val = check_labels(validation_data[1], "validation_data[1] (y_val)", X_val.shape[0],
                                first.output_dim, first.dtype)
        check_enough_samples(trainer.strategy, X_val.shape[0], "validation_data must hold at least {m} samples")
    trainer.strategy._check_range(first.dtype)  # e.g. a temperature beyond float32's accurate range: warns
    trainer.strategy._check_schedules(epochs, first.dtype)  # every epoch's scheduled temperature
    for optimizer in optimizers:
        optimizer._check_schedules(epochs)  # every epoch's scheduled learning rate and momentum
    monitor = trainer.early_stopping_monitor
    if monitor is None:
        monitor = "val_loss" if X_val is not None else "loss"
        if trainer.use_early_stopping and X_val is None:
            warnings.warn("early stopping without validation_data monitors the training loss", UserWarning,
                          stacklevel=3)
    elif monitor.startswith("val_") and X_val is None:
        raise ValueError(f"early_stopping_monitor={monitor!r} needs validation_data, got validation_data=None; "
                         "pass validation_data or monitor 'loss'")
    return Run(lanes, X, y, _label_kind(y), epochs, batch_size, X_val, y_val, callbacks, verbose,
               monitor=monitor, augment=augment)


def augmented_batch(run: Run, X_batch: np.ndarray, rng) -> np.ndarray:
    """``run.augment(X_batch, rng)``, checked: finite, of X_batch's shape, cast to the student's dtype."""
    out = run.augment(X_batch, rng)
    where = "the batch returned by augment(X_batch, rng)"
    out = _check_X(out, where, run.lanes[0].student)
    if out.shape != X_batch.shape:
        raise ValueError(f"{where} must have the shape of X_batch {X_batch.shape}, got shape {out.shape}")
    return out


def check_enough_samples(strategy, n: int, rule: str) -> None:
    """ValueError if ``n`` samples are fewer than ``strategy.min_batch_size`` (a relational loss compares
    samples: RKD needs 3); ``rule`` is the message's start, with ``{m}`` for the minimum."""
    m = strategy.min_batch_size
    if n < m:
        raise ValueError(f"{rule.format(m=m)} for {type(strategy).__name__} (its loss compares samples within a "
                         f"batch), got {n}")


def bind_strategy(trainer, student) -> dict:
    """Check the strategy's layers and widths against the student and the teacher, build its trainable
    arrays (HintLoss's regressor), and return what the optimizer updates: the student's parameters and
    the strategy's, ``{"W1": ..., "b1": ..., "strategy.W": ...}``.

    Raises
    ------
    ValueError
        For a hidden-layer index outside a model's layers, widths the loss cannot compare, or a
        strategy that reads the teacher's hidden layers with a teacher that cannot give them.
    """
    trainer.strategy._bind(student.hidden_sizes, trainer._teacher_hidden_sizes(), student.output_dim)
    return {**student.params, **trainer.strategy._named_params()}


def check_step_arguments(trainer, student, X_batch, y_batch, indices, optimizer):
    """Validate the arguments of ``trainer.train_step`` (with ``validate=True``); return X_batch, y_batch, indices."""
    _check_student(student)
    _check_optimizer(optimizer)
    optimizer.check_params(bind_strategy(trainer, student))
    X_batch = _check_X(X_batch, "X_batch", student)
    n = X_batch.shape[0]
    check_enough_samples(trainer.strategy, n, "X_batch must hold at least {m} samples")
    learn_teacher_classes(trainer, X_batch)
    check_class_counts(trainer, student)  # class counts before labels: y is checked against the student's C
    y_batch = check_y(trainer, y_batch, "y_batch", n, student)
    if indices is not None:
        idx = np.asarray(indices)
        if idx.dtype.kind not in "iu" or idx.shape != (n,):
            raise ValueError(f"indices must be {n} integer dataset indices, got {describe(indices)}")
        if idx.size and idx.min() < 0:
            raise ValueError(f"indices must be non-negative dataset indices, got {int(idx.min())}")
        cache = getattr(trainer, "_cache", None)
        if cache is not None and idx.size and idx.max() >= cache.shape[0]:
            raise ValueError(
                f"indices must be < {cache.shape[0]} (the size of the training set whose teacher logits "
                f"are cached), got {int(idx.max())}"
            )
        indices = idx
    trainer.strategy._check_range(student.dtype)
    trainer._dtype = student.dtype  # teacher logits are cast to it (step 3 takes one dtype)
    return X_batch, y_batch, indices

def _check_labels_after_classes(trainer, y, name, X, student):
    """``check_y``, with the class counts of teacher and student compared first: a class-count mismatch
    is the real problem behind labels out of the student's range. A callable teacher's number of classes
    is known only once it is called, so it is asked only if the labels fail (it must run once per
    training sample per ``train`` call)."""
    check_class_counts(trainer, student)
    try:
        return check_y(trainer, y, name, X.shape[0], student)
    except ValueError:
        learn_teacher_classes(trainer, X)
        check_class_counts(trainer, student)
        raise


def check_y(trainer, y, name, n, student):
    """Labels for ``n`` samples of ``student``, in canonical form (``check_labels``), or None if the
    strategy allows it; ValueError if the strategy needs labels and gets None."""
    if y is None:
        if trainer.strategy.requires_labels:
            raise ValueError(
                f"{name} is required by {type(trainer.strategy).__name__} (its loss needs labels), got None"
            )
        return None
    _, y = check_labels(y, name, n, student.output_dim, student.dtype)
    return y


def learn_teacher_classes(trainer, X) -> None:
    """Ask a callable teacher for one sample's logits if its number of classes is still unknown."""
    if trainer._teacher_output_dimension() is None and hasattr(trainer, "teacher"):
        trainer.teacher.get_logits(X[:1])


def check_class_counts(trainer, student) -> None:
    """ValueError if the teacher's number of classes (when known) is not the student's."""
    teacher_dim = trainer._teacher_output_dimension()
    if teacher_dim is not None and teacher_dim != student.output_dim:
        raise ValueError(
            f"the teacher's output dimension ({teacher_dim}) must equal the student's number of "
            f"classes (layer_sizes[-1] = {student.output_dim})"
        )
