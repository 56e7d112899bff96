/* picoml fixed point: the C twin of picoml/kernels/fixedpoint.py.
 *
 * gemmlowp's fixed-point math (fixedpoint/fixedpoint.h) as TFLM's softmax, logistic and tanh
 * reference kernels use it, plus TFLM's int16 LUT lookup. A value in Q(k) is an int32 raw r
 * meaning r / 2^(31 - k) (k integer bits, sign bit not counted). Plain additions wrap like
 * two's-complement int32 (done in uint32, so no signed overflow); products are
 * pm_srdhm (saturating rounding doubling high multiply, requant.h).
 *
 * Integer arithmetic only, static inline, no state: safe in int8 projects built without a
 * floating-point unit.
 */
#ifndef PICOML_FIXEDPOINT_H
#define PICOML_FIXEDPOINT_H

#include <stdint.h>

#include "requant.h"

/* Raw Q31 constants of gemmlowp (re-derived from their real values in tests/kernels). */
#define PM_FP_EXP_MINUS_ONE_EIGHTH 1895147668   /* exp(-1/8), Q0.31 */
#define PM_FP_ONE_THIRD 715827883               /* 1/3, Q0.31 */
#define PM_FP_FORTY_EIGHT_OVER_17 1515870810    /* 48/17, Q2.29 */
#define PM_FP_MINUS_32_OVER_17 (-1010580540)    /* -32/17, Q2.29 */

/* 1.0 in Q(k); in Q0 it saturates to INT32_MAX. */
#define PM_FP_ONE(k) ((k) == 0 ? INT32_MAX : (int32_t)((uint32_t)1 << (31 - (k))))

static inline int32_t pm_fp_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t pm_fp_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
static inline int32_t pm_fp_neg(int32_t a) { return (int32_t)(0u - (uint32_t)a); } /* -INT32_MIN wraps */
static inline int32_t pm_fp_mul(int32_t a, int32_t b) { return pm_srdhm(a, b); }

/* (a + b) / 2 rounded half away from zero (gemmlowp RoundingHalfSum). */
static inline int32_t pm_fp_rounding_half_sum(int32_t a, int32_t b) {
  const int64_t sum = (int64_t)a + (int64_t)b;
  return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2); /* C division truncates toward zero */
}

/* x * 2^exponent: saturating left shift for exponent > 0, rounding right shift (ties away
 * from zero) for exponent < 0 (gemmlowp SaturatingRoundingMultiplyByPOT), |exponent| < 32. */
static inline int32_t pm_fp_srmpot(int32_t x, int exponent) {
  int32_t threshold;
  if (exponent == 0) return x;
  if (exponent < 0) return pm_rounding_divide_by_pot(x, -exponent);
  threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << exponent);
}

/* exp(a) for Q0.31 a in [-1/4, 0): 4th-order Taylor expansion around -1/8. */
static inline int32_t pm_fp_exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a) {
  const int32_t x = pm_fp_add(a, (int32_t)1 << 28); /* a + 1/8 */
  const int32_t x2 = pm_fp_mul(x, x);
  const int32_t x3 = pm_fp_mul(x2, x);
  const int32_t x4 = pm_fp_mul(x2, x2);
  const int32_t x4_over_4 = pm_fp_srmpot(x4, -2);
  const int32_t poly =
      pm_fp_srmpot(pm_fp_add(pm_fp_mul(pm_fp_add(x4_over_4, x3), PM_FP_ONE_THIRD), x2), -1);
  return pm_fp_add(PM_FP_EXP_MINUS_ONE_EIGHTH, pm_fp_mul(PM_FP_EXP_MINUS_ONE_EIGHTH, pm_fp_add(x, poly)));
}

/* exp(a) in Q0.31 for Q(integer_bits) a <= 0, 0 <= integer_bits <= 30: the fractional quarter
 * through the polynomial, then one multiplication by exp(-2^e) per set bit of the rest. */
static inline int32_t pm_fp_exp_on_negative_values(int32_t a, int integer_bits) {
  /* exp(-2^e) in Q0.31 for e = -2 .. 4 */
  static const int32_t exp_minus_pot[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535,
                                           720401, 242};
  const int frac_bits = 31 - integer_bits;
  const uint32_t quarter = (uint32_t)1 << (frac_bits - 2);
  const int32_t a_mod_quarter_minus_quarter =
      pm_fp_sub((int32_t)((uint32_t)a & (quarter - 1u)), (int32_t)quarter);
  const int32_t remainder = pm_fp_sub(a_mod_quarter_minus_quarter, a);
  int32_t result = pm_fp_exp_on_interval_between_negative_one_quarter_and_0_excl(
      pm_fp_srmpot(a_mod_quarter_minus_quarter, integer_bits));
  int e;
  if (a == 0) return INT32_MAX;
  for (e = -2; e <= 4 && e < integer_bits; ++e) {
    if ((uint32_t)remainder & ((uint32_t)1 << (frac_bits + e))) {
      result = pm_fp_mul(result, exp_minus_pot[e + 2]);
    }
  }
  if (integer_bits > 5 && a < -(int32_t)((uint32_t)1 << (36 - integer_bits))) return 0; /* exp(< -32) */
  return result;
}

