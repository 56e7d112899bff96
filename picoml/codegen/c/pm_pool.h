/* picoml pooling: AVERAGE_POOL_2D and MAX_POOL_2D on int8 / int16 NHWC tensors.
 * C twin of picoml/kernels/pool.py (TFLM reference_integer_ops::AveragePool / MaxPool).
 *
 * For output (b, oy, ox, c) the window is input rows iy = oy*stride_h - pad_h + fy and columns
 * ix = ox*stride_w - pad_w + fx, fy < filter_h, fx < filter_w; taps outside the input (SAME
 * padding) are skipped, not read as zero, and count = number of taps inside (>= 1, checked at
 * build time).
 *
 *   average: out = clamp(round_half_away(sum / count), act_min, act_max)
 *            sum is TFLM's int32 accumulator; round_half_away(s / n) = (s +- n/2) / n in C.
 *   max:     out = clamp(max over taps, act_min, act_max)
 *
 * Accumulator range: |sum| <= count * 2^7 (int8) or count * 2^15 (int16), so no overflow for
 * filter_h * filter_w <= 2^24 (int8) or 2^16 (int16). Beyond that the sum is kept in
 * uint32_t and wraps like TFLM's two's-complement int32 (the NumPy twin does the same).
 * Quantized pooling never requantizes: the output has the input's scale and zero point.
 * No floating point (the float kernels are in pm_pool_f32.h).
 */
#ifndef PICOML_POOL_H
#define PICOML_POOL_H

#include <stdint.h>

/* Window geometry, shared by every pooling kernel (int and float). */
typedef struct {
  int32_t batches, in_h, in_w, channels;
  int32_t out_h, out_w;
  int32_t filter_h, filter_w;
  int32_t stride_h, stride_w;
  int32_t pad_h, pad_w; /* padding before the first row / column */
} pm_pool_window;

typedef struct {
  pm_pool_window window;
  int32_t act_min, act_max; /* fused activation clamp, in the output's quantized units */
} pm_pool_params;

/* Channels processed per pass of the average kernels (a stack array of accumulators). */
#define PM_POOL_CHUNK 64

/* The taps [*first, *last) of output position `out` along one axis that lie inside the input
 * (TFLM's filter_x_start / filter_x_end, turned into input indices). */
static inline void pm_pool_taps(int32_t out, int32_t stride, int32_t pad, int32_t filter, int32_t in_size,
                                int32_t *first, int32_t *last) {
  const int32_t origin = out * stride - pad;
  *first = origin < 0 ? 0 : origin;
  *last = origin + filter < in_size ? origin + filter : in_size;
}

void pm_average_pool_s8(const pm_pool_params *p, const int8_t *input, int8_t *output);
void pm_average_pool_s16(const pm_pool_params *p, const int16_t *input, int16_t *output);
void pm_max_pool_s8(const pm_pool_params *p, const int8_t *input, int8_t *output);
void pm_max_pool_s16(const pm_pool_params *p, const int16_t *input, int16_t *output);

#endif /* PICOML_POOL_H */
