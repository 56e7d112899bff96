"""CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV against tflite-micro, bit for bit.

Three kinds of evidence: the SEANet single-layer models with their CSV inputs and goldens,
every conv op of real models run alone on random inputs, and generated one-op graphs sweeping
kernels, strides, dilations, padding, channels, depth multipliers, fused activations and
quantization (per tensor, per channel, and power-of-two scales that make exact .5 ties).
"""
from __future__ import annotations

import itertools
import math
import zlib
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

import picoml
from picoml.errors import GraphError
from picoml.interpreter import Interpreter
from picoml.ir import DType, Graph, Op, Tensor
from picoml.kernels.registry import get_kernel
from picoml.testing.opmodel import compare_with_tflm, random_input, single_op_graph, tensor
from picoml.testing.peers import run_tflm

ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
KERNELS = [(1, 1), (3, 3), (5, 3)]
CHANNELS = [1, 3, 8, 17]


# -- real models ------------------------------------------------------------------------------
def _csv(path: Path, dtype: np.dtype) -> np.ndarray:
    return np.array(path.read_text().strip().split(","), dtype=dtype)


def _seanet_models(real: Path, op: str) -> list[Path]:
    return sorted((real / "tflm/seanet" / op).glob("*.tflite"))


@pytest.mark.parametrize("op", ["conv", "transpose_conv"])
def test_seanet_models_match_tflm_and_golden(real, op):
    """int16 x int8 (int64 bias) CONV_2D and TRANSPOSE_CONV: the 27 SEANet layers."""
    models = _seanet_models(real, op)
    assert len(models) == {"conv": 22, "transpose_conv": 5}[op]
    for path in models:
        graph = picoml.load_tflite(path)
        base = str(path)[:-len(".tflite")]
        inputs = []
        for i, t in enumerate(graph.input_tensors):
            (csv,) = Path(base).parent.glob(f"{Path(base).name}_input{i}_*.csv")
            inputs.append(_csv(csv, t.dtype.numpy).reshape(t.shape))
        got = Interpreter(graph).run(inputs)[0]
        expected = np.asarray(run_tflm(path, inputs)[0]).reshape(got.shape)
        np.testing.assert_array_equal(got, expected, err_msg=path.name)
        (golden,) = Path(base).parent.glob(f"{Path(base).name}_golden_*.csv")
        diff = np.abs(got.astype(np.int64) - _csv(golden, np.int64).reshape(got.shape))
        assert diff.max() <= 1, path.name


REAL_OP_MODELS = ["tflm/person_detection/person_detect.tflite", "mlperf_tiny/kws/kws_ref_model.tflite",
                  "mlperf_tiny/sww/str_ww_ref_model.tflite", "tflm/micro_speech/micro_speech_quantized.tflite",
                  "mlperf_tiny/ic/pretrainedResnet_quant.tflite", "mlperf_tiny/vww/vww_96_float.tflite"]


def one_op_graph(graph: Graph, op: Op) -> Graph:
    """``op`` of a real model as a graph of its own (its non-constant inputs become inputs)."""
    names = [n for n in op.inputs if n is not None]
    tensors = {n: graph.tensors[n] for n in names + op.outputs}
    single = Op(op.type, list(op.inputs), list(op.outputs), dict(op.attrs), version=op.version)
    return Graph(tensors, [single], [n for n in names if not graph.tensors[n].is_const],
                 list(op.outputs)).validate()


