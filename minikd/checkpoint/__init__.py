"""Checkpoints that never lose a run: atomic saves, keep-best-N that works, exact resume, safe loading.

A checkpoint (format 2) is a pickle of **plain built-ins only** — dicts, lists, tuples, strings, numbers,
None and bytes — in which each NumPy array is a record ``("__minikd_ndarray__", dtype, shape, bytes)``,
never a pickled live object (nanoGPT's habit, made strict). It holds everything a resumed run needs
to continue bit for bit: the student's architecture and parameters, the optimizer's state (momentum
buffers, Adam moments), and the trainer's ``state_dict()`` — its settings, the state of its random
generator, the early-stopping state, the history so far, and the run's fingerprint (data, batch size,
teacher), against which a resume is checked.

Files in ``checkpoint_directory``:

- ``{prefix}_epoch{NNNN}.pkl`` — one checkpoint per saved epoch;
- ``{prefix}_index.json`` — a human-readable list of the checkpoints kept, with their metrics;
- ``{prefix}.lock`` — while a run trains into the directory (deleted when it ends).

Safety
------
Unpickling a file from a stranger can run arbitrary code, and an allow-list of "safe" functions is
only as safe as each function on it (minikd 0.1 allowed NumPy's array reconstructors, and a crafted
dtype state crashed the process). :func:`load_checkpoint` therefore lists the file's opcodes first
(``pickletools``, which runs nothing) and refuses any that minikd's writer never emits (``GLOBAL``,
``STACK_GLOBAL``, ``REDUCE``, ``BUILD``, ``EXT*``, ``PERSID``, ...), unpickles with no global resolvable
at all, rebuilds a fresh tree under limits (depth, visits through memo references, array bytes no more
than the file holds), rebuilds each array with ``np.frombuffer`` after checking its dtype and size, and
then checks every field against the schema. Every problem is a :class:`CheckpointError` naming the
field. A file of format 1 is refused with its version; :func:`convert_legacy_checkpoint` rewrites one
you wrote yourself.

Adding to the format (the rule for later features: strategy parameters, dropout state, schedules,
several students): a feature adds its fields as a versioned, validated addition with a default —
``FORMAT_VERSION`` goes up, the reader of the new version checks the new fields and fills their
defaults when it reads a file of an older format-2 version, and any reader refuses a newer file with
an "upgrade minikd" message (today's reader knows only version 2).

Durability
----------
Every file is written to a temporary file in the same directory, fsync'ed and moved into place with
``os.replace`` (atomic on POSIX and Windows); the directory is then fsync'ed (best effort). A save
writes the checkpoint, then the index that names it (and no longer names what keep-best-N drops),
then deletes the dropped files. An exception or a ``KeyboardInterrupt`` at any point of a save
leaves an index that names only complete files: a new checkpoint is removed again only if the index
on disk does not name it (it is re-read to decide), and a write that fails (an unwritable directory,
a full disk) raises a :class:`CheckpointError` naming the file, with the ``OSError`` as its
``__cause__``. What an interruption or a ``kill -9`` can leave behind (temporary files, an unindexed
checkpoint, a dropped one not yet deleted) is removed, with one warning, by the next run's
:meth:`CheckpointManager.begin`, so ``resume_from="latest"`` always works and gives the run that
never stopped. One run at a time per directory and prefix: ``train`` holds ``{prefix}.lock``
(``fcntl.flock``, released by the kernel however the process ends; without ``fcntl``, a file created
with ``O_EXCL`` and a pid liveness check) and a second run fails at once
with a :class:`CheckpointError` naming the holder's pid. A diverged state (non-finite parameters or
optimizer state) is never written: saving it raises ``TrainingDivergedError``.

The index cannot be turned against the disk: :meth:`CheckpointManager.read_index` validates every
field, and a file name that is not exactly one the manager writes (``../x``, an absolute path,
another prefix's file) is a :class:`CheckpointError`. The manager only ever deletes files of its own
names, in its own directory; other prefixes' files and user files are never touched.

Not covered: a power loss on a file system that ignores fsync, and checkpoints without a checksum
(a tampered file that still holds valid plain data loads).

Modules
-------
One concept each, and each imports only modules above it in this list (none imports the trainer):

- :mod:`~minikd.checkpoint.config` — :class:`DistillationCheckpointConfig`, :data:`CHECKPOINT_METRICS`,
  :class:`CheckpointError`;
- :mod:`~minikd.checkpoint.schema` — :class:`Checkpoint` and the checks of every field of a decoded file;
- :mod:`~minikd.checkpoint.files` — atomic writes, :func:`save_checkpoint`, :func:`load_checkpoint`,
  :func:`convert_legacy_checkpoint`;
- :mod:`~minikd.checkpoint.names` — the file names a manager writes, the only ones it deletes;
- :mod:`~minikd.checkpoint.index` — the index file, read only after every field is checked;
- :mod:`~minikd.checkpoint.lock` — the directory's lock file;
- :mod:`~minikd.checkpoint.manager` — :class:`CheckpointManager`, which ``train`` drives.

The container format itself (plain data and arrays, decoded without running code) is
:mod:`minikd._checkpoint_format`.
"""

from .config import CHECKPOINT_METRICS, CheckpointError, DistillationCheckpointConfig
from .files import convert_legacy_checkpoint, load_checkpoint, save_checkpoint
from .manager import CheckpointManager
from .schema import Checkpoint

__all__ = [
    "CheckpointError",
    "DistillationCheckpointConfig",
    "CheckpointManager",
    "Checkpoint",
    "load_checkpoint",
    "save_checkpoint",
    "convert_legacy_checkpoint",
    "CHECKPOINT_METRICS",
]
