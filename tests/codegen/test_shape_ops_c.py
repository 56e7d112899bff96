"""RESHAPE, TRANSPOSE, CONCATENATION, PAD and STRIDED_SLICE in C: the generated host build gives
the NumPy reference's bits on the grid of tests/kernels/test_shape_ops.py (every dtype; transpose
ranks 2-6; concatenation of 2-4 inputs on every axis of ranks 1-4, with a constant input; pad
ranks 1-5 with the int8 zero point, int16's ignored zero point, int64 paddings; strided slices
with negative and out-of-range indices, strides +-1..3, begin/end/shrink masks, rank 5), the
seanet PAD / STRIDED_SLICE models whole, the data-movement layers of the other real models, and
an int8 build with no FPU registers. Many cases share one graph (independent ops side by side)."""
import dataclasses
import itertools
import platform
import shutil

import numpy as np
import pytest

import picoml
from picoml.codegen import generate
from picoml.codegen.ops.shape_ops import move_box
from picoml.interpreter import Interpreter
from picoml.ir import DType, Graph, Op
from picoml.targets.host import HostModel
from picoml.testing.opmodel import assert_same, compare_host_with_reference, random_input, tensor

DTYPES = [DType.INT8, DType.INT16, DType.FLOAT32, DType.INT32]


def side_by_side(ops):
    """One graph running every (op_type, inputs, outputs, attrs) independently; tensors are
    renamed per op so cases cannot collide."""
    tensors, graph_ops, graph_in, graph_out = {}, [], [], []
    for i, (op_type, ins, outs, attrs) in enumerate(ops):
        ins = [dataclasses.replace(t, name=f"op{i}_{t.name}") for t in ins]
        outs = [dataclasses.replace(t, name=f"op{i}_{t.name}") for t in outs]
        tensors.update({t.name: t for t in ins + outs})
        graph_ops.append(Op(op_type, [t.name for t in ins], [t.name for t in outs], dict(attrs)))
        graph_in += [t.name for t in ins if not t.is_const]
        graph_out += [t.name for t in outs]
    return Graph(tensors, graph_ops, graph_in, graph_out).validate()


def random_inputs(graph, rng, n=1):
    return [[random_input(t, rng) for t in graph.input_tensors] for _ in range(n)]


def q(dtype, scale=0.05, zp=0):
    return {} if dtype in (DType.FLOAT32, DType.INT32) else {"scale": scale, "zero_point": zp}


def ints(name, values, dtype=DType.INT32):
    values = np.asarray(values)
    return tensor(name, values.shape, dtype, data=values)


# -- the strided-copy box ------------------------------------------------------------------------
def test_move_box_merges_and_folds():
    # a contiguous copy is one block
    box = move_box((2, 3, 4), (12, 4, 1), (12, 4, 1), 1)
    assert box["shape"] == "{1, 1, 1, 1, 1, 1}" and box["block_bytes"] == 24
    # NCHW -> NHWC (float): H and W merge, C is the strided innermost dim
    box = move_box((1, 5, 6, 3), (360, 24, 4, 120), (360, 72, 12, 4), 4)
    assert box["shape"] == "{1, 1, 1, 1, 30, 3}" and box["src_stride"] == "{0, 0, 0, 0, 4, 120}"
    assert box["block_bytes"] == 4
    # a reversed axis keeps its negative stride
    box = move_box((4, 5), (-5, 1), (5, 1), 1, src_offset=15)
    assert box["shape"] == "{1, 1, 1, 1, 1, 4}" and box["block_bytes"] == 5 and box["src_stride"].endswith("-5}")


# -- RESHAPE -------------------------------------------------------------------------------------
def test_reshape_is_a_view_or_a_copy():
    """A planned view moves no data; a RESHAPE of a constant copies it out of flash."""
    rng = np.random.default_rng(1)
    cases = []
    for dtype in DTYPES:
        x = tensor("x", (2, 3, 4), dtype, **q(dtype))
        cases.append(("RESHAPE", [x, ints("s", [4, -1])], [tensor("y", (4, 6), dtype, **q(dtype))],
                      {"new_shape": [4, -1]}))
        c = tensor("c", (2, 3), dtype, **q(dtype), data=random_input(tensor("t", (2, 3), dtype), rng))
        cases.append(("RESHAPE", [c], [tensor("y", (6,), dtype, **q(dtype))], {"new_shape": [6]}))
    graph = side_by_side(cases)
    source = generate(graph).files["model.c"]
    assert source.count("no data moves") == 4 and source.count("memmove(") == 4
    compare_host_with_reference(graph, random_inputs(graph, rng))