/* Q2.29 approximation of 2/(1+a) for Q0.31 a in [0, 1): three Newton-Raphson steps from
 * 48/17 - 32/17 * half_denominator. */
static inline int32_t pm_fp_two_over_one_plus_x(int32_t a) {
  const int32_t half_denominator = pm_fp_rounding_half_sum(a, INT32_MAX);
  int32_t x = pm_fp_add(PM_FP_FORTY_EIGHT_OVER_17, pm_fp_mul(half_denominator, PM_FP_MINUS_32_OVER_17));
  int i;
  for (i = 0; i < 3; ++i) {
    const int32_t one_minus_half_denominator_times_x =
        pm_fp_sub(PM_FP_ONE(2), pm_fp_mul(half_denominator, x));
    x = pm_fp_add(x, pm_fp_srmpot(pm_fp_mul(x, one_minus_half_denominator_times_x), 2));
  }
  return x;
}

/* 1/(1+a) in Q0.31 for Q0.31 a in [0, 1). */
static inline int32_t pm_fp_one_over_one_plus_x_for_x_in_0_1(int32_t a) {
  return pm_fp_srmpot(pm_fp_two_over_one_plus_x(a), 1);
}

/* (1-a)/(1+a) = 2/(1+a) - 1 in Q0.31 for Q0.31 a in [0, 1). */
static inline int32_t pm_fp_one_minus_x_over_one_plus_x_for_x_in_0_1(int32_t a) {
  return pm_fp_srmpot(pm_fp_sub(pm_fp_two_over_one_plus_x(a), PM_FP_ONE(2)), 2);
}

/* tanh(a) in Q0.31 for Q(integer_bits) a (gemmlowp tanh: -tanh(-|a|) = (1-e^-2|a|)/(1+e^-2|a|)). */
static inline int32_t pm_fp_tanh(int32_t a, int integer_bits) {
  const int32_t minus_abs = a < 0 ? a : pm_fp_neg(a);
  const int32_t neg_tanh = pm_fp_one_minus_x_over_one_plus_x_for_x_in_0_1(
      pm_fp_exp_on_negative_values(minus_abs, integer_bits + 1)); /* raw read as Q(k+1): exp(2a) */
  if (a == 0) return 0;
  return a < 0 ? pm_fp_neg(neg_tanh) : neg_tanh;
}

/* 1/(1+exp(-a)) in Q0.31 for Q(integer_bits) a (gemmlowp logistic). */
static inline int32_t pm_fp_logistic(int32_t a, int integer_bits) {
  const int32_t abs_a = a > 0 ? a : pm_fp_neg(a);
  const int32_t if_positive =
      pm_fp_one_over_one_plus_x_for_x_in_0_1(pm_fp_exp_on_negative_values(pm_fp_neg(abs_a), integer_bits));
  if (a == 0) return (int32_t)1 << 30;
  return a > 0 ? if_positive : pm_fp_sub(INT32_MAX, if_positive);
}

/* Leading zero bits of x read as uint32 (32 for 0), TFLM CountLeadingZeros. */
static inline int pm_fp_count_leading_zeros_u32(uint32_t x) {
  int n = 0;
  if (x == 0) return 32;
  while (!(x & 0x80000000u)) {
    x <<= 1;
    ++n;
  }
  return n;
}

/* TFLM GetReciprocal: for a Q(x_integer_digits) x, a Q0.31 s and *num_bits_over_unit n with
 * 1/x ~= s * 2^-n (x normalised to [1, 2) first; a wrapped or zero x gives TFLM's bits). */
static inline int32_t pm_fp_get_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit) {
  const int headroom_plus_one = pm_fp_count_leading_zeros_u32((uint32_t)x);
  const uint32_t shifted = (uint32_t)((uint64_t)(uint32_t)x << headroom_plus_one); /* shift may be 32 */
  *num_bits_over_unit = x_integer_digits - headroom_plus_one;
  return pm_fp_one_over_one_plus_x_for_x_in_0_1((int32_t)(shifted - 0x80000000u));
}

/* Two's-complement wrap of an int32 to int16 (what an int16_t store does on every target). */
static inline int16_t pm_fp_wrap_s16(int32_t v) {
  return (int16_t)((int32_t)(((uint32_t)v + 32768u) & 0xFFFFu) - 32768);
}

/* TFLM LUTLookup(int16) on a 513-entry table: the top 9 bits pick a segment, the low 7 bits
 * interpolate linearly (rounded) towards the next entry; slope and sum wrap as int16. */
static inline int16_t pm_fp_lut_lookup_s16(int32_t value, const int16_t *lut) {
  const int32_t index = 256 + (value >> 7);
  const int32_t offset = value & 0x7F;
  const int32_t base = lut[index];
  const int32_t slope = pm_fp_wrap_s16(lut[index + 1] - base);
  const int32_t delta = (slope * offset + 64) >> 7;
  return pm_fp_wrap_s16(base + delta);
}

#endif /* PICOML_FIXEDPOINT_H */
