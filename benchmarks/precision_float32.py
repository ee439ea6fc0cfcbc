"""float32 loss precision: minikd against PyTorch float32, both against float64 truth.

The same 300 seeded random cases as ``tests/test_float32_accuracy.py`` (float32 logits of shape up
to 64 x 100, scale 0.1-20, T in [0.5, 20], a teacher at 1, 0.1 or 0.01 times the scale from the
student, labels none / int / probability rows, alpha in [0, 1]). Truth: PyTorch float64 on the same
float32 inputs. Prints the max and median relative error of each loss. Needs PyTorch.

Run:  PYTHONPATH=<tree> python benchmarks/precision_float32.py   (e.g. a checkout of main, then this branch)
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from test_float32_accuracy import OURS, random_cases, rel_error, torch_losses  # noqa: E402

import minikd  # noqa: E402


def main():
    torch.set_num_threads(1)
    theirs_all = torch_losses(torch)
    print(f"minikd from {os.path.dirname(minikd.__file__)}")
    print(f"{'loss':<18} {'minikd max':>11} {'median':>9} {'PyTorch max':>12} {'median':>9}  (cases)")
    for name, ours_fn in OURS.items():
        theirs = theirs_all[name]
        ours, pytorch = [], []
        for z, v, y, T, alpha in random_cases(labels_required=name in {"DecoupledKDLoss", "cross_entropy"}):
            y64 = None if y is None else torch.tensor(y.astype(np.float64) if y.ndim == 2 else y)
            want = theirs(torch.tensor(z, dtype=torch.float64), torch.tensor(v, dtype=torch.float64), y64,
                          T, alpha).item()
            their32 = theirs(torch.tensor(z), torch.tensor(v), None if y is None else torch.tensor(y),
                             T, alpha).item()
            if not np.isfinite(their32):
                continue
            ours.append(rel_error(ours_fn(z, v, y, T, alpha), want))
            pytorch.append(rel_error(their32, want))
        ours, pytorch = np.array(ours), np.array(pytorch)
        print(f"{name:<18} {ours.max():>11.3g} {np.median(ours):>9.3g} {pytorch.max():>12.3g} "
              f"{np.median(pytorch):>9.3g}  ({len(ours)})")


if __name__ == "__main__":
    main()
