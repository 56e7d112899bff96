"""RESHAPE, TRANSPOSE, CONCATENATION, PAD and STRIDED_SLICE against tflite-micro, bit for bit:
the seanet PAD / STRIDED_SLICE models with their upstream CSV data, the data-movement layers
of the other real models, and generated sweeps (also checked against NumPy's own slicing)."""
import itertools
import re

import numpy as np
import pytest

import picoml
from picoml.errors import GraphError
from picoml.exporters.tflite import export_tflite
from picoml.interpreter import Interpreter
from picoml.ir import DType
from picoml.testing.opmodel import random_input, single_op_graph, tensor

ARENA = 1 << 21  # the runtime's default (10x the model size) is too small for these models


def tflm_run(model, inputs, n_outputs):
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(bytes(model), arena_size=ARENA)
    for i, x in enumerate(inputs):
        it.set_input(np.ascontiguousarray(x), i)
    it.invoke()
    return [np.array(it.get_output(i)) for i in range(n_outputs)]


def check(graph, inputs):
    """picoml's outputs equal tflite-micro's, bit for bit; returns picoml's outputs."""
    expected = tflm_run(export_tflite(graph), inputs, len(graph.outputs))
    got = Interpreter(graph).run(inputs)
    for i, (g, e) in enumerate(zip(got, expected)):
        e = e.reshape(g.shape)
        assert g.dtype == e.dtype
        assert g.tobytes() == e.tobytes(), f"output {i}: picoml {g.ravel()[:8]} vs tflm {e.ravel()[:8]}"
    return got


def q(dtype, scale=0.05, zp=0):
    return {} if dtype in (DType.FLOAT32, DType.INT32) else {"scale": scale, "zero_point": zp}


def ints(name, values, dtype=DType.INT32):
    values = np.asarray(values)
    return tensor(name, values.shape, dtype, data=values)


# -- real models --------------------------------------------------------------------------------
def read_csv(path, dtype, shape):
    return np.array([int(v) for v in path.read_text().strip().split(",")], dtype).reshape(shape)


@pytest.mark.parametrize("family", ["pad", "strided_slice"])
def test_seanet_models(real, family):
    """Every seanet PAD / STRIDED_SLICE model on its CSV inputs: TFLM's bits, within +-1 of golden."""
    paths = sorted((real / "tflm/seanet" / family).glob("*.tflite"))
    assert len(paths) == {"pad": 19, "strided_slice": 34}[family]
    for path in paths:
        g = picoml.load_tflite(path)
        inputs = []
        for i, t in enumerate(g.input_tensors):
            (csv,) = path.parent.glob(f"{path.stem}_input{i}_*.csv")
            inputs.append(read_csv(csv, t.dtype.numpy, t.shape))
        got = Interpreter(g).run(inputs)
        expected = tflm_run(path.read_bytes(), inputs, len(g.outputs))
        assert got[0].tobytes() == expected[0].reshape(got[0].shape).tobytes(), path.name
        (golden,) = path.parent.glob(f"{path.stem}_golden_*.csv")
        gold = read_csv(golden, np.int64, got[0].shape)
        assert np.abs(got[0].astype(np.int64) - gold).max() <= 1, path.name


REAL_OPS = {
    "tflm/mobilenet_v2_pytorch/mobilenet_v2_quantized_1x3x224x224.tflite": ["TRANSPOSE", "PAD", "RESHAPE"],
    "tflm/micro_speech/audio_preprocessor_int8.tflite": ["RESHAPE", "STRIDED_SLICE", "CONCATENATION"],
    "mlperf_tiny/ic/pretrainedResnet_quant.tflite": ["RESHAPE"],
    "tflm/person_detection/person_detect.tflite": ["RESHAPE"],
    "tflm/mnist_lstm/trained_lstm_int8.tflite": ["RESHAPE"],
}


@pytest.mark.parametrize("rel", sorted(REAL_OPS))
def test_real_model_layers(real, rel):
    """The data-movement layers of real models, each cut out as a one-op model."""
    g = picoml.load_tflite(real / rel)
    rng = np.random.default_rng(3)
    for op_type in REAL_OPS[rel]:
        op = next(op for op in g.ops if op.type == op_type)
        ins = [g.tensors[n] for n in op.inputs]
        graph = single_op_graph(op.type, ins, [g.tensors[n] for n in op.outputs], op.attrs, op.version)
        check(graph, [random_input(t, rng) for t in ins if not t.is_const])


