"""Tests for minikd.datasets: bundled digits, stratified splitting, blobs, label subsets, packaging."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minikd.datasets import label_subset, load_digits, make_blobs, train_test_split

REPO_ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- digits
def test_digits_shape_dtype_range_and_labels():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(X * 16, np.round(X * 16), err_msg="pixels must be k/16")
    counts = np.bincount(y)
    np.testing.assert_array_equal(
        counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180],
        err_msg="class counts of the UCI digits test set",
    )


def test_digits_images_and_float32():
    X, y = load_digits()
    images, y2 = load_digits(return_images=True)
    assert images.shape == (1797, 8, 8)
    np.testing.assert_array_equal(images.reshape(1797, 64), X, err_msg="images vs flat rows")
    np.testing.assert_array_equal(y, y2)
    X32, _ = load_digits(dtype=np.float32)
    assert X32.dtype == np.float32
    np.testing.assert_array_equal(X32, X.astype(np.float32), err_msg="float32 digits")


def test_digits_are_fresh_copies():
    X, y = load_digits()
    X[:] = -1.0
    y[:] = -1
    X2, y2 = load_digits()
    assert X2.min() == 0.0 and y2.min() == 0, "load_digits returned shared arrays"


def test_digits_look_like_digits():
    # A nearest-class-mean classifier fit on half the data gets well above chance (~0.9).
    X, y = load_digits()
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.5, seed=0)
    means = np.stack([X_tr[y_tr == c].mean(axis=0) for c in range(10)])
    pred = np.argmin(((X_te[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == y_te).mean() > 0.85


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(return_images=1), TypeError, "return_images must be True or False"),
    (dict(dtype=np.int32), TypeError, "dtype must be np.float32 or np.float64, got int32"),
    (dict(dtype="nonsense"), TypeError, "dtype must be np.float32 or np.float64"),
])
def test_digits_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        load_digits(**kwargs)


# ----------------------------------------------------------------------------- train_test_split
def _indexed(y):
    """X whose single feature is the sample's index, so a split can be traced back."""
    return np.arange(len(y))[:, None], np.asarray(y)


def _check_partition(X_tr, X_te, y_tr, y_te, y, n_test):
    idx_tr, idx_te = X_tr[:, 0], X_te[:, 0]
    assert len(idx_te) == n_test and len(idx_tr) == len(y) - n_test
    assert not set(idx_tr) & set(idx_te), "train and test overlap"
    np.testing.assert_array_equal(np.sort(np.concatenate([idx_tr, idx_te])), np.arange(len(y)),
                                  err_msg="train + test must be all samples, each once")
    np.testing.assert_array_equal(y_tr, y[idx_tr], err_msg="y_train no longer matches X_train")
    np.testing.assert_array_equal(y_te, y[idx_te], err_msg="y_test no longer matches X_test")


def _check_stratified(y, y_te, n_test, upper_offset=1):
    """Every class has its share of ``y_te`` rounded up or down, and is in both parts.

    The shares are within 1 of exact when no class is so small that "at least one sample in each
    part" overrides them (exact share >= 1 and <= n_c - 1 for every class); only then is that
    checked.
    """
    classes, counts = np.unique(y, return_counts=True)
    exact = counts * n_test / len(y)
    bounds_bind = exact.min() < 1 or (counts - exact).min() < upper_offset
    for c, n_c, expected in zip(classes, counts, exact, strict=True):
        got = int((y_te == c).sum())
        assert 1 <= got <= n_c - upper_offset, f"class {c} missing from one part"
        if not bounds_bind:
            assert abs(got - expected) < 1, f"class {c}: {got} samples, expected ~{expected:.2f}"


