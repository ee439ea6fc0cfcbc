"""Checkpoint files: atomic writes, saving, and loading safely (format 2), and converting format 1.

A checkpoint file is a dict of plain data encoded by :mod:`minikd._checkpoint_format` (which runs
no code and rebuilds arrays without NumPy's C reconstructors), behind the marker
``"format": "minikd-checkpoint"`` and ``"format_version": 2``. :func:`save_checkpoint` writes one
atomically (:func:`_atomic_write_bytes`: temporary file, fsync, ``os.replace``); :func:`load_checkpoint`
reads one, checks the format, then every field (:mod:`~minikd.checkpoint.schema`).
:func:`convert_legacy_checkpoint` rewrites a minikd 0.1 file (format 1) once, for a user who vouches
for it. Imports :mod:`~minikd.checkpoint.config` and :mod:`~minikd.checkpoint.schema` from the package.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import tempfile
from pathlib import Path

from .._checkpoint_format import CheckpointFormatError, decode, encode
from .._validation import describe
from .config import CheckpointError
from .schema import Checkpoint, _check_checkpoint

__all__ = ["load_checkpoint", "save_checkpoint", "convert_legacy_checkpoint"]

FORMAT = "minikd-checkpoint"
FORMAT_VERSION = 2


# ---------------------------------------------------------------------------- atomic writes
def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same directory, fsync, os.replace.

    The temporary file is ``.{path.name}.XXXXXXXX.tmp`` (``tempfile.mkstemp``); it is removed again if
    anything fails before the replace. If the process dies before it can remove it, it is an orphan that
    :meth:`CheckpointManager.begin` cleans. Every step is one ``os`` call (``open``, ``write``, ``fsync``,
    ``close``, ``replace``), so tests can interrupt each one. Making the rename durable (an fsync of the
    directory) is best effort: a file system that refuses it does not fail the write.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            _unlink_quietly(Path(tmp))
        except OSError:
            pass  # an orphan: the next CheckpointManager.begin removes it
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make renames in ``directory`` durable; best effort (an ``OSError`` is ignored)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        try:
            os.close(dir_fd)
        except OSError:
            pass


def _unlink_quietly(path: Path) -> None:
    """Remove ``path``; a file that is already gone is fine. Never follows a symlink (unlinks the link)."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass


