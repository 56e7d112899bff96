"""LOGISTIC and TANH, bit-exact with tflite-micro's reference kernels.

* float32: ``1/(1+exp(-x))`` with TFLM's cut-offs (1 above 16.619, ``exp(x)`` below -9);
  ``tanh``.
* int8: the input difference ``q - zp`` is rescaled to Q4.27 with a Q31 multiplier (inputs
  beyond ``input_range_radius`` saturate directly), gemmlowp's fixed-point logistic / tanh
  gives Q0.31, rounded to the fixed output grid: logistic scale 1/256 zp -128, tanh scale
  1/128 zp 0.
* int16 (zero points 0, output scale 2**-15): the input is scaled to units of 1/(3*4096)
  (a power-of-two input scale uses the exact factor 3 << shift) and read from TFLM's
  256-entry ``sigmoid(i/24)`` table with linear interpolation; tanh uses
  ``tanh(x) = 2*sigmoid(2x) - 1`` on the same table.

Also holds the checks every elementwise activation shares (one input, one output of the
same shape, per-tensor quantization).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from picoml.errors import GraphError
from picoml.ir import DType, Graph, Op, Tensor
from picoml.kernels import fixedpoint as fp
from picoml.kernels.quant import multiply_by_quantized_multiplier, round_half_away, rounding_divide_by_pot
from picoml.kernels.registry import Params, register

INPUT_INTEGER_BITS_INT8 = 4  # int8 inputs are rescaled to Q4.27 (range +-16)
LOGISTIC_CUTOFF_UPPER = np.float32(16.619047164916992188)
LOGISTIC_CUTOFF_LOWER = np.float32(-9.0)


# -- checks shared by the activation kernels ----------------------------------------------

def unary_tensors(op: Op, graph: Graph) -> tuple[Tensor, Tensor]:
    """The input and output of a one-input one-output op, checked to exist."""
    if len(op.inputs) != 1 or op.inputs[0] is None:
        raise GraphError(f"{op.describe()}: expects exactly 1 input, got {len(op.inputs)}")
    if len(op.outputs) != 1:
        raise GraphError(f"{op.describe()}: expects exactly 1 output, got {len(op.outputs)}")
    return graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]


def check_same_shape(op: Op, x: Tensor, y: Tensor) -> None:
    """The output of an elementwise op has the input's shape; empty tensors are refused."""
    if y.shape != x.shape:
        raise GraphError(f"{op.describe()}: output {y.describe()} must have the shape of input {x.describe()}")
    if x.size == 0:
        raise GraphError(f"{op.describe()}: input {x.describe()} is empty")


def per_tensor_quant(op: Op, t: Tensor) -> tuple[float, int]:
    """(scale, zero point) of a quantized tensor that must carry one positive scale."""
    if t.quant is None or t.quant.scale.size == 0:
        raise GraphError(f"{op.describe()}: quantized tensor {t.describe()} has no quantization parameters")
    if t.quant.per_channel:
        raise GraphError(f"{op.describe()}: tensor {t.describe()} must be quantized per tensor")
    scale, zp = float(t.quant.scale[0]), int(t.quant.zero_point[0])
    if not (scale > 0 and math.isfinite(scale)):
        raise GraphError(f"{op.describe()}: tensor {t.describe()} needs a positive finite scale")
    info = np.iinfo(t.dtype.numpy)
    if not info.min <= zp <= info.max:
        raise GraphError(f"{op.describe()}: zero point of {t.describe()} is outside the {t.dtype.value} range")
    return scale, zp


def require_output_grid(op: Op, t: Tensor, scale: float, zero_point: int, exact: bool = False) -> None:
    """Outputs of these ops live on a fixed grid that the kernel assumes; refuse any other
    (``exact``: the float32 scale must be equal, else within 0.1% like TFLM's checks)."""
    s, zp = per_tensor_quant(op, t)
    ok_scale = np.float32(s) == np.float32(scale) if exact else abs(s - scale) <= 1e-3 * scale
    if zp != zero_point or not ok_scale:
        raise GraphError(f"{op.describe()}: output {t.describe()} must have scale {scale:.8g} and zero "
                         f"point {zero_point} (the fixed output range of {op.type} for {t.dtype.value})")


