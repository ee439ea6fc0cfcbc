"""Teachers: anything that maps inputs to logits.

A teacher is frozen: the trainer only ever asks it for logits (``get_logits``) and never
updates it. :class:`TeacherModelWrapper` turns an :class:`minikd.MLP` or any callable
``X -> logits`` into a teacher and checks what comes back, so a teacher that returns the wrong
shape or NaN fails loudly, with its name, instead of corrupting a run. :class:`EnsembleTeacher`
combines several teachers into one (mean of logits, of probabilities, geometric mean, or the
element-wise max or median of the logits).

A teacher is given a **read-only view** of X: a teacher that writes into its input (``X -= mean``)
would otherwise change the caller's data (the trainer passes the training set itself when it has
the student's dtype). Such a teacher gets a ``ValueError`` naming it; it must copy its input first.
``get_logits(X, dtype=...)`` casts the logits to a student's dtype and refuses logits that do not
fit in it (1e39 is finite in float64, inf in float32).

``get_hidden(X, layers)`` returns an MLP teacher's hidden layers (for the feature losses); an
ensemble of MLPs returns their weighted mean (their element-wise max or median in those modes).
Hidden layers are always 2-D, (N, H_k), also for one sample (1, H_k), as in
:attr:`minikd.mlp.MLPCache.hidden`.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Protocol, runtime_checkable

import numpy as np

from ._validation import (
    cast_to_dtype,
    check_choice,
    check_float_array,
    check_int,
    check_labels,
    check_model_dtype,
    describe,
)
from .functional import _log_softmax
from .mlp import MLP, check_hidden_index

__all__ = ["TeacherModel", "TeacherModelWrapper", "as_teacher", "EnsembleTeacher"]


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
        Must not modify X (:class:`TeacherModelWrapper` passes it a read-only view). The
        wrappers minikd puts around every teacher (:func:`as_teacher`) also take ``dtype``.
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

    @property
    def hidden_sizes(self) -> tuple[int, ...] | None:
        """``(H_0, ..., H_{L-2})``, the widths of a wrapped MLP's hidden layers (() if it has none);
        None for a callable, which has no hidden layers to give."""
        return self.model.hidden_sizes if isinstance(self.model, MLP) else None

    def get_hidden(self, X, layers, dtype=None) -> tuple:
        """The wrapped MLP's hidden layers for X, from one forward pass.

        Parameters
        ----------
        X : array_like of shape (N, D) or (D,)
            Passed to the model as a **read-only view**, as in :meth:`get_logits`.
        layers : int or sequence of int
            Hidden-layer indices, 0-based; a negative one counts from the end of this model's
            hidden layers (-1 the last). At least one; repeats are allowed.
        dtype : {np.float32, np.float64}, optional
            Cast the hidden layers to this dtype (a student's), checking that they fit in it.
            Default: the model's dtype.

        Returns
        -------
        tuple of ndarray, one per entry of ``layers``, in that order
            ``out[i]`` has shape (N, H_k) for ``k = layers[i]`` (also for X of shape (D,): (1, H_k),
            as ``MLPCache.hidden``): the output of hidden layer k after its activation, exactly
            ``forward_train(X, drop=False)[1].hidden[k]``. Finite (after the cast).

        Raises
        ------
        TypeError
            If the teacher is a callable rather than an MLP, or ``layers`` is not an int or a
            sequence of ints.
        ValueError
            If an index is out of range, X does not fit the model, or a layer does not fit in ``dtype``.

        Notes
        -----
        Uses the evaluation forward pass, the one :meth:`MLP.forward` runs: never dropout, also for a
        teacher built with ``dropout`` > 0 (its ``dropout_rng`` is not advanced).
        """
        wanted = _check_layers(layers)
        if not isinstance(self.model, MLP):
            raise TypeError(
                f"get_hidden needs an MLP teacher (or an EnsembleTeacher of MLPs): the teacher {self._name()} is a "
                "callable X -> logits, which has no hidden layers to give; wrap a minikd.MLP, or use a loss on "
                "the logits (student_layer=teacher_layer='logits')"
            )
        owner = f"the teacher {self.model!r}"
        ks = [check_hidden_index(k, self.model.hidden_sizes, f"layers[{i}]", owner) for i, k in enumerate(wanted)]
        if dtype is not None:
            dtype = check_model_dtype(dtype, "dtype")
        X = _read_only(check_float_array(X, "X"))
        _, cache = self.model.forward_train(X, drop=False)  # = forward(X), keeping the intermediates
        # forward_train refuses non-finite logits, and an inf or NaN in a hidden layer always reaches them
        out = [cache.hidden[k] for k in ks]
        if dtype is not None:
            out = [cast_to_dtype(H, dtype, f"hidden layer {k} of the teacher {self.model!r}",
                                 "scale the teacher down, or train a float64 student", what="the student's dtype")
                   for H, k in zip(out, ks, strict=True)]
        return tuple(out)

    def get_logits(self, X, dtype=None) -> np.ndarray:
        """Logits of the teacher for X.

        Parameters
        ----------
        X : array_like of shape (N, D) or (D,)
            Passed to the teacher as a **read-only view**, so a teacher cannot change the caller's
            array.
        dtype : {np.float32, np.float64}, optional
            Cast the logits to this dtype (a student's), checking that they fit in it. Default:
            the teacher's own float dtype.

        Returns
        -------
        ndarray of shape (N, C) or (C,)
            Float logits, checked to be finite (after the cast, if ``dtype`` is given) and of the
            right shape.

        Raises
        ------
        ValueError
            If the logits have the wrong shape or class count, are not finite, do not fit in
            ``dtype``, or the teacher tried to write into X.
        TypeError
            If the teacher returned something that is not an array of real numbers.
        """
        X = check_float_array(X, "X")
        if dtype is not None:
            dtype = check_model_dtype(dtype, "dtype")
        single = X.ndim == 1
        X = _read_only(X)
        out = self._call(X[None, :] if single and not hasattr(self.model, "output_dim") else X)
        out = self._check_output(out, X.shape[0] if not single else 1, single)
        if dtype is not None:
            out = cast_to_dtype(out, dtype, f"the logits of the teacher {self._name()}",
                                "scale the teacher's logits down, or train a float64 student",
                                what="the student's dtype")
        return out

    def _call(self, X: np.ndarray):
        """The teacher's function on a read-only X; its attempt to write into X becomes a clear error."""
        try:
            return self._fn(X)
        except ValueError as exc:  # NumPy: "assignment destination is read-only", "output array is read-only"
            if "read-only" not in str(exc):
                raise
            raise ValueError(
                f"the teacher {self._name()} tried to write into a read-only array, most likely its input X: "
                "minikd gives a teacher a read-only view of X so that it cannot change the caller's data. A "
                f"teacher that works in place must copy its input first (X = X.copy()). NumPy's error: {exc}"
            ) from exc

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
        owner = getattr(self.model, "__self__", None)  # a bound method: a TeacherModel's get_logits
        if owner is not None and not isinstance(owner, ModuleType):
            return f"{type(owner).__name__}.{getattr(self.model, '__name__', 'get_logits')}"
        return getattr(self.model, "__name__", type(self.model).__name__)

    def __repr__(self) -> str:
        return f"TeacherModelWrapper({self.model!r}, output_dimension={self._output_dimension})"


def as_teacher(teacher, name: str = "teacher") -> TeacherModel:
    """Return ``teacher`` as a :class:`TeacherModel`: wrap an MLP or a callable, pass a teacher through.

    Parameters
    ----------
    teacher : TeacherModel, MLP or callable
    name : str, default "teacher"
        The caller's name for ``teacher``, used in the error message (``"teachers[2]"`` for a member
        of an ensemble).

    Returns
    -------
    TeacherModel
        ``teacher`` itself for a :class:`TeacherModelWrapper` or :class:`EnsembleTeacher`, else a
        :class:`TeacherModelWrapper` around it (a hand-written TeacherModel's ``get_logits``, so its
        outputs are checked too).

    Raises
    ------
    TypeError
        If ``teacher`` is none of these (None, a number, a class instead of an instance).
    """
    if isinstance(teacher, (TeacherModelWrapper, EnsembleTeacher)):
        return teacher
    if callable(getattr(teacher, "get_logits", None)) and hasattr(teacher, "output_dimension"):
        # a hand-written TeacherModel: wrap its get_logits so every output is checked too
        return TeacherModelWrapper(teacher.get_logits, output_dimension=teacher.output_dimension)
    is_model = callable(getattr(teacher, "forward", None)) and hasattr(teacher, "output_dim")
    if isinstance(teacher, type) or not (is_model or callable(teacher)):
        if teacher is None:
            hint = " (to train without a teacher, use SupervisedTrainer)"
        elif isinstance(teacher, type):
            hint = " (a class: did you forget the ()?)"
        else:
            hint = ""
        raise TypeError(
            f"{name} must be an MLP, a callable X -> logits, or a TeacherModel (with get_logits(X) and "
            f"output_dimension), got {describe(teacher)}{hint}"
        )
    return TeacherModelWrapper(teacher)


def _check_layers(layers) -> list:
    """``layers`` of :meth:`get_hidden` as a non-empty list of ints (ranges are checked per model)."""
    if isinstance(layers, (int, np.integer)) and not isinstance(layers, (bool, np.bool_)):
        return [layers]
    if isinstance(layers, (str, bytes)) or not isinstance(layers, (Sequence, np.ndarray)):
        raise TypeError(
            f"layers must be an int or a sequence of ints (hidden-layer indices, -1 the last), got {describe(layers)}"
        )
    if len(layers) == 0:
        raise ValueError("layers must name at least one hidden layer, got an empty sequence")
    for i, k in enumerate(layers):
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"layers[{i}] must be an int index of a hidden layer (-1 the last), got {describe(k)}")
    return list(layers)


def _read_only(X: np.ndarray) -> np.ndarray:
    """A read-only view of X (the caller's array stays writeable)."""
    view = X.view()
    view.flags.writeable = False
    return view


_ENSEMBLE_MODES = ("logits", "probabilities", "geometric")
_WEIGHTED_MODES = ("logits", "probabilities", "geometric")  # the modes that take weights
_ENSEMBLE_MODES = _WEIGHTED_MODES + ("max", "median")       # element-wise over the members, no weights


class EnsembleTeacher:
    r"""Several frozen teachers combined into one (ensemble distillation).

    Parameters
    ----------
    teachers : sequence of TeacherModel, MLP or callable
        At least one; each is passed through :func:`as_teacher` (an MLP or a callable
        ``X -> logits`` is wrapped in :class:`TeacherModelWrapper`). All must return the same
        number of classes C.
    weights : sequence of float, optional
        One finite weight >= 0 per teacher, not all zero; **normalised to sum to 1** (so
        ``[1, 1, 2]`` means ``[0.25, 0.25, 0.5]``). Default: equal weights ``1/K``. A teacher of
        weight 0 is still run (and checked) but does not change the result. Only for the weighted
        modes: with ``"max"`` or ``"median"`` it must be None (weights do not apply; a ValueError).
        :meth:`weighted_by_accuracy` sets them from a validation set.
    mode : {"logits", "probabilities", "geometric", "max", "median"}, default "logits"
        How the K teachers' logits ``v_k`` (rows of shape (C,)) are combined; see Notes.

    Attributes
    ----------
    teachers : tuple of TeacherModel
        The wrapped members, in order.
    weights : ndarray of float64 of shape (K,)
        The normalised weights (a copy: changing it does not change the ensemble). Equal, ``1/K``,
        and unused for ``"max"`` and ``"median"``.
    mode : str
    output_dimension : int or None
        C, the members' common number of classes (None while only callables that have not
        been called yet are known).

    Notes
    -----
    With weights ``w_k`` (``sum_k w_k = 1``) and member probabilities ``p_k = softmax(v_k)``,
    ``get_logits`` returns, per sample:

    - ``"logits"``: the weighted mean of the logits, ``v̄ = sum_k w_k v_k``.
    - ``"probabilities"``: ``log p̄`` with ``p̄ = sum_k w_k p_k``, the log of the weighted mean
      of the members' probabilities (computed as a log-sum-exp over k of
      ``log w_k + log_softmax(v_k)``, so nothing underflows to ``log 0``). These are valid
      logits: ``softmax(log p̄) = p̄``.
    - ``"geometric"``: ``log g`` with ``g = prod_k p_k^{w_k} / Z`` the **normalised** weighted
      geometric mean of the probabilities: ``log g = sum_k w_k log_softmax(v_k) - log Z``
      (the weighted mean of the log-softmaxes, minus the per-row constant that normalises it).
    - ``"max"``: the element-wise maximum of the logits, ``u_j = max_k v_kj`` (as the seed library's
      ``EnsembleTeacherModel`` offers): each class gets the logit of its most confident member.
    - ``"median"``: the element-wise median, ``u_j = median_k v_kj``; for an even K the mean of the two
      middle values, as :func:`numpy.median` (so for K <= 2 it is the plain mean, mode ``"logits"``).

    **What a strategy's temperature does to these.** A strategy softens whatever logits it
    gets: ``softmax(u / T)``.

    - For ``"probabilities"``, ``softmax(log p̄ / T)_j = p̄_j^{1/T} / sum_i p̄_i^{1/T}``: the
      averaged distribution raised to the power 1/T and renormalised. This is **not** the
      average of the members' softened distributions ``sum_k w_k softmax(v_k / T)``; the two
      agree only at T = 1.
    - For ``"logits"`` and ``"geometric"``: ``log p_k = v_k - logsumexp(v_k)``, so
      ``sum_k w_k log p_k = v̄ - sum_k w_k logsumexp(v_k)`` differs from ``v̄`` by a per-row
      constant, and so does ``log g``. Softmax ignores per-row constants, hence at **every** T
      ``softmax(log g / T) = softmax(v̄ / T) = prod_k softmax(v_k / T)^{w_k} / Z_T``, the
      normalised geometric mean of the members' softened distributions. The two modes
      therefore train identically with every strategy that only sees softened probabilities of
      the teacher (:class:`~minikd.DistillationLoss`, :class:`~minikd.DecoupledKDLoss`,
      ``LogitMatchingLoss(center=True)``); they differ for ``LogitMatchingLoss(center=False)``,
      which regresses onto the raw values (``v̄`` keeps the members' logit scale, ``log g`` is
      <= 0).
    - For ``"max"`` and ``"median"``: order statistics commute with dividing by T > 0, so
      ``softmax(u / T)`` is the softmax of the element-wise max (median) of the softened logits
      ``v_k / T``. But the max of logits is **not a distribution-level operation**: adding a
      constant to one member's row leaves its distribution ``p_k`` unchanged and changes ``u``
      (a member whose logits sit higher wins every class: with a large enough offset the "max"
      ensemble is that member), whereas in the three weighted modes it only shifts the result by a
      per-row constant, which softmax ignores. ``softmax(u)`` is not ``max_k p_k`` renormalised
      either. The median (K >= 3) depends on the offsets too. These modes suit members of
      comparable logit scales (the same architecture and training).

    The result has the dtype of the members' logits (``np.result_type`` of them all).

    Examples
    --------
    >>> import numpy as np
    >>> from minikd import MLP
    >>> from minikd.teachers import EnsembleTeacher
    >>> ensemble = EnsembleTeacher([MLP([4, 8, 3], seed=s) for s in range(3)], mode="probabilities")
    >>> logits = ensemble.get_logits(np.ones((5, 4)))
    >>> logits.shape, bool(np.allclose(np.exp(logits).sum(axis=1), 1.0))
    ((5, 3), True)
    """

    def __init__(self, teachers, weights=None, mode: str = "logits"):
        if isinstance(teachers, (str, bytes)) or not isinstance(teachers, (list, tuple)):
            raise TypeError(
                "teachers must be a list or tuple of teachers (MLPs, callables or TeacherModels), "
                f"got {describe(teachers)}"
            )
        if len(teachers) == 0:
            raise ValueError("teachers must hold at least one teacher, got an empty sequence")
        self.teachers = tuple(as_teacher(teacher, f"teachers[{i}]") for i, teacher in enumerate(teachers))
        self._check_known_dimensions()
        self.mode = check_choice(mode, "mode", _ENSEMBLE_MODES)
        if weights is not None and self.mode not in _WEIGHTED_MODES:
            shown = describe(weights.tolist() if isinstance(weights, np.ndarray) else weights)
            raise ValueError(
                f"weights must be None with mode={self.mode!r} (the element-wise {self.mode} over the teachers "
                f"takes no weights; they apply to modes {list(_WEIGHTED_MODES)}), got {shown}"
            )
        self._weights = _check_weights(weights, len(self.teachers))

    @classmethod
    def weighted_by_accuracy(cls, teachers, X_val, y_val, mode: str = "logits") -> EnsembleTeacher:
        """An ensemble whose weights are proportional to each teacher's accuracy on a validation set.

        Parameters
        ----------
        teachers : sequence of TeacherModel, MLP or callable
            As for the constructor.
        X_val : array_like of shape (N, D)
            Validation inputs (each teacher gets a read-only view).
        y_val : array_like of int of shape (N,)
            Their class indices in ``[0, C)`` (whole-number floats are accepted; probability rows are not).
        mode : {"logits", "probabilities", "geometric"}, default "logits"
            A weighted mode; ``"max"`` and ``"median"`` take no weights and are refused.

        Returns
        -------
        EnsembleTeacher
            With ``weights = a / sum(a)``, ``a_k`` the fraction of the N samples on which
            ``argmax_j v_kj == y_val`` for teacher k's logits ``v_k`` of shape (N, C) (ties go to the
            lowest class index, as :func:`numpy.argmax`). A teacher of accuracy 0 gets weight 0.

        Raises
        ------
        ValueError
            If ``mode`` is "max" or "median" (or not a mode), X_val is not a non-empty finite 2-D array,
            y_val is not N class indices in ``[0, C)``, or every teacher has accuracy 0 (TypeError: wrong types).

        Examples
        --------
        >>> import numpy as np
        >>> from minikd.teachers import EnsembleTeacher
        >>> right, wrong = (lambda X: np.eye(2)[[0, 1]]), (lambda X: np.eye(2)[[0, 0]])
        >>> EnsembleTeacher.weighted_by_accuracy([right, wrong], np.zeros((2, 3)), [0, 1]).weights.tolist()
        [0.6666666666666666, 0.3333333333333333]
        """
        mode = check_choice(mode, "mode", _ENSEMBLE_MODES)
        if mode not in _WEIGHTED_MODES:
            raise ValueError(f"mode must be one of {list(_WEIGHTED_MODES)} for weighted_by_accuracy (mode={mode!r} "
                             f"takes no weights), got {mode!r}")
        ensemble = cls(teachers, mode=mode)
        X_val = check_float_array(X_val, "X_val", ndim=2)
        outs = ensemble.member_logits(X_val)                               # K arrays of shape (N, C)
        accuracies = _accuracies(outs, y_val)                              # (K,)
        if not accuracies.max() > 0:
            raise ValueError(f"weighted_by_accuracy needs a teacher that gets at least one of the {X_val.shape[0]} "
                             f"validation samples right, got accuracies {accuracies.tolist()} (all zero)")
        return cls(ensemble.teachers, weights=accuracies, mode=mode)

    def _check_known_dimensions(self) -> None:
        first = None
        for i, teacher in enumerate(self.teachers):
            c = teacher.output_dimension
            if c is None:
                continue
            if first is None:
                first = (i, c)
            elif c != first[1]:
                raise ValueError(
                    "all teachers must have the same output dimension (number of classes), got "
                    f"teachers[{first[0]}].output_dimension = {first[1]} and teachers[{i}].output_dimension = {c}"
                )

    @property
    def weights(self) -> np.ndarray:
        """The normalised weights, shape (K,) (a copy)."""
        return self._weights.copy()

    @property
    def output_dimension(self) -> int | None:
        """C, the members' common number of classes (None if no member knows it yet)."""
        for teacher in self.teachers:
            if teacher.output_dimension is not None:
                return teacher.output_dimension
        return None

    @property
    def hidden_sizes(self) -> tuple[int, ...] | None:
        """The members' common hidden widths ``(H_0, ..., H_{L-2})``; None unless every member has
        hidden layers to give (an MLP, or an ensemble of MLPs) and all have the same widths.
        :meth:`get_hidden` may still work for members of different depths (see there)."""
        sizes = [getattr(teacher, "hidden_sizes", None) for teacher in self.teachers]
        if sizes[0] is None or any(size != sizes[0] for size in sizes[1:]):
            return None
        return sizes[0]

    def get_hidden(self, X, layers, dtype=None) -> tuple:
        """Each requested hidden layer combined over the members: their weighted mean, or for
        ``mode="max"``/``"median"`` their element-wise max/median.

        Parameters
        ----------
        X : array_like of shape (N, D) or (D,)
            Each member gets a read-only view of it.
        layers : int or sequence of int
            Hidden-layer indices, 0-based; a negative one counts from the end of **each member's**
            hidden layers (so -1 is every member's last hidden layer, also for members of
            different depths). Every member must have layer k, of the same width in all members.
        dtype : {np.float32, np.float64}, optional
            Cast the results to this dtype, checking that they fit in it. The members are combined in
            their own dtype (``np.result_type`` of them) first. Default: no cast.

        Returns
        -------
        tuple of ndarray, one per entry of ``layers``, in that order
            Of shape (N, H_k) ((1, H_k) for X of shape (D,)). With ``H_m`` member m's hidden layer
            ``layers[i]``: ``out[i] = sum_m w_m H_m`` with the ensemble's normalised ``weights`` (the
            plain mean with the default equal weights) for modes "logits", "probabilities" and
            "geometric"; ``max_m H_m`` or ``median_m H_m`` element-wise (as ``np.max``/``np.median``
            over m) for "max" and "median".

        Raises
        ------
        TypeError
            If a member has no hidden layers to give (a callable teacher).
        ValueError
            If a member has no such layer, or the members' widths of a requested layer differ.

        Notes
        -----
        This is a **crude convention**: the average (or max, or median) representation. The members'
        hidden units are not aligned in general (unit j of one network has nothing to do with unit j of
        another, even for networks of the same architecture trained from other seeds), so the result is
        not the representation of any network. Choosing one member per layer (or concatenating them) is
        future work. The three weighted modes differ on the logits only; "max" and "median" apply the
        same element-wise operation here as on the logits, so that no weights are used in those modes.
        """
        wanted = _check_layers(layers)
        _check_hidden_request(self.teachers, wanted, self.mode)
        if dtype is not None:
            dtype = check_model_dtype(dtype, "dtype")
        X = _read_only(check_float_array(X, "X"))
        outs = [teacher.get_hidden(X, wanted) for teacher in self.teachers]  # K tuples of len(wanted)
        out = []
        for i, k in enumerate(wanted):
            members = [member[i] for member in outs]
            members_dtype = np.result_type(*members)
            H = _combine(np.stack(members).astype(members_dtype, copy=False), self._weights, self.mode,
                         hidden=True)                                           # (K, N, H_k) -> (N, H_k)
            if dtype is not None:
                H = cast_to_dtype(H, dtype, f"hidden layer {k} of the EnsembleTeacher",
                                  "scale the teachers down, or train a float64 student", what="the student's dtype")
            out.append(H)
        return tuple(out)

    def member_logits(self, X) -> list:
        """Each member's logits for X, checked to agree on the number of classes.

        Parameters
        ----------
        X : array_like of shape (N, D) or (D,)

        Returns
        -------
        list of K ndarrays of shape (N, C) or (C,)
        """
        X = _read_only(check_float_array(X, "X"))  # each member also gets a read-only view
        outs = [teacher.get_logits(X) for teacher in self.teachers]
        for i, out in enumerate(outs[1:], start=1):
            if out.shape != outs[0].shape:
                raise ValueError(
                    "all teachers must return logits of the same shape (same number of classes), got "
                    f"{outs[0].shape} from teachers[0] and {out.shape} from teachers[{i}]"
                )
        return outs

    def get_logits(self, X, dtype=None) -> np.ndarray:
        """The ensemble's logits for X (see the class Notes for each mode).

        Parameters
        ----------
        X : array_like of shape (N, D) or (D,)
            Each member gets a read-only view of it.
        dtype : {np.float32, np.float64}, optional
            Cast the combined logits to this dtype (a student's), checking that they fit in it.
            The members are combined in their own dtype first. Default: no cast.

        Returns
        -------
        ndarray of shape (N, C), or (C,) for X of shape (D,)
            Finite; dtype ``dtype``, else ``np.result_type`` of the members' logits.

        Raises
        ------
        ValueError
            If the members disagree on C, the combined logits do not fit in ``dtype``, or (absurd
            inputs only) the combination overflows (for "median" with an even K: two middle values
            whose sum exceeds the dtype's largest number).
        """
        if dtype is not None:
            dtype = check_model_dtype(dtype, "dtype")
        outs = self.member_logits(X)
        members_dtype = np.result_type(*outs)
        V = np.stack(outs).astype(members_dtype, copy=False)  # (K, N, C) or (K, C)
        out = _combine(V, self._weights, self.mode)
        if not np.isfinite(out).all():
            raise ValueError(
                f"EnsembleTeacher(mode={self.mode!r}) overflowed: the teachers' logits (magnitude up to "
                f"{float(np.abs(V).max()):.3g} in {V.dtype}) are too large to combine; rescale them or use float64"
            )
        if dtype is not None:
            out = cast_to_dtype(out, dtype, f"the logits of EnsembleTeacher(mode={self.mode!r})",
                                "scale the teachers' logits down, or train a float64 student",
                                what="the student's dtype")
        return out

    def get_config(self) -> dict:
        """The constructor's arguments besides the teachers, as plain data.

        Returns
        -------
        dict
            ``{"weights": list of K floats (normalised; None for "max"/"median"), "mode": str}``: so
            ``EnsembleTeacher(ensemble.teachers, **ensemble.get_config())`` rebuilds the ensemble.
        """
        weights = self._weights.tolist() if self.mode in _WEIGHTED_MODES else None
        return {"weights": weights, "mode": self.mode}

    def __repr__(self) -> str:
        weights = f"weights={np.round(self._weights, 4).tolist()}, " if self.mode in _WEIGHTED_MODES else ""
        return (f"EnsembleTeacher({len(self.teachers)} teachers, {weights}"
                f"mode={self.mode!r}, output_dimension={self.output_dimension})")


def _check_weights(weights, k: int) -> np.ndarray:
    """``weights`` of :class:`EnsembleTeacher` validated and normalised to sum 1 (None: ``1/K`` each)."""
    if weights is None:
        return np.full(k, 1.0 / k)
    w = check_float_array(weights, "weights", ndim=1, finite=False, dtype=np.float64)
    if w.shape != (k,):
        raise ValueError(f"weights must have one entry per teacher ({k}), got {w.shape[0]}")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"weights must be finite numbers >= 0, got weights[{i}] = {float(w[i])!r}")
    if not w.max() > 0:
        raise ValueError(f"weights must not all be zero (they are normalised by their sum), got {w.tolist()}")
    w = w / w.max()  # first by the largest: the sum of huge finite weights cannot overflow
    return w / w.sum()


