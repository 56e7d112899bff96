"""AVERAGE_POOL_2D / MAX_POOL_2D against tflite-micro, bit for bit (floats included: the
kernel adds taps in TFLM's order), on a parameter sweep and on the pooling layers of the
real models."""
import itertools
import zlib

import numpy as np
import pytest

import picoml
from picoml.errors import GraphError
from picoml.exporters.tflite import export_tflite
from picoml.interpreter import Interpreter
from picoml.ir import DType
from picoml.kernels.padding import out_size
from picoml.testing.opmodel import random_input, single_op_graph, tensor

ARENA = 1 << 20  # the runtime's default (10x the model size) is too small for one-op models


def check(graph, inputs):
    """picoml's outputs equal tflite-micro's, bit for bit."""
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(export_tflite(graph), arena_size=ARENA)
    for i, x in enumerate(inputs):
        it.set_input(np.ascontiguousarray(x), i)
    it.invoke()
    got = Interpreter(graph).run(inputs)
    for i, g in enumerate(got):
        e = np.array(it.get_output(i)).reshape(g.shape)
        assert g.dtype == e.dtype
        assert g.tobytes() == e.tobytes(), f"output {i}: picoml {g.ravel()[:8]} vs tflm {e.ravel()[:8]}"


def pool_graph(op_type, dtype, hw, c, f, s, padding, act, scale=0.05, zp=0):
    fh, fw = f
    sh, sw = s
    oh, ow = out_size(padding, hw[0], fh, sh), out_size(padding, hw[1], fw, sw)
    q = {} if dtype is DType.FLOAT32 else {"scale": scale, "zero_point": zp}
    x = tensor("x", (1, hw[0], hw[1], c), dtype, **q)
    y = tensor("y", (1, oh, ow, c), dtype, **q)
    attrs = dict(filter_height=fh, filter_width=fw, stride_h=sh, stride_w=sw, padding=padding,
                 fused_activation_function=act)
    return single_op_graph(op_type, [x], [y], attrs), x


ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
SIZES = [(5, 5), (7, 6), (6, 9), (4, 4)]
CHANNELS = [1, 3, 17]


