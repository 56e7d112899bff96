/* picoml CONV_2D and FULLY_CONNECTED, int8, for Cortex-M cores with the DSP extension
 * (SMLAD): the same bits as pm_conv_s8 / pm_fully_connected_s8 (see pm_conv.h for the math).
 *
 *   acc[o] = folded_bias[o] + sum_k x[k] * w[o][k]      (mod 2^32, like TFLM's int32 sum)
 *   y[o]   = clamp(pm_arm_requant(acc[o], channel o), act_min, act_max)
 * k runs over the window taps (fy, fx) and input channels i in weight order; a tap outside the
 * input reads the input zero point (the folded bias takes it out again). Each product is at
 * most 2^14 in magnitude and SMLAD adds two of them exactly, so the sums are exact for
 * K <= 131071 (the emitter checks) before the bias wraps them like TFLM.
 *
 * Weights, prepared by the emitter (codegen/ops/arm.py): rows of K bytes padded with zeros to
 * a multiple of 4 (groups4 groups of 4):
 *   CONV_2D:          [out_c / 2 unit pairs][groups4][even taps, odd taps]: per group the bytes
 *                     (u0 k0, u1 k0, u0 k2, u1 k2) then (u0 k1, u1 k1, u0 k3, u1 k3)
 *   FULLY_CONNECTED:  [units / 4 quads][groups4][4 units][4 bytes]
 * (an odd out_c ends with a zero unit, a FULLY_CONNECTED's last quad with zero rows, and
 * `channels` with zero records, whose results are never stored).
 *
 * CONV_2D runs two units by four output pixels at a time: the pixels' patches are widened to
 * int16 lanes (pm_arm_even / pm_arm_odd order) in one interleaved buffer [groups4][4 pixels]
 * [2 words], and a unit pair's weights meet the four pixels in one pass (per group two weight
 * loads and four SXTB16 for 32 MACs; 14 registers of assembly), then each unit's output stage
 * (pm_arm_store4: constants loaded once for its four outputs). The last one to three pixels run
 * as an overlapping quad (an image of fewer than four pixels repeats its last one). A 1x1
 * stride-1 conv on whole groups widens the input pixels in place; other windows copy taps (the
 * input zero point outside the input), through an int8 patch when in_c is not a multiple of 4.
 * The buffer is on the stack when groups4 <= PM_ARM_STACK_GROUPS, else in the op's scratch
 * (PM_ARM_CONV_SCRATCH bytes, reported by kernels/conv.py).
 * FULLY_CONNECTED computes four units per pass over one input row, widening it on the fly.
 */
#ifndef PICOML_CONV_ARM_H
#define PICOML_CONV_ARM_H

#include <stdint.h>

#include "pm_arm.h"

#define PM_ARM_STACK_GROUPS 8
/* scratch of pm_conv_s8_arm when groups4 > PM_ARM_STACK_GROUPS: the widened pixel quad, then
 * one int8 patch (kernels/arm_scratch.py computes the same) */
#define PM_ARM_CONV_SCRATCH(groups4) (32 * (groups4) + 4 * (groups4))

typedef struct {
  pm_arm_window w;
  int32_t depth;            /* K = kernel_h * kernel_w * in_c */
  int32_t groups4;          /* (K + 3) / 4 */
  int32_t input_zero_point; /* fills the taps outside the input */
  int32_t output_offset;    /* added after pm_arm_requant (pm_arm.h) */
  int32_t act_min, act_max;
  const int32_t *channels;  /* PM_ARM_CHANNEL_WORDS per output channel (pm_arm.h), an even number of records */
} pm_conv_s8_arm_params;

typedef struct {
  int32_t rows, depth, units;
  int32_t groups4;          /* (depth + 3) / 4 */
  int32_t output_offset;
  int32_t act_min, act_max;
  const int32_t *channels;  /* PM_ARM_CHANNEL_WORDS per unit, a multiple of 4 records */
} pm_fully_connected_s8_arm_params;

void pm_conv_s8_arm(const pm_conv_s8_arm_params *p, const int8_t *input, const int8_t *weights, int8_t *output,
                    void *scratch);
void pm_fully_connected_s8_arm(const pm_fully_connected_s8_arm_params *p, const int8_t *input,
                               const int8_t *weights, int8_t *output);

#endif /* PICOML_CONV_ARM_H */
