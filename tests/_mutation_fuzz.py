"""Run a loader on hostile inputs in child processes, and a seeded mutation fuzzer built on that.

Used by ``tests/test_checkpoint_format.py`` and ``benchmarks/fuzz_checkpoint.py``; written to be pointed at
other loaders too (``load_checkpoint`` on real checkpoint files: ``as_path=True``).

- :func:`run_loader` calls a loader (a dotted name, ``"minikd._checkpoint_format:decode"``) on each input in a
  child process and returns one :class:`Outcome` per input: ``"ok"``, the exception's type name and message,
  or how the child died (``"signal SIGSEGV"``, ``"timeout"``). A child that dies is restarted after the input
  that killed it, so one crash does not hide the others. The child imports minikd from this checkout.
- :func:`mutate` applies 1-3 random mutations (bit flips, byte changes, insertions, deletions, truncation,
  splices of pickle opcodes with hostile arguments, copies of chunks of the input, rewritten lengths);
  :func:`fuzz` mutates the genuine input or, half of the time, the same pickle without its FRAME opcodes.
- :func:`fuzz` runs ``count`` seeded mutations of a genuine input through :func:`run_loader` and returns a
  :class:`FuzzReport`: outcome counts and every unexpected outcome (with the input that caused it).
"""

from __future__ import annotations

import json
import os
import pickletools
import random
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
DECODE = "minikd._checkpoint_format:decode"
FORMAT_ERROR = "minikd._checkpoint_format:CheckpointFormatError"
PLAIN_DATA_CHECK = "_mutation_fuzz:check_plain_data"

# The child: reads length-prefixed inputs, runs the loader on each from `start`, prints one JSON line per input
# (flushed, so the parent knows which input a crash happened on). SIGALRM's default action ends a hung child.
_CHILD = r"""
import importlib, json, os, signal, struct, sys, tempfile, time

def resolve(dotted):
    module, _, attr = dotted.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj

args = json.loads(sys.argv[1])
exec(args["setup"], globals())
loader = resolve(args["loader"])
expected = tuple(resolve(name) for name in args["expected"])
check = resolve(args["check"]) if args["check"] else None
with open(args["inputs"], "rb") as fh:
    blob = fh.read()
inputs, pos = [], 0
while pos < len(blob):
    (n,) = struct.unpack_from("<Q", blob, pos)
    inputs.append(blob[pos + 8:pos + 8 + n])
    pos += 8 + n
scratch = os.path.join(tempfile.mkdtemp(prefix="minikd-fuzz-"), "input.pkl")
for i in range(args["start"], len(inputs)):
    data = inputs[i]
    if args["as_path"]:
        with open(scratch, "wb") as fh:
            fh.write(data)
        data = scratch
    signal.alarm(args["seconds_per_input"])
    start = time.perf_counter()
    try:
        result = loader(data)
        problem = check(result) if check else None
        record = {"outcome": "ok"} if problem is None else {"outcome": "bad result", "message": problem}
        record["expected"] = problem is None
        del result
    except Exception as exc:
        record = {"outcome": type(exc).__name__, "message": str(exc)[:1000], "expected": isinstance(exc, expected)}
    record["seconds"] = time.perf_counter() - start
    signal.alarm(0)
    record["i"] = i
    print(json.dumps(record), flush=True)
"""


@dataclass
class Outcome:
    """What happened to one input: ``outcome`` is "ok", an exception type name, or how the child died."""

    outcome: str
    message: str = ""
    expected: bool = False  # "ok" with a result that passed the check, or an exception of an expected type
    seconds: float = 0.0
    crashed: bool = False  # the child died on this input (a signal, a timeout, an exit)


def _child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TESTS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _death(returncode: int) -> str:
    if returncode < 0:
        number = -returncode
        if number == signal.SIGALRM:
            return "timeout"
        try:
            return f"signal {signal.Signals(number).name}"
        except ValueError:
            return f"signal {number}"
    return f"exit status {returncode}"


def run_loader(inputs, loader: str = DECODE, *, expected=(FORMAT_ERROR,), check: str | None = PLAIN_DATA_CHECK,
               setup: str = "", as_path: bool = False, seconds_per_input: int = 30) -> list[Outcome]:
    """Call ``loader`` on each of ``inputs`` (bytes) in child processes; one :class:`Outcome` per input.

    Parameters
    ----------
    inputs : sequence of bytes
    loader : str
        ``"module:function"``, imported in the child (minikd comes from this checkout).
    expected : sequence of str
        Dotted names of the exception classes that count as the loader refusing an input properly.
    check : str or None
        Dotted name of a function ``result -> None or problem`` applied to each loaded result.
    setup : str
        Python code run in each child before the loads (e.g. registering a ``copyreg`` extension).
    as_path : bool
        Write each input to a file and pass its path (for loaders such as ``load_checkpoint``).
    seconds_per_input : int
        A load that takes longer ends the child (outcome "timeout").
    """
    inputs = list(inputs)
    with tempfile.TemporaryDirectory(prefix="minikd-fuzz-") as tmp:
        blob = Path(tmp) / "inputs.bin"
        blob.write_bytes(b"".join(struct.pack("<Q", len(data)) + bytes(data) for data in inputs))
        outcomes: list[Outcome] = []
        while len(outcomes) < len(inputs):
            outcomes += _run_child(blob, len(outcomes), len(inputs), loader, expected, check, setup, as_path,
                                   seconds_per_input)
    return outcomes


