"""Deep mutual learning (Zhang, Xiang, Hospedales & Lu 2018): students that teach each other.

No teacher is trained first. A *cohort* of K >= 2 students learns together, and each student's
teacher is the others, as they are now. For student k, with p_k = softmax(z_k / T) and its peers j:

.. math::

    L_k = \\frac{1}{K - 1} \\sum_{j \\ne k} \\mathrm{strategy}(z_k, z_j, y)

so with ``DistillationLoss(temperature=1.0, alpha=0.5)``
``L_k = 0.5 [CE(p_k, y) + (1/(K-1)) sum_j KL(p_j || p_k)]``: half of Zhang et al.'s eq. (10)-(11)
(the factor is the learning rate's). The peers' logits are constants in L_k (no gradient flows
into a peer through its role as a teacher), as in the paper.

There is no second loop: :class:`MutualLearningTrainer` is a :class:`KnowledgeDistillationTrainerBase`
whose run has one lane per student (``Run.lanes``). Per minibatch, ``_train_batch`` computes every
student's logits and then runs the same four-step ``train_step`` for each student in turn, with
step 1 (``get_teacher_outputs``) returning the peers' logits, stacked (K - 1, B, C), and step 3
the strategy's loss averaged over them (:class:`PeerMeanStrategy`).
"""

from __future__ import annotations

import numpy as np

from .._run_state import TrainingDivergedError
from .._validation import check_choice, describe
from ..optim import Optimizer
from ..strategies import DistillationStrategy
from ._helpers import _check_student
from .base import KnowledgeDistillationTrainerBase
from .run import check_train_arguments

__all__ = ["MutualLearningTrainer", "PeerMeanStrategy"]


class PeerMeanStrategy:
    """A strategy's loss averaged over several teachers: step 3 for one student of a cohort.

    Parameters
    ----------
    strategy : DistillationStrategy
        The loss between the student and **one** peer.

    Notes
    -----
    With peers' logits ``v`` of shape (P, B, C), ``L = (1/P) sum_p strategy(z, v[p], y)`` and so
    ``dL/dz = (1/P) sum_p dL_p/dz``; ``parts["soft"]`` and ``parts["hard"]`` are the means of the
    peers' parts (the hard term does not depend on the peer: its mean is its value). With P = 1 every
    number is the strategy's own, bit for bit (a sum of one term, divided by 1).

    Every other attribute (``temperature``, ``alpha``, ``get_config``, ``min_batch_size``, the schedule
    and range checks, ...) is the wrapped strategy's: the trainer's checks and checkpoints see the
    strategy you gave.
    """

    def __init__(self, strategy: DistillationStrategy):
        self.strategy = strategy

    def __getattr__(self, name):
        if name == "strategy":  # not set yet (e.g. while copying): no recursion
            raise AttributeError(name)
        return getattr(self.strategy, name)  # everything but step 3 is the strategy's

    def __repr__(self) -> str:
        return f"PeerMeanStrategy({self.strategy!r})"

    def _compute_step(self, z, v, labels_kind, labels, student_cache, teacher_hidden):
        """Step 3 for one student: the mean over its peers of the strategy's step.

        Parameters
        ----------
        z : ndarray of shape (B, C)
            The student's logits.
        v : ndarray of shape (P, B, C)
            Its P peers' logits, in z's dtype.
        labels_kind, labels, student_cache, teacher_hidden
            As for ``DistillationStrategy._compute_step`` (a logit loss reads no hidden layer).

        Returns
        -------
        loss : float
        dlogits : ndarray of shape (B, C), in z's dtype
        parts : dict
            ``{"soft": mean soft part, "hard": mean hard part or None}``.
        """
        n_peers = v.shape[0]
        loss, dz, soft, hard = 0.0, np.zeros_like(z), 0.0, None
        for v_p in v:  # one peer at a time: (B, C)
            loss_p, dz_p, parts_p = self.strategy._compute_step(z, v_p, labels_kind, labels, student_cache,
                                                                teacher_hidden)
            loss += loss_p
            dz += dz_p
            soft += parts_p["soft"]
            if parts_p["hard"] is not None:
                hard = (hard or 0.0) + parts_p["hard"]
        dz /= n_peers
        return loss / n_peers, dz, {"soft": soft / n_peers, "hard": None if hard is None else hard / n_peers}


def _logits(model, X: np.ndarray) -> np.ndarray:
    """A peer's logits as a teacher's: no dropout (``X`` already in the model's dtype). (N, C)."""
    return model._forward_train(X, drop=False)[0]


