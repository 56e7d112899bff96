/* picoml LOGISTIC and TANH, integer kernels: the C twin of picoml/kernels/activations.py
 * (TFLM reference arithmetic, bit-exact). Element-wise, safe in place (output == input).
 *
 * int8 (gemmlowp fixed point):
 *   d = x - input_zero_point                                  (int32, |d| <= 255)
 *   d <= -input_range_radius -> -128;  d >= input_range_radius -> 127;  else
 *   a = pm_requant(d, input_multiplier, input_left_shift)     (Q4.27, |a| < 16)
 *   logistic: y = clamp(RDBP(logistic_Q0.31(a), 23) - 128)    (scale 1/256, zp -128)
 *   tanh:     y = clamp(RDBP(tanh_Q0.31(a), 24))              (scale 1/128, zp 0)
 *   RDBP: rounding divide by a power of two, ties away from zero. Every intermediate is an
 *   int32 fixed-point value (products by pm_srdhm): no accumulator, no limit on size.
 *
 * int16 (TFLM's 256-entry sigmoid(i/24) table in unsigned Q0.16, zero points 0, output 2^-15):
 *   v = (x * input_multiplier + round) >> input_left_shift    (int64; units of 1/(3*4096))
 *   logistic: s = sigmoid_table read at |v| / 2^9 with 9-bit linear interpolation (Q0.25),
 *             y = (s + 2^9) >> 10 for v >= 0, (2^25 - s + 2^9 - 1) >> 10 for v < 0
 *   tanh:     s read at |v| / 2^8 with 8-bit interpolation (tanh(x) = 2 sigmoid(2x) - 1),
 *             y = (s - 2^23 + 2^7) >> 8 for v >= 0, (2^23 - s + 2^7 - 1) >> 8 for v < 0
 *   beyond the table's last segment s saturates (0x7FFF << 10, resp. 0xFFFF << 8).
 *   Interpolation terms are < 2^26: int32, no limit on size.
 */
#ifndef PICOML_ACTIVATIONS_H
#define PICOML_ACTIVATIONS_H

#include <stdint.h>

typedef struct {
  int32_t size;               /* elements */
  int32_t input_zero_point;
  int32_t input_range_radius; /* |x - zp| at or beyond this saturates */
  int32_t input_multiplier;   /* Q31, to Q4.27 */
  int32_t input_left_shift;   /* >= 0; only used when radius > 0 (then <= 30) */
} pm_logistic_s8_params;

typedef pm_logistic_s8_params pm_tanh_s8_params; /* same fields */

typedef struct {
  int32_t size;                  /* elements */
  int32_t input_multiplier;      /* <= 32767 */
  int32_t input_left_shift;      /* 0 .. 31 */
  const uint16_t *sigmoid_table; /* 256 entries, sigmoid(i/24) in unsigned Q0.16 */
} pm_logistic_s16_params;

typedef pm_logistic_s16_params pm_tanh_s16_params; /* same fields */

void pm_logistic_s8(const pm_logistic_s8_params *params, const int8_t *input, int8_t *output);
void pm_tanh_s8(const pm_tanh_s8_params *params, const int8_t *input, int8_t *output);
void pm_logistic_s16(const pm_logistic_s16_params *params, const int16_t *input, int16_t *output);
void pm_tanh_s16(const pm_tanh_s16_params *params, const int16_t *input, int16_t *output);

#endif /* PICOML_ACTIVATIONS_H */
