"""FULLY_CONNECTED against tflite-micro, bit for bit: real models' FC ops alone, and generated
graphs over dtypes, per-tensor and per-channel weights, biases, activations, input ranks,
keep_num_dims and power-of-two scales that make exact .5 ties."""
from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

import picoml
from picoml.errors import GraphError
from picoml.ir import DType, Graph, Op
from picoml.kernels.registry import get_kernel
from picoml.testing.opmodel import compare_with_tflm, random_input, single_op_graph, tensor

ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
REAL_FC_MODELS = ["mlperf_tiny/ad/ad01_int8.tflite", "mlperf_tiny/ad/ad01_fp32.tflite",
                  "tflm/hello_world/hello_world_int8.tflite", "tflm/hello_world/hello_world_float.tflite",
                  "tflm/micro_speech/micro_speech_quantized.tflite", "mlperf_tiny/kws/kws_ref_model.tflite",
                  "tflm/keyword_benchmark/keyword_scrambled.tflite", "tflm/dtln/dtln_noise_suppression.tflite"]


@pytest.mark.parametrize("model", REAL_FC_MODELS)
def test_real_model_fc_ops_alone(real, model):
    graph = picoml.load_tflite(real / model)
    rng = np.random.default_rng(5)
    ops = [op for op in graph.ops if op.type == "FULLY_CONNECTED"]
    assert ops
    for op in ops:
        names = [n for n in op.inputs if n is not None]
        sub = Graph({n: graph.tensors[n] for n in names + op.outputs},
                    [Op(op.type, list(op.inputs), list(op.outputs), dict(op.attrs), version=op.version)],
                    [n for n in names if not graph.tensors[n].is_const], list(op.outputs)).validate()
        compare_with_tflm(sub, [random_input(t, rng) for t in sub.input_tensors], float_rtol=0)


# (activation dtype, weight scales, bias dtype or None)
MODES = {
    "int8_pt": (DType.INT8, "per_tensor", DType.INT32),
    "int8_pc": (DType.INT8, "per_channel", DType.INT32),
    "int8_nobias": (DType.INT8, "per_tensor", None),
    "int16_i64": (DType.INT16, "per_tensor", DType.INT64),
    "int16_i64_pc": (DType.INT16, "per_channel", DType.INT64),
    "int16_i32": (DType.INT16, "per_tensor", DType.INT32),
    "int16_nobias": (DType.INT16, "per_channel", None),
    "float": (DType.FLOAT32, None, DType.FLOAT32),
    "float_nobias": (DType.FLOAT32, None, None),
}
# (input shape, keep_num_dims): rank 2, rank 3 and 4 flattened, and kept leading dims.
SHAPES = [((1, 17), False), ((3, 8), False), ((2, 3, 5), False), ((1, 2, 2, 3), False),
          ((2, 3, 5), True), ((1, 1), False)]


