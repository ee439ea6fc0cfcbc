"""Input validation shared by every public entry point.

Every check raises a ``TypeError`` (wrong kind of thing) or a ``ValueError`` (right kind, wrong
value) whose message names the parameter, the rule and the value received, in the style of
scikit-learn: ``"temperature must be a finite number > 0, got -1.0"``.

The math modules call these once at their public boundary and then work on plain arrays
(numpy-ml's ``forward`` validates, ``_fwd`` computes).

Dtype policy for float inputs (features, logits, probabilities)
---------------------------------------------------------------
- float32 and float64 arrays are kept as they are (dtype-preserving math);
- float16 is promoted to float32 (NumPy's float16 overflows at 65504, which softmax hits);
- integer and unsigned arrays (e.g. raw pixel values) are converted to float64;
- bool, complex, object, string and other dtypes are rejected with a ``TypeError``.

Array subclasses (:func:`_as_array`)
------------------------------------
- a masked array (``np.ma.MaskedArray``) is rejected with a ``TypeError``: the math (matmuls,
  softmax) cannot honour a mask, so its masked entries, NaN included, would silently be used as
  values; the message says to pass ``x.filled(value)`` or ``x.data``, which states the intent;
- an ``np.matrix`` is converted with ``np.asarray``: same values, same (2-D) shape, nothing is
  lost, and minikd's math never uses its operators (``*`` as a matrix product). Labels given as
  a matrix are 2-D, so class indices in a matrix get a hint to ``ravel()`` them.
"""

from __future__ import annotations

import numbers
import reprlib
import warnings

import numpy as np

__all__ = [
    "check_float_array",
    "check_labels",
    "check_finite_float",
    "check_positive_float",
    "check_temperature_range",
    "TEMPERATURE_LIMITS",
    "check_nonnegative_float",
    "check_fraction",
    "check_int",
    "check_choice",
    "check_bool",
    "check_seed",
    "check_model_dtype",
    "check_features",
    "cast_to_dtype",
    "check_instance",
    "describe",
]


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict, _REPR.maxset = 3, 6, 6, 4, 6
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 60, 60, 40


def describe(value, limit: int = 60) -> str:
    """Short, safe description of a value for an error message.

    Safe for values read from a file too: nested and long containers are abbreviated
    (:mod:`reprlib`), and a value whose ``repr`` fails (an int too large to print) is named by its type.
    """
    if isinstance(value, np.ndarray):
        return f"ndarray of shape {value.shape} and dtype {value.dtype}"
    try:
        text = _REPR.repr(value)
    except Exception:  # e.g. ValueError: an int with more digits than int-to-str allows
        text = f"<{type(value).__name__} that cannot be shown>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{text} (type {type(value).__name__})"


def _show(value, limit: int = 60) -> str:
    """repr of a scalar for an error message: NumPy scalars as plain numbers, long reprs cut."""
    if isinstance(value, np.generic):
        value = value.item()
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _as_array(x, name: str) -> np.ndarray:
    """``x`` as an ndarray: an ndarray as it is, an np.matrix as a plain 2-D ndarray, a masked array
    refused (see "Array subclasses" above), anything else through ``np.asarray``."""
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"{name} must not be a masked array, got a np.ma.MaskedArray of shape {x.shape} with "
            f"{int(np.ma.count_masked(x))} masked value(s): minikd cannot honour a mask (its masked entries would be "
            "used as values): pass x.filled(fill_value) to replace them, or x.data to use the values under "
            "the mask"
        )
    if isinstance(x, np.matrix):
        return np.asarray(x)  # always 2-D; same values and shape, a plain ndarray
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (str, bytes, dict, set)) or x is None:
        raise TypeError(f"{name} must be an array-like of numbers, got {describe(x)}")
    try:
        return np.asarray(x)
    except Exception as exc:  # ragged lists; objects whose __array__ fails (a tensor that requires grad)
        raise TypeError(f"{name} must be an array-like of numbers, got {describe(x)}: {exc}") from None


