/* picoml LOGISTIC and TANH, integer kernels (see pm_activations.h for the math). */
#include "pm_activations.h"

#include "pm_fixedpoint.h"
#include "requant.h"

#define INPUT_INTEGER_BITS_S8 4 /* int8 inputs are rescaled to Q4.27 */

/* d = x - zp rescaled to Q4.27; the caller has checked |d| < radius. */
static int32_t rescaled_s8(const pm_logistic_s8_params *params, int32_t d) {
  return pm_requant(d, params->input_multiplier, (int)params->input_left_shift);
}

void pm_logistic_s8(const pm_logistic_s8_params *params, const int8_t *input, int8_t *output) {
  const int32_t radius = params->input_range_radius;
  int32_t i;
  for (i = 0; i < params->size; ++i) {
    const int32_t d = (int32_t)input[i] - params->input_zero_point;
    int32_t y;
    if (d <= -radius) {
      y = -128;
    } else if (d >= radius) {
      y = 127;
    } else {
      const int32_t p = pm_fp_logistic(rescaled_s8(params, d), INPUT_INTEGER_BITS_S8); /* Q0.31 */
      y = PM_CLAMP(pm_rounding_divide_by_pot(p, 31 - 8) - 128, -128, 127);
    }
    output[i] = (int8_t)y;
  }
}

void pm_tanh_s8(const pm_tanh_s8_params *params, const int8_t *input, int8_t *output) {
  const int32_t radius = params->input_range_radius;
  int32_t i;
  for (i = 0; i < params->size; ++i) {
    const int32_t d = (int32_t)input[i] - params->input_zero_point;
    int32_t y;
    if (d <= -radius) {
      y = -128;
    } else if (d >= radius) {
      y = 127;
    } else {
      const int32_t t = pm_fp_tanh(rescaled_s8(params, d), INPUT_INTEGER_BITS_S8); /* Q0.31 */
      y = PM_CLAMP(pm_rounding_divide_by_pot(t, 31 - 7), -128, 127);
    }
    output[i] = (int8_t)y;
  }
}

/* The int16 input in units of 1/(3*4096): a rounded arithmetic right shift in int64. */
static int64_t scaled_s16(const pm_logistic_s16_params *params, int16_t x) {
  const int shift = (int)params->input_left_shift;
  const int64_t round = shift > 0 ? (int64_t)1 << (shift - 1) : 0;
  return ((int64_t)x * params->input_multiplier + round) >> shift;
}

/* The unsigned sigmoid table at abs_v / 2^frac_bits, linearly interpolated on the frac_bits
 * low bits, or `saturated` beyond the table's last segment. */
static int32_t sigmoid_interp(const uint16_t *table, int64_t abs_v, int frac_bits, int32_t saturated) {
  const int64_t segment = abs_v >> frac_bits;
  int32_t ua, ub, frac;
  if (segment >= 255) return saturated;
  ua = table[segment];
  ub = table[segment + 1];
  frac = (int32_t)(abs_v & ((1 << frac_bits) - 1));
  return (ua << frac_bits) + frac * (ub - ua);
}

void pm_logistic_s16(const pm_logistic_s16_params *params, const int16_t *input, int16_t *output) {
  int32_t i;
  for (i = 0; i < params->size; ++i) {
    const int64_t v = scaled_s16(params, input[i]);
    const int32_t s = sigmoid_interp(params->sigmoid_table, v < 0 ? -v : v, 9, 0x7FFF << 10);
    const int32_t r = v >= 0 ? s + (1 << 9) : (1 << 25) - s + (1 << 9) - 1;
    output[i] = (int16_t)(r >> 10);
  }
}

void pm_tanh_s16(const pm_tanh_s16_params *params, const int16_t *input, int16_t *output) {
  int32_t i;
  for (i = 0; i < params->size; ++i) {
    const int64_t v = scaled_s16(params, input[i]);
    const int32_t s = sigmoid_interp(params->sigmoid_table, v < 0 ? -v : v, 8, 0xFFFF << 8);
    const int32_t r = v >= 0 ? s - (1 << 23) + (1 << 7) : (1 << 23) - s + (1 << 7) - 1;
    output[i] = (int16_t)(r >> 8);
  }
}
