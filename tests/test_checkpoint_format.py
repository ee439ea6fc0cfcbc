"""The checkpoint container (minikd._checkpoint_format): round trips, and hostile input refused without harm.

Every hostile input is built here (opcode bytes by hand, or ``pickle.dumps`` of crafted objects) and loaded
in a child process (``_mutation_fuzz.run_loader``, many loads per child), so a segfault fails a test instead
of killing pytest; a child that dies fails the test with the signal named.
"""

from __future__ import annotations

import copyreg
import math
import pickle
import pickletools
import re
import struct

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from _mutation_fuzz import fuzz, realistic_payload, run_loader
from hypothesis import given
from hypothesis import strategies as st

from minikd._checkpoint_format import (
    ARRAY_TAG,
    DTYPES,
    OPCODES,
    CheckpointFormatError,
    decode,
    encode,
    format_path,
)

REFUSED = "CheckpointFormatError"


# ---------------------------------------------------------------------------- helpers
def _load_all(inputs: dict, setup: str = "", loader: str = "minikd._checkpoint_format:decode") -> dict:
    """Run the loader on each named input in one child; {name: Outcome}. Fails the test if the child died."""
    names = list(inputs)
    outcomes = run_loader([inputs[name] for name in names], loader, setup=setup)
    for name, outcome in zip(names, outcomes, strict=True):
        assert not outcome.crashed, f"input {name!r}: the loading process died ({outcome.outcome}): {outcome.message}"
    return dict(zip(names, outcomes, strict=True))


def _assert_refused(outcomes: dict, patterns: dict) -> None:
    """Each outcome is a CheckpointFormatError whose message matches its pattern."""
    for name, pattern in patterns.items():
        outcome = outcomes[name]
        assert outcome.outcome == REFUSED, f"{name}: expected a refusal, got {outcome.outcome}: {outcome.message}"
        assert re.search(pattern, outcome.message), f"{name}: message {outcome.message!r} does not match {pattern!r}"


def _u(text: str) -> bytes:
    """SHORT_BINUNICODE or BINUNICODE of ``text``."""
    raw = text.encode("utf-8")
    return b"\x8c" + bytes([len(raw)]) + raw if len(raw) < 256 else b"X" + struct.pack("<I", len(raw)) + raw


def _b(data: bytes) -> bytes:
    """SHORT_BINBYTES or BINBYTES of ``data``."""
    return b"C" + bytes([len(data)]) + data if len(data) < 256 else b"B" + struct.pack("<I", len(data)) + data


P4 = b"\x80\x04"  # PROTO 4


def _opcode_names(data: bytes) -> set:
    return {opcode.name for opcode, _, _ in pickletools.genops(data)}


def _assert_same(expected, actual, path="state") -> None:
    """Equal bit for bit: same types, same float bits (NaN payloads too), arrays with the same dtype and bytes."""
    if isinstance(expected, np.ndarray):
        assert type(actual) is np.ndarray, path
        assert actual.dtype == expected.dtype.newbyteorder("=") and actual.dtype.isnative, (path, actual.dtype)
        assert actual.shape == expected.shape, path
        assert actual.tobytes() == np.ascontiguousarray(expected, actual.dtype).tobytes(), path
        assert actual.flags.owndata and actual.flags.writeable and actual.flags.c_contiguous, (path, actual.flags)
        return
    if isinstance(expected, np.generic):
        expected = expected.item()
    assert type(actual) is (dict if isinstance(expected, dict) else type(expected)) or (
        isinstance(expected, (list, tuple)) and type(actual) is (list if isinstance(expected, list) else tuple)
    ), (path, type(expected), type(actual))
    if isinstance(expected, dict):
        assert list(actual) == list(expected), path
        for key in expected:
            _assert_same(expected[key], actual[key], f"{path}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), path
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _assert_same(e, a, f"{path}[{i}]")
    elif isinstance(expected, float):
        assert struct.pack("<d", actual) == struct.pack("<d", expected), (path, expected, actual)
    else:
        assert actual == expected, (path, expected, actual)


# ---------------------------------------------------------------------------- round trips
_DTYPE_NAMES = [name for name in DTYPES] + [">i2", ">i4", ">i8", ">u2", ">u4", ">u8", ">f2", ">f4", ">f8"]


@st.composite
def _arrays(draw):
    dtype = np.dtype(draw(st.sampled_from(_DTYPE_NAMES)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
    elements = st.floats(width=8 * dtype.itemsize, allow_nan=True, allow_infinity=True) if dtype.kind == "f" else None
    arr = draw(hnp.arrays(dtype, shape, elements=elements))
    if arr.ndim >= 2 and draw(st.booleans()):
        arr = arr.T  # not C-contiguous
    return arr


_leaves = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-2**300, max_value=2**300)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20) | st.binary(max_size=20) | _arrays())
_trees = st.recursive(_leaves, lambda children: st.lists(children, max_size=4)
                      | st.lists(children, max_size=4).map(tuple)
                      | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=20)


