/* picoml data movement: TRANSPOSE, STRIDED_SLICE, PAD and CONCATENATION for every dtype.
 * C twin of picoml/kernels/shape_ops.py. No arithmetic on values: the kernels move bytes, so
 * one implementation serves int8, int16, int32 and float32 alike (no floating point).
 *
 * The common primitive is pm_move, a strided copy of a box of up to PM_MOVE_RANK dims:
 *
 *   for every index i of the box (row-major):
 *     dst[dst_offset + sum_d i_d * dst_stride[d]] = src[src_offset + sum_d i_d * src_stride[d]]
 *
 * moving block_bytes contiguous bytes per index (strides and offsets in bytes; source strides
 * may be negative for reversed slices). Build time fills the box: size-1 dims dropped, dims that
 * are contiguous in both source and destination merged, a contiguous innermost dim folded into
 * block_bytes, leading 1s padded. All index arithmetic is done at build time; the loops only
 * add strides.
 *
 *   TRANSPOSE:     box = output shape, src strides = input strides permuted, dst contiguous
 *   STRIDED_SLICE: box = per-axis element counts, src = begin offset and stride * step, dst contiguous
 *   PAD:           output filled with one byte (the int8 zero point, else 0), then the input
 *                  moved into the interior (dst offset = padding before, dst strides = output's)
 *   CONCATENATION: for each of `outer` rows, each input's row of row_bytes[i] bytes in turn
 *                  (TFLM's reference loop)
 */
#ifndef PICOML_SHAPE_OPS_H
#define PICOML_SHAPE_OPS_H

#include <stdint.h>

#define PM_MOVE_RANK 6

typedef struct {
  int32_t shape[PM_MOVE_RANK];
  int32_t src_stride[PM_MOVE_RANK]; /* bytes, may be negative */
  int32_t dst_stride[PM_MOVE_RANK]; /* bytes */
  int32_t src_offset, dst_offset;   /* bytes to the first element read / written */
  int32_t block_bytes;              /* contiguous bytes moved per box index */
} pm_move_params;

void pm_move(const pm_move_params *p, const void *src, void *dst);

typedef pm_move_params pm_transpose_params;
void pm_transpose(const pm_transpose_params *p, const void *input, void *output);

typedef pm_move_params pm_strided_slice_params;
void pm_strided_slice(const pm_strided_slice_params *p, const void *input, void *output);

typedef struct {
  pm_move_params interior; /* the input's place in the output */
  int32_t out_bytes;
  int32_t fill_byte; /* every byte of the pad value (0, or the int8 zero point as a byte) */
} pm_pad_params;
void pm_pad(const pm_pad_params *p, const void *input, void *output);

typedef struct {
  int32_t num_inputs;
  int32_t outer;            /* product of the output dims before the axis */
  const int32_t *row_bytes; /* per input: bytes from the axis on (its axis size * inner size) */
} pm_concat_params;
void pm_concat(const pm_concat_params *p, const void *const *inputs, void *output);

#endif /* PICOML_SHAPE_OPS_H */
