"""Fixed-point math of gemmlowp (``fixedpoint/fixedpoint.h``) and TFLM's int16 lookup tables,
vectorised in NumPy, for the softmax / logistic / tanh kernels.

A value ``Q(k)`` is an int32 raw ``r`` meaning ``r / 2**(31 - k)`` (``k`` integer bits, the
sign bit not counted). Arrays are int64 holding int32 values; every operation below gives the
int32 result C gives, bit for bit (products through
:func:`~picoml.kernels.quant.saturating_rounding_doubling_high_mul`, plain additions wrapped
to int32). The transcendental functions are gemmlowp's: a Taylor polynomial on [-1/4, 0) and
a barrel shifter for ``exp``, Newton-Raphson for ``1/(1+x)``. Their constants are the raw Q31
values gemmlowp rounds ``exp(-2**e)``, ``48/17`` etc. to; tests re-derive each one.

The second part holds TFLM's int16 LUT machinery: ``gen_lut`` (a 513-entry table with
midpoint-error bias, computed in float32 like TFLM does) and ``LUTLookup`` (9-bit index,
7-bit linear interpolation), plus the 256-entry ``sigmoid(i/24)`` table of the int16
logistic/tanh kernels.
"""
from __future__ import annotations

import math
from typing import Callable, Union

import numpy as np

from picoml.kernels.quant import (INT32_MAX, INT32_MIN, rounding_divide_by_pot,
                                  saturating_rounding_doubling_high_mul, wrap_int32)

IntArray = Union[np.ndarray, int]

# Raw Q31 constants of gemmlowp (each checked against its real value in the tests).
EXP_MINUS_ONE_EIGHTH = 1895147668  # exp(-1/8), Q0.31
ONE_THIRD = 715827883  # 1/3, Q0.31
FORTY_EIGHT_OVER_17 = 1515870810  # 48/17, Q2.29
MINUS_32_OVER_17 = -1010580540  # -32/17, Q2.29
# exp(-2**e) in Q0.31 for e = -2 .. 4: the barrel shifter of exp_on_negative_values.
EXP_MINUS_POT = {-2: 1672461947, -1: 1302514674, 0: 790015084, 1: 290630308, 2: 39332535,
                 3: 720401, 4: 242}


def _i64(x: IntArray) -> np.ndarray:
    return np.asarray(x, np.int64)


def one(integer_bits: int) -> int:
    """Raw value of 1.0 in Q(integer_bits); in Q0 it saturates to INT32_MAX as in gemmlowp."""
    return INT32_MAX if integer_bits == 0 else 1 << (31 - integer_bits)


def constant_pot(integer_bits: int, exponent: int) -> int:
    """Raw value of ``2**exponent`` in Q(integer_bits) (gemmlowp ``ConstantPOT``)."""
    return 1 << (31 - integer_bits + exponent)


def add(a: IntArray, b: IntArray) -> np.ndarray:
    """int32 ``a + b`` (gemmlowp's plain Add; wraps where C would overflow)."""
    return wrap_int32(_i64(a) + _i64(b))


def sub(a: IntArray, b: IntArray) -> np.ndarray:
    """int32 ``a - b`` (gemmlowp's plain Sub)."""
    return wrap_int32(_i64(a) - _i64(b))


def neg(a: IntArray) -> np.ndarray:
    """int32 ``-a`` (gemmlowp's Neg; ``-INT32_MIN`` wraps to itself as on every target)."""
    return wrap_int32(-_i64(a))


def mul(a: IntArray, b: IntArray) -> np.ndarray:
    """Fixed-point product: Q(m) * Q(n) -> Q(m+n), one saturating rounding doubling high mul."""
    return saturating_rounding_doubling_high_mul(a, b)


def rounding_half_sum(a: IntArray, b: IntArray) -> np.ndarray:
    """``(a + b) / 2`` rounded half away from zero (gemmlowp ``RoundingHalfSum``, int32)."""
    s = _i64(a) + _i64(b)
    t = s + np.where(s >= 0, 1, -1)
    return np.where(t >= 0, t // 2, -((-t) // 2))  # C division truncates toward zero


def saturating_rounding_multiply_by_pot(x: IntArray, exponent: int) -> np.ndarray:
    """``x * 2**exponent``: a saturating left shift for exponent > 0, a rounding right shift
    (ties away from zero) for exponent < 0 (gemmlowp ``SaturatingRoundingMultiplyByPOT``)."""
    x = _i64(x)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << exponent))


def rescale(x: IntArray, src_integer_bits: int, dst_integer_bits: int) -> np.ndarray:
    """Change the format Q(src) -> Q(dst) of a value (gemmlowp ``Rescale``)."""
    return saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)


# -- exp ----------------------------------------------------------------------------------

