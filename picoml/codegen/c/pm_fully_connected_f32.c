/* picoml FULLY_CONNECTED, float32 (see pm_fully_connected_f32.h). Each product is a statement
 * of its own so no compiler contracts it into an FMA. */
#include "pm_fully_connected_f32.h"

#include <stddef.h>

void pm_fully_connected_f32(const pm_fully_connected_f32_params *p, const float *input, const float *weights,
                            float *output) {
  int32_t r, u, d;
  for (r = 0; r < p->rows; ++r) {
    const float *x = input + r * p->depth;
    for (u = 0; u < p->units; ++u) {
      const float *w = weights + u * p->depth;
      float sum = 0.0f, v;
      for (d = 0; d < p->depth; ++d) {
        const float product = x[d] * w[d];
        sum += product;
      }
      v = p->bias != NULL ? sum + p->bias[u] : sum;
      v = v < p->act_min ? p->act_min : v;
      output[r * p->units + u] = v > p->act_max ? p->act_max : v;
    }
  }
}