# -- TRANSPOSE -----------------------------------------------------------------------------------
def test_transpose_rank_1_to_6():
    rng = np.random.default_rng(2)
    cases = []
    for dtype in DTYPES:
        for rank in range(1, 7):
            shape = (2, 3, 4, 5, 3, 2)[:rank]
            perms = list(itertools.permutations(range(rank)))
            for i in rng.choice(len(perms), size=min(len(perms), 6), replace=False):
                perm = perms[i]
                x = tensor("x", shape, dtype, **q(dtype))
                y = tensor("y", [shape[p] for p in perm], dtype, **q(dtype))
                cases.append(("TRANSPOSE", [x, ints("perm", perm)], [y], {}))
        x = tensor("x", (1, 3, 7, 5), dtype, **q(dtype))  # NCHW -> NHWC, mobilenet's first op
        cases.append(("TRANSPOSE", [x, ints("perm", (0, 2, 3, 1))], [tensor("y", (1, 7, 5, 3), dtype, **q(dtype))], {}))
    graph = side_by_side(cases)
    compare_host_with_reference(graph, random_inputs(graph, rng))


# -- CONCATENATION -------------------------------------------------------------------------------
def test_concatenation():
    """2-4 inputs on every axis (given positive and negative), ranks 1-4, every dtype; int16
    inputs with other scales than the output (copied unchanged); a constant input."""
    rng = np.random.default_rng(4)
    cases = []
    for dtype in DTYPES:
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
                    cases.append(("CONCATENATION", xs, [y], {"axis": given, "fused_activation_function": "NONE"}))
    c = tensor("c", (1, 2, 3), DType.INT8, scale=0.1, zero_point=-4, data=rng.integers(-128, 128, (1, 2, 3)))
    x = tensor("x", (1, 2, 2), DType.INT8, scale=0.1, zero_point=-4)
    y = tensor("y", (1, 2, 5), DType.INT8, scale=0.1, zero_point=-4)
    cases.append(("CONCATENATION", [x, c], [y], {"axis": 2, "fused_activation_function": "NONE"}))
    graph = side_by_side(cases)
    compare_host_with_reference(graph, random_inputs(graph, rng))


# -- PAD -----------------------------------------------------------------------------------------
def test_pad():
    """Ranks 1-5, random paddings 0..3 per side, every dtype; int8 pads with the output zero
    point (extremes included), int16 with 0 whatever its zero point; int64 paddings."""
    rng = np.random.default_rng(6)
    cases = []
    for dtype in DTYPES:
        for rank in range(1, 6):
            for _ in range(4):
                shape = tuple(int(v) for v in rng.integers(1, 4, size=rank))
                pads = rng.integers(0, 4, size=(rank, 2))
                zp = int(rng.choice([-128, 127, int(rng.integers(-128, 128))])) if dtype is DType.INT8 else 0
                x = tensor("x", shape, dtype, **q(dtype, 0.1, zp))
                y = tensor("y", [s + a + b for s, (a, b) in zip(shape, pads)], dtype, **q(dtype, 0.1, zp))
                cases.append(("PAD", [x, ints("pads", pads)], [y], {}))
    x = tensor("x", (1, 2, 3), DType.INT16, scale=0.1, zero_point=5)
    y = tensor("y", (2, 4, 5), DType.INT16, scale=0.1, zero_point=5)
    cases.append(("PAD", [x, ints("pads", [[0, 1], [2, 0], [1, 1]])], [y], {}))
    x = tensor("x", (2, 3), DType.INT8, scale=0.1, zero_point=-7)
    y = tensor("y", (3, 7), DType.INT8, scale=0.1, zero_point=-7)
    cases.append(("PAD", [x, ints("pads", [[1, 0], [2, 2]], DType.INT64)], [y], {}))
    x = tensor("x", (1, 6, 5, 3), DType.INT8, scale=0.1, zero_point=-128)  # mobilenet-style spatial pad
    y = tensor("y", (1, 8, 7, 3), DType.INT8, scale=0.1, zero_point=-128)
    cases.append(("PAD", [x, ints("pads", [[0, 0], [1, 1], [1, 1], [0, 0]])], [y], {}))
    graph = side_by_side(cases)
    compare_host_with_reference(graph, random_inputs(graph, rng))


