"""Target 2 -- Hinton-size models (BLAS-bound): one epoch, minikd vs PyTorch, and GFLOP/s.

One epoch of distilling a 784-1200-1200-10 float32 student (the size of Hinton et al.'s MNIST
nets) at batch 128 on 8,192 synthetic samples, DistillationLoss(T=4, alpha=0.1) with labels,
SGD(lr=0.01, momentum=0.9), cached logits of a cheap linear teacher (so the epoch is the
student's work). Targets: minikd no slower than PyTorch at the same thread count, and >= 50 %
of the machine's single-precision matmul throughput measured in the same run.

Reported per configuration (medians of interleaved runs):

- epoch wall time of minikd and PyTorch, and their ratio;
- achieved GFLOP/s = the epoch's matmul FLOPs / epoch time. Per sample: forward
  2(784*1200 + 1200*1200 + 1200*10), backward the same for dW plus 2(1200*1200 + 1200*10) for
  the input gradients of layers 2 and 3 (nobody needs the gradient of the data), 12.47 MFLOP;
- "matmuls only": the same 8 matmuls per batch in bare NumPy, no other work (the ceiling for
  these shapes);
- the machine ceiling: a 1024 x 1024 x 1024 float32 NumPy matmul, measured between the runs.

Run:  python benchmarks/bench_hinton.py [--repeats 7] [--threads N]
"""

from __future__ import annotations

import numpy as np
from _common import import_torch, median, parser, print_machine, set_threads, sgemm_gflops, table, timed, torch_mlp

from minikd import MLP, SGD, DistillationLoss, KnowledgeDistillationTrainer

SIZES = [784, 1200, 1200, 10]
N, BATCH, T, ALPHA, LR, MOMENTUM = 8192, 128, 4.0, 0.1, 0.01, 0.9


def flops_per_sample(sizes=SIZES) -> float:
    forward = sum(2 * a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    input_grads = sum(2 * a * b for a, b in zip(sizes[1:-1], sizes[2:], strict=True))  # layers 2..L
    return 2 * forward + input_grads  # forward, dW (same FLOPs as forward), dX of layers 2..L


def minikd_epoch(X, y, teacher, student):
    trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=T, alpha=ALPHA), seed=0)
    history = trainer.train(student, X, y, epochs=1, batch_size=BATCH,
                            optimizer=SGD(learning_rate=LR, momentum=MOMENTUM), verbose=0)
    return history.loss[-1]


def torch_epoch(torch, X, y, teacher_net, student_net):
    F = torch.nn.functional
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    with torch.no_grad():
        teacher_logits = teacher_net(X_t)
    optimizer = torch.optim.SGD(student_net.parameters(), lr=LR, momentum=MOMENTUM)
    perm = torch.randperm(X_t.shape[0], generator=torch.Generator().manual_seed(0))
    total = 0.0
    for start in range(0, X_t.shape[0], BATCH):
        idx = perm[start:start + BATCH]
        xb, yb, tb = X_t[idx], y_t[idx], teacher_logits[idx]
        logits = student_net(xb)
        soft = F.kl_div(F.log_softmax(logits / T, dim=1), F.softmax(tb / T, dim=1), reduction="batchmean")
        loss = ALPHA * F.cross_entropy(logits, yb) + (1 - ALPHA) * T * T * soft
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * xb.shape[0]
    return total / X_t.shape[0]


def matmuls_only(X, params):
    """The epoch's 8 matmuls per batch in bare NumPy (forward 3, dW 3, dX 2), nothing else."""
    W1, W2, W3 = params["W1"], params["W2"], params["W3"]
    for start in range(0, X.shape[0], BATCH):
        x = X[start:start + BATCH]
        h1 = x @ W1
        h2 = h1 @ W2
        out = h2 @ W3
        d2 = out @ W3.T
        d1 = d2 @ W2.T
        x.T @ d1, h1.T @ d2, h2.T @ out  # noqa: B018 (dW1, dW2, dW3)