@pytest.mark.parametrize("op_type", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("dtype", [DType.INT8, DType.INT16, DType.FLOAT32])
def test_sweep(op_type, dtype):
    """Pool sizes 1..4 (some non-square), strides 1..3, SAME/VALID, every activation,
    channels 1/3/17, odd sizes, varied scale and zero point."""
    rng = np.random.default_rng(zlib.crc32(f"{op_type}{dtype.value}".encode()))
    n = 0
    filters = [(1, 1), (2, 2), (3, 3), (4, 4), (2, 3), (4, 1)]
    strides = [(1, 1), (2, 2), (3, 3), (1, 2)]
    for i, (f, s, padding) in enumerate(itertools.product(filters, strides, ["SAME", "VALID"])):
        hw, c, act = SIZES[i % len(SIZES)], CHANNELS[i % 3], ACTS[i % 4]
        if padding == "VALID" and (f[0] > hw[0] or f[1] > hw[1]):
            continue
        zp = int(rng.integers(-20, 20)) if dtype is DType.INT8 else 0
        scale = float(rng.choice([0.01, 0.05, 0.3]))
        graph, x = pool_graph(op_type, dtype, hw, c, f, s, padding, act, scale, zp)
        check(graph, [random_input(x, rng)])
        n += 1
    assert n >= 40


@pytest.mark.parametrize("dtype", [DType.INT8, DType.INT16])
def test_average_rounds_ties_away_from_zero(dtype):
    """Window sums that are exact halves (+-0.5, +-1.5, ...) and windows cut by SAME padding."""
    rng = np.random.default_rng(7)
    for padding in ("SAME", "VALID"):
        graph, x = pool_graph("AVERAGE_POOL_2D", dtype, (6, 6), 5, (2, 2), (2, 2), padding, "NONE")
        check(graph, [rng.integers(-3, 4, size=x.shape).astype(dtype.numpy)])  # sums of 4 taps: many x.5
        graph, x = pool_graph("AVERAGE_POOL_2D", dtype, (5, 5), 2, (2, 2), (1, 1), padding, "NONE")
        check(graph, [np.tile(np.array([1, 0, -1, 0, 3], dtype.numpy)[None, :, None, None], (1, 1, 5, 2))])
    info = np.iinfo(dtype.numpy)
    graph, x = pool_graph("AVERAGE_POOL_2D", dtype, (4, 4), 3, (3, 3), (1, 1), "SAME", "NONE")
    for v in (info.min, info.max):
        check(graph, [np.full(x.shape, v, dtype.numpy)])


def test_max_pool_float_edges():
    """-inf, +inf and huge values; all-negative windows."""
    graph, x = pool_graph("MAX_POOL_2D", DType.FLOAT32, (5, 5), 2, (3, 3), (2, 2), "SAME", "NONE")
    data = -np.abs(np.random.default_rng(3).standard_normal(x.shape)).astype(np.float32)
    data[0, 0, 0, 0], data[0, 4, 4, 1], data[0, 2, 2, 0] = -np.inf, np.inf, -3.4e38
    check(graph, [data])


REAL_POOLS = ["mlperf_tiny/kws/kws_ref_model.tflite", "mlperf_tiny/kws/kws_ref_model_float32.tflite",
              "mlperf_tiny/vww/vww_96_int8.tflite", "mlperf_tiny/vww/vww_96_float.tflite",
              "mlperf_tiny/ic/pretrainedResnet_quant.tflite", "mlperf_tiny/ic/pretrainedResnet.tflite",
              "tflm/person_detection/person_detect.tflite"]


@pytest.mark.parametrize("rel", REAL_POOLS)
def test_real_model_pool_layers(real, rel):
    """Each pooling layer of the real models, cut out as a one-op model, on random inputs."""
    g = picoml.load_tflite(real / rel)
    rng = np.random.default_rng(11)
    ops = [op for op in g.ops if op.type.endswith("POOL_2D")]
    assert ops
    for op in ops:
        ins = [g.tensors[n] for n in op.inputs]
        graph = single_op_graph(op.type, ins, [g.tensors[op.outputs[0]]], op.attrs, op.version)
        for _ in range(3):
            check(graph, [random_input(ins[0], rng)])


def test_macs():
    graph, _ = pool_graph("AVERAGE_POOL_2D", DType.INT8, (7, 6), 3, (3, 2), (2, 2), "SAME", "NONE")
    assert Interpreter(graph).macs == 4 * 3 * 3 * 3 * 2
    graph, _ = pool_graph("MAX_POOL_2D", DType.INT8, (7, 6), 3, (3, 2), (2, 2), "SAME", "NONE")
    assert Interpreter(graph).macs == 0


def _bad(**change):
    graph, x = pool_graph("AVERAGE_POOL_2D", DType.INT8, (6, 6), 3, (2, 2), (2, 2), "SAME", "NONE")
    op = graph.ops[0]
    for k, v in change.items():
        if k in op.attrs:
            op.attrs[k] = v
    if "out_shape" in change:
        graph.tensors["y"].shape = change["out_shape"]
    if "out_scale" in change:
        graph.tensors["y"].quant.scale[:] = change["out_scale"]
    if "x_dtype" in change:
        graph.tensors["x"].dtype = graph.tensors["y"].dtype = change["x_dtype"]
    if "x_shape" in change:
        graph.tensors["x"].shape = change["x_shape"]
    return graph


@pytest.mark.parametrize("change", [
    dict(stride_h=0), dict(stride_w=-1), dict(filter_height=0), dict(filter_width="3"), dict(padding="BAD"),
    dict(padding=7), dict(fused_activation_function="TANH"), dict(fused_activation_function=9),
    dict(out_shape=(1, 4, 3, 3)), dict(out_scale=0.07), dict(x_dtype=DType.INT32), dict(x_shape=(6, 6, 3)),
])
def test_rejects_bad_operator(change):
    with pytest.raises(GraphError, match="op #0 AVERAGE_POOL_2D"):
        Interpreter(_bad(**change))


def test_rejects_window_larger_than_valid_input():
    graph, _ = pool_graph("MAX_POOL_2D", DType.FLOAT32, (3, 3), 1, (2, 2), (1, 1), "VALID", "NONE")
    graph.ops[0].attrs["filter_height"] = 5
    with pytest.raises(GraphError, match="does not fit"):
        Interpreter(graph)
