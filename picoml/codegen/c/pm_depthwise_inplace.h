/* picoml in-place depthwise convolution (int8, depth multiplier 1, output shape == input shape):
 * the output is written over the input tensor, one channel at a time, so the op needs one
 * channel plane of scratch instead of a second tensor (TinyEngine's idea). The planner picks it
 * only where it lowers the arena (picoml/plan/inplace.py); the NumPy twin is the ordinary
 * DEPTHWISE_CONV_2D of picoml/kernels/conv.py, whose bits it gives.
 *
 * For each batch b and channel c:
 *   1. plane = channel c of image b, padded: plane[(iy + pad_h) * plane_w + ix + pad_w] =
 *      x[b, iy, ix, c], and the input zero point everywhere outside the image;
 *   2. for every output (oy, ox), with taps read from the plane (never from the tensor):
 *        acc = sum over fy < kernel_h, fx < kernel_w of
 *              plane[(oy*stride_h + fy*dilation_h) * plane_w + ox*stride_w + fx*dilation_w] * w[fy, fx, c]
 *        y[b, oy, ox, c] = output_stage(acc + folded_bias[c])   (pm_output_stage.h arithmetic:
 *                          pm_requant_pre, + zero point, clamp; sums wrap like TFLM's int32)
 *      written over x[b, oy, ox, c]: channel c of the tensor was copied in step 1 and no other
 *      channel is written, so nothing still to be read is overwritten.
 * Taps outside the image read the zero point: sum (x - zp) * w + bias = sum x * w + folded_bias,
 * folded_bias = bias - zp * sum of the channel's weights (output_stage.folded_bias).
 *
 * Accumulator range: |x * w| <= 2^14, so the int32 sums are exact for K = kernel_h * kernel_w
 * <= 131071 taps (the emitter checks); adding the folded bias wraps like TFLM's accumulator.
 * Scratch: out_w int32 row sums, then plane_h * plane_w bytes (plane_h >= (out_h - 1) *
 * stride_h + (kernel_h - 1) * dilation_h + 1 and >= pad_h + in_h; the same for columns).
 * No floating point, no allocation.
 */
#ifndef PICOML_DEPTHWISE_INPLACE_H
#define PICOML_DEPTHWISE_INPLACE_H

#include <stdint.h>

#include "pm_output_stage.h"

typedef struct {
  int32_t batches, in_h, in_w, channels; /* the tensor, read and then overwritten */
  int32_t out_h, out_w;                  /* out_h * out_w == in_h * in_w (same shape) */
  int32_t kernel_h, kernel_w;
  int32_t stride_h, stride_w;
  int32_t dilation_h, dilation_w;
  int32_t pad_h, pad_w;                  /* implicit padding before the first row / column */
  int32_t plane_h, plane_w;              /* the padded plane in scratch */
  int32_t input_zero_point;              /* fills the plane outside the image */
  const int32_t *folded_bias;            /* per channel: bias - zp_in * sum(w[c]) */
  pm_requant_stage stage;                /* per channel */
} pm_depthwise_inplace_s8_params;

/* data: the input tensor [batches, in_h, in_w, channels], overwritten by the output;
 * weights: [kernel_h][kernel_w][channels]; scratch: 4 * out_w + plane_h * plane_w bytes. */
void pm_depthwise_inplace_s8(const pm_depthwise_inplace_s8_params *p, int8_t *data, const int8_t *weights,
                             void *scratch);

#endif /* PICOML_DEPTHWISE_INPLACE_H */
