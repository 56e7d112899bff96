"""LOGISTIC and TANH in C: the generated host build gives the NumPy reference's bits (float:
within 1e-5) on the grid of tests/kernels/test_activations.py (every int8 value over many input
quantizations, every int16 value over power-of-two and normalised scales, float extremes, the
real dtln LOGISTIC), in place after another op, and int8/int16 builds with no FPU registers.
Many cases share one graph (independent ops side by side) so each grid compiles once."""
import dataclasses

import numpy as np
import pytest

from picoml.codegen import generate
from picoml.frontends.tflite import load_tflite
from picoml.interpreter import Interpreter
from picoml.ir import DType, Graph, Op
from picoml.plan import plan_graph
from picoml.targets.host import HostModel
from picoml.testing.opmodel import assert_same, compare_host_with_reference, tensor

ALL_INT8 = np.arange(-128, 128, dtype=np.int8)
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)
INT8_OUT = {"LOGISTIC": (1.0 / 256, -128), "TANH": (1.0 / 128, 0)}
INT16_SCALES = [2.0 ** -12, 2.0 ** -11, 2.0 ** -10, 2.0 ** -13, 2.0 ** -12 * 1.0005, 0.0003, 1e-4,
                4.57763671875e-05, 0.001, 0.01, 0.3, 1e-7, 1e-12]


def parallel_graph(op_type, pairs, attrs=None):
    """One graph running ``op_type`` once per (input, output) tensor pair, side by side."""
    tensors, ops = {}, []
    for i, (x, y) in enumerate(pairs):
        x, y = dataclasses.replace(x, name=f"x{i}"), dataclasses.replace(y, name=f"y{i}")
        tensors.update({x.name: x, y.name: y})
        ops.append(Op(op_type, [x.name], [y.name], dict(attrs or {})))
    return Graph(tensors, ops, [f"x{i}" for i in range(len(pairs))],
                 [f"y{i}" for i in range(len(pairs))]).validate()


def int8_pair(op_type, shape, scale, zp):
    return (tensor("x", shape, DType.INT8, scale, zp), tensor("y", shape, DType.INT8, *INT8_OUT[op_type]))


def int16_pair(shape, scale):
    return tensor("x", shape, DType.INT16, scale, 0), tensor("y", shape, DType.INT16, 2.0 ** -15, 0)


# -- int8 ----------------------------------------------------------------------------------

@pytest.mark.parametrize("op_type", ["LOGISTIC", "TANH"])
def test_int8_every_value(op_type, rng):
    # the NumPy grid (11 scales x 5 zero points), the range edges (radius 0, tiny scales) and
    # 20 random quantizations: every int8 value through each
    quants = [(s, z) for s in [0.001, 0.0078125, 0.01, 0.0387753, 0.05, 0.1, 0.125, 0.3, 1.0, 3.0, 20.0]
              for z in [-128, -2, 0, 77, 127]]
    quants += [(s, 3) for s in [2.0 ** -28, 1e-8, 4.0, 16.0, 2.0 ** 30]]
    quants += [(float(s), int(rng.integers(-128, 128))) for s in rng.uniform(0.001, 0.5, size=20)]
    g = parallel_graph(op_type, [int8_pair(op_type, [2, 8, 16], s, z) for s, z in quants])
    x = ALL_INT8.reshape(2, 8, 16)
    compare_host_with_reference(g, [[x] * len(quants), [rng.permutation(x.ravel()).reshape(x.shape)] * len(quants)])


@pytest.mark.parametrize("op_type", ["LOGISTIC", "TANH"])
def test_int8_odd_shapes(op_type, rng):
    shapes = [[1], [7], [1, 33], [3, 1, 5], [1, 4, 4, 3]]
    g = parallel_graph(op_type, [int8_pair(op_type, s, 0.07, -5) for s in shapes])
    compare_host_with_reference(g, [[rng.integers(-128, 128, size=s).astype(np.int8) for s in shapes]
                                    for _ in range(3)])


# -- int16 ---------------------------------------------------------------------------------

@pytest.mark.parametrize("op_type", ["LOGISTIC", "TANH"])
def test_int16_every_value(op_type):
    # power-of-two scales (exact "3 << shift" path), normalised multipliers, the shift loop's end
    g = parallel_graph(op_type, [int16_pair([256, 256], s) for s in INT16_SCALES])
    compare_host_with_reference(g, [[ALL_INT16.reshape(256, 256)] * len(INT16_SCALES)])


@pytest.mark.parametrize("op_type", ["LOGISTIC", "TANH"])
def test_int16_random_scales(op_type, rng):
    scales = [float(s) for s in np.exp(rng.uniform(np.log(1e-6), np.log(2.0), size=12))]
    g = parallel_graph(op_type, [int16_pair([4, 1, 3, 7], s) for s in scales])
    compare_host_with_reference(g, [[rng.integers(-32768, 32768, size=(4, 1, 3, 7)).astype(np.int16)
                                     for _ in scales] for _ in range(3)])


# -- float ---------------------------------------------------------------------------------

