/* picoml SOFTMAX, float32 kernel (see pm_softmax_f32.h). Safe in place (output == input). */
#include "pm_softmax_f32.h"

#include <math.h>

void pm_softmax_f32(const pm_softmax_f32_params *params, const float *input, float *output) {
  int32_t r, c;
  for (r = 0; r < params->rows; ++r) {
    const float *in = input + (int64_t)r * params->depth;
    float *out = output + (int64_t)r * params->depth;
    float max = in[0];
    float sum = 0.0f;
    for (c = 1; c < params->depth; ++c) max = in[c] > max ? in[c] : max;
    for (c = 0; c < params->depth; ++c) {
      out[c] = expf((in[c] - max) * params->beta);
      sum += out[c];
    }
    for (c = 0; c < params->depth; ++c) out[c] = out[c] / sum;
  }
}
