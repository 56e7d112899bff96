/* picoml requantization: the C twin of picoml/kernels/quant.py.
 *
 * TFLM's reference arithmetic (without TFLITE_SINGLE_ROUNDING): an int32 accumulator times a
 * real multiplier M = q * 2^(shift - 31), q a Q31 int32, with gemmlowp's double rounding:
 * a saturating rounding doubling high multiply, then a rounding right shift (ties away from 0).
 * int16 activations (int64 accumulators) use a single-rounding 16-bit reduced multiplier.
 * Only integer arithmetic: int8 models compile without floating point.
 */
#ifndef PICOML_REQUANT_H
#define PICOML_REQUANT_H

#include <stdint.h>

#define PM_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PM_MAX(a, b) ((a) > (b) ? (a) : (b))
#define PM_CLAMP(x, lo, hi) PM_MIN(PM_MAX((x), (lo)), (hi))

static inline int32_t pm_srdhm(int32_t a, int32_t b) {
  int64_t ab;
  int32_t nudge;
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  ab = (int64_t)a * (int64_t)b;
  nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* C division truncates toward zero */
}

static inline int32_t pm_rounding_divide_by_pot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLM MultiplyByQuantizedMultiplier(int32_t x, int32_t q, int shift). */
static inline int32_t pm_requant(int32_t x, int32_t multiplier, int shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  const int32_t shifted = (int32_t)((uint32_t)x << left); /* wraps like TFLM's x * (1 << left) */
  return pm_rounding_divide_by_pot(pm_srdhm(shifted, multiplier), right);
}

/* TFLM MultiplyByQuantizedMultiplier(int64_t x, int32_t q, int shift), used by int16x8 kernels. */
static inline int32_t pm_requant64(int64_t x, int32_t multiplier, int shift) {
  const int32_t reduced = multiplier < 0x7FFF0000 ? ((multiplier + (1 << 15)) >> 16) : 0x7FFF;
  const int total = 15 - shift;
  const int64_t round = (int64_t)1 << (total - 1);
  return (int32_t)((x * (int64_t)reduced + round) >> total);
}

/* A uint32_t read as two's-complement int32_t (the twin of quant.wrap_int32). Sums kept in
 * uint32_t wrap with defined behaviour; this turns them into the int32 value TFLM's int32
 * accumulator would hold. Compiles to nothing. */
static inline int32_t pm_wrap_s32(uint32_t u) {
  return u <= (uint32_t)INT32_MAX ? (int32_t)u : (int32_t)(u - 2147483648u) - INT32_MAX - 1;
}

/* pm_requant(x, multiplier, shift) as one int64 multiply-add and one shift, from constants
 * precomputed per channel by quant.requant_constants (twin: multiply_by_requant_constants,
 * which proves the identity): with xs = x << left_shift (wrapping),
 *   out = (xs * multiplier + round - (xs < neg_below ? 2^31 : 0)) >> total_shift
 * Same value as pm_requant for every int32 x; branch-free, so output stages vectorise. */
static inline int32_t pm_requant_pre(int32_t x, int32_t multiplier, int32_t left_shift, int32_t neg_below,
                                     int64_t round, int32_t total_shift) {
  const int32_t xs = pm_wrap_s32((uint32_t)x << left_shift);
  const int64_t t = (int64_t)xs * multiplier + round - ((int64_t)(xs < neg_below) << 31);
  return (int32_t)(t >> total_shift);
}

#endif /* PICOML_REQUANT_H */
