/* picoml binary layers (Larq Compute Engine semantics), the parts that need floating point:
 * LceQuantize of float32, LceDequantize to float32, and binary convolution with float32 or int8
 * output. C twin of picoml/kernels/bitpack.py and picoml/kernels/binary.py; builds on pm_binary.h
 * (accum, patch, popcount).
 *
 * Output transform of a binary convolution, per output channel o (LCE OutputTransform):
 *   x = clamp(2 * accum[o], clamp_min, clamp_max)                     (int32)
 *   y = (float)x * multiplier[o];  y = y + bias[o];                    (two float32 roundings)
 *   float32 output: y, plus at border pixels of a zero-padded conv: y = y + correction[row][o]
 *   int8 output:    saturate(roundf(y)) (ties away from zero) to [-128, 127]
 * multiplier = -m / scale and bias = (b + K*m) / scale + zero_point are LCE's fused values
 * (computed in double, stored as float32, scale 1 and zero point 0 for float output). The two
 * float32 steps are separate statements so no compiler fuses them into an FMA (LCE's x86
 * build does not); with gcc keep -ffp-contract=off (the default under -std=c99).
 * Zero padding (pad_values = 0 with SAME): the conv runs with one-padding and border pixels add
 * correction[row] = float32(-m) * (sum of the +-1 weights outside the input), where row is the
 * first of LCE's four border cases whose row table (row_case_y[case][oy]) and column table
 * (col_case_x[case][ox]) are both >= 0: row = (case * corr_h + row_case_y) * corr_w + col_case_x.
 * Pixels with row_inner[oy] && col_inner[ox] get none.
 * Accumulators: as in pm_binary.h (int32, K < 2^30).
 */
#ifndef PICOML_BINARY_F32_H
#define PICOML_BINARY_F32_H

#include <stdint.h>

#include "pm_binary.h"

typedef struct {
  pm_bconv2d_geometry geo;
  int32_t clamp_min, clamp_max;
  const float *multiplier, *bias;           /* [channels_out] */
  /* zero-padding correction; correction == NULL when the conv has none */
  const float *correction;                  /* [4, corr_h, corr_w, channels_out] */
  int32_t corr_h, corr_w;
  const int32_t *row_case_y, *col_case_x;   /* [4, out_h], [4, out_w]; -1: case does not apply */
  const int32_t *row_inner, *col_inner;     /* [out_h], [out_w]: no filter tap outside the input */
} pm_bconv2d_f32_params;

typedef struct {
  pm_bconv2d_geometry geo;
  int32_t clamp_min, clamp_max;
  const float *multiplier, *bias;           /* [channels_out], already scaled to the int8 output */
} pm_bconv2d_s8_params;

/* scratch: KH * KW * words uint32_t (the patch). */
void pm_bconv2d_f32(const pm_bconv2d_f32_params *p, const int32_t *input, const int32_t *filter, float *output,
                    uint32_t *scratch);
void pm_bconv2d_s8(const pm_bconv2d_s8_params *p, const int32_t *input, const int32_t *filter, int8_t *output,
                   uint32_t *scratch);
void pm_lce_quantize_f32(const pm_lce_quantize_params *p, const float *input, int32_t *output);
void pm_lce_dequantize_f32(const pm_lce_dequantize_params *p, const int32_t *input, float *output);

#endif /* PICOML_BINARY_F32_H */
