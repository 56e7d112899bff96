/* picoml data movement (see pm_shape_ops.h). */
#include "pm_shape_ops.h"

#include <stddef.h>
#include <string.h>

/* The innermost box dim: n blocks, strided on both sides. Fixed-size memcpy compiles to one
 * load and one store for the element sizes of real tensors. */
static void move_row(uint8_t *dst, const uint8_t *src, int32_t n, ptrdiff_t dst_stride, ptrdiff_t src_stride,
                     int32_t block) {
  int32_t i;
  switch (block) {
    case 1:
      for (i = 0; i < n; ++i) dst[i * dst_stride] = src[i * src_stride];
      break;
    case 2:
      for (i = 0; i < n; ++i) memcpy(dst + i * dst_stride, src + i * src_stride, 2);
      break;
    case 4:
      for (i = 0; i < n; ++i) memcpy(dst + i * dst_stride, src + i * src_stride, 4);
      break;
    default:
      for (i = 0; i < n; ++i) memcpy(dst + i * dst_stride, src + i * src_stride, (size_t)block);
      break;
  }
}

void pm_move(const pm_move_params *p, const void *src, void *dst) {
  const int32_t *n = p->shape, *ss = p->src_stride, *ds = p->dst_stride;
  const uint8_t *s0 = (const uint8_t *)src + p->src_offset;
  uint8_t *d0 = (uint8_t *)dst + p->dst_offset;
  int32_t i0, i1, i2, i3, i4;
  for (i0 = 0; i0 < n[0]; ++i0) {
    for (i1 = 0; i1 < n[1]; ++i1) {
      for (i2 = 0; i2 < n[2]; ++i2) {
        for (i3 = 0; i3 < n[3]; ++i3) {
          for (i4 = 0; i4 < n[4]; ++i4) {
            const ptrdiff_t s = (ptrdiff_t)i0 * ss[0] + (ptrdiff_t)i1 * ss[1] + (ptrdiff_t)i2 * ss[2] +
                                (ptrdiff_t)i3 * ss[3] + (ptrdiff_t)i4 * ss[4];
            const ptrdiff_t d = (ptrdiff_t)i0 * ds[0] + (ptrdiff_t)i1 * ds[1] + (ptrdiff_t)i2 * ds[2] +
                                (ptrdiff_t)i3 * ds[3] + (ptrdiff_t)i4 * ds[4];
            move_row(d0 + d, s0 + s, n[5], ds[5], ss[5], p->block_bytes);
          }
        }
      }
    }
  }
}

void pm_transpose(const pm_transpose_params *p, const void *input, void *output) {
  pm_move(p, input, output);
}

void pm_strided_slice(const pm_strided_slice_params *p, const void *input, void *output) {
  pm_move(p, input, output);
}

void pm_pad(const pm_pad_params *p, const void *input, void *output) {
  memset(output, p->fill_byte, (size_t)p->out_bytes);
  pm_move(&p->interior, input, output);
}

void pm_concat(const pm_concat_params *p, const void *const *inputs, void *output) {
  uint8_t *out = (uint8_t *)output;
  int32_t o, i;
  for (o = 0; o < p->outer; ++o) {
    for (i = 0; i < p->num_inputs; ++i) {
      const int32_t row = p->row_bytes[i];
      memcpy(out, (const uint8_t *)inputs[i] + (ptrdiff_t)o * row, (size_t)row);
      out += row;
    }
  }
}
