/* picoml QUANTIZE float32 -> int8/int16 and DEQUANTIZE int8/int16/uint8 -> float32: the C twin of
 * the float paths of picoml/kernels/quantize.py (TFLM's AffineQuantize and Dequantize).
 *
 * QUANTIZE:   r   = roundf(x / scale)                (float32 division, ties away from zero)
 *             q   = r if -2^31 <= r < 2^31 else INT32_MIN   (also for NaN and +-inf)
 *             out = clamp(q + output_zero_point, output_min, output_max)   (the add wraps mod 2^32)
 * The out-of-range rule is what x86's float -> int32 conversion gives, so what TFLM computes on
 * the host; C leaves that conversion undefined, so it is written out (no UB).
 *
 * DEQUANTIZE: out = (float)((double)scale * (q - zero_point))
 * The double product is exact (24-bit by 17-bit), so the result is the correctly rounded float.
 * No reduction (K = 1); input and output element sizes differ, so they never share a buffer.
 */
#ifndef PICOML_PM_QUANTIZE_F32_H
#define PICOML_PM_QUANTIZE_F32_H

#include <stdint.h>

typedef struct {
  float scale;
  int32_t output_zero_point;
  int32_t output_min;
  int32_t output_max;
} pm_quantize_f32_params;

typedef struct {
  float scale;
  int32_t zero_point;
} pm_dequantize_params;

void pm_quantize_f32_s8(const pm_quantize_f32_params *p, int32_t n, const float *in, int8_t *out);
void pm_quantize_f32_s16(const pm_quantize_f32_params *p, int32_t n, const float *in, int16_t *out);

void pm_dequantize_s8(const pm_dequantize_params *p, int32_t n, const int8_t *in, float *out);
void pm_dequantize_s16(const pm_dequantize_params *p, int32_t n, const int16_t *in, float *out);
void pm_dequantize_u8(const pm_dequantize_params *p, int32_t n, const uint8_t *in, float *out);

#endif /* PICOML_PM_QUANTIZE_F32_H */
