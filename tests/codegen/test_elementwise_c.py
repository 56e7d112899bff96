"""ADD, SUB, MUL in C: the host build gives the reference interpreter's bits.

The same grid as tests/kernels/test_elementwise.py (broadcast shapes of rank 0-6, fused
activations, zero points at the extremes, tie-making scales, int32 wrap, float inf/NaN), with
many cases compiled as one graph to keep the compiler runs few. Float outputs must match bit
for bit too (one IEEE operation per element, so C and NumPy round the same way). Also: in-place
outputs chosen by the memory planner, an int8 project built without floating-point registers,
and strict gcc/clang builds.
"""
import dataclasses
import itertools
import os
import platform
import shutil
import subprocess

import numpy as np
import pytest

from picoml.codegen import generate
from picoml.interpreter import Interpreter
from picoml.ir import DType, Graph, Op
from picoml.plan import plan_graph
from picoml.targets.host import HostModel, compile_host, compiler
from picoml.testing.opmodel import random_input, single_op_graph, tensor

I8, I16, I32, F32 = DType.INT8, DType.INT16, DType.INT32, DType.FLOAT32
ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
OPS = ["ADD", "SUB", "MUL"]
STRICT = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]


# -- helpers (also used by test_quantize_c and test_leaky_relu_c) --------------------------------
def merge(graphs):
    """One graph running the given single-op graphs side by side: one compile for many cases."""
    tensors, ops, inputs, outputs = {}, [], [], []
    for k, g in enumerate(graphs):
        ren = {n: f"g{k}_{n}" for n in g.tensors}
        tensors.update({ren[n]: dataclasses.replace(t, name=ren[n]) for n, t in g.tensors.items()})
        ops += [Op(op.type, [None if n is None else ren[n] for n in op.inputs], [ren[n] for n in op.outputs],
                   dict(op.attrs), op.version) for op in g.ops]
        inputs += [ren[n] for n in g.inputs]
        outputs += [ren[n] for n in g.outputs]
    return Graph(tensors, ops, inputs, outputs).validate()


def assert_bits(got, expected, what):
    """Identical bits (floats too; NaN matches NaN, -0.0 must stay -0.0)."""
    assert got.dtype == expected.dtype and got.shape == expected.shape, what
    if got.dtype.kind == "f":
        nan = np.isnan(expected)
        assert np.array_equal(np.isnan(got), nan), f"{what}: NaN positions differ"
        g, e = got[~nan], expected[~nan]
        bad = np.flatnonzero(g.view(np.uint32) != e.view(np.uint32))
    else:
        g, e = got.ravel(), expected.ravel()
        bad = np.flatnonzero(g != e)
    assert bad.size == 0, (f"{what}: {bad.size} of {g.size} differ, first at {bad[:5].tolist()}: "
                           f"C {g.ravel()[bad[:5]].tolist()} vs reference {e.ravel()[bad[:5]].tolist()}")


def check_c(cases, rng=None, runs=1, **options):
    """Compile the cases, each ``(graph, inputs)`` with ``inputs`` None for random ones, as one
    graph (``generate(graph, **options)``) and demand the reference's bits, for ``runs`` input
    sets. Returns the project."""
    g = merge([c[0] for c in cases])
    project = generate(g, **options)
    host, ref = HostModel(g, project), Interpreter(g)
    for _ in range(runs):
        inputs = []
        for sub, xs in cases:
            inputs += [random_input(t, rng) for t in sub.input_tensors] if xs is None else list(xs)
        for i, (got, exp) in enumerate(zip(host.run(inputs), ref.run(inputs))):
            assert_bits(got, exp, f"case {i} ({g.ops[i].type} {g.ops[i].attrs})")
    return project