def check_dtypes(op: Op, x: Tensor, y: Tensor, allowed: list[tuple[DType, DType]]) -> None:
    """Refuse a dtype combination the kernel does not implement, listing those it does."""
    if (x.dtype, y.dtype) not in allowed:
        listed = ", ".join(f"{a.value}->{b.value}" for a, b in allowed)
        raise GraphError(f"{op.describe()}: {x.describe()} -> {y.describe()} is not supported "
                         f"(supported: {listed})")


# -- int8: gemmlowp fixed point -----------------------------------------------------------

def prepare_int8_input(op: Op, x: Tensor) -> Params:
    """Multiplier, shift and saturation radius that bring ``q - zp`` to Q4.27 (TFLM's int8
    logistic/tanh Prepare: frexp of ``scale * 2**27``, no greater-than-one requirement)."""
    scale, zp = per_tensor_quant(op, x)
    frac, shift = math.frexp(scale * float(1 << (31 - INPUT_INTEGER_BITS_INT8)))
    multiplier = round_half_away(frac * float(1 << 31))
    if not 0 <= shift <= 62 or multiplier >= 1 << 31:
        raise GraphError(f"{op.describe()}: input {x.describe()} has a scale outside the range "
                         "the int8 kernel supports (2**-28 .. 2**35)")
    radius = fp.calculate_input_radius(INPUT_INTEGER_BITS_INT8, shift, 31)
    return {"input_zero_point": zp, "input_multiplier": multiplier, "input_left_shift": shift,
            "input_range_radius": radius}


def eval_int8(params: Params, x: np.ndarray, func: str) -> np.ndarray:
    """int8 logistic / tanh through Q4.27 fixed point (``func`` is "logistic" or "tanh")."""
    q = x.astype(np.int64) - params["input_zero_point"]
    radius = params["input_range_radius"]
    inside = (q > -radius) & (q < radius)
    q_in = multiply_by_quantized_multiplier(np.where(inside, q, 0), params["input_multiplier"],
                                            params["input_left_shift"])
    if func == "logistic":
        out = rounding_divide_by_pot(fp.logistic(q_in, INPUT_INTEGER_BITS_INT8), 31 - 8) - 128
    else:
        out = rounding_divide_by_pot(fp.tanh(q_in, INPUT_INTEGER_BITS_INT8), 31 - 7)
    out = np.where(q <= -radius, -128, np.where(q >= radius, 127, np.clip(out, -128, 127)))
    return out.astype(np.int8)


# -- int16: sigmoid table ------------------------------------------------------------------

def prepare_int16(op: Op, x: Tensor, y: Tensor, max_pot_shift: int) -> Params:
    """TFLM's int16 Prepare: zero points 0, output scale 2**-15, and the input multiplier and
    shift to units of 1/(3*4096). A power-of-two input scale (within ``max_pot_shift``) keeps
    the exact factor ``3 << shift``; otherwise a 15-bit multiplier is normalised above 16383."""
    scale, zp = per_tensor_quant(op, x)
    out_scale, out_zp = per_tensor_quant(op, y)
    if zp != 0 or out_zp != 0:
        raise GraphError(f"{op.describe()}: int16 input {x.describe()} and output {y.describe()} "
                         "need zero point 0")
    out_pot, out_log2 = fp.checked_log2(out_scale)
    if not out_pot or out_log2 != -15:
        raise GraphError(f"{op.describe()}: int16 output {y.describe()} must have scale 2**-15")
    is_pot, log2 = fp.checked_log2(scale)
    shift = 12 + log2
    if is_pot and 0 <= shift <= max_pot_shift:
        return {"input_multiplier": 3 << shift, "input_left_shift": 0}
    multiplier = scale * 4096.0 * 3.0
    shift = 0
    while multiplier <= 32767.0 / 2.0 and shift <= 30:
        shift += 1
        multiplier *= 2.0
    if not 1 <= int(multiplier) <= 32767:
        raise GraphError(f"{op.describe()}: int16 input {x.describe()} has a scale outside the range "
                         "the int16 kernel supports (about 4e-14 .. 2.6)")
    return {"input_multiplier": int(multiplier), "input_left_shift": shift}


def _scaled_int16_input(params: Params, x: np.ndarray) -> np.ndarray:
    """The int16 input in units of 1/(3*4096) (rounded arithmetic shift, int32 range)."""
    shift = params["input_left_shift"]
    rounding = (1 << (shift - 1)) if shift > 0 else 0
    return (x.astype(np.int64) * params["input_multiplier"] + rounding) >> shift