# -- RESHAPE ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [DType.INT8, DType.INT16, DType.FLOAT32, DType.INT32])
def test_reshape(dtype):
    rng = np.random.default_rng(1)
    cases = [((2, 3, 4), [4, -1], (4, 6)), ((1, 1, 1, 7), [1, 7], (1, 7)), ((6,), [-1, 2, 1], (3, 2, 1)),
             ((2, 3, 5), [5, 3, 2], (5, 3, 2)), ((1, 5), [], (5,))]
    for in_shape, new_shape, out_shape in cases:
        x = tensor("x", in_shape, dtype, **q(dtype))
        y = tensor("y", out_shape, dtype, **q(dtype))
        if new_shape:  # the shape as a constant input, and as the new_shape attr only
            check(single_op_graph("RESHAPE", [x, ints("s", new_shape)], [y], {"new_shape": new_shape}),
                  [random_input(x, rng)])
            check(single_op_graph("RESHAPE", [x], [y], {"new_shape": new_shape}), [random_input(x, rng)])
        # a shape tensor given at run time: the declared output shape rules, as in TFLM
        s = tensor("s", (len(out_shape),), DType.INT32)
        check(single_op_graph("RESHAPE", [x, s], [y], {}), [random_input(x, rng), np.array(out_shape, np.int32)])


@pytest.mark.parametrize("new_shape, out_shape, match", [
    ([4, 5], (4, 5), "cannot reshape"), ([-1, -1], (4, 6), "at most one -1"), ([-1, 5], (4, 6), "infer"),
    ([4, 6], (6, 4), "should have shape"), ([-2, 12], (2, 12), "non-negative"), ([0, -1], (0, 6), "infer"),
])
def test_reshape_rejects(new_shape, out_shape, match):
    x = tensor("x", (2, 3, 4), DType.INT8, scale=0.1)
    y = tensor("y", out_shape, DType.INT8, scale=0.1)
    with pytest.raises(GraphError, match=match):
        Interpreter(single_op_graph("RESHAPE", [x, ints("s", new_shape)], [y], {}))


# -- TRANSPOSE ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [DType.INT8, DType.INT16, DType.FLOAT32])
def test_transpose_rank_2_to_5(dtype):
    rng = np.random.default_rng(2)
    n = 0
    for rank in range(2, 6):
        shape = (2, 3, 4, 5, 3)[:rank]
        perms = list(itertools.permutations(range(rank)))
        for i in rng.choice(len(perms), size=min(len(perms), 10), replace=False):
            perm = perms[i]
            x = tensor("x", shape, dtype, **q(dtype))
            y = tensor("y", [shape[p] for p in perm], dtype, **q(dtype))
            data = random_input(x, rng)
            (got,) = check(single_op_graph("TRANSPOSE", [x, ints("perm", perm)], [y]), [data])
            np.testing.assert_array_equal(got, np.transpose(data, perm))
            n += 1
    assert n == 2 + 6 + 10 + 10


def test_transpose_rank_6_and_int32():
    """Beyond TFLM (rank <= 5; no int32): checked against NumPy."""
    rng = np.random.default_rng(3)
    for shape, perm, dtype in [((1, 2, 3, 2, 2, 2), (5, 4, 3, 2, 1, 0), DType.INT8),
                               ((2, 3), (1, 0), DType.INT32)]:
        x = tensor("x", shape, dtype, **q(dtype))
        y = tensor("y", [shape[p] for p in perm], dtype, **q(dtype))
        data = random_input(x, rng)
        (got,) = Interpreter(single_op_graph("TRANSPOSE", [x, ints("perm", perm)], [y])).run([data])
        np.testing.assert_array_equal(got, np.transpose(data, perm))


@pytest.mark.parametrize("perm, match", [([0, 0, 1], "not a permutation"), ([0, 1, 3], "not a permutation"),
                                         ([1, 0], "not a permutation"), ([2, 0, 1], "should have shape")])
