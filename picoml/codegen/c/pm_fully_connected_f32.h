/* picoml FULLY_CONNECTED on float32 tensors: the C twin of the float path of
 * picoml/kernels/fully_connected.py. For each row r and unit u:
 *   y[r][u] = clamp(sum_d x[r][d] * w[u][d] + bias[u], act_min, act_max)
 * summed in float32 with d increasing, each product rounded before it is added (TFLM's order);
 * a NULL bias adds nothing. Accumulator: float32 for any depth (overflow gives +-inf, clamped
 * to +-FLT_MAX by a NONE activation, as in TFLM).
 */
#ifndef PICOML_FULLY_CONNECTED_F32_H
#define PICOML_FULLY_CONNECTED_F32_H

#include <stdint.h>

typedef struct {
  int32_t rows, depth, units;
  const float *bias; /* NULL when the op has none */
  float act_min, act_max;
} pm_fully_connected_f32_params;

void pm_fully_connected_f32(const pm_fully_connected_f32_params *p, const float *input, const float *weights,
                            float *output);

#endif /* PICOML_FULLY_CONNECTED_F32_H */