def _run_child(blob, start, total, loader, expected, check, setup, as_path, seconds_per_input) -> list[Outcome]:
    """Outcomes from ``start`` on until the child ends; if it died, the last outcome says how."""
    args = {"inputs": str(blob), "start": start, "loader": loader, "expected": list(expected), "check": check,
            "setup": setup, "as_path": as_path, "seconds_per_input": seconds_per_input}
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(args)], capture_output=True, text=True,
                          cwd=REPO, env=_child_env(), check=False)
    outcomes = []
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        outcomes.append(Outcome(record["outcome"], record.get("message", ""), record["expected"],
                                record["seconds"]))
    if start + len(outcomes) < total:
        stderr = proc.stderr.strip().splitlines()
        outcomes.append(Outcome(_death(proc.returncode), stderr[-1][:1000] if stderr else "", crashed=True))
    return outcomes


def check_plain_data(result) -> str | None:
    """None if ``result`` is a tree of fresh plain data and owned arrays of the container's dtypes, else why not."""
    from minikd._checkpoint_format import DTYPES

    native = {np.dtype(name).newbyteorder("=") for name in DTYPES}
    seen, todo = set(), [result]
    while todo:
        value = todo.pop()
        if value is None or type(value) in (bool, int, float, str, bytes) or (type(value) is tuple and not value):
            continue  # immutable; () is a singleton in CPython, so it is always "shared"
        if id(value) in seen:
            return f"an object appears twice in the result (aliasing): {type(value).__name__}"
        seen.add(id(value))
        if type(value) is np.ndarray:
            if value.dtype not in native or not value.dtype.isnative:
                return f"an array of dtype {value.dtype}"
            if not (value.flags.owndata and value.flags.writeable and value.flags.c_contiguous):
                return f"an array that does not own writable C-contiguous memory: {value.flags}"
        elif type(value) is dict:
            if any(type(k) is not str for k in value):
                return "a dict with a non-str key"
            todo.extend(value.values())
        elif type(value) in (list, tuple):
            todo.extend(value)
        else:
            return f"a value of type {type(value).__name__}"
    return None


# ---------------------------------------------------------------------------- mutations
# Opcodes with hostile or plausible arguments, spliced into the data: every forbidden opcode family, and
# allowed ones with lengths or indices that lie.
SNIPPETS = (
    b"cos\nsystem\n", b"\x8c\x02os\x8c\x06system\x93", b"\x93", b"R", b"b", b"i__main__\nX\n", b"o", b"\x81",
    b"\x92", b"\x82\x01", b"\x83\x01\x00", b"\x84\x01\x00\x00\x00", b"Pid\n", b"Q", b"\x96\x01" + bytes(7) + b"x",
    b"\x97", b"\x98", b"\x8f", b"\x90", b"\x91", b"0", b"1", b"2", b"I1\n", b"S'a'\n", b"V\n", b"l", b"d", b"g0\n",
    b"p0\n", b"\x80\x05", b"\x80\x02", b"(", b"t", b"e", b"u", b"a", b"s", b"\x94", b".", b"N", b"\x85", b"\x86",
    b"\x87", b")", b"]", b"}", b"\x88", b"\x89", b"h\x00", b"h\xff", b"j\xff\xff\xff\x7f", b"q\x00",
    b"r\xff\xff\xff\xff", b"C\xff", b"B\xff\xff\xff\x7f", b"\x8e" + b"\xff" * 8, b"\x8d" + b"\xff" * 8,
    b"X\xff\xff\xff\xff", b"\x95" + b"\xff" * 8, b"\x8a\x08" + b"\xff" * 8, b"\x8b\xff\xff\xff\x7f",
    b"\x8c\x13__minikd_ndarray__", b"\x8c\x03<f8", b"\x8c\x03>f8", b"\x8c\x03|O8", b"K\x00", b"J\xff\xff\xff\xff",
    b"G\x7f\xf8\x00\x00\x00\x00\x00\x01",
)
_INTERESTING_INTS = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)


def _flip_bit(data: bytearray, rng: random.Random, genuine: bytes) -> bytearray:
    if data:
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return data


def _set_byte(data, rng, genuine):
    if data:
        data[rng.randrange(len(data))] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
    return data


def _insert_bytes(data, rng, genuine):
    pos = rng.randrange(len(data) + 1)
    data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return data


def _delete_bytes(data, rng, genuine):
    if data:
        pos = rng.randrange(len(data))
        del data[pos:pos + rng.randint(1, 16)]
    return data