def test_split_digits_sizes_partition_and_stratification():
    X, y = load_digits()
    Xi, _ = _indexed(y)
    X_tr, X_te, y_tr, y_te = train_test_split(Xi, y, seed=0)
    _check_partition(X_tr, X_te, y_tr, y_te, y, n_test=450)  # ceil(0.25 * 1797)
    _check_stratified(y, y_te, 450)
    # and the real features follow the same rows
    X_tr2, X_te2, _, _ = train_test_split(X, y, seed=0)
    np.testing.assert_array_equal(X_tr2, X[X_tr[:, 0]], err_msg="X rows must follow the split")
    assert X_tr2.dtype == X.dtype


@given(
    counts=st.lists(st.integers(2, 30), min_size=1, max_size=6),
    test_frac=st.floats(0.01, 0.99),
    seed=st.integers(0, 2**32 - 1),
)
def test_split_stratified_property(counts, test_frac, seed):
    y = np.repeat(np.arange(len(counts)), counts)
    y = np.random.default_rng(seed).permutation(y)
    n, k = len(y), len(counts)
    n_test = min(max(int(round(test_frac * n)), k), n - k)
    Xi, _ = _indexed(y)
    parts = train_test_split(Xi, y, test_size=n_test, seed=seed)
    _check_partition(*parts, y, n_test)
    _check_stratified(y, parts[3], n_test)


@pytest.mark.parametrize("test_size, n_test", [(0.25, 25), (0.1, 10), (0.07, 7), (30, 30), (1, 1)])
def test_split_unstratified_sizes(test_size, n_test):
    y = np.arange(100) % 3
    Xi, _ = _indexed(y)
    parts = train_test_split(Xi, y, test_size=test_size, seed=1, stratify=False)
    _check_partition(*parts, y, n_test)


def test_split_is_deterministic_and_seed_sensitive():
    X, y = load_digits()
    a = train_test_split(X, y, seed=42)
    b = train_test_split(X, y, seed=42)
    c = train_test_split(X, y, seed=43)
    d = train_test_split(X, y, seed=np.random.default_rng(42))
    for u, v, w in zip(a, b, d, strict=True):
        np.testing.assert_array_equal(u, v, err_msg="same seed, different split")
        np.testing.assert_array_equal(u, w, err_msg="seed=42 and default_rng(42) differ")
    assert not np.array_equal(a[0], c[0]), "different seeds gave the same split"
    for stratify in (True, False):
        s1 = train_test_split(X, y, seed=5, stratify=stratify)[3]
        s2 = train_test_split(X, y, seed=6, stratify=stratify)[3]
        assert not np.array_equal(s1, s2)


def test_split_and_blobs_do_not_touch_global_random_state():
    before = np.random.get_state()  # noqa: NPY002 (only read, to check it is left alone)
    train_test_split(np.zeros((20, 2)), np.arange(20) % 2, seed=None)
    make_blobs(seed=None)
    label_subset(np.arange(20) % 2, 0.5)
    after = np.random.get_state()  # noqa: NPY002
    np.testing.assert_array_equal(after[1], before[1], err_msg="global np.random state changed")
    assert after[2] == before[2]


def test_split_accepts_one_hot_without_stratify_and_lists():
    y = np.eye(3)[np.arange(12) % 3]
    X_tr, X_te, y_tr, y_te = train_test_split(np.zeros((12, 2)), y, test_size=3, seed=0,
                                              stratify=False)
    assert y_tr.shape == (9, 3) and y_te.shape == (3, 3)
    X_tr, X_te, y_tr, y_te = train_test_split([[1], [2], [3], [4]], [0, 1, 0, 1], test_size=2,
                                              seed=0)
    assert sorted(y_te.tolist()) == [0, 1]