def test_transpose_rejects(perm, match):
    x = tensor("x", (2, 3, 4), DType.INT8, scale=0.1)
    y = tensor("y", (2, 3, 4), DType.INT8, scale=0.1)
    with pytest.raises(GraphError, match=match):
        Interpreter(single_op_graph("TRANSPOSE", [x, ints("perm", perm)], [y]))


# -- CONCATENATION ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [DType.INT8, DType.INT16, DType.FLOAT32, DType.INT32])
def test_concatenation(dtype):
    """2-4 inputs on every axis (given positive and negative), ranks 1-4; int16 inputs with
    other scales than the output (TFLM copies their values)."""
    rng = np.random.default_rng(4)
    n = 0
    for rank in range(1, 5):
        base = (2, 3, 1, 5)[:rank]
        for axis in range(rank):
            for k in (2, 3, 4):
                sizes = rng.integers(1, 4, size=k)
                xs = []
                for i, size in enumerate(sizes):
                    shape = tuple(int(size) if d == axis else base[d] for d in range(rank))
                    scale = 0.05 * (1 + i) if dtype is DType.INT16 else 0.05
                    xs.append(tensor(f"x{i}", shape, dtype, **q(dtype, scale, 3 if dtype is DType.INT8 else 0)))
                out_shape = tuple(int(sizes.sum()) if d == axis else base[d] for d in range(rank))
                y = tensor("y", out_shape, dtype, **q(dtype, 0.05, 3 if dtype is DType.INT8 else 0))
                given = axis - rank if (axis + k) % 2 else axis
                data = [random_input(x, rng) for x in xs]
                attrs = {"axis": given, "fused_activation_function": "NONE"}
                graph = single_op_graph("CONCATENATION", xs, [y], attrs)
                (got,) = check(graph, data)
                np.testing.assert_array_equal(got, np.concatenate(data, axis=axis))
                n += 1
    assert n == 30


def test_concatenation_with_constant_input():
    rng = np.random.default_rng(5)
    c = tensor("c", (1, 2, 3), DType.INT8, scale=0.1, zero_point=-4, data=rng.integers(-128, 128, (1, 2, 3)))
    x = tensor("x", (1, 2, 2), DType.INT8, scale=0.1, zero_point=-4)
    y = tensor("y", (1, 2, 5), DType.INT8, scale=0.1, zero_point=-4)
    check(single_op_graph("CONCATENATION", [x, c], [y], {"axis": 2, "fused_activation_function": "NONE"}),
          [random_input(x, rng)])


@pytest.mark.parametrize("change, match", [
    (dict(axis=3), "out of range"), (dict(axis=-4), "out of range"), (dict(axis="1"), "integer"),
    (dict(fused_activation_function="RELU"), "fused activation"),
    (dict(x1_scale=0.2), "exactly the scale"), (dict(x1_zp=4), "exactly the scale"),
    (dict(out_shape=(2, 6, 4)), "should have shape"), (dict(x1_shape=(3, 2, 4)), "does not match"),
])
def test_concatenation_rejects(change, match):
    x0 = tensor("x0", (2, 3, 4), DType.INT8, scale=0.1, zero_point=3)
    x1 = tensor("x1", change.pop("x1_shape", (2, 2, 4)), DType.INT8, scale=change.pop("x1_scale", 0.1),
                zero_point=change.pop("x1_zp", 3))
    y = tensor("y", change.pop("out_shape", (2, 5, 4)), DType.INT8, scale=0.1, zero_point=3)
    attrs = {"axis": 1, "fused_activation_function": "NONE", **change}
    with pytest.raises(GraphError, match=match):
        Interpreter(single_op_graph("CONCATENATION", [x0, x1], [y], attrs))


def test_concatenation_int16_needs_zero_point_0():
    x = tensor("x", (2, 3), DType.INT16, scale=0.1, zero_point=1)
    y = tensor("y", (4, 3), DType.INT16, scale=0.1)
    with pytest.raises(GraphError, match="zero point 0"):
        Interpreter(single_op_graph("CONCATENATION", [x, tensor("x2", (2, 3), DType.INT16, scale=0.1)], [y],
                                    {"axis": 0, "fused_activation_function": "NONE"}))


