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
from ..mlp import check_hidden_index
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

    _prefix = "strategy."  # the trainer's name for params[k] is _prefix + k (set by _bind)

    def _params(self) -> dict:
        return {"student_layer": self.student_layer, "teacher_layer": self.teacher_layer}

    @property
    def required_student_layers(self) -> tuple:
        """The student hidden layer the loss reads, ``(student_layer,)``, or ``()`` for the logits."""
        return () if self.student_layer == "logits" else (self.student_layer,)

    @property
    def required_teacher_layers(self) -> tuple:
        """The teacher hidden layer the loss reads, ``(teacher_layer,)``, or ``()`` for the logits."""
        return () if self.teacher_layer == "logits" else (self.teacher_layer,)

    # -- in a trainer
    def _bind(self, student_sizes, teacher_sizes, classes, prefix="strategy."):
        """Check both layers against the models and the widths against the loss; build the params."""
        name = type(self).__name__
        if self.student_layer == "logits":
            d_s = classes
        else:
            k = check_hidden_index(self.student_layer, student_sizes, f"{name}'s student_layer", "the student")
            d_s = student_sizes[k]
        if self.teacher_layer == "logits":
            d_t = classes
        elif teacher_sizes is None:
            raise ValueError(
                f"{name}(teacher_layer={self.teacher_layer}) reads a hidden layer of the teacher, but this teacher "
                "cannot give its hidden layers: only an MLP (or a TeacherModelWrapper of one) and an EnsembleTeacher "
                "of MLPs can (a callable X -> logits has none); use teacher_layer='logits' or an MLP teacher"
            )
        else:
            k = check_hidden_index(self.teacher_layer, teacher_sizes, f"{name}'s teacher_layer", "the teacher")
            d_t = teacher_sizes[k]
        try:
            self._check_widths(d_s, d_t)
        except ValueError as exc:
            raise ValueError(f"{exc} (the student's layer {self.student_layer!r} has width {d_s}, the teacher's "
                             f"layer {self.teacher_layer!r} width {d_t})") from None
        self._build_params(d_s, d_t)
        self._prefix = prefix

    def _build_params(self, d_s: int, d_t: int) -> None:
        """Create the trainable arrays for widths d_s, d_t (default: none)."""
        return None

    def _reset_params(self) -> None:
        self.params.clear()  # built again at the next train() entry (_bind -> _build_params)

    def _named_params(self) -> dict:
        return {self._prefix + k: v for k, v in self.params.items()}

    def _compute_step(self, z, v, labels_kind, labels, student_cache, teacher_hidden):
        """Step 3 in a trainer: the loss on the declared layers, its gradient at the student's layer, and
        the gradients of ``params`` (see :meth:`DistillationStrategy._compute_step`)."""
        S = z if self.student_layer == "logits" else student_cache.hidden[self.student_layer]  # (B, d_s)
        T = v if self.teacher_layer == "logits" else teacher_hidden[self.teacher_layer]   # (B, d_t)
        loss, dS, parts = self._compute(S, T, None, None)
        dparams = {self._prefix + k: g for k, g in parts["dparams"].items()}
        if self.student_layer == "logits":
            return loss, dS, {"soft": loss, "hard": None, "dhidden": {}, "dparams": dparams}
        return loss, np.zeros_like(z), {"soft": loss, "hard": None, "dhidden": {self.student_layer: dS},
                                        "dparams": dparams}

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
        with np.errstate(over="ignore", invalid="ignore"):
            loss, dS, parts = self._loss_and_gradient(S, T)  # in the common dtype; dS in S's
        if not (np.isfinite(loss) and np.isfinite(dS).all()):
            raise ValueError(f"{type(self).__name__} overflowed for these inputs (loss {loss!r}); rescale S and T")
        return loss, dS, parts.get("dparams", {})

    def _check_widths(self, d_s: int, d_t: int) -> None:
        """ValueError if the loss cannot compare widths d_s and d_t (default: any widths)."""
        return None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"