@given(_trees)
def test_round_trip_is_bit_for_bit_and_uses_only_allowed_opcodes(tree):
    data = encode(tree)
    assert _opcode_names(data) <= OPCODES, _opcode_names(data) - OPCODES
    _assert_same(tree, decode(data))


def test_round_trip_of_every_dtype_and_awkward_shapes():
    arrays = {name: np.arange(6, dtype=name).reshape(2, 3) for name in _DTYPE_NAMES if name != "|b1"}
    arrays["|b1"] = np.array([[True, False, True]])
    arrays["0-d"] = np.array(2.5)
    arrays["empty"] = np.zeros((0, 7), np.float32)
    arrays["empty 0x0"] = np.zeros((3, 0, 0), np.int8)
    arrays["strided"] = np.arange(40.0).reshape(5, 8)[::2, ::3]
    arrays["fortran"] = np.asfortranarray(np.arange(12, dtype=np.int64).reshape(3, 4))
    arrays["special floats"] = np.array([np.nan, -np.nan, np.inf, -np.inf, -0.0, 5e-324, 1.7e308])
    arrays["float16"] = np.array([np.nan, np.inf, 65504, 6e-8, -0.0], np.float16)
    arrays["float32 nan payload"] = np.frombuffer(struct.pack("<I", 0x7FC00123), np.float32).copy()
    arrays["large"] = np.random.default_rng(0).standard_normal((700, 500)).astype(np.float32)  # above a frame
    data = encode(arrays)
    _assert_same(arrays, decode(data))


def test_scalars_and_numpy_scalars():
    tree = {"ints": [0, -1, 255, 256, 65535, 65536, -2**31, 2**31, 2**64, 2**127 + 5, -2**2000],
            "floats": [0.0, -0.0, float("nan"), float("inf"), 1e-310], "text": ["", "é" * 300, "\ud800"],
            "bytes": [b"", b"\x00" * 300], "numpy": [np.float32(1.5), np.float16(2), np.int8(-3), np.uint64(2**64 - 1),
                                                   np.bool_(True), np.float64("nan")]}
    result = decode(encode(tree))
    _assert_same(tree, result)
    assert [type(v) for v in result["numpy"]] == [float, float, int, int, bool, float]


def test_result_owns_fresh_memory_even_when_the_input_shared_it():
    shared = np.arange(4.0)
    shared_list = [1, 2]
    result = decode(encode({"a": shared, "b": shared, "c": [shared, shared_list, shared_list], "v": shared[::2]}))
    arrays = [result["a"], result["b"], result["c"][0], result["v"]]
    assert len({id(a) for a in arrays}) == 4 and result["c"][1] is not result["c"][2]
    for arr in arrays:
        assert arr.flags.owndata and arr.flags.writeable and arr.flags.c_contiguous and arr.base is None
    result["a"][0] = 99.0
    assert result["b"][0] == 0.0 and result["c"][0][0] == 0.0 and shared[0] == 0.0


def test_the_writer_emits_exactly_the_documented_opcodes():
    """Every opcode of the allow-list that protocol 4 writes for plain data, and nothing else."""
    key = "repeated"  # one str object: memo-shared, reached with LONG_BINGET after 256 memo entries
    short = "short"  # another, reached with BINGET
    tree = {"n": [None, True, False, 1, 300, 70000, -1, 2**40, 2**3000, 1.5], "s": ["x", "y" * 300, short, short],
            "b": [b"x", b"y" * 300], "t": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)], "one": [1], "d": {"k": 1},
            "many": [str(i) for i in range(300)] + [key], "e": [[], {}], "a": np.zeros(3), "again": key}
    emitted = _opcode_names(encode(tree))
    not_written = {"BINPUT", "LONG_BINPUT", "BINUNICODE8", "BINBYTES8"}  # protocol 2/3 memo; str/bytes over 4 GiB
    assert emitted == OPCODES - not_written, (emitted ^ (OPCODES - not_written))


