/* picoml float32 LEAKY_RELU: the C twin of the float path of picoml/kernels/leaky_relu.py.
 *
 *   out = x > 0 ? x : x * alpha      (float32; NaN gives NaN)
 *
 * No accumulator (K = 1). `out` may be `in` (in-place).
 */
#ifndef PICOML_PM_LEAKY_RELU_F32_H
#define PICOML_PM_LEAKY_RELU_F32_H

#include <stdint.h>

typedef struct {
  float alpha;
} pm_leaky_relu_f32_params;

void pm_leaky_relu_f32(const pm_leaky_relu_f32_params *p, int32_t n, const float *in, float *out);

#endif /* PICOML_PM_LEAKY_RELU_F32_H */
