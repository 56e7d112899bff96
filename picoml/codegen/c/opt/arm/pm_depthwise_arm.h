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
 *
 * 3x3 kernels with depth multiplier 1, whole groups of four channels and stride_w 1 or 2 run
 * `pairs`: the input rows a band of output rows reads are copied, still int8, into the scratch
 * (rows the next band reads too are moved down, not copied again), laid out as channel pairs (for each pair c, c + 1: the bytes x[ix][c], x[ix][c + 1] for every padded
 * column ix, zero points outside the input), so one word load gives two neighbouring columns
 * of two channels, which SXTB16 splits into the (column, column + 1) int16 pairs of each
 * channel: SMLAD against packed weight pairs, two output columns of two channels per step.
 * Weights come as an int32 stream per channel pair: the two biases, then per kernel row f
 * (w[f][0] | w[f][1] << 16) of channel c, (w[f][2] of c | w[f][2] of c + 1 << 16) and the same
 * pair of c + 1 (stride 1), or the pair of c, the w[f][2] word, the pair of c + 1, the w[f][2]
 * word again (stride 2). The sums of a whole output row go to int32 (per channel pair, per
 * output column pair: c at x, x + 1, c + 1 at x, x + 1), then through the output stage, channel
 * by channel with its constants in registers. Where the activation spans all of int8 and the
 * output zero point is folded (GCC, optimised builds), one assembly routine per band does both
 * phases pair by pair (pm_dw_pair_rows_s1/_s2: the sums of one pair over the band's rows, then
 * its two channels' output stage over them), so the sums of only one pair are stored. A band
 * has several output rows only where out_w is even (their sums are then one run of column
 * pairs, and their outputs one run of pixels).
 */
#ifndef PICOML_DEPTHWISE_ARM_H
#define PICOML_DEPTHWISE_ARM_H

#include <stdint.h>

#include "pm_arm.h"

#define PM_ARM_DIRECT_TAPS 25
#define PM_ARM_RING_ROWS 64 /* band * KH of a planar op is at most this */
#define PM_ARM_DW_PLANES 0
#define PM_ARM_DW_DIRECT 1
#define PM_ARM_DW_PAIRS 2
#define PM_ARM_DW_PAIR_WORDS_S1 11 /* int32 words of a channel pair's weight stream, stride_w 1 */
#define PM_ARM_DW_PAIR_WORDS_S2 14 /* stride_w 2 */

typedef struct {
  pm_arm_window w;
  int32_t depth_multiplier;
  int32_t input_zero_point;
  int32_t output_offset;   /* added after pm_arm_requant (pm_arm.h) */
  int32_t act_min, act_max;
  int32_t kernel;   /* PM_ARM_DW_PLANES, PM_ARM_DW_DIRECT: the NHWC kernel (small images; depth
                       multiplier 1, in_c % 4 == 0, at most PM_ARM_DIRECT_TAPS taps, weights
                       [KH][KW][C]), PM_ARM_DW_PAIRS (3x3, depth multiplier 1, in_c % 4 == 0,
                       stride_w 1 or 2, dilation_w 1; the int32 weight stream above) */
  int32_t group;    /* input channels widened together: 4 or 1 (planes) */
  int32_t band;     /* output rows per band (planes; pairs: 1 where out_w is odd) */
  int32_t row_len;  /* planes: int16 values per widened row (the padded width + 8, even);
                       pairs: columns per channel-pair row (even) */
  const int32_t *channels; /* PM_ARM_CHANNEL_WORDS per output channel (pm_arm.h) */
} pm_depthwise_conv_s8_arm_params;

/* scratch: planes: group planes (rings) of ((band - 1) * stride_h + (KH - 1) * dilation_h + 1) rows of
 * row_len int16 values, then band * out_w + 3 int32 sums; pairs: (band - 1) * stride_h + 2 * dilation_h + 1
 * rows of in_c * row_len bytes, then max(in_c * (out_w + 1), 8 * band * ((out_w + 1) / 2)) int32 sums;
 * direct: in_c bytes (kernels/arm_scratch.py computes the same) */
void pm_depthwise_conv_s8_arm(const pm_depthwise_conv_s8_arm_params *p, const int8_t *input, const int8_t *weights,
                              int8_t *output, void *scratch);

#endif /* PICOML_DEPTHWISE_ARM_H */