@pytest.mark.parametrize("X, y, kwargs, exc, match", [
    (np.zeros((10, 2)), np.zeros(9), {}, ValueError, "same number of samples, got 10 and 9"),
    (np.zeros((1, 2)), np.zeros(1), {}, ValueError, "at least 2 samples"),
    (np.float64(1.0), np.zeros(1), {}, ValueError, "one entry per sample"),
    (np.zeros((10, 2)), np.arange(10) % 2, dict(test_size=0.0), ValueError,
     r"test_size must be a number in \(0, 1\), got 0.0"),
    (np.zeros((10, 2)), np.arange(10) % 2, dict(test_size=1.0), ValueError, "test_size"),
    (np.zeros((10, 2)), np.arange(10) % 2, dict(test_size=10), ValueError,
     "test_size must be an integer <= 9, got 10"),
    (np.zeros((10, 2)), np.arange(10) % 2, dict(test_size=0), ValueError, "test_size.*>= 1"),
    (np.zeros((10, 2)), np.arange(10) % 2, dict(test_size=True), TypeError, "test_size"),
    (np.zeros((10, 2)), np.arange(10) % 2, dict(test_size="0.2"), TypeError, "test_size"),
    (np.zeros((10, 2)), np.arange(10) % 2, dict(seed=-1), ValueError, "seed must be an integer >= 0"),
    (np.zeros((10, 2)), np.arange(10) % 2, dict(seed=1.5), TypeError, "seed must be None"),
    (np.zeros((10, 2)), np.arange(10) % 2, dict(stratify="yes"), TypeError, "stratify must be True or False"),
    (np.zeros((5, 2)), np.array([0, 0, 1, 1, 2]), {}, ValueError,
     "at least 2 samples of every class.*got 1 of class 2"),
    (np.zeros((10, 2)), np.arange(10) % 5, dict(test_size=2), ValueError,
     "each of the 5 classes in both parts"),
    (np.zeros((4, 2)), np.eye(2)[[0, 1, 0, 1]], {}, ValueError, "pass stratify=False"),
    (np.zeros((4, 2)), np.array([0.0, 1.0, np.nan, 1.0]), {}, ValueError, "finite"),
])
def test_split_bad_input(X, y, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        train_test_split(X, y, **kwargs)


# ----------------------------------------------------------------------------- label_subset
def test_label_subset_five_percent_of_digits():
    _, y = load_digits()
    idx = label_subset(y, 0.05, seed=0)
    assert idx.dtype == np.int64 and len(idx) == round(0.05 * 1797)
    assert np.all(np.diff(idx) > 0), "indices must be sorted and distinct"
    assert idx.min() >= 0 and idx.max() < len(y)
    _check_stratified(y, y[idx], len(idx), upper_offset=0)
    np.testing.assert_array_equal(idx, label_subset(y, 0.05, seed=0), err_msg="not deterministic")
    assert not np.array_equal(idx, label_subset(y, 0.05, seed=1))


def test_label_subset_keeps_every_class_and_edges():
    y = np.array([0] * 50 + [1] * 50 + [2] * 2)
    idx = label_subset(y, 0.01, seed=0)
    assert set(y[idx]) == {0, 1, 2}, "each class needs at least one label"
    np.testing.assert_array_equal(label_subset(y, 1.0, seed=0), np.arange(len(y)))
    idx = label_subset(y, 0.5, seed=0, stratify=False)
    assert len(idx) == 51 and len(np.unique(idx)) == 51


@pytest.mark.parametrize("fraction, exc", [(0.0, ValueError), (1.5, ValueError), ("a", TypeError)])
def test_label_subset_bad_input(fraction, exc):
    with pytest.raises(exc, match="fraction"):
        label_subset(np.arange(10) % 2, fraction, seed=0)


def test_label_subset_bad_labels():
    with pytest.raises(ValueError, match="one label per sample"):
        label_subset(np.array([]), 0.5)
    with pytest.raises(ValueError, match="pass stratify=False"):
        label_subset(np.eye(3), 0.5)


# ----------------------------------------------------------------------------- make_blobs
def test_blobs_shapes_dtypes_counts_and_determinism():
    X, y = make_blobs(n_samples=301, n_features=4, n_classes=3, seed=0)
    assert X.shape == (301, 4) and X.dtype == np.float64
    assert y.shape == (301,) and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [101, 100, 100])
    X2, y2 = make_blobs(n_samples=301, n_features=4, n_classes=3, seed=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = make_blobs(n_samples=301, n_features=4, n_classes=3, seed=1)
    assert not np.array_equal(X, X3)
    X32, y32 = make_blobs(n_samples=301, n_features=4, n_classes=3, seed=0, dtype=np.float32)
    assert X32.dtype == np.float32
    np.testing.assert_array_equal(X32, X.astype(np.float32))
    np.testing.assert_array_equal(y32, y)


def test_blobs_are_learnable():
    X, y = make_blobs(n_samples=600, n_features=5, n_classes=4, cluster_std=0.5,
                      center_box=(-5, 5), seed=3)
    means = np.stack([X[y == c].mean(axis=0) for c in range(4)])
    assert np.all((means >= -5 - 0.3) & (means <= 5 + 0.3)), "class means outside center_box"
    spread = np.concatenate([X[y == c] - means[c] for c in range(4)]).std()
    np.testing.assert_allclose(spread, 0.5, rtol=0.1, err_msg="within-class std != cluster_std")
    pairwise = np.linalg.norm(means[:, None] - means[None], axis=-1)[np.triu_indices(4, 1)]
    assert pairwise.min() > 4 * 0.5, f"class means too close: {pairwise.min():.2f}"
    pred = np.argmin(((X[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == y).mean() > 0.95


def test_blobs_zero_std_puts_every_sample_on_its_centre():
    X, y = make_blobs(n_samples=20, n_features=3, n_classes=2, cluster_std=0.0, seed=0)
    for c in range(2):
        assert np.ptp(X[y == c], axis=0).max() == 0.0


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(n_samples=0), ValueError, "n_samples must be an integer >= 1"),
    (dict(n_samples=2, n_classes=3), ValueError, "n_samples must be >= n_classes"),
    (dict(n_features=2.0), TypeError, "n_features must be an integer"),
    (dict(n_classes=0), ValueError, "n_classes"),
    (dict(cluster_std=-1.0), ValueError, "cluster_std must be a finite number >= 0"),
    (dict(center_box=(5, -5)), ValueError, "low < high"),
    (dict(center_box=(0, np.inf)), ValueError, "center_box must be finite"),
    (dict(center_box=3), TypeError, "center_box must be a pair"),
    (dict(center_box=("a", "b")), TypeError, "two real numbers"),
    (dict(dtype=np.float16), TypeError, "dtype must be np.float32 or np.float64, got float16"),
    (dict(seed="0"), TypeError, "seed"),
])
def test_blobs_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        make_blobs(**kwargs)


# ----------------------------------------------------------------------------- packaging
@pytest.mark.slow
def test_wheel_ships_the_data_and_load_digits_works_from_it(tmp_path):
    # Build from a copy of the source tree, so the build leaves no build/ or *.egg-info behind in
    # the checkout (a stale build/lib could otherwise leak deleted modules into later wheels).
    src = tmp_path / "src"
    shutil.copytree(REPO_ROOT, src, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis",
        ".ruff_cache", ".venv*", "checkpoints"))
    out = tmp_path / "wheels"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(out)],
        cwd=src, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, f"pip wheel failed:\n{result.stdout}\n{result.stderr}"
    wheels = list(out.glob("minikd-*.whl"))
    assert len(wheels) == 1, f"expected one wheel, got {wheels}"
    names = zipfile.ZipFile(wheels[0]).namelist()
    for required in ("minikd/data/digits.npz", "minikd/data/README.md", "minikd/datasets.py"):
        assert required in names, f"{required} missing from the wheel: {names}"

    # Import minikd straight from the wheel (a zip on sys.path), away from the checkout.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import minikd.datasets as d; X, y = d.load_digits();"
        "assert d.__file__.startswith(sys.argv[1]), d.__file__;"
        "print(X.shape, int(y.sum()))"
    )
    run = subprocess.run([sys.executable, "-P", "-c", code, str(wheels[0])], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"load_digits from the wheel failed:\n{run.stderr}"
    _, y = load_digits()
    assert run.stdout.strip() == f"(1797, 64) {int(y.sum())}"
