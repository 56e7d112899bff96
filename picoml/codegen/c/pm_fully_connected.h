/* picoml FULLY_CONNECTED on int8 and int16x8 tensors: the C twin of
 * picoml/kernels/fully_connected.py (TFLM reference kernel, bit-exact). No floating point (the
 * float kernel is in pm_fully_connected_f32.h).
 *
 * The input is `rows` rows of `depth` values, weights are [units][depth]; for each row r and
 * unit u:
 *   acc = sum_d (x[r][d] - zp_in) * w[u][d];   y[r][u] = output_stage(acc + bias[u])
 * int8: computed as sum_d x * w + folded_bias[u] (folded_bias = bias - zp_in * sum_d w[u][d],
 *   output_stage.folded_bias) with the int8 GEMM core of pm_conv.h (sums on the stack, no
 *   scratch): |x * w| <= 2^14, so the int32 dot product cannot overflow for depth <= 131071
 *   (the emitter checks); the bias is added with int32 wrap-around like TFLM.
 * int16x8: zp = 0, exact int64 sums (|x * w| <= 2^22), then pm_requant64 or, with an int32
 *   bias, TFLM's int32 path (pm_output_stage.h).
 */
#ifndef PICOML_FULLY_CONNECTED_H
#define PICOML_FULLY_CONNECTED_H

#include <stdint.h>

#include "pm_output_stage.h"

/* Rows are requantized `stage_pixels` at a time; folded_bias and the stage's arrays hold
 * units * stage_pixels values (see pm_conv.h). */
typedef struct {
  int32_t rows, depth, units;
  int32_t stage_pixels;
  int32_t depth_major; /* weight layout, see pm_gemm_pixels_s8 */
  const int32_t *folded_bias;
  pm_requant_stage stage;
} pm_fully_connected_s8_params;

typedef struct {
  int32_t rows, depth, units;
  pm_requant64_stage stage;
} pm_fully_connected_s16_params;

void pm_fully_connected_s8(const pm_fully_connected_s8_params *p, const int8_t *input, const int8_t *weights,
                           int8_t *output);
void pm_fully_connected_s16(const pm_fully_connected_s16_params *p, const int16_t *input, const int8_t *weights,
                            int16_t *output);

#endif /* PICOML_FULLY_CONNECTED_H */
