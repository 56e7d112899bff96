"""LOGISTIC and TANH: bit-exact with tflite-micro on generated one-op graphs (every int8
value, dense int16 sweeps, float) and on the real dtln model's LOGISTIC; refused graphs."""
import numpy as np
import pytest

from picoml.errors import GraphError
from picoml.frontends.tflite import load_tflite
from picoml.interpreter import Interpreter
from picoml.ir import DType
from picoml.testing.opmodel import compare_with_tflm, single_op_graph, tensor

ALL_INT8 = np.arange(-128, 128, dtype=np.int8)
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)
INT8_OUT = {"LOGISTIC": (1.0 / 256, -128), "TANH": (1.0 / 128, 0)}


def graph(op_type, shape, in_dtype, in_scale=None, in_zp=0, out_dtype=None, out_scale=None, out_zp=0):
    x = tensor("x", shape, in_dtype, in_scale, in_zp)
    y = tensor("y", shape, out_dtype or in_dtype, out_scale, out_zp)
    return single_op_graph(op_type, [x], [y])


# -- int8: every value, many input quantizations -------------------------------------------

@pytest.mark.parametrize("op_type", ["LOGISTIC", "TANH"])
@pytest.mark.parametrize("scale", [0.001, 0.0078125, 0.01, 0.0387753, 0.05, 0.1, 0.125, 0.3, 1.0, 3.0, 20.0])
@pytest.mark.parametrize("zp", [-128, -2, 0, 77, 127])
def test_int8_every_value(op_type, scale, zp):
    g = graph(op_type, [2, 8, 16], DType.INT8, scale, zp, out_scale=INT8_OUT[op_type][0],
              out_zp=INT8_OUT[op_type][1])
    compare_with_tflm(g, [ALL_INT8.reshape(2, 8, 16)])


@pytest.mark.parametrize("op_type", ["LOGISTIC", "TANH"])
def test_int8_scales_at_the_range_edges(op_type, rng):
    # radius 0 (huge scale: only the sign matters, input 0 saturates low) and tiny scales
    out_scale, out_zp = INT8_OUT[op_type]
    for scale in [2.0 ** -28, 1e-8, 4.0, 16.0, 2.0 ** 30]:
        g = graph(op_type, [256], DType.INT8, scale, 3, out_scale=out_scale, out_zp=out_zp)
        compare_with_tflm(g, [ALL_INT8])
    for scale in rng.uniform(0.001, 0.5, size=20):
        g = graph(op_type, [1, 256], DType.INT8, float(scale), int(rng.integers(-128, 128)),
                  out_scale=out_scale, out_zp=out_zp)
        compare_with_tflm(g, [ALL_INT8.reshape(1, 256)])


def test_int8_logistic_matches_float_within_a_step():
    g = graph("LOGISTIC", [256], DType.INT8, 0.05, 0, out_scale=1 / 256, out_zp=-128)
    got = Interpreter(g).run([ALL_INT8])[0].astype(np.float64)
    ideal = 1 / (1 + np.exp(-0.05 * ALL_INT8.astype(np.float64))) * 256 - 128
    assert np.max(np.abs(got - np.clip(ideal, -128, 127))) <= 1.0


# -- int16: dense sweeps -------------------------------------------------------------------

# power-of-two scales take the exact "3 << shift" path (logistic: 2**-12 only, tanh: 2**-12
# and 2**-11); the others the normalised 15-bit multiplier; 2**-12 * 1.0005 is a power of two
# within CheckedLog2's tolerance; 1e-12 runs the shift loop to its end (31).
INT16_SCALES = [2.0 ** -12, 2.0 ** -11, 2.0 ** -10, 2.0 ** -13, 2.0 ** -12 * 1.0005, 0.0003, 1e-4,
                4.57763671875e-05, 0.001, 0.01, 0.3, 1e-7, 1e-12]


@pytest.mark.parametrize("op_type", ["LOGISTIC", "TANH"])
@pytest.mark.parametrize("scale", INT16_SCALES)
def test_int16_every_value(op_type, scale):
    g = graph(op_type, [256, 256], DType.INT16, scale, 0, out_scale=2.0 ** -15, out_zp=0)
    compare_with_tflm(g, [ALL_INT16.reshape(256, 256)])


@pytest.mark.parametrize("op_type", ["LOGISTIC", "TANH"])
def test_int16_random_scales(op_type, rng):
    for scale in np.exp(rng.uniform(np.log(1e-6), np.log(2.0), size=12)):
        g = graph(op_type, [4, 1, 3, 7], DType.INT16, float(scale), 0, out_scale=2.0 ** -15)
        x = rng.integers(-32768, 32768, size=(4, 1, 3, 7)).astype(np.int16)
        compare_with_tflm(g, [x])


# -- float ---------------------------------------------------------------------------------

