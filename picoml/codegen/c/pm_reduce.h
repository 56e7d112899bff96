/* picoml reductions: MEAN over constant axes, int8 / int16. C twin of picoml/kernels/reduce.py
 * (TFLM reduce_common.cc, QuantizedMeanOrSum).
 *
 * The input is described as a row-major box of PM_REDUCE_RANK dims (build time merges adjacent
 * dims that are all kept or all reduced, drops size-1 dims and pads with leading 1s). Every
 * input element x[i] is added to sum[o(i)], o(i) = sum_d i_d * out_stride[d], out_stride = 0 on
 * reduced dims: walking the input in row-major order adds each output's K = count terms in
 * TFLM's order. Then
 *
 *   out[o] = clamp(MBQM(int32(sum[o] - zp_in * K), multiplier, shift) + zp_out, type range)
 *
 * where MBQM is pm_requant and (multiplier, shift) already hold 1/K (folded at build time).
 * Accumulator range: |sum - zp_in * K| < K * 2^8 (int8) or K * 2^16 (int16), so no overflow
 * for K <= 2^23 (int8) or 2^15 (int16); beyond that the uint32_t sums wrap exactly like TFLM's
 * two's-complement int32 (and the NumPy twin). The sums live in a caller-provided scratch of
 * out_size uint32_t (the planner reserves it). No floating point (see pm_reduce_f32.h).
 */
#ifndef PICOML_REDUCE_H
#define PICOML_REDUCE_H

#include <stdint.h>

#define PM_REDUCE_RANK 5

/* Where each input element's sum lives. */
typedef struct {
  int32_t shape[PM_REDUCE_RANK];      /* input box, row-major */
  int32_t out_stride[PM_REDUCE_RANK]; /* sum index step per input dim: 0 on reduced dims; the
                                         innermost is 1 (kept) or 0 (reduced) */
  int32_t out_size;                   /* number of outputs */
  int32_t count;                      /* K, the elements reduced into each output */
} pm_reduce_box;

typedef struct {
  pm_reduce_box box;
  int32_t zp_in, zp_out;
  int32_t multiplier, shift; /* scale_in / (scale_out * K) */
} pm_mean_params;

void pm_mean_s8(const pm_mean_params *p, const int8_t *input, int8_t *output, uint32_t *scratch);
void pm_mean_s16(const pm_mean_params *p, const int16_t *input, int16_t *output, uint32_t *scratch);

#endif /* PICOML_REDUCE_H */