def exp_on_interval_between_negative_one_quarter_and_0_excl(a: IntArray) -> np.ndarray:
    """exp(a) for Q0.31 ``a`` in [-1/4, 0): 4th-order Taylor expansion around -1/8."""
    x = add(a, constant_pot(0, -3))
    x2 = mul(x, x)
    x3 = mul(x2, x)
    x4 = mul(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    poly = saturating_rounding_multiply_by_pot(add(mul(add(x4_over_4, x3), ONE_THIRD), x2), -1)
    return add(EXP_MINUS_ONE_EIGHTH, mul(EXP_MINUS_ONE_EIGHTH, add(x, poly)))


def exp_on_negative_values(a: IntArray, integer_bits: int) -> np.ndarray:
    """exp(a) in Q0.31 for Q(integer_bits) ``a <= 0``: the fractional quarter goes through the
    polynomial, each set bit of the rest multiplies by the constant exp(-2**e)."""
    a = _i64(a)
    frac_bits = 31 - integer_bits
    quarter = constant_pot(integer_bits, -2)
    a_mod_quarter_minus_quarter = sub(a & (quarter - 1), quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_quarter, integer_bits, 0))
    remainder = sub(a_mod_quarter_minus_quarter, a)
    for e, multiplier in EXP_MINUS_POT.items():
        if integer_bits > e:
            bit_set = (remainder & (1 << (frac_bits + e))) != 0
            result = np.where(bit_set, mul(result, multiplier), result)
    if integer_bits > 5:
        result = np.where(a < -(1 << (36 - integer_bits)), 0, result)  # exp(< -32) is 0
    return np.where(a == 0, one(0), result)


# -- 1/(1+x), tanh, logistic --------------------------------------------------------------

def _two_over_one_plus_x(a: IntArray) -> np.ndarray:
    """Q2.29 approximation of 2/(1+a) = 1/half_denominator for Q0.31 ``a`` in [0, 1): three
    Newton-Raphson steps from 48/17 - 32/17 * half_denominator (shared by the two divisions
    below)."""
    half_denominator = rounding_half_sum(a, one(0))
    x = add(FORTY_EIGHT_OVER_17, mul(half_denominator, MINUS_32_OVER_17))
    for _ in range(3):
        one_minus_dx = sub(one(2), mul(half_denominator, x))
        x = add(x, rescale(mul(x, one_minus_dx), 4, 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a: IntArray) -> np.ndarray:
    """1/(1+a) in Q0.31 for Q0.31 ``a`` in [0, 1)."""
    return rescale(_two_over_one_plus_x(a), 1, 0)  # same raw read as Q1 is half of it


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: IntArray) -> np.ndarray:
    """(1-a)/(1+a) = 2/(1+a) - 1 in Q0.31 for Q0.31 ``a`` in [0, 1)."""
    return rescale(sub(_two_over_one_plus_x(a), one(2)), 2, 0)


def neg_tanh_on_negative_values(a: IntArray, integer_bits: int) -> np.ndarray:
    """-tanh(a) in Q0.31 for Q(integer_bits) ``a <= 0``, as (1 - e^2a) / (1 + e^2a)."""
    return one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(a, integer_bits + 1))


def tanh(a: IntArray, integer_bits: int) -> np.ndarray:
    """tanh(a) in Q0.31 for any Q(integer_bits) ``a`` (gemmlowp ``tanh``)."""
    a = _i64(a)
    negative = a < 0
    t = neg_tanh_on_negative_values(np.where(negative, a, neg(a)), integer_bits)
    return np.where(a == 0, 0, np.where(negative, neg(t), t))


def logistic(a: IntArray, integer_bits: int) -> np.ndarray:
    """1/(1+exp(-a)) in Q0.31 for any Q(integer_bits) ``a`` (gemmlowp ``logistic``)."""
    a = _i64(a)
    positive = a > 0
    abs_a = np.where(positive, a, neg(a))
    if_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(neg(abs_a), integer_bits))
    if_negative = sub(one(0), if_positive)
    return np.where(a == 0, 1 << 30, np.where(positive, if_positive, if_negative))


def count_leading_zeros_u32(x: IntArray) -> np.ndarray:
    """Leading zero bits of ``x`` read as uint32 (32 for 0), as TFLM ``CountLeadingZeros``."""
    u = _i64(x) & 0xFFFFFFFF
    bits = np.zeros(u.shape, np.int64)
    for b in range(32):  # bit_length, vectorised: count the set powers of two at or below u
        bits += u >= (1 << b)
    return 32 - bits


