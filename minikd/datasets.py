"""Data for examples and tests: the bundled digits set, a stratified split, synthetic blobs.

Nothing here downloads anything: ``load_digits`` reads a file shipped inside the package
(``minikd/data/digits.npz``), found with :mod:`importlib.resources` so it works from a wheel as
well as from a source checkout.

Every random choice uses one ``np.random.default_rng(seed)``; the global ``np.random`` state is
never touched, and the same seed gives the same result.

Dimension names: N samples, D features, C classes.
"""

from __future__ import annotations

import numbers
from importlib import resources

import numpy as np

from ._validation import (
    check_bool,
    check_float_array,
    check_fraction,
    check_int,
    check_model_dtype,
    check_nonnegative_float,
    check_seed,
    describe,
)

__all__ = ["load_digits", "train_test_split", "make_blobs", "label_subset", "shift_digits"]

_DIGITS_RESOURCE = ("data", "digits.npz")
_DIGITS_PIXEL_MAX = 16


# ----------------------------------------------------------------------------- helpers
def _check_seed(seed) -> np.random.Generator:
    """None, a non-negative int, or a ``np.random.Generator`` -> a Generator."""
    return np.random.default_rng(check_seed(seed))


def _as_array(x, name: str) -> np.ndarray:
    """``np.asarray(x)``, with a TypeError naming ``name`` for what cannot be an array (ragged lists)."""
    if isinstance(x, np.ndarray):
        return x
    try:
        return np.asarray(x)
    except Exception as exc:
        raise TypeError(f"{name} must be an array with one entry per sample, got {describe(x)}: {exc}") from None


def _check_class_labels(y, name: str) -> tuple[np.ndarray, np.ndarray]:
    """1-D discrete labels -> (classes, inverse) as from ``np.unique(..., return_inverse=True)``."""
    if y.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D class labels of shape (N,) to stratify, got an array of shape "
            f"{y.shape}; pass stratify=False for one-hot or probability rows"
        )
    if y.dtype.kind not in "biuUSf":
        raise TypeError(f"{name} must hold class labels (ints or strings), got {describe(y)}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{name} must contain only finite values, got NaN or inf")
    classes, inverse = np.unique(y, return_inverse=True)
    return classes, inverse.reshape(-1)


