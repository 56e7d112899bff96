/* picoml integer QUANTIZE: see pm_quantize.h. */
#include "pm_quantize.h"

#include "requant.h"

/* One value rescaled to the output's scale and zero point, clamped to the output type. */
static inline int32_t requantize_value(const pm_quantize_params *p, int32_t x) {
  const int32_t centered = (int32_t)((uint32_t)x - (uint32_t)p->input_zero_point);
  const int32_t scaled = pm_requant(centered, p->multiplier, p->shift);
  const int32_t shifted = (int32_t)((uint32_t)scaled + (uint32_t)p->output_zero_point);
  return PM_CLAMP(shifted, p->output_min, p->output_max);
}

void pm_quantize_s8_s8(const pm_quantize_params *p, int32_t n, const int8_t *in, int8_t *out) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = (int8_t)requantize_value(p, in[i]);
}

void pm_quantize_s8_u8(const pm_quantize_params *p, int32_t n, const int8_t *in, uint8_t *out) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = (uint8_t)requantize_value(p, in[i]);
}

void pm_quantize_u8_s8(const pm_quantize_params *p, int32_t n, const uint8_t *in, int8_t *out) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = (int8_t)requantize_value(p, in[i]);
}

void pm_quantize_s8_s16(const pm_quantize_params *p, int32_t n, const int8_t *in, int16_t *out) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = (int16_t)requantize_value(p, in[i]);
}

void pm_quantize_s8_s32(const pm_quantize_params *p, int32_t n, const int8_t *in, int32_t *out) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = requantize_value(p, in[i]);
}

void pm_quantize_s16_s8(const pm_quantize_params *p, int32_t n, const int16_t *in, int8_t *out) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = (int8_t)requantize_value(p, in[i]);
}

void pm_quantize_s16_s16(const pm_quantize_params *p, int32_t n, const int16_t *in, int16_t *out) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = (int16_t)requantize_value(p, in[i]);
}

void pm_quantize_s16_s32(const pm_quantize_params *p, int32_t n, const int16_t *in, int32_t *out) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = requantize_value(p, in[i]);
}

void pm_quantize_s32_s8(const pm_quantize_params *p, int32_t n, const int32_t *in, int8_t *out) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = (int8_t)requantize_value(p, in[i]);
}

void pm_quantize_s32_s16(const pm_quantize_params *p, int32_t n, const int32_t *in, int16_t *out) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = (int16_t)requantize_value(p, in[i]);
}
