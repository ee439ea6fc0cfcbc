"""A run's identity and its checkpoints: the fingerprint that makes a resume the same run, the checks
of a checkpoint against the run that would continue it, and the plain-data state a checkpoint holds.

Functions of the trainer (``KnowledgeDistillationTrainerBase._resume`` and ``_save_checkpoint`` call
them), kept here so that the loop's module holds the loop.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._run_state import (
    FINGERPRINT_KEYS,
    History,
    TrainingDivergedError,
    check_arrays_like,
    check_early_stopping_state,
    check_history_state,
    check_rng_state,
    hash_array,
    param_spec,
)
from .._validation import describe
from .._version import __version__
from ..checkpoint import CHECKPOINT_METRICS, CheckpointManager, load_checkpoint
from ..teachers import EnsembleTeacher
from .run import Run

__all__ = ["RunStateMixin", "run_fingerprint", "check_resume", "checkpoint_state", "teacher_checkpoint_state",
           "teacher_arrays"]


def run_fingerprint(trainer, run) -> dict:
    """What defines a run besides its settings: the data, the batch size and the teacher.

    Stored in every checkpoint and compared on resume, so a resumed run is the same run or is
    refused: the number of samples and features, ``batch_size``, SHA-256 hashes of X, y and the
    validation data (as the student sees them, after the dtype cast), and of the teacher
    (``trainer._teacher_fingerprint``).
    """
    X = run.X
    validation = None if run.X_val is None else hash_array(run.X_val) + hash_array(run.y_val)
    return {"n_samples": int(X.shape[0]), "n_features": int(X.shape[1]), "batch_size": int(run.batch_size),
            "X": hash_array(X), "y": None if run.y is None else hash_array(run.y), "validation": validation,
            "teacher": trainer._teacher_fingerprint(X)}


def check_resume(trainer, ckpt, run) -> None:
    """Refuse a checkpoint that would not continue this run: another architecture, trainer setting,
    optimizer, data, batch size or teacher, or more epochs done than asked for (``ValueError``)."""
    where = f"the checkpoint {str(ckpt.path)!r}"
    if ckpt.student is None:
        raise ValueError(f"{where} holds no student (save_student=False); cannot resume")
    saved_students, saved_optimizers = _as_list(ckpt.student), _as_list(ckpt.optimizer_config)
    if len(saved_students) != len(run.lanes):
        raise ValueError(f"cannot resume: {where} holds {len(saved_students)} student(s), this run trains "
                         f"{len(run.lanes)}")
    for k, (lane, saved_student, saved_optimizer) in enumerate(zip(run.lanes, saved_students, saved_optimizers,
                                                                   strict=True)):
        which = "the student's" if len(run.lanes) == 1 else f"student {k}'s"
        saved, current = saved_student.get_config(), lane.student.get_config()
        if saved != current:
            raise ValueError(f"cannot resume: {which} architecture {current} differs from {where}'s {saved}")
        opt_now = {"name": type(lane.optimizer).__name__, **lane.optimizer.get_config()}
        if opt_now != saved_optimizer:
            raise ValueError(f"cannot resume: {which} optimizer {opt_now} differs from {where}'s {saved_optimizer}")
    mine, theirs = trainer.get_config(), ckpt.trainer_state["config"]
    for key in sorted(set(mine) | set(theirs)):
        if mine.get(key) != theirs.get(key):
            raise ValueError(
                f"cannot resume: trainer setting {key!r} is {mine.get(key)!r} now but {theirs.get(key)!r} in "
                f"{where}; a resumed run must use the same strategy, seed and early-stopping settings"
            )
    now, then = trainer._fingerprint, ckpt.fingerprint
    if then is None:
        warnings.warn(f"{where} records no fingerprint of its run (converted from format 1): the data, "
                      "batch size and teacher cannot be checked against it", UserWarning, stacklevel=5)
    for key in FINGERPRINT_KEYS if then is not None else ():
        if now[key] != then[key]:
            raise ValueError(
                f"cannot resume: {_FINGERPRINT_NAMES[key]} differs from the run in {where} "
                f"({_short(then[key])} there, {_short(now[key])} now); resume with the same data, batch_size "
                "and teacher, or start a new run in another checkpoint directory"
            )
    if run.epochs < ckpt.epoch:
        raise ValueError(
            f"cannot resume: epochs={run.epochs} is fewer than the {ckpt.epoch} epochs {where} has already "
            f"done; pass epochs >= {ckpt.epoch} (or load the checkpoint with load_checkpoint to use it as it is)"
        )


def checkpoint_state(trainer, epoch: int, run) -> dict:
    """The plain-data state of a run after ``epoch`` epochs, as ``minikd.checkpoint.load_checkpoint``
    reads it back: student (config and parameters), teacher (with ``save_teacher``), optimizer and the
    trainer's ``state_dict()``.

    Raises
    ------
    TrainingDivergedError
        If the parameters or the optimizer's state are not finite: such a state is never written.
    """
    config = trainer.checkpoint_config
    students, optimizers = [], []
    for lane in run.lanes:
        student, optimizer = lane.student, lane.optimizer
        optimizer_state = optimizer.state_dict()
        _check_finite_state(epoch, lane.params, optimizer_state)  # the student's and the strategy's
        students.append({"config": student.get_config(), "params": {k: v.copy() for k, v in student.params.items()},
                         "dropout_rng": student.dropout_rng.bit_generator.state})  # where the next masks come from
        optimizers.append({"config": {"name": type(optimizer).__name__, **optimizer.get_config()},
                           "state": optimizer_state})
    one = len(run.lanes) == 1  # a cohort (mutual learning) keeps lists: student k, optimizer k
    return {
        "minikd_version": __version__,
        "epoch": int(epoch),
        "student": (students[0] if one else students) if config.save_student else None,
        "teacher": teacher_checkpoint_state(trainer) if config.save_teacher else None,
        "optimizer": optimizers[0] if one else optimizers,
        "trainer": trainer.state_dict(),
    }


def _as_list(value) -> list:
    """A checkpoint's per-student entry as a list (a cohort's is one already)."""
    return value if isinstance(value, list) else [value]


def teacher_checkpoint_state(trainer) -> dict:
    """The teacher's config and parameters, for ``save_teacher=True`` (an MLP teacher only; ValueError otherwise)."""
    if not hasattr(trainer, "teacher"):
        raise ValueError("checkpoint_config.save_teacher=True needs a trainer with a teacher; "
                         f"{type(trainer).__name__} has none (a cohort's students are all saved as the "
                         "checkpoint's 'student'), so pass save_teacher=False")
    model = getattr(getattr(trainer, "teacher", None), "model", None)
    if model is None or not hasattr(model, "get_config"):
        raise ValueError(
            "checkpoint_config.save_teacher=True needs a teacher that is an MLP (or a "
            f"TeacherModelWrapper of one), got {describe(getattr(trainer, 'teacher', None))}"
        )
    return {"config": model.get_config(), "params": {k: v.copy() for k, v in model.params.items()}}


