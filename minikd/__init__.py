"""minikd: knowledge distillation you can read, step through in a debugger, and verify.

A pure-NumPy reference implementation of the teacher -> student training loop of
Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network".
Every name re-exported here is public API (the contract is in the project's design notes).
"""

from . import datasets, functional, gradcheck, interop, layers, schedules  # noqa: E402
from ._version import __version__  # noqa: E402
from .checkpoint import (  # noqa: E402
    Checkpoint,
    CheckpointError,
    CheckpointManager,
    DistillationCheckpointConfig,
    load_checkpoint,
)
from .functional import cross_entropy, kl_divergence, log_softmax, one_hot, softmax  # noqa: E402
from .gradcheck import check_gradients, numerical_gradient, rel_error  # noqa: E402
from .mlp import MLP  # noqa: E402
from .optim import SGD, Adam, Optimizer  # noqa: E402
from .strategies import (  # noqa: E402
    CompositeStrategy,
    CrossEntropyLoss,
    DecoupledKDLoss,
    DistillationLoss,
    DistillationStrategy,
    LogitMatchingLoss,
    strategy_from_config,
)
from .teachers import EnsembleTeacher, TeacherModel, TeacherModelWrapper  # noqa: E402
from .trainer import (  # noqa: E402
    EarlyStopping,
    History,
    KnowledgeDistillationTrainer,
    KnowledgeDistillationTrainerBase,
    MutualLearningTrainer,
    SelfDistillationResult,
    SelfDistillationTrainer,
    StepRecord,
    SupervisedTrainer,
    TrainingDivergedError,
)

__all__ = [
    "__version__",
    # modules
    "datasets", "functional", "gradcheck", "interop", "layers", "schedules",
    # math
    "softmax", "log_softmax", "cross_entropy", "kl_divergence", "one_hot",
    "check_gradients", "numerical_gradient", "rel_error",
    # models and optimisers
    "MLP", "SGD", "Adam", "Optimizer",
    # strategies
    "DistillationStrategy", "DistillationLoss", "LogitMatchingLoss", "DecoupledKDLoss",
    "CompositeStrategy", "CrossEntropyLoss", "strategy_from_config",
    # teachers and trainers
    "TeacherModel", "TeacherModelWrapper", "EnsembleTeacher",
    "KnowledgeDistillationTrainerBase", "KnowledgeDistillationTrainer", "SupervisedTrainer",
    "History", "StepRecord", "EarlyStopping", "TrainingDivergedError",
    "SelfDistillationTrainer", "SelfDistillationResult", "MutualLearningTrainer",
    # checkpoints
    "DistillationCheckpointConfig", "CheckpointManager", "Checkpoint", "CheckpointError", "load_checkpoint",
]
