"""The base class of the losses on representations other than logits: hidden layers and relations.

A feature strategy compares a student representation ``S`` of a batch, shape (N, d_s), with the
teacher's ``T``, shape (N, d_t): the output of a hidden layer (``student_layer``/``teacher_layer``, an
int into ``cache.hidden``, 0-based, negative from the end of *that* model's hidden layers) or the
logits (``"logits"``). Its public methods take ``(S, T)``; its math is the same ``_compute`` as every
strategy's, with ``z, v`` read as ``S, T`` and no labels, returning ``(loss, dS, parts)`` where
``parts["dparams"]`` holds the gradients of its own trainable arrays (``self.params``, e.g. a FitNets
regressor), keyed like them.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_float_array, check_int
from .base import DistillationStrategy

__all__ = ["FeatureDistillationStrategy"]


def _check_layer(value, name: str):
    """An int (a hidden layer, negative from the end) or the string "logits"."""
    if isinstance(value, str):
        if value != "logits":
            raise ValueError(f"{name} must be an int (a hidden layer) or 'logits', got {value!r}")
        return value
    return check_int(value, name)


class FeatureDistillationStrategy(DistillationStrategy):
    """Base class of the feature and relational losses: ``loss(S, T)`` on two representations of a batch.

    Parameters
    ----------
    student_layer, teacher_layer : int or "logits", default -1
        Which representation of each model the loss compares: a hidden layer (0-based index into
        ``cache.hidden``; -1 is the last hidden layer) or the logits.

    Attributes
    ----------
    params : dict of str -> ndarray
        The strategy's trainable arrays ({} for a parameter-free loss); the arrays in it are the ones
        the loss uses, so writing into them changes the loss.
    min_batch_size : int
        The smallest N the loss is defined for (2 for pairwise relations, 3 for angles).

    Notes
    -----
    Subclasses implement ``_compute(S, T, labels_kind, labels) -> (loss, dS, parts)`` on validated
    2-D arrays of one float dtype with the same N (labels are always None), returning ``dS`` shaped
    like ``S`` in its dtype and ``parts = {"soft": loss, "hard": None, "dparams": {...}}``.
    """

    requires_labels = False
    uses_teacher = True
    min_batch_size = 1

    def __init__(self, student_layer=-1, teacher_layer=-1):
        super().__init__(1.0, 0.0)
        self.student_layer = _check_layer(student_layer, "student_layer")
        self.teacher_layer = _check_layer(teacher_layer, "teacher_layer")
        self.params = {}

    def _params(self) -> dict:
        return {"student_layer": self.student_layer, "teacher_layer": self.teacher_layer}

    # -- public, validated API
    def compute_loss(self, S, T) -> float:
        """The loss, a Python float. See :meth:`loss_and_gradient`."""
        return self.loss_and_gradient(S, T)[0]

    def compute_gradient(self, S, T) -> np.ndarray:
        """dL/dS, shaped like ``S``. See :meth:`loss_and_gradient`."""
        return self.loss_and_gradient(S, T)[1]

    def loss_and_gradient(self, S, T):
        """Loss, gradient with respect to ``S`` and gradients of ``params``.

        Parameters
        ----------
        S : array_like of shape (N, d_s)
            The student's representation of a batch, finite.
        T : array_like of shape (N, d_t)
            The teacher's representation of the same batch, finite.

        Returns
        -------
        loss : float
        dS : ndarray of shape (N, d_s), in S's dtype (float16 promoted to float32)
        dparams : dict of str -> ndarray
            Keyed like :attr:`params` ({} for a parameter-free loss).

        Raises
        ------
        TypeError, ValueError
            For wrong types, ndim, non-finite values, different N, N below ``min_batch_size``, or
            widths the loss cannot compare (the message names the argument and the shapes).
        """
        S = check_float_array(S, "S", ndim=2)
        T = check_float_array(T, "T", ndim=2)
        if S.shape[0] != T.shape[0]:
            raise ValueError(f"S and T must describe the same samples (same N), got S of shape {S.shape} "
                             f"and T of shape {T.shape}")
        if S.shape[0] < self.min_batch_size:
            raise ValueError(f"{type(self).__name__} needs batches of at least {self.min_batch_size} samples, "
                             f"got N = {S.shape[0]}")
        self._check_widths(S.shape[1], T.shape[1])
        if T.dtype != S.dtype:
            dtype = np.result_type(S, T)
            S64, T64 = S.astype(dtype, copy=False), T.astype(dtype, copy=False)
        else:
            S64, T64 = S, T
        with np.errstate(over="ignore", invalid="ignore"):
            loss, dS, parts = self._compute(S64, T64, None, None)
        if not (np.isfinite(loss) and np.isfinite(dS).all()):
            raise ValueError(f"{type(self).__name__} overflowed for these inputs (loss {loss!r}); rescale S and T")
        return loss, dS.astype(S.dtype, copy=False), parts.get("dparams", {})

    def _check_widths(self, d_s: int, d_t: int) -> None:
        """ValueError if the loss cannot compare widths d_s and d_t (default: any widths)."""
        return None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"

