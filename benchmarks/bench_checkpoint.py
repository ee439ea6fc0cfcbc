"""Save and load time of a Hinton-size checkpoint: format 2 (plain data, validated) against format 1.

The checkpoint is that of a 784-1200-1200-10 float32 student after one epoch with SGD momentum and
early stopping (so it holds the parameters, a momentum buffer and the best parameters: three copies
of 2.4 M floats, about 28 MB). Format 1 is minikd 0.1's: a pickle of the same dict in which the
arrays are pickled as NumPy objects, read back by 0.1's restricted unpickler (still in
``minikd.checkpoint.files._LegacyUnpickler``, used by ``convert_legacy_checkpoint``) and rebuilt into an
MLP. Format 2 is ``save_checkpoint``/``load_checkpoint`` as the trainer uses them: encoding, the
opcode scan, decoding, and the whole schema check.

Both write to the same directory with the same atomic write (temporary file, fsync, rename), and
take turns (1, 2, 1, 2, ...); reported are medians over ``--repeats`` rounds and the median of the
per-round ratios format 2 / format 1.

Run:  python benchmarks/bench_checkpoint.py [--repeats 11] [--dir DIR]
"""

from __future__ import annotations

import io
import pickle
import statistics
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import _common
import numpy as np

from minikd import MLP, SGD, DistillationCheckpointConfig, KnowledgeDistillationTrainer, LogitMatchingLoss
from minikd._checkpoint_format import decode
from minikd.checkpoint import load_checkpoint, save_checkpoint
from minikd.checkpoint.files import _atomic_write_bytes, _LegacyUnpickler


def hinton_state(directory: Path) -> dict:
    """The state a trainer writes after one epoch of a Hinton-size student (read back from its file)."""
    warnings.filterwarnings("ignore", "early stopping without validation_data")
    rng = np.random.default_rng(0)
    X = rng.random((512, 784), dtype=np.float32)
    teacher = MLP([784, 10], seed=0, dtype=np.float32)
    config = DistillationCheckpointConfig(directory / "run", save_every_epochs=1, best_metric="loss")
    trainer = KnowledgeDistillationTrainer(teacher, LogitMatchingLoss(), checkpoint_config=config, seed=0,
                                           use_early_stopping=True)
    trainer.train(MLP([784, 1200, 1200, 10], seed=0, dtype=np.float32), X, epochs=1, batch_size=128,
                  optimizer=SGD(0.01, momentum=0.9), verbose=0)
    raw = decode((directory / "run" / "distillation_epoch0001.pkl").read_bytes())
    return {k: v for k, v in raw.items() if k not in ("format", "format_version")}


def as_format1(state: dict) -> dict:
    """The same content in minikd 0.1's layout."""
    t = state["trainer"]
    return {"format": "minikd-checkpoint", "format_version": 1, "minikd_version": "0.1.0",
            "epoch": state["epoch"], "metrics": state["metrics"], "student": state["student"], "teacher": None,
            "optimizer": state["optimizer"], "rng_state": t["rng_state"], "early_stopping": t["early_stopping"],
            "history": t["history"], "trainer": t["config"]}


def save1(path: Path, state1: dict) -> None:
    _atomic_write_bytes(path, pickle.dumps(state1, protocol=4))


def load1(path: Path):
    raw = _LegacyUnpickler(io.BytesIO(path.read_bytes())).load()
    return MLP.from_config(raw["student"]["config"], params=raw["student"]["params"]), raw


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0], repeats=11)
    p.add_argument("--dir", type=Path, default=None, help="where to write (default: a temporary directory)")
    args = p.parse_args()
    _common.print_machine()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        tmp = Path(tmp)
        state = hinton_state(tmp)
        state1 = as_format1(state)
        f1, f2 = tmp / "format1.pkl", tmp / "format2.pkl"
        times = {"save1": [], "save2": [], "load1": [], "load2": []}
        for _ in range(args.repeats):
            for name, fn in (("save1", lambda: save1(f1, state1)), ("save2", lambda: save_checkpoint(f2, state)),
                             ("load1", lambda: load1(f1)), ("load2", lambda: load_checkpoint(f2))):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
        size1, size2 = f1.stat().st_size, f2.stat().st_size
        peaks = {}
        for name, fn in (("load1", lambda: load1(f1)), ("load2", lambda: load_checkpoint(f2))):
            tracemalloc.start()  # NumPy reports its array allocations to tracemalloc
            result = fn()
            peaks[name] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            del result
    rows = []
    for op in ("save", "load"):
        one, two = times[f"{op}1"], times[f"{op}2"]
        ratio = statistics.median(b / a for a, b in zip(one, two, strict=True))
        rows.append([op, f"{1e3 * statistics.median(one):.1f} ms", f"{1e3 * statistics.median(two):.1f} ms",
                     f"{ratio:.2f}x"])
    print(f"\nHinton-size checkpoint (784-1200-1200-10 float32, SGD momentum, best params): "
          f"format 1 {size1 / 1e6:.1f} MB, format 2 {size2 / 1e6:.1f} MB; {args.repeats} interleaved rounds")
    print(_common.table(["operation", "format 1 (0.1)", "format 2", "format 2 / format 1 (median of ratios)"], rows))
    print(f"peak memory of one load (tracemalloc): format 1 {peaks['load1'] / 1e6:.1f} MB, "
          f"format 2 {peaks['load2'] / 1e6:.1f} MB ({peaks['load2'] / size2:.1f}x the file)")


if __name__ == "__main__":
    main()
