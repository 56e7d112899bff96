/* picoml LOGISTIC and TANH, float32 kernels (see pm_activations_f32.h). */
#include "pm_activations_f32.h"

#include <math.h>

#define LOGISTIC_CUTOFF_UPPER 16.619047164916992188f
#define LOGISTIC_CUTOFF_LOWER (-9.0f)

void pm_logistic_f32(const pm_logistic_f32_params *params, const float *input, float *output) {
  int32_t i;
  for (i = 0; i < params->size; ++i) {
    const float x = input[i];
    float y;
    if (x > LOGISTIC_CUTOFF_UPPER) {
      y = 1.0f;
    } else if (x < LOGISTIC_CUTOFF_LOWER) {
      y = expf(x);
    } else {
      y = 1.0f / (1.0f + expf(-x));
    }
    output[i] = y;
  }
}

void pm_tanh_f32(const pm_tanh_f32_params *params, const float *input, float *output) {
  int32_t i;
  for (i = 0; i < params->size; ++i) {
    output[i] = tanhf(input[i]);
  }
}