# ---------------------------------------------------------------------------- the writer refuses
@pytest.mark.parametrize("value, where, what", [
    ({"optimizer": {"buffers": {"momentum": {"W1": np.zeros(2, complex)}}}},
     "state['optimizer']['buffers']['momentum']['W1']", "complex128"),
    ({"a": [1, np.array([None])]}, r"state\['a'\]\[1\]", "object"),
    ({"a": np.array(["x"])}, r"state\['a'\]", "<U1"),
    ({"a": np.zeros(2, "datetime64[s]")}, r"state\['a'\]", "datetime64"),
    ({"a": np.zeros(2, [("x", "<f4")])}, r"state\['a'\]", r"\[\('x'"),
    ({"a": np.zeros(2, np.longdouble)} if np.dtype(np.longdouble).itemsize > 8 else {"a": np.zeros(2, "c8")},
     r"state\['a'\]", "float128|complex64|longdouble"),
    ({"a": np.ma.masked_array([1.0])}, r"state\['a'\]", "subclass"),
    ({"a": {1, 2}}, r"state\['a'\]", "set"),
    ({"a": object()}, r"state\['a'\]", "object"),
    ({"a": 1j}, r"state\['a'\]", "complex"),
    ({"a": np.complex64(1)}, r"state\['a'\]", "complex64"),
    ({"a": {1: 2}}, r"state\['a'\] has the key 1", "must be str"),
    ({"a": [(ARRAY_TAG, "<f8", (1,), bytes(8))]}, r"state\['a'\]\[0\] is a tuple that starts with", "array record"),
])
def test_encode_refuses_what_it_cannot_store_and_says_where(value, where, what):
    with pytest.raises(TypeError) as info:
        encode(value)
    message = str(info.value)
    assert where in message or re.search(where, message), message
    assert re.search(what, message), message


@pytest.mark.slow
def test_encode_refuses_cycles_and_too_deep_trees():
    cycle = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match=r"state\[0\] contains itself"):
        encode(cycle)
    deep = 0
    for _ in range(64):
        deep = [deep]
    decode(encode(deep))  # 64 levels: the limit
    with pytest.raises(ValueError, match="deeper than 64"):
        encode([deep])
    deep_array = np.zeros(1)
    for _ in range(63):
        deep_array = [deep_array]
    decode(encode(deep_array))  # an array record counts as a level, as in decode
    with pytest.raises(ValueError, match=r"state(\[0\]){64} is nested deeper than 64"):
        encode([deep_array])
    with pytest.raises(ValueError, match=r"more than 1000000 containers and arrays \(reached at state\[499999\]\[0\]"):
        encode([[np.zeros(1)]] * 500_000)  # one list, 500,000 times: each occurrence is written (and counted)


def test_format_path():
    assert format_path(("optimizer", "buffers", "momentum", "W1")) == "state['optimizer']['buffers']['momentum']['W1']"
    assert format_path(()) == "state" and format_path(("a", 3, 0), root="x") == "x['a'][3][0]"
    long = format_path(("k" * 1000,))
    assert len(long) < 100 and "1000 characters" in long


# ---------------------------------------------------------------------------- forbidden opcodes
def _every_other_opcode() -> dict:
    """For every opcode outside the allow-list: PROTO 4, that opcode with a small valid argument, STOP."""
    candidates = [b"", b"\x01", b"\x01\x00", b"\x01\x00\x00\x00", b"\x01" + bytes(7), b"os\nsystem\n", b"1\n",
                  b"'a'\n", b"a\n", b"\x01\x00\x00\x00a", b"\x01a", b"\x01" + bytes(7) + b"a"]
    inputs = {}
    for op in pickletools.opcodes:
        if op.name in OPCODES:
            continue
        for arg in candidates:
            data = P4 + op.code.encode("latin-1") + arg + b"."
            try:
                names = [o.name for o, _, _ in pickletools.genops(data)]
            except Exception:
                continue
            if names == ["PROTO", op.name, "STOP"]:
                inputs[op.name] = data
                break
    return inputs