@pytest.mark.parametrize("op_type", ["LOGISTIC", "TANH"])
@pytest.mark.parametrize("shape", [[1], [1, 33], [2, 3, 5], [1, 4, 4, 3]])
def test_float(op_type, shape, rng):
    g = graph(op_type, shape, DType.FLOAT32)
    compare_with_tflm(g, [(rng.standard_normal(shape) * 6).astype(np.float32)])


@pytest.mark.parametrize("op_type", ["LOGISTIC", "TANH"])
def test_float_extremes(op_type):
    # around the logistic cut-offs (16.619, -9) and far beyond exp's float range
    x = np.array([-1000, -100, -88.8, -9.001, -9, -8.999, -1e-7, 0, 1e-7, 16.6, 16.619047, 16.62, 90, 1e30],
                 np.float32)
    compare_with_tflm(graph(op_type, [x.size], DType.FLOAT32), [x])


# -- the real model ------------------------------------------------------------------------

def test_dtln_logistic_in_isolation(real, rng):
    model = load_tflite(real / "tflm/dtln/dtln_noise_suppression.tflite")
    op = next(o for o in model.ops if o.type == "LOGISTIC")
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    g = single_op_graph("LOGISTIC", [x], [y])
    compare_with_tflm(g, [np.resize(ALL_INT8, x.shape)])
    compare_with_tflm(g, [rng.integers(-128, 128, size=x.shape).astype(np.int8)])


# -- refused graphs ------------------------------------------------------------------------

@pytest.mark.parametrize("op_type,kwargs,match", [
    ("LOGISTIC", dict(in_scale=0.1, out_scale=1 / 128, out_zp=-128), "scale"),
    ("LOGISTIC", dict(in_scale=0.1, out_scale=1 / 256, out_zp=0), "zero point"),
    ("TANH", dict(in_scale=0.1, out_scale=1 / 128, out_zp=-128), "zero point"),
    ("TANH", dict(in_scale=0.1, out_scale=1 / 256, out_zp=0), "scale"),
    ("TANH", dict(in_scale=None, out_scale=1 / 128), "no quantization"),
    ("LOGISTIC", dict(in_scale=0.1, out_scale=None), "no quantization"),
    ("LOGISTIC", dict(in_scale=1e-9, out_scale=1 / 256, out_zp=-128), "scale outside"),
])
def test_int8_refused(op_type, kwargs, match):
    g = graph(op_type, [4], DType.INT8, **kwargs)
    with pytest.raises(GraphError, match=match):
        Interpreter(g)


@pytest.mark.parametrize("kwargs,match", [
    (dict(in_scale=2.0 ** -12, in_zp=1, out_scale=2.0 ** -15), "zero point 0"),
    (dict(in_scale=2.0 ** -12, out_scale=2.0 ** -15, out_zp=3), "zero point 0"),
    (dict(in_scale=2.0 ** -12, out_scale=2.0 ** -14), "2\\*\\*-15"),
    (dict(in_scale=2.0 ** -12, out_scale=3e-5), "2\\*\\*-15"),
    (dict(in_scale=10.0, out_scale=2.0 ** -15), "scale outside"),
])
@pytest.mark.parametrize("op_type", ["LOGISTIC", "TANH"])
def test_int16_refused(op_type, kwargs, match):
    g = graph(op_type, [4], DType.INT16, **kwargs)
    with pytest.raises(GraphError, match=match):
        Interpreter(g)


@pytest.mark.parametrize("op_type", ["LOGISTIC", "TANH"])
def test_structure_refused(op_type):
    with pytest.raises(GraphError, match="not supported"):
        Interpreter(graph(op_type, [4], DType.INT8, 0.1, 0, out_dtype=DType.INT16, out_scale=2.0 ** -15))
    with pytest.raises(GraphError, match="not supported"):
        Interpreter(graph(op_type, [4], DType.INT32))
    x, y = tensor("x", [4], DType.FLOAT32), tensor("y", [5], DType.FLOAT32)
    with pytest.raises(GraphError, match="shape"):
        Interpreter(single_op_graph(op_type, [x], [y]))
    x2 = tensor("x2", [4], DType.FLOAT32)
    y = tensor("y", [4], DType.FLOAT32)
    with pytest.raises(GraphError, match="1 input"):
        Interpreter(single_op_graph(op_type, [x, x2], [y]))
    per_channel = tensor("x", [1, 2], DType.INT8, [0.1, 0.2], 0, axis=1)
    y = tensor("y", [1, 2], DType.INT8, *INT8_OUT[op_type])
    with pytest.raises(GraphError, match="per tensor"):
        Interpreter(single_op_graph(op_type, [per_channel], [y]))


def test_macs_one_per_element():
    g = graph("TANH", [2, 3, 5], DType.FLOAT32)
    assert Interpreter(g).macs == 30
