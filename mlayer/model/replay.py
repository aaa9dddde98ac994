"""Replay a pickle's opcodes on inert stubs (stubs.py), as joblib's unpickler would read them.

The scan (mlayer.model.pickles) needs the exact opcodes joblib.load would run, which in a joblib file
depends on how many array bytes each NumpyArrayWrapper's BUILD consumes. So this replays the
stream with the pure-Python unpickler joblib extends, but every global is a stub class judged by
mlayer.model.trust, every call only builds another stub, and each wrapper's bytes are skipped with the
item size numpy computes from the same dtype arguments. Whatever could make joblib read a
different count than the replay (a wrapper made otherwise than joblib writes it, or passed to a
call; a shape or dtype built from objects; an object array's nested pickle whose frame outlives
its STOP) raises Refusal, and so do INST, OBJ, EXT1/2/4, PERSID/BINPERSID and STACK_GLOBAL names
computed at load time.
"""

from __future__ import annotations

import pickle

from mlayer.errors import ModelError
from mlayer.model import call_guard, trust
from mlayer.model.stubs import (
    ArrayStub,
    Refusal,
    Stub,
    dtype_built,
    dtype_made,
    is_stub_class,
    real_dtype,
    tainted,
)

# What joblib writes in a wrapper's state; any other key could replace its methods (read, ...)
_WRAPPER_KEYS = {"subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes"}


class Walker(pickle._Unpickler):  # the pure-Python unpickler joblib itself extends
    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, fh, scan: State, joblib_mode: bool) -> None:
        super().__init__(fh)
        self._fh, self._scan, self._joblib = fh, scan, joblib_mode
        self._size: int | None = None  # the stream's length, once an array needs it

    def find_class(self, module: str, name: str):
        if self.proto < 3 and self.fix_imports:  # the mapping the real unpickler applies
            from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING

            if (module, name) in NAME_MAPPING:
                module, name = NAME_MAPPING[(module, name)]
            elif module in IMPORT_MAPPING:
                module = IMPORT_MAPPING[module]
        return self._scan.stub_class(module, name)

    def _refuse(self, what: str):
        raise Refusal(what)

    def load_stack_global(self) -> None:
        name, module = self.stack.pop(), self.stack.pop()
        if type(name) is not str or type(module) is not str:
            raise Refusal("STACK_GLOBAL with a name computed while loading")
        self.append(self.find_class(module, name))

    def _check_call(self, func, args, kwargs=None) -> None:
        if not is_stub_class(func):
            raise Refusal("a call of an object built inside the pickle, not of a named global")
        if func.verdict.kind == trust.REF:
            raise Refusal(f"a call of {func.qualname}, which may only be referenced")
        if not isinstance(args, (tuple, list)) or not isinstance(kwargs or {}, dict):
            raise Refusal("a call whose arguments are not a tuple")
        given = trust.CALLS_GIVEN.get(func.qualname)
        if given and not all(is_stub_class(a) and a.qualname == given for a in args[1:]):
            raise Refusal(f"{func.qualname} given a callable other than {given}")
        if func.qualname == "builtins.type" and len(args) != 1:
            raise Refusal("builtins.type called to make a class")
        if func.qualname == trust.WRAPPER and (args or kwargs):
            raise Refusal("a NumpyArrayWrapper made otherwise than joblib writes it")
        wrapper_ctor = func.qualname == "copyreg._reconstructor" and args[:1]
        if wrapper_ctor and is_stub_class(args[0]) and args[0].qualname == trust.WRAPPER:
            base = args[1] if len(args) == 3 else None
            if not (is_stub_class(base) and base.qualname == "builtins.object" and args[2] is None):
                raise Refusal("a NumpyArrayWrapper made otherwise than joblib writes it")
        elif (args or kwargs) and tainted((args, kwargs)):
            raise Refusal("joblib's array wrapper passed to a call")
        if args or kwargs:  # mlayer.model.call_guard: what the call would allocate (none: nothing)
            self._bound(func, args, kwargs)

    def _bound(self, func, args, kwargs) -> None:
        target, given = func, tuple(args)
        if func.qualname == "functools.partial" and given and is_stub_class(given[0]):
            target, given = given[0], given[1:]  # what the partial would call, when called
        why = call_guard.too_big(target.qualname, given, kwargs, self._scan.limit)
        if why:
            raise Refusal(why)

    def _check_class_call(self, func, args) -> None:
        """REDUCE runs a class's __init__ (copyreg._reconstructor: its base's): audited only."""
        if func.qualname == "copyreg._reconstructor" and len(args) > 1 and is_stub_class(args[1]):
            func = args[1]
        if func.verdict.via == "allowlist" and func.qualname not in trust.CONSTRUCTORS:
            problems = self._scan.call_problems  # judged once a scan per class (300 Trees)
            if func.qualname not in problems:
                problems[func.qualname] = call_guard.call_problem(func.qualname)
            why = problems[func.qualname]
            if why:
                raise Refusal(why)

    def load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        self._check_call(func, args)
        self._check_class_call(func, args)
        if func.qualname == "copyreg._reconstructor" and len(args) == 3 and is_stub_class(args[0]):
            obj = args[0].__new__(args[0])  # object.__new__(cls): no __init__, as copyreg does
            obj.canonical = True
        else:
            obj = func.__new__(func, *args)
            obj.called = True
            if func.qualname == "numpy.dtype":
                dtype_made(obj)
                big = obj.real is not None and call_guard.dtype_too_big(
                    obj.real.itemsize, self._scan.limit
                )
                if big:
                    raise Refusal(big)
        self.stack[-1] = obj

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self._check_call(cls, args)
        obj = cls.__new__(cls, *args)
        obj.canonical = not args
        self.append(obj)

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self._check_call(cls, args, kwargs)
        obj = cls.__new__(cls, *args, **kwargs)
        obj.canonical = not args and not kwargs
        self.append(obj)

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if not isinstance(inst, Stub):
            return  # BUILD on a value: the real unpickler would fail; nothing to learn
        inst.state = state
        inst.builds += 1
        if type(inst).qualname == "numpy.dtype":
            dtype_built(inst, state)
        if type(inst).qualname != trust.WRAPPER or not self._joblib:
            self._scan.built.append(inst)
            if self._scan.native is not None:  # mlayer.model.native_state: what native code indexes
                self._scan.native.on_build(inst, state)
            return
        if not inst.canonical:
            raise Refusal("a NumpyArrayWrapper made otherwise than joblib writes it")
        dicts = state if isinstance(state, tuple) and len(state) == 2 else (state, None)
        for part in dicts:
            if part and not (isinstance(part, dict) and set(part) <= _WRAPPER_KEYS):
                raise Refusal("a NumpyArrayWrapper with an unusual state")  # e.g. its own read
            inst.attrs.update(part or {})
        array = ArrayStub()  # joblib puts the array where the wrapper was
        array.layout = self._skip_array(inst.attrs)
        self.stack[-1] = array

    def _skip_array(self, attrs: dict) -> dict:
        """Consume the bytes joblib reads after a NumpyArrayWrapper, exactly as it reads them;
        return where they are (offset, dtype, shape, order), or an object array's pickle."""
        shape = attrs.get("shape")
        if not isinstance(shape, (tuple, list)) or not all(type(d) is int for d in shape):
            raise Refusal("an array wrapper with an unusual shape")
        dtype = real_dtype(attrs.get("dtype"))
        count = _int64_product(shape)
        layout = {"dtype": dtype, "shape": tuple(shape), "order": attrs.get("order")}
        if dtype.hasobject:  # joblib: pickle.load(file_handle), the stdlib unpickler
            layout["content"] = Walker(self._fh, self._scan, joblib_mode=False).load()
            return layout
        if attrs.get("numpy_array_alignment_bytes") is not None:
            padding = self._fh.read(1)
            self._fh.read(int.from_bytes(padding, "little"))
        if count < 0 or dtype.itemsize <= 0:
            raise Refusal("an array wrapper with a negative size")
        layout["offset"] = self._fh.tell()
        if self._size is None:  # measured once: seeking to the end drops a file's read buffer
            self._size = stream_size(self._fh)
        if self._size - layout["offset"] < count * dtype.itemsize:
            raise ModelError(
                "The file ends inside an array: it is truncated.", "Save the model again."
            )
        self._fh.seek(layout["offset"] + count * dtype.itemsize)  # as joblib reads past them
        return layout

    def load_stop(self) -> None:
        frame = self._unframer.current_frame
        if not self._joblib and frame is not None and frame.tell() != len(frame.getbuffer()):
            raise Refusal("an object array's pickle whose frame runs past its end")
        super().load_stop()

    dispatch[pickle.STACK_GLOBAL[0]] = load_stack_global
    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.STOP[0]] = load_stop
    for _op, _what in (
        (pickle.INST, "the INST opcode (Python 3 never writes it)"),
        (pickle.OBJ, "the OBJ opcode (Python 3 never writes it)"),
        (pickle.EXT1, "an EXT1 opcode (copyreg's extension registry)"),
        (pickle.EXT2, "an EXT2 opcode (copyreg's extension registry)"),
        (pickle.EXT4, "an EXT4 opcode (copyreg's extension registry)"),
        (pickle.PERSID, "a PERSID opcode (persistent ids)"),
        (pickle.BINPERSID, "a BINPERSID opcode (persistent ids)"),
    ):
        dispatch[_op[0]] = lambda self, _what=_what: self._refuse(_what)