def _sigmoid_interp(abs_x: np.ndarray, frac_bits: int, saturated: int) -> np.ndarray:
    """Unsigned sigmoid table read at ``abs_x / 2**frac_bits``, linearly interpolated on the
    ``frac_bits`` low bits; ``saturated`` beyond the table's last segment."""
    table = fp.sigmoid_table_uint16()
    seg = abs_x >> frac_bits
    inside = seg < 255
    seg = np.where(inside, seg, 0)
    ua, ub = table[seg], table[seg + 1]
    frac = abs_x & ((1 << frac_bits) - 1)
    return np.where(inside, (ua << frac_bits) + frac * (ub - ua), saturated)


def eval_logistic_int16(params: Params, x: np.ndarray) -> np.ndarray:
    """int16 logistic: sigmoid(|x|) from the table, mirrored as 1 - sigmoid for x < 0."""
    v = _scaled_int16_input(params, x)
    r = _sigmoid_interp(np.abs(v), 9, 0x7FFF << 10)
    r = np.where(v >= 0, r + (1 << 9), (1 << 25) - r + (1 << 9) - 1)
    return (r >> 10).astype(np.int16)


def eval_tanh_int16(params: Params, x: np.ndarray) -> np.ndarray:
    """int16 tanh as 2*sigmoid(2x) - 1 on the same table (8 interpolation bits for the 2x)."""
    v = _scaled_int16_input(params, x)
    r = _sigmoid_interp(np.abs(v), 8, 0xFFFF << 8)
    r = np.where(v >= 0, r - (1 << 23) + (1 << 7), -r + (1 << 23) + (1 << 7) - 1)
    return (r >> 8).astype(np.int16)


# -- float ---------------------------------------------------------------------------------

def logistic_float(x: np.ndarray) -> np.ndarray:
    """TFLM's float logistic, in float32, with its cut-offs that avoid exp overflow."""
    x = x.astype(np.float32)
    with np.errstate(over="ignore"):  # the overflowing branches are the ones not selected
        middle = np.float32(1) / (np.float32(1) + np.exp(-x))
        low = np.exp(x)
    out = np.where(x > LOGISTIC_CUTOFF_UPPER, np.float32(1), np.where(x < LOGISTIC_CUTOFF_LOWER, low, middle))
    return out.astype(np.float32)


# -- the kernels ---------------------------------------------------------------------------

_ELEMENTWISE = [(DType.FLOAT32, DType.FLOAT32), (DType.INT8, DType.INT8), (DType.INT16, DType.INT16)]


def _prepare(op: Op, graph: Graph, int8_out_scale: float, int8_out_zp: int, max_pot_shift: int) -> Params:
    x, y = unary_tensors(op, graph)
    check_dtypes(op, x, y, _ELEMENTWISE)
    check_same_shape(op, x, y)
    params: Params = {"dtype": x.dtype.value, "size": x.size, "macs": x.size}
    if x.dtype is DType.INT8:
        require_output_grid(op, y, int8_out_scale, int8_out_zp)
        params.update(prepare_int8_input(op, x))
    elif x.dtype is DType.INT16:
        params.update(prepare_int16(op, x, y, max_pot_shift))
        params["sigmoid_table"] = fp.sigmoid_table_uint16()  # for the C kernel (flash)
    return params


@register("LOGISTIC", dtypes="float32, int8 (output scale 1/256 zp -128), int16 (zp 0, output scale 2**-15)")
class Logistic:
    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        return _prepare(op, graph, 1.0 / 256, -128, max_pot_shift=0)

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        x = inputs[0]
        if params["dtype"] == "int8":
            return [eval_int8(params, x, "logistic")]
        if params["dtype"] == "int16":
            return [eval_logistic_int16(params, x)]
        return [logistic_float(x)]


@register("TANH", dtypes="float32, int8 (output scale 1/128 zp 0), int16 (zp 0, output scale 2**-15)")
class Tanh:
    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        return _prepare(op, graph, 1.0 / 128, 0, max_pot_shift=1)

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        x = inputs[0]
        if params["dtype"] == "int8":
            return [eval_int8(params, x, "tanh")]
        if params["dtype"] == "int16":
            return [eval_tanh_int16(params, x)]
        return [np.tanh(x.astype(np.float32)).astype(np.float32)]