def _truncate(data, rng, genuine):
    return data[:rng.randrange(len(data) + 1)]


def _splice_snippet(data, rng, genuine):
    pos = rng.randrange(len(data) + 1)
    snippet = rng.choice(SNIPPETS)
    end = pos + (len(snippet) if rng.random() < 0.5 else 0)  # overwrite or insert
    data[pos:end] = snippet
    return data


def _copy_chunk(data, rng, genuine):
    start = rng.randrange(len(genuine))
    chunk = genuine[start:start + rng.randint(1, 64)]
    pos = rng.randrange(len(data) + 1)
    data[pos:pos] = chunk
    return data


def _rewrite_int(data, rng, genuine):
    if len(data) >= 4:
        pos = rng.randrange(len(data) - 3)
        data[pos:pos + 4] = struct.pack("<I", rng.choice(_INTERESTING_INTS))
    return data


MUTATIONS = (_flip_bit, _set_byte, _insert_bytes, _delete_bytes, _truncate, _splice_snippet, _copy_chunk,
             _rewrite_int)


def mutate(genuine: bytes, rng: random.Random) -> bytes:
    """``genuine`` with 1-3 random mutations from :data:`MUTATIONS` (``rng`` decides everything)."""
    data = bytearray(genuine)
    for _ in range(rng.randint(1, 3)):
        data = rng.choice(MUTATIONS)(data, rng, genuine)
    return bytes(data)


def without_frames(data: bytes) -> bytes:
    """The same pickle without its FRAME opcodes (they are optional); ``data`` itself if it does not parse."""
    try:
        frames = [pos for opcode, _, pos in pickletools.genops(data) if opcode.name == "FRAME"]
    except Exception:
        return data
    kept, start = [], 0
    for pos in frames:
        kept.append(data[start:pos])
        start = pos + 9  # the opcode and its 8-byte length
    return b"".join(kept) + data[start:]


@dataclass
class FuzzReport:
    """Outcome counts of a fuzz run, and each unexpected outcome as (index, Outcome, the input)."""

    counts: Counter
    unexpected: list = field(default_factory=list)
    seconds: float = 0.0


def fuzz(genuine: bytes, count: int, seed: int, loader: str = DECODE, *, expected=(FORMAT_ERROR,),
         check: str | None = PLAIN_DATA_CHECK, as_path: bool = False, workers: int = 1,
         setup: str = "") -> FuzzReport:
    """Run ``count`` seeded mutations of ``genuine`` through ``loader`` (see :func:`run_loader`).

    The same ``genuine``, ``count`` and ``seed`` give the same inputs. ``workers`` child processes run
    side by side, each on a contiguous share of the inputs.
    """
    rng = random.Random(seed)
    bases = [genuine, without_frames(genuine)]  # FRAME lengths stop most insertions and deletions early
    inputs = [mutate(rng.choice(bases), rng) for _ in range(count)]
    start = time.perf_counter()
    shares = [inputs[i * count // workers:(i + 1) * count // workers] for i in range(workers)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda share: run_loader(share, loader, expected=expected, check=check,
                                                         setup=setup, as_path=as_path), shares))
    outcomes = [outcome for share in results for outcome in share]
    report = FuzzReport(Counter(o.outcome for o in outcomes), seconds=time.perf_counter() - start)
    report.unexpected = [(i, o, inputs[i]) for i, o in enumerate(outcomes) if not o.expected]
    return report


def realistic_payload() -> dict:
    """A small tree shaped like a minikd checkpoint: nested dicts of arrays, ints (a 128-bit one), lists of floats."""
    rng = np.random.default_rng(0)
    params = {"W1": rng.standard_normal((8, 4)).astype(np.float32), "b1": np.zeros(4, np.float32),
              "W2": rng.standard_normal((4, 3)), "b2": np.zeros(3)}
    return {
        "format": "minikd-checkpoint", "format_version": 1, "minikd_version": "0.2.0", "epoch": 7,
        "metrics": {"loss": 0.4172, "val_loss": None, "val_accuracy": 0.9},
        "student": {"config": {"layer_sizes": [8, 4, 3], "activation": "relu", "dtype": "float64"},
                    "params": params},
        "optimizer": {"config": {"name": "SGD", "learning_rate": 0.05, "momentum": 0.9, "nesterov": False},
                      "state": {"step": 42, "buffers": {"momentum": {k: v * 0.5 for k, v in params.items()}}}},
        "rng_state": {"bit_generator": "PCG64", "state": {"state": 2**127 + 12345, "inc": 2**100 + 1},
                      "has_uint32": 0, "uinteger": 0},
        "history": {"loss": [1.2, 0.8, 0.6, float("nan")], "val_loss": [], "best_epoch": 3},
        "trainer": {"seed": 0, "strategy": ["DistillationLoss", {"temperature": 4.0, "alpha": 0.1}]},
        "early_stopping": None, "tags": (b"\x00\x01", "\u00e9t\u00e9"), "empty": [(), [], {}, ()],
    }