def torch_matmuls_only(torch, X, params):
    """The same 8 matmuls per batch in PyTorch (its BLAS), nothing else."""
    X = torch.from_numpy(X)
    W1, W2, W3 = (torch.from_numpy(params[k]) for k in ("W1", "W2", "W3"))
    for start in range(0, X.shape[0], BATCH):
        x = X[start:start + BATCH]
        h1 = x @ W1
        h2 = h1 @ W2
        out = h2 @ W3
        d2 = out @ W3.T
        d1 = d2 @ W2.T
        x.T @ d1, h1.T @ d2, h2.T @ out  # noqa: B018 (dW1, dW2, dW3)


def main(argv=None):
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    torch = import_torch(args.no_torch)
    threads = set_threads(args.threads, torch)
    print_machine(torch, threads)
    rng = np.random.default_rng(0)
    X = rng.random((N, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], N)
    teacher = MLP([SIZES[0], SIZES[-1]], seed=0, dtype=np.float32)
    student0 = MLP(SIZES, seed=1, dtype=np.float32)
    gflop = N * flops_per_sample() / 1e9
    print(f"student {SIZES} float32, {N} samples, batch {BATCH}: {gflop:.1f} GFLOP of matmuls per epoch; "
          f"{args.repeats} interleaved repeats\n")

    ours, theirs, bare, bare_torch, ceiling, ratios, ours_cpu, theirs_cpu = [], [], [], [], [], [], [], []
    teacher_net = torch_mlp(torch, teacher, torch.float32) if torch is not None else None
    for _ in range(args.repeats + 1):  # round 0 warms up and is not counted
        wall, cpu, _ = timed(minikd_epoch, X, y, teacher, student0.copy())
        ours.append(wall)
        ours_cpu.append(cpu)
        if torch is not None:
            wall_t, cpu_t, _ = timed(torch_epoch, torch, X, y, teacher_net, torch_mlp(torch, student0, torch.float32))
            theirs.append(wall_t)
            theirs_cpu.append(cpu_t)
            ratios.append(wall_t / wall)
        bare.append(timed(matmuls_only, X, student0.params)[0])
        if torch is not None:
            bare_torch.append(timed(torch_matmuls_only, torch, X, student0.params)[0])
        ceiling.append(sgemm_gflops(1024, repeats=5))
    ours, theirs, bare, bare_torch, ceiling, ratios, ours_cpu, theirs_cpu = (
        v[1:] for v in (ours, theirs, bare, bare_torch, ceiling, ratios, ours_cpu, theirs_cpu))

    top = median(ceiling)
    rows = [["minikd", f"{median(ours):.3f}", f"{median(ours_cpu):.3f}", f"{gflop / median(ours):.0f}",
             f"**{100 * gflop / median(ours) / top:.0f} %**"]]
    if torch is not None:
        rows.append(["PyTorch", f"{median(theirs):.3f}", f"{median(theirs_cpu):.3f}",
                     f"{gflop / median(theirs):.0f}", f"{100 * gflop / median(theirs) / top:.0f} %"])
    rows.append(["NumPy matmuls only", f"{median(bare):.3f}", "", f"{gflop / median(bare):.0f}",
                 f"{100 * gflop / median(bare) / top:.0f} %"])
    if torch is not None:
        rows.append(["PyTorch matmuls only", f"{median(bare_torch):.3f}", "", f"{gflop / median(bare_torch):.0f}",
                     f"{100 * gflop / median(bare_torch) / top:.0f} %"])
    rows.append(["ceiling: 1024³ sgemm (NumPy)", "", "", f"{top:.0f}", "100 %"])
    print(table(["", "epoch s", "CPU s", "GFLOP/s", "of ceiling"], rows))
    if torch is not None:
        print(f"\nPyTorch time / minikd time (median of pairs): **{median(ratios):.2f}x** "
              "(target: >= 1, i.e. minikd no slower)")
    print("Target: minikd >= 50 % of the ceiling.")


if __name__ == "__main__":
    main()
