"""Distillation strategies: the softened-softmax loss of Hinton et al. (2015) and its family.

A strategy turns a batch of student logits ``z`` (shape (N, C)), the frozen teacher's logits ``v``
(same shape) and, optionally, the true labels into a scalar loss and its gradient with respect to
the student logits, ``dlogits`` (shape (N, C)), which the student's ``backward`` consumes.

Every gradient here is derived by hand in its class docstring and checked against central
differences (``minikd.gradcheck``) and, when PyTorch is installed, against autograd.

==========================  ===========================================================  ==========
strategy                    per-sample loss (the batch loss is the mean over N samples)  labels
==========================  ===========================================================  ==========
``DistillationLoss``        alpha * CE(z, y) + (1 - alpha) * T^2 * KL(softmax(v/T) ||    optional
                            softmax(z/T))   (Hinton et al. 2015)
``LogitMatchingLoss``       alpha * CE(z, y) + (1 - alpha) * ||z - v||^2 / (2C)          optional
                            (Ba & Caruana 2014; the T -> infinity limit of the above)
``DecoupledKDLoss``         T^2 * (alpha * TCKD + beta * NCKD)   (Zhao et al. 2022)      required
``CompositeStrategy``       sum_k weight_k * loss_k                                      as parts
``CrossEntropyLoss``        CE(z, y), no teacher (the supervised baseline)               required
==========================  ===========================================================  ==========

Conventions shared by all strategies
------------------------------------
- ``alpha`` weights the **hard** (true-label) term, as in the seed library: ``alpha = 0`` is pure
  distillation, ``alpha = 1`` plain cross-entropy. Without labels there is no hard term and the
  soft term gets the full weight 1 (not ``1 - alpha``): ``L = (1/N) sum_i T^2 KL_i``. (The
  exception is ``DecoupledKDLoss``, whose alpha and beta weight its two terms, as in the paper.)
- Reduction: the mean over the N samples of per-sample sums over the C classes (PyTorch's
  ``reduction="batchmean"``), never a mean over classes.
- The cross-entropy term always uses temperature 1; only the soft term is softened.
- Inputs are one vector (C,) or a batch (N, C); labels are integer indices (N,) or probability
  rows (N, C) (for one vector: an int or a (C,) row). float32 logits give a float32 gradient
  (float16 is promoted to float32); the loss is a Python float, computed in float64 from the
  float32 logits (see "Precision" in :class:`DistillationLoss`), so a float32 loss is as
  accurate as the float32 inputs allow, not as float32 arithmetic.

Two ways in
-----------
The public methods ``compute_loss``, ``compute_gradient`` and ``loss_and_gradient`` validate
everything and accept single vectors. The private ``_compute(z, v, labels_kind, labels)`` is the
math alone (the trainer has checked its inputs once, at ``train()``): ``z`` and ``v`` are 2-D float
arrays of the same shape and dtype, ``(labels_kind, labels)`` is the output of
``minikd._validation.check_labels`` (or ``(None, None)``), and it returns ``(loss, dlogits, parts)``
with ``dlogits`` shaped like ``z`` and in its dtype. A trainer's step 3 calls
``_compute_step(z, v, labels_kind, labels, student_cache, teacher_hidden)``: for a logit loss one
line that calls ``_compute``; a feature loss reads its layers there (``student_cache.hidden[k]``,
``teacher_hidden[k]``) and adds ``parts["dhidden"]`` and ``parts["dparams"]``.

Modules: ``base`` (:class:`DistillationStrategy`, :func:`strategy_from_config`), ``logits`` (the logit
losses), ``composite`` (:class:`CompositeStrategy`), ``feature_base`` (:class:`FeatureDistillationStrategy`, the base
of the losses on hidden layers and on relations between samples), ``features`` (:class:`HintLoss`,
:class:`CosineHintLoss`, :class:`AttentionTransferLoss`) and ``relational`` (:class:`RKDLoss`,
:class:`SimilarityPreservingLoss`, :class:`PKTLoss`). The feature losses train through the trainers
(alone or in a :class:`CompositeStrategy`), and their ``loss_and_gradient(S, T)`` works on any
representations you give them.
"""

from .base import DistillationStrategy, strategy_from_config
from .composite import CompositeStrategy
from .feature_base import FeatureDistillationStrategy
from .features import AttentionTransferLoss, CosineHintLoss, HintLoss
from .logits import CrossEntropyLoss, DecoupledKDLoss, DistillationLoss, LogitMatchingLoss
from .relational import PKTLoss, RKDLoss, SimilarityPreservingLoss

__all__ = [
    "DistillationStrategy",
    "CrossEntropyLoss",
    "DistillationLoss",
    "LogitMatchingLoss",
    "DecoupledKDLoss",
    "CompositeStrategy",
    "FeatureDistillationStrategy",
    "HintLoss",
    "CosineHintLoss",
    "AttentionTransferLoss",
    "RKDLoss",
    "SimilarityPreservingLoss",
    "PKTLoss",
    "strategy_from_config",
]
