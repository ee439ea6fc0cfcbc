"""Evaluation: the strategy's loss, accuracy and teacher agreement of a student on a data set.

``KnowledgeDistillationTrainerBase`` uses it after every epoch (on the validation data) and offers it
as :meth:`~EvaluationMixin.evaluate`; kept here so that the loop's module holds the loop.
"""

from __future__ import annotations

import numpy as np

from .._threads import blas_threads_for
from ._helpers import _accuracy, _check_student, _check_X, _label_kind
from .run import bind_strategy, check_class_counts, check_enough_samples, check_y, learn_teacher_classes

__all__ = ["EvaluationMixin"]


class EvaluationMixin:
    """``evaluate`` and the per-epoch metrics of a trainer (its strategy and teacher outputs)."""

    def _metrics(self, student, X, y, teacher_outputs) -> dict:
        """Loss, accuracy and agreement on (X, y), the teacher's outputs ``(logits, hidden)`` given."""
        teacher_logits, teacher_hidden = teacher_outputs
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            logits, cache = student._forward_train(X, drop=False)  # evaluation never drops units
            y_kind = _label_kind(y)
            loss, _, _ = self.strategy._compute_step(logits, teacher_logits, y_kind, y, cache, teacher_hidden)
        out = {"loss": float(loss), "accuracy": None if y is None else _accuracy(logits, y_kind, y),
               "teacher_agreement": None}
        if teacher_logits is not None:
            # (M,) against (M,), or against (P, M) for mutual learning's P peers: the mean agreement with them
            out["teacher_agreement"] = float(np.mean(logits.argmax(1) == teacher_logits.argmax(-1)))
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
        check_enough_samples(self.strategy, X.shape[0], "X must hold at least {m} samples")
        with blas_threads_for(student, X.shape[0]):  # one BLAS thread for a small model (minikd/_threads.py)
            learn_teacher_classes(self, X)
            check_class_counts(self, student)  # class counts before labels
            y = check_y(self, y, "y", X.shape[0], student)
            bind_strategy(self, student)  # layer indices and widths; HintLoss's regressor
            self._dtype = student.dtype  # the teacher's outputs are cast to it, as in training
            return self._metrics(student, X, y, self.get_teacher_outputs(X, None))
