/* picoml integer ADD, SUB and MUL: see pm_elementwise.h for the math and the ranges. */
#include "pm_elementwise.h"

#include "requant.h"

/* Quantized ADD (sign +1) or SUB (sign -1) of one pair of values. */
static inline int32_t add_sub_value(const pm_add_params *p, int32_t sign, int32_t x1, int32_t x2) {
  const int32_t shifted1 = (x1 + p->input1_offset) * ((int32_t)1 << p->left_shift);
  const int32_t shifted2 = (x2 + p->input2_offset) * ((int32_t)1 << p->left_shift);
  const int32_t scaled1 = pm_requant(shifted1, p->input1_multiplier, p->input1_shift);
  const int32_t scaled2 = pm_requant(shifted2, p->input2_multiplier, p->input2_shift);
  const int32_t raw = sign > 0 ? scaled1 + scaled2 : scaled1 - scaled2;
  const int64_t result = (int64_t)pm_requant(raw, p->output_multiplier, p->output_shift) + p->output_offset;
  return (int32_t)PM_CLAMP(result, (int64_t)p->act_min, (int64_t)p->act_max);
}

static inline int32_t add_value(const pm_add_params *p, int32_t x1, int32_t x2) {
  return add_sub_value(p, 1, x1, x2);
}

static inline int32_t sub_value(const pm_add_params *p, int32_t x1, int32_t x2) {
  return add_sub_value(p, -1, x1, x2);
}

/* Quantized MUL of one pair of values. */
static inline int32_t mul_value(const pm_mul_params *p, int32_t x1, int32_t x2) {
  const int32_t product = (x1 + p->input1_offset) * (x2 + p->input2_offset);
  const int64_t result = (int64_t)pm_requant(product, p->output_multiplier, p->output_shift) + p->output_offset;
  return (int32_t)PM_CLAMP(result, (int64_t)p->act_min, (int64_t)p->act_max);
}

/* int32: two's-complement wrap (through uint32_t, so no signed overflow), then the clamp. */
static inline int32_t add_s32_value(const pm_binary_s32_params *p, int32_t x1, int32_t x2) {
  const int32_t sum = (int32_t)((uint32_t)x1 + (uint32_t)x2);
  return PM_CLAMP(sum, p->act_min, p->act_max);
}

static inline int32_t sub_s32_value(const pm_binary_s32_params *p, int32_t x1, int32_t x2) {
  const int32_t difference = (int32_t)((uint32_t)x1 - (uint32_t)x2);
  return PM_CLAMP(difference, p->act_min, p->act_max);
}

static inline int32_t mul_s32_value(const pm_binary_s32_params *p, int32_t x1, int32_t x2) {
  const int32_t product = (int32_t)((uint32_t)x1 * (uint32_t)x2);
  return PM_CLAMP(product, p->act_min, p->act_max);
}

void pm_add_s8(const pm_add_params *p, const pm_broadcast *b, const int8_t *in1, const int8_t *in2, int8_t *out) {
  PM_BROADCAST_APPLY(b, in1, in2, out, (int8_t)add_value, p);
}

void pm_sub_s8(const pm_add_params *p, const pm_broadcast *b, const int8_t *in1, const int8_t *in2, int8_t *out) {
  PM_BROADCAST_APPLY(b, in1, in2, out, (int8_t)sub_value, p);
}

void pm_add_s16(const pm_add_params *p, const pm_broadcast *b, const int16_t *in1, const int16_t *in2,
                int16_t *out) {
  PM_BROADCAST_APPLY(b, in1, in2, out, (int16_t)add_value, p);
}

void pm_sub_s16(const pm_add_params *p, const pm_broadcast *b, const int16_t *in1, const int16_t *in2,
                int16_t *out) {
  PM_BROADCAST_APPLY(b, in1, in2, out, (int16_t)sub_value, p);
}

void pm_mul_s8(const pm_mul_params *p, const pm_broadcast *b, const int8_t *in1, const int8_t *in2, int8_t *out) {
  PM_BROADCAST_APPLY(b, in1, in2, out, (int8_t)mul_value, p);
}

void pm_mul_s16(const pm_mul_params *p, const pm_broadcast *b, const int16_t *in1, const int16_t *in2,
                int16_t *out) {
  PM_BROADCAST_APPLY(b, in1, in2, out, (int16_t)mul_value, p);
}

void pm_add_s32(const pm_binary_s32_params *p, const pm_broadcast *b, const int32_t *in1, const int32_t *in2,
                int32_t *out) {
  PM_BROADCAST_APPLY(b, in1, in2, out, add_s32_value, p);
}

void pm_sub_s32(const pm_binary_s32_params *p, const pm_broadcast *b, const int32_t *in1, const int32_t *in2,
                int32_t *out) {
  PM_BROADCAST_APPLY(b, in1, in2, out, sub_s32_value, p);
}

void pm_mul_s32(const pm_binary_s32_params *p, const pm_broadcast *b, const int32_t *in1, const int32_t *in2,
                int32_t *out) {
  PM_BROADCAST_APPLY(b, in1, in2, out, mul_s32_value, p);
}
