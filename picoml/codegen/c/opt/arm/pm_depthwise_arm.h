/* picoml DEPTHWISE_CONV_2D, int8, for Cortex-M cores with the DSP extension: the same bits as
 * pm_depthwise_conv_s8 (see pm_conv.h for the math).
 *
 *   acc[o] = folded_bias[o] + sum over taps (fy, fx) of x[iy][ix][o / M] * w[o][fy][fx]
 *   y[o]   = clamp(pm_arm_requant(acc[o], channel o), act_min, act_max)
 * with taps outside the input reading the input zero point (the folded bias takes it out).
 * |products| <= 2^14, so the sums are exact for KH*KW <= 131071 taps (the emitter checks).
 *
 * Plane by plane: the rows of `group` input channels (4 when in_c is a multiple of 4, else 1)
 * that a band of `band` output rows reads are widened to int16 planes in the scratch (with
 * zero-point columns and rows for the padding), each input row once: the planes are rings of
 * rows, so rows shared with the next band stay where they are. Each output channel then runs over the band with its weights and output
 * stage in registers: a row of sums (SMLAD on pairs of neighbouring taps; 3x3 kernels two
 * outputs per step), then the requantization of the row. Weights come as [out_c][KH][KW].
 * Small images (where that per-channel work would dominate) run `direct`: NHWC, four channels
 * per pass over the window's taps, weights [KH][KW][C] (the scratch holds a row of zero points).
 */
#ifndef PICOML_DEPTHWISE_ARM_H
#define PICOML_DEPTHWISE_ARM_H

#include <stdint.h>

#include "pm_arm.h"

#define PM_ARM_DIRECT_TAPS 25
#define PM_ARM_RING_ROWS 64 /* band * KH of a planar op is at most this */

typedef struct {
  pm_arm_window w;
  int32_t depth_multiplier;
  int32_t input_zero_point;
  int32_t output_offset;   /* added after pm_arm_requant (pm_arm.h) */
  int32_t act_min, act_max;
  int32_t direct;   /* 1: the NHWC kernel (small images; depth multiplier 1, in_c % 4 == 0,
                       at most PM_ARM_DIRECT_TAPS taps, weights [KH][KW][C]) */
  int32_t group;    /* input channels widened together: 4 or 1 */
  int32_t band;     /* output rows per band */
  int32_t row_len;  /* int16 values per widened row (the padded width + 8, even) */
  const int32_t *channels; /* PM_ARM_CHANNEL_WORDS per output channel (pm_arm.h) */
} pm_depthwise_conv_s8_arm_params;

/* scratch: group planes (rings) of ((band - 1) * stride_h + (KH - 1) * dilation_h + 1) rows of row_len
 * int16 values, then band * out_w + 3 int32 sums (kernels/arm_scratch.py computes the same) */
void pm_depthwise_conv_s8_arm(const pm_depthwise_conv_s8_arm_params *p, const int8_t *input, const int8_t *weights,
                              int8_t *output, void *scratch);

#endif /* PICOML_DEPTHWISE_ARM_H */