def gcc_x86():
    """True when the host compiler is gcc on x86-64 (where -mgeneral-regs-only exists)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return False
    r = subprocess.run([compiler(), "--version"], capture_output=True, text=True)
    return r.returncode == 0 and ("gcc" in r.stdout.lower() or "free software foundation" in r.stdout.lower())


def check_general_regs_only(graph, inputs):
    """Build ``graph`` with -mgeneral-regs-only (any float use fails to compile) and compare."""
    if not gcc_x86():
        pytest.skip("-mgeneral-regs-only needs gcc on x86-64")
    project = generate(graph)
    assert not [n for n in project.files if n.endswith("_f32.c") or n.endswith("_f32.h")]
    host = HostModel(graph, project, extra_flags=["-mgeneral-regs-only"])
    for i, (got, exp) in enumerate(zip(host.run(inputs), Interpreter(graph).run(inputs))):
        assert_bits(got, exp, f"output {i}")


def strict_builds(graph, tmp_path):
    """The project compiles warning-free with gcc and clang in strict C99."""
    out = generate(graph).write(tmp_path / "p")
    srcs = sorted(str(p) for p in out.glob("*.c"))
    built = 0
    for cc in ("gcc", "clang"):
        if shutil.which(cc) is None:
            continue
        r = subprocess.run([cc, *STRICT, "-o", str(out / f"main_{cc}"), *srcs, "-lm"], capture_output=True,
                           text=True)
        assert r.returncode == 0, f"{cc}:\n{r.stderr}"
        built += 1
    if not built:
        pytest.skip("neither gcc nor clang is installed")


def sanitized_run(graph, inputs, out_dir):
    """Run the project's example program built with ASan and UBSan (float-to-int overflow
    included) on ``inputs``: no undefined behaviour, and still the reference's bits."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    out = generate(graph).write(out_dir)
    exe = out / "model_main"
    flags = ["-std=c99", "-O1", "-g", "-fsanitize=address,undefined,float-cast-overflow",
             "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
    r = subprocess.run(["gcc", *flags, "-o", str(exe), *sorted(str(p) for p in out.glob("*.c")), "-lm"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (out / "in.bin").write_bytes(b"".join(np.ascontiguousarray(x).tobytes() for x in inputs))
    r = subprocess.run([str(exe), str(out / "in.bin"), str(out / "out.bin")], capture_output=True, text=True,
                       env={**os.environ, "ASAN_OPTIONS": "detect_leaks=0"})
    assert r.returncode == 0 and "runtime error" not in r.stderr, r.stderr[-3000:]
    raw = (out / "out.bin").read_bytes()
    for i, (t, exp) in enumerate(zip(graph.output_tensors, Interpreter(graph).run(inputs))):
        assert_bits(np.frombuffer(raw[:t.nbytes], t.dtype.numpy).reshape(t.storage_shape), exp, f"output {i}")
        raw = raw[t.nbytes:]
    assert not raw


# -- graphs --------------------------------------------------------------------------------------
def qtensor(name, shape, dtype, scale, zp, data=None):
    if dtype in (F32, I32):
        return tensor(name, shape, dtype, data=data)
    return tensor(name, shape, dtype, scale, zp, data=data)


def binary_graph(op, dtype, shape_a, shape_b, scales=(0.05, 0.07, 0.1), zps=(0, 0, 0), act="NONE",
                 shape_out=None, const_b=None):
    out_shape = np.broadcast_shapes(tuple(shape_a), tuple(shape_b)) if shape_out is None else shape_out
    a = qtensor("a", shape_a, dtype, scales[0], zps[0])
    b = qtensor("b", shape_b, dtype, scales[1], zps[1], data=const_b)
    o = qtensor("o", out_shape, dtype, scales[2], zps[2])
    return single_op_graph(op, [a, b], [o], {"fused_activation_function": act})


BROADCASTS = [
    ([7], [7]), ([1], [5]), ([5], [1]), ([3, 1], [1, 4]), ([2, 3, 4], [4]), ([4], [2, 3, 4]),
    ([1, 2, 5, 8], [8]), ([8], [1, 2, 5, 8]), ([2, 1, 3, 1], [1, 4, 1, 5]), ([1, 1, 1, 1], [2, 3, 1, 3]),
    ([2, 1, 3, 1, 2], [1, 2, 1, 3, 1]), ([3, 1, 1, 2, 1], [2, 2, 1]),
    ([2, 1, 2, 1, 3, 1], [1, 2, 1, 2, 1, 3]), ([1, 2, 3], [1, 2, 3]), ([1, 33], [31, 1]),
    ([], [2, 3]), ([2, 3], []), ([], []), ([1], [1]), ([1, 1, 2, 3], [2, 1, 1]),
]


def default_zps(dtype):
    return (0, 0, 0) if dtype is I16 else (-3, 5, 2)


@pytest.mark.parametrize("op", OPS)
def test_broadcast_shapes(op, rng):
    cases = [(binary_graph(op, dtype, a, b, zps=default_zps(dtype)), None)
             for dtype in (I8, I16, I32, F32) for a, b in BROADCASTS]
    check_c(cases, rng, runs=2)


@pytest.mark.parametrize("op", OPS)
def test_fused_activations(op, rng):
    cases = []
    for dtype, act, scales in itertools.product((I8, I16, I32, F32), ACTS,
                                                [(0.05, 0.07, 0.02), (0.5, 0.25, 0.01), (1e-4, 3e-4, 4e-4)]):
        if op == "MUL":
            scales = (scales[0], scales[1], scales[0] * scales[1] * 3.7)
        zps = (0, 0, 0) if dtype is I16 else (10, -7, -20)
        g = binary_graph(op, dtype, [2, 3, 5], [3, 1], scales=scales, zps=zps, act=act)
        xs = None
        if dtype is I32:  # small values, so RELU6 / RELU_N1_TO_1 clamp some and pass others
            xs = [rng.integers(-9, 10, t.shape).astype(np.int32) for t in g.input_tensors]
        cases.append((g, xs))
    check_c(cases, rng, runs=2)


def test_zero_points(rng):
    """int8 zero points at the extremes (every combination); int16 ADD/SUB honour theirs."""
    cases = [(binary_graph(op, I8, [4, 9], [9], scales=(0.02, 0.03, 0.04), zps=zps), None)
             for op in OPS for zps in itertools.product([-128, 127, 0], repeat=3)]
    cases += [(binary_graph(op, I16, [3, 4], [4], zps=zps), None)
              for op in ("ADD", "SUB") for zps in [(100, -200, 5), (-32768, 32767, 0), (0, 0, -1000)]]
    check_c(cases, rng, runs=2)


def exhaustive_pairs(dtype):
    """Every int8 pair, or a dense int16 grid including the extremes."""
    if dtype is I8:
        v = np.arange(-128, 128)
    else:
        v = np.unique(np.concatenate([np.arange(-32768, 32768, 509), np.arange(-40, 41), [32767]]))
    a, b = np.meshgrid(v, v, indexing="ij")
    return a.astype(dtype.numpy), b.astype(dtype.numpy)


@pytest.mark.parametrize("dtype", [I8, I16], ids=["int8", "int16"])
def test_tie_scales(dtype):
    """Power-of-two scale ratios make the rounding divisions land exactly on .5."""
    a, b = exhaustive_pairs(dtype)
    cases = []
    for op, scales in itertools.product(OPS, [(1.0, 1.0, 2.0), (0.5, 0.25, 4.0), (2.0 ** -7, 2.0 ** -7, 2.0 ** -5),
                                              (0.25, 1.0, 8.0)]):
        if op == "MUL":
            scales = (scales[0], scales[1], scales[0] * scales[1] * scales[2] * (256 if dtype is I16 else 4))
        zps = (0, 0, 0) if dtype is I16 else (1, -1, 0)
        cases.append((binary_graph(op, dtype, list(a.shape), list(b.shape), scales=scales, zps=zps), [a, b]))
    check_c(cases)


INT32_EDGES = np.array([2 ** 31 - 1, -2 ** 31, 5, -7, 100000, -3, 0, 65536, 46341, -46341, 1, -1], np.int32)
FLOAT_SPECIALS = np.array([0.0, -0.0, 1e38, -1e38, np.inf, -np.inf, 5.5, -6.5, 1e-45, np.nan, 3e38, -0.0],
                          np.float32)


def test_special_values(rng):
    """int32 wraps like C (activation on SUB and MUL only); float infinities saturate to
    +-FLT_MAX and NaN passes; large MUL rescales shift left first; rank-0 operands; outputs
    whose rank differs by leading 1s; a constant (flash) operand."""
    cases = []
    for op, act in itertools.product(OPS, ACTS):
        cases.append((binary_graph(op, I32, [12], [12], act=act), [INT32_EDGES, np.roll(INT32_EDGES, 3)]))
        cases.append((binary_graph(op, F32, [12], [12], act=act), [FLOAT_SPECIALS, FLOAT_SPECIALS[::-1].copy()]))
        cases.append((binary_graph(op, F32, [12], [], act=act), [FLOAT_SPECIALS, np.array(np.inf, np.float32)]))
    cases.append((binary_graph("MUL", I8, [5, 7], [7], scales=(0.5, 0.7, 1e-4), zps=(3, -4, 5)), None))
    cases.append((binary_graph("MUL", I16, [5, 7], [7], scales=(0.5, 0.7, 1e-4)), None))
    for op, dtype in itertools.product(OPS, (I8, I16, I32, F32)):
        zps = default_zps(dtype)
        cases.append((binary_graph(op, dtype, [], [2, 3], zps=zps), None))
        cases.append((binary_graph(op, dtype, [2, 3], [2, 3], zps=zps, shape_out=(1, 2, 3)), None))
        cases.append((binary_graph(op, dtype, [1, 1, 2, 3], [3], zps=zps, shape_out=(2, 3)), None))
        const = random_input(tensor("c", [1, 5], dtype), rng)
        cases.append((binary_graph(op, dtype, [3, 4, 5], [1, 5], zps=zps, const_b=const), None))
    check_c(cases, rng, runs=2)


def test_in_place_chains(rng):
    """The planner lets each op's output overwrite its same-shape operand; the C reads every
    element before writing it, whichever operand (first or second) is overwritten."""
    for dtype in (I8, I16, I32, F32):
        x, y = qtensor("x", [2, 3, 4], dtype, 0.05, 0), qtensor("y", [2, 3, 4], dtype, 0.07, 0)
        v, w = qtensor("v", [4], dtype, 0.03, 0), qtensor("w", [3, 1], dtype, 0.09, 0)
        t1 = qtensor("t1", [2, 3, 4], dtype, 0.1, 0)
        t2 = qtensor("t2", [2, 3, 4], dtype, 0.2, 0)
        t3 = qtensor("t3", [2, 3, 4], dtype, 0.3, 0)
        out = qtensor("out", [2, 3, 4], dtype, 0.4, 0)
        none = {"fused_activation_function": "NONE"}
        ops = [Op("ADD", ["x", "y"], ["t1"], none),   # x is a graph input that dies here
               Op("MUL", ["v", "t1"], ["t2"], none),  # second operand overwritten, first broadcast
               Op("SUB", ["t2", "w"], ["t3"], none),  # first operand overwritten, second broadcast
               Op("ADD", ["t3", "y"], ["out"], none)]
        g = Graph({t.name: t for t in (x, y, v, w, t1, t2, t3, out)}, ops, ["x", "y", "v", "w"], ["out"]).validate()
        plan = plan_graph(g)
        assert plan.in_place.get(1) == ("t1", "t2") and plan.in_place.get(2) == ("t2", "t3"), plan.in_place
        assert plan.offsets["t1"] == plan.offsets["t2"] == plan.offsets["t3"]
        host, ref = compile_host(g), Interpreter(g)
        for _ in range(3):
            inputs = [random_input(t, rng) for t in g.input_tensors]
            if dtype is I32:
                inputs = [(x % 1000).astype(np.int32) for x in inputs]
            assert_bits(host.run(inputs)[0], ref.run(inputs)[0], f"{dtype.value} chain")


def integer_graph():
    """Every integer ADD/SUB/MUL variant in one graph."""
    graphs = [binary_graph(op, dtype, [2, 3, 4], [4], zps=default_zps(dtype))
              for op, dtype in itertools.product(OPS, (I8, I16, I32))]
    return merge(graphs)


def test_int_kernels_build_without_float_registers(rng):
    g = integer_graph()
    check_general_regs_only(g, [random_input(t, rng) for t in g.input_tensors])


def test_strict_builds_and_sanitizers(tmp_path):
    """Warning-free under gcc and clang; no undefined behaviour on extreme values (int32 wrap,
    every int8 pair at extreme zero points, float inf/NaN), broadcasting included."""
    graphs, inputs = [], []
    for op in OPS:
        graphs.append(binary_graph(op, I32, [12], [12], act="RELU"))
        inputs += [INT32_EDGES, np.roll(INT32_EDGES, 5)]
        graphs.append(binary_graph(op, I32, [12, 1], [12]))
        inputs += [INT32_EDGES.reshape(12, 1), INT32_EDGES]
        graphs.append(binary_graph(op, F32, [12], [1, 12]))
        inputs += [FLOAT_SPECIALS, FLOAT_SPECIALS[None, ::-1].copy()]
        a, b = exhaustive_pairs(I8)
        graphs.append(binary_graph(op, I8, list(a.shape), list(b.shape), scales=(0.02, 0.03, 0.001),
                                   zps=(-128, 127, -128)))
        inputs += [a, b]
        a, b = exhaustive_pairs(I16)
        graphs.append(binary_graph(op, I16, list(a.shape), list(b.shape), scales=(1.0, 0.5, 2.0 ** -14 * 1.001)
                                   if op != "MUL" else (1.0, 1.0, 1e-5)))
        inputs += [a, b]
    g = merge(graphs)
    strict_builds(g, tmp_path)
    sanitized_run(g, inputs, tmp_path / "san")
