"""ADD, SUB, MUL: picoml's kernels give tflite-micro's bits (floats included).

Real seanet int16 ADD/SUB models (with their upstream CSV inputs, also within +-1 of the
TFLite goldens), the int8 simple_add model, then generated one-op graphs sweeping broadcast
shapes (rank 0-6, size-1 dims), fused activations, dtypes, zero points at the extremes and
scales that make the fixed-point rescaling hit exact .5 ties.
"""
import glob
import itertools

import numpy as np
import pytest

import picoml
from picoml.errors import GraphError
from picoml.exporters.tflite import export_tflite
from picoml.interpreter import Interpreter
from picoml.ir import DType
from picoml.testing.opmodel import assert_same, random_input, single_op_graph, tensor
from picoml.testing.peers import run_tflm
from picoml.testing.real import real_dir

I8, I16, I32, F32 = DType.INT8, DType.INT16, DType.INT32, DType.FLOAT32
ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]


def run_tflm_0d(model, inputs):
    """tflite-micro on inputs that may be rank 0 (``peers.run_tflm`` passes them through
    ``np.ascontiguousarray``, which makes them 1-D and the runtime refuses them)."""
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(bytes(model), arena_size=1 << 20)
    for i, x in enumerate(inputs):
        interp.set_input(np.asarray(x), i)
    interp.invoke()
    return [np.array(interp.get_output(0))]


def load_csv(path, dtype):
    return np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=1).astype(dtype)


def check_seanet(path):
    """Upstream inputs: identical to tflite-micro and within 1 of the TFLite golden."""
    g = picoml.load_tflite(path)
    stem = str(path)[: -len(".tflite")]
    inputs = [load_csv(f"{stem}_input{i}_{t.dtype.value}.csv", t.dtype.numpy).reshape(t.shape)
              for i, t in enumerate(g.input_tensors)]
    out = g.output_tensors[0]
    golden = load_csv(f"{stem}_golden_{out.dtype.value}.csv", np.int64).reshape(out.shape)
    got = Interpreter(g).run(inputs)
    assert_same(got, run_tflm(path, inputs))
    assert np.abs(got[0].astype(np.int64) - golden).max() <= 1


def seanet_models(op):
    d = real_dir()
    return sorted(glob.glob(str(d / f"tflm/seanet/{op}/*.tflite"))) if d else []


def qtensor(name, shape, dtype, scale, zp):
    return tensor(name, shape, dtype) if dtype in (F32, I32) else tensor(name, shape, dtype, scale, zp)


def binary_graph(op, dtype, shape_a, shape_b, scales=(0.05, 0.07, 0.1), zps=(0, 0, 0), act="NONE",
                 shape_out=None, extra=None):
    out_shape = np.broadcast_shapes(tuple(shape_a), tuple(shape_b)) if shape_out is None else shape_out
    a = qtensor("a", shape_a, dtype, scales[0], zps[0])
    b = qtensor("b", shape_b, dtype, scales[1], zps[1])
    o = qtensor("o", out_shape, dtype, scales[2], zps[2])
    return single_op_graph(op, [a, b], [o], {"fused_activation_function": act, **(extra or {})})


def same_bits(graph, inputs):
    """compare_with_tflm, but float outputs must match bit for bit too (NaN equal to NaN)."""
    got = Interpreter(graph).run(inputs)
    runner = run_tflm_0d if any(np.ndim(x) == 0 for x in inputs) else run_tflm
    expected = runner(export_tflite(graph), inputs)
    assert_same(got, expected)
    np.testing.assert_array_equal(got[0], expected[0].reshape(got[0].shape))


def check(graph, rng, inputs=None, n=2):
    for _ in range(1 if inputs is not None else n):
        xs = inputs if inputs is not None else [random_input(t, rng) for t in graph.input_tensors]
        same_bits(graph, xs)


# -- real models ---------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["add", "sub"])
def test_seanet(real, op):
    paths = seanet_models(op)
    assert len(paths) == {"add": 17, "sub": 5}[op]
    for path in paths:
        check_seanet(path)


def test_simple_add_model(real, rng):
    path = real / "tflm/misc/simple_add_model.tflite"
    g = picoml.load_tflite(path)
    interp = Interpreter(g)
    for _ in range(5):
        inputs = [random_input(t, rng) for t in g.input_tensors]
        assert_same(interp.run(inputs), run_tflm(path, inputs))


