"""SOFTMAX over the last axis, bit-exact with tflite-micro's reference kernels.

* float32: ``exp((x - max) * beta)`` in float32, summed in order, divided by the sum.
* int8 -> int8 / int16 (gemmlowp fixed point): ``q - max`` is scaled by ``beta * scale`` to
  Q5.26 (``input_multiplier``, ``input_left_shift``; differences below ``diff_min`` count as
  exp = 0), exp gives Q0.31, the exps are summed in Q12.19, and each exp is multiplied by the
  fixed-point reciprocal of the sum, then shifted onto the output grid (int8: scale 1/256 zp
  -128; int16: scale 1/65536 zp -32768).
* int16 -> int16 (``SoftmaxInt16``, scale 1/32768 zp 0): ``q - max`` is scaled so 65535 steps
  span [-10, 0], exp is read from a 513-entry interpolated LUT, the sum is normalised and
  inverted through a second LUT for ``1/(1+x)``; both LUTs are built here exactly as TFLM's
  ``gen_lut`` builds them (float32).

Overflow notes (TFLM behaviour kept or refused):
* int8 -> int8 with a sum of exps >= 512 (e.g. 512+ equal logits): TFLM aborts
  (``TFLITE_CHECK(exponent <= 31)``); picoml gives the rounded mathematically continued result
  (an int64 shift), which is what the C kernel must do as well.
* int8 input rows longer than 4095 can wrap the Q12.19 sum exactly like TFLM's int32 does.
* int16 rows longer than 65536 could wrap the int32 sum into undefined shifts: refused.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from picoml.errors import GraphError
from picoml.ir import DType, Graph, Op
from picoml.kernels import fixedpoint as fp
from picoml.kernels.activations import (check_dtypes, check_same_shape, per_tensor_quant,
                                        require_output_grid, unary_tensors)
from picoml.kernels.quant import (multiply_by_quantized_multiplier, quantize_multiplier,
                                  rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
                                  wrap_int32)
from picoml.kernels.registry import Params, register

SCALED_DIFF_INTEGER_BITS = 5  # Q5.26 input of exp: differences down to -32 are represented
ACCUMULATION_INTEGER_BITS = 12  # Q12.19 sum of exps
INT16_DIFF_RANGE = 10.0  # int16: input differences [-65535, 0] map to [-10, 0]
MAX_INT16_DEPTH = 65536

_SUPPORTED = [(DType.FLOAT32, DType.FLOAT32), (DType.INT8, DType.INT8), (DType.INT8, DType.INT16),
              (DType.INT16, DType.INT16)]
# Fixed output grids TFLM requires: (scale, zero point, scale must be exactly equal).
_OUTPUT_GRID = {(DType.INT8, DType.INT8): (1.0 / 256, -128, True),
                (DType.INT8, DType.INT16): (1.0 / 65536, -32768, False),
                (DType.INT16, DType.INT16): (1.0 / 32768, 0, False)}


def _expf(x: np.ndarray) -> np.ndarray:
    """float32 exp rounded from float64 (what a correctly rounding ``expf`` returns)."""
    return np.exp(np.asarray(x, np.float64)).astype(np.float32)


def _one_over_one_plus_x(x: np.ndarray) -> np.ndarray:
    """``1.0f / (1.0f + x)`` in float32."""
    x = np.asarray(x, np.float32)
    return (np.float32(1) / (np.float32(1) + x)).astype(np.float32)


def exp_lut_int16() -> np.ndarray:
    """TFLM's softmax exp LUT: exp on [-10, 0] onto [-1, 1] in int16."""
    return fp.gen_lut_int16(_expf, -INT16_DIFF_RANGE, 0.0, -1.0, 1.0)


def one_over_one_plus_x_lut_int16() -> np.ndarray:
    """TFLM's softmax reciprocal LUT: 1/(1+x) on [0, 1] onto [-1, 1] in int16."""
    return fp.gen_lut_int16(_one_over_one_plus_x, 0.0, 1.0, -1.0, 1.0)


def _beta(op: Op) -> float:
    beta = op.attrs.get("beta", 1.0)
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta):
        raise GraphError(f"{op.describe()}: beta must be a finite number, got {beta!r}")
    return float(np.float32(beta))


def prepare_int8(op: Op, beta: float, input_scale: float, out_bits: int) -> Params:
    """``PreprocessSoftmaxScaling``: ``beta * scale * 2**26`` (capped at 2**31 - 1) as a Q31
    multiplier with a left shift, and the smallest difference that still counts."""
    real = min(beta * input_scale * float(1 << (31 - SCALED_DIFF_INTEGER_BITS)), float((1 << 31) - 1))
    if not real > 1.0:
        raise GraphError(f"{op.describe()}: beta * input scale = {beta * input_scale:.6g} is too small "
                         "(TFLM needs beta * scale * 2**26 > 1)")
    multiplier, shift = quantize_multiplier(real)
    diff_min = -fp.calculate_input_radius(SCALED_DIFF_INTEGER_BITS, shift)
    return {"input_multiplier": multiplier, "input_left_shift": shift, "diff_min": diff_min,
            "out_bits": out_bits}