def get_reciprocal(x: IntArray, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLM ``GetReciprocal``: for a positive Q(x_integer_digits) ``x``, a Q0.31 value ``s`` and
    an exponent ``n`` with ``1/x ~= s * 2**-n`` (``x`` normalised to [1, 2) first)."""
    x = _i64(x)
    headroom_plus_one = count_leading_zeros_u32(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted_minus_one = wrap_int32(((x & 0xFFFFFFFF) << headroom_plus_one) - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_minus_one), num_bits_over_unit


# -- preparing fixed-point inputs (TFLM quantization_util) --------------------------------

def calculate_input_radius(input_integer_bits: int, input_left_shift: int,
                           total_signed_bits: int = 31) -> int:
    """TFLM ``CalculateInputRadius``: the largest input difference whose rescaled value still
    fits Q(input_integer_bits); larger inputs saturate without fixed-point math."""
    real = (1.0 * ((1 << input_integer_bits) - 1) * (1 << (total_signed_bits - input_integer_bits))
            / (1 << input_left_shift))
    return int(math.floor(real))


def checked_log2(x: float) -> tuple[bool, int]:
    """TFLM ``CheckedLog2`` (float32 arithmetic): ``(is x a power of two within 1e-3 in log2,
    rounded log2)``."""
    f32 = np.float32
    if not x > 0 or not math.isfinite(x):
        return False, 0
    ln2 = f32(math.log(f32(2.0)))
    x_log2 = f32(f32(math.log(f32(x))) * f32(f32(1.0) / ln2))
    rounded = float(round_half_away_f32(np.array([x_log2]))[0])
    return abs(float(f32(x_log2 - f32(rounded)))) < float(f32(1e-3)), int(rounded)


# -- TFLM int16 lookup tables -------------------------------------------------------------

LUT_SIZE_INT16 = 513


def round_half_away_f32(x: np.ndarray) -> np.ndarray:
    """C ``roundf`` on float32 values (ties away from zero), exact: done in float64, where
    adding 0.5 to a float32 value cannot round."""
    d = np.asarray(x, np.float32).astype(np.float64)
    return np.where(d >= 0, np.floor(d + 0.5), -np.floor(-d + 0.5)).astype(np.float32)


def gen_lut_int16(func: Callable[[np.ndarray], np.ndarray], input_min: float, input_max: float,
                  output_min: float, output_max: float) -> np.ndarray:
    """TFLM ``gen_lut<float, int16_t, int16_t>``: 512 samples of ``func`` on [input_min,
    input_max) plus the end point, scaled to int16, each biased by half the error the linear
    interpolation makes at the segment midpoint. All arithmetic in float32 as in TFLM;
    ``func`` must map float32 arrays to float32 arrays."""
    f32 = np.float32
    steps = LUT_SIZE_INT16 - 1
    lo, hi = f32(input_min), f32(input_max)
    step = f32((hi - lo) / f32(steps))
    half_step = f32(step / f32(2))
    scaling_inv = f32(f32(65536) / f32(f32(output_max) - f32(output_min)))
    i = np.arange(steps, dtype=np.float32)
    x = (lo + i * step).astype(np.float32)
    val = func(x).astype(np.float32)
    val_mid = func((lo + i * step + half_step).astype(np.float32)).astype(np.float32)
    val_next = func((lo + (i + f32(1)) * step).astype(np.float32)).astype(np.float32)
    sample = round_half_away_f32(val * scaling_inv)
    mid_interp = round_half_away_f32((val_next * scaling_inv + sample) / f32(2))
    mid_err = mid_interp - round_half_away_f32(val_mid * scaling_inv)
    bias = round_half_away_f32(mid_err / f32(2))
    lut = np.empty(LUT_SIZE_INT16, np.int64)
    lut[:steps] = np.clip(sample - bias, -32768, 32767)
    last = round_half_away_f32(func(np.array([hi], np.float32)).astype(np.float32) * scaling_inv)
    lut[steps] = np.clip(last[0], -32768, 32767)
    return lut.astype(np.int16)


def lut_lookup_int16(value: IntArray, lut: np.ndarray) -> np.ndarray:
    """TFLM ``LUTLookup(int16)``: the top 9 bits pick a segment, the low 7 bits interpolate
    linearly (rounded) towards the next entry. Returns int64 holding int16 values."""
    v = _i64(value)
    table = np.asarray(lut, np.int64)
    index = 256 + (v >> 7)
    base = table[index]
    slope = ((table[index + 1] - base + 32768) & 0xFFFF) - 32768  # stored in an int16_t
    delta = (slope * (v & 0x7F) + 64) >> 7
    return ((base + delta + 32768) & 0xFFFF) - 32768


def sigmoid_table_uint16() -> np.ndarray:
    """The 256-entry ``sigmoid(i/24)`` table in unsigned Q0.16 of TFLM's int16 logistic and
    tanh (``sigmoid_table_uint16`` in TFLM's ``common.h``; Apache-2.0, The TensorFlow Authors).
    The entries are tuned for linear interpolation (up to ~1.1 off the rounded sigmoid), so
    they cannot be recomputed: they are data, and bit-exactness needs them verbatim."""
    return np.array(_SIGMOID_TABLE_UINT16, np.int64)


_SIGMOID_TABLE_UINT16 = (
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432,
    42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475,
    49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485,
    55834, 56174, 56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519,
    59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279, 61441, 61599, 61750, 61896, 62036,
    62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186, 63279, 63368, 63454, 63536,
    63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308, 64357, 64405,
    64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
    64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179,
    65194, 65208, 65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337,
    65345, 65352, 65360, 65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425,
    65429, 65433, 65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474,
    65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498, 65500, 65501,
    65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516, 65517,
    65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524, 65525, 65525,
    65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
    65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533,
    65533, 65533, 65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534,
    65534, 65534, 65534, 65535,
)