FLOAT_SHAPES = [[1], [1, 33], [2, 3, 5], [1, 4, 4, 3]]
FLOAT_EXTREMES = np.array([-1000, -100, -88.8, -9.001, -9, -8.999, -1e-7, 0, 1e-7, 16.6, 16.619047, 16.62,
                           90, 1e30, -np.inf, np.inf], np.float32)


@pytest.mark.parametrize("op_type", ["LOGISTIC", "TANH"])
def test_float(op_type, rng):
    shapes = FLOAT_SHAPES + [[FLOAT_EXTREMES.size]]
    g = parallel_graph(op_type, [(tensor("x", s, DType.FLOAT32), tensor("y", s, DType.FLOAT32)) for s in shapes])
    random = [[(rng.standard_normal(s) * 6).astype(np.float32) for s in shapes] for _ in range(3)]
    for inputs in random:
        inputs[-1] = FLOAT_EXTREMES
    compare_host_with_reference(g, random)


# -- real model, in place, no FPU ----------------------------------------------------------

def test_dtln_logistic_in_isolation(real, rng):
    model = load_tflite(real / "tflm/dtln/dtln_noise_suppression.tflite")
    op = next(o for o in model.ops if o.type == "LOGISTIC")
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    g = parallel_graph("LOGISTIC", [(x, y)])
    compare_host_with_reference(g, [[np.resize(ALL_INT8, x.shape)],
                                    [rng.integers(-128, 128, size=x.shape).astype(np.int8)]])


def chain_graph(dtype):
    """x -> TANH -> LOGISTIC -> TANH -> y: the middle ops may run in place."""
    if dtype is DType.INT8:
        q = [(0.05, 3), (1 / 128, 0), (1 / 256, -128), (1 / 128, 0)]
    elif dtype is DType.INT16:
        q = [(2.0 ** -12, 0), (2.0 ** -15, 0), (2.0 ** -15, 0), (2.0 ** -15, 0)]
    else:
        q = [(None, 0)] * 4
    ts = [tensor(f"t{i}", [3, 17], dtype, *q[i]) for i in range(4)]
    ops = [Op(t, [ts[i].name], [ts[i + 1].name]) for i, t in enumerate(["TANH", "LOGISTIC", "TANH"])]
    return Graph({t.name: t for t in ts}, ops, ["t0"], ["t3"]).validate()


@pytest.mark.parametrize("dtype", [DType.INT8, DType.INT16, DType.FLOAT32])
def test_in_place_chain(dtype, rng):
    g = chain_graph(dtype)
    assert plan_graph(g).in_place, "the planner should run these ops in place"
    if dtype is DType.FLOAT32:
        inputs = [[(rng.standard_normal((3, 17)) * 5).astype(np.float32)] for _ in range(3)]
    else:
        info = np.iinfo(dtype.numpy)
        inputs = [[rng.integers(info.min, info.max, size=(3, 17), endpoint=True).astype(dtype.numpy)]
                  for _ in range(3)]
    compare_host_with_reference(g, inputs)


def integer_graph():
    """Every integer variant in one graph."""
    pairs = {"LOGISTIC": [int8_pair("LOGISTIC", [5], 0.1, 2), int16_pair([5], 0.001)],
             "TANH": [int8_pair("TANH", [5], 0.1, 2), int16_pair([5], 2.0 ** -11)]}
    tensors, ops = {}, []
    for op_type, ps in pairs.items():
        for x, y in ps:
            x = dataclasses.replace(x, name=f"{op_type}_{x.dtype.value}_x")
            y = dataclasses.replace(y, name=f"{op_type}_{y.dtype.value}_y")
            tensors.update({x.name: x, y.name: y})
            ops.append(Op(op_type, [x.name], [y.name]))
    return Graph(tensors, ops, [o.inputs[0] for o in ops], [o.outputs[0] for o in ops]).validate()


def test_integer_kernels_use_no_floating_point(rng):
    # x86 gcc rejects any float use under -mgeneral-regs-only
    g = integer_graph()
    project = generate(g)
    assert not any(n.endswith("_f32.c") for n in project.files)
    host = HostModel(g, project, extra_flags=["-mgeneral-regs-only"])
    inputs = [rng.integers(np.iinfo(t.dtype.numpy).min, np.iinfo(t.dtype.numpy).max, size=t.shape,
                           endpoint=True).astype(t.dtype.numpy) for t in g.input_tensors]
    assert_same(host.run(inputs), Interpreter(g).run(inputs))


def test_clang_builds_every_variant(monkeypatch, rng):
    import shutil

    if not shutil.which("clang"):
        pytest.skip("clang is not installed")
    monkeypatch.setenv("CC", "clang")
    g = integer_graph()
    inputs = [rng.integers(np.iinfo(t.dtype.numpy).min, np.iinfo(t.dtype.numpy).max, size=t.shape,
                           endpoint=True).astype(t.dtype.numpy) for t in g.input_tensors]
    compare_host_with_reference(g, [inputs])
    compare_host_with_reference(chain_graph(DType.FLOAT32), [[rng.standard_normal((3, 17)).astype(np.float32)]])