def prepare_int16(op: Op, beta: float, input_scale: float) -> Params:
    """Multiplier and shift that map an input difference of 65535 steps to 10.0, and the LUTs."""
    real = input_scale * beta / (INT16_DIFF_RANGE / 65535.0)
    multiplier, shift = quantize_multiplier(real)
    if not real > 0 or shift > 30:  # a left shift of 31+ is undefined in TFLM's int32 arithmetic
        raise GraphError(f"{op.describe()}: beta * input scale = {beta * input_scale:.6g} is outside the "
                         "range of the int16 kernel")
    return {"input_multiplier": multiplier, "input_shift": shift, "exp_lut": exp_lut_int16(),
            "one_over_one_plus_x_lut": one_over_one_plus_x_lut_int16()}


def softmax_float(params: Params, x: np.ndarray) -> np.ndarray:
    """float32 softmax on rows, the sum accumulated left to right as in C."""
    m = x.max(axis=1, keepdims=True)
    with np.errstate(over="ignore", invalid="ignore"):
        e = _expf((x - m) * np.float32(params["beta"]))
        total = np.cumsum(e, axis=1, dtype=np.float32)[:, -1:]
        return (e / total).astype(np.float32)


def softmax_int8(params: Params, x: np.ndarray) -> np.ndarray:
    """int8 input, int8 or int16 output, through gemmlowp fixed point."""
    out_bits = params["out_bits"]
    out_min, out_max = -(1 << (out_bits - 1)), (1 << (out_bits - 1)) - 1
    q = x.astype(np.int64)
    diff = q - q.max(axis=1, keepdims=True)
    counted = diff >= params["diff_min"]
    scaled = saturating_rounding_doubling_high_mul(
        wrap_int32(np.where(counted, diff, 0) << params["input_left_shift"]), params["input_multiplier"])
    exps = fp.exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS)
    terms = np.where(counted, fp.rescale(exps, 0, ACCUMULATION_INTEGER_BITS), 0)
    sum_of_exps = wrap_int32(terms.sum(axis=1))
    reciprocal, bits_over_unit = fp.get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS)
    exponent = (bits_over_unit + 31 - out_bits)[:, None]
    out = rounding_divide_by_pot(fp.mul(reciprocal[:, None], exps), exponent) + out_min
    out = np.where(counted, np.clip(out, out_min, out_max), out_min)
    return out.astype(np.int8 if out_bits == 8 else np.int16)


def softmax_int16(params: Params, x: np.ndarray) -> np.ndarray:
    """int16 softmax through TFLM's exp and 1/(1+x) LUTs."""
    q = x.astype(np.int64)
    diff = q - q.max(axis=1, keepdims=True)
    scaled = multiply_by_quantized_multiplier(diff, params["input_multiplier"], params["input_shift"])
    exps = fp.lut_lookup_int16(np.clip(scaled + 32767, -32768, 32767), params["exp_lut"])
    sum_of_exps = wrap_int32(exps.sum(axis=1))
    headroom_plus_one = fp.count_leading_zeros_u32(sum_of_exps)
    shifted_sum = ((sum_of_exps << (headroom_plus_one - 1)) + (1 << 13)) >> 14
    # 1/(1+x) LUT input: x = sum - 1, recentred from [0, 65535] to [-32768, 32767]
    reciprocal = fp.lut_lookup_int16(np.clip(shifted_sum - ((1 << 15) + (1 << 16)), -32768, 32767),
                                     params["one_over_one_plus_x_lut"])
    right_shift = (31 - headroom_plus_one)[:, None]
    out = (exps * reciprocal[:, None] + (np.int64(1) << (right_shift - 1))) >> right_shift
    return np.clip(out, 0, 32767).astype(np.int16)


@register("SOFTMAX", dtypes="float32; int8->int8 (scale 1/256 zp -128); int8->int16 (scale 1/65536 "
                            "zp -32768); int16->int16 (scale 1/32768 zp 0)")
class Softmax:
    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        x, y = unary_tensors(op, graph)
        check_dtypes(op, x, y, _SUPPORTED)
        if len(x.shape) < 1:
            raise GraphError(f"{op.describe()}: input {x.describe()} must have at least one dimension")
        check_same_shape(op, x, y)
        beta = _beta(op)
        depth = x.shape[-1]
        params: Params = {"dtype": x.dtype.value, "depth": depth, "rows": x.size // max(depth, 1),
                          "macs": x.size, "beta": beta}
        if x.dtype is DType.FLOAT32:
            return params
        if not beta > 0:
            raise GraphError(f"{op.describe()}: quantized softmax needs beta > 0, got {beta}")
        input_scale, _ = per_tensor_quant(op, x)
        scale, zero_point, exact = _OUTPUT_GRID[(x.dtype, y.dtype)]
        require_output_grid(op, y, scale, zero_point, exact=exact)
        if x.dtype is DType.INT8:
            params.update(prepare_int8(op, beta, input_scale, 8 * y.dtype.itemsize))
        else:
            if depth > MAX_INT16_DEPTH:
                raise GraphError(f"{op.describe()}: int16 softmax over {depth} > {MAX_INT16_DEPTH} values "
                                 "would overflow the int32 sum of exps")
            params.update(prepare_int16(op, beta, input_scale))
        return params

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        x = inputs[0]
        rows = x.reshape(-1, params["depth"])
        if params["dtype"] == "float32":
            out = softmax_float(params, rows.astype(np.float32))
        elif params["dtype"] == "int8":
            out = softmax_int8(params, rows)
        else:
            out = softmax_int16(params, rows)
        return [out.reshape(x.shape)]
