"""load_checkpoint against crafted and corrupted files, each load in a child process.

The attacks on minikd 0.1's loader, rebuilt against real checkpoint files: a dtype state that made NumPy
read file bytes as pointers (SIGSEGV), a copyreg extension the C unpickler returns from its cache without
asking ``find_class``, memo references that made a small file expand to gigabytes, and a seeded mutation
fuzz of a genuine checkpoint. Every load runs in a child process (``tests/_mutation_fuzz.run_loader``), so
a crash or a hang fails the test instead of killing pytest; the child's address space is capped so that
an allocation bomb shows as a MemoryError, which fails the test too. The only acceptable outcomes are a
loaded :class:`~minikd.checkpoint.Checkpoint` or a ``CheckpointError``.
"""

import pickle
import struct

import pytest
from _mutation_fuzz import fuzz, run_loader

from minikd._checkpoint_format import decode, encode
from minikd.checkpoint import DistillationCheckpointConfig
from minikd.datasets import make_blobs
from minikd.mlp import MLP
from minikd.optim import SGD, Adam
from minikd.strategies import DistillationLoss
from minikd.trainer import KnowledgeDistillationTrainer, MutualLearningTrainer

LOAD = "minikd.checkpoint:load_checkpoint"
REFUSED = ("minikd.checkpoint:CheckpointError",)
# 2 GiB of address space for the child: enough for Python and NumPy, not for a memory bomb.
CAP_MEMORY = "import resource\nresource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"


@pytest.fixture(scope="module")
def genuine(tmp_path_factory):
    """The bytes of a real checkpoint: student, SGD momentum, early stopping with best params, validation."""
    directory = tmp_path_factory.mktemp("genuine")
    X, y = make_blobs(n_samples=60, n_features=4, n_classes=3, seed=0)
    config = DistillationCheckpointConfig(directory, save_every_epochs=1, keep_best_n=0, best_metric="loss")
    trainer = KnowledgeDistillationTrainer(MLP([4, 8, 3], seed=0), DistillationLoss(3.0, 0.5), seed=0,
                                           checkpoint_config=config, use_early_stopping=True)
    trainer.train(MLP([4, 6, 3], seed=1), X[:40], y[:40], epochs=2, batch_size=8, optimizer=SGD(0.05, momentum=0.9),
                  validation_data=(X[40:], y[40:]), verbose=0)
    return (directory / "distillation_epoch0002.pkl").read_bytes()


@pytest.fixture(scope="module")
def genuine_cohort(tmp_path_factory):
    """The bytes of a real cohort checkpoint (MutualLearningTrainer): two students, SGD and Adam, dropout."""
    directory = tmp_path_factory.mktemp("cohort")
    X, y = make_blobs(n_samples=60, n_features=4, n_classes=3, seed=0)
    config = DistillationCheckpointConfig(directory, save_every_epochs=1, keep_best_n=0, best_metric="loss")
    trainer = MutualLearningTrainer(DistillationLoss(1.0, 0.5), seed=0, checkpoint_config=config,
                                    use_early_stopping=True)
    trainer.train([MLP([4, 6, 3], seed=1, dropout=0.2), MLP([4, 5, 3], seed=2)], X[:40], y[:40], epochs=2,
                  batch_size=8, optimizer=[SGD(0.05, momentum=0.9), Adam(0.01)], validation_data=(X[40:], y[40:]),
                  verbose=0)
    return (directory / "distillation_epoch0002.pkl").read_bytes()


def _load(inputs, setup=""):
    outcomes = run_loader(inputs, LOAD, expected=REFUSED, check=None, as_path=True, setup=CAP_MEMORY + setup)
    for data, outcome in zip(inputs, outcomes, strict=True):
        assert not outcome.crashed, f"the loader died ({outcome.outcome}) on {data[:60]!r}: {outcome.message}"
    return outcomes


