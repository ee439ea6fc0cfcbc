"""The two trainers of the loop: a frozen teacher distilled into a student, and plain supervised training."""

from __future__ import annotations

import hashlib

import numpy as np

from .._run_state import hash_array
from .._validation import check_bool
from ..strategies import CrossEntropyLoss
from ..teachers import as_teacher
from .base import KnowledgeDistillationTrainerBase
from .resume import teacher_arrays

__all__ = ["KnowledgeDistillationTrainer", "SupervisedTrainer"]


class KnowledgeDistillationTrainer(KnowledgeDistillationTrainerBase):
    """Distil a frozen teacher into a student (Hinton, Vinyals & Dean 2015).

    Parameters
    ----------
    teacher : TeacherModel, MLP or callable
        Anything with ``get_logits(X)`` and ``output_dimension``; an MLP or a callable
        ``X -> logits`` is wrapped in :class:`~minikd.TeacherModelWrapper`.
    distillation_strategy : DistillationStrategy
        E.g. ``DistillationLoss(temperature=3.0, alpha=0.3)``.
    checkpoint_config, use_early_stopping, early_stopping_min_delta, early_stopping_patience,
    restore_best_weights, seed, early_stopping_monitor
        See :class:`KnowledgeDistillationTrainerBase`.
    cache_teacher_logits : bool, default True
        Keep the teacher's logits by dataset index, so the teacher runs once per training
        sample per ``train`` call instead of once per sample per epoch (memory: N x C floats
        of the student's dtype). The strategy computes the teacher's softened distribution from
        the batch's logits in every step, so that step 3 is the loss's formula and nothing else
        (precomputing it once per run saved 7-9 % of a digits run: benchmarks/README.md). The
        teacher's hidden layers that the strategy reads (``strategy.required_teacher_layers``) are
        cached with them: N x H floats per layer of width H.

    Examples
    --------
    >>> import numpy as np
    >>> from minikd import MLP, DistillationLoss, KnowledgeDistillationTrainer, SGD
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(64, 4))
    >>> teacher = MLP([4, 16, 3], seed=0)
    >>> student = MLP([4, 8, 3], seed=1)
    >>> trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=2.0), seed=0)
    >>> history = trainer.train(student, X, epochs=2, batch_size=16, verbose=0)
    >>> len(history.loss)
    2
    """

    def __init__(self, teacher, distillation_strategy, checkpoint_config=None, use_early_stopping: bool = False,
                 early_stopping_min_delta: float = 0.001, early_stopping_patience: int = 5,
                 seed: int | None = None, cache_teacher_logits: bool = True,
                 restore_best_weights: bool = True, early_stopping_monitor=None):
        super().__init__(distillation_strategy, checkpoint_config, use_early_stopping,
                         early_stopping_min_delta, early_stopping_patience, restore_best_weights, seed,
                         early_stopping_monitor)
        self.teacher = as_teacher(teacher)
        self.cache_teacher_logits = check_bool(cache_teacher_logits, "cache_teacher_logits")
        self._cache = None
        self._hidden_cache = {}  # {layer as the strategy declares it: (N, H)}
        self._teacher_layers = tuple(self.strategy.required_teacher_layers)

    #: Rows per teacher call when the cache is filled (a fixed chunking of the data set, so the
    #: cached logits do not depend on how batches happen to be shuffled: resuming is bit-exact).
    teacher_chunk_size = 1024

    def _teacher_output_dimension(self):
        return self.teacher.output_dimension

    def _teacher_hidden_sizes(self):
        return getattr(self.teacher, "hidden_sizes", None)  # None for a callable or a custom TeacherModel

    def _teacher_fingerprint(self, X) -> str:
        """A hash of the teacher's parameters when it is an MLP or an ensemble of MLPs (with the
        ensemble's weights and mode), else of its logits on the first 64 training rows."""
        arrays = teacher_arrays(self.teacher)
        if arrays is not None:
            return "params:" + hashlib.sha256("".join(hash_array(a) for a in arrays).encode()).hexdigest()
        rows = self._cache[:64] if self._cache is not None else self.get_teacher_predictions(X[:64], None)
        return "logits:" + hash_array(rows)

    def _begin_train(self, X, X_val, dtype, cache: bool = True) -> None:
        """Run the teacher once over the training set (in fixed chunks) and keep its logits (not with
        ``augment``: its batches are not the training set's rows, so the teacher runs on each of them)."""
        self._dtype = dtype
        self._cache, self._hidden_cache = None, {}
        if self.cache_teacher_logits and cache:
            starts = range(0, X.shape[0], self.teacher_chunk_size)
            chunks = [self.teacher.get_logits(X[i:i + self.teacher_chunk_size], dtype=dtype) for i in starts]
            self._cache = np.concatenate(chunks).astype(dtype, copy=False)  # (N, C)
            if self._teacher_layers:  # a second pass of the teacher, for the hidden layers the strategy reads
                chunks = [self.teacher.get_hidden(X[i:i + self.teacher_chunk_size], self._teacher_layers, dtype=dtype)
                          for i in starts]
                self._hidden_cache = {k: np.concatenate([c[j] for c in chunks])  # (N, H) per layer
                                      for j, k in enumerate(self._teacher_layers)}

    def get_teacher_predictions(self, X_batch, indices):
        """Teacher logits of a batch: looked up by dataset index when cached, else computed.

        Parameters
        ----------
        X_batch : ndarray of shape (B, D)
        indices : ndarray of int of shape (B,), or None
            Dataset indices of the batch's rows (the cache key); None bypasses the cache.

        Returns
        -------
        ndarray of shape (B, C), in the student's dtype during training

        Notes
        -----
        With ``cache_teacher_logits`` the whole cache is filled at the start of ``train``, in
        chunks of ``teacher_chunk_size`` rows in data-set order: the teacher runs once per
        training sample per ``train`` call, and a sample's cached logits are the same whatever
        batches the shuffling makes (BLAS may round a row differently inside different
        batches, which would break bit-exact resume).
        """
        if indices is None or self._cache is None:
            return self.teacher.get_logits(X_batch, dtype=self._dtype)  # checked after the cast
        return self._cache[indices]  # (B, C), the rows of the batch's samples

    def get_teacher_hidden(self, X_batch, indices):
        """The teacher's hidden layers that the strategy reads, looked up by dataset index when cached.

        Parameters
        ----------
        X_batch : ndarray of shape (B, D)
        indices : ndarray of int of shape (B,), or None
            As for :meth:`get_teacher_predictions`.

        Returns
        -------
        dict of int -> ndarray of shape (B, H)
            ``{k: hidden layer k}`` for each k of ``strategy.required_teacher_layers`` (as declared:
            -1 the teacher's last hidden layer), in the student's dtype during training; ``{}`` for a
            strategy that reads no hidden layer (the teacher is then not asked).
        """
        if not self._teacher_layers:
            return {}
        if indices is None or self._cache is None:
            hidden = self.teacher.get_hidden(X_batch, self._teacher_layers, dtype=self._dtype)
            return dict(zip(self._teacher_layers, hidden, strict=True))
        return {k: h[indices] for k, h in self._hidden_cache.items()}  # (B, H) rows of the batch's samples


class SupervisedTrainer(KnowledgeDistillationTrainerBase):
    """The same loop with plain cross-entropy on labels and no teacher.

    For training teachers and the from-scratch baselines that distilled students are compared with.

    Parameters
    ----------
    checkpoint_config, use_early_stopping, early_stopping_min_delta, early_stopping_patience,
    restore_best_weights, seed, early_stopping_monitor
        See :class:`KnowledgeDistillationTrainerBase`.
    """

    def __init__(self, checkpoint_config=None, use_early_stopping: bool = False,
                 early_stopping_min_delta: float = 0.001, early_stopping_patience: int = 5,
                 seed: int | None = None, restore_best_weights: bool = True, early_stopping_monitor=None):
        super().__init__(CrossEntropyLoss(), checkpoint_config, use_early_stopping,
                         early_stopping_min_delta, early_stopping_patience, restore_best_weights, seed,
                         early_stopping_monitor)

    def get_teacher_predictions(self, X_batch, indices):
        """No teacher: always None."""
        return None
