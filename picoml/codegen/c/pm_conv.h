/* picoml CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV on int8 and int16x8 NHWC tensors: the
 * C twin of picoml/kernels/conv.py (TFLM reference kernels, bit-exact). No floating point (the
 * float and hybrid kernels are in pm_conv_f32.h).
 *
 * Layouts: activations NHWC; conv and transpose-conv weights OHWI (I = input channels of one
 * group); depthwise weights 1HW(C*M), output channel c*M+m reads input channel c.
 *
 * CONV_2D, output (b, oy, ox, o) of group g = o / (out_c / groups):
 *   acc = sum over taps (fy, fx) inside the input and i < I of
 *         (x[b, oy*sh - ph + fy*dh, ox*sw - pw + fx*dw, g*I + i] - zp_in) * w[o, fy, fx, i]
 *   y = output_stage(acc + bias[o])                       (pm_output_stage.h)
 * DEPTHWISE_CONV_2D: the same with I = 1 and input channel o / M.
 * TRANSPOSE_CONV: every input pixel scatters (x - zp_in) * w[o, fy, fx, i] to output
 *   (iy*sh - ph + fy, ix*sw - pw + fx), kept when inside the output; then the output stage.
 *
 * int8 kernels: taps outside the input count as x = zp_in, so
 *   sum (x - zp_in) * w + bias = sum x * w + folded_bias[o]  (mod 2^32),
 * folded_bias = bias - zp_in * sum of the channel's weights (output_stage.folded_bias), and
 * the inner loops are plain int8 dot products: CONV_2D multiplies im2col patches (padded with
 * zp_in) by the weights (pm_gemm_pixels_s8), DEPTHWISE_CONV_2D reads a row of zero points for taps
 * outside the input (a depthwise conv of one input channel and a kernel other than 3x3 runs as
 * the CONV_2D it equals). Each product is at most 2^14 in magnitude, so the int32 sums cannot
 * overflow for K = KH*KW*I (depthwise: KH*KW) <= 131071 (the emitter checks); adding the bias
 * wraps like TFLM's int32 accumulator.
 * TRANSPOSE_CONV uses (x - zp_in) * w directly (|term| < 2^15; exact per input pixel for
 * I <= 65535) and sums the scattered terms in uint32_t, wrapping exactly like TFLM's int32
 * scratch.
 *
 * int16x8 kernels: zp = 0, exact int64 sums of |x * w| <= 2^22 (no overflow below 2^41 terms),
 * then pm_requant64 (int64 or no bias) or the int32 path (int32 bias), see pm_output_stage.h.
 */
#ifndef PICOML_CONV_H
#define PICOML_CONV_H

#include <stdint.h>

#include "pm_output_stage.h"

/* Shapes and window of one conv-like op (also used by the float kernels). */
typedef struct {
  int32_t batches, in_h, in_w, in_c;
  int32_t out_h, out_w, out_c;
  int32_t kernel_h, kernel_w;
  int32_t stride_h, stride_w;
  int32_t dilation_h, dilation_w;
  int32_t pad_h, pad_w; /* implicit padding before the first row / column */
} pm_conv_geometry;

/* int8 kernels requantize `stage_pixels` (<= PM_STAGE_PIXELS_MAX) output pixels per
 * output-stage call (contiguous in NHWC), so its loop covers enough values to vectorise; their
 * per-channel arrays (the stage's and folded_bias) hold out_c * stage_pixels values, the out_c
 * ones repeated. */
typedef struct {
  pm_conv_geometry g;
  int32_t groups;               /* in_c / I; stage_pixels is 1 when groups > 1 */
  int32_t input_zero_point;     /* fills the im2col patch outside the input */
  int32_t stage_pixels;
  int32_t depth_major;          /* weight layout of each group, see pm_gemm_pixels_s8 */
  const int32_t *folded_bias;   /* bias - zp_in * sum(w[o]) */
  pm_requant_stage stage;
} pm_conv_s8_params;

typedef struct {
  pm_conv_geometry g;
  int32_t groups;
  pm_requant64_stage stage;
} pm_conv_s16_params;

/* The zero-scratch ("lean") int8 kernel for CONV_2D and DEPTHWISE_CONV_2D, which the planner
 * picks (picoml/plan/scratch_fit.py) where the fast kernels' scratch would raise the arena:
 * output channel o of group o / (out_c / groups) reads input channels [g*I, g*I + I), weights
 * are tap-major w[((fy * KW + fx) * I + i) * out_c + o] (a depthwise conv's 1HW(C*M) weights
 * already are: groups = in_c, I = 1). The sums of PM_GEMM_CHUNK channels live on the stack. */