def check_float_array(
    x,
    name: str,
    ndim=(1, 2),
    *,
    allow_empty: bool = False,
    finite: bool = True,
    dtype=None,
) -> np.ndarray:
    """Validate a float array and return it (converted per the dtype policy above).

    Parameters
    ----------
    x : array_like
        The value to check.
    name : str
        Parameter name used in error messages.
    ndim : int or tuple of int
        Allowed numbers of dimensions.
    allow_empty : bool
        Whether a zero-size array is accepted.
    finite : bool
        Whether NaN and inf are rejected.
    dtype : numpy dtype, optional
        If given, the result is cast to this float dtype.

    Returns
    -------
    ndarray
        float32 or float64 array (or ``dtype`` if given).
    """
    arr = _as_array(x, name)
    kind = arr.dtype.kind
    if kind == "f":
        if arr.dtype == np.float16:
            arr = arr.astype(np.float32)
        elif arr.dtype not in (np.float32, np.float64):
            with np.errstate(over="ignore"):  # longdouble beyond float64: inf, rejected below
                arr = arr.astype(np.float64)
    elif kind in "iu":
        arr = arr.astype(np.float64)
    else:
        raise TypeError(
            f"{name} must hold real numbers (float or integer dtype), got {describe(arr)}"
        )
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if arr.ndim not in allowed:
        if len(allowed) > 2 and allowed == tuple(range(allowed[0], allowed[-1] + 1)):
            rule = f"{allowed[0]}-D to {allowed[-1]}-D"
        else:
            rule = " or ".join(f"{d}-D" for d in allowed)
        raise ValueError(f"{name} must be {rule}, got an array of shape {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} must not be empty, got an array of shape {arr.shape}")
    if finite and arr.size and not np.isfinite(arr).all():
        n_bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"{name} must contain only finite values, got {n_bad} NaN or inf value(s) "
            f"in an array of shape {arr.shape}"
        )
    if dtype is not None and arr.dtype != dtype:
        arr = arr.astype(dtype)
    return arr


def check_labels(labels, name: str, n_samples: int | None, n_classes: int, dtype=np.float64,
                 single: bool = False):
    """Validate class labels and return them in a canonical form.

    Parameters
    ----------
    labels : int, array_like of shape (N,) or (N, C); for one sample an int or shape (C,)
        Integer class indices in ``[0, C)``, or rows of class probabilities that are
        non-negative and sum to 1 (one-hot rows are a special case). Float arrays of
        shape (N,) are accepted when every value is a whole number.
    name : str
        Parameter name used in error messages.
    n_samples : int or None
        The number of samples the labels must cover (None: not checked, only for ``single``).
    n_classes : int
        The number of classes C.
    dtype : numpy dtype
        Float dtype for probability rows.
    single : bool
        True when the labels go with one sample (logits of shape (C,)): an int or a (C,) row.

    Returns
    -------
    (kind, value)
        ``("index", ndarray of int64, shape (N,))`` or ``("prob", ndarray of dtype, shape (N, C))``.
        For ``single`` the shapes are () and (C,).
    """
    if isinstance(labels, (bool, np.bool_)):
        raise TypeError(f"{name} must be integer class indices or probability rows, got {describe(labels)}")
    arr = _as_array(labels, name)
    kind = arr.dtype.kind
    if kind not in "iuf":
        raise TypeError(
            f"{name} must be integer class indices or probability rows, got {describe(labels)}"
        )
    # np.matrix is always 2-D: class indices in one come as a (1, N) or (N, 1) "probability" array.
    hint = (f" (an np.matrix is always 2-D: for class indices pass np.asarray({name}).ravel())"
            if isinstance(labels, np.matrix) and 1 in arr.shape else "")
    index_ndim, prob_ndim = (0, 1) if single else (1, 2)
    if arr.ndim == index_ndim:
        if kind == "f":
            if not np.isfinite(arr).all():
                raise ValueError(f"{name} must contain only finite values, got NaN or inf")
            if not np.array_equal(arr, np.round(arr)):
                bad = arr[arr != np.round(arr)] if arr.ndim else arr
                raise ValueError(
                    f"{name} given as class indices must be whole numbers, got "
                    f"non-integer value(s) such as {_show(np.ravel(bad)[0])}"
                )
        if not single and n_samples is not None and arr.shape[0] != n_samples:
            raise ValueError(
                f"{name} must have one label per sample ({n_samples}), got {arr.shape[0]} labels"
            )
        if arr.size:
            lo, hi = arr.min(), arr.max()
            if lo < 0 or hi >= n_classes:
                bad = lo if lo < 0 else hi
                raise ValueError(
                    f"{name} must be class indices in [0, {n_classes - 1}], got {_show(bad)}"
                )
        return "index", arr.astype(np.int64)
    if arr.ndim == prob_ndim:
        if arr.shape[-1] != n_classes:
            raise ValueError(
                f"{name} given as probability rows must have {n_classes} columns (one per class), "
                f"got shape {arr.shape}{hint}"
            )
        if not single and n_samples is not None and arr.shape[0] != n_samples:
            raise ValueError(
                f"{name} must have one row per sample ({n_samples}), got {arr.shape[0]} rows{hint}"
            )
        # Check the values as given, then cast: an entry outside [0, 1] could overflow the cast.
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must contain only finite values, got NaN or inf")
        if (arr < 0).any():
            raise ValueError(f"{name} probability rows must be non-negative, got {_show(arr.min())}")
        if (arr > 1.001).any():
            raise ValueError(f"{name} probability rows must have entries in [0, 1], got {_show(arr.max())}")
        probs = arr.astype(dtype)
        sums = probs.sum(axis=-1)
        tol = 1e-6 if probs.dtype == np.float64 else 1e-3
        if probs.size and not np.allclose(sums, 1.0, rtol=0.0, atol=tol):
            worst = float(np.ravel(sums)[np.argmax(np.abs(np.ravel(sums) - 1.0))])
            raise ValueError(f"{name} probability rows must sum to 1, got a row summing to {worst!r}")
        return "prob", probs
    expected = "a scalar int or a (C,) probability row" if single else "shape (N,) or (N, C)"
    raise ValueError(f"{name} must have {expected}, got an array of shape {arr.shape}")


