"""Weighted sums of strategies."""

from __future__ import annotations

import numpy as np

from .._validation import check_nonnegative_float, describe
from .base import DistillationStrategy, strategy_from_config

__all__ = ["CompositeStrategy"]


# ----------------------------------------------------------------------------- weighted sums
class CompositeStrategy(DistillationStrategy):
    r"""Weighted sum of strategies (the seed library's Hybrid strategy).

    Parameters
    ----------
    strategies : sequence of (weight, DistillationStrategy) pairs
        Non-empty; weights are finite and >= 0, at least one > 0.

    Notes
    -----
    ``L = sum_k w_k L_k`` and, the derivative being linear, ``dL/dz = sum_k w_k dL_k/dz``.
    Each part is summed the same way: ``soft = sum_k w_k soft_k`` and ``hard = sum_k w_k hard_k``
    over the strategies that have a hard term (None if none has one); ``parts`` also holds
    ``"component_k"`` = ``w_k L_k``.

    ``temperature`` and ``alpha`` are the **first** strategy's (for display and for code that
    reads ``strategy.temperature``); they are read-only here: set them on the components.
    ``requires_labels`` (``uses_teacher``) is True if any component requires labels (uses the
    teacher).

    Examples
    --------
    The official DKD recipe, cross-entropy plus DKD:

    >>> dkd = CompositeStrategy([(1.0, CrossEntropyLoss()), (1.0, DecoupledKDLoss())])
    >>> dkd.requires_labels, dkd.temperature
    (True, 1.0)
    """

    def __init__(self, strategies):
        if isinstance(strategies, (str, bytes)) or not hasattr(strategies, "__iter__"):
            raise TypeError(
                "strategies must be a sequence of (weight, strategy) pairs, "
                f"got {describe(strategies)}"
            )
        pairs = []
        for k, item in enumerate(strategies):
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise TypeError(
                    f"strategies[{k}] must be a (weight, strategy) pair, got {describe(item)}"
                )
            weight = check_nonnegative_float(item[0], f"strategies[{k}] weight")
            strategy = item[1]
            if not isinstance(strategy, DistillationStrategy):
                raise TypeError(
                    f"strategies[{k}] strategy must be a DistillationStrategy, "
                    f"got {describe(strategy)}"
                )
            pairs.append((weight, strategy))
        if not pairs:
            raise ValueError("strategies must hold at least one (weight, strategy) pair, got none")
        if not any(w > 0 for w, _ in pairs):
            raise ValueError(
                f"at least one weight in strategies must be > 0, got {[w for w, _ in pairs]}"
            )
        self.strategies = tuple(pairs)

    @property
    def temperature(self) -> float:
        """The first strategy's temperature (read-only)."""
        return self.strategies[0][1].temperature

    @property
    def alpha(self) -> float:
        """The first strategy's alpha (read-only)."""
        return self.strategies[0][1].alpha

    @property
    def requires_labels(self) -> bool:
        """True if any component requires labels."""
        return any(s.requires_labels for _, s in self.strategies)

    @property
    def uses_teacher(self) -> bool:
        """True if any component uses the teacher."""
        return any(s.uses_teacher for _, s in self.strategies)

    @property
    def min_batch_size(self) -> int:
        """The largest of the components' minimum batch sizes."""
        return max(s.min_batch_size for _, s in self.strategies)

    @property
    def required_student_layers(self) -> tuple:
        """The student hidden layers any component reads, in order, without repeats."""
        return tuple(dict.fromkeys(k for _, s in self.strategies for k in s.required_student_layers))

    @property
    def required_teacher_layers(self) -> tuple:
        """The teacher hidden layers any component reads, in order, without repeats."""
        return tuple(dict.fromkeys(k for _, s in self.strategies for k in s.required_teacher_layers))

    def _check_range(self, dtype) -> None:
        for _, strategy in self.strategies:
            strategy._check_range(dtype)

    def _check_schedules(self, epochs: int, dtype=None) -> None:
        for _, strategy in self.strategies:
            strategy._check_schedules(epochs, dtype)

    def _set_epoch(self, epoch: int) -> None:
        for _, strategy in self.strategies:
            strategy._set_epoch(epoch)

    def _bind(self, student_sizes, teacher_sizes, classes, prefix="strategy."):
        """Bind every component; component k keeps its parameters under ``prefix + f"{k}."``."""
        for k, (_, strategy) in enumerate(self.strategies):
            try:
                strategy._bind(student_sizes, teacher_sizes, classes, f"{prefix}{k}.")
            except ValueError as exc:
                raise ValueError(f"strategies[{k}]: {exc}") from None

    def _reset_params(self) -> None:
        for _, strategy in self.strategies:
            strategy._reset_params()

    def _named_params(self) -> dict:
        return {name: p for _, strategy in self.strategies for name, p in strategy._named_params().items()}

    def _compute_step(self, z, v, labels_kind, labels, student_cache, teacher_hidden):
        """Step 3 in a trainer: each term's step, weighted and summed (logits, hidden layers, params)."""
        dz = np.zeros_like(z)
        soft, hard = 0.0, None
        parts = {"dhidden": {}, "dparams": {}}
        for k, (w, strategy) in enumerate(self.strategies):
            loss_k, dz_k, parts_k = strategy._compute_step(z, v, labels_kind, labels, student_cache, teacher_hidden)
            dz += w * dz_k
            soft += w * parts_k["soft"]
            if parts_k["hard"] is not None:
                hard = (hard or 0.0) + w * parts_k["hard"]
            for layer, dH in parts_k.get("dhidden", {}).items():  # two terms on one layer: their gradients add
                parts["dhidden"][layer] = parts["dhidden"].get(layer, 0.0) + w * dH
            parts["dparams"].update((name, w * g) for name, g in parts_k.get("dparams", {}).items())
            parts[f"component_{k}"] = w * loss_k
        return soft + (hard or 0.0), dz, {"soft": soft, "hard": hard, **parts}

    def _compute(self, z, v, labels_kind, labels):
        if self.required_student_layers or self.required_teacher_layers:
            raise ValueError(
                "this CompositeStrategy has terms on hidden layers (student layers "
                f"{list(self.required_student_layers)}, teacher layers {list(self.required_teacher_layers)}): its "
                "loss needs the models' hidden layers, which a trainer gives it; loss_and_gradient takes logits only"
            )
        dz = np.zeros_like(z)
        soft, hard = 0.0, None
        parts = {}
        for k, (w, strategy) in enumerate(self.strategies):
            loss_k, dz_k, parts_k = strategy._compute(z, v, labels_kind, labels)
            dz += w * dz_k
            soft += w * parts_k["soft"]
            if parts_k["hard"] is not None:
                hard = (hard or 0.0) + w * parts_k["hard"]
            parts[f"component_{k}"] = w * loss_k
        return soft + (hard or 0.0), dz, {"soft": soft, "hard": hard, **parts}

    def _params(self) -> dict:
        return {"strategies": [[w, s.get_config()] for w, s in self.strategies]}

    def get_config(self) -> dict:
        """``{"name", "temperature", "alpha", "strategies": [[weight, config], ...]}``; ``temperature`` and
        ``alpha`` are the first component's as its config gives them (a schedule's config when scheduled, so
        the config does not change from epoch to epoch)."""
        first = self.strategies[0][1].get_config()
        return {"name": type(self).__name__, "temperature": first["temperature"], "alpha": first["alpha"],
                **self._params()}

    @classmethod
    def _from_config(cls, params: dict):
        if "strategies" not in params:
            raise ValueError("config for CompositeStrategy must have a 'strategies' list")
        unknown = sorted(set(params) - {"strategies", "temperature", "alpha"})
        if unknown:
            raise ValueError(f"config for CompositeStrategy has unknown key(s) {unknown}")
        items = params["strategies"]
        if not isinstance(items, (list, tuple)):
            raise TypeError(f"config['strategies'] must be a list, got {describe(items)}")
        pairs = []
        for k, item in enumerate(items):
            if not (isinstance(item, (list, tuple)) and len(item) == 2):
                raise TypeError(
                    f"config['strategies'][{k}] must be a [weight, config] pair, "
                    f"got {describe(item)}"
                )
            pairs.append((item[0], strategy_from_config(item[1])))
        return cls(pairs)

    def __repr__(self) -> str:
        inner = ", ".join(f"({w!r}, {s!r})" for w, s in self.strategies)
        return f"CompositeStrategy([{inner}])"


