"""The distillation loop: four visible steps, early stopping, seeds, progress and checkpoints.

The loop lives once, in :class:`KnowledgeDistillationTrainerBase`. For each minibatch (``indices``
into the training set) :meth:`~KnowledgeDistillationTrainerBase.train_step` runs, as four lines
you can put breakpoints on:

1. teacher logits   ``teacher_logits = self.get_teacher_predictions(X_batch, indices)``
2. student logits   ``student_logits, cache = student._forward_train(X_batch)``
3. loss             ``loss, dlogits, parts = self.strategy._compute(student_logits, teacher_logits, ...)``
   (the strategy's math itself: "step into" lands in it)
4. update           ``grads = student._backward(dlogits, cache)``; ``optimizer._step(student.params, grads)``

Subclasses differ only in where teacher logits come from:
:class:`KnowledgeDistillationTrainer` asks a frozen teacher (caching its logits by *dataset*
index, so shuffling cannot mix them up) and :class:`SupervisedTrainer` has no teacher (cross-entropy
on labels). :class:`SelfDistillationTrainer` (``minikd/self_distillation.py``, re-exported here) runs
these two trainers once per generation to distil a model into fresh copies of itself.
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
import warnings
from typing import NamedTuple

import numpy as np

from ._run_state import (
    FINGERPRINT_KEYS,
    History,
    TrainingDivergedError,
    check_early_stopping_state,
    check_history_state,
    check_rng_state,
    hash_array,
)
from ._threads import blas_threads_for
from ._validation import (
    check_bool,
    check_features,
    check_instance,
    check_int,
    check_labels,
    check_nonnegative_float,
    check_seed,
    describe,
)
from ._version import __version__
from .checkpoint import CHECKPOINT_METRICS, CheckpointManager, load_checkpoint
from .optim import SGD, Optimizer
from .strategies import CrossEntropyLoss, DistillationStrategy
from .teachers import EnsembleTeacher, as_teacher

__all__ = [
    "TrainingDivergedError",
    "StepRecord",
    "History",
    "EarlyStopping",
    "KnowledgeDistillationTrainerBase",
    "KnowledgeDistillationTrainer",
    "SupervisedTrainer",
    "SelfDistillationTrainer",
    "SelfDistillationResult",
]


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


class EarlyStopping:
    """Stop when the monitored value has not improved for ``patience`` epochs; restore the best weights.

    Parameters
    ----------
    patience : int >= 1
        Epochs without improvement to wait before stopping.
    min_delta : float >= 0
        An epoch improves only if it beats the best so far by **more than** min_delta.
    lower_is_better : bool, default True
    restore_best_weights : bool, default True
        On stopping (and at the end of training) put back the parameters of the best epoch.

    Notes
    -----
    State (``best``, ``best_epoch``, ``wait``, ``best_params``) is reset by :meth:`reset`, which
    the trainer calls at the start of every ``train`` (the seed library forgot to).
    """

    def __init__(self, patience: int = 5, min_delta: float = 0.001, lower_is_better: bool = True,
                 restore_best_weights: bool = True):
        self.patience = check_int(patience, "patience", minimum=1)
        self.min_delta = check_nonnegative_float(min_delta, "min_delta")
        self.lower_is_better = bool(lower_is_better)
        self.restore_best_weights = check_bool(restore_best_weights, "restore_best_weights")
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far."""
        self.best = None
        self.best_epoch = None
        self.wait = 0
        self.best_params = None

    def improved(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta``."""
        if self.best is None:
            return True
        if self.lower_is_better:
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, epoch: int, value: float, params: dict) -> bool:
        """Record an epoch's value; return True if training should stop now.

        Parameters
        ----------
        epoch : int
        value : float
            The monitored metric.
        params : dict of ndarray
            The model's parameters (copied when they are the new best).
        """
        if self.improved(value):
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            if self.restore_best_weights:
                self.best_params = {k: v.copy() for k, v in params.items()}
            return False
        self.wait += 1
        return self.wait >= self.patience

    def restore(self, params: dict) -> None:
        """Copy the best parameters back into ``params`` (in place), if there are any."""
        if self.restore_best_weights and self.best_params is not None:
            for k, v in self.best_params.items():
                params[k][...] = v

    def state_dict(self) -> dict:
        """Plain-data state for checkpoints."""
        return {
            "best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
            "best_params": None if self.best_params is None
            else {k: v.copy() for k, v in self.best_params.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore the state saved by :meth:`state_dict`."""
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        bp = state["best_params"]
        self.best_params = None if bp is None else {k: np.array(v) for k, v in bp.items()}


def _label_kind(y) -> str | None:
    """Kind of canonical labels: None, "index" (int (N,)) or "prob" ((N, C) rows)."""
    if y is None:
        return None
    return "index" if y.ndim == 1 else "prob"


def _accuracy(logits: np.ndarray, y_kind, y) -> float:
    pred = logits.argmax(axis=1)
    truth = y if y_kind == "index" else y.argmax(axis=1)
    return float(np.mean(pred == truth))


class KnowledgeDistillationTrainerBase:
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
    """

    def __init__(self, distillation_strategy, checkpoint_config=None, use_early_stopping: bool = False,
                 early_stopping_min_delta: float = 0.001, early_stopping_patience: int = 5,
                 restore_best_weights: bool = True, seed: int | None = None):
        self.strategy = check_instance(distillation_strategy, DistillationStrategy, "distillation_strategy",
                                       "a minikd DistillationStrategy instance")
        if checkpoint_config is not None and not hasattr(checkpoint_config, "checkpoint_directory"):
            raise TypeError(
                f"checkpoint_config must be a DistillationCheckpointConfig or None, got {describe(checkpoint_config)}"
            )
        self.checkpoint_config = checkpoint_config
        self.use_early_stopping = check_bool(use_early_stopping, "use_early_stopping")
        check_int(early_stopping_patience, "early_stopping_patience", minimum=1)
        check_nonnegative_float(early_stopping_min_delta, "early_stopping_min_delta")
        self.early_stopping = EarlyStopping(early_stopping_patience, early_stopping_min_delta,
                                            restore_best_weights=restore_best_weights)
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

    def _begin_train(self, X: np.ndarray, X_val: np.ndarray | None, dtype) -> None:
        """Called once at the start of ``train`` (reset caches here)."""

    def _teacher_output_dimension(self) -> int | None:
        return None

    def _learn_teacher_dimension(self, X: np.ndarray) -> None:
        """Ask a callable teacher for one sample's logits if its number of classes is still unknown."""
        if self._teacher_output_dimension() is None and hasattr(self, "teacher"):
            self.teacher.get_logits(X[:1])

    def _check_teacher_dimension(self, student) -> None:
        teacher_dim = self._teacher_output_dimension()
        if teacher_dim is not None and teacher_dim != student.output_dim:
            raise ValueError(
                f"the teacher's output dimension ({teacher_dim}) must equal the student's number of "
                f"classes (layer_sizes[-1] = {student.output_dim})"
            )

    def _validation_teacher_logits(self, X_val: np.ndarray):
        return self.get_teacher_predictions(X_val, None)

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
            X_batch, y_batch, indices = self._check_batch(student, X_batch, y_batch, indices, optimizer)
        y_kind = None if y_batch is None else ("index" if y_batch.ndim == 1 else "prob")  # class indices or rows

        teacher_logits = self.get_teacher_predictions(X_batch, indices)                # 1. (B, C) or None
        student_logits, cache = student._forward_train(X_batch)                         # 2. (B, C)
        loss, dlogits, parts = self.strategy._compute(student_logits, teacher_logits, y_kind, y_batch)  # 3.
        grads = student._backward(dlogits, cache)                                       # 4. dict like params

        # One pass over the gradients gives both StepRecord.grad_norm and the divergence check
        # (a non-finite entry makes the norm inf or NaN): about 1-3 % of a step, measured in
        # benchmarks/README.md. math.* on Python floats avoids NumPy's scalar overhead.
        grad_norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            raise TrainingDivergedError(f"the loss ({loss}) or the gradient norm ({grad_norm}) is not finite")
        optimizer._step(student.params, grads)
        return StepRecord(loss, parts.get("soft"), parts.get("hard"), student_logits,
                          teacher_logits, dlogits, grad_norm, X_batch.shape[0])

    def _check_batch(self, student, X_batch, y_batch, indices, optimizer):
        _check_student(student)
        _check_optimizer(optimizer)
        X_batch = _check_X(X_batch, "X_batch", student)
        n = X_batch.shape[0]
        y_batch = self._check_y(y_batch, "y_batch", n, student)
        if indices is not None:
            idx = np.asarray(indices)
            if idx.dtype.kind not in "iu" or idx.shape != (n,):
                raise ValueError(f"indices must be {n} integer dataset indices, got {describe(indices)}")
            if idx.size and idx.min() < 0:
                raise ValueError(f"indices must be non-negative dataset indices, got {int(idx.min())}")
            cache = getattr(self, "_cache", None)
            if cache is not None and idx.size and idx.max() >= cache.shape[0]:
                raise ValueError(
                    f"indices must be < {cache.shape[0]} (the size of the training set whose teacher logits "
                    f"are cached), got {int(idx.max())}"
                )
            indices = idx
        self._learn_teacher_dimension(X_batch)
        self._check_teacher_dimension(student)
        self.strategy._check_range(student.dtype)
        self._dtype = student.dtype  # teacher logits are cast to it (step 3 takes one dtype)
        return X_batch, y_batch, indices

    def _check_y(self, y, name, n, student):
        if y is None:
            if self.strategy.requires_labels:
                raise ValueError(
                    f"{name} is required by {type(self.strategy).__name__} (its loss needs labels), got None"
                )
            return None
        _, y = check_labels(y, name, n, student.output_dim, student.dtype)
        return y

    # ------------------------------------------------------------------ the loop
    def train(self, student, X, y=None, epochs: int = 20, batch_size: int = 32, optimizer=None,
              validation_data=None, callbacks=(), verbose: int = 1, resume_from=None) -> History:
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

        Returns
        -------
        History
        """
        with blas_threads_for(student, batch_size):  # one BLAS thread for a small model (minikd/_threads.py)
            return self._train(student, X, y, epochs, batch_size, optimizer, validation_data, callbacks, verbose,
                               resume_from)

    def _train(self, student, X, y, epochs, batch_size, optimizer, validation_data, callbacks, verbose, resume_from):
        _check_student(student)
        X = _check_X(X, "X", student)
        n = X.shape[0]
        y = self._check_y(y, "y", n, student)
        epochs = check_int(epochs, "epochs", minimum=1)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        if batch_size > n:
            raise ValueError(f"batch_size must be at most the number of training samples ({n}), got {batch_size}")
        if optimizer is None:
            optimizer = SGD(learning_rate=0.01, momentum=0.9)
        _check_optimizer(optimizer)
        verbose = check_int(verbose, "verbose", minimum=0, maximum=2)
        callbacks = _check_callbacks(callbacks)
        X_val = y_val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError(
                    f"validation_data must be a tuple (X_val, y_val), got {describe(validation_data)}"
                )
            X_val = _check_X(validation_data[0], "validation_data[0] (X_val)", student)
            _, y_val = check_labels(validation_data[1], "validation_data[1] (y_val)", X_val.shape[0],
                                    student.output_dim, student.dtype)
        self._check_teacher_dimension(student)
        self.strategy._check_range(student.dtype)  # e.g. a temperature beyond float32's accurate range: warns

        history = History()
        self.history = history
        self.early_stopping.reset()
        monitor = "val_loss" if X_val is not None else "loss"
        if self.use_early_stopping and X_val is None:
            warnings.warn("early stopping without validation_data monitors the training loss",
                          UserWarning, stacklevel=3)
        self.rng = np.random.default_rng(self.seed)
        manager = None
        if self.checkpoint_config is not None:
            manager = CheckpointManager(self.checkpoint_config)
            manager.check_run(has_validation=X_val is not None)
            if self.checkpoint_config.save_teacher:
                self._teacher_checkpoint_state()  # refuses a teacher that cannot be saved, before any work
            manager.acquire()  # one run per checkpoint directory and prefix; released in the finally below
        try:
            self._begin_train(X, X_val, student.dtype)
            self._learn_teacher_dimension(X)  # a callable teacher knows its C only once called
            self._check_teacher_dimension(student)
            self._fingerprint = None
            if manager is not None or resume_from is not None:
                self._fingerprint = self._run_fingerprint(X, y, X_val, y_val, batch_size)
            start_epoch = 1
            if resume_from is not None:
                start_epoch = self._resume(resume_from, manager, student, optimizer, epochs) + 1
                history = self.history
                if history.stopped_epoch is not None:  # that run ended early: it is complete, just load it
                    if epochs > history.stopped_epoch:
                        warnings.warn(
                            f"the checkpoint's run ended early at epoch {history.stopped_epoch} (early stopping or "
                            f"a callback); it is loaded as it is and not trained on to epoch {epochs}",
                            UserWarning, stacklevel=3)
                    start_epoch = epochs + 1
            if manager is not None:
                manager.begin(None if resume_from is None else start_epoch - 1)

            val_teacher = self._validation_teacher_logits(X_val) if X_val is not None else None
            logs: dict = {}
            for cb in callbacks:
                if hasattr(cb, "on_train_begin"):
                    cb.on_train_begin(self, logs)

            n_batches = -(-n // batch_size)
            bar = verbose >= 2 and sys.stdout.isatty()
            stop = False
            for epoch in range(start_epoch, epochs + 1):
                t0 = time.perf_counter()
                perm = self.rng.permutation(n)
                sums = {"loss": 0.0, "soft": 0.0, "hard": 0.0}
                has = {"soft": False, "hard": False}
                with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                    for b in range(n_batches):
                        idx = perm[b * batch_size:(b + 1) * batch_size]
                        X_batch = X[idx]
                        try:
                            rec = self.train_step(student, X_batch, None if y is None else y[idx], idx,
                                                  optimizer, validate=False)
                        except TrainingDivergedError as exc:
                            raise TrainingDivergedError(
                                f"training diverged at epoch {epoch}, batch {b + 1}/{n_batches}: {exc}. "
                                "The student keeps its last finite parameters; try a smaller learning "
                                "rate, gradient-friendlier inputs (scaled to [0, 1]) or a lower temperature.",
                                epoch=epoch, batch=b + 1) from None
                        w = rec.batch_size
                        sums["loss"] += rec.loss * w
                        for part, value in (("soft", rec.soft_loss), ("hard", rec.hard_loss)):
                            if value is not None:
                                sums[part] += value * w
                                has[part] = True
                        if bar:
                            _progress_bar(epoch, epochs, b + 1, n_batches, sums["loss"] / min(n, (b + 1) * batch_size))
                # The loss and gradient were finite at every step, but an absurd update (a learning rate
                # near 1e308) can still overflow the parameters themselves; checked once per epoch (cheap).
                if not all(np.isfinite(p).all() for p in student.params.values()):
                    raise TrainingDivergedError(
                        f"training diverged at epoch {epoch}, batch {n_batches}/{n_batches} or earlier in the "
                        "epoch: an update overflowed the parameters, which are no longer finite. Reload the latest "
                        "checkpoint (if any) and use a smaller learning rate.", epoch=epoch, batch=n_batches)
                history.epochs.append(epoch)
                history.loss.append(sums["loss"] / n)
                history.soft_loss.append(sums["soft"] / n if has["soft"] else None)
                history.hard_loss.append(sums["hard"] / n if has["hard"] else None)
                logs = {"loss": history.loss[-1], "soft_loss": history.soft_loss[-1],
                        "hard_loss": history.hard_loss[-1]}
                if X_val is not None:
                    metrics = self._metrics(student, X_val, y_val, val_teacher)
                    history.val_loss.append(metrics["loss"])
                    history.val_accuracy.append(metrics["accuracy"])
                    history.teacher_agreement.append(metrics["teacher_agreement"])
                    logs.update(val_loss=metrics["loss"], val_accuracy=metrics["accuracy"],
                                teacher_agreement=metrics["teacher_agreement"])
                history.epoch_time.append(time.perf_counter() - t0)
                logs["epoch_time"] = history.epoch_time[-1]

                if self.use_early_stopping:
                    stop = self.early_stopping.update(epoch, logs[monitor], student.params)
                    history.best_epoch = self.early_stopping.best_epoch
                else:
                    history.best_epoch = epoch
                if verbose:
                    if bar:
                        sys.stdout.write("\r\033[K")
                    print(_epoch_line(epoch, epochs, logs), flush=True)
                for cb in callbacks:
                    fn = cb if not hasattr(cb, "on_epoch_end") else cb.on_epoch_end
                    if callable(fn) and fn(epoch, dict(logs)) is True:
                        stop = True
                if stop:
                    history.stopped_epoch = epoch
                if manager is not None:
                    self._save_checkpoint(manager, epoch, student, optimizer, logs, final=stop or epoch == epochs)
                if stop:
                    if verbose:
                        best = self.early_stopping.best if self.use_early_stopping else logs[monitor]
                        print(f"stopped after epoch {epoch}; best epoch {history.best_epoch} ({monitor} {best:.4f})")
                    break

            if self.use_early_stopping:
                self.early_stopping.restore(student.params)
            for cb in callbacks:
                if hasattr(cb, "on_train_end"):
                    cb.on_train_end(self, logs)
            return history
        finally:
            if manager is not None:
                manager.release()

    # ------------------------------------------------------------------ run state and checkpoints
    def state_dict(self) -> dict:
        """The state of the current run as plain data (what a checkpoint needs besides the student
        and the optimizer).

        Returns
        -------
        dict
            ``config`` (:meth:`get_config`), ``rng_state`` (the shuffling generator's state),
            ``early_stopping`` (:meth:`EarlyStopping.state_dict`), ``history``
            (:meth:`History.to_dict`) and ``fingerprint`` (what defines the run's data and teacher,
            see :meth:`_run_fingerprint`; None outside a checkpointed or resumed run).
        """
        return {
            "config": self.get_config(),
            "rng_state": self.rng.bit_generator.state,
            "early_stopping": self.early_stopping.state_dict(),
            "history": (self.history or History()).to_dict(),
            "fingerprint": getattr(self, "_fingerprint", None),
        }

    def load_state_dict(self, state) -> None:
        """Restore the random generator, early stopping and history saved by :meth:`state_dict`.

        The settings in ``state["config"]`` are not applied: they are compared with this trainer's
        own on resume (a different strategy or seed would not continue the same run).

        Raises
        ------
        TypeError, ValueError
            If ``state`` does not follow the schema of :meth:`state_dict`; nothing is changed then.
        """
        if not isinstance(state, dict) or set(state) != {"config", "rng_state", "early_stopping", "history",
                                                           "fingerprint"}:
            raise ValueError(f"state must be a dict from state_dict(), got {describe(state)}")
        epochs = state["history"].get("epochs") if isinstance(state["history"], dict) else None
        epoch = len(epochs) if isinstance(epochs, list) else -1
        history = check_history_state(state["history"], "state['history']", epoch)
        check_rng_state(state["rng_state"], "state['rng_state']")
        best = state["early_stopping"].get("best_params") if isinstance(state["early_stopping"], dict) else None
        spec = None if not isinstance(best, dict) else {k: (np.shape(v), getattr(v, "dtype", None))
                                                        for k, v in best.items()}
        check_early_stopping_state(state["early_stopping"], "state['early_stopping']", epoch, spec)
        self.rng.bit_generator.state = state["rng_state"]
        self.early_stopping.load_state_dict(state["early_stopping"])
        self.history = history

    def _run_fingerprint(self, X, y, X_val, y_val, batch_size: int) -> dict:
        """What defines a run besides its settings: the data, the batch size and the teacher.

        Stored in every checkpoint and compared on resume, so a resumed run is the same run or is
        refused: the number of samples and features, ``batch_size``, SHA-256 hashes of X, y and
        the validation data (as the student sees them, after the dtype cast), and of the teacher
        (:meth:`_teacher_fingerprint`).
        """
        validation = None
        if X_val is not None:
            validation = hash_array(X_val) + hash_array(y_val)
        return {"n_samples": int(X.shape[0]), "n_features": int(X.shape[1]), "batch_size": int(batch_size),
                "X": hash_array(X), "y": None if y is None else hash_array(y), "validation": validation,
                "teacher": self._teacher_fingerprint(X)}

    def _teacher_fingerprint(self, X) -> str | None:
        """A hash that identifies the teacher (None: no teacher)."""
        return None

    def _resume(self, resume_from, manager, student, optimizer, epochs: int) -> int:
        """Restore the state of a checkpoint into the student, the optimizer and this trainer; return its epoch.

        Raises
        ------
        ValueError
            If the checkpoint is of another run: see :meth:`_check_resume`.
        """
        path = resume_from
        if isinstance(resume_from, str) and resume_from == "latest":
            if manager is None:
                raise ValueError('resume_from="latest" needs a checkpoint_config, got checkpoint_config=None')
            path = manager.latest_path()
            if path is None:
                raise ValueError(f'resume_from="latest": no checkpoint in {manager.directory}')
        ckpt = load_checkpoint(path)
        self._check_resume(ckpt, student, optimizer, epochs)
        student.set_params(ckpt.student.params)
        optimizer.load_state_dict(ckpt.optimizer_state)
        self.load_state_dict(ckpt.trainer_state)
        return ckpt.epoch

    def _check_resume(self, ckpt, student, optimizer, epochs: int) -> None:
        """Refuse a checkpoint that would not continue this run: another architecture, trainer
        setting, optimizer, data, batch size or teacher, or more epochs done than asked for."""
        where = f"the checkpoint {str(ckpt.path)!r}"
        if ckpt.student is None:
            raise ValueError(f"{where} holds no student (save_student=False); cannot resume")
        saved, current = ckpt.student.get_config(), student.get_config()
        if saved != current:
            raise ValueError(f"cannot resume: the student's architecture {current} differs from {where}'s {saved}")
        mine, theirs = self.get_config(), ckpt.trainer_state["config"]
        for key in sorted(set(mine) | set(theirs)):
            if mine.get(key) != theirs.get(key):
                raise ValueError(
                    f"cannot resume: trainer setting {key!r} is {mine.get(key)!r} now but {theirs.get(key)!r} in "
                    f"{where}; a resumed run must use the same strategy, seed and early-stopping settings"
                )
        opt_now = {"name": type(optimizer).__name__, **optimizer.get_config()}
        if opt_now != ckpt.optimizer_config:
            raise ValueError(f"cannot resume: the optimizer {opt_now} differs from {where}'s {ckpt.optimizer_config}")
        now, then = self._fingerprint, ckpt.fingerprint
        if then is None:
            warnings.warn(f"{where} records no fingerprint of its run (converted from format 1): the data, "
                          "batch size and teacher cannot be checked against it", UserWarning, stacklevel=4)
        for key in FINGERPRINT_KEYS if then is not None else ():
            if now[key] != then[key]:
                raise ValueError(
                    f"cannot resume: {_FINGERPRINT_NAMES[key]} differs from the run in {where} "
                    f"({_short(then[key])} there, {_short(now[key])} now); resume with the same data, batch_size "
                    "and teacher, or start a new run in another checkpoint directory"
                )
        if epochs < ckpt.epoch:
            raise ValueError(
                f"cannot resume: epochs={epochs} is fewer than the {ckpt.epoch} epochs {where} has already "
                f"done; pass epochs >= {ckpt.epoch} (or load the checkpoint with load_checkpoint to use it as it is)"
            )

    def _save_checkpoint(self, manager, epoch: int, student, optimizer, logs: dict, final: bool):
        """Write this epoch's checkpoint if the manager says it is due (every ``save_every_epochs``, and the last).

        Raises
        ------
        TrainingDivergedError
            If the parameters or the optimizer's state are not finite: such a state is never written.
        """
        if not manager.due(epoch, final):
            return None
        state = self._checkpoint_state(epoch, student, optimizer)
        metrics = {k: (None if logs.get(k) is None else float(logs[k])) for k in CHECKPOINT_METRICS if k in logs}
        return manager.save(epoch, state, metrics)

    def _checkpoint_state(self, epoch: int, student, optimizer) -> dict:
        """The plain-data state of this run after ``epoch`` epochs, as :func:`minikd.checkpoint.load_checkpoint`
        reads it back: student (config and parameters), teacher (with ``save_teacher``), optimizer, trainer."""
        config = self.checkpoint_config
        optimizer_state = optimizer.state_dict()
        _check_finite_state(epoch, student.params, optimizer_state)
        return {
            "minikd_version": __version__,
            "epoch": int(epoch),
            "student": {"config": student.get_config(), "params": {k: v.copy() for k, v in student.params.items()}}
            if config.save_student else None,
            "teacher": self._teacher_checkpoint_state() if config.save_teacher else None,
            "optimizer": {"config": {"name": type(optimizer).__name__, **optimizer.get_config()},
                          "state": optimizer_state},
            "trainer": self.state_dict(),
        }

    def _teacher_checkpoint_state(self) -> dict:
        """The teacher's config and parameters, for ``save_teacher=True`` (an MLP teacher only)."""
        model = getattr(getattr(self, "teacher", None), "model", None)
        if model is None or not hasattr(model, "get_config"):
            raise ValueError(
                "checkpoint_config.save_teacher=True needs a teacher that is an MLP (or a "
                f"TeacherModelWrapper of one), got {describe(getattr(self, 'teacher', None))}"
            )
        return {"config": model.get_config(), "params": {k: v.copy() for k, v in model.params.items()}}

    # ------------------------------------------------------------------ evaluation
    def _metrics(self, student, X, y, teacher_logits) -> dict:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            logits, _ = student._forward_train(X)
            y_kind = _label_kind(y)
            loss, _, _ = self.strategy._loss_and_gradient(logits, teacher_logits, y_kind, y)
        out = {"loss": float(loss), "accuracy": None if y is None else _accuracy(logits, y_kind, y),
               "teacher_agreement": None}
        if teacher_logits is not None:
            out["teacher_agreement"] = float(np.mean(logits.argmax(1) == teacher_logits.argmax(1)))
        return out

    def evaluate(self, student, X, y=None) -> dict:
        """Loss, accuracy and teacher agreement of ``student`` on (X, y).

        Parameters
        ----------
        student : MLP
        X : array_like of shape (N, D)
        y : array_like of shape (N,) or (N, C), optional

        Returns
        -------
        dict
            ``loss`` (the strategy's loss, with labels if given), ``accuracy`` (None without y),
            ``teacher_agreement`` (share of samples where student and teacher argmax agree; None
            without a teacher).
        """
        _check_student(student)
        X = _check_X(X, "X", student)
        y = self._check_y(y, "y", X.shape[0], student)
        with blas_threads_for(student, X.shape[0]):  # one BLAS thread for a small model (minikd/_threads.py)
            self._learn_teacher_dimension(X)
            self._check_teacher_dimension(student)
            teacher_logits = self.get_teacher_predictions(X, None)
            return self._metrics(student, X, y, teacher_logits)

    def get_config(self) -> dict:
        """Plain-data settings (stored in checkpoints and compared on resume)."""
        return {
            "trainer": type(self).__name__,
            "strategy": self.strategy.get_config(),
            "seed": "np.random.Generator" if isinstance(self.seed, np.random.Generator) else self.seed,
            "use_early_stopping": self.use_early_stopping,
            "early_stopping_patience": self.early_stopping.patience,
            "early_stopping_min_delta": self.early_stopping.min_delta,
            "restore_best_weights": self.early_stopping.restore_best_weights,
        }


class KnowledgeDistillationTrainer(KnowledgeDistillationTrainerBase):
    """Distil a frozen teacher into a student (Hinton, Vinyals & Dean 2015).

    Parameters
    ----------
    teacher : TeacherModel, MLP or callable
        Anything with ``get_logits(X)`` and ``output_dimension``; an MLP or a callable
        ``X -> logits`` is wrapped in :class:`~minikd.TeacherModelWrapper`.
    distillation_strategy : DistillationStrategy
        E.g. ``DistillationLoss(temperature=3.0, alpha=0.3)``.
    checkpoint_config, use_early_stopping, early_stopping_min_delta, early_stopping_patience,
    restore_best_weights, seed
        See :class:`KnowledgeDistillationTrainerBase`.
    cache_teacher_logits : bool, default True
        Keep the teacher's logits by dataset index, so the teacher runs once per training
        sample per ``train`` call instead of once per sample per epoch (memory: N x C floats
        of the student's dtype). The strategy computes the teacher's softened distribution from
        the batch's logits in every step: precomputing it once per run was measured to save
        nothing (benchmarks/README.md).

    Examples
    --------
    >>> import numpy as np
    >>> from minikd import MLP, DistillationLoss, KnowledgeDistillationTrainer, SGD
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(64, 4))
    >>> teacher = MLP([4, 16, 3], seed=0)
    >>> student = MLP([4, 8, 3], seed=1)
    >>> trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=2.0), seed=0)
    >>> history = trainer.train(student, X, epochs=2, batch_size=16, verbose=0)
    >>> len(history.loss)
    2
    """

    def __init__(self, teacher, distillation_strategy, checkpoint_config=None, use_early_stopping: bool = False,
                 early_stopping_min_delta: float = 0.001, early_stopping_patience: int = 5,
                 seed: int | None = None, cache_teacher_logits: bool = True,
                 restore_best_weights: bool = True):
        super().__init__(distillation_strategy, checkpoint_config, use_early_stopping,
                         early_stopping_min_delta, early_stopping_patience, restore_best_weights, seed)
        self.teacher = as_teacher(teacher)
        self.cache_teacher_logits = check_bool(cache_teacher_logits, "cache_teacher_logits")
        self._cache = None

    #: Rows per teacher call when the cache is filled (a fixed chunking of the data set, so the
    #: cached logits do not depend on how batches happen to be shuffled: resuming is bit-exact).
    teacher_chunk_size = 1024

    def _teacher_output_dimension(self):
        return self.teacher.output_dimension

    def _teacher_fingerprint(self, X) -> str:
        """A hash of the teacher's parameters when it is an MLP or an ensemble of MLPs (with the
        ensemble's weights and mode), else of its logits on the first 64 training rows."""
        arrays = _teacher_arrays(self.teacher)
        if arrays is not None:
            return "params:" + hashlib.sha256("".join(hash_array(a) for a in arrays).encode()).hexdigest()
        rows = self._cache[:64] if self._cache is not None else self.get_teacher_predictions(X[:64], None)
        return "logits:" + hash_array(rows)

    def _begin_train(self, X, X_val, dtype) -> None:
        """Run the teacher once over the training set (in fixed chunks) and keep its logits."""
        self._dtype = dtype
        self._cache = None
        if self.cache_teacher_logits:
            chunks = [self.teacher.get_logits(X[i:i + self.teacher_chunk_size])
                      for i in range(0, X.shape[0], self.teacher_chunk_size)]
            self._cache = np.concatenate(chunks).astype(dtype, copy=False)  # (N, C)

    def get_teacher_predictions(self, X_batch, indices):
        """Teacher logits of a batch: looked up by dataset index when cached, else computed.

        Parameters
        ----------
        X_batch : ndarray of shape (B, D)
        indices : ndarray of int of shape (B,), or None
            Dataset indices of the batch's rows (the cache key); None bypasses the cache.

        Returns
        -------
        ndarray of shape (B, C), in the student's dtype during training

        Notes
        -----
        With ``cache_teacher_logits`` the whole cache is filled at the start of ``train``, in
        chunks of ``teacher_chunk_size`` rows in data-set order: the teacher runs once per
        training sample per ``train`` call, and a sample's cached logits are the same whatever
        batches the shuffling makes (BLAS may round a row differently inside different
        batches, which would break bit-exact resume).
        """
        if indices is None or self._cache is None:
            logits = self.teacher.get_logits(X_batch)
            return logits if self._dtype is None else logits.astype(self._dtype, copy=False)
        return self._cache[indices]  # (B, C), the rows of the batch's samples


class SupervisedTrainer(KnowledgeDistillationTrainerBase):
    """The same loop with plain cross-entropy on labels and no teacher.

    For training teachers and the from-scratch baselines that distilled students are compared with.

    Parameters
    ----------
    checkpoint_config, use_early_stopping, early_stopping_min_delta, early_stopping_patience,
    restore_best_weights, seed
        See :class:`KnowledgeDistillationTrainerBase`.
    """

    def __init__(self, checkpoint_config=None, use_early_stopping: bool = False,
                 early_stopping_min_delta: float = 0.001, early_stopping_patience: int = 5,
                 seed: int | None = None, restore_best_weights: bool = True):
        super().__init__(CrossEntropyLoss(), checkpoint_config, use_early_stopping,
                         early_stopping_min_delta, early_stopping_patience, restore_best_weights, seed)

    def get_teacher_predictions(self, X_batch, indices):
        """No teacher: always None."""
        return None


# ---------------------------------------------------------------------- helpers
def _teacher_arrays(teacher) -> list | None:
    """The arrays that define a teacher made of MLPs (parameters; for an ensemble also its weights
    and mode), or None for any other teacher."""
    if isinstance(teacher, EnsembleTeacher):
        members = [_teacher_arrays(t) for t in teacher.teachers]
        if any(m is None for m in members):
            return None
        mode = np.frombuffer(teacher.mode.encode(), dtype=np.uint8)
        return [a for m in members for a in m] + [teacher.weights, mode]
    params = getattr(getattr(teacher, "model", None), "params", None)
    if isinstance(params, dict) and all(isinstance(v, np.ndarray) for v in params.values()):
        return [params[k] for k in sorted(params)]
    return None


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


_FINGERPRINT_NAMES = {
    "n_samples": "the number of training samples", "n_features": "the number of features",
    "batch_size": "the batch_size", "X": "the training input array X", "y": "the label array y",
    "validation": "the validation_data", "teacher": "the teacher (its parameters or logits)",
}


def _short(value) -> str:
    """A fingerprint entry for a message: hashes cut to 12 digits."""
    if value is None:
        return "none"
    return f"hash {value[:12]}..." if isinstance(value, str) else repr(value)


def _check_finite_state(epoch: int, params: dict, optimizer_state: dict) -> None:
    """Refuse to checkpoint a diverged state (load_checkpoint and resume would reject it)."""
    arrays = [(f"the student's params[{k!r}]", v) for k, v in params.items()]
    for buffer_name, buffers in optimizer_state.get("buffers", {}).items():
        arrays += [(f"the optimizer's {buffer_name!r} state for {k!r}", v) for k, v in buffers.items()]
    for what, arr in arrays:
        if not np.isfinite(arr).all():
            raise TrainingDivergedError(
                f"training diverged at epoch {epoch}: after its last update {what} is not finite. "
                "No checkpoint was written for this epoch; the earlier checkpoints are intact. "
                "Try a smaller learning rate.", epoch=epoch)


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
    parts.append(f"{logs['epoch_time']:.2f}s")
    return "  ".join(parts)


def _progress_bar(epoch, epochs, b, n_batches, loss) -> None:
    width = 30
    done = int(width * b / n_batches)
    sys.stdout.write(f"\repoch {epoch}/{epochs} [{'=' * done}{' ' * (width - done)}] "
                     f"{b}/{n_batches} loss {loss:.4f}")
    sys.stdout.flush()


# Re-exported here, as the package map promises; imported last because it builds on the classes above.
from .self_distillation import SelfDistillationResult, SelfDistillationTrainer  # noqa: E402