def _u(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


HEADER_V2 = b"\x80\x03}(" + _u("format") + _u("minikd-checkpoint") + _u("format_version") + b"K\x02" + _u("student")


def _checkpoint_with(value_opcodes: bytes) -> bytes:
    """A pickle that declares itself a format-2 minikd checkpoint, with ``value_opcodes`` as its student."""
    return HEADER_V2 + value_opcodes + b"u."


def test_the_genuine_file_loads_in_the_child(genuine):
    (outcome,) = _load([genuine])
    assert outcome.outcome == "ok", outcome


def test_the_genuine_cohort_file_loads_in_the_child(genuine_cohort):
    (outcome,) = _load([genuine_cohort])
    assert outcome.outcome == "ok", outcome


def test_the_numpy_dtype_state_recipe_is_refused_before_numpy_sees_it():
    """minikd 0.1's segfault: dtype('O8') given flags 0 by BUILD, then an object array made of file bytes."""
    dtype = (b"cnumpy\ndtype\n" + _u("O8") + b"\x89\x88\x87R"
             + b"(K\x03" + _u("|") + b"NNNK\x08K\x01K\x00tb")
    array = b"cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R"
    state = b"(K\x01K\x01\x85" + dtype + b"\x89C\x08" + b"\x41" * 8 + b"tb"
    as_v2 = _checkpoint_with(array + state)
    as_v1 = as_v2.replace(b"format_versionK\x02", b"format_versionK\x01")  # the 0.1 header
    bare = b"\x80\x03" + array + state + b"."
    outcomes = _load([as_v2, as_v1, bare])
    assert all(o.outcome == "CheckpointError" for o in outcomes), outcomes
    assert "opcode GLOBAL" in outcomes[0].message and "Nothing in the data was run" in outcomes[0].message
    assert "format 1" in outcomes[1].message and "convert_legacy_checkpoint" in outcomes[1].message


def test_a_cached_copyreg_extension_is_refused(tmp_path):
    marker = tmp_path / "ran"
    # The child registers os.system as extension 0xF0 and unpickles it once, so the C unpickler's
    # extension cache holds it: a later EXT1 0xF0 would then skip find_class entirely.
    setup = ("import copyreg, os, pickle\ncopyreg.add_extension('os', 'system', 0xF0)\n"
             "assert pickle.loads(b'\\x80\\x02\\x82\\xf0.') is os.system\n")
    call = b"\x82\xf0" + _u(f"touch {marker}") + b"\x85R"  # EXT1 0xF0, ("touch ...",), REDUCE
    outcomes = _load([_checkpoint_with(call), _checkpoint_with(b"\x82\xf0")], setup=setup)
    assert [o.outcome for o in outcomes] == ["CheckpointError"] * 2, outcomes
    assert all("opcode EXT1" in o.message for o in outcomes), outcomes
    assert not marker.exists()


def _plain_tree(genuine: bytes):
    """The genuine checkpoint as the plain tree inside its pickle (arrays as their records), to edit and re-pickle."""
    return pickle.loads(genuine)  # our own file: safe to unpickle, and it holds only plain data


def _memo_bomb_checkpoint(genuine: bytes, levels: int) -> bytes:
    """The genuine checkpoint with its history's loss list replaced by a tree of memo-shared lists:
    a few hundred bytes that would expand to 2**levels entries."""
    raw = _plain_tree(genuine)
    tree = [0.5]
    for _ in range(levels):
        tree = [tree, tree]
    raw["trainer"]["history"]["loss"] = tree
    return pickle.dumps(raw, protocol=4)  # the bomb is in the plain data: pickle shares the lists itself


def test_memo_shared_containers_cannot_make_a_small_file_huge(genuine):
    bombs = [_memo_bomb_checkpoint(genuine, 40), _memo_bomb_checkpoint(genuine, 25)]
    assert all(len(b) < len(genuine) + 1000 for b in bombs)
    outcomes = _load(bombs)
    assert [o.outcome for o in outcomes] == ["CheckpointError"] * 2, outcomes
    assert all("memo-shared" in o.message and o.seconds < 5 for o in outcomes), outcomes


def test_shared_array_bytes_cannot_amplify(genuine):
    raw = _plain_tree(genuine)
    blob = b"\x00" * (8 * 100_000)
    record = ("__minikd_ndarray__", "<f8", (100_000,), blob)
    raw["trainer"]["history"]["epoch_time"] = [record] * 200  # one bytes object, 200 arrays of 800 kB
    outcomes = _load([pickle.dumps(raw, protocol=4)])
    assert outcomes[0].outcome == "CheckpointError" and "max_array_bytes" in outcomes[0].message, outcomes


def test_a_huge_architecture_with_small_arrays_allocates_nothing(genuine):
    raw = decode(genuine)
    raw["student"]["config"]["layer_sizes"] = [2**31, 2**31, 3]  # 2**62 weights: would be 32 EiB
    (outcome,) = _load([encode(raw)])
    assert outcome.outcome == "CheckpointError" and "must have shape (2147483648, 2147483648)" in outcome.message


def _assert_fuzz_is_refused_or_loads(data: bytes, count: int, seed: int) -> None:
    """``count`` seeded mutations of ``data``: each loads as a Checkpoint or is a CheckpointError (in children)."""
    report = fuzz(data, count=count, seed=seed, loader=LOAD, expected=REFUSED, check=None, as_path=True,
                  setup=CAP_MEMORY, workers=2)
    shown = [(i, o.outcome, o.message[:200]) for i, o, _ in report.unexpected[:5]]
    assert not report.unexpected, f"{len(report.unexpected)} unexpected outcomes, e.g. {shown}"
    assert report.counts["CheckpointError"] > count // 2, report.counts
    assert sum(report.counts.values()) == count


@pytest.mark.slow
def test_mutation_fuzz_of_a_real_checkpoint(genuine):
    """2,000 seeded mutations of a real checkpoint file."""
    _assert_fuzz_is_refused_or_loads(genuine, count=2000, seed=14)


@pytest.mark.slow
def test_mutation_fuzz_of_a_real_cohort_checkpoint(genuine_cohort):
    """600 seeded mutations of a cohort's checkpoint (lists of students, optimizers and histories)."""
    _assert_fuzz_is_refused_or_loads(genuine_cohort, count=600, seed=18)