def test_every_opcode_outside_the_allow_list_is_refused_by_name_and_position():
    inputs = _every_other_opcode()
    expected_missing = set()
    assert {op.name for op in pickletools.opcodes} - OPCODES - set(inputs) == expected_missing
    outcomes = _load_all(inputs)
    _assert_refused(outcomes, {name: rf"opcode {name} at byte 2 is not allowed" for name in inputs})


def _open_marker(path) -> type:
    class Marker:
        def __reduce__(self):
            return (open, (str(path), "w"))
    return Marker


def test_code_in_a_pickle_never_runs(tmp_path):
    """Genuine attacks (GLOBAL os.system, STACK_GLOBAL + REDUCE of open) are refused; plain pickle would run them."""
    marker = tmp_path / "marker"
    reduce_attack = pickle.dumps(_open_marker(marker)(), protocol=4)
    shell = P4 + b"cos\nsystem\n" + _u(f"touch {marker}") + b"\x85R."
    inputs = {
        "GLOBAL os.system": shell,
        "STACK_GLOBAL open + REDUCE": reduce_attack,
        "REDUCE": P4 + b"N)R.",
        "BUILD": P4 + b"N}b.",
        "BUILD with a dtype state": P4 + b"N" + b"(K\x03" + _u("|") + b"NNNK\x08K\x01K\x00tb.",
        "INST": P4 + b"(ios\nsystem\n.",
        "OBJ": P4 + b"(No.",
        "NEWOBJ": P4 + b"N)\x81.",
        "NEWOBJ_EX": P4 + b"N)}\x92.",
        "PERSID": P4 + b"Pid\n.",
        "BINPERSID": P4 + _u("id") + b"Q.",
        "BYTEARRAY8": P4 + b"\x96\x03" + bytes(7) + b"abc.",
        "FROZENSET": P4 + b"(\x91.",
        "NEXT_BUFFER": P4 + b"\x97.",
        "minikd 0.1 array pickle": pickle.dumps(np.zeros(3)),
        "minikd 0.1 array pickle, protocol 2": pickle.dumps(np.zeros(3), protocol=2),
    }
    outcomes = _load_all(inputs)
    _assert_refused(outcomes, {
        "GLOBAL os.system": "opcode GLOBAL at byte 2", "STACK_GLOBAL open + REDUCE": r"opcode STACK_GLOBAL at byte \d+",
        "REDUCE": "opcode REDUCE at byte 4", "BUILD": "opcode BUILD at byte 4",
        "BUILD with a dtype state": "opcode BUILD at byte 19", "INST": "opcode INST at byte 3",
        "OBJ": "opcode OBJ at byte 4", "NEWOBJ": "opcode NEWOBJ at byte 4", "NEWOBJ_EX": "opcode NEWOBJ_EX at byte 5",
        "PERSID": "opcode PERSID at byte 2", "BINPERSID": "opcode BINPERSID at byte 6",
        "BYTEARRAY8": "opcode BYTEARRAY8 at byte 2", "FROZENSET": "opcode FROZENSET at byte 3",
        "NEXT_BUFFER": "opcode NEXT_BUFFER at byte 2",
        "minikd 0.1 array pickle": "opcode (STACK_)?GLOBAL at byte", "minikd 0.1 array pickle, protocol 2": "GLOBAL",
    })
    assert not marker.exists(), "a refused pickle created the marker file"
    control = run_loader([reduce_attack], "pickle:loads", expected=(), check=None)
    assert marker.exists(), f"the REDUCE attack is not live, so the test proves nothing: {control}"


def test_ext_opcodes_are_refused_even_when_copyreg_has_the_object_cached(tmp_path):
    """The C unpickler returns a cached EXT1/2/4 extension without asking find_class; the scan refuses the opcode."""
    marker = tmp_path / "marker"
    setup = (
        "import copyreg, pickle\n"
        "for module, code in (('builtins', 0xF0), ('io', 0x1F00), ('_io', 0x7F000000)):\n"
        "    copyreg.add_extension(module, 'open', code)\n"
        "assert pickle.loads(b'\\x80\\x04\\x82\\xf0.') is open  # now in copyreg's cache\n"
        "pickle.loads(b'\\x80\\x04\\x83\\x00\\x1f.'); pickle.loads(b'\\x80\\x04\\x84\\x00\\x00\\x00\\x7f.')\n"
        "class NoGlobals(pickle.Unpickler):\n"
        "    def find_class(self, module, name):\n"
        "        raise pickle.UnpicklingError('find_class refused')\n"
        "def no_globals_load(data):\n"
        "    import io\n"
        "    return NoGlobals(io.BytesIO(data)).load()\n"
    )
    call = _u(str(marker)) + _u("w") + b"\x86R."
    inputs = {"EXT1": P4 + b"\x82\xf0" + call, "EXT2": P4 + b"\x83\x00\x1f" + call,
              "EXT4": P4 + b"\x84\x00\x00\x00\x7f" + call}
    outcomes = _load_all(inputs, setup=setup)
    _assert_refused(outcomes, {name: f"opcode {name} at byte 2" for name in inputs})
    assert not marker.exists()
    control = run_loader([inputs["EXT1"]], "__main__:no_globals_load", expected=(), check=None, setup=setup)
    assert marker.exists(), f"the cached extension did not bypass find_class, so the test proves nothing: {control}"
    assert copyreg._extension_registry.get(("builtins", "open")) is None  # only the child registered them