def _accuracies(outs: list, y_val) -> np.ndarray:
    """Each member's accuracy on y_val (checked to be N class indices): K logits of shape (N, C) -> (K,)."""
    kind, labels = check_labels(y_val, "y_val", outs[0].shape[0], outs[0].shape[1])
    if kind != "index":
        raise ValueError(f"y_val must be integer class indices of shape (N,), got probability rows of shape "
                         f"{labels.shape}; pass y_val.argmax(axis=1)")
    return np.array([np.mean(np.argmax(v, axis=1) == labels) for v in outs])  # argmax ties: the lowest index


def _check_hidden_request(teachers, wanted: list, mode: str) -> None:
    """Refuse a :meth:`EnsembleTeacher.get_hidden` request that some member cannot serve, or whose
    layers differ in width between members."""
    for m, teacher in enumerate(teachers):
        sizes = getattr(teacher, "hidden_sizes", None)
        if sizes is None:
            raise TypeError(
                f"EnsembleTeacher.get_hidden needs every member to be an MLP (or an ensemble of MLPs): "
                f"teachers[{m}] ({teacher!r}) has no hidden layers to give; build the ensemble from "
                "minikd.MLP teachers, or use a loss on the logits"
            )
    for i, k in enumerate(wanted):
        widths = [teacher.hidden_sizes[check_hidden_index(k, teacher.hidden_sizes, f"layers[{i}]",
                                                          f"teachers[{m}] {teacher!r}")]
                  for m, teacher in enumerate(teachers)]
        if any(width != widths[0] for width in widths[1:]):
            how = "averaged" if mode in _WEIGHTED_MODES else f"combined (mode={mode!r})"
            raise ValueError(
                f"layers[{i}] = {k} must name hidden layers of the same width in every member to be "
                f"{how}, got widths {widths} (teachers[0], teachers[1], ...)"
            )


