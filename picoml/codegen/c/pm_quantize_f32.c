/* picoml float QUANTIZE and DEQUANTIZE: see pm_quantize_f32.h. */
#include "pm_quantize_f32.h"

#include <math.h>

#include "requant.h"

static inline int32_t quantize_value(const pm_quantize_f32_params *p, float x) {
  const float rounded = roundf(x / p->scale);
  /* Written-out x86 conversion: NaN and anything outside the int32 range become INT32_MIN. */
  const int32_t q = (rounded >= -2147483648.0f && rounded < 2147483648.0f) ? (int32_t)rounded : INT32_MIN;
  const int32_t shifted = (int32_t)((uint32_t)q + (uint32_t)p->output_zero_point);
  return PM_CLAMP(shifted, p->output_min, p->output_max);
}

static inline float dequantize_value(const pm_dequantize_params *p, int32_t q) {
  return (float)((double)p->scale * (double)(q - p->zero_point));
}

void pm_quantize_f32_s8(const pm_quantize_f32_params *p, int32_t n, const float *in, int8_t *out) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = (int8_t)quantize_value(p, in[i]);
}

void pm_quantize_f32_s16(const pm_quantize_f32_params *p, int32_t n, const float *in, int16_t *out) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = (int16_t)quantize_value(p, in[i]);
}

void pm_dequantize_s8(const pm_dequantize_params *p, int32_t n, const int8_t *in, float *out) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = dequantize_value(p, in[i]);
}

void pm_dequantize_s16(const pm_dequantize_params *p, int32_t n, const int16_t *in, float *out) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = dequantize_value(p, in[i]);
}

void pm_dequantize_u8(const pm_dequantize_params *p, int32_t n, const uint8_t *in, float *out) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = dequantize_value(p, in[i]);
}