# -- STRIDED_SLICE -------------------------------------------------------------------------------
def sliced_shape(shape, begin, end, strides, begin_mask=0, end_mask=0, shrink_axis_mask=0):
    """The output shape by Python's own slicing (TFLite keeps begin_mask on a shrunk axis)."""
    index = []
    for d in range(len(shape)):
        if shrink_axis_mask >> d & 1:
            index.append(0 if begin_mask >> d & 1 else int(begin[d]))
        else:
            index.append(slice(None if begin_mask >> d & 1 else int(begin[d]),
                               None if end_mask >> d & 1 else int(end[d]), int(strides[d])))
    return np.zeros(shape)[tuple(index)].shape


def slice_case(x, begin, end, strides, **masks):
    """The STRIDED_SLICE case, or None when the slice is empty."""
    attrs = dict(begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0, offset=False)
    attrs.update(masks)
    shape = sliced_shape(x.shape, begin, end, strides, **masks)
    if 0 in shape:
        return None
    ins = [x, ints("begin", begin), ints("end", end), ints("strides", strides)]
    return ("STRIDED_SLICE", ins, [tensor("y", shape, x.dtype, **q(x.dtype))], attrs)


def test_strided_slice_sweep():
    """Random begins/ends (negative and out of range), strides +-1..3, begin/end/shrink masks,
    every dtype, plus reversed axes and rank 5."""
    rng = np.random.default_rng(8)
    cases = []
    for dtype in DTYPES:
        n = 0
        while n < 30:
            rank = int(rng.integers(1, 5))
            shape = tuple(int(v) for v in rng.integers(1, 6, size=rank))
            begin, end = rng.integers(-7, 8, size=rank), rng.integers(-7, 8, size=rank)
            strides = rng.choice([-3, -2, -1, 1, 1, 2, 3], size=rank)
            bm, em, sm = (int(rng.integers(0, 1 << rank)) for _ in range(3))
            sm &= int(rng.integers(0, 1 << rank))
            if not all(-shape[d] <= begin[d] < shape[d] and strides[d] > 0 for d in range(rank) if sm >> d & 1):
                continue
            case = slice_case(tensor("x", shape, dtype, **q(dtype)), begin, end, strides, begin_mask=bm, end_mask=em,
                              shrink_axis_mask=sm)
            if case is not None:
                cases.append(case)
                n += 1
    x = tensor("x", (4, 5), DType.INT8, scale=0.05)
    for begin, end, strides in [([-1, 4], [-5, 0], [-1, -2]), ([3, -1], [0, -6], [-2, -1]),
                                ([9, 9], [-9, -9], [-1, -1])]:
        cases.append(slice_case(x, begin, end, strides))
    x = tensor("x", (2, 3, 4, 5, 6), DType.FLOAT32)
    cases.append(slice_case(x, [0, 1, 0, -1, 5], [2, 3, 4, 0, 0], [1, 1, 2, -2, -1], shrink_axis_mask=1))
    graph = side_by_side(cases)
    compare_host_with_reference(graph, random_inputs(graph, rng))


# -- real models ---------------------------------------------------------------------------------
def read_csv(path, dtype, shape):
    return np.array([int(v) for v in path.read_text().strip().split(",")], dtype).reshape(shape)


