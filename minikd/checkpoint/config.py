"""What a checkpointed run is configured by: the metrics a checkpoint records, the config, the error.

:class:`DistillationCheckpointConfig` says when and where ``train`` saves and which checkpoints it keeps;
:data:`CHECKPOINT_METRICS` are the metrics a checkpoint (and its index entry) may record; every problem
with a checkpoint file, its index or its directory is a :class:`CheckpointError`. The first module of
the package: it imports none of the others.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .._validation import check_bool, check_int, describe

__all__ = ["CheckpointError", "DistillationCheckpointConfig", "CHECKPOINT_METRICS"]

#: The metrics a checkpoint (and its index entry) may record, and that ``best_metric`` may name.
CHECKPOINT_METRICS = ("loss", "soft_loss", "hard_loss", "val_loss", "val_accuracy", "teacher_agreement")
_METRICS = CHECKPOINT_METRICS
_VAL_METRICS = ("val_loss", "val_accuracy", "teacher_agreement")


class CheckpointError(Exception):
    """A checkpoint file is missing, truncated, corrupt, foreign, too new, or unsafe to load, or
    could not be written (an unwritable directory, a full disk: the ``OSError`` is its ``__cause__``)."""


class DistillationCheckpointConfig:
    """When and where to save checkpoints, and which to keep.

    Parameters
    ----------
    checkpoint_directory : str or path, default "checkpoints"
        Created when the first checkpoint is saved.
    save_every_epochs : int >= 1, default 10
        Save after every this many epochs; the last epoch of a run (also one ended by early
        stopping or a callback) is always saved, so a run can always be resumed or inspected.
    keep_best_n : int >= 0, default 3
        Keep the N best checkpoints by ``best_metric`` **and always the most recent one**;
        0 keeps every checkpoint.
    best_metric : str, default "val_loss"
        One of "loss", "soft_loss", "hard_loss", "val_loss", "val_accuracy",
        "teacher_agreement". A metric the run cannot produce (e.g. "val_loss" without
        validation data) is a ``ValueError`` at the start of ``train``.
    lower_is_better : bool, default True
        False for accuracies.
    save_teacher : bool, default False
        Also store the teacher (an MLP teacher only).
    save_student : bool, default True
        Store the student's parameters (needed to resume or to load ``.student``).
    prefix : str, default "distillation"
        File-name prefix (letters, digits, ``-`` and ``_``).
    """

    def __init__(self, checkpoint_directory="checkpoints", save_every_epochs: int = 10,
                 keep_best_n: int = 3, best_metric: str = "val_loss", lower_is_better: bool = True,
                 save_teacher: bool = False, save_student: bool = True, prefix: str = "distillation"):
        if not isinstance(checkpoint_directory, (str, os.PathLike)):
            raise TypeError(
                f"checkpoint_directory must be a path (str or os.PathLike), got {describe(checkpoint_directory)}"
            )
        if str(checkpoint_directory) == "":
            raise ValueError("checkpoint_directory must be a non-empty path, got ''")
        self.checkpoint_directory = Path(checkpoint_directory)
        self.save_every_epochs = check_int(save_every_epochs, "save_every_epochs", minimum=1)
        self.keep_best_n = check_int(keep_best_n, "keep_best_n", minimum=0)
        if not isinstance(best_metric, str):
            raise TypeError(f"best_metric must be a string, one of {list(_METRICS)}, got {describe(best_metric)}")
        if best_metric not in _METRICS:
            raise ValueError(f"best_metric must be one of {list(_METRICS)}, got {best_metric!r}")
        self.best_metric = best_metric
        self.lower_is_better = check_bool(lower_is_better, "lower_is_better")
        self.save_teacher = check_bool(save_teacher, "save_teacher")
        self.save_student = check_bool(save_student, "save_student")
        if not isinstance(prefix, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", prefix):
            raise ValueError(f"prefix must be a non-empty string of letters, digits, '-' and '_', got {prefix!r}")
        self.prefix = prefix

    def __repr__(self) -> str:
        return (f"DistillationCheckpointConfig(checkpoint_directory={str(self.checkpoint_directory)!r}, "
                f"save_every_epochs={self.save_every_epochs}, keep_best_n={self.keep_best_n}, "
                f"best_metric={self.best_metric!r}, lower_is_better={self.lower_is_better}, "
                f"save_teacher={self.save_teacher}, save_student={self.save_student}, prefix={self.prefix!r})")
