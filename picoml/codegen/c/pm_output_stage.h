/* picoml output stage of the linear ops (CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV,
 * FULLY_CONNECTED): the C twin of picoml/kernels/output_stage.py (requantize).
 *
 * int32 accumulator (int8 ops; int16 ops with an int32 bias), per output channel c:
 *   out = clamp(wrap32(requant(wrap32(acc + bias[c]), multiplier[c], shift[c]) + zero_point))
 * computed with pm_requant_pre from the constants quant.requant_constants precomputed (the
 * same bits as pm_requant, without branches, so the channel loop vectorises where the target
 * has int64 lanes). The sums wrap like TFLM's two's-complement int32 accumulator.
 *
 * int64 accumulator (int16 activations with an int64 bias or none; zero points are 0):
 *   out = clamp(wrap32(pm_requant64(acc + bias[c], multiplier[c], shift[c])))
 *
 * Static inline only: each kernel file gets its own copy, so the loops specialise.
 */
#ifndef PICOML_OUTPUT_STAGE_H
#define PICOML_OUTPUT_STAGE_H

#include <stdint.h>

#include "requant.h"

/* Per-channel requantization of an int32 accumulator (arrays indexed by output channel). */
typedef struct {
  const int32_t *multiplier;  /* Q31, >= 0 */
  const int32_t *left_shift;  /* the four arrays below: quant.requant_constants */
  const int32_t *neg_below;
  const int64_t *round;
  const int32_t *total_shift;
  int32_t output_zero_point;
  int32_t act_min, act_max;   /* fused activation, in output units */
} pm_requant_stage;

/* Per-channel requantization of an int64 accumulator (int16 activations). The bias is read as
 * int64 whatever its stored type; with int64_accumulator == 0 (TFLM's int16 op with an int32
 * bias) the sum is wrapped to int32 and requantized with pm_requant instead. */
typedef struct {
  int32_t int64_accumulator;
  const int64_t *bias;        /* per channel; zeros when the op has none */
  const int32_t *multiplier;  /* Q31 */
  const int32_t *shift;
  int32_t act_min, act_max;
} pm_requant64_stage;

/* out[i] = stage(acc[i] + bias[i]) for channels first .. first + n - 1 (bias and out start
 * at channel `first`, acc at 0). The values pass through acc (overwritten) so the arithmetic
 * loop has only 32- and 64-bit lanes and vectorises even for a few channels; the narrowing
 * to int8 is a loop of its own. */
static inline void pm_output_stage_s8(const pm_requant_stage *s, int32_t first, int32_t n, int32_t *restrict acc,
                                      const int32_t *restrict bias, int8_t *restrict out) {
  const int32_t *restrict mult = s->multiplier + first;
  const int32_t *restrict left = s->left_shift + first;
  const int32_t *restrict below = s->neg_below + first;
  const int64_t *restrict round = s->round + first;
  const int32_t *restrict total = s->total_shift + first;
  const int32_t zp = s->output_zero_point, lo = s->act_min, hi = s->act_max;
  int32_t i;
  for (i = 0; i < n; ++i) {
    const int32_t x = pm_wrap_s32((uint32_t)acc[i] + (uint32_t)bias[i]);
    const int32_t v = pm_requant_pre(x, mult[i], left[i], below[i], round[i], total[i]);
    const int32_t y = pm_wrap_s32((uint32_t)v + (uint32_t)zp);
    acc[i] = PM_CLAMP(y, lo, hi);
  }
  for (i = 0; i < n; ++i) out[i] = (int8_t)acc[i];
}

/* One int16 output value of channel c from an exact int64 accumulator (no bias yet). */
static inline int16_t pm_stage64_value(const pm_requant64_stage *s, int32_t c, int64_t acc) {
  const int64_t x = acc + s->bias[c];
  const int32_t v = s->int64_accumulator ? pm_requant64(x, s->multiplier[c], s->shift[c])
                                         : pm_requant(pm_wrap_s32((uint32_t)(uint64_t)x), s->multiplier[c],
                                                      s->shift[c]);
  return (int16_t)PM_CLAMP(v, s->act_min, s->act_max);
}

#endif /* PICOML_OUTPUT_STAGE_H */
