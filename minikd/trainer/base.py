"""The loop, once: ``train`` as the outline of a run, and ``train_step``, the four steps of distillation."""

from __future__ import annotations

import math
import sys
import time
from typing import NamedTuple

import numpy as np

from .._run_state import (
    History,
    TrainingDivergedError,
)
from .._threads import blas_threads_for
from .._validation import (
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_nonnegative_float,
    check_seed,
    describe,
)
from ..strategies import DistillationStrategy
from ._helpers import _print_epoch, _progress_bar
from .early_stopping import EarlyStopping
from .evaluation import EvaluationMixin
from .resume import RunStateMixin, run_fingerprint
from .run import (
    Run,
    augmented_batch,
    check_class_counts,
    check_step_arguments,
    check_train_arguments,
    learn_teacher_classes,
)

__all__ = ["KnowledgeDistillationTrainerBase", "StepRecord"]

#: What early stopping may watch (``early_stopping_monitor``): the epoch's logs of those names.
MONITORS = ("val_loss", "loss", "val_accuracy")


class StepRecord(NamedTuple):
    """What one :meth:`train_step` did, for progress output, tutorials and debuggers.

    Attributes
    ----------
    loss : float
        The strategy's loss on the batch (before the update).
    soft_loss, hard_loss : float or None
        The weighted soft (teacher) and hard (label) parts; ``loss == soft_loss + hard_loss``
        where both exist.
    student_logits : ndarray of shape (B, C)
    teacher_logits : ndarray of shape (B, C), or None without a teacher
        (:class:`~minikd.MutualLearningTrainer`: (P, B, C), the student's P peers' logits)
    dlogits : ndarray of shape (B, C)
        Gradient of the loss with respect to the student logits.
    grad_norm : float
        Global L2 norm of the parameter gradients.
    batch_size : int
    """

    loss: float
    soft_loss: float | None
    hard_loss: float | None
    student_logits: np.ndarray
    teacher_logits: np.ndarray | None
    dlogits: np.ndarray
    grad_norm: float
    batch_size: int