typedef struct {
  pm_conv_geometry g;
  int32_t groups;
  int32_t input_zero_point;     /* taps outside the input read it */
  const int8_t *weights;
  const int32_t *folded_bias;   /* bias - zp_in * sum(w[o]) */
  pm_requant_stage stage;
} pm_conv_lean_s8_params;

typedef struct {
  pm_conv_geometry g;
  int32_t depth_multiplier;
  int32_t input_zero_point;          /* taps outside the input read it */
  int32_t interior_y0, interior_y1;  /* outputs whose taps all lie inside the input: */
  int32_t interior_x0, interior_x1;  /* rows [y0, y1) x columns [x0, x1), no bounds checks */
  int32_t stage_pixels;
  const int32_t *folded_bias;        /* bias - zp_in * sum of the channel's taps */
  pm_requant_stage stage;
} pm_depthwise_conv_s8_params;

typedef struct {
  pm_conv_geometry g;
  int32_t depth_multiplier;
  pm_requant64_stage stage;
} pm_depthwise_conv_s16_params;

typedef struct {
  pm_conv_geometry g; /* in_* = the op's input, out_* = its output; dilation is 1 */
  int32_t input_zero_point;
  const int32_t *bias; /* zeros when the op has none */
  pm_requant_stage stage;
} pm_transpose_conv_s8_params;

typedef struct {
  pm_conv_geometry g;
  pm_requant64_stage stage;
} pm_transpose_conv_s16_params;

/* Scratch (the `scratch_bytes` conv.py's prepare reports):
 *   pm_conv_s8:            stage_pixels im2col patches of KH*KW*I bytes if KH*KW > 1, else none
 *   pm_depthwise_conv_s8:  stage_pixels * out_c int32 sums, then in_c bytes of zero points
 *   pm_transpose_conv_s8:  out_h * out_w * out_c int32 sums  (_s16: int64) */
void pm_conv_s8(const pm_conv_s8_params *p, const int8_t *input, const int8_t *weights, int8_t *output,
                void *scratch);
void pm_conv_lean_s8(const pm_conv_lean_s8_params *p, const int8_t *input, int8_t *output);
void pm_conv_s16(const pm_conv_s16_params *p, const int16_t *input, const int8_t *weights, int16_t *output);
void pm_depthwise_conv_s8(const pm_depthwise_conv_s8_params *p, const int8_t *input, const int8_t *weights,
                          int8_t *output, void *scratch);
void pm_depthwise_conv_s16(const pm_depthwise_conv_s16_params *p, const int16_t *input, const int8_t *weights,
                           int16_t *output);
void pm_transpose_conv_s8(const pm_transpose_conv_s8_params *p, const int8_t *input, const int8_t *weights,
                          int8_t *output, void *scratch);
void pm_transpose_conv_s16(const pm_transpose_conv_s16_params *p, const int16_t *input, const int8_t *weights,
                           int16_t *output, void *scratch);

/* The int8 GEMM core shared with FULLY_CONNECTED. For each of `pixels` input rows a[j] (K =
 * depth values), the sums
 *   acc[n] = sum_k a[j][k] * W[n][k],   n < units,
 * go through the output stage (channels first_channel + n, folded_bias[n]) to
 * out[j * units + n]: the outputs of the pixels are contiguous. W is stored depth-major
 * (weights[k * units + n]: the loop over units is innermost and vectorises; best for many
 * units) or unit-major (weights[n * depth + k]: dot products that vectorise along the depth;
 * best when depth >= 2 * units); the emitter picks the layout per op.
 * The sums live on the stack: PM_GEMM_CHUNK of them (several pixels need pixels * units <=
 * PM_GEMM_CHUNK; one pixel goes PM_GEMM_CHUNK channels at a time), so no arena scratch.
 * No overflow for depth <= 131071. */
#define PM_GEMM_CHUNK 64
#define PM_STAGE_PIXELS_MAX 32 /* output_stage.stage_pixels never exceeds it */
void pm_gemm_pixels_s8(const int8_t *const *a, int32_t pixels, const int8_t *weights, int32_t depth, int32_t units,
                       int32_t depth_major, const pm_requant_stage *stage, int32_t first_channel,
                       const int32_t *folded_bias, int8_t *out);

#endif /* PICOML_CONV_H */
