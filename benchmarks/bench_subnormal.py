"""Subnormal momentum buffers: the target-1 loop with and without the optimizer's flush.

A student with dead ReLU units gets exactly-zero gradients for their weights; their momentum
buffer entries then decay as ``v <- 0.9 v`` into the subnormal numbers and, without a flush,
settle on the smallest one for ever (``0.9 * 1.4e-45`` rounds back to ``1.4e-45`` in float32).
x86 CPUs compute on subnormal numbers in microcode. ``minikd.optim`` sets such entries to 0
every ``subnormal_flush_interval`` (64) steps; this script measures the loop with that flush
and with it switched off (interval 10^12), interleaved, in float32 and float64: the time of
``train``, the time spent in ``optimizer._step``, and the subnormal buffer entries left at the
end (digits, student [64, 32, 10], teacher [64, 256, 256, 10] trained 10 epochs, batch 32,
60 epochs, DistillationLoss(T=4, alpha=0.1), SGD(0.05, momentum 0.9)).

With torch installed, the same float32 loop in PyTorch (``bench_small.torch_run``) is also timed
with ``torch.set_flush_denormal(False)`` (PyTorch's default) and ``True``, interleaved: PyTorch's
momentum buffers decay the same way.

Run:  python benchmarks/bench_subnormal.py [--repeats 7] [--threads 1] [--no-torch]
"""

from __future__ import annotations

import time

import numpy as np
from _common import accumulate_time, import_torch, median, parser, print_machine, set_threads, table, torch_mlp
from bench_small import digits_setup, torch_run

from minikd import MLP, SGD, DistillationLoss, KnowledgeDistillationTrainer

NEVER = 10**12


def run(X, y, teacher, dtype, interval):
    """One 60-epoch run: (train seconds, optimizer seconds, subnormal buffer entries at the end)."""
    optimizer = SGD(learning_rate=0.05, momentum=0.9)
    optimizer.subnormal_flush_interval = interval
    spent = accumulate_time(optimizer, "_step")  # seconds inside optimizer._step
    trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=4.0, alpha=0.1), seed=0)
    t0 = time.perf_counter()
    trainer.train(MLP([64, 32, 10], seed=1, dtype=dtype), X, y, epochs=60, batch_size=32, optimizer=optimizer,
                  verbose=0)
    wall = time.perf_counter() - t0
    tiny = np.finfo(dtype).tiny
    subnormal = sum(int(((v != 0) & (np.abs(v) < tiny)).sum()) for v in optimizer._buffers["momentum"].values())
    return wall, spent[0], subnormal


def main(argv=None):
    args = parser(__doc__.splitlines()[0], repeats=7).parse_args(argv)
    torch = import_torch(args.no_torch)
    threads = set_threads(args.threads, torch)
    print_machine(torch, threads)
    X, y, teacher = digits_setup()
    configs = [(dtype, interval) for dtype in (np.float32, np.float64) for interval in (NEVER, 64)]
    results = {c: [] for c in configs}
    for round_ in range(args.repeats + 1):  # round 0 warms up and is not counted
        for c in configs:
            r = run(X, y, teacher, *c)
            if round_:
                results[c].append(r)
    rows = []
    for dtype, interval in configs:
        runs, base = results[(dtype, interval)], results[(dtype, NEVER)]
        rows.append([
            np.dtype(dtype).name, "never" if interval == NEVER else f"every {interval} steps",
            f"{median([r[0] for r in runs]):.3f}", f"{1e6 * median([r[1] for r in runs]) / 2280:.1f}",
            str(runs[-1][2]),
            f"{median([b[0] / r[0] for b, r in zip(base, runs, strict=True)]):.2f}x",
            f"{median([b[1] / r[1] for b, r in zip(base, runs, strict=True)]):.2f}x",
        ])
    print(f"digits, student [64, 32, 10], 60 epochs (2,280 steps); {args.repeats} interleaved rounds\n")
    print(table(["dtype", "flush", "train s", "update µs/step", "subnormal entries at the end",
                 "train speed-up", "update speed-up"], rows))
    if torch is not None:
        torch_flush(torch, X, y, teacher, args.repeats)


def torch_flush(torch, X, y, teacher, repeats):
    """PyTorch's float32 loop with set_flush_denormal False (its default) and True, interleaved."""
    teacher_net = torch_mlp(torch, teacher, torch.float64)
    student0 = MLP([64, 32, 10], seed=1, dtype=np.float32)
    times = {False: [], True: []}
    try:
        for round_ in range(repeats + 1):
            for flush in (False, True):
                torch.set_flush_denormal(flush)
                t0 = time.perf_counter()
                torch_run(torch, X, y, teacher_net, torch_mlp(torch, student0, torch.float32), torch.float32)
                if round_:
                    times[flush].append(time.perf_counter() - t0)
    finally:
        torch.set_flush_denormal(False)
    ratio = median([a / b for a, b in zip(times[False], times[True], strict=True)])
    print(f"\nPyTorch, float32, same loop: {median(times[False]):.3f} s with set_flush_denormal(False) (the "
          f"default), {median(times[True]):.3f} s with True: {ratio:.2f}x")


if __name__ == "__main__":
    main()
