"""The C kernel table: how each IR op becomes one call into the C kernel library.

An entry is a function ``emit(ctx: OpContext) -> str`` registered with :func:`c_op` for an op
type. It reads the op's prepared params (the same dict the NumPy kernel uses, so the two cannot
disagree), declares what it needs through ``ctx`` (const arrays in flash, a const parameter
struct, the library files), and returns the C statement(s) that run the op. Entries that cannot
handle a type combination raise :class:`picoml.errors.UnsupportedError` naming it.

Optimised kernels form a second, explicit table (:func:`c_opt_op`): ``(isa, op type) -> emit``,
where ``emit`` returns None when its kernel does not apply to the op (another dtype, a shape or
a quantization it does not handle); the portable call is then the only one. The emitter puts
both calls under ``#if`` (see :mod:`picoml.codegen.emitter`).
"""
from __future__ import annotations

from typing import Callable, Optional

from picoml.errors import UnsupportedError

EmitFn = Callable[["OpContext"], str]  # noqa: F821 - defined in picoml.codegen.emitter
OptEmitFn = Callable[["OpContext"], Optional[str]]  # noqa: F821
C_OPS: dict[str, EmitFn] = {}
OPT_OPS: dict[tuple[str, str], OptEmitFn] = {}


def c_op(*op_types: str) -> Callable[[EmitFn], EmitFn]:
    def deco(fn: EmitFn) -> EmitFn:
        for t in op_types:
            C_OPS[t] = fn
        return fn

    return deco


def c_opt_op(isa: str, *op_types: str) -> Callable[[OptEmitFn], OptEmitFn]:
    """Register an optimised-kernel emitter for ``isa`` (a key of emitter.OPT_GUARDS)."""
    def deco(fn: OptEmitFn) -> OptEmitFn:
        for t in op_types:
            OPT_OPS[(isa, t)] = fn
        return fn

    return deco


def get_opt_ops(op_type: str) -> list[tuple[str, OptEmitFn]]:
    """The optimised emitters registered for ``op_type``, as (isa, emit)."""
    _load_all()
    return [(isa, fn) for (isa, t), fn in OPT_OPS.items() if t == op_type]


def get_c_op(op_type: str) -> EmitFn:
    _load_all()
    fn = C_OPS.get(op_type)
    if fn is None:
        raise UnsupportedError(f"no C kernel for {op_type} yet; C kernels exist for: {', '.join(sorted(C_OPS))}")
    return fn


def _load_all() -> None:
    import importlib
    import pkgutil

    from picoml.codegen import ops

    for m in pkgutil.iter_modules(ops.__path__):
        importlib.import_module(f"{ops.__name__}.{m.name}")
