/* picoml AVERAGE_POOL_2D, int8, for Cortex-M cores with the DSP extension: the same bits as
 * pm_average_pool_s8 (see pm_pool.h for the math: the sum of the taps inside the input,
 * divided by their count with ties away from zero, then the activation clamp).
 *
 * Four channels per step: SXTAB16 adds the bytes of a word into two halfword lanes each, so
 * one window needs one load and two SXTAB16 per tap for four channels. A lane holds at most
 * 256 * 128 in magnitude: the emitter uses this kernel for windows of at most 256 taps. */
#ifndef PICOML_POOL_ARM_H
#define PICOML_POOL_ARM_H

#include <stdint.h>

#include "pm_arm.h"

typedef struct {
  pm_arm_window w; /* kernel = the pooling window; in_c = out_c = channels; no dilation */
  int32_t act_min, act_max;
} pm_average_pool_s8_arm_params;

void pm_average_pool_s8_arm(const pm_average_pool_s8_arm_params *p, const int8_t *input, int8_t *output);

#endif /* PICOML_POOL_ARM_H */
