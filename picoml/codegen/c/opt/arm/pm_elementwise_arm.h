/* picoml ADD, int8, for Cortex-M cores with the DSP extension: the same bits as pm_add_s8 (see
 * pm_elementwise.h for the math) on inputs of the output's shape (no broadcasting).
 *
 *   out = clamp(pm_arm_requant(a_1[x_1] + a_2[x_2], output stage), act_min, act_max)
 * where a_k[x] = MBQM((x + input_k_offset) << left_shift, input_k_multiplier, input_k_shift)
 * for the 256 int8 values x: tables of int32 the emitter computes with the NumPy twin, so each
 * element costs two table loads and one output requantization. The sum fits int32 (see
 * pm_elementwise.h). The output may be an input's buffer (each element is read first). */
#ifndef PICOML_ELEMENTWISE_ARM_H
#define PICOML_ELEMENTWISE_ARM_H

#include <stdint.h>

#include "pm_arm.h"

typedef struct {
  int32_t size;              /* elements */
  const int32_t *input1;     /* a_1 at index (uint8_t)x */
  const int32_t *input2;
  const int32_t *output;     /* one channel record (pm_arm.h); its bias is unused */
  int32_t output_offset;
  int32_t act_min, act_max;
} pm_add_s8_arm_params;

void pm_add_s8_arm(const pm_add_s8_arm_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);

#endif /* PICOML_ELEMENTWISE_ARM_H */
