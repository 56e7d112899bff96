/* picoml QUANTIZE between integer types (TFLM's Requantize): the C twin of the integer path of
 * picoml/kernels/quantize.py. No floating point (float -> int is in pm_quantize_f32.h).
 *
 *   out = clamp(MBQM(q - input_zero_point, multiplier, shift) + output_zero_point,
 *               output_min, output_max)
 *
 * with multiplier * 2^(shift - 31) ~ scale_in / scale_out and MBQM = pm_requant (double rounding).
 * The subtraction and the addition wrap modulo 2^32 like TFLM's int32 arithmetic (this only
 * happens for int32 inputs or outputs); [output_min, output_max] is the output type's range.
 * No reduction (K = 1). `out` may be the same buffer as `in` when both types have the same
 * size (in-place): element i is read before it is written.
 */
#ifndef PICOML_PM_QUANTIZE_H
#define PICOML_PM_QUANTIZE_H

#include <stdint.h>

typedef struct {
  int32_t input_zero_point;
  int32_t output_zero_point;
  int32_t multiplier;  /* Q31 */
  int32_t shift;       /* may be > 0 */
  int32_t output_min;
  int32_t output_max;
} pm_quantize_params;

/* pm_quantize_<input>_<output>: the pairs TFLM's quantize kernel rescales. */
void pm_quantize_s8_s8(const pm_quantize_params *p, int32_t n, const int8_t *in, int8_t *out);
void pm_quantize_s8_u8(const pm_quantize_params *p, int32_t n, const int8_t *in, uint8_t *out);
void pm_quantize_u8_s8(const pm_quantize_params *p, int32_t n, const uint8_t *in, int8_t *out);
void pm_quantize_s8_s16(const pm_quantize_params *p, int32_t n, const int8_t *in, int16_t *out);
void pm_quantize_s8_s32(const pm_quantize_params *p, int32_t n, const int8_t *in, int32_t *out);
void pm_quantize_s16_s8(const pm_quantize_params *p, int32_t n, const int16_t *in, int8_t *out);
void pm_quantize_s16_s16(const pm_quantize_params *p, int32_t n, const int16_t *in, int16_t *out);
void pm_quantize_s16_s32(const pm_quantize_params *p, int32_t n, const int16_t *in, int32_t *out);
void pm_quantize_s32_s8(const pm_quantize_params *p, int32_t n, const int32_t *in, int8_t *out);
void pm_quantize_s32_s16(const pm_quantize_params *p, int32_t n, const int32_t *in, int16_t *out);

#endif /* PICOML_PM_QUANTIZE_H */
