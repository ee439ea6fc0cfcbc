"""Born-again networks: distil a model into fresh copies of itself (Furlanello et al. 2018).

Generation 0 is trained on the labels alone. Every later generation k is a *fresh* network of
the same architecture, distilled from a frozen copy of generation k - 1::

    gen 0:  SupervisedTrainer                                   .train(student, X, y)
    gen 1:  KnowledgeDistillationTrainer(teacher=copy of gen 0)  .train(fresh MLP, X, y)
    gen 2:  KnowledgeDistillationTrainer(teacher=copy of gen 1)  .train(fresh MLP, X, y)
    ...

There is no second training loop here: each generation is one ``train`` call of the trainers in
:mod:`minikd.trainer`, so everything they do (the four-step ``train_step``, teacher logits cached
by dataset index, early stopping, callbacks, progress output) applies per generation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._run_state import History
from .._validation import check_bool, check_instance, check_int, check_seed, describe
from ..mlp import MLP
from ..optim import SGD
from ..strategies import DistillationStrategy
from ._helpers import _check_student
from .distillation import KnowledgeDistillationTrainer, SupervisedTrainer

__all__ = ["SelfDistillationTrainer", "SelfDistillationResult"]


@dataclass
class SelfDistillationResult:
    """What :meth:`SelfDistillationTrainer.train` produced, one entry per generation (0 first).

    Attributes
    ----------
    models : list of MLP
        ``models[0]`` is the ``student`` given to ``train`` (trained in place on the labels);
        ``models[k]`` for k >= 1 is a fresh MLP distilled from ``models[k - 1]``. Independent
        objects: no two share a parameter array.
    histories : list of History
        ``histories[k]`` is the :class:`~minikd.History` of generation k's run.
    trainers : list of KnowledgeDistillationTrainerBase
        The trainer of each generation: a :class:`~minikd.SupervisedTrainer` for generation 0,
        a :class:`~minikd.KnowledgeDistillationTrainer` (teacher: a frozen copy of generation
        k - 1) for the others; e.g. ``trainers[k].teacher.model`` is that copy and
        ``trainers[k].evaluate(models[k], X, y)`` reports agreement with it.
    seeds : list of dict
        ``{"init": int or None, "shuffle": int}`` per generation: the seed of the fresh
        network's initialisation (None for generation 0, which is the given student) and of
        its trainer's batch shuffling.
    """

    models: list = field(default_factory=list)
    histories: list = field(default_factory=list)
    trainers: list = field(default_factory=list)
    seeds: list = field(default_factory=list)

    @property
    def final_model(self) -> MLP:
        """The last generation's model, ``models[-1]``."""
        return self.models[-1]

    def __len__(self) -> int:
        return len(self.models)


