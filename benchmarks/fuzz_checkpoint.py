"""Mutation fuzzing of a checkpoint loader: N seeded mutations of a genuine file, outcome counts printed.

Uses the engine of ``tests/_mutation_fuzz.py``: each mutated input is loaded in a child process (so a crash is
counted, not fatal); an outcome is *expected* if the loader returned plain data that passes the check or
raised one of the ``--expected`` exception classes. Exits with status 1 if any outcome was unexpected.

    python benchmarks/fuzz_checkpoint.py --n 100000 --seed 0
    python benchmarks/fuzz_checkpoint.py --file run/distillation_epoch0010.pkl --as-path \\
        --loader minikd.checkpoint:load_checkpoint --expected minikd.checkpoint:CheckpointError --no-check

Without ``--file`` the genuine input is ``encode(realistic_payload())``, a small checkpoint-shaped tree.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))  # this checkout's minikd, also in the child processes (see _mutation_fuzz)

from _mutation_fuzz import DECODE, FORMAT_ERROR, PLAIN_DATA_CHECK, fuzz, realistic_payload


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000, help="number of mutated inputs (default 100000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--loader", default=DECODE, help=f"module:function to fuzz (default {DECODE})")
    p.add_argument("--file", type=Path, default=None, help="genuine input to mutate (default: a built payload)")
    p.add_argument("--as-path", action="store_true", help="pass the loader a file path instead of bytes")
    p.add_argument("--expected", action="append", default=None,
                   help=f"exception class that counts as a proper refusal (repeatable; default {FORMAT_ERROR})")
    p.add_argument("--no-check", action="store_true",
                   help="do not re-walk loaded results as plain data (for loaders that return objects)")
    p.add_argument("--workers", type=int, default=2, help="child processes side by side (default 2)")
    p.add_argument("--show", type=int, default=10, help="unexpected outcomes to print (default 10)")
    args = p.parse_args(argv)

    if args.file is not None:
        genuine = args.file.read_bytes()
    else:
        from minikd._checkpoint_format import encode

        genuine = encode(realistic_payload())
    report = fuzz(genuine, args.n, args.seed, args.loader, expected=tuple(args.expected or (FORMAT_ERROR,)),
                  check=None if args.no_check else PLAIN_DATA_CHECK, as_path=args.as_path, workers=args.workers)

    print(f"loader {args.loader}, genuine input {args.file or 'encode(realistic_payload())'} "
          f"({len(genuine)} bytes), {args.n} mutations, seed {args.seed}: {report.seconds:.1f} s")
    for outcome, count in report.counts.most_common():
        print(f"  {count:8d}  {outcome}")
    print(f"unexpected outcomes: {len(report.unexpected)}")
    for i, outcome, data in report.unexpected[:args.show]:
        print(f"  input {i}: {outcome.outcome}: {outcome.message[:300]}  (first bytes {data[:60]!r})")
    return 1 if report.unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