def _check_peers_finite(logits: list, first: int = 0) -> None:
    """TrainingDivergedError naming the student (numbered from ``first``) whose logits (B, C) are not finite:
    as a peer it would make every other student's loss NaN, and the error would name the wrong student."""
    for k, z in enumerate(logits, start=first):
        if not np.isfinite(z).all():
            raise TrainingDivergedError(f"student {k} of the cohort: its logits are not finite (an update overflowed "
                                        "its parameters, or the inputs are too large), and as a peer they would "
                                        "make the others' losses NaN")


class MutualLearningTrainer(KnowledgeDistillationTrainerBase):
    """Deep mutual learning (Zhang et al. 2018): a cohort of students, each distilled from the others.

    Parameters
    ----------
    distillation_strategy : DistillationStrategy
        The loss between a student and one peer; with several peers its mean over them
        (:class:`~minikd.trainer.PeerMeanStrategy`). Zhang et al.'s loss is
        ``DistillationLoss(temperature=1.0, alpha=0.5)`` (up to the factor 1/2). A logit loss: one that
        reads hidden layers (``HintLoss``, ...) is refused, and so is one that ignores the teacher
        (``CrossEntropyLoss``: nothing would be mutual).
    update : {"simultaneous", "sequential"}, default "simultaneous"
        ``"simultaneous"``: in every step each student's loss uses the peers' logits computed in that
        step before any student is updated, so the students' order does not matter. ``"sequential"``
        is Zhang et al.'s Algorithm 1: the students are updated one after the other, and student k's
        peers' logits are recomputed after each update, so student k learns from students 0..k-1 as
        they are *after* this batch's update (and from k+1.. as before it). With K = 2: student 0's
        step is the same in both; student 1 learns from student 0 after its update.
    checkpoint_config, use_early_stopping, early_stopping_min_delta, early_stopping_patience,
    restore_best_weights, seed, early_stopping_monitor
        See :class:`KnowledgeDistillationTrainerBase`. Early stopping and the checkpoints' ranking
        follow the **mean over the students** of the monitored value (``val_loss``, ``loss`` or
        ``val_accuracy``).

    Notes
    -----
    **One step** (``_train_batch``): every student's logits on the batch, (B, C) each; then for
    k = 0..K-1, ``train_step`` of student k, whose step 1 returns its peers' logits stacked,
    (K - 1, B, C), and whose step 3 is the strategy's loss averaged over them.

    **Why the peers' logits are not cached.** A distillation trainer's teacher is frozen, so its
    logits can be computed once per training sample per ``train`` call and looked up by dataset index.
    A peer changes with every step: logits cached in an earlier epoch would be an older peer (that is
    another method, snapshot distillation). So the peers run on every batch: K forward passes per
    step besides the K training steps.

    **Peers are evaluated without dropout**, like every teacher in minikd: a peer's teaching signal is
    its prediction. (Zhang et al.'s code reuses each network's training-mode output of the step; with
    ``dropout=0``, the default, the two are the same numbers.)

    **Validation.** ``val_loss`` and ``teacher_agreement`` of student k are against its peers as they
    are at the end of the epoch (the mean over the peers); the logs and the histories' means over the
    students are what early stopping and the checkpoints rank.

    Examples
    --------
    >>> import numpy as np
    >>> from minikd import MLP, DistillationLoss, MutualLearningTrainer, SGD
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(64, 4)), rng.integers(0, 3, size=64)
    >>> students = [MLP([4, 8, 3], seed=1), MLP([4, 16, 3], seed=2)]
    >>> trainer = MutualLearningTrainer(DistillationLoss(temperature=1.0, alpha=0.5), seed=0)
    >>> histories = trainer.train(students, X, y, epochs=2, batch_size=16, verbose=0,
    ...                           optimizer=lambda: SGD(learning_rate=0.1, momentum=0.9))
    >>> len(histories), len(histories[0].loss)
    (2, 2)
    """

    def __init__(self, distillation_strategy, update: str = "simultaneous", checkpoint_config=None,
                 use_early_stopping: bool = False, early_stopping_min_delta: float = 0.001,
                 early_stopping_patience: int = 5, restore_best_weights: bool = True, seed: int | None = None,
                 early_stopping_monitor=None):
        super().__init__(distillation_strategy, checkpoint_config, use_early_stopping, early_stopping_min_delta,
                         early_stopping_patience, restore_best_weights, seed, early_stopping_monitor)
        strategy = self.strategy
        if strategy.required_student_layers or strategy.required_teacher_layers:
            raise ValueError(
                f"distillation_strategy must be a logit loss for mutual learning (the students teach each other "
                f"their logits), got {type(strategy).__name__}, which reads hidden layers (student "
                f"{list(strategy.required_student_layers)}, teacher {list(strategy.required_teacher_layers)})")
        if not strategy.uses_teacher:
            raise ValueError(f"distillation_strategy must use the teacher (the peers) for mutual learning, got "
                             f"{type(strategy).__name__}, which ignores it: the students would train alone")
        self.update = check_choice(update, "update", ("simultaneous", "sequential"))
        self.strategy = PeerMeanStrategy(strategy)
        self.students = None  # the cohort of the last train() call
        self._peers = None  # step 1's source: the peers' logits (P, B, C) of this batch, or peer models

    @property
    def distillation_strategy(self):
        """The strategy given (between a student and one peer)."""
        return self.strategy.strategy

    def get_config(self) -> dict:
        """Plain-data settings (stored in checkpoints and compared on resume), with ``update``."""
        return {**super().get_config(), "update": self.update}

    def get_teacher_predictions(self, X_batch, indices):
        """Step 1 for one student: its peers' logits.

        Parameters
        ----------
        X_batch : ndarray of shape (B, D)
        indices : ndarray of int of shape (B,), or None
            Unused: the peers' logits are never cached (see the class Notes).

        Returns
        -------
        ndarray of shape (P, B, C)
            The P = K - 1 peers' logits, computed by ``_train_batch`` in this step (in training), or by
            the peers on ``X_batch`` (in :meth:`evaluate`).

        Raises
        ------
        RuntimeError
            Outside ``train`` and ``evaluate``: a student's teachers are the other students of a cohort.
        """
        if self._peers is None:
            raise RuntimeError("MutualLearningTrainer's teachers are the other students of a cohort: use "
                               "train(students, ...) (or evaluate, after it); train_step alone has no peers")
        if isinstance(self._peers, np.ndarray):
            return self._peers
        return np.stack([_logits(peer, X_batch) for peer in self._peers])

    def _train_batch(self, run, X_batch, y_batch, indices) -> list:
        """One minibatch: every student's logits, then ``train_step`` of each student with its peers'."""
        logits = [_logits(lane.student, X_batch) for lane in run.lanes]  # before any update: (B, C) each
        _check_peers_finite(logits)
        records = []
        try:
            for k, lane in enumerate(run.lanes):
                self._peers = np.stack(logits[:k] + logits[k + 1:])  # (K - 1, B, C): step 1 of student k
                try:
                    records.append(self.train_step(lane.student, X_batch, y_batch, indices, lane.optimizer,
                                                   validate=False))
                except TrainingDivergedError as exc:  # say which student (those before it were updated)
                    raise TrainingDivergedError(f"student {k} of the cohort: {exc}") from None
                if self.update == "sequential":  # Algorithm 1: the students after k learn from k updated
                    logits[k] = _logits(lane.student, X_batch)
                    _check_peers_finite(logits[k:k + 1], first=k)
        finally:
            self._peers = None
        return records

    def _validation_teacher(self, run, k: int) -> tuple:
        """Student k's peers' logits on the validation set, as the peers are now: ((P, M, C), {})."""
        return np.stack([_logits(lane.student, run.X_val) for j, lane in enumerate(run.lanes) if j != k]), {}

    def train(self, students, X, y=None, epochs: int = 20, batch_size: int = 32, optimizer=None,
              validation_data=None, callbacks=(), verbose: int = 1, resume_from=None, augment=None) -> list:
        """Train a cohort of students together, in place; return one :class:`History` per student.

        Parameters
        ----------
        students : list of MLP
            At least 2 independent models (no model twice, no shared parameter array) with the same
            inputs, classes and dtype; architectures may differ. All see the same batches.
        X : array_like of shape (N, D)
        y : array_like of shape (N,) or (N, C), optional
            Labels (None: the students learn only from each other, which only a strategy without
            labels allows).
        epochs, batch_size, validation_data, callbacks, verbose, augment
            As for :meth:`KnowledgeDistillationTrainerBase.train`; the callbacks' logs are the means
            over the students, each student's own under ``logs["students"]``.
        optimizer : list of Optimizer, or callable, optional
            One optimizer per student (``[SGD(...), Adam(...)]``, distinct objects), or a zero-argument
            factory called once per student (``lambda: SGD(learning_rate=0.1, momentum=0.9)``).
            Default: ``SGD(learning_rate=0.01, momentum=0.9)`` for each.
        resume_from : str or path, optional
            A checkpoint of this cohort's run (it holds every student, optimizer and history):
            the result is bit-for-bit the run that never stopped.

        Returns
        -------
        list of History
            ``histories[k]`` is student k's; also in ``trainer.history``. ``trainer.students`` is the cohort.
        """
        students = self._check_cohort(students)
        optimizers = self._check_optimizers(optimizer, len(students))
        run = check_train_arguments(self, students, X, y, epochs, batch_size, optimizers, validation_data,
                                    callbacks, verbose, resume_from, augment)
        self.students = students
        return self._train_run(run, resume_from)

    def evaluate(self, student, X, y=None, peers=None) -> dict:
        """Loss, accuracy and agreement of ``student`` on (X, y), against its peers.

        Parameters
        ----------
        student : MLP
        X : array_like of shape (N, D)
        y : array_like of shape (N,) or (N, C), optional
        peers : list of MLP, optional
            The students it is compared with; default: the other students of the cohort last trained.

        Returns
        -------
        dict
            As the other trainers' ``evaluate``, with ``loss`` the strategy's mean
            over the peers and ``teacher_agreement`` the mean agreement with them.
        """
        if peers is None:
            if self.students is None or not any(s is student for s in self.students):
                raise ValueError("peers must be given for a student that is not in the cohort of the last "
                                 f"train() call, got peers=None and student {describe(student)}")
            peers = [s for s in self.students if s is not student]
        if not isinstance(peers, (list, tuple)):
            raise TypeError(f"peers must be a list of MLPs, got {describe(peers)}")
        peers = self._check_cohort([student, *peers], name="[student, *peers]")[1:]
        self._peers = peers
        try:
            return super().evaluate(student, X, y)
        finally:
            self._peers = None

    @staticmethod
    def _check_cohort(students, name: str = "students") -> list:
        """The cohort as a list: at least 2 independent MLPs of the same inputs, classes and dtype."""
        if not isinstance(students, (list, tuple)):
            hint = " (one MLP: mutual learning needs a list of at least 2)" if hasattr(students, "params") else ""
            raise TypeError(f"{name} must be a list of MLPs, got {describe(students)}{hint}")
        if len(students) < 2:
            raise ValueError(f"{name} must hold at least 2 students (mutual learning distils each from the "
                             f"others), got {len(students)}")
        for k, student in enumerate(students):
            try:
                _check_student(student)
            except TypeError as exc:
                raise TypeError(f"{name}[{k}]: {exc}") from None
        first = students[0]
        for k, student in enumerate(students[1:], start=1):
            for attr, what in (("input_dim", "inputs"), ("output_dim", "classes"), ("dtype", "dtype")):
                if getattr(student, attr) != getattr(first, attr):
                    raise ValueError(f"{name}[{k}] must have the {what} of {name}[0] ({getattr(first, attr)}), "
                                     f"got {getattr(student, attr)}")
            for j in range(k):
                other = students[j]
                if student is other or any(np.shares_memory(a, b) for a in student.params.values()
                                           for b in other.params.values()):
                    raise ValueError(f"{name}[{k}] and {name}[{j}] must be independent models, got the same "
                                     "object or models that share a parameter array (use MLP.copy() for a copy)")
        return list(students)

    @staticmethod
    def _check_optimizers(optimizer, n: int) -> list:
        """One optimizer per student: a list of n distinct ones, n from a factory, or n Nones (the default)."""
        if optimizer is None:
            return [None] * n
        if isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a list of {n} optimizers (one per student) or a zero-argument "
                            f"factory such as lambda: SGD(learning_rate=0.1), got one {describe(optimizer)}: "
                            "shared by the students, its momentum or moments would mix theirs")
        if callable(optimizer) and not isinstance(optimizer, (list, tuple)):
            optimizers = [optimizer() for _ in range(n)]
            where = "the optimizer factory's result"
        elif isinstance(optimizer, (list, tuple)):
            if len(optimizer) != n:
                raise ValueError(f"optimizer must hold one optimizer per student ({n}), got {len(optimizer)}")
            optimizers, where = list(optimizer), "optimizer"
        else:
            raise TypeError(f"optimizer must be a list of {n} optimizers or a zero-argument factory, got "
                            f"{describe(optimizer)}")
        for k, opt in enumerate(optimizers):
            if not isinstance(opt, Optimizer):
                raise TypeError(f"{where}[{k}] must be a minikd optimizer instance (SGD(...), Adam(...)), got "
                                f"{describe(opt)}")
            if any(opt is other for other in optimizers[:k]):
                raise ValueError(f"{where}[{k}] is the same object as an earlier student's: each student needs "
                                 "its own optimizer (its momentum or moments are the student's)")
        return optimizers