class SelfDistillationTrainer:
    """Born-again self-distillation (Furlanello et al. 2018, "Born-Again Neural Networks").

    Parameters
    ----------
    distillation_strategy : DistillationStrategy
        The loss of generations 1, 2, ... (generation 0 uses plain cross-entropy), e.g.
        ``DistillationLoss(temperature=4.0, alpha=0.5)``. Must use the teacher
        (``uses_teacher``); one strategy object is shared by all generations, and its trainable
        parameters (``HintLoss``'s regressor) are built afresh, from its seed, for each generation's
        fresh student.
    generations : int >= 1, default 2
        Number of models trained, generation 0 included: 1 trains only generation 0 (on the
        labels), 2 adds one born-again student, and so on.
    seed : int >= 0, numpy.random.Generator or None, default None
        Seeds everything the trainer draws: ``np.random.SeedSequence(seed).spawn(generations)``
        gives each generation k its own child sequence, from which two integers are drawn:
        the initialisation seed of the fresh network (k >= 1) and the shuffling seed of its
        trainer. The same seed (and an identically initialised ``student``) gives bit-identical
        generations, and generation k does not depend on how many generations follow it. None
        draws fresh entropy.
    use_early_stopping, early_stopping_min_delta, early_stopping_patience, restore_best_weights,
    early_stopping_monitor
        Passed to every generation's trainer (see :class:`~minikd.KnowledgeDistillationTrainerBase`);
        with ``validation_data`` each generation stops on its own validation loss (or the monitored value).

    Attributes
    ----------
    result : SelfDistillationResult or None
        Of the last ``train`` call.

    Notes
    -----
    **Born-again networks.** Furlanello et al. (2018) train a network on the labels, then train a
    new network of the *same* architecture to match it (cross-entropy on its outputs plus the
    labels), and repeat. The student cannot gain capacity, only a different training signal:
    the teacher's probabilities on the wrong classes ("dark knowledge") and an implicit
    per-sample confidence weighting. They report small but consistent gains on CIFAR-100 with
    wide ResNets and DenseNets, which is no promise for small MLPs on small data sets: measure
    (``tutorials/10_ensembles_and_born_again.py`` does, on digits).

    **Choices made here.**

    - Generation 0 is ``student`` itself, trained in place (like every minikd trainer); pass
      ``student.copy()`` to keep the original.
    - Generation k >= 1 is ``MLP.from_config(student.get_config(), seed=init seed of k)``: same
      layer sizes, activation and dtype, fresh weights (born-again students start from scratch,
      not from the teacher's weights).
    - Its teacher is a frozen copy (``models[k - 1].copy()``) whose logits on the training set
      are computed once and cached by dataset index (``cache_teacher_logits=True``), so they
      are exactly generation k - 1's outputs at the end of its training (after early stopping
      restored its best weights, if enabled).
    - Every generation gets a fresh optimizer with the same hyperparameters: an optimizer has
      state (momentum buffers, Adam's moments and step count) that must not leak from one
      network into the next. See ``train``'s ``optimizer``.
    - Labels are used in every generation (generation 0 needs them; later generations use them
      through the strategy's ``alpha``); set ``alpha=0`` for the paper's pure teacher-matching
      variant.
    - Checkpointing is not built in: train a single generation yourself with
      ``KnowledgeDistillationTrainer(result.models[k - 1].copy(), strategy, checkpoint_config=...)``.

    Examples
    --------
    >>> import numpy as np
    >>> from minikd import MLP, SGD, DistillationLoss
    >>> from minikd.datasets import make_blobs
    >>> from minikd.self_distillation import SelfDistillationTrainer
    >>> X, y = make_blobs(n_samples=90, n_features=4, n_classes=3, seed=0)
    >>> trainer = SelfDistillationTrainer(DistillationLoss(temperature=4.0, alpha=0.5), generations=3, seed=0)
    >>> result = trainer.train(MLP([4, 16, 3], seed=0), X, y, epochs=3, batch_size=30,
    ...                        optimizer=SGD(0.05, momentum=0.9), verbose=0)
    >>> len(result.models), [len(h.loss) for h in result.histories]
    (3, [3, 3, 3])
    """

    def __init__(self, distillation_strategy, generations: int = 2, seed: int | None = None,
                 use_early_stopping: bool = False, early_stopping_min_delta: float = 0.001,
                 early_stopping_patience: int = 5, restore_best_weights: bool = True, early_stopping_monitor=None):
        check_instance(distillation_strategy, DistillationStrategy, "distillation_strategy",
                       "a minikd DistillationStrategy instance")
        if not getattr(distillation_strategy, "uses_teacher", True):
            raise ValueError(
                "distillation_strategy must use the teacher (uses_teacher True) for self-distillation, got "
                f"{distillation_strategy!r}"
            )
        self.strategy = distillation_strategy
        self.generations = check_int(generations, "generations", minimum=1)
        self.seed = check_seed(seed)
        # the trainers validate these again; checking them here fails before any training
        self._trainer_kwargs = {
            "use_early_stopping": check_bool(use_early_stopping, "use_early_stopping"),
            "early_stopping_min_delta": early_stopping_min_delta,
            "early_stopping_patience": early_stopping_patience,
            "restore_best_weights": restore_best_weights,
            "early_stopping_monitor": early_stopping_monitor,
        }
        SupervisedTrainer(**self._trainer_kwargs)
        self.result = None

    @property
    def distillation_strategy(self):
        """The strategy (loss) of generations 1, 2, ..."""
        return self.strategy

    def generation_seeds(self) -> list:
        """The ``{"init", "shuffle"}`` seeds of each generation (see ``seed``).

        Returns
        -------
        list of dict
            One per generation; ``"init"`` is None for generation 0. With ``seed=None`` every
            call draws new seeds.
        """
        entropy = int(self.seed.integers(2**63)) if isinstance(self.seed, np.random.Generator) else self.seed
        children = np.random.SeedSequence(entropy).spawn(self.generations)
        seeds = []
        for k, child in enumerate(children):
            init, shuffle = (int(s) for s in child.generate_state(2))
            seeds.append({"init": None if k == 0 else init, "shuffle": shuffle})
        return seeds

    def train(self, student, X, y, epochs: int = 20, batch_size: int = 32, optimizer=None,
              validation_data=None, callbacks=(), verbose: int = 1) -> SelfDistillationResult:
        """Train all generations and return them.

        Parameters
        ----------
        student : MLP
            Generation 0, trained in place on the labels. Its configuration (layer sizes,
            activation, dtype) is the architecture of every later generation.
        X : array_like of shape (N, D)
            Training inputs.
        y : array_like of shape (N,) of int or (N, C) of probability rows
            Labels (required: generation 0 learns from them).
        epochs : int >= 1, default 20
            Epochs per generation.
        batch_size : int in [1, N], default 32
        optimizer : SGD, Adam, or a callable returning a new optimizer, optional
            An optimizer **instance is a template**: only its hyperparameters are used, and each
            generation trains with a new ``type(optimizer)(**optimizer.get_config())`` (the
            template itself is never stepped). A callable (e.g. ``lambda: Adam(1e-3)``, or the
            class ``SGD``) is called once per generation and must return a new minikd
            optimizer each time. Default: ``SGD(learning_rate=0.01, momentum=0.9)``.
        validation_data : tuple (X_val, y_val), optional
            Evaluated after every epoch of every generation (``teacher_agreement`` is then the
            agreement with the previous generation).
        callbacks : sequence
            Passed to every generation's ``train``: ``on_train_begin``/``on_train_end`` run once
            per generation, and a callback returning True stops only the current generation.
        verbose : {0, 1, 2}, default 1
            As for the trainers; >= 1 also prints a header per generation.

        Returns
        -------
        SelfDistillationResult
            ``.models`` (generation 0 first, ``models[0] is student``), ``.histories``,
            ``.trainers``, ``.seeds``.
        """
        _check_student(student)
        if y is None:
            raise ValueError("y is required: generation 0 of self-distillation is trained on the labels, got None")
        verbose = check_int(verbose, "verbose", minimum=0, maximum=2)
        make_optimizer = _optimizer_factory(optimizer)
        config = student.get_config()
        seeds = self.generation_seeds()
        result = SelfDistillationResult()
        used = []  # the optimizers handed out so far: a factory must not return one twice
        for k, seed in enumerate(seeds):
            opt = make_optimizer()
            if not callable(getattr(opt, "_step", None)) or isinstance(opt, type):
                raise TypeError(f"optimizer factory must return a minikd optimizer (SGD, Adam), got {describe(opt)}")
            if any(opt is u for u in used):
                raise ValueError("optimizer factory must return a new optimizer for every generation, "
                                 "got the same object twice (an optimizer carries state)")
            used.append(opt)
            if k == 0:
                model = student
                trainer = SupervisedTrainer(seed=seed["shuffle"], **self._trainer_kwargs)
            else:
                model = MLP.from_config(config, seed=seed["init"])
                teacher = result.models[k - 1].copy()  # frozen: nothing ever trains this copy
                self.strategy._reset_params()  # a fresh student gets a fresh HintLoss regressor too
                trainer = KnowledgeDistillationTrainer(teacher, self.strategy, seed=seed["shuffle"],
                                                       cache_teacher_logits=True, **self._trainer_kwargs)
            if verbose:
                source = "the labels" if k == 0 else f"generation {k - 1} ({type(self.strategy).__name__})"
                print(f"generation {k} ({k + 1}/{self.generations}): {model!r} from {source}", flush=True)
            history: History = trainer.train(model, X, y, epochs=epochs, batch_size=batch_size, optimizer=opt,
                                             validation_data=validation_data, callbacks=callbacks,
                                             verbose=verbose)
            result.models.append(model)
            result.histories.append(history)
            result.trainers.append(trainer)
            result.seeds.append(seed)
        self.result = result
        return result

    def __repr__(self) -> str:
        return (f"SelfDistillationTrainer({self.strategy!r}, generations={self.generations}, "
                f"seed={self.seed})")


def _optimizer_factory(optimizer):
    """A zero-argument callable giving a new optimizer per generation (see ``train``)."""
    if optimizer is None:
        return lambda: SGD(learning_rate=0.01, momentum=0.9)
    if not isinstance(optimizer, type) and callable(getattr(optimizer, "_step", None)):
        cls, config = type(optimizer), optimizer.get_config()
        return lambda: cls(**config)
    if callable(optimizer):
        return optimizer
    raise TypeError(
        "optimizer must be a minikd optimizer (SGD, Adam) used as a template, or a callable "
        f"returning a new one, got {describe(optimizer)}"
    )
