/* picoml integer ADD, SUB and MUL with broadcasting (pm_broadcast.h): the C twin of
 * picoml/kernels/elementwise.py, bit-exact with TFLM's reference kernels. No floating point.
 *
 * int8 / int16 ADD and SUB (TFLM's general rescaling path, also for int16):
 *   a_k = MBQM((q_k + input_k_offset) << left_shift, input_k_multiplier, input_k_shift)
 *   out = clamp(MBQM(a_1 +/- a_2, output_multiplier, output_shift) + output_offset, act_min, act_max)
 * MBQM = pm_requant (all shifts <= 0). left_shift is 20 (int8) or 15 (int16), so
 * |(q + offset) << left_shift| <= 255 * 2^20 or 65535 * 2^15 < 2^31; each a_k is at most half
 * of that (its multiplier is scale_k / (2 max scale) <= 1/2), so a_1 +/- a_2 fits int32.
 *
 * int8 / int16 MUL:
 *   out = clamp(MBQM((q_1 + input1_offset) * (q_2 + input2_offset), output_multiplier, output_shift)
 *               + output_offset, act_min, act_max)
 * The product is at most 255^2 (int8) or 2^30 (int16, zero points 0) in magnitude: int32.
 *
 * In every quantized kernel the output offset is added in int64 (the requantized value may lie
 * near the int32 limits), then clamped. There is no reduction (K = 1).
 *
 * int32 (unquantized): out = clamp(q_1 op q_2, act_min, act_max) with op wrapping modulo 2^32
 * like two's-complement C; TFLM applies no activation to int32 ADD (act_min/max are the int32
 * limits then).
 *
 * The output may be the same buffer as an input of the output's shape (in-place): every
 * element is read before it is written.
 */
#ifndef PICOML_PM_ELEMENTWISE_H
#define PICOML_PM_ELEMENTWISE_H

#include <stdint.h>

#include "pm_broadcast.h"

/* Quantized ADD and SUB (int8 and int16). */
typedef struct {
  int32_t input1_offset;      /* -zero_point of input 1 */
  int32_t input2_offset;
  int32_t output_offset;      /* +zero_point of the output */
  int32_t left_shift;
  int32_t input1_multiplier;  /* Q31, shift <= 0 */
  int32_t input1_shift;
  int32_t input2_multiplier;
  int32_t input2_shift;
  int32_t output_multiplier;
  int32_t output_shift;
  int32_t act_min;
  int32_t act_max;
} pm_add_params;

/* Quantized MUL (int8 and int16). */
typedef struct {
  int32_t input1_offset;
  int32_t input2_offset;
  int32_t output_offset;
  int32_t output_multiplier;  /* Q31; shift may be > 0 (left shift first, wrapping like TFLM) */
  int32_t output_shift;
  int32_t act_min;
  int32_t act_max;
} pm_mul_params;

/* Unquantized int32 ADD, SUB and MUL. */
typedef struct {
  int32_t act_min;
  int32_t act_max;
} pm_binary_s32_params;

void pm_add_s8(const pm_add_params *p, const pm_broadcast *b, const int8_t *in1, const int8_t *in2, int8_t *out);
void pm_sub_s8(const pm_add_params *p, const pm_broadcast *b, const int8_t *in1, const int8_t *in2, int8_t *out);
void pm_add_s16(const pm_add_params *p, const pm_broadcast *b, const int16_t *in1, const int16_t *in2,
                int16_t *out);
void pm_sub_s16(const pm_add_params *p, const pm_broadcast *b, const int16_t *in1, const int16_t *in2,
                int16_t *out);
void pm_mul_s8(const pm_mul_params *p, const pm_broadcast *b, const int8_t *in1, const int8_t *in2, int8_t *out);
void pm_mul_s16(const pm_mul_params *p, const pm_broadcast *b, const int16_t *in1, const int16_t *in2,
                int16_t *out);
void pm_add_s32(const pm_binary_s32_params *p, const pm_broadcast *b, const int32_t *in1, const int32_t *in2,
                int32_t *out);
void pm_sub_s32(const pm_binary_s32_params *p, const pm_broadcast *b, const int32_t *in1, const int32_t *in2,
                int32_t *out);
void pm_mul_s32(const pm_binary_s32_params *p, const pm_broadcast *b, const int32_t *in1, const int32_t *in2,
                int32_t *out);

#endif /* PICOML_PM_ELEMENTWISE_H */