# ---------------------------------------------------------------------------- saving
def save_checkpoint(path, state: dict) -> Path:
    """Write a checkpoint dict atomically, in checkpoint format 2.

    Parameters
    ----------
    path : str or path
        Destination file; its directory must exist.
    state : dict
        Plain data (dicts with str keys, lists, tuples, str, int, float, bool, None, bytes and
        NumPy arrays of bool, integer or float dtypes): the dict a trainer builds for its
        checkpoints (the format keys are added here).

    Returns
    -------
    Path

    Raises
    ------
    TypeError
        If ``state`` holds anything else (the message names where).
    CheckpointError
        If the file cannot be written (the ``OSError`` is its ``__cause__``); nothing is replaced then.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a path (str or os.PathLike), got {describe(path)}")
    path = Path(path)
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict of plain data, got {describe(state)}")
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    try:
        data = encode(payload)
    except TypeError as exc:
        raise TypeError(f"state must hold only plain data and NumPy arrays: {exc}") from None
    try:
        _atomic_write_bytes(path, data)
    except OSError as exc:
        raise CheckpointError(
            f"could not write the checkpoint {str(path)!r}: {type(exc).__name__}: {exc}. "
            "Nothing was replaced: any earlier file of that name is intact."
        ) from exc
    return path


# ---------------------------------------------------------------------------- loading
def _read_bytes(path) -> tuple[Path, bytes]:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a path (str or os.PathLike), got {describe(path)}")
    path = Path(path)
    try:
        return path, path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {str(path)!r}: the file does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(f"{str(path)!r} is a directory, not a checkpoint file") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {str(path)!r}: {exc}") from None


def _peek_version(data: bytes):
    """The format version that a minikd checkpoint declares in its first opcodes, without unpickling.

    Both formats start with the dict entries ``"format": "minikd-checkpoint"`` and
    ``"format_version": N``; only the leading opcodes are parsed (by ``pickletools``, which runs
    nothing). None if the file does not start that way.
    """
    values = []
    try:
        for opcode, arg, _ in pickletools.genops(io.BytesIO(data[:256])):
            if arg is not None and opcode.name not in ("PROTO", "FRAME", "MEMOIZE", "BINPUT", "LONG_BINPUT"):
                values.append(arg)
            if len(values) >= 4:
                break
    except Exception:  # a broken or foreign stream: not a recognisable minikd checkpoint
        return None
    if values[:3] == ["format", FORMAT, "format_version"] and len(values) == 4 and type(values[3]) is int:
        return values[3]
    return None


def _read_checkpoint_dict(path) -> tuple[Path, dict]:
    """Read and decode a checkpoint file into plain data (the format checks; the schema comes after)."""
    path, data = _read_bytes(path)
    version = _peek_version(data)
    if version == 1:
        raise CheckpointError(
            f"{str(path)!r} was written by minikd 0.1 (checkpoint format 1), which stored NumPy arrays as "
            "pickled objects. Format 1 is not loaded: rebuilding those arrays goes through NumPy's C "
            "reconstructors, which a crafted file can crash or worse. If you wrote this file yourself, "
            "convert it once with minikd.checkpoint.convert_legacy_checkpoint(path, trusted=True)."
        )
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise CheckpointError(
            f"{str(path)!r} has checkpoint format version {version}, newer than this minikd understands "
            f"({FORMAT_VERSION}); upgrade minikd to load it"
        )
    try:
        obj = decode(data)
    except CheckpointFormatError as exc:
        raise CheckpointError(
            f"{str(path)!r} is not a readable minikd checkpoint (truncated or corrupt, or crafted): {exc}"
        ) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a minikd checkpoint (no '{FORMAT}' format marker)")
    if obj.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{str(path)!r} has checkpoint format version {describe(obj.get('format_version'))}; "
                              f"this minikd reads version {FORMAT_VERSION}")
    return path, obj


def load_checkpoint(path) -> Checkpoint:
    """Load a minikd checkpoint safely: no code runs, no crafted byte reaches a C reconstructor.

    Parameters
    ----------
    path : str or path
        A ``{prefix}_epoch{NNNN}.pkl`` file (checkpoint format 2).

    Returns
    -------
    Checkpoint

    Raises
    ------
    CheckpointError
        For every problem with the file, naming it: missing, truncated, corrupt, foreign,
        written by minikd 0.1 (see :func:`convert_legacy_checkpoint`) or by a newer version,
        any pickle opcode other than those of plain data, arrays whose bytes do not match
        their dtype and shape, more array data than the file holds, and any field that breaks
        the schema (the message names the field, the rule and the value).
    TypeError
        If ``path`` is not a path.
    """
    path, raw = _read_checkpoint_dict(path)
    return _check_checkpoint(raw, path)


# ---------------------------------------------------------------------------- format 1
def convert_legacy_checkpoint(path, trusted: bool = False, output=None) -> Path:
    """Rewrite a checkpoint of minikd 0.1 (format 1) in format 2 — only for a file you wrote yourself.

    Format 1 stored NumPy arrays as pickled objects, so reading it means unpickling with NumPy's
    own reconstructors, which a crafted file can crash (or make read arbitrary memory): that is
    why :func:`load_checkpoint` refuses it and why this function needs ``trusted=True``. The
    converted file carries no run fingerprint (format 1 had none): resuming from it cannot check
    that the data are the same, and says so.

    Parameters
    ----------
    path : str or path
        The format-1 file.
    trusted : bool, default False
        Must be True: you confirm that you wrote the file yourself.
    output : str or path, optional
        Where to write the format-2 file; default: replace ``path`` (atomically, after the
        converted state has passed every check of :func:`load_checkpoint`).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        Without ``trusted=True``.
    CheckpointError
        If the file is not a format-1 minikd checkpoint, or its converted state breaks the schema.
    """
    if trusted is not True:
        raise ValueError(
            "trusted must be True to convert a format-1 checkpoint: reading it unpickles NumPy objects, "
            f"which is only safe for a file you wrote yourself, got trusted={trusted!r}"
        )
    path, data = _read_bytes(path)
    if _peek_version(data) != 1:
        raise CheckpointError(f"{str(path)!r} is not a minikd 0.1 checkpoint (format 1)")
    try:
        old = _LegacyUnpickler(io.BytesIO(data)).load()
        state = {
            "minikd_version": str(old["minikd_version"]), "epoch": old["epoch"], "metrics": old["metrics"],
            "student": old["student"], "teacher": old.get("teacher"), "optimizer": old["optimizer"],
            "trainer": {"config": old["trainer"], "rng_state": old["rng_state"],
                        "early_stopping": old["early_stopping"], "history": old["history"], "fingerprint": None},
        }
        encoded = encode({"format": FORMAT, "format_version": FORMAT_VERSION, **state})
    except Exception as exc:
        raise CheckpointError(f"{str(path)!r} could not be converted: {type(exc).__name__}: {exc}") from None
    target = path if output is None else Path(output)
    _check_checkpoint(decode(encoded), target)
    try:
        _atomic_write_bytes(target, encoded)
    except OSError as exc:
        raise CheckpointError(f"could not write {str(target)!r}: {type(exc).__name__}: {exc}") from exc
    return target


class _LegacyUnpickler(pickle.Unpickler):
    """Format 1's reader (minikd 0.1): NumPy's array, dtype and scalar reconstructors and nothing else.

    Refuses every other global, but cannot protect against a crafted dtype state: used only by
    :func:`convert_legacy_checkpoint` on files the user vouches for.
    """

    _ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise CheckpointError(f"refusing to load {module}.{name}: not part of a minikd 0.1 checkpoint")
