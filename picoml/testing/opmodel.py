"""Build one-op IR graphs and check picoml against tflite-micro on them.

Per-op tests construct a tiny :class:`Graph` here, export it to ``.tflite`` with picoml's
exporter, run it in tflite-micro (reference kernels) and in picoml's interpreter, and demand
the same bits (float outputs: within 1e-5 relative).
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from picoml.interpreter import Interpreter
from picoml.ir import DType, Graph, Op, QuantParams, Tensor


def tensor(name: str, shape: Sequence[int], dtype: DType, scale: Any = None, zero_point: Any = 0,
           axis: int = 0, data: Optional[np.ndarray] = None) -> Tensor:
    """A tensor; ``scale`` may be a float (per tensor) or a sequence (per channel on ``axis``)."""
    quant = None
    if scale is not None:
        s = np.atleast_1d(np.asarray(scale, np.float32))
        z = np.broadcast_to(np.asarray(zero_point, np.int64), s.shape).copy()
        quant = QuantParams(s, z, axis)
    if data is not None:
        data = np.asarray(data, dtype.numpy).reshape(tuple(shape))
    return Tensor(name, tuple(shape), dtype, data=data, quant=quant)


def single_op_graph(op_type: str, inputs: Sequence[Optional[Tensor]], outputs: Sequence[Tensor],
                    attrs: Optional[dict] = None, version: int = 1) -> Graph:
    """A graph holding one op; its inputs are the op's non-constant inputs."""
    tensors = {t.name: t for t in [*inputs, *outputs] if t is not None}
    op = Op(op_type, [None if t is None else t.name for t in inputs], [t.name for t in outputs],
            dict(attrs or {}), version=version)
    graph_inputs = [t.name for t in inputs if t is not None and not t.is_const]
    return Graph(tensors, [op], graph_inputs, [t.name for t in outputs]).validate()


def random_input(t: Tensor, rng: np.random.Generator) -> np.ndarray:
    if t.dtype is DType.FLOAT32:
        return rng.standard_normal(t.shape).astype(np.float32)
    info = np.iinfo(t.dtype.numpy)
    return rng.integers(info.min, info.max, size=t.shape, endpoint=True).astype(t.dtype.numpy)


def compare_with_tflm(graph: Graph, inputs: Sequence[np.ndarray], float_rtol: float = 1e-5) -> None:
    """Assert picoml's interpreter gives tflite-micro's outputs for ``graph`` on ``inputs``."""
    from picoml.exporters.tflite import export_tflite
    from picoml.testing.peers import run_tflm

    expected = run_tflm(export_tflite(graph), inputs)
    got = Interpreter(graph).run(inputs)
    assert_same(got, expected, float_rtol)


def assert_same(got: Sequence[np.ndarray], expected: Sequence[np.ndarray], float_rtol: float = 1e-5) -> None:
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        e = np.asarray(e).reshape(g.shape) if np.asarray(e).size == g.size else np.asarray(e)
        assert g.dtype == e.dtype, f"output {i}: dtype {g.dtype} vs {e.dtype}"
        assert g.shape == e.shape, f"output {i}: shape {g.shape} vs {e.shape}"
        if g.dtype.kind == "f":
            np.testing.assert_allclose(g, e, rtol=float_rtol, atol=1e-6, err_msg=f"output {i}")
        else:
            diff = np.flatnonzero(g.astype(np.int64) != e.astype(np.int64))
            assert diff.size == 0, (f"output {i}: {diff.size} of {g.size} elements differ, first at "
                                    f"{diff[:5].tolist()}: picoml {g.ravel()[diff[:5]].tolist()} vs "
                                    f"tflm {e.ravel()[diff[:5]].tolist()}")


def compare_host_with_reference(graph: Graph, inputs_list: Sequence[Sequence[np.ndarray]],
                                float_rtol: float = 1e-5) -> None:
    """Assert the generated C (host build) gives the reference interpreter's outputs on every
    input set: integer outputs bit for bit, float outputs within ``float_rtol``."""
    from picoml.targets.host import compile_host

    interp = Interpreter(graph)
    host = compile_host(graph)
    for inputs in inputs_list:
        assert_same(host.run(inputs), interp.run(inputs), float_rtol)


def check_integer_build_has_no_float(graph: Graph, inputs: Sequence[np.ndarray]) -> None:
    """Compile ``graph`` (integer ops only) with x86 gcc's ``-mgeneral-regs-only``, which fails
    on any floating-point use, check the project holds no ``_f32`` kernel file, and that the
    build still gives the reference interpreter's bits on ``inputs``."""
    from picoml.codegen import generate
    from picoml.targets.host import HostModel

    project = generate(graph)
    assert not any(n.endswith("_f32.c") for n in project.files)
    host = HostModel(graph, project, extra_flags=["-mgeneral-regs-only"])
    assert_same(host.run(inputs), Interpreter(graph).run(inputs))