def _combine(V: np.ndarray, weights: np.ndarray, mode: str, hidden: bool = False) -> np.ndarray:
    """The ensemble's formula (class Notes): K members' arrays V of shape (K, ...) -> shape (...), in V's dtype.

    For hidden layers (``hidden=True``) the three weighted modes all give the weighted mean.
    """
    w = weights.astype(V.dtype)                               # (K,), in the members' dtype
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if mode == "max":
            return np.max(V, axis=0)                          # max_k v_k, element-wise
        if mode == "median":
            return np.median(V, axis=0)                       # median_k v_k; even K: mean of the middle two
        if mode == "logits" or hidden:
            return np.tensordot(w, V, axes=1)                 # sum_k w_k v_k
        log_p = _log_softmax(V)                               # (K, ..., C) log p_k
        if mode == "geometric":
            return _log_softmax(np.tensordot(w, log_p, axes=1))  # log of normalised prod p_k^w_k
        keep = weights > 0                                    # log 0 = -inf: leave zero weights out
        a = log_p[keep] + np.log(w[keep]).reshape((-1,) + (1,) * (V.ndim - 1))
        m = a.max(axis=0)                                     # log-sum-exp over the teachers
        return m + np.log(np.exp(a - m).sum(axis=0))          # the sum is in [1, K]