# -- PAD ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [DType.INT8, DType.INT16, DType.FLOAT32, DType.INT32])
def test_pad(dtype):
    """Ranks 1-5, random paddings 0..3 per side; int8 pads with the output zero point."""
    rng = np.random.default_rng(6)
    for rank in range(1, 6):
        for _ in range(4):
            shape = tuple(int(v) for v in rng.integers(1, 4, size=rank))
            pads = rng.integers(0, 4, size=(rank, 2))
            zp = int(rng.integers(-128, 128)) if dtype is DType.INT8 else 0
            x = tensor("x", shape, dtype, **q(dtype, 0.1, zp))
            y = tensor("y", [s + a + b for s, (a, b) in zip(shape, pads)], dtype, **q(dtype, 0.1, zp))
            data = random_input(x, rng)
            (got,) = check(single_op_graph("PAD", [x, ints("pads", pads)], [y]), [data])
            np.testing.assert_array_equal(got, np.pad(data, pads, constant_values=zp))


def test_pad_int16_ignores_zero_point_and_int64_paddings():
    """int16 pads with 0 whatever the zero point (TFLM); int64 paddings (TFLM misreads them)."""
    rng = np.random.default_rng(7)
    x = tensor("x", (1, 2, 3), DType.INT16, scale=0.1, zero_point=5)
    y = tensor("y", (2, 4, 5), DType.INT16, scale=0.1, zero_point=5)
    pads = [[0, 1], [2, 0], [1, 1]]
    (got,) = check(single_op_graph("PAD", [x, ints("pads", pads)], [y]), [random_input(x, rng)])
    assert got[1, 0, 0] == 0
    x = tensor("x", (2, 3), DType.INT8, scale=0.1, zero_point=-7)
    y = tensor("y", (3, 7), DType.INT8, scale=0.1, zero_point=-7)
    data = random_input(x, rng)
    (got,) = Interpreter(single_op_graph("PAD", [x, ints("pads", [[1, 0], [2, 2]], DType.INT64)], [y])).run([data])
    np.testing.assert_array_equal(got, np.pad(data, [[1, 0], [2, 2]], constant_values=-7))


@pytest.mark.parametrize("pads, out_shape, match", [
    ([[0, 1], [-1, 0]], (3, 2), "non-negative"), ([[0, 1], [1, 0]], (3, 5), "should have shape"),
    ([[0, 1, 0], [1, 0, 0]], (3, 4), "expected \\[2, 2\\]"), ([[0, 1]], (3, 4), "expected \\[2, 2\\]"),
])
def test_pad_rejects(pads, out_shape, match):
    x = tensor("x", (2, 3), DType.FLOAT32)
    y = tensor("y", out_shape, DType.FLOAT32)
    with pytest.raises(GraphError, match=match):
        Interpreter(single_op_graph("PAD", [x, ints("pads", pads)], [y]))


def test_pad_rejects_runtime_paddings():
    x = tensor("x", (2, 3), DType.FLOAT32)
    p = tensor("p", (2, 2), DType.INT32)
    with pytest.raises(GraphError, match="constant"):
        Interpreter(single_op_graph("PAD", [x, p], [tensor("y", (3, 4), DType.FLOAT32)]))


# -- STRIDED_SLICE ------------------------------------------------------------------------------
def numpy_slice(data, begin, end, strides, begin_mask, end_mask, shrink_mask):
    """TensorFlow's semantics through Python's own slicing: an independent oracle. One TFLite
    rule differs from TensorFlow's: begin_mask still applies on a shrunk axis (index 0)."""
    index = []
    for d in range(data.ndim):
        if shrink_mask >> d & 1:
            index.append(0 if begin_mask >> d & 1 else int(begin[d]))
        else:
            b = None if begin_mask >> d & 1 else int(begin[d])
            e = None if end_mask >> d & 1 else int(end[d])
            index.append(slice(b, e, int(strides[d])))
    return data[tuple(index)]


def slice_graph(x, begin, end, strides, out_shape, **masks):
    attrs = dict(begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0, offset=False)
    attrs.update(masks)
    y = tensor("y", out_shape, x.dtype, **q(x.dtype))
    return single_op_graph("STRIDED_SLICE", [x, ints("begin", begin), ints("end", end), ints("strides", strides)],
                           [y], attrs)