def _check_real(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    try:
        return float(value)
    except OverflowError:  # an int beyond the float range: infinite, rejected by the caller
        return float("inf") if value > 0 else float("-inf")


def check_finite_float(value, name: str) -> float:
    """Return ``float(value)`` if it is a finite real number (any sign); raise otherwise."""
    v = _check_real(value, name)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {_show(value)}")
    return v


def check_positive_float(value, name: str) -> float:
    """Return ``float(value)`` if it is a finite real number > 0; raise otherwise."""
    v = _check_real(value, name)
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {_show(value)}")
    return v


# The largest temperature at which the softened losses (DistillationLoss, kl_divergence) are
# accurate, by the dtype of the logits; measured against 40+ digit mpmath references
# (DistillationLoss's docstring, "Temperature range"). Beyond it a float32 s = (z - max z) / T
# underflows (s below 1.2e-38 for logit differences below T * 1.2e-38, with 1e8 to spare at
# 1e30) and the loss and gradient silently become 0; in float64 T**2 overflows at 1.3e154 and
# KL ~ (|z - v| / T)**2 underflows (at 1e100, for logit differences below 1e-50).
TEMPERATURE_LIMITS = {np.dtype(np.float32): 1e30, np.dtype(np.float64): 1e100}


def check_temperature_range(temperature: float, dtype, what: str, limits=None) -> None:
    """Warn (``UserWarning``) if an already-validated temperature is above the accurate range of a
    softened loss for logits of ``dtype`` (``limits``: {dtype: largest T}, default
    :data:`TEMPERATURE_LIMITS`).

    A warning, not an error: the limit is a sufficient condition on T and the dtype alone, and
    logits with larger differences stay accurate beyond it (a float32 loss at T = 1e32 is still
    right for logit differences above 1e-6), so an error would reject valid inputs.
    """
    limit = (TEMPERATURE_LIMITS if limits is None else limits).get(dtype)  # dtype: a np.dtype
    if limit is not None and temperature > limit:
        warnings.warn(
            f"{what}: temperature={temperature!r} is above {limit:g}, the largest temperature at which "
            f"it is accurate for {dtype} logits; beyond it the loss and its gradient may be wrong or "
            f"silently 0. For the T -> infinity limit use LogitMatchingLoss(center=True), which "
            f"T**2 * KL tends to (Hinton et al. 2015, eq. 3)",
            UserWarning, stacklevel=3,
        )


def check_nonnegative_float(value, name: str) -> float:
    """Return ``float(value)`` if it is a finite real number >= 0; raise otherwise."""
    v = _check_real(value, name)
    if not (np.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {_show(value)}")
    return v


def check_fraction(value, name: str, *, low_open: bool = False, high_open: bool = False) -> float:
    """Return ``float(value)`` if it lies in [0, 1] (ends open as asked); raise otherwise."""
    v = _check_real(value, name)
    lo_ok = v > 0 if low_open else v >= 0
    hi_ok = v < 1 if high_open else v <= 1
    if not (np.isfinite(v) and lo_ok and hi_ok):
        rule = ("(" if low_open else "[") + "0, 1" + (")" if high_open else "]")
        raise ValueError(f"{name} must be a number in {rule}, got {_show(value)}")
    return v


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``int(value)`` if it is an integer within the bounds; raise otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {describe(value)}")
    v = int(value)
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, got {v}")
    return v


def check_choice(value, name: str, choices) -> str:
    """Return ``value`` if it is one of ``choices`` (strings); raise otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {sorted(choices)}, got {describe(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {_show(value)}")
    return value


def check_bool(value, name: str) -> bool:
    """Return ``bool(value)`` if it is True or False (a Python or NumPy bool); raise ``TypeError`` otherwise."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {describe(value)}")
    return bool(value)


def check_seed(seed, name: str = "seed"):
    """Return ``seed`` if it is None, an int >= 0 or a ``np.random.Generator``; raise otherwise.

    The same rule everywhere a seed is taken (models, trainers, data sets): an int or None is
    turned into a generator with ``np.random.default_rng(seed)``; a Generator is used as it is (and
    advanced by whoever uses it).
    """
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be None, an int >= 0 or a np.random.Generator, got {describe(seed)}")
    return check_int(seed, name, minimum=0)


_MODEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_model_dtype(dtype, name: str = "dtype") -> np.dtype:
    """Return ``np.dtype(dtype)`` if it is float32 or float64 (the dtypes of models and data);
    raise ``TypeError`` otherwise (float16 included: softmax overflows it at 65504)."""
    if dtype is None or isinstance(dtype, bool):
        raise TypeError(f"{name} must be np.float32 or np.float64, got {describe(dtype)}")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be np.float32 or np.float64, got {describe(dtype)}") from None
    if dt not in _MODEL_DTYPES:
        raise TypeError(f"{name} must be np.float32 or np.float64, got {dt}")
    return dt


def check_features(X, name: str, n_features: int, dtype, ndim=(1, 2), what: str = "layer_sizes[0]") -> np.ndarray:
    """Validate model inputs and cast them to the model's dtype, checking finiteness after the cast.

    Parameters
    ----------
    X : array_like of shape (N, D) (or (D,) when ``ndim`` allows 1)
    name : str
        Parameter name for messages.
    n_features : int
        D, the model's number of input features.
    dtype : numpy dtype
        The model's dtype.
    ndim : int or tuple of int
    what : str
        Where ``n_features`` comes from, for the message.

    Returns
    -------
    ndarray in ``dtype``
        A float64 value beyond the float32 range is a ``ValueError`` here, not an overflow later.
    """
    X = check_float_array(X, name, ndim=ndim)
    if X.shape[-1] != n_features:
        raise ValueError(f"{name} must have {n_features} features ({what}), got {X.shape[-1]} (shape {X.shape})")
    return cast_to_dtype(X, dtype, name, "rescale the inputs (e.g. to [0, 1])")


def cast_to_dtype(arr: np.ndarray, dtype, name: str, advice: str, what: str = "the model dtype") -> np.ndarray:
    """Cast a finite float array to ``dtype``, refusing a value that does not fit (the after-cast
    finiteness test: float64 beyond 3.4e38 becomes inf in float32).

    Parameters
    ----------
    arr : ndarray
        Already checked to be finite.
    dtype : numpy dtype
        The float dtype to cast to.
    name : str
        What ``arr`` is, for the message (e.g. ``"X"``).
    advice : str
        What to do about it, appended to the message.
    what : str
        Whose dtype ``dtype`` is, for the message.

    Returns
    -------
    ndarray in ``dtype`` (``arr`` itself if it has it already)

    Raises
    ------
    ValueError
        ``"{name} must fit in {what} float32 (largest 3.4e+38), got a value of magnitude 1e+39; {advice}"``.
    """
    if arr.dtype == dtype:
        return arr
    with np.errstate(over="ignore"):
        cast = arr.astype(dtype)
    if not np.isfinite(cast).all():
        raise ValueError(
            f"{name} must fit in {what} {np.dtype(dtype)} (largest {np.finfo(dtype).max:.3g}), got a "
            f"value of magnitude {np.abs(arr).max():.3g}; {advice}"
        )
    return cast


def check_instance(value, cls, name: str, what: str):
    """Return ``value`` if it is an instance of ``cls``; raise ``TypeError`` otherwise, with the
    hint "did you forget the ()?" when ``value`` is a class (``SGD`` instead of ``SGD(...)``).

    Parameters
    ----------
    value : object
    cls : type or tuple of types
    name : str
        Parameter name.
    what : str
        What is expected, e.g. "a minikd optimizer instance (SGD(...), Adam(...))".
    """
    if isinstance(value, cls):
        return value
    hint = " (a class: did you forget the ()?)" if isinstance(value, type) else ""
    raise TypeError(f"{name} must be {what}, got {describe(value)}{hint}")
