/* picoml reductions, float32: MEAN over constant axes. C twin of the float path of
 * picoml/kernels/reduce.py. Same box walk as pm_reduce.h, summing straight into the output:
 *
 *   out[o] = (((0.0f + x_0) + x_1) + ... + x_{K-1}) / (float)K
 *
 * the K terms of each output added in the input's row-major order (TFLM's order, so the
 * rounding matches; compile without -ffast-math). No scratch.
 */
#ifndef PICOML_REDUCE_F32_H
#define PICOML_REDUCE_F32_H

#include "pm_reduce.h"

typedef struct {
  pm_reduce_box box;
} pm_mean_f32_params;

void pm_mean_f32(const pm_mean_f32_params *p, const float *input, float *output);

#endif /* PICOML_REDUCE_F32_H */
