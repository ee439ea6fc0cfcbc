"""The names of the files a checkpoint manager writes, and so the only ones it may delete.

For a prefix ``p`` these are the checkpoints ``p_epoch{NNNN}.pkl`` and the temporary files of the
atomic writes of a checkpoint or of the index (``.p_epoch{NNNN}.pkl.XXXXXXXX.tmp``,
``.p_index.json.XXXXXXXX.tmp``). A name is one of them only if it is spelt exactly as the manager
spells it: ``p_epoch1.pkl``, ``p_epoch00001.pkl`` or ``../p_epoch0001.pkl`` are not, so an index
edited by hand or a file a user put in the directory can never make the manager delete anything else.
The index ``p_index.json`` and the lock file ``p.lock`` are named by the objects that own them
(:class:`~minikd.checkpoint.index.CheckpointIndex`, :class:`~minikd.checkpoint.lock.DirectoryLock`).
Imports nothing from the package.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["CheckpointNames"]


class CheckpointNames:
    """The checkpoint and temporary file names of one prefix.

    Parameters
    ----------
    prefix : str
        The config's prefix (letters, digits, ``-`` and ``_``; checked by the config).
    """

    def __init__(self, prefix: str):
        self.prefix = prefix
        escaped = re.escape(prefix)
        self._checkpoint_re = re.compile(rf"{escaped}_epoch([0-9]{{4,18}})\.pkl")
        self._temp_re = re.compile(rf"\.{escaped}_(?:epoch[0-9]{{4,18}}\.pkl|index\.json)\.[A-Za-z0-9_]+\.tmp")

    def checkpoint(self, epoch: int) -> str:
        """The name of the checkpoint of ``epoch``: ``{prefix}_epoch{NNNN}.pkl``."""
        return f"{self.prefix}_epoch{epoch:04d}.pkl"

    def checkpoint_epoch(self, name) -> int | None:
        """The epoch of ``name`` if it is a checkpoint name this manager writes, else None."""
        match = self._checkpoint_re.fullmatch(name) if isinstance(name, str) else None
        if match is None:
            return None
        epoch = int(match.group(1))
        return epoch if epoch >= 1 and name == self.checkpoint(epoch) else None

    def is_temporary(self, name: str) -> bool:
        """True if ``name`` is a temporary file of an atomic write of this prefix's checkpoint or index."""
        return self._temp_re.fullmatch(name) is not None

    def is_own_file(self, name: str) -> bool:
        """True if ``name`` is a checkpoint or temporary file name of this prefix (a file it may delete)."""
        return self.checkpoint_epoch(name) is not None or self.is_temporary(name)


def _names_a_file_in(directory: Path, name: str) -> bool:
    """True if ``directory / name`` is, lexically, a file directly inside ``directory`` (no symlink is followed)."""
    base = os.path.abspath(directory)
    return "\0" not in name and os.path.dirname(os.path.normpath(os.path.join(base, name))) == base
