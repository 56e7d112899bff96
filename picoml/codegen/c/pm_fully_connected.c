/* picoml FULLY_CONNECTED, int8 and int16x8 (see pm_fully_connected.h for the math). */
#include "pm_fully_connected.h"

#include <stddef.h>

#include "pm_conv.h"

void pm_fully_connected_s8(const pm_fully_connected_s8_params *p, const int8_t *input, const int8_t *weights,
                           int8_t *output) {
  const int8_t *rows[PM_STAGE_PIXELS_MAX];
  int32_t r, j;
  for (r = 0; r < p->rows; r += p->stage_pixels) {
    const int32_t count = PM_MIN(p->stage_pixels, p->rows - r);
    for (j = 0; j < count; ++j) rows[j] = input + (r + j) * p->depth;
    pm_gemm_pixels_s8(rows, count, weights, p->depth, p->units, p->depth_major, &p->stage, 0, p->folded_bias,
                      output + r * p->units);
  }
}

void pm_fully_connected_s16(const pm_fully_connected_s16_params *p, const int16_t *input, const int8_t *weights,
                            int16_t *output) {
  int32_t r, u, d;
  for (r = 0; r < p->rows; ++r) {
    const int16_t *x = input + r * p->depth;
    for (u = 0; u < p->units; ++u) {
      const int8_t *w = weights + u * p->depth;
      int64_t acc = 0;
      for (d = 0; d < p->depth; ++d) acc += (int32_t)x[d] * w[d];
      output[r * p->units + u] = pm_stage64_value(&p->stage, u, acc);
    }
  }
}
