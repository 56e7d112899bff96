/* picoml ADD int8 kernel for DSP cores (see pm_elementwise_arm.h). */
#include "pm_elementwise_arm.h"

#if PM_ARM_DSP

/* `full` (a constant in each inlined copy): the activation spans all of int8, SSAT #8 clamps. */
PM_ARM_INLINE void add(const pm_add_s8_arm_params *p, const uint8_t *in1, const uint8_t *in2, int8_t *out,
                       int full) {
  const int32_t *a1 = p->input1, *a2 = p->input2, *c = p->output;
  const int32_t multiplier = c[1], round_hi = c[3], shift = c[4], lo = p->act_min, hi = p->act_max;
  const int32_t offset = p->output_offset;
  const uint32_t round_lo = (uint32_t)c[2];
  const uint8_t *end = in1 + p->size; /* locals: `out` may alias an input, never the params */
  while (in1 < end) {
    const int32_t v = __ssat(pm_arm_requant(a1[*in1++] + a2[*in2++], multiplier, round_lo, round_hi, shift) + offset, 8);
    *out++ = (int8_t)(full ? v : pm_arm_clamp(v, lo, hi));
  }
}

void pm_add_s8_arm(const pm_add_s8_arm_params *p, const int8_t *in1, const int8_t *in2, int8_t *out) {
  /* the tables are indexed by the inputs' bytes read as unsigned */
  if (p->act_min == -128 && p->act_max == 127) {
    add(p, (const uint8_t *)in1, (const uint8_t *)in2, out, 1);
  } else {
    add(p, (const uint8_t *)in1, (const uint8_t *)in2, out, 0);
  }
}

#else
typedef int pm_elementwise_arm_unused; /* ISO C forbids an empty translation unit */
#endif /* PM_ARM_DSP */
