/* picoml quantized LEAKY_RELU: see pm_leaky_relu.h. */
#include "pm_leaky_relu.h"

#include "requant.h"

static inline int32_t leaky_relu_value(const pm_leaky_relu_params *p, int32_t x, int32_t lo, int32_t hi) {
  const int32_t d = x - p->input_zero_point;
  uint32_t v; /* unsigned: the negation and the zero-point add wrap like TFLM's int32 arithmetic */
  int32_t out;
  if (d >= 0) {
    v = (uint32_t)pm_requant(d, p->multiplier_identity, p->shift_identity);
  } else {
    v = (uint32_t)pm_requant(d, p->multiplier_alpha, p->shift_alpha);
    if (p->alpha_negative) v = 0u - v;
  }
  out = (int32_t)(v + (uint32_t)p->output_zero_point);
  return PM_CLAMP(out, lo, hi);
}

void pm_leaky_relu_s8(const pm_leaky_relu_params *p, int32_t n, const int8_t *in, int8_t *out) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = (int8_t)leaky_relu_value(p, in[i], INT8_MIN, INT8_MAX);
}

void pm_leaky_relu_s16(const pm_leaky_relu_params *p, int32_t n, const int16_t *in, int16_t *out) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = (int16_t)leaky_relu_value(p, in[i], INT16_MIN, INT16_MAX);
}