def _segfault_recipe() -> bytes:
    """minikd 0.1's hole: dtype('O8') given flags 0 by BUILD, then an object array filled with file bytes."""
    dtype = (b"cnumpy\ndtype\n" + _u("O8") + b"\x89\x88\x87R"  # dtype('O8', False, True)
             + b"(K\x03" + _u("|") + b"NNNK\x08K\x01K\x00tb")  # BUILD (3, '|', None, None, None, 8, 1, 0)
    array = b"cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + _b(b"b") + b"\x87R"
    state = b"(K\x01K\x01\x85" + dtype + b"\x89" + _b(b"\x41" * 8) + b"tb"  # BUILD (1, (1,), dtype, False, bytes)
    return b"\x80\x03" + array + state + b"."


def test_the_segfault_recipe_of_minikd_0_1_is_refused():
    recipe = _segfault_recipe()
    outcomes = _load_all({"recipe": recipe})
    _assert_refused(outcomes, {"recipe": "opcode GLOBAL at byte 2"})
    # What it does to an unpickler that allows those NumPy globals (minikd 0.1): the child dies or raises.
    setup = ("import io, pickle\n"
             "allowed = {('numpy', 'dtype'), ('numpy', 'ndarray'), ('numpy._core.multiarray', '_reconstruct')}\n"
             "class Restricted(pickle.Unpickler):\n"
             "    def find_class(self, module, name):\n"
             "        assert (module, name) in allowed, (module, name)\n"
             "        return super().find_class(module, name)\n"
             "def old_load(data):\n"
             "    result = Restricted(io.BytesIO(data)).load()\n"
             "    return repr(result)\n")
    (old,) = run_loader([recipe], "__main__:old_load", expected=(), check=None, setup=setup)
    assert old.crashed or old.outcome != "ok", old


# ---------------------------------------------------------------------------- structure and limits
def _deep_list(levels: int) -> bytes:
    return P4 + b"]" * levels + b"a" * (levels - 1) + b"."


def _memo_bomb(levels: int = 40) -> bytes:
    tree = []
    for _ in range(levels):
        tree = [tree, tree]
    return pickle.dumps(tree, protocol=4)


def _record(dtype, shape, data) -> tuple:
    return (ARRAY_TAG, dtype, shape, data)