# -- generated graphs ----------------------------------------------------------------------------
BROADCASTS = [
    ([7], [7]), ([1], [5]), ([5], [1]), ([3, 1], [1, 4]), ([2, 3, 4], [4]), ([4], [2, 3, 4]),
    ([1, 2, 5, 8], [8]), ([8], [1, 2, 5, 8]), ([2, 1, 3, 1], [1, 4, 1, 5]), ([1, 1, 1, 1], [2, 3, 1, 3]),
    ([2, 1, 3, 1, 2], [1, 2, 1, 3, 1]), ([3, 1, 1, 2, 1], [2, 2, 1]),
    ([2, 1, 2, 1, 3, 1], [1, 2, 1, 2, 1, 3]), ([1, 2, 3], [1, 2, 3]), ([1, 33], [31, 1]),
]


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
@pytest.mark.parametrize("dtype", [I8, I16, F32])
def test_broadcast_shapes(op, dtype, rng):
    for shape_a, shape_b in BROADCASTS:
        zps = (0, 0, 0) if dtype is I16 else (-3, 5, 2)
        check(binary_graph(op, dtype, shape_a, shape_b, zps=zps), rng)


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
@pytest.mark.parametrize("dtype", [I8, I16, F32])
def test_fused_activations(op, dtype, rng):
    # Output scales small enough that RELU6 / RELU_N1_TO_1 really clamp inside the type range.
    for act, scales in itertools.product(ACTS, [(0.05, 0.07, 0.02), (0.5, 0.25, 0.01), (1e-4, 3e-4, 4e-4)]):
        if op == "MUL":
            scales = (scales[0], scales[1], scales[0] * scales[1] * 3.7)
        zps = (0, 0, 0) if dtype is I16 else (10, -7, -20)
        check(binary_graph(op, dtype, [2, 3, 5], [3, 1], scales=scales, zps=zps, act=act), rng)


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
def test_int8_extreme_zero_points(op, rng):
    for zps in itertools.product([-128, 127, 0], repeat=3):
        check(binary_graph(op, I8, [4, 9], [9], scales=(0.02, 0.03, 0.04), zps=zps), rng, n=1)


@pytest.mark.parametrize("op", ["ADD", "SUB"])
def test_int16_nonzero_zero_points(op, rng):
    # The int16 path is the general one, so zero points are honoured (TFLM only DCHECKs zp == 0).
    for zps in [(100, -200, 5), (-32768, 32767, 0), (0, 0, -1000)]:
        check(binary_graph(op, I16, [3, 4], [4], zps=zps), rng)


def exhaustive_pairs(dtype):
    """Every int8 pair, or a dense int16 grid including the extremes."""
    if dtype is I8:
        v = np.arange(-128, 128)
    else:
        v = np.unique(np.concatenate([np.arange(-32768, 32768, 257), np.arange(-40, 41), [32767]]))
    a, b = np.meshgrid(v, v, indexing="ij")
    return a.astype(dtype.numpy), b.astype(dtype.numpy)


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
@pytest.mark.parametrize("dtype", [I8, I16])
def test_tie_scales(op, dtype):
    """Power-of-two scale ratios make the rounding divisions land exactly on .5."""
    a, b = exhaustive_pairs(dtype)
    for scales in [(1.0, 1.0, 2.0), (0.5, 0.25, 4.0), (2.0 ** -7, 2.0 ** -7, 2.0 ** -5), (0.25, 1.0, 8.0)]:
        if op == "MUL":
            scales = (scales[0], scales[1], scales[0] * scales[1] * scales[2] * (256 if dtype is I16 else 4))
        zps = (0, 0, 0) if dtype is I16 else (1, -1, 0)
        g = binary_graph(op, dtype, list(a.shape), list(b.shape), scales=scales, zps=zps)
        check(g, None, inputs=[a, b])


def test_add_int16_ignores_pot_scale_option(rng):
    for op in ["ADD", "SUB"]:
        g = binary_graph(op, I16, [2, 5], [5], extra={"pot_scale_int16": True})
        check(g, rng)


def test_mul_large_rescale(rng):
    # scale_1 * scale_2 / scale_out > 1: the multiplier shifts left first (and wraps like C).
    check(binary_graph("MUL", I8, [5, 7], [7], scales=(0.5, 0.7, 1e-4), zps=(3, -4, 5)), rng)
    check(binary_graph("MUL", I16, [5, 7], [7], scales=(0.5, 0.7, 1e-4)), rng)


def test_float_special_values():
    """Infinite results saturate to +-FLT_MAX (TFLM clamps even without an activation); NaN
    passes through."""
    x = np.array([0.0, -0.0, 1e38, -1e38, np.inf, -np.inf, 5.5, -6.5, 1e-45, np.nan, 3e38], np.float32)
    for op, act in itertools.product(["ADD", "SUB", "MUL"], ACTS):
        g = binary_graph(op, F32, [11], [11], act=act)
        check(g, None, inputs=[x, x[::-1].copy()])


def test_scalar_operand(rng):
    """A rank-0 input broadcasts against anything."""
    for op, dtype in itertools.product(["ADD", "SUB", "MUL"], [I8, F32]):
        check(binary_graph(op, dtype, [], [2, 3], zps=(0, 0, 0) if dtype is F32 else (4, -2, 1)), rng)


