/* picoml int8 / int16 LEAKY_RELU (TFLM's QuantizeLeakyRelu): the C twin of the quantized path
 * of picoml/kernels/leaky_relu.py. No floating point.
 *
 *   d   = q - input_zero_point
 *   v   = d >= 0 ? MBQM(d, multiplier_identity, shift_identity)
 *                : (alpha_negative ? -1 : 1) * MBQM(d, multiplier_alpha, shift_alpha)
 *   out = clamp(v + output_zero_point, type min, type max)
 *
 * with multiplier_identity ~ scale_in / scale_out and multiplier_alpha ~ |alpha| scale_in /
 * scale_out (Q31, shifts may be > 0), MBQM = pm_requant. |d| <= 65535. The negation and the
 * zero-point add wrap modulo 2^32 as TFLM's int32 arithmetic does (reachable only for int16 with
 * a multiplier within ~2^-15 of a power of two and a left shift >= 16). No reduction (K = 1).
 * `out` may be `in` (in-place): element i is read before it is written.
 */
#ifndef PICOML_PM_LEAKY_RELU_H
#define PICOML_PM_LEAKY_RELU_H

#include <stdint.h>

typedef struct {
  int32_t input_zero_point;
  int32_t output_zero_point;
  int32_t multiplier_identity;
  int32_t shift_identity;
  int32_t multiplier_alpha;  /* magnitude; the sign is alpha_negative */
  int32_t shift_alpha;
  int32_t alpha_negative;    /* 1 if alpha < 0 */
} pm_leaky_relu_params;

void pm_leaky_relu_s8(const pm_leaky_relu_params *p, int32_t n, const int8_t *in, int8_t *out);
void pm_leaky_relu_s16(const pm_leaky_relu_params *p, int32_t n, const int16_t *in, int16_t *out);

#endif /* PICOML_PM_LEAKY_RELU_H */
