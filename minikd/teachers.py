"""Teachers: anything that maps inputs to logits.

A teacher is frozen: the trainer only ever asks it for logits (``get_logits``) and never
updates it. :class:`TeacherModelWrapper` turns an :class:`minikd.MLP` or any callable
``X -> logits`` into a teacher and checks what comes back, so a teacher that returns the wrong
shape or NaN fails loudly, with its name, instead of corrupting a run.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ._validation import check_float_array, check_int, describe

__all__ = ["TeacherModel", "TeacherModelWrapper", "as_teacher"]


@runtime_checkable
class TeacherModel(Protocol):
    """What the trainer needs of a teacher (the seed library's ``ITeacherModel``).

    Attributes
    ----------
    output_dimension : int
        The number of classes C of the logits it returns.

    Methods
    -------
    get_logits(X)
        X of shape (N, D) -> logits of shape (N, C); X of shape (D,) -> logits of shape (C,).
    """

    output_dimension: int

    def get_logits(self, X: np.ndarray) -> np.ndarray: ...


class TeacherModelWrapper:
    """Wrap an :class:`minikd.MLP` or a callable ``X -> logits`` as a :class:`TeacherModel`.

    Parameters
    ----------
    model_or_callable : MLP or callable
        An object with ``forward(X)`` (an MLP) or a callable taking X of shape (N, D) and
        returning logits of shape (N, C).
    output_dimension : int, optional
        C. Taken from ``model.output_dim`` for an MLP; for a callable, if not given, it is
        inferred on the first call and every later call is checked against it.

    Examples
    --------
    >>> import numpy as np
    >>> from minikd import MLP, TeacherModelWrapper
    >>> teacher = TeacherModelWrapper(MLP([4, 8, 3], seed=0))
    >>> teacher.get_logits(np.zeros((5, 4))).shape
    (5, 3)
    """

    def __init__(self, model_or_callable, output_dimension: int | None = None):
        forward = getattr(model_or_callable, "forward", None)
        if callable(forward) and hasattr(model_or_callable, "output_dim"):
            self._fn = forward
            model_dim = int(model_or_callable.output_dim)
            if output_dimension is not None and check_int(output_dimension, "output_dimension", 1) != model_dim:
                raise ValueError(
                    f"output_dimension must match the model's output size {model_dim}, got {output_dimension}"
                )
            output_dimension = model_dim
        elif callable(model_or_callable):
            self._fn = model_or_callable
        else:
            raise TypeError(
                f"model_or_callable must be an MLP or a callable X -> logits, got {describe(model_or_callable)}"
            )
        self.model = model_or_callable
        self._output_dimension = (
            None if output_dimension is None else check_int(output_dimension, "output_dimension", 1)
        )

    @property
    def output_dimension(self) -> int | None:
        """The number of classes C (None for a callable that has not been called yet)."""
        return self._output_dimension

    def get_logits(self, X) -> np.ndarray:
        """Logits of the teacher for X.

        Parameters
        ----------
        X : array_like of shape (N, D) or (D,)

        Returns
        -------
        ndarray of shape (N, C) or (C,)
            Float logits, checked to be finite and of the right shape.
        """
        X = check_float_array(X, "X")
        single = X.ndim == 1
        out = self._fn(X[None, :] if single and not hasattr(self.model, "output_dim") else X)
        out = self._check_output(out, X.shape[0] if not single else 1, single)
        return out

    def _check_output(self, out, n: int, single: bool) -> np.ndarray:
        try:
            logits = check_float_array(out, "teacher output", ndim=(1, 2))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"the teacher {self._name()} returned bad logits: {exc}") from None
        if single and logits.ndim == 2 and logits.shape[0] == 1:
            logits = logits[0]
        expected_ndim = 1 if single else 2
        if logits.ndim != expected_ndim or (not single and logits.shape[0] != n):
            want = "(C,)" if single else f"({n}, C)"
            raise ValueError(
                f"the teacher {self._name()} must return logits of shape {want} for "
                f"{'one sample' if single else f'{n} samples'}, got shape {logits.shape}"
            )
        c = logits.shape[-1]
        if self._output_dimension is None:
            self._output_dimension = c
        elif c != self._output_dimension:
            raise ValueError(
                f"the teacher {self._name()} must return {self._output_dimension} logits per "
                f"sample (output_dimension), got {c}"
            )
        return logits

    def _name(self) -> str:
        return getattr(self.model, "__name__", type(self.model).__name__)

    def __repr__(self) -> str:
        return f"TeacherModelWrapper({self.model!r}, output_dimension={self._output_dimension})"


def as_teacher(teacher) -> TeacherModel:
    """Return ``teacher`` as a :class:`TeacherModel`: wrap an MLP or a callable, pass a teacher through.

    Parameters
    ----------
    teacher : TeacherModel, MLP or callable

    Returns
    -------
    TeacherModel
    """
    if callable(getattr(teacher, "get_logits", None)) and hasattr(teacher, "output_dimension"):
        return teacher
    return TeacherModelWrapper(teacher)
