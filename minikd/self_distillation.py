"""Born-again self-distillation; the code lives in :mod:`minikd.trainer.self_distillation`.

Kept so that ``from minikd.self_distillation import SelfDistillationTrainer`` goes on working.
"""

from .trainer.self_distillation import SelfDistillationResult, SelfDistillationTrainer

__all__ = ["SelfDistillationTrainer", "SelfDistillationResult"]
