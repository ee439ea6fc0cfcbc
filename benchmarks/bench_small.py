"""Target 1 -- small models (the tutorial workload): minikd vs the same loop in PyTorch.

Distil a [64, 32, 10] student from a [64, 256, 256, 10] teacher on the digits training split
(1,203 samples; ``train_test_split(test_size=0.33, seed=0)`` as in ``python -m minikd``), batch
32, 60 epochs, cached teacher logits, ``DistillationLoss(temperature=4, alpha=0.1)`` with labels,
SGD(lr=0.05, momentum=0.9), in float64 and float32. Target: minikd >= 4x faster.

Both sides time the whole training call from the same starting weights: the teacher's forward
pass over the training set (cached once), 60 epochs of shuffled minibatches, and the per-epoch
sample-weighted training loss. The PyTorch loop is the idiomatic one: ``torch.randperm`` +
tensor indexing (faster than a ``DataLoader`` on in-memory tensors), ``F.kl_div(...,
reduction="batchmean")``, ``F.cross_entropy``, ``torch.optim.SGD``, ``loss.item()`` per batch.
minikd additionally computes a gradient norm per step (divergence detection) and a History.

Run:  python benchmarks/bench_small.py [--repeats 7] [--threads N]
"""

from __future__ import annotations

import numpy as np
from _common import (
    import_torch,
    median,
    parser,
    print_machine,
    set_threads,
    table,
    timed,
    torch_mlp,
)

from minikd import MLP, SGD, DistillationLoss, KnowledgeDistillationTrainer, SupervisedTrainer
from minikd.datasets import load_digits, train_test_split

T, ALPHA, LR, MOMENTUM = 4.0, 0.1, 0.05, 0.9
EPOCHS, BATCH = 60, 32


def digits_setup():
    X, y = load_digits()
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.33, seed=0)
    teacher = MLP([64, 256, 256, 10], seed=0)
    SupervisedTrainer(seed=0).train(teacher, X_train, y_train, epochs=10, batch_size=32,
                                    optimizer=SGD(0.05, momentum=0.9), verbose=0)
    return X_train, y_train, teacher


def minikd_run(X, y, teacher, student):
    trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=T, alpha=ALPHA), seed=0)
    history = trainer.train(student, X, y, epochs=EPOCHS, batch_size=BATCH,
                            optimizer=SGD(learning_rate=LR, momentum=MOMENTUM), verbose=0)
    return history.loss[-1]


def torch_run(torch, X, y, teacher_net, student_net, dtype):
    F = torch.nn.functional
    X_t = torch.from_numpy(X).to(dtype)
    y_t = torch.from_numpy(y)
    with torch.no_grad():  # the teacher's logits, cached once, like minikd's cache
        teacher_logits = teacher_net(torch.from_numpy(X)).to(dtype)
    optimizer = torch.optim.SGD(student_net.parameters(), lr=LR, momentum=MOMENTUM)
    generator = torch.Generator().manual_seed(0)
    n = X_t.shape[0]
    for _ in range(EPOCHS):
        perm = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, BATCH):
            idx = perm[start:start + BATCH]
            xb, yb, tb = X_t[idx], y_t[idx], teacher_logits[idx]
            logits = student_net(xb)
            soft = F.kl_div(F.log_softmax(logits / T, dim=1), F.softmax(tb / T, dim=1), reduction="batchmean")
            loss = ALPHA * F.cross_entropy(logits, yb) + (1 - ALPHA) * T * T * soft
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * xb.shape[0]
    return total / n


def check_same_loss(torch, X, y, teacher, dtype) -> float:
    """Both loops compute the same loss: one batch, same weights; returns the relative difference."""
    student = MLP([64, 32, 10], seed=1, dtype=dtype)
    strategy = DistillationLoss(temperature=T, alpha=ALPHA)
    ours = strategy.compute_loss(student.forward(X[:BATCH]), teacher.forward(X[:BATCH]).astype(dtype), y[:BATCH])
    F = torch.nn.functional
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    with torch.no_grad():
        logits = torch_mlp(torch, student, tdtype)(torch.from_numpy(X[:BATCH]).to(tdtype))
        tb = torch.from_numpy(teacher.forward(X[:BATCH])).to(tdtype)
        soft = F.kl_div(F.log_softmax(logits / T, dim=1), F.softmax(tb / T, dim=1), reduction="batchmean")
        theirs = float(ALPHA * F.cross_entropy(logits, torch.from_numpy(y[:BATCH])) + (1 - ALPHA) * T * T * soft)
    return abs(ours - theirs) / abs(theirs)


def main(argv=None):
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    torch = import_torch(args.no_torch)
    threads = set_threads(args.threads, torch)
    print_machine(torch, threads)
    X, y, teacher = digits_setup()
    n_steps = EPOCHS * -(-X.shape[0] // BATCH)
    print(f"digits: {X.shape[0]} training samples, student [64, 32, 10], batch {BATCH}, {EPOCHS} epochs "
          f"({n_steps} steps), {args.repeats} interleaved repeats\n")

    rows = []
    for dtype in (np.float64, np.float32):
        student0 = MLP([64, 32, 10], seed=1, dtype=dtype)
        ours, theirs, ours_cpu, theirs_cpu, ratios = [], [], [], [], []
        loss_ours = loss_theirs = None
        if torch is not None:
            tdtype = torch.float64 if dtype == np.float64 else torch.float32
            teacher_net = torch_mlp(torch, teacher, torch.float64)
            print(f"{np.dtype(dtype).name}: one-batch loss, minikd vs PyTorch, relative difference "
                  f"{check_same_loss(torch, X, y, teacher, dtype):.1e}")
        for _ in range(args.repeats + 1):  # the first round warms up both and is not counted
            wall, cpu, loss_ours = timed(minikd_run, X, y, teacher, student0.copy())
            ours.append(wall)
            ours_cpu.append(cpu)
            if torch is not None:
                net = torch_mlp(torch, student0, tdtype)
                wall_t, cpu_t, loss_theirs = timed(torch_run, torch, X, y, teacher_net, net, tdtype)
                theirs.append(wall_t)
                theirs_cpu.append(cpu_t)
                ratios.append(wall_t / wall)
        ours, ours_cpu, theirs, theirs_cpu, ratios = (v[1:] for v in (ours, ours_cpu, theirs, theirs_cpu, ratios))
        row = [np.dtype(dtype).name, f"{median(ours):.3f}", f"{1e6 * median(ours) / n_steps:.0f}",
               f"{median(ours_cpu):.3f}"]
        if torch is not None:
            row += [f"{median(theirs):.3f}", f"{1e6 * median(theirs) / n_steps:.0f}", f"{median(theirs_cpu):.3f}",
                    f"**{median(ratios):.1f}x**", f"{loss_ours:.4f} / {loss_theirs:.4f}"]
        rows.append(row)
    header = ["dtype", "minikd s", "µs/step", "minikd CPU s"]
    if torch is not None:
        header += ["PyTorch s", "µs/step", "PyTorch CPU s", "speed-up (median of pairs)",
                   "last-epoch loss minikd / PyTorch"]
    print()
    print(table(header, rows))
    print("\nTarget: minikd at least 4x faster (speed-up = PyTorch wall time / minikd wall time, same run).")


if __name__ == "__main__":
    main()