def test_limits_bombs_and_cycles():
    self_list = []
    self_list.append(self_list)
    self_dict = {}
    self_dict["me"] = self_dict
    outer = []
    outer.append((outer,))
    megabyte = bytes(2**20)
    wide = list(range(10_000))
    inputs = {
        "depth 64": _deep_list(64), "depth 65": _deep_list(65), "depth 100000": _deep_list(100_000),
        "memo bomb": _memo_bomb(40), "wide memo bomb": pickle.dumps([wide] * 10_000, protocol=4),
        "amplification": pickle.dumps([_record("|u1", (2**20,), megabyte) for _ in range(100)], protocol=4),
        "shared record": pickle.dumps([_record("|u1", (2**20,), megabyte)] * 100, protocol=4),
        "one megabyte": pickle.dumps([_record("|u1", (2**20,), megabyte)], protocol=4),
        "list cycle": pickle.dumps(self_list, protocol=4), "dict cycle": pickle.dumps(self_dict, protocol=4),
        "tuple cycle": pickle.dumps(outer, protocol=4),
        "LONG_BINPUT 2**32-1": P4 + b"N" + b"r\xff\xff\xff\xff" + b".",
        "BINBYTES8 of 2**62 bytes": P4 + b"\x8e" + struct.pack("<Q", 2**62) + b"abc.",
        "colliding int keys": pickle.dumps({k * (2**61 - 1): None for k in range(1, 2000)}, protocol=4),
        "many marks over a tall stack": P4 + b"]" + b"N" * 300_000 + b"(t" * 100_000 + b"e.",
        "APPEND across a MARK": P4 + b"](Na.", "TUPLE1 across a MARK": P4 + b"N(\x85.",
    }
    outcomes = _load_all(inputs)
    assert outcomes["depth 64"].outcome == "ok", outcomes["depth 64"]
    assert outcomes["one megabyte"].outcome == "ok", outcomes["one megabyte"]
    _assert_refused(outcomes, {
        "depth 65": r"state(\[0\]){64} is nested deeper than max_depth=64",
        "depth 100000": "nested deeper than max_depth=64", "memo bomb": "more than max_values=",
        "wide memo bomb": "more than max_values=", "amplification": r"max_array_bytes=\d+ .*state\[\d+\]",
        "shared record": "max_array_bytes", "list cycle": r"state\[0\] contains itself",
        "dict cycle": r"state\['me'\] contains itself", "tuple cycle": r"state\[0\]\[0\] contains itself",
        "LONG_BINPUT 2**32-1": "LONG_BINPUT 4294967295 at byte 3: the memo is filled in order",
        "BINBYTES8 of 2**62 bytes": "truncated or corrupt", "colliding int keys": "SETITEMS at byte .* needs str keys",
        "many marks over a tall stack": "APPENDS at byte 500003 needs a MARK",
        "APPEND across a MARK": "APPEND at byte 5 needs a list below its items, found nothing",
        "TUPLE1 across a MARK": "TUPLE1 at byte 4 needs 1 value",
    })
    for name in ("memo bomb", "wide memo bomb", "amplification", "LONG_BINPUT 2**32-1", "BINBYTES8 of 2**62 bytes",
                 "many marks over a tall stack"):
        assert outcomes[name].seconds < 2.0, (name, outcomes[name].seconds)


def test_caller_limits():
    """Benign inputs, so loaded in this process: the limits are the caller's to tighten or widen."""
    data = encode({"a": [[1, 2], [3]], "x": np.zeros(100)})
    assert decode(data, max_depth=3, max_containers=5)["a"] == [[1, 2], [3]]
    for limit, pattern in (({"max_depth": 2}, "max_depth=2"), ({"max_containers": 4}, "max_containers=4"),
                           ({"max_values": 6}, "max_values=6"), ({"max_array_bytes": 799}, "max_array_bytes=799")):
        with pytest.raises(CheckpointFormatError, match=pattern):
            decode(data, **limit)
    bomb = _memo_bomb(12)  # 4094 list visits from a few dozen bytes
    assert decode(bomb, max_values=10**6) == decode(bomb, max_values=10**6) and len(bomb) < 100
    for bad, error in (({"max_depth": 0}, ValueError), ({"max_values": -1}, ValueError),
                       ({"max_containers": 1.5}, TypeError), ({"max_array_bytes": True}, TypeError)):
        with pytest.raises(error):
            decode(data, **bad)