@pytest.mark.parametrize("model", REAL_OP_MODELS)
def test_real_model_conv_ops_alone(real, model):
    """Every CONV_2D / DEPTHWISE_CONV_2D of a real model, with its weights and quantization."""
    graph = picoml.load_tflite(real / model)
    rng = np.random.default_rng(7)
    ops = [op for op in graph.ops if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert ops
    for op in ops:
        sub = one_op_graph(graph, op)
        compare_with_tflm(sub, [random_input(t, rng) for t in sub.input_tensors], float_rtol=0)


# Outputs of LiteRT 2.3.0 with OpResolverType.BUILTIN_REF (TFLite's reference kernels) for the
# kws float model, whose 5 CONV_2D ops are hybrid; tflite-micro refuses the model. The optimized
# builtin kernels agree to 6e-6 relative; the default XNNPACK path differs by up to 2e-2.
KWS_HYBRID_EXPECTED = {
    1.0: [0.047740086913108826, 0.048482831567525864, 0.013152296654880047, 0.02051069773733616,
          0.027890997007489204, 0.04105202108621597, 0.009878088720142841, 0.07316046208143234,
          0.05711321532726288, 0.011597356759011745, 0.0011733317514881492, 0.6482486128807068],
    8.0: [0.0005609891377389431, 0.0014996478566899896, 0.04860757291316986, 0.0017898351652547717,
          0.0019413494737818837, 0.0007415402797050774, 0.027924802154302597, 0.03312855213880539,
          0.04202082008123398, 0.08933857083320618, 0.6962703466415405, 0.05617601424455643],
}


def _kws_input(gain: float) -> np.ndarray:
    return (np.sin(np.arange(490, dtype=np.float64) * 0.37) * gain).astype(np.float32).reshape(1, 49, 10, 1)


def test_kws_hybrid_model_matches_tflite_reference(real):
    graph = picoml.load_tflite(real / "mlperf_tiny/kws/kws_ref_model_float32.tflite")
    interp = Interpreter(graph)
    for gain, expected in KWS_HYBRID_EXPECTED.items():
        got = interp.run([_kws_input(gain)])[0]
        np.testing.assert_allclose(got.ravel(), np.array(expected, np.float32), rtol=1e-5, atol=0)


def test_kws_hybrid_model_matches_litert_when_installed(real):
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    path = real / "mlperf_tiny/kws/kws_ref_model_float32.tflite"
    peer = litert.Interpreter(model_path=str(path),
                              experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF)
    peer.allocate_tensors()
    interp = Interpreter(picoml.load_tflite(path))
    rng = np.random.default_rng(3)
    for gain in (0.5, 4.0, 40.0):
        x = (rng.standard_normal((1, 49, 10, 1)) * gain).astype(np.float32)
        peer.set_tensor(peer.get_input_details()[0]["index"], x)
        peer.invoke()
        expected = peer.get_tensor(peer.get_output_details()[0]["index"])
        np.testing.assert_array_equal(interp.run([x])[0], expected)


# -- generated graphs -------------------------------------------------------------------------
# Quantization modes: (activation dtype, weight scales, bias dtype or None).
MODES = {
    "int8_pc": (DType.INT8, "per_channel", DType.INT32),
    "int8_pt": (DType.INT8, "per_tensor", DType.INT32),
    "int8_nobias": (DType.INT8, "per_channel", None),
    "int16_i64": (DType.INT16, "per_channel", DType.INT64),
    "int16_i32": (DType.INT16, "per_tensor", DType.INT32),
    "int16_nobias": (DType.INT16, "per_channel", None),
    "float": (DType.FLOAT32, None, DType.FLOAT32),
}
_BIAS_SPREAD = {DType.INT32: 20000, DType.INT64: 5_000_000}


def quantized_linear(rng: np.random.Generator, mode: str, w_shape: tuple[int, ...], axis: int,
                     channels: int, fan_in: int, ties: bool = False
                     ) -> tuple[dict, Tensor, Optional[Tensor], dict]:
    """Input/output quantization, weights and bias of a linear op in ``mode``.

    Scales put typical outputs well inside the output range. With ``ties`` every scale is a power
    of two, so the real multiplier is exactly 2**-k and many accumulators land on exact halves.
    """
    act, scheme, bias_dtype = MODES[mode]
    if act is DType.FLOAT32:
        w = tensor("w", w_shape, DType.FLOAT32, data=rng.standard_normal(w_shape) / math.sqrt(fan_in))
        b = None if bias_dtype is None else tensor("b", [channels], DType.FLOAT32,
                                                   data=rng.standard_normal(channels))
        return {}, w, b, {}
    n_scales = channels if scheme == "per_channel" else 1
    spread = 128.0 * math.sqrt(fan_in)
    if ties:
        k = max(1, round(math.log2(spread / 40.0)))
        in_scale, out_scale = 2.0 ** -7, 2.0 ** -7
        w_scales = 2.0 ** -(k + rng.integers(-1, 2, n_scales))
    else:
        in_scale = float(rng.uniform(0.005, 0.05))
        w_scales = rng.uniform(0.002, 0.02, n_scales)
        out_scale = in_scale * float(np.mean(w_scales)) * spread * float(rng.uniform(0.02, 0.06))
    in_zp = int(rng.integers(-20, 21)) if act is DType.INT8 else 0
    out_zp = int(rng.integers(-20, 21)) if act is DType.INT8 else 0
    w = tensor("w", w_shape, DType.INT8, list(w_scales), 0, axis=axis,
               data=rng.integers(-127, 128, w_shape))
    b = None
    if bias_dtype is not None:
        spread_b = _BIAS_SPREAD[bias_dtype] if act is DType.INT16 else 20000
        b_scales = in_scale * np.broadcast_to(w_scales, (channels,))
        b = tensor("b", [channels], bias_dtype, list(b_scales), 0,
                   data=rng.integers(-spread_b, spread_b, channels))
    return ({"scale": in_scale, "zero_point": in_zp}, w, b, {"scale": out_scale, "zero_point": out_zp})


def _act_tensor(name: str, shape, mode: str, q: dict) -> Tensor:
    dtype = MODES[mode][0]
    if dtype is DType.FLOAT32:
        return tensor(name, shape, dtype)
    return tensor(name, shape, dtype, q["scale"], q["zero_point"])


def seed_of(*key) -> int:
    """A seed that is the same in every process (``hash`` of a str is salted per process)."""
    return zlib.crc32(repr(key).encode())


def _needed(k: int, dilation: int, stride: int, extra: int) -> int:
    return (k - 1) * dilation + 1 + stride + extra


CONV_GRID = list(itertools.product(KERNELS, [1, 2], [1, 2], ["SAME", "VALID"]))


def conv_graph(seed: int, mode: str, kernel, stride: int, dilation: int, padding: str,
               ties: bool = False, groups: int = 1, channels: Optional[tuple[int, int]] = None
               ) -> tuple[Graph, list[np.ndarray]]:
    """A one-op CONV_2D graph and its input; ``channels`` fixes (input per group, output)."""
    rng = np.random.default_rng(seed)
    kh, kw = kernel
    h = _needed(kh, dilation, stride, int(rng.integers(0, 4)))
    w_ = _needed(kw, dilation, stride, int(rng.integers(0, 4))) | 1
    cin_g = int(rng.choice(CHANNELS))
    cout = int(rng.choice(CHANNELS)) * groups
    if channels is not None:
        cin_g, cout = channels
    cin = cin_g * groups
    qin, wt, b, qout = quantized_linear(rng, mode, (cout, kh, kw, cin_g), 0, cout, kh * kw * cin_g, ties)
    attrs = {"padding": padding, "stride_h": stride, "stride_w": stride, "dilation_h_factor": dilation,
             "dilation_w_factor": dilation, "fused_activation_function": str(rng.choice(ACTS))}
    oh = (h + stride - 1) // stride if padding == "SAME" else (h - (kh - 1) * dilation - 1) // stride + 1
    ow = (w_ + stride - 1) // stride if padding == "SAME" else (w_ - (kw - 1) * dilation - 1) // stride + 1
    x = _act_tensor("x", [1, h, w_, cin], mode, qin)
    y = _act_tensor("y", [1, oh, ow, cout], mode, qout)
    graph = single_op_graph("CONV_2D", [x, wt, b], [y], attrs, version=4)
    return graph, [random_input(x, rng)]


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("kernel,stride,dilation,padding", CONV_GRID)
def test_conv2d_generated(mode, kernel, stride, dilation, padding):
    seed = seed_of("conv", mode, kernel, stride, dilation, padding)
    compare_with_tflm(*conv_graph(seed, mode, kernel, stride, dilation, padding), float_rtol=0)


@pytest.mark.parametrize("mode", ["int8_pc", "int16_i64", "float"])
def test_grouped_conv2d(mode):
    for seed in range(3):
        compare_with_tflm(*conv_graph(seed, mode, (3, 3), 1, 1, "SAME", groups=2), float_rtol=0)


def _spy_accumulators(monkeypatch) -> list[tuple[np.ndarray, dict]]:
    """Record (acc + bias, params) each time a conv kernel requantizes."""
    import picoml.kernels.conv as conv_module

    seen = []
    original = conv_module.requantize

    def spy(acc, bias, p):
        seen.append((np.asarray(acc, np.int64) + (0 if bias is None else np.asarray(bias, np.int64)), p))
        return original(acc, bias, p)

    monkeypatch.setattr(conv_module, "requantize", spy)
    return seen


def _exact_halves(acc: np.ndarray, p: dict) -> int:
    """Outputs whose exact value ``acc * M`` ends in .5 (exact in float64 for these scales)."""
    real = acc.astype(np.float64) * (p["multiplier"] * 2.0 ** (p["shift"] - 31.0))
    return int(np.sum(real - np.floor(real) == 0.5))


TIE_CASES = [("CONV_2D", "int8_pc"), ("CONV_2D", "int8_pt"), ("CONV_2D", "int16_i64"), ("CONV_2D", "int16_i32"),
             ("DEPTHWISE_CONV_2D", "int8_pc"), ("DEPTHWISE_CONV_2D", "int16_i64"),
             ("TRANSPOSE_CONV", "int8_pc"), ("TRANSPOSE_CONV", "int16_i64")]


@pytest.mark.parametrize("op_type,mode", TIE_CASES)
def test_exact_half_ties(op_type, mode, monkeypatch):
    """Power-of-two scales: many accumulators round from an exact .5, in both requant forms."""
    seen = _spy_accumulators(monkeypatch)
    for seed in range(4):
        if op_type == "CONV_2D":
            graph, inputs = conv_graph(seed, mode, (3, 3), 1 + seed % 2, 1, "SAME", ties=True)
        elif op_type == "DEPTHWISE_CONV_2D":
            graph, inputs = depthwise_graph(seed, mode, (3, 3), 1, 1 + seed % 2, "VALID", ties=True)
        else:
            graph, inputs = transpose_graph(seed, mode, (3, 3), 2, "SAME", ties=True)
        compare_with_tflm(graph, inputs)
    assert sum(_exact_halves(acc, p) for acc, p in seen) >= 10


def depthwise_graph(seed: int, mode: str, kernel, stride: int, dilation: int, padding: str,
                    ties: bool = False, multiplier: Optional[int] = None) -> tuple[Graph, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    kh, kw = kernel
    h = _needed(kh, dilation, stride, int(rng.integers(0, 4))) | 1
    w_ = _needed(kw, dilation, stride, int(rng.integers(0, 4)))
    cin = int(rng.choice(CHANNELS))
    m = int(rng.choice([1, 2, 8])) if multiplier is None else multiplier
    cout = cin * m
    if MODES[mode][2] is None:  # tflite-micro crashes on a DEPTHWISE_CONV_2D without bias
        mode = {"int8_nobias": "int8_pc", "int16_nobias": "int16_i64"}[mode]
    if mode == "int16_i32":  # TFLM reads an int16 depthwise bias as int64
        mode = "int16_i64"
    qin, wt, b, qout = quantized_linear(rng, mode, (1, kh, kw, cout), 3, cout, kh * kw, ties)
    attrs = {"padding": padding, "stride_h": stride, "stride_w": stride, "dilation_h_factor": dilation,
             "dilation_w_factor": dilation, "depth_multiplier": m,
             "fused_activation_function": str(rng.choice(ACTS))}
    oh = (h + stride - 1) // stride if padding == "SAME" else (h - (kh - 1) * dilation - 1) // stride + 1
    ow = (w_ + stride - 1) // stride if padding == "SAME" else (w_ - (kw - 1) * dilation - 1) // stride + 1
    x = _act_tensor("x", [1, h, w_, cin], mode, qin)
    y = _act_tensor("y", [1, oh, ow, cout], mode, qout)
    graph = single_op_graph("DEPTHWISE_CONV_2D", [x, wt, b], [y], attrs, version=6)
    return graph, [random_input(x, rng)]


@pytest.mark.parametrize("mode", ["int8_pc", "int8_pt", "int16_i64", "float"])
@pytest.mark.parametrize("kernel,stride,dilation,padding", CONV_GRID)
def test_depthwise_generated(mode, kernel, stride, dilation, padding):
    seed = seed_of("dw", mode, kernel, stride, dilation, padding)
    compare_with_tflm(*depthwise_graph(seed, mode, kernel, stride, dilation, padding), float_rtol=0)


@pytest.mark.parametrize("multiplier", [1, 2, 8])
def test_depthwise_multipliers(multiplier):
    """person_detect's first layer: one input channel, depth multiplier 8, 3x3 stride 2 SAME."""
    for seed, mode in enumerate(["int8_pc", "int16_i64", "float"]):
        compare_with_tflm(*depthwise_graph(seed, mode, (3, 3), 2, 1, "SAME", multiplier=multiplier),
                          float_rtol=0)


def transpose_graph(seed: int, mode: str, kernel, stride: int, padding: str,
                    ties: bool = False) -> tuple[Graph, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    kh, kw = kernel
    ih, iw = int(rng.integers(1, 5)), int(rng.integers(2, 6))
    cin, cout = int(rng.choice(CHANNELS)), int(rng.choice(CHANNELS))
    if padding == "VALID":
        oh, ow = (ih - 1) * stride + kh, (iw - 1) * stride + kw
    else:  # any size whose SAME conv gives the input back, e.g. in*stride or in*stride-1
        oh, ow = ih * stride - int(rng.integers(0, stride)), iw * stride - int(rng.integers(0, stride))
    if mode == "int16_i32":  # TFLM reads an int16 transpose-conv bias as int64
        mode = "int16_i64"
    qin, wt, b, qout = quantized_linear(rng, mode, (cout, kh, kw, cin), 0, cout, kh * kw * cin, ties)
    shape = tensor("shape", [4], DType.INT32, data=np.array([1, oh, ow, cout]))
    x = _act_tensor("x", [1, ih, iw, cin], mode, qin)
    y = _act_tensor("y", [1, oh, ow, cout], mode, qout)
    attrs = {"padding": padding, "stride_h": stride, "stride_w": stride,
             "fused_activation_function": str(rng.choice(ACTS))}
    graph = single_op_graph("TRANSPOSE_CONV", [shape, wt, x, b], [y], attrs, version=4)
    return graph, [random_input(x, rng)]


@pytest.mark.parametrize("mode", ["int8_pc", "int8_pt", "int8_nobias", "int16_i64", "int16_nobias", "float"])
@pytest.mark.parametrize("kernel,stride,padding", list(itertools.product(KERNELS, [1, 2], ["SAME", "VALID"])))
def test_transpose_conv_generated(mode, kernel, stride, padding):
    seed = seed_of("tc", mode, kernel, stride, padding)
    compare_with_tflm(*transpose_graph(seed, mode, kernel, stride, padding), float_rtol=0)


# -- rejection --------------------------------------------------------------------------------
def _prepare(graph: Graph) -> dict:
    op = graph.ops[0]
    return get_kernel(op).prepare(op, graph)


def _conv() -> Graph:
    return conv_graph(0, "int8_pc", (3, 3), 1, 1, "SAME", channels=(3, 8))[0]


MUTATIONS = {
    "stride 0": lambda g: g.ops[0].attrs.update(stride_h=0),
    "stride negative": lambda g: g.ops[0].attrs.update(stride_w=-2),
    "stride not int": lambda g: g.ops[0].attrs.update(stride_w="2"),
    "dilation 0": lambda g: g.ops[0].attrs.update(dilation_h_factor=0),
    "padding BAD": lambda g: g.ops[0].attrs.update(padding="BAD"),
    "activation TANH": lambda g: g.ops[0].attrs.update(fused_activation_function="TANH"),
    "one input": lambda g: g.ops[0].inputs.__delitem__(slice(1, None)),
    "four inputs": lambda g: g.ops[0].inputs.append(g.ops[0].inputs[1]),
    "output shape": lambda g: setattr(g.tensors[g.outputs[0]], "shape", (1, 2, 2, 2)),
    "input rank": lambda g: setattr(g.tensors["x"], "shape", g.tensors["x"].shape[1:]),
    "missing input quant": lambda g: setattr(g.tensors["x"], "quant", None),
    "missing weight quant": lambda g: setattr(g.tensors["w"], "quant", None),
    "per-channel count": lambda g: setattr(g.tensors["w"].quant, "scale", np.ones(2, np.float32) * 0.01),
    "per-channel axis": lambda g: setattr(g.tensors["w"].quant, "axis", 3),
    "weight zero point": lambda g: setattr(g.tensors["w"].quant, "zero_point", np.ones(8, np.int64)),
    "zero output scale": lambda g: setattr(g.tensors["y"].quant, "scale", np.zeros(1, np.float32)),
    "bias size": lambda g: setattr(g.tensors["b"], "shape", (g.tensors["b"].shape[0] + 1,)),
    "bias dtype": lambda g: setattr(g.tensors["b"], "dtype", DType.INT64),
    "output dtype": lambda g: setattr(g.tensors["y"], "dtype", DType.INT16),
    "float weights on int8": lambda g: setattr(g.tensors["w"], "dtype", DType.FLOAT32),
    "input depth": lambda g: setattr(g.tensors["x"], "shape", g.tensors["x"].shape[:3] + (4,)),
    "empty input": lambda g: setattr(g.tensors["x"], "shape", (1, 0) + g.tensors["x"].shape[2:]),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_conv_rejects(name):
    graph = _conv()
    MUTATIONS[name](graph)
    with pytest.raises(GraphError, match="CONV_2D"):
        _prepare(graph)


def test_int16_nonzero_zero_point_rejected():
    graph = conv_graph(1, "int16_i64", (3, 3), 1, 1, "SAME")[0]
    graph.tensors["x"].quant.zero_point[:] = 3
    with pytest.raises(GraphError, match="zero point 0"):
        _prepare(graph)


def test_depthwise_rejects_multiplier_mismatch():
    graph = depthwise_graph(0, "int8_pc", (3, 3), 1, 1, "SAME", multiplier=2)[0]
    graph.ops[0].attrs["depth_multiplier"] = 3
    with pytest.raises(GraphError, match="depth_multiplier"):
        _prepare(graph)
    graph.ops[0].attrs["depth_multiplier"] = 0
    with pytest.raises(GraphError, match="depth_multiplier"):
        _prepare(graph)


def test_depthwise_int16_rejects_int32_bias():
    graph = depthwise_graph(0, "int16_i64", (3, 3), 1, 1, "SAME")[0]
    b = graph.tensors["b"]
    b.dtype, b.data = DType.INT32, b.data.astype(np.int32)
    with pytest.raises(GraphError, match="bias"):
        _prepare(graph)


def test_transpose_conv_rejects_inconsistent_shapes():
    graph = transpose_graph(0, "int8_pc", (3, 3), 2, "VALID")[0]
    shape = graph.tensors["shape"]
    shape.data = shape.data + np.array([0, 1, 0, 0], np.int32)
    with pytest.raises(GraphError, match="output shape"):
        _prepare(graph)
    graph = transpose_graph(0, "int8_pc", (3, 3), 2, "VALID")[0]
    y = graph.tensors["y"]
    y.shape = (1, y.shape[1] + 3, y.shape[2], y.shape[3])
    graph.tensors["shape"].data = np.array(y.shape, np.int32)
    with pytest.raises(GraphError, match="does not invert"):
        _prepare(graph)


def test_hybrid_conv_rejects_per_channel_scales():
    graph = _conv()
    for name in ("x", "y", "b"):
        t = graph.tensors[name]
        t.dtype, t.quant = DType.FLOAT32, None
    with pytest.raises(GraphError, match="per-channel hybrid"):
        _prepare(graph)
    graph.tensors["w"].quant.scale = np.full(8, 0.01, np.float32)
    graph.ops[0].attrs["dilation_h_factor"] = 2
    with pytest.raises(GraphError, match="dilation"):
        _prepare(graph)


# -- MACs -------------------------------------------------------------------------------------
def test_macs_count_every_weight_tap_per_output():
    graph = conv_graph(0, "int8_pc", (3, 3), 2, 1, "SAME")[0]
    x, w, y = (graph.tensors[n] for n in ("x", "w", "y"))
    assert _prepare(graph)["macs"] == y.size * w.shape[1] * w.shape[2] * w.shape[3]
    graph = depthwise_graph(0, "int8_pc", (5, 3), 1, 1, "VALID")[0]
    w, y = graph.tensors["w"], graph.tensors["y"]
    assert _prepare(graph)["macs"] == y.size * w.shape[1] * w.shape[2]
    graph = transpose_graph(0, "int8_pc", (3, 3), 2, "SAME")[0]
    x, w = graph.tensors["x"], graph.tensors["w"]
    assert _prepare(graph)["macs"] == x.size * w.shape[0] * w.shape[1] * w.shape[2]


def test_depthwise_without_bias_equals_zero_bias():
    """tflite-micro crashes on a DEPTHWISE_CONV_2D without bias, so check picoml's no-bias
    result against the TFLM-verified zero-bias one."""
    for mode in ("int8_pc", "int16_i64", "float"):
        graph, inputs = depthwise_graph(4, mode, (3, 3), 2, 1, "SAME")
        with_zero_bias = graph.tensors["b"]
        with_zero_bias.data = np.zeros_like(with_zero_bias.data)
        expected = Interpreter(graph).run(inputs)[0]
        graph.ops[0].inputs[2] = None
        np.testing.assert_array_equal(Interpreter(graph).run(inputs)[0], expected)


ATTR_CORRUPTIONS = [("stride_h", 0), ("stride_w", None), ("stride_h", 1 << 40), ("dilation_w_factor", -1),
                    ("dilation_h_factor", 1 << 30), ("padding", "BAD"), ("padding", None),
                    ("depth_multiplier", 0), ("depth_multiplier", 99), ("fused_activation_function", 7),
                    ("fused_activation_function", "SIGN_BIT")]


@pytest.mark.parametrize("op_type", ["CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV"])
@pytest.mark.parametrize("attr,value", ATTR_CORRUPTIONS)
def test_corrupt_attrs_raise_graph_error_only(op_type, attr, value):
    """A mutated model must give a picoml error (or a valid op), never another exception."""
    graph = {"CONV_2D": lambda: _conv(),
             "DEPTHWISE_CONV_2D": lambda: depthwise_graph(0, "int8_pc", (3, 3), 1, 1, "SAME")[0],
             "TRANSPOSE_CONV": lambda: transpose_graph(0, "int8_pc", (3, 3), 2, "SAME")[0]}[op_type]()
    graph.ops[0].attrs[attr] = value
    try:
        _prepare(graph)
    except GraphError:
        pass
