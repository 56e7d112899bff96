/* picoml float32 ADD, SUB and MUL: see pm_elementwise_f32.h. */
#include "pm_elementwise_f32.h"

/* TFLM's ActivationFunctionWithMinMax: min(max(x, lo), hi) with std::max/std::min, so NaN stays NaN. */
static inline float clamp_f32(float x, float lo, float hi) {
  const float above = x < lo ? lo : x;
  return hi < above ? hi : above;
}

static inline float add_value(const pm_binary_f32_params *p, float x1, float x2) {
  return clamp_f32(x1 + x2, p->act_min, p->act_max);
}

static inline float sub_value(const pm_binary_f32_params *p, float x1, float x2) {
  return clamp_f32(x1 - x2, p->act_min, p->act_max);
}

static inline float mul_value(const pm_binary_f32_params *p, float x1, float x2) {
  return clamp_f32(x1 * x2, p->act_min, p->act_max);
}

void pm_add_f32(const pm_binary_f32_params *p, const pm_broadcast *b, const float *in1, const float *in2,
                float *out) {
  PM_BROADCAST_APPLY(b, in1, in2, out, add_value, p);
}

void pm_sub_f32(const pm_binary_f32_params *p, const pm_broadcast *b, const float *in1, const float *in2,
                float *out) {
  PM_BROADCAST_APPLY(b, in1, in2, out, sub_value, p);
}

void pm_mul_f32(const pm_binary_f32_params *p, const pm_broadcast *b, const float *in1, const float *in2,
                float *out) {
  PM_BROADCAST_APPLY(b, in1, in2, out, mul_value, p);
}
