"""The distillation loop: four visible steps, early stopping, seeds, progress and checkpoints.

The loop lives once, in :class:`KnowledgeDistillationTrainerBase`. For each minibatch (``indices``
into the training set) :meth:`~KnowledgeDistillationTrainerBase.train_step` runs, as four lines
you can put breakpoints on:

1. teacher outputs  ``teacher_logits, teacher_hidden = self.get_teacher_outputs(X_batch, indices)``
2. student outputs  ``student_logits, cache = student._forward_train(X_batch)`` (``cache.hidden``)
3. loss             ``loss, dlogits, parts = self.strategy._compute_step(student_logits, teacher_logits, ...)``
   (for a logit loss one line that calls ``_compute``, the strategy's math; a feature loss picks its
   hidden layers there and returns ``parts["dhidden"]`` and ``parts["dparams"]``)
4. update           ``grads = student._backward(dlogits, cache, parts.get("dhidden")) | parts.get("dparams", {})``;
   ``optimizer._step(student.params | strategy params, grads)``

Subclasses differ only in where teacher outputs come from:
:class:`KnowledgeDistillationTrainer` asks a frozen teacher (caching its logits by *dataset*
index, so shuffling cannot mix them up) and :class:`SupervisedTrainer` has no teacher (cross-entropy
on labels). :class:`SelfDistillationTrainer` runs these two trainers once per generation to distil a
model into fresh copies of itself.

Modules (each imports only those above it)
------------------------------------------
- ``_helpers`` — argument checks shared by the trainers, accuracy, progress output;
- ``early_stopping`` — :class:`EarlyStopping`;
- ``run`` — :class:`~minikd.trainer.run.Run`, one ``train`` call's checked arguments and state;
- ``resume`` — the run's fingerprint, resume checks and checkpoint state (``RunStateMixin``);
- ``evaluation`` — ``evaluate`` and the per-epoch metrics (``EvaluationMixin``);
- ``base`` — :class:`KnowledgeDistillationTrainerBase`: ``train`` as the outline of a run, ``train_step``;
- ``distillation`` — :class:`KnowledgeDistillationTrainer`, :class:`SupervisedTrainer`;
- ``self_distillation`` — :class:`SelfDistillationTrainer` (born-again networks);
- ``mutual`` — :class:`MutualLearningTrainer` (deep mutual learning: a cohort of students, one lane each
  in the same loop, each distilled from the others' current logits).
"""

from .._run_state import History, TrainingDivergedError
from .base import KnowledgeDistillationTrainerBase, StepRecord
from .distillation import KnowledgeDistillationTrainer, SupervisedTrainer
from .early_stopping import EarlyStopping
from .mutual import MutualLearningTrainer, PeerMeanStrategy
from .self_distillation import SelfDistillationResult, SelfDistillationTrainer

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
    "MutualLearningTrainer",
    "PeerMeanStrategy",
]