INT32_EDGES = np.array([2 ** 31 - 1, -2 ** 31, 5, -7, 100000, -3, 0, 65536, 46341, -46341, 1, -1], np.int32)


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
def test_int32_wraps_and_clamps(op, rng):
    """Unquantized int32 wraps like C; TFLM applies the activation to SUB and MUL, not ADD."""
    b = np.roll(INT32_EDGES, 3)
    for act in ACTS:
        check(binary_graph(op, I32, [12], [12], act=act), None, inputs=[INT32_EDGES, b])
        check(binary_graph(op, I32, [2, 1, 6], [3, 1], act=act), rng)
        g = binary_graph(op, I32, [3, 4], [4], act=act)
        small = [rng.integers(-9, 10, t.shape).astype(np.int32) for t in g.input_tensors]
        check(g, None, inputs=small)


def test_int32_mul_ignores_quantization(rng):
    a, b, o = (tensor(n, [6], I32, 0.5, 3) for n in "abo")
    check(single_op_graph("MUL", [a, b], [o], {"fused_activation_function": "NONE"}), rng)


def test_output_rank_differs_by_leading_ones(rng):
    """TFLM compares extended shapes, so [2, 3] + [2, 3] may be written to [1, 2, 3] (and back)."""
    for op, dtype in itertools.product(["ADD", "SUB", "MUL"], [I8, F32]):
        check(binary_graph(op, dtype, [2, 3], [2, 3], shape_out=(1, 2, 3)), rng)
        check(binary_graph(op, dtype, [1, 1, 2, 3], [3], shape_out=(2, 3)), rng)


def test_macs():
    g = binary_graph("ADD", I8, [2, 3, 4], [4])
    assert Interpreter(g).macs == 24
    assert Interpreter(binary_graph("MUL", F32, [3, 1], [1, 5])).macs == 15


# -- rejected graphs -----------------------------------------------------------------------------
def prepare(graph):
    return Interpreter(graph)


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
def test_rejects_inconsistent_graphs(op):
    cases = {
        "mixed dtypes": single_op_graph(op, [tensor("a", [4], I8, 0.1), tensor("b", [4], I16, 0.1)],
                                        [tensor("o", [4], I8, 0.1)]),
        "not broadcastable": binary_graph(op, I8, [3], [4], shape_out=(4,)),
        "wrong output shape": binary_graph(op, I8, [2, 3], [3], shape_out=(3, 3)),
        "missing quantization": single_op_graph(op, [tensor("a", [4], I8), tensor("b", [4], I8, 0.1)],
                                                [tensor("o", [4], I8, 0.1)]),
        "per-channel": single_op_graph(op, [tensor("a", [2, 2], I8, [0.1, 0.2], axis=1),
                                            tensor("b", [2, 2], I8, 0.1)], [tensor("o", [2, 2], I8, 0.1)]),
        "tanh activation": binary_graph(op, I8, [4], [4], act="TANH"),
        "unknown activation": binary_graph(op, F32, [4], [4], act="BAD"),
        "rank 7": binary_graph(op, F32, [1] * 7, [1] * 7),
        "uint8": single_op_graph(op, [tensor("a", [4], DType.UINT8, 0.1), tensor("b", [4], DType.UINT8, 0.1)],
                                 [tensor("o", [4], DType.UINT8, 0.1)]),
        "zero scale": binary_graph(op, I8, [4], [4], scales=(0.0, 0.1, 0.1)),
        "zero point out of range": binary_graph(op, I8, [4], [4], zps=(200, 0, 0)),
        "one input": single_op_graph(op, [tensor("a", [4], F32)], [tensor("o", [4], F32)]),
    }
    for what, g in cases.items():
        with pytest.raises(GraphError):
            prepare(g)
            pytest.fail(f"accepted {what}")


def test_rejects_out_of_range_rescales():
    # ADD/SUB: 2 * max_in / (2**left_shift * out) must stay below 1 (TFLM aborts otherwise).
    for op in ["ADD", "SUB"]:
        with pytest.raises(GraphError, match="rescale"):
            prepare(binary_graph(op, I8, [4], [4], scales=(1.0, 1.0, 1e-7)))
    with pytest.raises(GraphError, match="zero points 0"):
        prepare(binary_graph("MUL", I16, [4], [4], zps=(1, 0, 0)))
    with pytest.raises(GraphError, match="too large"):
        prepare(binary_graph("MUL", I8, [4], [4], scales=(3e30, 3e30, 1e-30)))
    for op in ["ADD", "SUB"]:  # TFLM refuses quantized int32 ADD/SUB
        a, b, o = (tensor(n, [4], I32, 0.5, 0) for n in "abo")
        with pytest.raises(GraphError, match="unquantized"):
            prepare(single_op_graph(op, [a, b], [o]))
