/* picoml CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV on float32 tensors, and TFLite's hybrid
 * CONV_2D (float activations, int8 weights): the C twin of the float paths of
 * picoml/kernels/conv.py. Geometry and layouts as in pm_conv.h.
 *
 * float32: y = clamp(sum + bias[o], act_min, act_max), where sum is accumulated in float32 in
 *   TFLM's order, each product rounded before it is added (never fused):
 *   CONV_2D / DEPTHWISE: taps fy, fx increasing (taps outside the input skipped), then input
 *   channels increasing; TRANSPOSE_CONV: for one output, contributions by input row, column
 *   and channel increasing (TFLM's scatter order). A NULL bias adds nothing. Accumulator:
 *   float32 for any kernel size (overflow gives +-inf, as in TFLM).
 * hybrid CONV_2D, per batch b (TFLite SymmetricQuantizeFloats + EvalHybrid):
 *   top = max |x_b|;  q = clamp(round_half_away(x * (127 / top)), -127, 127)  (q = 0 if top == 0)
 *   acc = sum q * w over taps inside the input (int32: |q * w| <= 2^14, no overflow for
 *   KH*KW*I <= 131071);  y = clamp((float)acc * ((top / 127) * weight_scale) + bias[o])
 */
#ifndef PICOML_CONV_F32_H
#define PICOML_CONV_F32_H

#include <stdint.h>

#include "pm_conv.h"

typedef struct {
  pm_conv_geometry g;
  int32_t groups;
  const float *bias; /* NULL when the op has none */
  float act_min, act_max;
} pm_conv_f32_params;

typedef struct {
  pm_conv_geometry g;
  float weight_scale; /* the one (per-tensor) weight scale */
  const float *bias;
  float act_min, act_max;
} pm_conv_hybrid_f32_params;

typedef struct {
  pm_conv_geometry g;
  int32_t depth_multiplier;
  const float *bias;
  float act_min, act_max;
} pm_depthwise_conv_f32_params;

typedef struct {
  pm_conv_geometry g;
  const float *bias;
  float act_min, act_max;
} pm_transpose_conv_f32_params;

void pm_conv_f32(const pm_conv_f32_params *p, const float *input, const float *weights, float *output);
/* scratch: in_h * in_w * in_c bytes (one batch of quantized input) */
void pm_conv_hybrid_f32(const pm_conv_hybrid_f32_params *p, const float *input, const int8_t *weights,
                        float *output, void *scratch);
void pm_depthwise_conv_f32(const pm_depthwise_conv_f32_params *p, const float *input, const float *weights,
                           float *output);
void pm_transpose_conv_f32(const pm_transpose_conv_f32_params *p, const float *input, const float *weights,
                           float *output);

#endif /* PICOML_CONV_F32_H */
