/* picoml float32 LEAKY_RELU: see pm_leaky_relu_f32.h. */
#include "pm_leaky_relu_f32.h"

void pm_leaky_relu_f32(const pm_leaky_relu_f32_params *p, int32_t n, const float *in, float *out) {
  const float alpha = p->alpha;
  int32_t i;
  for (i = 0; i < n; ++i) {
    const float x = in[i];
    out[i] = x > 0.0f ? x : x * alpha;
  }
}