def fc_graph(seed: int, mode: str, in_shape: tuple[int, ...], keep: bool, units: int,
             ties: bool = False) -> tuple[Graph, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    act, scheme, bias_dtype = MODES[mode]
    depth = in_shape[-1]
    batches = int(np.prod(in_shape)) // depth
    out_shape = tuple(in_shape[:-1]) + (units,) if keep else (batches, units)
    attrs = {"fused_activation_function": str(rng.choice(ACTS)), "keep_num_dims": keep,
             "weights_format": 0, "asymmetric_quantize_inputs": False}
    if act is DType.FLOAT32:
        x, y = tensor("x", in_shape, act), tensor("y", out_shape, act)
        w = tensor("w", (units, depth), act, data=rng.standard_normal((units, depth)) / math.sqrt(depth))
        b = None if bias_dtype is None else tensor("b", [units], act, data=rng.standard_normal(units))
        return single_op_graph("FULLY_CONNECTED", [x, w, b], [y], attrs, version=9), [random_input(x, rng)]
    n_scales = units if scheme == "per_channel" else 1
    spread = 128.0 * math.sqrt(depth)
    if ties:
        k = max(1, round(math.log2(spread / 40.0)))
        in_scale = out_scale = 2.0 ** -7
        w_scales = 2.0 ** -(k + rng.integers(-1, 2, n_scales)) if n_scales > 1 else np.array([2.0 ** -k])
    else:
        in_scale = float(rng.uniform(0.005, 0.05))
        w_scales = rng.uniform(0.002, 0.02, n_scales)
        out_scale = in_scale * float(np.mean(w_scales)) * spread * float(rng.uniform(0.02, 0.06))
    in_zp = int(rng.integers(-20, 21)) if act is DType.INT8 else 0
    out_zp = int(rng.integers(-20, 21)) if act is DType.INT8 else 0
    x = tensor("x", in_shape, act, in_scale, in_zp)
    y = tensor("y", out_shape, act, out_scale, out_zp)
    w = tensor("w", (units, depth), DType.INT8, list(w_scales), 0, axis=0,
               data=rng.integers(-127, 128, (units, depth)))
    b = None
    if bias_dtype is not None:
        spread_b = 5_000_000 if bias_dtype is DType.INT64 else 20000
        b = tensor("b", [units], bias_dtype, list(in_scale * np.broadcast_to(w_scales, (units,))), 0,
                   data=rng.integers(-spread_b, spread_b, units))
    return single_op_graph("FULLY_CONNECTED", [x, w, b], [y], attrs, version=9), [random_input(x, rng)]


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("in_shape,keep", SHAPES)
def test_fully_connected_generated(mode, in_shape, keep):
    for units in (1, 3, 17):
        seed = zlib.crc32(repr((mode, in_shape, keep, units)).encode())
        compare_with_tflm(*fc_graph(seed, mode, in_shape, keep, units), float_rtol=0)


@pytest.mark.parametrize("mode", ["int8_pt", "int8_pc", "int16_i64", "int16_i32"])
def test_fully_connected_ties(mode, monkeypatch):
    """Power-of-two scales: many accumulators sit exactly on .5 before rounding."""
    import picoml.kernels.fully_connected as fc

    seen = []
    original = fc.requantize

    def spy(acc, bias, p):
        seen.append((np.asarray(acc, np.int64) + (0 if bias is None else np.asarray(bias, np.int64)), p))
        return original(acc, bias, p)

    monkeypatch.setattr(fc, "requantize", spy)
    for seed in range(6):
        compare_with_tflm(*fc_graph(seed, mode, (8, 9), False, 17, ties=True))
    halves = 0
    for acc, p in seen:
        real = acc.astype(np.float64) * (p["multiplier"] * 2.0 ** (p["shift"] - 31.0))
        halves += int(np.sum(real - np.floor(real) == 0.5))
    assert halves >= 10


def test_per_tensor_multiplier_is_computed_in_double():
    """TFLM's per-tensor FC multiplier is ``in * w / out`` in double, like conv. Older TFLM
    multiplied ``in * w`` in float32 first; these scales put input 106 on opposite sides of .5
    under the two rules: 8 in double, 9 with the float32 product."""
    in_scale, w_scale, out_scale = 0.07556162774562836, 0.002646293491125107, 0.002512068022042513
    x = tensor("x", (256, 1), DType.INT8, in_scale, 0)
    w = tensor("w", (1, 1), DType.INT8, w_scale, 0, data=np.ones((1, 1)))
    y = tensor("y", (256, 1), DType.INT8, out_scale, 0)
    graph = single_op_graph("FULLY_CONNECTED", [x, w, None], [y], {"fused_activation_function": "NONE"})
    values = np.arange(-128, 128, dtype=np.int8).reshape(256, 1)
    compare_with_tflm(graph, [values])
    from picoml.interpreter import Interpreter

    assert Interpreter(graph).run([values])[0][128 + 106, 0] == 8


# -- rejection --------------------------------------------------------------------------------
def _fc() -> Graph:
    return fc_graph(0, "int8_pt", (2, 6), False, 4)[0]


MUTATIONS = {
    "weights rank": lambda g: setattr(g.tensors["w"], "shape", (4, 6, 1)),
    "input not rows": lambda g: setattr(g.tensors["x"], "shape", (1, 7)),
    "output shape": lambda g: setattr(g.tensors["y"], "shape", (2, 5)),
    "activation TANH": lambda g: g.ops[0].attrs.update(fused_activation_function="TANH"),
    "weights format": lambda g: g.ops[0].attrs.update(weights_format=1),
    "bias size": lambda g: setattr(g.tensors["b"], "shape", (5,)),
    "bias dtype": lambda g: setattr(g.tensors["b"], "dtype", DType.INT16),
    "bias scale": lambda g: setattr(g.tensors["b"].quant, "scale", np.ones(1, np.float32)),
    "missing output quant": lambda g: setattr(g.tensors["y"], "quant", None),
    "per-channel count": lambda g: setattr(g.tensors["w"].quant, "scale", np.full(3, 0.01, np.float32)),
    "weight zero point": lambda g: setattr(g.tensors["w"].quant, "zero_point", np.ones(1, np.int64)),
    "one input": lambda g: g.ops[0].inputs.__delitem__(slice(1, None)),
    "int16 weights": lambda g: setattr(g.tensors["w"], "dtype", DType.INT16),
    "float input with int8 weights": lambda g: setattr(g.tensors["x"], "dtype", DType.FLOAT32),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_fully_connected_rejects(name):
    graph = _fc()
    MUTATIONS[name](graph)
    op = graph.ops[0]
    with pytest.raises(GraphError, match="FULLY_CONNECTED"):
        get_kernel(op).prepare(op, graph)


def test_fully_connected_macs():
    graph = fc_graph(0, "int8_pt", (2, 3, 5), False, 7)[0]
    op = graph.ops[0]
    assert get_kernel(op).prepare(op, graph)["macs"] == 6 * 5 * 7


def test_keep_num_dims_output_shape():
    graph, inputs = fc_graph(3, "float", (2, 3, 5), True, 4)
    from picoml.interpreter import Interpreter

    assert Interpreter(graph).run(inputs)[0].shape == (2, 3, 4)
