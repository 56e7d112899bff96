"""The one requantization arithmetic, exactly as TFLM's reference kernels do it.

TFLM (without ``TFLITE_SINGLE_ROUNDING``) scales an int32 accumulator by a real multiplier
``M = q * 2**shift`` (``q`` a Q31 int32) with gemmlowp's *double rounding*: a saturating
rounding doubling high multiply, then a rounding right shift whose ties go away from zero.
int16 activations (int64 accumulators) use a second, single-rounding form on a 16-bit
reduced multiplier. All arrays here are int64 holding int32 values; C has a same-named twin
in ``codegen/c/requant.h``.
"""
from __future__ import annotations

import math
from typing import Union

import numpy as np

IntArray = Union[np.ndarray, int]
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "int32": (INT32_MIN, INT32_MAX)}


def round_half_away(x: float) -> int:
    """C's ``std::round``: ties go away from zero (Python's ``round`` goes to even)."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Q31 multiplier and power-of-two shift with ``real == q * 2**(shift-31)`` (TFLM's
    ``QuantizeMultiplier``): frexp, round half away from zero, and flush below 2**-31 to 0."""
    if real == 0.0:
        return 0, 0
    frac, shift = math.frexp(real)
    q = round_half_away(frac * (1 << 31))
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q, shift


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel :func:`quantize_multiplier`; ``reals`` must already be float64 products."""
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, np.float64).ravel()]
    return (np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64))


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap to int32 range (what a C int32 multiply does on every target)."""
    return ((np.asarray(x, np.int64) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def saturating_rounding_doubling_high_mul(a: IntArray, b: IntArray) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` on int32 values held in int64."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    q = np.where(s >= 0, s >> 31, -((-s) >> 31))  # C++ integer division truncates toward zero
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, q)


def rounding_divide_by_pot(x: IntArray, exponent: IntArray) -> np.ndarray:
    """gemmlowp ``RoundingDivideByPOT``: arithmetic shift right, ties away from zero."""
    x = np.asarray(x, np.int64)
    e = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: IntArray, multiplier: IntArray, shift: IntArray) -> np.ndarray:
    """TFLM ``MultiplyByQuantizedMultiplier(int32 x, int32 q, int shift)`` (double rounding)."""
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = wrap_int32(np.asarray(x, np.int64) << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)


def multiply_by_quantized_multiplier_int64(x: IntArray, multiplier: IntArray, shift: IntArray) -> np.ndarray:
    """TFLM ``MultiplyByQuantizedMultiplier(int64 x, int32 q, int shift)`` used by int16x8
    kernels: the multiplier is reduced to 16 bits and the product rounded once."""
    q = np.asarray(multiplier, np.int64)
    reduced = np.where(q < 0x7FFF0000, (q + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - np.asarray(shift, np.int64)
    rounding = np.int64(1) << (total - 1)
    return (np.asarray(x, np.int64) * reduced + rounding) >> total


def activation_range(activation: str, dtype: str, scale: float, zero_point: int) -> tuple[int, int]:
    """Clamp bounds of a fused activation on a quantized output (TFLM
    ``CalculateActivationRangeQuantized``): the real bounds quantized in float32, rounded
    half away from zero, intersected with the type's range."""
    qmin, qmax = RANGES[dtype]

    def q(real: float) -> int:
        return zero_point + round_half_away(float(np.float32(real) / np.float32(scale)))

    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, q(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise ValueError(activation)


def activation_range_float(activation: str) -> tuple[float, float]:
    """Clamp bounds of a fused activation on a float output."""
    return {"NONE": (-np.inf, np.inf), "RELU": (0.0, np.inf), "RELU6": (0.0, 6.0),
            "RELU_N1_TO_1": (-1.0, 1.0)}[activation]


def divide_trunc(a: IntArray, b: IntArray) -> np.ndarray:
    """C integer division ``a / b`` (truncates toward zero; NumPy's ``//`` floors)."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (b < 0), -q, q)


def divide_round_half_away(a: IntArray, b: IntArray) -> np.ndarray:
    """TFLM's integer average (``reference_integer_ops::AveragePool``): ``(a +- b/2) / b`` in C,
    i.e. ``a / b`` rounded to nearest with ties away from zero, for ``b > 0``."""
    a = np.asarray(a, np.int64)
    half = np.asarray(b, np.int64) // 2
    return divide_trunc(np.where(a > 0, a + half, a - half), b)


def activation_range_float32(activation: str) -> tuple[np.float32, np.float32]:
    """TFLM's ``CalculateActivationRange<float>`` exactly: NONE and RELU are bounded by the
    float32 limits, not infinity, so a clamp turns +-inf into +-FLT_MAX as TFLM does."""
    big = np.finfo(np.float32).max
    bounds = {"NONE": (-big, big), "RELU": (0.0, big), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}
    lo, hi = bounds[activation]
    return np.float32(lo), np.float32(hi)


def requant_constants(multiplier: IntArray, shift: IntArray) -> dict[str, np.ndarray]:
    """Per-channel constants that turn :func:`multiply_by_quantized_multiplier` into one int64
    multiply, add and shift (:func:`multiply_by_requant_constants`; C twin ``pm_requant_pre``),
    so a kernel's output stage has no branches and vectorises where int64 lanes exist.

    Derivation, for ``xs = wrap32(x << left)`` and a multiplier ``q >= 0``: the doubling high
    multiply is ``s = floor((xs*q + 2**30) / 2**31)`` (its ties-toward-zero case for negative
    products is the same floor; ``q`` is never INT32_MIN, so it never saturates), and the
    rounding shift by ``r >= 1`` is ``floor((s + 2**(r-1) - [s < 0]) / 2**r)``. Nested floors
    merge: ``out = (xs*q + round - [xs < neg_below] * 2**31) >> (31 + r)`` with
    ``round = 2**30 + 2**(30+r)``, and ``s < 0`` exactly when ``xs < -(2**30 // q)``. For
    ``r = 0`` the second rounding is absent (``round = 2**30``, ``neg_below = INT32_MIN``).
    Every intermediate stays below 2**63.
    """
    q = np.atleast_1d(np.asarray(multiplier, np.int64))
    shift = np.broadcast_to(np.asarray(shift, np.int64), q.shape)
    if np.any(q < 0) or np.any(q > INT32_MAX) or np.any(shift > 31) or np.any(shift < -31):
        raise ValueError("multipliers must be Q31 values >= 0 with shifts in [-31, 31]")
    right = np.maximum(-shift, 0)
    neg_below = np.where(q > 0, -((1 << 30) // np.maximum(q, 1)), INT32_MIN)
    return {"left_shift": np.maximum(shift, 0),
            "neg_below": np.where(right > 0, neg_below, INT32_MIN),
            "round": np.where(right > 0, (1 << 30) + (np.int64(1) << (30 + right)), 1 << 30),
            "total_shift": 31 + right}


def multiply_by_requant_constants(x: IntArray, multiplier: IntArray, c: dict[str, np.ndarray]) -> np.ndarray:
    """:func:`multiply_by_quantized_multiplier` computed from :func:`requant_constants` (same
    values for every int32 ``x``; the tests check it, the C output stages use this form)."""
    xs = wrap_int32(np.asarray(x, np.int64) << c["left_shift"])
    t = xs * np.asarray(multiplier, np.int64) + c["round"] - ((xs < c["neg_below"]).astype(np.int64) << 31)
    return t >> c["total_shift"]


# -- the Cortex-M DSP form of the int8 output stage ---------------------------------------------
# C twin: pm_arm_requant in codegen/c/opt/arm/pm_arm.h.
ARM_FOLD_MAX_SHIFT = 24  # up to this right shift, zero_point * 2**(31 + r) folds into the rounding


def arm_requant_constants(multiplier: IntArray, shift: IntArray, zero_point: int) -> "dict[str, np.ndarray] | None":
    """Per-channel constants of ``wrap32(MBQM(x, q, shift) + zero_point)`` as one 64-bit
    multiply-add whose high word, shifted right, is the answer (the Cortex-M DSP kernels' output
    stage: AND, ADDS, ADC, SMLAL, ASR, then ADD ``offset``). None when a channel has ``q > 0``
    with a right shift r = -shift outside [1, 31] (a multiplier of 0.5 or more: those ops keep
    the portable kernels) or ``q`` outside [2**30, 2**31).

    Derivation (see :func:`requant_constants` for the merged double rounding): the output is
    ``(x*q + 2**30 + 2**(30+r) - [x < nb] * 2**31) >> (31 + r)`` with ``nb = -(2**30 // q)``,
    which is 0, or -1 when ``q == 2**30``; there, x = -1 gives 0 with either value of the
    bracket (r >= 1), so the bracket is the sign bit of x. With ``round`` the constant terms,
    ``(t >> 32) >> (r - 1)`` equals ``t >> (31 + r)``. The zero point is added after the shift
    (``offset``), or, when every channel has r <= ARM_FOLD_MAX_SHIFT, folded into ``round`` as
    ``zero_point * 2**(31+r)`` (``offset`` 0): exact, since MBQM's result is below 2**30 in
    magnitude for r >= 1, so TFLM's int32 addition never wraps. A channel with ``q == 0``
    (a zero scale) gives 0 for every x: ``round = 2**31``, shift 0. Every term of ``t`` stays
    below 2**63 in magnitude.
    """
    q = np.atleast_1d(np.asarray(multiplier, np.int64))
    r = -np.broadcast_to(np.asarray(shift, np.int64), q.shape)
    live = q != 0
    if np.any(live & ((q < 1 << 30) | (q > INT32_MAX) | (r < 1) | (r > 31))) or np.any(q < 0):
        return None
    if not -128 <= int(zero_point) <= 127:
        return None
    r = np.where(live, r, 1)
    fold = bool(np.all(r <= ARM_FOLD_MAX_SHIFT))
    rounding = np.where(live, (np.int64(1) << 30) + (np.int64(1) << (30 + r)), np.int64(1) << 31)
    if fold:
        rounding = rounding + np.int64(zero_point) * (np.int64(1) << np.where(live, 31 + r, 32))
    return {"multiplier": q, "round_lo": wrap_int32(rounding & 0xFFFFFFFF), "round_hi": rounding >> 32,
            "shift": np.where(live, r - 1, 0), "offset": np.int64(0 if fold else zero_point)}


def multiply_by_arm_constants(x: IntArray, c: "dict[str, np.ndarray]") -> np.ndarray:
    """``wrap32(MBQM(x) + zero_point)`` from :func:`arm_requant_constants`, computed the way the
    C does: ``(hi32(x*q + round - [x < 0] * 2**31) >> shift) + offset`` (tests check it against
    the reference for every kind of int32 x)."""
    x = np.asarray(x, np.int64)
    rounding = (np.asarray(c["round_hi"], np.int64) << 32) + (np.asarray(c["round_lo"], np.int64) & 0xFFFFFFFF)
    t = x * np.asarray(c["multiplier"], np.int64) + rounding - ((x < 0).astype(np.int64) << 31)
    return ((t >> 32) >> np.asarray(c["shift"], np.int64)) + c["offset"]