def _allocate(counts: np.ndarray, total: int, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Split ``total`` items over groups in proportion to ``counts``, within [low, high] each.

    Starts from ``floor(exact)`` clipped to the bounds, with ``exact = counts * total / sum``, then
    adds (or removes) one item at a time where the allocation is furthest below (above) its exact
    share (largest remainder method). Each group then gets ``floor(exact)`` or ``ceil(exact)``
    unless a bound forces otherwise. The caller guarantees ``sum(low) <= total <= sum(high)``.
    """
    exact = counts * (total / counts.sum())
    alloc = np.clip(np.floor(exact).astype(np.int64), low, high)
    remaining = total - int(alloc.sum())
    while remaining > 0:
        deficit = np.where(alloc < high, exact - alloc, -np.inf)
        alloc[np.argmax(deficit)] += 1
        remaining -= 1
    while remaining < 0:
        surplus = np.where(alloc > low, alloc - exact, -np.inf)
        alloc[np.argmax(surplus)] -= 1
        remaining += 1
    return alloc


# ----------------------------------------------------------------------------- digits
def _digits_raw() -> tuple[np.ndarray, np.ndarray]:
    resource = resources.files("minikd").joinpath(*_DIGITS_RESOURCE)
    with resource.open("rb") as f, np.load(f, allow_pickle=False) as data:
        return np.array(data["images"]), np.array(data["target"])


def load_digits(return_images: bool = False, dtype=np.float64):
    """The 8×8 handwritten digits bundled with minikd (1,797 samples, 10 classes).

    Parameters
    ----------
    return_images : bool, default False
        If True, ``X`` keeps the image shape (1797, 8, 8) instead of flattened rows.
    dtype : float32 or float64, default float64
        The dtype of ``X``.

    Returns
    -------
    X : ndarray of shape (1797, 64), or (1797, 8, 8) with ``return_images``
        Pixel intensities scaled to [0, 1] (the raw values 0..16 divided by 16).
    y : ndarray of int64, shape (1797,)
        The digit shown, 0..9 (about 180 of each).

    Notes
    -----
    This is the test set of the UCI "Optical Recognition of Handwritten Digits" data set
    (E. Alpaydin and C. Kaynak, UCI Machine Learning Repository, 1998,
    https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits), the copy
    many libraries ship as "digits". It is licensed under Creative Commons Attribution 4.0
    (CC BY 4.0); the attribution ships with the file in ``minikd/data/README.md``. Each image is
    32×32 bitmap cut into 4×4 blocks whose set pixels were counted, hence values 0..16.

    The file is read with :mod:`importlib.resources`, so it works from an installed wheel.

    Examples
    --------
    >>> X, y = load_digits()
    >>> X.shape, y.shape, float(X.max())
    ((1797, 64), (1797,), 1.0)
    """
    check_bool(return_images, "return_images")
    dt = check_model_dtype(dtype)
    images, target = _digits_raw()
    X = images.astype(dt) / dt.type(_DIGITS_PIXEL_MAX)
    if not return_images:
        X = X.reshape(len(X), -1)
    return X, target.astype(np.int64)


# ----------------------------------------------------------------------------- splitting
def train_test_split(X, y, test_size=0.25, seed=None, stratify: bool = True):
    """Split ``X`` and ``y`` into random train and test parts, stratified by class by default.

    Parameters
    ----------
    X : array_like of shape (N, ...) (e.g. (N, D))
        Samples; any dtype, kept as is.
    y : array_like of shape (N,) (or (N, C) with ``stratify=False``)
        Labels. Stratifying needs 1-D class labels.
    test_size : float in (0, 1) or int, default 0.25
        A fraction of the samples (rounded up) or a number of samples in [1, N - 1].
    seed : None, int >= 0 or np.random.Generator, default None
        Seed of the one ``np.random.default_rng`` behind every random choice.
    stratify : bool, default True
        Keep each class's share the same in both parts: class c (n_c samples) gets
        ``n_test * n_c / N`` test samples rounded up or down. Every class keeps at least one
        sample in each part; for a class too small for its share that rule wins, and the
        difference is taken from the other classes.

    Returns
    -------
    X_train : ndarray of shape (N - n_test, ...)
    X_test : ndarray of shape (n_test, ...)
    y_train : ndarray of shape (N - n_test,) (or (N - n_test, C))
    y_test : ndarray of shape (n_test,) (or (n_test, C))
        Copies in a random order; every sample is in exactly one part.

    Raises
    ------
    ValueError
        If the lengths differ, ``test_size`` is out of range, or a class has fewer than 2 samples
        (or there are more classes than train or test samples) when stratifying.

    Notes
    -----
    Stratified allocation uses the largest-remainder method: with ``exact_c = n_c * n_test / N``
    class c gets ``floor(exact_c)`` test samples, and the leftover ones go to the classes whose
    ``exact_c`` has the largest fractional part, so ``|n_test_c - exact_c| < 1`` and the sizes add
    up to ``n_test`` exactly.
    """
    X_given, y_given = X, y
    X = _as_array(X, "X")
    y = _as_array(y, "y")
    for name, arr, given in (("X", X, X_given), ("y", y, y_given)):
        if arr.ndim == 0:
            raise ValueError(f"{name} must be an array with one entry per sample, got {describe(given)}")
    n = X.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"X and y must have the same number of samples, got {n} and {y.shape[0]}")
    if n < 2:
        raise ValueError(f"X must have at least 2 samples to split, got {n}")
    if isinstance(test_size, numbers.Integral) and not isinstance(test_size, (bool, np.bool_)):
        n_test = check_int(test_size, "test_size", minimum=1, maximum=n - 1)
    elif isinstance(test_size, numbers.Real) and not isinstance(test_size, (bool, np.bool_)):
        frac = check_fraction(test_size, "test_size", low_open=True, high_open=True)
        n_test = int(np.ceil(round(frac * n, 9)))  # round: 0.07 * 100 is 7.000000000000001
        if not 1 <= n_test <= n - 1:
            raise ValueError(
                f"test_size={test_size!r} leaves {n - n_test} train samples out of {n}; "
                "both parts need at least one"
            )
    else:
        raise TypeError(
            f"test_size must be a fraction in (0, 1) or an int count, got {describe(test_size)}"
        )
    check_bool(stratify, "stratify")
    rng = _check_seed(seed)

    if not stratify:
        perm = rng.permutation(n)
        test_idx, train_idx = perm[:n_test], perm[n_test:]
    else:
        classes, inverse = _check_class_labels(y, "y")
        counts = np.bincount(inverse, minlength=len(classes))
        if counts.min() < 2:
            rare = classes[np.argmin(counts)].item()
            raise ValueError(
                f"stratify=True needs at least 2 samples of every class (one for each part), "
                f"got {counts.min()} of class {rare!r}; pass stratify=False"
            )
        n_classes = len(classes)
        if not n_classes <= n_test <= n - n_classes:
            raise ValueError(
                f"stratify=True needs at least one sample of each of the {n_classes} classes in "
                f"both parts, so test_size must give between {n_classes} and {n - n_classes} "
                f"test samples, got {n_test}"
            )
        n_test_per_class = _allocate(counts, n_test, np.ones_like(counts), counts - 1)
        test_parts, train_parts = [], []
        for c, k in enumerate(n_test_per_class):
            members = rng.permutation(np.flatnonzero(inverse == c))
            test_parts.append(members[:k])
            train_parts.append(members[k:])
        test_idx = rng.permutation(np.concatenate(test_parts))
        train_idx = rng.permutation(np.concatenate(train_parts))
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


def label_subset(y, fraction: float, seed=None, stratify: bool = True) -> np.ndarray:
    """Indices of a random subset holding ``fraction`` of the samples (e.g. "5 % of the labels").

    Parameters
    ----------
    y : array_like of shape (N,)
        Class labels (only needed to stratify; its length is N).
    fraction : float in (0, 1]
        Share of the samples to keep; the subset has ``round(fraction * N)`` samples (at least
        one, and with ``stratify`` at least one per class).
    seed : None, int >= 0 or np.random.Generator, default None
        Seed of the one ``np.random.default_rng`` behind the choice.
    stratify : bool, default True
        Take ``n_keep * n_c / N`` samples of each class c, rounded up or down, at least one.

    Returns
    -------
    ndarray of int64, shape (n_keep,)
        Sorted, distinct indices into ``y`` (and the matching ``X``).

    Notes
    -----
    The per-class sizes use the same largest-remainder allocation as :func:`train_test_split`,
    so they add up to ``n_keep`` and each is within 1 of ``n_keep * n_c / N`` (unless the "at
    least one per class" floor lifts it).
    """
    y_given, y = y, _as_array(y, "y")
    if y.ndim == 0 or y.shape[0] == 0:
        raise ValueError(f"y must hold one label per sample, got {describe(y_given)}")
    n = y.shape[0]
    fraction = check_fraction(fraction, "fraction", low_open=True)
    check_bool(stratify, "stratify")
    rng = _check_seed(seed)
    n_keep = max(1, int(np.floor(fraction * n + 0.5)))
    if not stratify:
        return np.sort(rng.choice(n, size=n_keep, replace=False)).astype(np.int64)
    classes, inverse = _check_class_labels(y, "y")
    counts = np.bincount(inverse, minlength=len(classes))
    n_keep = max(n_keep, len(classes))
    per_class = _allocate(counts, n_keep, np.ones_like(counts), counts)
    chosen = [
        rng.choice(np.flatnonzero(inverse == c), size=k, replace=False)
        for c, k in enumerate(per_class)
    ]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


# ----------------------------------------------------------------------------- synthetic data
def make_blobs(n_samples: int = 300, n_features: int = 2, n_classes: int = 3,
               cluster_std: float = 1.0, center_box=(-5.0, 5.0), seed=None, dtype=np.float64):
    """Isotropic Gaussian clusters, one per class: a small, fast, learnable data set for tests.

    Parameters
    ----------
    n_samples : int, default 300
        Total number of samples N >= n_classes, shared as evenly as possible among the classes.
    n_features : int, default 2
        Dimension D >= 1.
    n_classes : int, default 3
        Number of classes (clusters) C >= 1.
    cluster_std : float, default 1.0
        Standard deviation sigma >= 0 of every cluster along every axis.
    center_box : (float, float), default (-5, 5)
        Bounds (low < high) of the uniform distribution the centres are drawn from.
    seed : None, int >= 0 or np.random.Generator, default None
        Seed of the one ``np.random.default_rng`` behind every draw.
    dtype : float32 or float64, default float64
        The dtype of ``X``.

    Returns
    -------
    X : ndarray of shape (N, D)
        Samples, in a random order.
    y : ndarray of int64, shape (N,)
        Cluster (class) of each sample, in 0..C-1.

    Notes
    -----
    ``mu_c ~ Uniform(low, high)^D`` for each class c, then ``x = mu_{y} + sigma * e`` with
    ``e ~ N(0, I_D)``. The draws are made in float64 and then cast to ``dtype``.
    """
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    n_features = check_int(n_features, "n_features", minimum=1)
    n_classes = check_int(n_classes, "n_classes", minimum=1)
    if n_samples < n_classes:
        raise ValueError(
            f"n_samples must be >= n_classes ({n_classes}) so every class has a sample, "
            f"got {n_samples}"
        )
    cluster_std = check_nonnegative_float(cluster_std, "cluster_std")
    try:
        low, high = center_box
    except (TypeError, ValueError):
        raise TypeError(
            f"center_box must be a pair (low, high), got {describe(center_box)}"
        ) from None
    for bound in (low, high):
        if isinstance(bound, (bool, np.bool_)) or not isinstance(bound, numbers.Real):
            raise TypeError(f"center_box must hold two real numbers, got {describe(center_box)}")
    low, high = _float_or_inf(low), _float_or_inf(high)
    if not (np.isfinite(low) and np.isfinite(high) and low < high and np.isfinite(high - low)):
        raise ValueError(
            f"center_box must be finite (low, high) with low < high and high - low finite, got {center_box!r}"
        )
    dt = check_model_dtype(dtype)
    rng = _check_seed(seed)
    centers = rng.uniform(low, high, size=(n_classes, n_features))  # (C, D)
    per_class = n_samples // n_classes + (np.arange(n_classes) < n_samples % n_classes)
    y = rng.permutation(np.repeat(np.arange(n_classes, dtype=np.int64), per_class))
    with np.errstate(over="ignore", invalid="ignore"):  # reported below as a ValueError
        X = centers[y] + cluster_std * rng.standard_normal((n_samples, n_features))  # (N, D)
        X = X.astype(dt, copy=False)
    if not np.isfinite(X).all():
        raise ValueError(
            f"cluster_std={cluster_std!r} and center_box={center_box!r} give samples beyond the range "
            f"of {dt} (about {np.finfo(dt).max:.3g}); use a smaller cluster_std or center_box"
        )
    return X, y


def _float_or_inf(value) -> float:
    """``float(value)`` for a real number; an int beyond the float range becomes +-inf."""
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def shift_digits(X_batch, rng, max_shift: int = 1, image_shape=(8, 8)) -> np.ndarray:
    """Shift each image of a batch by a random whole number of pixels: the jitter of Hinton's recipe.

    Made for ``train(..., augment=shift_digits)``: each row of ``X_batch`` is an image of
    ``image_shape`` (the bundled digits are 8 x 8, flattened to 64), moved by ``(dy, dx)`` drawn
    uniformly from ``{-max_shift, ..., max_shift}`` each (so ``(0, 0)``, no shift, is one of the
    ``(2 max_shift + 1)^2`` outcomes); pixels moved in from outside are 0, the digits' background.

    Parameters
    ----------
    X_batch : array_like of shape (B, H * W)
        Flattened images, finite.
    rng : numpy.random.Generator
        Draws the shifts (the trainer passes its own generator, so a run stays reproducible).
    max_shift : int >= 0, default 1
        The largest shift in each direction, below each side of ``image_shape``.
    image_shape : tuple (H, W), default (8, 8)

    Returns
    -------
    ndarray of shape (B, H * W), X_batch's dtype (float64 for integer input)
        A new array; ``X_batch`` is not changed.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(1.0, 10.0)[None, :]           # one 3 x 3 image
    >>> shift_digits(X, np.random.default_rng(0), image_shape=(3, 3)).shape
    (1, 9)
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {describe(rng)}")
    if not (isinstance(image_shape, tuple) and len(image_shape) == 2
            and all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in image_shape)):
        raise ValueError(f"image_shape must be a tuple (H, W) of two ints >= 1, got {describe(image_shape)}")
    h, w = (int(n) for n in image_shape)
    max_shift = check_int(max_shift, "max_shift", minimum=0, maximum=min(h, w) - 1)
    X = check_float_array(X_batch, "X_batch", ndim=2)
    if X.shape[1] != h * w:
        raise ValueError(f"X_batch must have H * W = {h * w} columns (image_shape {image_shape}), got shape {X.shape}")
    images = X.reshape(-1, h, w)
    out = np.zeros_like(images)
    dy = rng.integers(-max_shift, max_shift + 1, size=len(images))  # (B,) rows down (negative: up)
    dx = rng.integers(-max_shift, max_shift + 1, size=len(images))  # (B,) columns right (negative: left)
    for sy in range(-max_shift, max_shift + 1):
        for sx in range(-max_shift, max_shift + 1):
            chosen = (dy == sy) & (dx == sx)
            # out[i, r + sy, c + sx] = images[i, r, c] wherever both are inside the image
            out[chosen, max(sy, 0):h + min(sy, 0), max(sx, 0):w + min(sx, 0)] = \
                images[chosen, max(-sy, 0):h - max(sy, 0), max(-sx, 0):w - max(sx, 0)]
    return out.reshape(X.shape)
