/* picoml SOFTMAX over the last axis, float32 kernel: the C twin of picoml/kernels/softmax.py.
 *   e_c = expf((x_c - max(row)) * beta);  y_c = e_c / sum_c e_c   (sum left to right, float)
 * Matches the NumPy reference within float rounding of expf (1e-5 relative). */
#ifndef PICOML_SOFTMAX_F32_H
#define PICOML_SOFTMAX_F32_H

#include <stdint.h>

typedef struct {
  int32_t rows;
  int32_t depth; /* values per row (the last axis) */
  float beta;
} pm_softmax_f32_params;

void pm_softmax_f32(const pm_softmax_f32_params *params, const float *input, float *output);

#endif /* PICOML_SOFTMAX_F32_H */
