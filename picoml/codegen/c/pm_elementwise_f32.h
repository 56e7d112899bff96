/* picoml float32 ADD, SUB and MUL with broadcasting (pm_broadcast.h): the C twin of the float
 * path of picoml/kernels/elementwise.py.
 *
 *   out = clamp(in1 op in2, act_min, act_max)      (float32 arithmetic, op one of + - *)
 *
 * As in TFLM, the bounds without an activation are -FLT_MAX and FLT_MAX, so an infinite result
 * becomes +-FLT_MAX; the clamp is written like std::min(std::max(x, lo), hi), so NaN passes
 * through. One operation per element, no accumulator (K = 1). The output may be the same buffer
 * as an input of the output's shape (in-place).
 */
#ifndef PICOML_PM_ELEMENTWISE_F32_H
#define PICOML_PM_ELEMENTWISE_F32_H

#include "pm_broadcast.h"

typedef struct {
  float act_min;
  float act_max;
} pm_binary_f32_params;

void pm_add_f32(const pm_binary_f32_params *p, const pm_broadcast *b, const float *in1, const float *in2,
                float *out);
void pm_sub_f32(const pm_binary_f32_params *p, const pm_broadcast *b, const float *in1, const float *in2,
                float *out);
void pm_mul_f32(const pm_binary_f32_params *p, const pm_broadcast *b, const float *in1, const float *in2,
                float *out);

#endif /* PICOML_PM_ELEMENTWISE_F32_H */