class KnowledgeDistillationTrainerBase(EvaluationMixin, RunStateMixin):
    """The training loop, once: batches, the four-step ``train_step``, epochs, metrics, early
    stopping, callbacks, checkpoints and progress output.

    Subclasses provide :meth:`get_teacher_predictions` (and may override :meth:`_begin_train`).

    Parameters
    ----------
    distillation_strategy : DistillationStrategy
        The loss and its gradient (``minikd.strategies``).
    checkpoint_config : DistillationCheckpointConfig, optional
        Where and when to save checkpoints; None saves nothing.
    use_early_stopping : bool, default False
    early_stopping_min_delta : float, default 0.001
    early_stopping_patience : int, default 5
    restore_best_weights : bool, default True
        With early stopping: end with the parameters of the best epoch.
    seed : int >= 0, numpy.random.Generator or None
        Seeds the one ``np.random.default_rng`` that shuffles batches, created anew at the start of
        every ``train`` call: the same int seed gives bit-identical students; None draws fresh
        entropy. A Generator is used as it is and advanced (each ``train`` call continues it).
    early_stopping_monitor : {None, "val_loss", "loss", "val_accuracy"}, default None
        What early stopping watches: None is ``"val_loss"`` with ``validation_data`` and ``"loss"``
        without (with a warning); ``"val_accuracy"`` (higher is better) and ``"val_loss"`` need
        ``validation_data``. ``min_delta`` is in the monitored value's units.
    """

    def __init__(self, distillation_strategy, checkpoint_config=None, use_early_stopping: bool = False,
                 early_stopping_min_delta: float = 0.001, early_stopping_patience: int = 5,
                 restore_best_weights: bool = True, seed: int | None = None, early_stopping_monitor=None):
        self.strategy = check_instance(distillation_strategy, DistillationStrategy, "distillation_strategy",
                                       "a minikd DistillationStrategy instance")
        if checkpoint_config is not None and not hasattr(checkpoint_config, "checkpoint_directory"):
            raise TypeError(
                f"checkpoint_config must be a DistillationCheckpointConfig or None, got {describe(checkpoint_config)}"
            )
        self.checkpoint_config = checkpoint_config
        self.use_early_stopping = check_bool(use_early_stopping, "use_early_stopping")
        self.early_stopping_monitor = early_stopping_monitor  # None: val_loss with validation data, else loss
        self.early_stopping = _early_stopping(early_stopping_patience, early_stopping_min_delta,
                                              restore_best_weights, early_stopping_monitor)
        self.seed = check_seed(seed)
        self.rng = np.random.default_rng(self.seed)
        self.history = None
        self._dtype = None  # the student's dtype during a run: teacher logits are cast to it

    # ------------------------------------------------------------------ hooks for subclasses
    @property
    def distillation_strategy(self):
        """The strategy (loss) in use."""
        return self.strategy

    def get_teacher_predictions(self, X_batch: np.ndarray, indices: np.ndarray | None):
        """Teacher logits for a batch.

        Parameters
        ----------
        X_batch : ndarray of shape (B, D)
        indices : ndarray of int of shape (B,), or None
            The **dataset** indices of the batch's samples (positions in the ``X`` given to
            ``train``), so a cache keyed by them stays right under shuffling. None: not from the
            training set (no caching).

        Returns
        -------
        ndarray of shape (B, C), or None for a trainer without a teacher
        """
        raise NotImplementedError

    def get_teacher_hidden(self, X_batch: np.ndarray, indices: np.ndarray | None) -> dict:
        """The teacher's hidden layers that the strategy reads (``strategy.required_teacher_layers``).

        Parameters
        ----------
        X_batch : ndarray of shape (B, D)
        indices : ndarray of int of shape (B,), or None
            As for :meth:`get_teacher_predictions`.

        Returns
        -------
        dict of int -> ndarray of shape (B, H)
            Keyed by the layer indices as the strategy declares them (-1 the teacher's last hidden
            layer); ``{}`` here: a trainer without a teacher has none.
        """
        return {}

    def get_teacher_outputs(self, X_batch: np.ndarray, indices: np.ndarray | None) -> tuple:
        """Step 1 of :meth:`train_step`: ``(logits, hidden)``, from :meth:`get_teacher_predictions` and
        :meth:`get_teacher_hidden`."""
        return self.get_teacher_predictions(X_batch, indices), self.get_teacher_hidden(X_batch, indices)

    def _begin_train(self, X: np.ndarray, X_val: np.ndarray | None, dtype, cache: bool = True) -> None:
        """Called once at the start of ``train`` (reset caches here; ``cache`` False: no step will read a
        cache by dataset index, as with ``augment``)."""

    def _teacher_output_dimension(self) -> int | None:
        return None

    def _teacher_hidden_sizes(self) -> tuple | None:
        """The teacher's hidden widths, or None if it cannot give hidden layers."""
        return None

    # ------------------------------------------------------------------ one step
    def train_step(self, student, X_batch, y_batch, indices, optimizer, validate: bool = True) -> StepRecord:
        """One distillation step on a minibatch: the four steps of the method, then the update.

        Parameters
        ----------
        student : MLP
            Updated in place.
        X_batch : ndarray of shape (B, D)
        y_batch : ndarray of shape (B,) of int, (B, C) probability rows, or None
        indices : ndarray of int of shape (B,), or None
            Dataset indices of the batch (see :meth:`get_teacher_predictions`).
        optimizer : SGD or Adam
        validate : bool, default True
            Check the inputs. ``train`` validates the whole data set once and passes False.

        Returns
        -------
        StepRecord

        Raises
        ------
        TrainingDivergedError
            If the loss or a gradient is not finite; the update is then not applied.
        """
        if validate:
            X_batch, y_batch, indices = check_step_arguments(self, student, X_batch, y_batch, indices, optimizer)
        y_kind = None if y_batch is None else ("index" if y_batch.ndim == 1 else "prob")  # class indices or rows

        teacher_logits, teacher_hidden = self.get_teacher_outputs(X_batch, indices)    # 1. (B, C) or None; {k: (B, H)}
        student_logits, cache = student._forward_train(X_batch)                         # 2. (B, C); cache.hidden
        loss, dlogits, parts = self.strategy._compute_step(student_logits, teacher_logits, y_kind, y_batch,
                                                           cache, teacher_hidden)     # 3. a logit loss: _compute
        grads = student._backward(dlogits, cache, parts.get("dhidden")) | parts.get("dparams", {})  # 4.

        # One pass over the gradients gives both StepRecord.grad_norm and the divergence check
        # (a non-finite entry makes the norm inf or NaN): about 1-3 % of a step, measured in
        # benchmarks/README.md. math.* on Python floats avoids NumPy's scalar overhead.
        grad_norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            raise TrainingDivergedError(f"the loss ({loss}) or the gradient norm ({grad_norm}) is not finite")
        optimizer._step(student.params | self.strategy._named_params(), grads)  # the student's and the strategy's
        student.apply_max_norm()  # MLP(max_norm=c): project hidden units' incoming weights (nothing if None)
        return StepRecord(loss, parts.get("soft"), parts.get("hard"), student_logits,
                          teacher_logits, dlogits, grad_norm, X_batch.shape[0])

    # ------------------------------------------------------------------ the run, as an outline
    def train(self, student, X, y=None, epochs: int = 20, batch_size: int = 32, optimizer=None,
              validation_data=None, callbacks=(), verbose: int = 1, resume_from=None, augment=None) -> History:
        """Train ``student`` in place and return its :class:`History`.

        Parameters
        ----------
        student : MLP
            The model to train (updated in place).
        X : array_like of shape (N, D)
            Training inputs (the transfer set).
        y : array_like of shape (N,) of int or (N, C) of probability rows, optional
            Labels. None trains on the teacher's outputs alone (an unlabelled transfer set).
        epochs : int >= 1, default 20
            Total number of epochs (a resumed run continues up to this number).
        batch_size : int in [1, N], default 32
        optimizer : SGD or Adam, optional
            Default ``SGD(learning_rate=0.01, momentum=0.9)``.
        validation_data : tuple (X_val, y_val), optional
            Evaluated after every epoch: ``val_loss`` (the strategy's loss with labels),
            ``val_accuracy`` and ``teacher_agreement``.
        callbacks : sequence
            Objects with any of ``on_train_begin(trainer, logs)``, ``on_epoch_end(epoch, logs)``,
            ``on_train_end(trainer, logs)``, or plain callables ``f(epoch, logs)``. An
            ``on_epoch_end``/callable that returns True stops training after that epoch.
        verbose : {0, 1, 2}, default 1
            0 silent; 1 one line per epoch; 2 also a live batch progress bar on a terminal.
        resume_from : str or path, optional
            A checkpoint file (or "latest", with a ``checkpoint_config``) to continue from. The
            result is bit-for-bit the run that never stopped. A checkpoint of a run that had
            already ended early (early stopping or a callback) is complete: it is loaded (best
            weights restored) and not trained further.
        augment : callable, optional
            ``augment(X_batch, rng) -> X_batch`` of the same shape (e.g. ``minikd.datasets.shift_digits``)
            on each training batch, with the trainer's generator (resume stays bit-identical). The teacher
            sees it too: one teacher pass per sample per epoch, no cache. Validation is never augmented.

        Returns
        -------
        History
        """
        run = check_train_arguments(self, [student], X, y, epochs, batch_size, [optimizer], validation_data,
                                    callbacks, verbose, resume_from, augment)
        return self._train_run(run, resume_from)

    def _train_run(self, run: Run, resume_from):
        """The run, as an outline: checkpoints opened, the run started (or resumed), then per epoch
        :meth:`_run_epoch`, :meth:`_end_epoch` and the checkpoint; returns :meth:`_finish_run`'s histories."""
        largest = max((lane.student for lane in run.lanes), key=lambda m: m.num_parameters)
        with blas_threads_for(largest, run.batch_size):  # one BLAS thread for a small model (minikd/_threads.py)
            manager = self._open_checkpoints(run)  # None without a checkpoint_config; holds the directory's lock
            try:
                first_epoch = self._start_run(run, manager, resume_from)  # teacher cache, fingerprint, resume
                for epoch in range(first_epoch, run.epochs + 1):
                    self._run_epoch(run, epoch)  # train_step on every minibatch
                    stop = self._end_epoch(run, epoch)  # validation, early stopping, callbacks, progress
                    if manager is not None:
                        self._save_checkpoint(manager, run, epoch, final=stop or epoch == run.epochs)
                    if stop:
                        break
                return self._finish_run(run)  # the best weights back, on_train_end
            finally:
                self.strategy._set_epoch(1)  # outside train, a schedule reads as its epoch-1 value
                for lane in run.lanes:
                    lane.optimizer._set_epoch(1)
                if manager is not None:
                    manager.release()

    def _start_run(self, run: Run, manager, resume_from) -> int:
        """Reset the run's state, fill the teacher cache, resume if asked; return the first epoch to train."""
        self.history, self.rng = _histories(run), np.random.default_rng(self.seed)
        self.early_stopping.reset()
        student = run.lanes[0].student
        self._begin_train(run.X, run.X_val, student.dtype, cache=run.augment is None)
        learn_teacher_classes(self, run.X)  # a callable teacher knows its C only once called
        check_class_counts(self, student)
        self._fingerprint = None if manager is None and resume_from is None else run_fingerprint(self, run)
        first_epoch = 1 if resume_from is None else self._resume(resume_from, manager, run)  # the next epoch
        if manager is not None:
            manager.begin(None if resume_from is None else first_epoch - 1)
        for cb in run.callbacks:
            if hasattr(cb, "on_train_begin"):
                cb.on_train_begin(self, run.logs)
        return first_epoch

    def _train_batch(self, run: Run, X_batch, y_batch, indices) -> list:
        """One minibatch of an epoch: :meth:`train_step` on the run's student; one StepRecord per student
        (:class:`~minikd.MutualLearningTrainer` steps every student of its cohort here)."""
        (lane,) = run.lanes
        return [self.train_step(lane.student, X_batch, y_batch, indices, lane.optimizer, validate=False)]

    def _validation_teacher(self, run: Run, k: int) -> tuple:
        """The teacher's outputs ``(logits, hidden)`` on the validation set for student ``k``: here the
        teacher's, computed once per run (mutual learning's teachers are the other students, as they are now)."""
        if run.val_teacher is None:
            run.val_teacher = self.get_teacher_outputs(run.X_val, None)  # (logits, hidden), once per run
        return run.val_teacher

    def _run_epoch(self, run: Run, epoch: int) -> None:
        """Shuffle, run :meth:`train_step` on every minibatch, and record the epoch's losses."""
        run.epoch_started = time.perf_counter()
        self.strategy._set_epoch(epoch)  # scheduled hyperparameters (minikd.schedules): one value per epoch
        for lane in run.lanes:
            lane.optimizer._set_epoch(epoch)
        X, y, n, batch_size = run.X, run.y, run.X.shape[0], run.batch_size
        n_batches = -(-n // batch_size)
        if n_batches > 1 and 0 < n % batch_size < self.strategy.min_batch_size:
            n_batches -= 1  # a last batch too small for the loss (RKD's angles need 3) joins the one before
        bar = run.verbose >= 2 and sys.stdout.isatty()
        perm = self.rng.permutation(n)
        # per student, sample-weighted: the sum of batch mean x batch size
        sums = [{"loss": 0.0, "soft": None, "hard": None} for _ in run.lanes]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            for b in range(n_batches):
                idx = perm[b * batch_size:(b + 1) * batch_size if b < n_batches - 1 else n]  # dataset indices
                X_batch = X[idx] if run.augment is None else augmented_batch(run, X[idx], self.rng)
                try:  # an augmented batch is not in the teacher's cache: no indices
                    records = self._train_batch(run, X_batch, None if y is None else y[idx],
                                                idx if run.augment is None else None)
                except TrainingDivergedError as exc:
                    raise TrainingDivergedError(
                        f"training diverged at epoch {epoch}, batch {b + 1}/{n_batches}: {exc}. The student keeps "
                        "its last finite parameters; try a smaller learning rate, gradient-friendlier inputs "
                        "(scaled to [0, 1]) or a lower temperature.", epoch=epoch, batch=b + 1) from None
                for lane_sums, rec in zip(sums, records, strict=True):
                    lane_sums["loss"] += rec.loss * rec.batch_size
                    for part, value in (("soft", rec.soft_loss), ("hard", rec.hard_loss)):
                        if value is not None:
                            lane_sums[part] = (lane_sums[part] or 0.0) + value * rec.batch_size
                if bar:
                    done = min(n, (b + 1) * batch_size)
                    _progress_bar(epoch, run.epochs, b + 1, n_batches, sum(t["loss"] for t in sums) / len(sums) / done)
        # The loss and gradient were finite at every step, but an absurd update (a learning rate near
        # 1e308) can still overflow the parameters themselves; checked once per epoch (cheap).
        if not all(np.isfinite(p).all() for lane in run.lanes for p in lane.student.params.values()):
            raise TrainingDivergedError(
                f"training diverged at epoch {epoch}, batch {n_batches}/{n_batches} or earlier in the epoch: an "
                "update overflowed the parameters, which are no longer finite. Reload the latest checkpoint (if "
                "any) and use a smaller learning rate.", epoch=epoch, batch=n_batches)
        _record_losses(run, epoch, sums, self.strategy.temperature)

    def _end_epoch(self, run: Run, epoch: int) -> bool:
        """Validation metrics, early stopping, progress output and callbacks; True if the run stops here.
        With several students the logs (and what early stopping watches) are the means over them."""
        if run.X_val is not None:
            _record_validation(run, [self._metrics(lane.student, run.X_val, run.y_val, self._validation_teacher(run, k))
                                     for k, lane in enumerate(run.lanes)])
        logs = run.logs
        logs["epoch_time"] = time.perf_counter() - run.epoch_started
        for lane in run.lanes:
            lane.history.epoch_time.append(logs["epoch_time"])
        stop = False
        if self.use_early_stopping:
            stop = self.early_stopping.update(epoch, logs[run.monitor], run.params)  # the students' and the strategy's
        for lane in run.lanes:
            lane.history.best_epoch = self.early_stopping.best_epoch if self.use_early_stopping else epoch
        if run.verbose:
            _print_epoch(epoch, run.epochs, logs, bar=run.verbose >= 2)
        for cb in run.callbacks:
            fn = cb if not hasattr(cb, "on_epoch_end") else cb.on_epoch_end
            if callable(fn) and fn(epoch, dict(logs)) is True:
                stop = True
        if stop:
            for lane in run.lanes:
                lane.history.stopped_epoch = epoch
            if run.verbose:
                best = self.early_stopping.best if self.use_early_stopping else logs[run.monitor]
                print(f"stopped after epoch {epoch}; best epoch {run.lanes[0].history.best_epoch} "
                      f"({run.monitor} {best:.4f})")
        return stop

    def _finish_run(self, run: Run):
        """Put the best weights back (early stopping) and tell the callbacks; return the History (a list of
        them, one per student, with several students)."""
        if self.use_early_stopping:
            self.early_stopping.restore(run.params)
        for cb in run.callbacks:
            if hasattr(cb, "on_train_end"):
                cb.on_train_end(self, run.logs)
        return _histories(run)


def _early_stopping(patience, min_delta, restore_best_weights, monitor) -> EarlyStopping:
    """The trainer's EarlyStopping from its checked settings (``monitor`` "val_accuracy": higher is better)."""
    check_int(patience, "early_stopping_patience", minimum=1)
    check_nonnegative_float(min_delta, "early_stopping_min_delta")
    if monitor is not None:
        check_choice(monitor, "early_stopping_monitor", MONITORS)
    return EarlyStopping(patience, min_delta, lower_is_better=monitor != "val_accuracy",
                         restore_best_weights=restore_best_weights)


def _histories(run: Run):
    """The run's History, or the list of its students' with several."""
    histories = [lane.history for lane in run.lanes]
    return histories[0] if len(histories) == 1 else histories


def _record_losses(run: Run, epoch: int, sums: list, temperature: float) -> None:
    """Append an epoch's training losses (``sums``: per student, sample-weighted sums) to the students'
    histories; set ``run.logs``."""
    n = run.X.shape[0]
    for lane, lane_sums in zip(run.lanes, sums, strict=True):
        history = lane.history
        history.epochs.append(epoch)
        history.learning_rate.append(lane.optimizer.learning_rate)
        history.temperature.append(temperature)
        for name in ("loss", "soft", "hard"):
            getattr(history, name if name == "loss" else f"{name}_loss").append(
                None if lane_sums[name] is None else lane_sums[name] / n)
    run.logs = _mean_logs([{"loss": lane.history.loss[-1], "soft_loss": lane.history.soft_loss[-1],
                            "hard_loss": lane.history.hard_loss[-1]} for lane in run.lanes])


def _record_validation(run: Run, metrics: list) -> None:
    """Append each student's validation metrics to its history and logs (the logs' means with several)."""
    per_student = run.logs.get("students", [run.logs])
    for lane, logs_k, m in zip(run.lanes, per_student, metrics, strict=True):
        lane.history.val_loss.append(m["loss"])
        lane.history.val_accuracy.append(m["accuracy"])
        lane.history.teacher_agreement.append(m["teacher_agreement"])
        logs_k.update(val_loss=m["loss"], val_accuracy=m["accuracy"], teacher_agreement=m["teacher_agreement"])
    if len(run.lanes) > 1:
        run.logs = _mean_logs(per_student)


def _mean_logs(per_student: list) -> dict:
    """One student's logs as they are; several students' as their means (None where any is None),
    with each student's own under ``"students"``."""
    if len(per_student) == 1:
        return per_student[0]
    keys = per_student[0].keys()
    means = {k: None if any(d[k] is None for d in per_student) else float(np.mean([d[k] for d in per_student]))
             for k in keys}
    return {**means, "students": per_student}