@pytest.mark.parametrize("family", ["pad", "strided_slice"])
def test_seanet_models(real, family):
    """Every seanet PAD / STRIDED_SLICE model (int16), side by side in one build, on its CSV inputs."""
    paths = sorted((real / "tflm/seanet" / family).glob("*.tflite"))
    assert len(paths) == {"pad": 19, "strided_slice": 34}[family]
    cases, inputs = [], []
    for path in paths:
        g = picoml.load_tflite(path)
        (op,) = g.ops
        cases.append((op.type, [g.tensors[n] for n in op.inputs], [g.tensors[n] for n in op.outputs], op.attrs))
        for i, t in enumerate(g.input_tensors):
            (csv,) = path.parent.glob(f"{path.stem}_input{i}_*.csv")
            inputs.append(read_csv(csv, t.dtype.numpy, t.shape))
    compare_host_with_reference(side_by_side(cases), [inputs])


REAL_OPS = {
    "tflm/mobilenet_v2_pytorch/mobilenet_v2_quantized_1x3x224x224.tflite": ["TRANSPOSE", "PAD", "RESHAPE"],
    "tflm/micro_speech/audio_preprocessor_int8.tflite": ["RESHAPE", "STRIDED_SLICE", "CONCATENATION"],
    "mlperf_tiny/ic/pretrainedResnet_quant.tflite": ["RESHAPE"],
    "tflm/person_detection/person_detect.tflite": ["RESHAPE"],
    "tflm/mnist_lstm/trained_lstm_int8.tflite": ["RESHAPE"],
}


def test_real_model_layers(real):
    """The data-movement layers of real models (every PAD of mobilenet_v2), cut out side by side."""
    cases = []
    for rel, types in REAL_OPS.items():
        g = picoml.load_tflite(real / rel)
        for op in g.ops:
            if op.type in types and (op.type == "PAD" or not any(c[0] == op.type and c[4] == rel for c in cases)):
                cases.append((op.type, [g.tensors[n] for n in op.inputs], [g.tensors[n] for n in op.outputs],
                              op.attrs, rel))
    assert len(cases) == 1 + 18 + 1 + 3 + 3
    graph = side_by_side([c[:4] for c in cases])
    compare_host_with_reference(graph, random_inputs(graph, np.random.default_rng(3)))


# -- builds --------------------------------------------------------------------------------------
def int8_variants():
    rng = np.random.default_rng(9)

    def like_x(name, shape, data=None):
        return tensor(name, shape, DType.INT8, scale=0.1, zero_point=-3, data=data)

    x = like_x("x", (2, 3, 4))
    concat = {"axis": -1, "fused_activation_function": "NONE"}
    return [("TRANSPOSE", [x, ints("perm", (2, 0, 1))], [like_x("y", (4, 2, 3))], {}),
            ("PAD", [x, ints("pads", [[1, 0], [0, 2], [1, 1]])], [like_x("y", (3, 5, 6))], {}),
            ("CONCATENATION", [x, like_x("c", (2, 3, 1), rng.integers(-128, 128, (2, 3, 1)))],
             [like_x("y", (2, 3, 5))], concat),
            slice_case(x, [1, -1, 0], [2, 0, 4], [1, -1, 2], shrink_axis_mask=1),
            ("RESHAPE", [x], [like_x("y", (6, 4))], {"new_shape": [6, 4]})]


def test_int8_build_uses_no_fpu(monkeypatch):
    """The byte-moving kernels compile with -mgeneral-regs-only (any float use fails)."""
    if platform.machine() not in ("x86_64", "AMD64") or shutil.which("gcc") is None:
        pytest.skip("-mgeneral-regs-only is checked with x86 gcc")
    monkeypatch.setenv("CC", shutil.which("gcc"))
    graph = side_by_side(int8_variants())
    host = HostModel(graph, generate(graph), extra_flags=["-mgeneral-regs-only"])
    inputs = random_inputs(graph, np.random.default_rng(5))[0]
    assert_same(host.run(inputs), Interpreter(graph).run(inputs))


def test_clang_builds_every_op(monkeypatch):
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    monkeypatch.setenv("CC", "clang")
    graph = side_by_side(int8_variants())
    compare_host_with_reference(graph, random_inputs(graph, np.random.default_rng(6)))