@pytest.mark.parametrize("dtype", [DType.INT8, DType.INT16, DType.FLOAT32, DType.INT32])
def test_strided_slice_sweep(dtype):
    """Random begins/ends (negative and out of range), strides +-1..3, begin/end/shrink masks."""
    rng = np.random.default_rng({"int8": 8, "int16": 9, "float32": 10, "int32": 11}[dtype.value])
    n = 0
    while n < 60:
        rank = int(rng.integers(1, 5))
        shape = tuple(int(v) for v in rng.integers(1, 6, size=rank))
        begin = rng.integers(-7, 8, size=rank)
        end = rng.integers(-7, 8, size=rank)
        strides = rng.choice([-3, -2, -1, 1, 1, 2, 3], size=rank)
        bm, em, sm = (int(rng.integers(0, 1 << rank)) for _ in range(3))
        sm &= int(rng.integers(0, 1 << rank))
        shrink_ok = all(-shape[d] <= begin[d] < shape[d] and strides[d] > 0 for d in range(rank) if sm >> d & 1)
        if not shrink_ok:
            continue
        x = tensor("x", shape, dtype, **q(dtype))
        data = random_input(x, rng)
        want = numpy_slice(data, begin, end, strides, bm, em, sm)
        if want.size == 0:
            continue
        graph = slice_graph(x, begin, end, strides, want.shape, begin_mask=bm, end_mask=em, shrink_axis_mask=sm)
        (got,) = check(graph, [data])
        np.testing.assert_array_equal(got, want)
        n += 1


def test_strided_slice_negative_strides_and_rank_5():
    rng = np.random.default_rng(12)
    x = tensor("x", (4, 5), DType.INT8, scale=0.05)
    data = random_input(x, rng)
    for begin, end, strides in [([-1, 4], [-5, 0], [-1, -2]), ([3, -1], [0, -6], [-2, -1]),
                                ([9, 9], [-9, -9], [-1, -1])]:
        want = numpy_slice(data, begin, end, strides, 0, 0, 0)
        (got,) = check(slice_graph(x, begin, end, strides, want.shape), [data])
        np.testing.assert_array_equal(got, want)
    x = tensor("x", (2, 3, 4, 5, 6), DType.FLOAT32)  # beyond TFLM (rank <= 4): NumPy only
    data = random_input(x, rng)
    args = ([0, 1, 0, -1, 5], [2, 3, 4, 0, 0], [1, 1, 2, -2, -1])
    want = numpy_slice(data, *args, 0, 0, 0b00001)
    (got,) = Interpreter(slice_graph(x, *args, want.shape, shrink_axis_mask=1)).run([data])
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("change, match", [
    (dict(strides=[1, 0]), "stride of axis 1 is 0"), (dict(ellipsis_mask=1), "ellipsis_mask"),
    (dict(new_axis_mask=2), "new_axis_mask"), (dict(offset=True), "offset"),
    (dict(begin=[0, 0, 0]), "begin has 3 entries"), (dict(out_shape=(2, 2)), "should have shape"),
    (dict(shrink_axis_mask=1, begin=[4, 0], out_shape=(3,)), "outside"), (dict(begin_mask="x"), "integer"),
    (dict(shrink_axis_mask=1, strides=[-1, 1], out_shape=(3,)), "negative stride"),
])
def test_strided_slice_rejects(change, match):
    x = tensor("x", (4, 5), DType.INT8, scale=0.05)
    args = {"begin": [0, 1], "end": [2, 4], "strides": [1, 1], "out_shape": (2, 3)}
    masks = {k: v for k, v in change.items() if k not in args}
    args.update({k: v for k, v in change.items() if k in args})
    graph = slice_graph(x, args["begin"], args["end"], args["strides"], args["out_shape"], **masks)
    with pytest.raises(GraphError, match=re.escape(match)):
        Interpreter(graph)


def test_data_movement_has_no_macs():
    x = tensor("x", (4, 5), DType.INT8, scale=0.05)
    assert Interpreter(slice_graph(x, [0, 1], [2, 4], [1, 1], (2, 3))).macs == 0