def test_broken_array_records_and_keys():
    def one(record):
        return pickle.dumps({"w": record}, protocol=4)

    inputs = {
        "short data": one(_record("<f4", (2, 3), bytes(20))),
        "long data": one(_record("<f4", (2,), bytes(9))),
        "negative": one(_record("<f4", (-1,), b"")),
        "bool": one(_record("<f4", (True,), bytes(4))),
        "float": one(_record("<f4", (2.0,), bytes(8))),
        "huge entry": one(_record("|u1", (0, 2**63), b"")),
        "too big": one(_record("<f8", (0, 2**40, 2**40), b"")),
        "65 dimensions": one(_record("|u1", (1,) * 65, b"\x00")),
        "shape a list": one(_record("|u1", [1], b"\x00")),
        "unknown dtype": one(_record("<c16", (1,), bytes(16))),
        "big-endian dtype": one(_record(">f4", (1,), bytes(4))),
        "object dtype": one(_record("|O", (1,), bytes(8))),
        "dtype not a str": one(_record(b"<f4", (1,), bytes(4))),
        "data not bytes": one(_record("<f4", (1,), "abcd")),
        "three items": one((ARRAY_TAG, "<f4", (1,))),
        "int key": pickle.dumps({1: 2}, protocol=4),
        "tuple key": pickle.dumps({"a": {(1,): 2}}, protocol=4),
        "fine": one(_record("<f4", (2, 0, 3), b"")),
    }
    outcomes = _load_all(inputs)
    assert outcomes["fine"].outcome == "ok", outcomes["fine"]
    where = r"state\['w'\] \(an array record\)"
    _assert_refused(outcomes, {
        "short data": where + r" of shape \(2, 3\) and dtype <f4 needs 24 bytes of data, got 20",
        "long data": "needs 8 bytes of data, got 9", "negative": "shape entry -1", "bool": "shape entry True",
        "float": "shape entry 2.0", "huge entry": r"shape entry 9223372036854775808", "too big": "too big",
        "65 dimensions": "at most 64", "shape a list": "a list of 1 items", "unknown dtype": "dtype '<c16'",
        "big-endian dtype": "dtype '>f4'", "object dtype": "dtype '|O'", "dtype not a str": r"dtype b'<f4'",
        "data not bytes": "data as bytes, got 'abcd'", "three items": "got a tuple of 3 items",
        "int key": "SETITEM at byte .* needs str keys", "tuple key": "needs str keys",
    })


def test_truncated_trailing_empty_and_non_bytes_input():
    genuine = encode(realistic_payload())
    inputs = {f"first {n} bytes": genuine[:n] for n in range(len(genuine))}
    inputs.update({"trailing byte": genuine + b"\x00", "second pickle": genuine + encode(1), "no STOP": P4 + b"N",
                   "two values": P4 + b"NN.", "only a mark": P4 + b"(.", "no PROTO": b"N.",
                   "two PROTOs": P4 + P4 + b"N.",
                   "protocol 5": b"\x80\x05N.", "FRAME too long": P4 + b"\x95" + struct.pack("<Q", 2**40) + b"N."})
    outcomes = _load_all(inputs)
    accepted = {name: o for name, o in outcomes.items() if o.outcome != REFUSED}
    assert not accepted, accepted
    _assert_refused(outcomes, {
        "first 0 bytes": "empty", "trailing byte": r"1 byte\(s\) after the STOP opcode at byte \d+",
        "second pickle": "after the STOP", "no STOP": "truncated or corrupt", "two values": "2 values and 0 open MARKs",
        "only a mark": "0 values and 1 open MARKs", "no PROTO": "starts with PROTO", "two PROTOs": "PROTO at byte 2",
        "protocol 5": "protocol must be <= 4", "FRAME too long": "FRAME at byte 2 announces 1099511627776 bytes",
    })
    for bad in ("a string", None, [1, 2], np.zeros(3)):
        with pytest.raises(TypeError, match="data must be bytes"):
            decode(bad)
    assert decode(bytearray(encode([1]))) == [1] and decode(memoryview(encode([1]))) == [1]


def test_messages_never_carry_a_huge_value():
    inputs = {"huge key": pickle.dumps({"a": {"k" * 10**6: 1, 2: 3}}, protocol=4),
              "huge dtype": pickle.dumps({"a": _record("x" * 10**6, (1,), b"")}, protocol=4),
              "huge shape entry": pickle.dumps({"a": _record("<f8", (-(2**100000),), b"")}, protocol=4),
              "huge data": pickle.dumps({"a": _record("<f8", (1,), "x" * 10**6)}, protocol=4)}
    outcomes = _load_all(inputs)
    assert all(o.outcome == REFUSED and len(o.message) < 400 for o in outcomes.values()), outcomes


# ---------------------------------------------------------------------------- fuzzing
@pytest.mark.slow
def test_mutation_fuzz_only_decodes_plain_data_or_refuses():
    """3,000 seeded mutations: each input decodes to fresh plain data or raises CheckpointFormatError."""
    genuine = encode(realistic_payload())
    report = fuzz(genuine, count=3000, seed=20261201)
    shown = [(i, o.outcome, o.message[:200], data[:80]) for i, o, data in report.unexpected[:5]]
    assert not report.unexpected, f"{len(report.unexpected)} unexpected outcomes, e.g. {shown}"
    assert report.counts[REFUSED] > 1000 and report.counts["ok"] > 50, report.counts  # both paths exercised
    assert sum(report.counts.values()) == 3000 and math.isfinite(report.seconds)