class State:
    """One scan's findings, shared by the top pickle and the object arrays' nested ones."""

    def __init__(self, policy: trust.Policy) -> None:
        self.policy = policy
        self.classes: dict[str, type] = {}
        self.built: list[Stub] = []
        self.native = None  # mlayer.model.native_state.Checker, when the scan checks native states
        self.limit = call_guard.FLOOR  # bytes one call may allocate (mlayer.model.call_guard)
        self.call_problems: dict[str, str | None] = {}  # qualname -> call_guard.call_problem

    def stub_class(self, module: str, name: str) -> type:
        qualname = f"{module}.{name}"
        if qualname not in self.classes:
            verdict = self.policy.judge(module, name)
            self.classes[qualname] = type(
                "Global", (Stub,), {"qualname": qualname, "verdict": verdict}
            )
        return self.classes[qualname]

    def verdicts(self) -> list[trust.Verdict]:
        return [cls.verdict for cls in self.classes.values()]


def _int64_product(shape) -> int:
    """``numpy.multiply.reduce`` of the shape as int64, as joblib counts an array's items:
    each dimension must fit int64 (else OverflowError, as ``numpy.int64(d)`` raises), and the
    product wraps as int64 arithmetic does (the exact product mod 2**64, signed)."""
    product = 1
    for d in shape:
        if not -(2**63) <= d < 2**63:
            raise OverflowError(f"Python int {d} too large to convert to int64")
        product = (product * d + 2**63) % 2**64 - 2**63  # wrapped at each step, as numpy does
    return product


def stream_size(fh) -> int:
    """The length of a seekable stream, leaving its position where it was."""
    here = fh.tell()
    size = fh.seek(0, 2)
    fh.seek(here)
    return size