def teacher_arrays(teacher) -> list | None:
    """The arrays that define a teacher made of MLPs (parameters; for an ensemble also its weights
    and mode), or None for any other teacher."""
    if isinstance(teacher, EnsembleTeacher):
        members = [teacher_arrays(t) for t in teacher.teachers]
        if any(m is None for m in members):
            return None
        mode = np.frombuffer(teacher.mode.encode(), dtype=np.uint8)
        return [a for m in members for a in m] + [teacher.weights, mode]
    params = getattr(getattr(teacher, "model", None), "params", None)
    if isinstance(params, dict) and all(isinstance(v, np.ndarray) for v in params.values()):
        return [params[k] for k in sorted(params)]
    return None


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
    arrays = [(f"params[{k!r}]", v) for k, v in params.items()]
    for buffer_name, buffers in optimizer_state.get("buffers", {}).items():
        arrays += [(f"the optimizer's {buffer_name!r} state for {k!r}", v) for k, v in buffers.items()]
    for what, arr in arrays:
        if not np.isfinite(arr).all():
            raise TrainingDivergedError(
                f"training diverged at epoch {epoch}: after its last update {what} is not finite. "
                "No checkpoint was written for this epoch; the earlier checkpoints are intact. "
                "Try a smaller learning rate.", epoch=epoch)


