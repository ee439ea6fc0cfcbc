"""A pickle container for plain data and NumPy arrays that carries nothing that can run or corrupt memory.

:func:`encode` turns a tree of plain data into bytes; :func:`decode` turns such bytes back into a fresh tree,
and refuses anything else with a :class:`CheckpointFormatError` before a single object is built from it.

Why
---
A normal pickle is a small program: its opcodes import names (``GLOBAL``, ``STACK_GLOBAL``), call them
(``REDUCE``, ``NEWOBJ``, ``OBJ``, ``INST``), and hand file-controlled state to ``__setstate__`` (``BUILD``).
Restricting *which* names may be imported is not enough: with only ``numpy.dtype``, ``_reconstruct``,
``_frombuffer`` and ``scalar`` allowed (minikd 0.1), ``BUILD`` gives ``dtype.__setstate__`` an object dtype with
forged flags and NumPy then treats bytes from the file as object pointers (a segfault, or worse). The C
unpickler also returns ``EXT1/EXT2/EXT4`` extensions already in ``copyreg``'s cache without asking
``find_class``. ``torch.load(weights_only=True)`` is the same design (an allow-list of globals) and has been
bypassed (CVE-2025-32434). safetensors avoids the problem by construction: a JSON header plus raw array
bytes, no code path at all. This module gives minikd the same property while keeping pickle's framing
(which every Python can read): the file may only use opcodes that build ``None``, bools, ints, floats,
str, bytes, lists, tuples and dicts. No opcode that imports, calls or sets state is accepted, so no
allow-list of names exists to be bypassed, and arrays are rebuilt by minikd from a dtype string, a
shape and raw bytes, as safetensors does.

The format
----------
A container is a pickle (protocol 4, as written by ``pickle.dumps(tree, protocol=4)``) of a *tree*:

- ``None``, ``bool``, ``int`` (any size), ``float`` (IEEE 754 binary64), ``str``, ``bytes``;
- ``list`` and ``tuple`` of trees; ``dict`` whose keys are ``str`` and whose values are trees;
- an **array record**, the 4-tuple ``("__minikd_ndarray__", dtype, shape, data)``:

  - ``dtype`` is one of the strings ``|b1 |i1 <i2 <i4 <i8 |u1 <u2 <u4 <u8 <f2 <f4 <f8``
    (NumPy's ``dtype.str``: bool, signed and unsigned integers, IEEE binary16/32/64 floats);
  - ``shape`` is a tuple of at most 64 ints, each ``0 <= n < 2**63`` (not bools), whose product of the
    non-zero entries times the item size is below ``2**63``;
  - ``data`` is ``bytes`` of exactly ``prod(shape) * itemsize`` bytes: the elements in C order
    (last index fastest), little-endian; bool is one byte, 0 or 1.

  Any tuple whose first item is the string ``"__minikd_ndarray__"`` is an array record; the writer
  refuses a plain tuple that starts with it.

The bytes must be exactly one pickle: a sequence of the opcodes below, starting with ``PROTO`` and ending
with ``STOP`` as the last byte. Every other opcode is refused, with its name and byte offset, before
anything is unpickled. Arguments are little-endian as in ``pickletools``:

=====================  ======  ==============================================================
opcode                 byte    argument and effect
=====================  ======  ==============================================================
PROTO                  0x80    u1 protocol (<= 4); only as the first opcode
FRAME                  0x95    u8 length of the frame that follows (<= the bytes left); a hint,
                               a reader may ignore it
STOP                   ``.``   end; the stack must hold exactly one value (the tree), no open mark
NONE                   ``N``   push None
NEWTRUE, NEWFALSE      0x88,   push True, False
                       0x89
BININT1, BININT2,      ``K``,  push an int: u1, u2, or signed i4
BININT                 ``M``,
                       ``J``
LONG1, LONG4           0x8a,   u1 / i4 (>= 0) byte count, then a little-endian two's-complement int
                       0x8b
BINFLOAT               ``G``   8-byte **big-endian** IEEE 754 binary64
SHORT_BINUNICODE,      0x8c,   u1 / u4 / u8 byte count, then UTF-8 (``surrogatepass``) text
BINUNICODE,            ``X``,
BINUNICODE8            0x8d
SHORT_BINBYTES,        ``C``,  u1 / u4 / u8 byte count, then the bytes
BINBYTES, BINBYTES8    ``B``,
                       0x8e
EMPTY_DICT,            ``}``,  push a new empty dict, list, tuple
EMPTY_LIST,            ``]``,
EMPTY_TUPLE            ``)``
MARK                   ``(``   push a mark: the values below it can only be reached by an opcode
                               that pops down to it (TUPLE, APPENDS, SETITEMS), as in CPython
TUPLE                  ``t``   pop the items down to the mark and the mark, push them as a tuple
TUPLE1, TUPLE2,        0x85,   pop 1, 2, 3 items, push them as a tuple
TUPLE3                 0x86,
                       0x87
APPEND                 ``a``   pop a value, append it to the list on top
APPENDS                ``e``   pop the values down to the mark and the mark, extend the list on top
SETITEM                ``s``   pop a value and a str key, set it in the dict on top
SETITEMS               ``u``   pop key/value pairs (keys str) down to the mark and the mark, set them
                               in the dict on top
MEMOIZE                0x94    store the top of the stack at memo index ``len(memo)``
BINPUT, LONG_BINPUT    ``q``,  u1 / u4 index, which must be ``len(memo)``: the same as MEMOIZE
                       ``r``
BINGET, LONG_BINGET    ``h``,  u1 / u4 index ``< len(memo)``: push that memo entry (the same object)
                       ``j``
=====================  ======  ==============================================================

``pickle.dumps(..., protocol=4)`` writes every one of these for such trees except ``BINPUT`` and
``LONG_BINPUT`` (protocol 4 uses ``MEMOIZE``; they are accepted because protocol 2 and 3 writers use them
in the same way) and it needs ``BINUNICODE8``/``BINBYTES8`` only for a str or bytes over 4 GiB. It never
writes ``POP``, ``POP_MARK`` or ``DUP`` for a tree without cycles, and this reader refuses them.

Besides the opcode names, the scan checks every stack effect: an opcode may only pop what is there, APPEND
and APPENDS need a list below their values, SETITEM and SETITEMS a dict and **str keys** (so a file
cannot make dict insertion quadratic with colliding int keys), the memo is a list filled in order (so
``LONG_BINPUT 0xffffffff`` cannot make CPython's unpickler allocate and zero a 64 GiB memo), and a truncated
argument is an error before the unpickler could allocate the length it claims.

The memo lets one object appear many times, and even inside itself. The reader therefore rebuilds the
tree afresh: a cycle is an error, nesting deeper than ``max_depth`` is an error, every visit of a
container or value counts (also repeated visits of a memo-shared one) against ``max_containers`` and
``max_values``, and every decoded array counts its bytes against ``max_array_bytes``; by default the last
two are ``len(data)``, which a file written by :func:`encode` never exceeds (each value costs it at least
one opcode byte and each array its bytes), so a few hundred bytes cannot unfold into gigabytes or
exponential work. No container or array of the result is shared (str and bytes, being immutable, may be);
every array is a C-contiguous, native-order copy that owns its memory.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
import sys

import numpy as np

__all__ = ["CheckpointFormatError", "encode", "decode", "format_path", "ARRAY_TAG", "DTYPES", "OPCODES"]

ARRAY_TAG = "__minikd_ndarray__"
DTYPES = ("|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8")
MAX_NDIM = 64  # NumPy's own limit (NPY_MAXDIMS)
DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_CONTAINERS = 1_000_000
_MAX_SIZE = 2**63  # shape entries and array byte counts stay below this (an int64 / intp)

# Opcode name -> the kind of value it pushes (the scan tracks kinds, not values).
_PUSHES = {
    "NONE": "scalar", "NEWTRUE": "scalar", "NEWFALSE": "scalar", "BININT": "scalar", "BININT1": "scalar",
    "BININT2": "scalar", "LONG1": "scalar", "LONG4": "scalar", "BINFLOAT": "scalar",
    "SHORT_BINUNICODE": "str", "BINUNICODE": "str", "BINUNICODE8": "str",
    "SHORT_BINBYTES": "bytes", "BINBYTES": "bytes", "BINBYTES8": "bytes",
    "EMPTY_DICT": "dict", "EMPTY_LIST": "list", "EMPTY_TUPLE": "tuple",
}
_OTHERS = ("PROTO", "FRAME", "STOP", "MARK", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "APPEND", "APPENDS", "SETITEM",
           "SETITEMS", "MEMOIZE", "BINPUT", "LONG_BINPUT", "BINGET", "LONG_BINGET")
OPCODES = frozenset(_PUSHES) | frozenset(_OTHERS)
_LEAF_TYPES = (type(None), bool, int, float, str, bytes)


class CheckpointFormatError(ValueError):
    """Bytes that are not a valid minikd container: a forbidden opcode, a broken structure or a limit exceeded."""


# ---------------------------------------------------------------------------- messages
def format_path(path, root: str = "state") -> str:
    """Where a value sits in a tree, as Python would index it: ``state['optimizer']['buffers'][3]``.

    Parameters
    ----------
    path : sequence of str or int
        Dict keys (shown with ``repr``, long ones cut) and list/tuple indices, from the root down.
    root : str, default "state"
        The name of the whole tree.
    """
    parts = [root]
    for step in path:
        parts.append(f"[{_short_repr(step, 40)}]" if isinstance(step, str) else f"[{step}]")
    return "".join(parts)


def _short_repr(value, limit: int = 60) -> str:
    text = repr(value[: limit + 1])
    return text if len(value) <= limit else f"{text[:limit]}...' ({len(value)} characters)"


def _show(value) -> str:
    """A short description of any value, safe for huge, deep or hostile ones (no full repr)."""
    if value is None or isinstance(value, (bool, float)):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if value.bit_length() <= 128 else f"an int of {value.bit_length()} bits"
    if isinstance(value, (str, bytes)):
        return _short_repr(value)
    if isinstance(value, np.ndarray):
        return f"an ndarray of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"an object of type {type(value).__name__[:60]}"


# ---------------------------------------------------------------------------- writing
def encode(obj) -> bytes:
    """Encode a tree of plain data and NumPy arrays as a minikd container (see the module docstring).

    Parameters
    ----------
    obj : tree
        ``None``, bool, int, float, str, bytes, lists, tuples, dicts with str keys, and ``numpy.ndarray``
        of a dtype in :data:`DTYPES` (any byte order or memory layout: it is written little-endian in
        C order). NumPy scalars (``np.bool_``, ``np.integer``, ``np.float16/32/64``) become the Python
        equivalent; dict, list and tuple subclasses (``OrderedDict``, named tuples) become the plain type.
        Each occurrence of a shared object is written on its own, so the result never aliases.

    Returns
    -------
    bytes
        ``pickle.dumps(tree, protocol=4)`` of the tree with every array replaced by its record.
        :func:`decode` with its default limits reads it back.

    Raises
    ------
    TypeError
        For a value of another type (complex, object, structured, datetime, string arrays, ndarray
        subclasses, sets, arbitrary objects), a non-str dict key, or a tuple that starts with
        :data:`ARRAY_TAG`; the message names where in the tree it is, e.g.
        ``state['optimizer']['buffers']['momentum']['W1']``.
    ValueError
        For a cycle, nesting deeper than 64, or more than 1,000,000 containers and arrays (``decode``'s
        defaults).
    """
    counter = [0]
    tree = _to_tree(obj, (), set(), counter)
    return pickle.dumps(tree, protocol=4)


def _to_tree(value, path: tuple, on_path: set, counter: list):
    """The plain-data tree of ``value``: fresh containers, arrays as records."""
    if isinstance(value, np.ndarray):
        _count_container(path, counter)  # decode counts array records as container visits
        return _array_record(value, path)
    if isinstance(value, np.generic) or type(value) in _LEAF_TYPES:
        return _plain_scalar(value, path)
    if not isinstance(value, (dict, list, tuple)):
        raise TypeError(f"{format_path(path)} must be plain data (None, bool, int, float, str, bytes, list, "
                        f"tuple, dict with str keys or a numpy.ndarray), got {_show(value)}")
    _enter_for_encode(value, path, on_path, counter)
    if isinstance(value, dict):
        for key in value:
            if type(key) is not str:
                raise TypeError(f"{format_path(path)} has the key {_show(key)} (type {type(key).__name__}): "
                                "dict keys must be str")
        result = {key: _to_tree(item, (*path, key), on_path, counter) for key, item in value.items()}
    else:
        items = [_to_tree(item, (*path, i), on_path, counter) for i, item in enumerate(value)]
        if isinstance(value, tuple) and items and type(items[0]) is str and items[0] == ARRAY_TAG:
            raise TypeError(f"{format_path(path)} is a tuple that starts with {ARRAY_TAG!r}, which marks an "
                            "array record; use a list or another first item")
        result = tuple(items) if isinstance(value, tuple) else items
    on_path.discard(id(value))
    return result


def _enter_for_encode(value, path: tuple, on_path: set, counter: list) -> None:
    """Refuse what decode would refuse: a cycle, too deep a nesting, too many containers."""
    if id(value) in on_path:
        raise ValueError(f"{format_path(path)} contains itself (a cycle); a container must be a tree")
    _count_container(path, counter)
    on_path.add(id(value))


def _count_container(path: tuple, counter: list) -> None:
    """Containers and arrays, as decode counts them: at most 64 deep, at most 1,000,000 in all."""
    if len(path) >= DEFAULT_MAX_DEPTH:
        raise ValueError(f"{format_path(path)} is nested deeper than {DEFAULT_MAX_DEPTH} containers")
    counter[0] += 1
    if counter[0] > DEFAULT_MAX_CONTAINERS:
        raise ValueError(f"the tree holds more than {DEFAULT_MAX_CONTAINERS} containers and arrays "
                         f"(reached at {format_path(path)})")


def _plain_scalar(value, path: tuple):
    """A Python scalar as it is; a NumPy scalar as the Python equivalent."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating) and value.dtype.itemsize <= 8:
        return float(value)
    if isinstance(value, np.generic):
        raise TypeError(f"{format_path(path)} must be plain data, got a NumPy {value.dtype} scalar "
                        "(only bool, integer and float16/32/64 scalars are stored)")
    return value


