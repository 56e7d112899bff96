/* picoml SOFTMAX, integer kernels (see pm_softmax.h for the math). */
#include "pm_softmax.h"

#include "pm_fixedpoint.h"
#include "requant.h"

#define SCALED_DIFF_INTEGER_BITS 5  /* Q5.26 input of exp */
#define ACCUMULATION_INTEGER_BITS 12 /* Q12.19 sum of exps */

/* -- int8 input ------------------------------------------------------------------------- */

/* What one row needs besides its values: the max and the reciprocal of the sum of exps. */
typedef struct {
  int32_t max;
  int32_t reciprocal; /* Q0.31 */
  int exponent;       /* output right shift: num_bits_over_unit + 31 - out_bits */
} row_scale;

static int32_t row_max_s8(const int8_t *row, int32_t depth) {
  int32_t max = row[0];
  int32_t c;
  for (c = 1; c < depth; ++c) max = PM_MAX(max, (int32_t)row[c]);
  return max;
}

/* exp(beta * scale * d) in Q0.31 for a counted difference d (diff_min <= d <= 0). */
static int32_t exp_of_diff_s8(const pm_softmax_s8_params *params, int32_t d) {
  const int32_t scaled = pm_srdhm((int32_t)((uint32_t)d << params->input_left_shift), params->input_multiplier);
  return pm_fp_exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS);
}

static row_scale row_scale_s8(const pm_softmax_s8_params *params, const int8_t *row, int out_bits) {
  row_scale rs;
  uint32_t sum = 0; /* Q12.19, wraps like TFLM's int32 */
  int num_bits_over_unit;
  int32_t c;
  rs.max = row_max_s8(row, params->depth);
  for (c = 0; c < params->depth; ++c) {
    const int32_t d = (int32_t)row[c] - rs.max;
    if (d >= params->diff_min) {
      sum += (uint32_t)pm_fp_srmpot(exp_of_diff_s8(params, d), -ACCUMULATION_INTEGER_BITS);
    }
  }
  rs.reciprocal = pm_fp_get_reciprocal((int32_t)sum, ACCUMULATION_INTEGER_BITS, &num_bits_over_unit);
  rs.exponent = num_bits_over_unit + 31 - out_bits;
  return rs;
}

/* RDBP(x, exponent) for exponent up to 35, in 64 bits (TFLM's int32 shift is only defined up
 * to 31: it aborts on int8 outputs with a sum of exps >= 512). A negative exponent only occurs
 * for int16 outputs of rows of 8192+ values whose int32 sum wrapped to below 16, where TFLM is
 * undefined: picoml's NumPy reference gives sign(x) (1 for 0) there, kept for bit-exactness. */
static int32_t rounding_divide_by_pot_wide(int32_t x, int exponent) {
  int64_t mask, remainder, threshold;
  if (exponent < 0) return x >= 0 ? 1 : -1;
  mask = ((int64_t)1 << exponent) - 1;
  remainder = (int64_t)x & mask;
  threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (int32_t)(((int64_t)x >> exponent) + (remainder > threshold ? 1 : 0));
}

/* The output of one value on the grid [out_min, out_max]; out_min for uncounted values. */
static int32_t softmax_value_s8(const pm_softmax_s8_params *params, const row_scale *rs, int8_t x,
                                int32_t out_min, int32_t out_max) {
  const int32_t d = (int32_t)x - rs->max;
  int32_t y;
  if (d < params->diff_min) return out_min;
  y = rounding_divide_by_pot_wide(pm_srdhm(rs->reciprocal, exp_of_diff_s8(params, d)), rs->exponent);
  return PM_CLAMP(y + out_min, out_min, out_max);
}

void pm_softmax_s8(const pm_softmax_s8_params *params, const int8_t *input, int8_t *output) {
  int32_t r, c;
  for (r = 0; r < params->rows; ++r) {
    const int8_t *in = input + (int64_t)r * params->depth;
    int8_t *out = output + (int64_t)r * params->depth;
    const row_scale rs = row_scale_s8(params, in, 8);
    for (c = 0; c < params->depth; ++c) {
      out[c] = (int8_t)softmax_value_s8(params, &rs, in[c], -128, 127);
    }
  }
}

void pm_softmax_s8_s16(const pm_softmax_s8_s16_params *params, const int8_t *input, int16_t *output) {
  int32_t r, c;
  for (r = 0; r < params->rows; ++r) {
    const int8_t *in = input + (int64_t)r * params->depth;
    int16_t *out = output + (int64_t)r * params->depth;
    const row_scale rs = row_scale_s8(params, in, 16);
    for (c = 0; c < params->depth; ++c) {
      out[c] = (int16_t)softmax_value_s8(params, &rs, in[c], -32768, 32767);
    }
  }
}

/* -- int16 input ------------------------------------------------------------------------ */

/* exp of (x - max) from the LUT, in [0, 32767] (Q0.15). */
static int32_t exp_of_diff_s16(const pm_softmax_s16_params *params, int32_t d) {
  const int32_t scaled = pm_requant(d, params->input_multiplier, (int)params->input_shift);
  const int64_t index = PM_CLAMP((int64_t)scaled + 32767, -32768, 32767); /* a wrapped shift may be large */
  return pm_fp_lut_lookup_s16((int32_t)index, params->exp_lut);
}

void pm_softmax_s16(const pm_softmax_s16_params *params, const int16_t *input, int16_t *output) {
  int32_t r, c;
  for (r = 0; r < params->rows; ++r) {
    const int16_t *in = input + (int64_t)r * params->depth;
    int16_t *out = output + (int64_t)r * params->depth;
    int32_t max = in[0];
    int32_t sum = 0; /* <= 32767 * 65536 < 2^31 */
    int headroom_plus_one, right_shift;
    int32_t shifted_sum, reciprocal;
    for (c = 1; c < params->depth; ++c) max = PM_MAX(max, (int32_t)in[c]);
    for (c = 0; c < params->depth; ++c) sum += exp_of_diff_s16(params, (int32_t)in[c] - max);
    headroom_plus_one = pm_fp_count_leading_zeros_u32((uint32_t)sum);
    shifted_sum = (int32_t)((((int64_t)sum << (headroom_plus_one - 1)) + (1 << 13)) >> 14);
    /* 1/(1+x) LUT input: x = shifted_sum - 1 on [0, 65535], recentred to [-32768, 32767] */
    reciprocal = pm_fp_lut_lookup_s16(PM_CLAMP(shifted_sum - ((1 << 15) + (1 << 16)), -32768, 32767),
                                      params->one_over_one_plus_x_lut);
    right_shift = 31 - headroom_plus_one;
    for (c = 0; c < params->depth; ++c) {
      const int64_t e = exp_of_diff_s16(params, (int32_t)in[c] - max);
      const int64_t y = (e * reciprocal + ((int64_t)1 << (right_shift - 1))) >> right_shift;
      out[c] = (int16_t)PM_CLAMP(y, 0, 32767);
    }
  }
}
