/* picoml pooling, float32: AVERAGE_POOL_2D and MAX_POOL_2D on NHWC tensors.
 * C twin of the float paths of picoml/kernels/pool.py (TFLM reference_ops::AveragePool /
 * MaxPool). Window geometry and skipped padding taps as in pm_pool.h.
 *
 *   average: out = clamp(sum / (float)count), the taps added in float in row-major tap order
 *            starting from 0.0f (TFLM's order, so the rounding matches)
 *   max:     out = clamp(max over taps), max starting from -FLT_MAX with best = best < v ? v : best
 *            (std::max order: a NaN tap never wins)
 *   clamp(v) = hi < max(v, lo) ? hi : max(v, lo), max(v, lo) = v < lo ? lo : v (std::min/max
 *            order; act bounds are finite, so +-inf become +-FLT_MAX as in TFLM)
 *
 * Results equal the NumPy twin within float rounding of the same operations (no reassociation:
 * compile without -ffast-math).
 */
#ifndef PICOML_POOL_F32_H
#define PICOML_POOL_F32_H

#include "pm_pool.h"

typedef struct {
  pm_pool_window window;
  float act_min, act_max; /* fused activation clamp */
} pm_pool_f32_params;

void pm_average_pool_f32(const pm_pool_f32_params *p, const float *input, float *output);
void pm_max_pool_f32(const pm_pool_f32_params *p, const float *input, float *output);

#endif /* PICOML_POOL_F32_H */