def _array_record(arr: np.ndarray, path: tuple) -> tuple:
    """``(ARRAY_TAG, dtype, shape, data)`` with little-endian C-order data."""
    if type(arr) is not np.ndarray:
        raise TypeError(f"{format_path(path)} is an ndarray subclass ({type(arr).__name__}); only plain "
                        "numpy.ndarray is stored (convert it with np.asarray, knowing what it drops)")
    little = arr.dtype.newbyteorder("<") if arr.dtype.kind in "biuf" and arr.dtype.fields is None else None
    if little is None or little.str not in DTYPES:
        raise TypeError(f"{format_path(path)} is an array of dtype {arr.dtype}; only bool, int8-64, uint8-64 "
                        "and float16/32/64 arrays are stored")
    return (ARRAY_TAG, little.str, tuple(int(n) for n in arr.shape), arr.astype(little, copy=False).tobytes())


# ---------------------------------------------------------------------------- reading
def decode(data, *, max_depth: int = DEFAULT_MAX_DEPTH, max_containers: int = DEFAULT_MAX_CONTAINERS,
           max_values: int | None = None, max_array_bytes: int | None = None):
    """Decode a minikd container into a fresh tree of plain data and NumPy arrays.

    Three stages (see the module docstring for the format): an opcode scan with ``pickletools.genops``
    that admits only the opcodes of plain data and checks their stack effects; ``pickle`` unpickling
    with a ``find_class`` and ``persistent_load`` that always refuse (unreachable after the scan); and an
    iterative rebuild that checks the tree and decodes each array record.

    Parameters
    ----------
    data : bytes
        The container (``bytearray`` and ``memoryview`` are copied to bytes).
    max_depth : int >= 1, default 64
        Deepest nesting of containers (the root container is at depth 1).
    max_containers : int >= 0, default 1,000,000
        Most container visits (dicts, lists, tuples, array records), counting every visit of a
        memo-shared container.
    max_values : int >= 0 or None, default None (``len(data)``)
        Most values visited, containers and leaves, counting every visit.
    max_array_bytes : int >= 0 or None, default None (``len(data)``)
        Most bytes of array data decoded in all, counting every decoded occurrence of memo-shared data.

    Returns
    -------
    tree
        New dicts, lists and tuples (nothing aliased, even if the file shared them); each array an owned,
        writable, C-contiguous array in native byte order.

    Raises
    ------
    CheckpointFormatError
        For anything else: the message names the rule, the byte offset or the place in the tree
        (``state['student']['params']['W1']``) and the offending value.
    TypeError
        If ``data`` is not bytes-like or a limit is not an int.
    ValueError
        If a limit is below its minimum.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {_show(data)}")
    data = bytes(data)
    limits = _Limits(max_depth, max_containers, len(data) if max_values is None else max_values,
                     len(data) if max_array_bytes is None else max_array_bytes)
    _scan_opcodes(data)
    return _Rebuilder(limits).rebuild(_unpickle(data))


class _Limits:
    """The four limits of decode, validated."""

    def __init__(self, max_depth, max_containers, max_values, max_array_bytes):
        for name, value, minimum in (("max_depth", max_depth, 1), ("max_containers", max_containers, 0),
                                     ("max_values", max_values, 0), ("max_array_bytes", max_array_bytes, 0)):
            if type(value) is not int:
                raise TypeError(f"{name} must be an int, got {_show(value)}")
            if value < minimum:
                raise ValueError(f"{name} must be >= {minimum}, got {value}")
        self.max_depth, self.max_containers = max_depth, max_containers
        self.max_values, self.max_array_bytes = max_values, max_array_bytes


# ---------------------------------------------------------------------------- stage 1: the opcode scan
def _scan_opcodes(data: bytes) -> None:
    """Refuse any opcode outside :data:`OPCODES` and any stack effect a tree of plain data cannot have."""
    if not data:
        raise CheckpointFormatError("the data is empty (0 bytes): not a minikd container")
    stack = _KindStack()
    try:
        for opcode, arg, pos in pickletools.genops(data):
            _check_opcode(opcode.name, arg, pos, len(data), stack)
    except CheckpointFormatError:
        raise
    except Exception as exc:  # genops' errors for truncated data, unknown opcodes, bad arguments
        message = str(exc)[:200]
        raise CheckpointFormatError(f"not a readable pickle (truncated or corrupt): {type(exc).__name__}: "
                                    f"{message}") from None
    if pos + 1 != len(data):
        raise CheckpointFormatError(f"{len(data) - pos - 1} byte(s) after the STOP opcode at byte {pos}: "
                                    "a container is exactly one pickle")


def _check_opcode(name: str, arg, pos: int, size: int, stack: _KindStack) -> None:
    """Check one opcode against the allow-list and apply its stack effect to ``stack``."""
    if name not in OPCODES:
        raise CheckpointFormatError(f"opcode {name} at byte {pos} is not allowed: a minikd container holds "
                                    "only plain data, so it never imports, calls or builds objects. "
                                    "Nothing in the data was run.")
    stack.where = f"{name} at byte {pos}"
    if (name == "PROTO") != (pos == 0):
        raise CheckpointFormatError(f"opcode {name} at byte {pos}: a container starts with PROTO, only once")
    if name == "MARK":
        stack.marks.append(len(stack.kinds))
    elif name in _PUSHES:
        stack.kinds.append(_PUSHES[name])
    elif name == "PROTO" and arg > 4:
        raise CheckpointFormatError(f"PROTO {arg} at byte 0: the protocol must be <= 4")
    elif name == "FRAME" and arg > size - pos - 9:
        raise CheckpointFormatError(f"FRAME at byte {pos} announces {arg} bytes, more than are left")
    elif name.startswith("TUPLE"):
        stack.pop(int(name[-1])) if name != "TUPLE" else stack.pop_to_mark()
        stack.kinds.append("tuple")
    elif name in ("APPEND", "APPENDS"):
        stack.pop(1) if name == "APPEND" else stack.pop_to_mark()
        stack.expect_top("list")
    elif name in ("SETITEM", "SETITEMS"):
        items = stack.pop(2) if name == "SETITEM" else stack.pop_to_mark()
        if len(items) % 2 or any(kind != "str" for kind in items[::2]):
            raise CheckpointFormatError(f"{stack.where} needs str keys, each with a value; got kinds {items[:8]}")
        stack.expect_top("dict")
    elif name in ("MEMOIZE", "BINPUT", "LONG_BINPUT"):
        if name != "MEMOIZE" and arg != len(stack.memo):
            raise CheckpointFormatError(f"{name} {arg} at byte {pos}: the memo is filled in order, so the "
                                        f"index must be {len(stack.memo)}")
        stack.memo.append(stack.pop(1)[0])
        stack.kinds.append(stack.memo[-1])
    elif name in ("BINGET", "LONG_BINGET"):
        if arg >= len(stack.memo):
            raise CheckpointFormatError(f"{name} {arg} at byte {pos}: the memo holds only {len(stack.memo)} entries")
        stack.kinds.append(stack.memo[arg])
    elif name == "STOP" and (len(stack.kinds) != 1 or stack.marks):
        raise CheckpointFormatError(f"STOP at byte {pos} with {len(stack.kinds)} values and {len(stack.marks)} "
                                    "open MARKs on the stack: the pickle must leave exactly one value")


class _KindStack:
    """The unpickler's stack, memo and marks as the scan sees them: the kind of each value, not the value.

    Kinds: "scalar", "str", "bytes", "list", "dict", "tuple". As in the C unpickler, the values below the
    latest MARK can only be reached by an opcode that pops down to it (TUPLE, APPENDS, SETITEMS).
    """

    def __init__(self):
        self.kinds, self.marks, self.memo = [], [], []
        self.where = ""  # the current opcode and its byte offset, for messages

    def fence(self) -> int:
        return self.marks[-1] if self.marks else 0

    def pop(self, count: int) -> list:
        if len(self.kinds) - count < self.fence():
            raise CheckpointFormatError(f"{self.where} needs {count} value(s) on the stack above the last MARK")
        items = self.kinds[len(self.kinds) - count:]
        del self.kinds[len(self.kinds) - count:]
        return items

    def pop_to_mark(self) -> list:
        if not self.marks:
            raise CheckpointFormatError(f"{self.where} needs a MARK before its items")
        start = self.marks.pop()
        items = self.kinds[start:]
        del self.kinds[start:]
        return items

    def expect_top(self, kind: str) -> None:
        if len(self.kinds) <= self.fence() or self.kinds[-1] != kind:
            found = self.kinds[-1] if len(self.kinds) > self.fence() else "nothing"
            raise CheckpointFormatError(f"{self.where} needs a {kind} below its items, found {found}")


# ---------------------------------------------------------------------------- stage 2: unpickling
class _NoGlobalsUnpickler(pickle.Unpickler):
    """Defence in depth: the scan already refused every opcode that could reach these."""

    def find_class(self, module, name):
        raise CheckpointFormatError(f"refusing to import {str(module)[:60]}.{str(name)[:60]}: "
                                    "a minikd container imports nothing")

    def persistent_load(self, pid):
        raise CheckpointFormatError("refusing a persistent id: a minikd container holds only plain data")


def _unpickle(data: bytes):
    try:
        return _NoGlobalsUnpickler(io.BytesIO(data)).load()
    except CheckpointFormatError:
        raise
    except Exception as exc:  # not reachable for data that passed the scan, but never let one through
        raise CheckpointFormatError(f"not a readable pickle: {type(exc).__name__}: {str(exc)[:200]}") from None


# ---------------------------------------------------------------------------- stage 3: the rebuild
_VISIT, _FINISH = "visit", "finish"


class _Rebuilder:
    """Walk the unpickled tree with an explicit stack and build a fresh, checked copy of it.

    The stack holds two kinds of tasks: ``(_VISIT, value, path, slots, index)`` puts the fresh copy of
    ``value`` into ``slots[index]``; ``(_FINISH, source, keys, slots, parent, index)`` runs after all of a
    container's children were visited and turns their ``slots`` into the new dict, list or tuple.
    """

    def __init__(self, limits: _Limits):
        self.limits = limits
        self.containers = 0
        self.values = 0
        self.array_bytes = 0
        self.on_path = set()  # ids of the containers being visited: seeing one again is a cycle

    def rebuild(self, tree):
        self._spend_values(1, ())
        result = [None]
        todo = [(_VISIT, tree, (), result, 0)]
        while todo:
            task = todo.pop()
            if task[0] is _FINISH:
                self._finish(*task[1:])
            else:
                self._visit(*task[1:], todo)
        return result[0]

    def _visit(self, value, path: tuple, slots: list, index: int, todo: list) -> None:
        if type(value) in _LEAF_TYPES:
            slots[index] = value
            return
        if type(value) not in (dict, list, tuple):  # the scan admits nothing else; never trust that alone
            raise CheckpointFormatError(f"{format_path(path)} is {_show(value)}, not plain data")
        self._enter(value, path)
        if type(value) is tuple and value and type(value[0]) is str and value[0] == ARRAY_TAG:
            slots[index] = self._decode_array(value, path)
            self.on_path.discard(id(value))
            return
        keys = _checked_keys(value, path) if type(value) is dict else None
        children = list(value.values()) if keys is not None else value
        self._spend_values(len(children), path)
        child_slots = [None] * len(children)
        todo.append((_FINISH, value, keys, child_slots, slots, index))
        for i in reversed(range(len(children))):
            todo.append((_VISIT, children[i], (*path, keys[i] if keys is not None else i), child_slots, i))

    def _finish(self, source, keys, child_slots: list, slots: list, index: int) -> None:
        self.on_path.discard(id(source))
        if keys is not None:
            slots[index] = dict(zip(keys, child_slots, strict=True))
        else:
            slots[index] = tuple(child_slots) if type(source) is tuple else child_slots

    def _enter(self, container, path: tuple) -> None:
        """Count a container visit; refuse a cycle, too deep a nesting, too many visits."""
        if id(container) in self.on_path:
            raise CheckpointFormatError(f"{format_path(path)} contains itself (a cycle through the pickle memo): "
                                        "a container must be a tree")
        if len(path) + 1 > self.limits.max_depth:
            raise CheckpointFormatError(f"{format_path(path)} is nested deeper than max_depth={self.limits.max_depth}")
        self.containers += 1
        if self.containers > self.limits.max_containers:
            raise CheckpointFormatError(f"more than max_containers={self.limits.max_containers} container "
                                        f"visits (reached at {format_path(path)}; memo-shared containers count "
                                        "at every visit)")
        self.on_path.add(id(container))

    def _spend_values(self, count: int, path: tuple) -> None:
        self.values += count
        if self.values > self.limits.max_values:
            raise CheckpointFormatError(f"more than max_values={self.limits.max_values} values visited (reached "
                                        f"at {format_path(path)}; memo-shared values count at every visit)")

    def _decode_array(self, record: tuple, path: tuple) -> np.ndarray:
        """An owned, writable, C-contiguous, native-order array from a checked record."""
        where = f"{format_path(path)} (an array record)"
        if len(record) != 4:
            raise CheckpointFormatError(f"{where} must be ({ARRAY_TAG!r}, dtype, shape, data), "
                                        f"got a tuple of {len(record)} items")
        _, dtype_str, shape, data = record
        if type(dtype_str) is not str or dtype_str not in DTYPES:
            raise CheckpointFormatError(f"{where} has dtype {_show(dtype_str)}; it must be one of {list(DTYPES)}")
        dtype = np.dtype(dtype_str)
        _check_shape(shape, dtype.itemsize, where)
        if type(data) is not bytes:
            raise CheckpointFormatError(f"{where} must hold its data as bytes, got {_show(data)}")
        expected = math.prod(shape) * dtype.itemsize
        if len(data) != expected:
            raise CheckpointFormatError(f"{where} of shape {shape} and dtype {dtype_str} needs {expected} bytes "
                                        f"of data, got {len(data)}")
        self.array_bytes += len(data)
        if self.array_bytes > self.limits.max_array_bytes:
            raise CheckpointFormatError(f"more than max_array_bytes={self.limits.max_array_bytes} bytes of array "
                                        f"data decoded (reached at {where}; memo-shared data counts at every use)")
        return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), order="C")


def _checked_keys(mapping: dict, path: tuple) -> list:
    keys = list(mapping)
    for key in keys:
        if type(key) is not str:
            raise CheckpointFormatError(f"{format_path(path)} has the key {_show(key)} (type "
                                        f"{type(key).__name__}): dict keys must be str")
    return keys


def _check_shape(shape, itemsize: int, where: str) -> None:
    """A tuple of at most 64 ints in [0, 2**63), not bools, whose array size fits in an int64."""
    if type(shape) is not tuple or len(shape) > MAX_NDIM:
        raise CheckpointFormatError(f"{where} must have a shape that is a tuple of at most {MAX_NDIM} ints, "
                                    f"got {_show(shape)}")
    for n in shape:
        if type(n) is not int or not 0 <= n < _MAX_SIZE:
            raise CheckpointFormatError(f"{where} has the shape entry {_show(n)}; each must be an int "
                                        f"0 <= n < 2**63 (not a bool)")
    if math.prod(max(n, 1) for n in shape) * itemsize >= min(_MAX_SIZE, sys.maxsize + 1):
        raise CheckpointFormatError(f"{where} has the shape {shape}, too big for an array")
