"""minikd: knowledge distillation you can read, step through in a debugger, and verify.

A pure-NumPy reference implementation of the teacher -> student training loop of
Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network".
"""

__version__ = "0.1.0"

from . import functional, gradcheck  # noqa: E402

__all__ = ["__version__", "functional", "gradcheck"]
