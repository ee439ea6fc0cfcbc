"""Early stopping: stop when the monitored value stops improving, and give back the best weights."""

from __future__ import annotations

import numpy as np

from .._validation import check_bool, check_int, check_nonnegative_float

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """Stop when the monitored value has not improved for ``patience`` epochs; restore the best weights.

    Parameters
    ----------
    patience : int >= 1
        Epochs without improvement to wait before stopping.
    min_delta : float >= 0
        An epoch improves only if it beats the best so far by **more than** min_delta.
    lower_is_better : bool, default True
    restore_best_weights : bool, default True
        On stopping (and at the end of training) put back the parameters of the best epoch.

    Notes
    -----
    State (``best``, ``best_epoch``, ``wait``, ``best_params``) is reset by :meth:`reset`, which
    the trainer calls at the start of every ``train`` (the seed library forgot to).
    """

    def __init__(self, patience: int = 5, min_delta: float = 0.001, lower_is_better: bool = True,
                 restore_best_weights: bool = True):
        self.patience = check_int(patience, "patience", minimum=1)
        self.min_delta = check_nonnegative_float(min_delta, "min_delta")
        self.lower_is_better = bool(lower_is_better)
        self.restore_best_weights = check_bool(restore_best_weights, "restore_best_weights")
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far."""
        self.best = None
        self.best_epoch = None
        self.wait = 0
        self.best_params = None

    def improved(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta``."""
        if self.best is None:
            return True
        if self.lower_is_better:
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, epoch: int, value: float, params: dict) -> bool:
        """Record an epoch's value; return True if training should stop now.

        Parameters
        ----------
        epoch : int
        value : float
            The monitored metric.
        params : dict of ndarray
            The model's parameters (copied when they are the new best).
        """
        if self.improved(value):
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            if self.restore_best_weights:
                self.best_params = {k: v.copy() for k, v in params.items()}
            return False
        self.wait += 1
        return self.wait >= self.patience

    def restore(self, params: dict) -> None:
        """Copy the best parameters back into ``params`` (in place), if there are any."""
        if self.restore_best_weights and self.best_params is not None:
            for k, v in self.best_params.items():
                params[k][...] = v

    def state_dict(self) -> dict:
        """Plain-data state for checkpoints."""
        return {
            "best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
            "best_params": None if self.best_params is None
            else {k: v.copy() for k, v in self.best_params.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore the state saved by :meth:`state_dict`."""
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        bp = state["best_params"]
        self.best_params = None if bp is None else {k: np.array(v) for k, v in bp.items()}
