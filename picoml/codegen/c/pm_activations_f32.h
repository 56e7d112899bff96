/* picoml LOGISTIC and TANH, float32 kernels: the C twin of picoml/kernels/activations.py.
 * Element-wise, safe in place (output == input).
 *   logistic: y = 1                 for x > 16.619047164916992188 (1 - sigmoid(x) < float eps)
 *             y = expf(x)           for x < -9 (sigmoid(x) ~= e^x; avoids exp overflow)
 *             y = 1 / (1 + expf(-x)) otherwise
 *   tanh:     y = tanhf(x)
 * Matches the NumPy reference within float rounding of expf / tanhf (1e-5 relative). */
#ifndef PICOML_ACTIVATIONS_F32_H
#define PICOML_ACTIVATIONS_F32_H

#include <stdint.h>

typedef struct {
  int32_t size; /* elements */
} pm_logistic_f32_params;

typedef pm_logistic_f32_params pm_tanh_f32_params; /* same fields */

void pm_logistic_f32(const pm_logistic_f32_params *params, const float *input, float *output);
void pm_tanh_f32(const pm_tanh_f32_params *params, const float *input, float *output);

#endif /* PICOML_ACTIVATIONS_F32_H */