class RunStateMixin:
    """The run-state half of a trainer: its ``state_dict``/``load_state_dict``, the fingerprint of
    its teacher, and opening, resuming from and writing checkpoints (the loop is in ``base.py``)."""

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
            # None (the default) is not written, so that checkpoints from before the option resume as they were
            **({} if self.early_stopping_monitor is None else {"early_stopping_monitor": self.early_stopping_monitor}),
        }

    def state_dict(self) -> dict:
        """The state of the current run as plain data (what a checkpoint needs besides the student
        and the optimizer).

        Returns
        -------
        dict
            ``config`` (:meth:`get_config`), ``rng_state`` (the shuffling generator's state),
            ``early_stopping`` (:meth:`EarlyStopping.state_dict`), ``history``
            (:meth:`History.to_dict`) and ``fingerprint`` (what defines the run's data and teacher,
            see :func:`minikd.trainer.resume.run_fingerprint`; None outside a checkpointed or resumed run)
            and ``strategy_params`` (copies of the strategy's trained arrays, e.g. HintLoss's regressor, under
            the optimizer's names ``"strategy.W"``; ``{}`` for a loss without parameters).
        """
        return {
            "config": self.get_config(),
            "rng_state": self.rng.bit_generator.state,
            "early_stopping": self.early_stopping.state_dict(),
            "history": [h.to_dict() for h in self.history] if isinstance(self.history, list)
            else (self.history or History()).to_dict(),
            "fingerprint": getattr(self, "_fingerprint", None),
            "strategy_params": {k: v.copy() for k, v in self.strategy._named_params().items()},
        }

    def load_state_dict(self, state) -> None:
        """Restore the random generator, early stopping, history and strategy parameters saved by :meth:`state_dict`.

        The settings in ``state["config"]`` are not applied: they are compared with this trainer's
        own on resume (a different strategy or seed would not continue the same run).

        Raises
        ------
        TypeError, ValueError
            If ``state`` does not follow the schema of :meth:`state_dict`; nothing is changed then.
        """
        if not isinstance(state, dict) or set(state) != {"config", "rng_state", "early_stopping", "history",
                                                           "fingerprint", "strategy_params"}:
            raise ValueError(f"state must be a dict from state_dict(), got {describe(state)}")
        mine = self.strategy._named_params()  # built at train() entry (HintLoss's regressor once widths are known)
        check_arrays_like(state["strategy_params"], "state['strategy_params'] (the strategy's trained arrays)",
                          param_spec(mine))
        saved = state["history"]
        first = saved[0] if isinstance(saved, list) and saved else saved
        epochs = first.get("epochs") if isinstance(first, dict) else None
        epoch = len(epochs) if isinstance(epochs, list) else -1
        if isinstance(self.history, list):  # a cohort: one history per student
            if not isinstance(saved, list) or len(saved) != len(self.history):
                raise ValueError(f"state['history'] must be a list of {len(self.history)} histories (one per "
                                 f"student), got {describe(saved)}")
            history = [check_history_state(h, f"state['history'][{k}]", epoch) for k, h in enumerate(saved)]
        else:
            history = check_history_state(saved, "state['history']", epoch)
        check_rng_state(state["rng_state"], "state['rng_state']")
        best = state["early_stopping"].get("best_params") if isinstance(state["early_stopping"], dict) else None
        spec = None if not isinstance(best, dict) else {k: (np.shape(v), getattr(v, "dtype", None))
                                                        for k, v in best.items()}
        check_early_stopping_state(state["early_stopping"], "state['early_stopping']", epoch, spec)
        self.rng.bit_generator.state = state["rng_state"]
        self.early_stopping.load_state_dict(state["early_stopping"])
        self.history = history
        for name, value in state["strategy_params"].items():
            mine[name][...] = value  # in place: the strategy and the optimizer hold these arrays

    def _teacher_fingerprint(self, X) -> str | None:
        """A hash that identifies the teacher (None: no teacher)."""
        return None

    def _resume(self, resume_from, manager, run: Run) -> int:
        """Restore a checkpoint into the students, their optimizers and this trainer; return the first epoch
        to train (past ``run.epochs`` for a run that had ended early: it is complete and only loaded).

        Raises
        ------
        ValueError
            If the checkpoint is of another run (:func:`minikd.trainer.resume.check_resume`).
        """
        path = resume_from
        if isinstance(resume_from, str) and resume_from == "latest":
            if manager is None:
                raise ValueError('resume_from="latest" needs a checkpoint_config, got checkpoint_config=None')
            path = manager.latest_path()
            if path is None:
                raise ValueError(f'resume_from="latest": no checkpoint in {manager.directory}')
        ckpt = load_checkpoint(path)
        check_resume(self, ckpt, run)
        for lane, student, optimizer_state in zip(run.lanes, _as_list(ckpt.student), _as_list(ckpt.optimizer_state),
                                                  strict=True):
            lane.student.set_params(student.params)
            lane.student.dropout_rng.bit_generator.state = student.dropout_rng.bit_generator.state
            lane.optimizer.load_state_dict(optimizer_state)
        self.load_state_dict(ckpt.trainer_state)
        for lane, history in zip(run.lanes, _as_list(self.history), strict=True):
            lane.history = history
        stopped = run.lanes[0].history.stopped_epoch
        if stopped is None:
            return ckpt.epoch + 1
        if run.epochs > stopped:  # that run ended early: it is complete, just load it
            warnings.warn(f"the checkpoint's run ended early at epoch {stopped} (early stopping or a callback); "
                          f"it is loaded as it is and not trained on to epoch {run.epochs}", UserWarning, stacklevel=5)
        return run.epochs + 1

    def _save_checkpoint(self, manager, run: Run, epoch: int, final: bool):
        """Write this epoch's checkpoint if it is due (every ``save_every_epochs``, and the last)."""
        if not manager.due(epoch, final):
            return None
        metrics = {k: (None if run.logs.get(k) is None else float(run.logs[k]))
                   for k in CHECKPOINT_METRICS if k in run.logs}
        return manager.save(epoch, checkpoint_state(self, epoch, run), metrics)

    def _open_checkpoints(self, run: Run):
        """The run's :class:`~minikd.checkpoint.CheckpointManager` with the directory's lock taken, or None."""
        if self.checkpoint_config is None:
            return None
        manager = CheckpointManager(self.checkpoint_config)
        manager.check_run(has_validation=run.X_val is not None)
        if self.checkpoint_config.save_teacher:
            teacher_checkpoint_state(self)  # refuses a teacher that cannot be saved, before any work
        manager.acquire()  # one run per checkpoint directory and prefix; train() releases it
        return manager
