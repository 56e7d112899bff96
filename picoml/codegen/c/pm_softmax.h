/* picoml SOFTMAX over the last axis, integer kernels: the C twin of picoml/kernels/softmax.py
 * (TFLM reference arithmetic, bit-exact). rows x depth values; each row is independent.
 *
 * int8 -> int8 / int16 (gemmlowp fixed point):
 *   d = x - max(row);  values with d < diff_min count as exp = 0 (output the minimum)
 *   a = pm_srdhm(d << input_left_shift, input_multiplier)   (Q5.26, beta * scale folded in)
 *   e = exp_Q0.31(a);  sum = sum over the row of RDBP(e, 12)  (Q12.19, int32)
 *   s, n = GetReciprocal(sum): 1/sum ~= s * 2^-n
 *   y = clamp(RDBP(pm_srdhm(s, e), n + 31 - out_bits) + out_min)
 *     int8 out: scale 1/256 zp -128;  int16 out: scale 1/65536 zp -32768
 *   Accumulator: each term <= 2^19, so sum < 2^31 for depth <= 4095; longer rows wrap int32
 *   exactly as TFLM's sum does. A sum >= 512 (TFLM aborts for int8 output) gives a shift of
 *   32 .. 35, done in 64 bits: the rounded continued result.
 *
 * int16 -> int16 (scale 1/32768 zp 0; TFLM SoftmaxInt16):
 *   a = pm_requant(x - max(row), input_multiplier, input_shift)   (65535 steps span [-10, 0])
 *   e = LUT_exp(clamp(a + 32767))                     (513-entry interpolated int16 table)
 *   sum = sum of e (int32: e <= 32767, so no overflow for depth <= 65536, checked in prepare)
 *   h = CountLeadingZeros(sum);  t = ((sum << (h - 1)) + 2^13) >> 14   (int64)
 *   r = LUT_1/(1+x)(clamp(t - 3 * 2^15))
 *   y = clamp((e * r + 2^(30 - h)) >> (31 - h), 0, 32767)             (int64 product)
 */
#ifndef PICOML_SOFTMAX_H
#define PICOML_SOFTMAX_H

#include <stdint.h>

typedef struct {
  int32_t rows;
  int32_t depth;            /* values per row (the last axis) */
  int32_t input_multiplier; /* Q31 */
  int32_t input_left_shift; /* 1 .. 31 */
  int32_t diff_min;         /* <= 0: smaller differences count as exp = 0 */
} pm_softmax_s8_params;

typedef pm_softmax_s8_params pm_softmax_s8_s16_params; /* same fields */

typedef struct {
  int32_t rows;
  int32_t depth;                           /* values per row, <= 65536 */
  int32_t input_multiplier;                /* Q31 */
  int32_t input_shift;                     /* <= 30 */
  const int16_t *exp_lut;                  /* 513 entries: exp on [-10, 0] */
  const int16_t *one_over_one_plus_x_lut;  /* 513 entries: 1/(1+x) on [0, 1] */
} pm_softmax_s16_params;

void pm_softmax_s8(const pm_softmax_s8_params *params, const int8_t *input, int8_t *output);
void pm_softmax_s8_s16(const pm_softmax_s8_s16_params *params, const int8_t *input, int16_t *output);
void pm_softmax_s16(const pm_softmax_s16_params *params, const int16_t *input, int16_t *output);

#endif /* PICOML_SOFTMAX_H */
