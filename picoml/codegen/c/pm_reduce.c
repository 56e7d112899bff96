/* picoml MEAN, int8 / int16 (see pm_reduce.h for the math). */
#include "pm_reduce.h"

#include "requant.h"

enum { REDUCE_S8 = 8, REDUCE_S16 = 16 };

/* One innermost input row into the sums: a kept dim adds element-wise (vectorises), a
 * reduced dim adds the whole row into one sum. */
static void add_row_s8(uint32_t *sum, const int8_t *row, int32_t n, int32_t kept) {
  int32_t i;
  if (kept) {
    for (i = 0; i < n; ++i) sum[i] += (uint32_t)row[i];
  } else {
    uint32_t s = sum[0];
    for (i = 0; i < n; ++i) s += (uint32_t)row[i];
    sum[0] = s;
  }
}

static void add_row_s16(uint32_t *sum, const int16_t *row, int32_t n, int32_t kept) {
  int32_t i;
  if (kept) {
    for (i = 0; i < n; ++i) sum[i] += (uint32_t)row[i];
  } else {
    uint32_t s = sum[0];
    for (i = 0; i < n; ++i) s += (uint32_t)row[i];
    sum[0] = s;
  }
}

static void mean(const pm_mean_params *p, const void *input, void *output, uint32_t *sum, int bits) {
  const pm_reduce_box *b = &p->box;
  const int32_t *n = b->shape, *os = b->out_stride;
  const uint32_t offset = (uint32_t)p->zp_in * (uint32_t)b->count; /* zp_in * K, wrapping */
  const int32_t lo = bits == REDUCE_S8 ? INT8_MIN : INT16_MIN;
  const int32_t hi = bits == REDUCE_S8 ? INT8_MAX : INT16_MAX;
  int32_t i0, i1, i2, i3, o;
  for (o = 0; o < b->out_size; ++o) sum[o] = 0;
  for (i0 = 0; i0 < n[0]; ++i0) {
    for (i1 = 0; i1 < n[1]; ++i1) {
      for (i2 = 0; i2 < n[2]; ++i2) {
        for (i3 = 0; i3 < n[3]; ++i3) {
          const int32_t row = (((i0 * n[1] + i1) * n[2] + i2) * n[3] + i3) * n[4];
          uint32_t *s = sum + i0 * os[0] + i1 * os[1] + i2 * os[2] + i3 * os[3];
          if (bits == REDUCE_S8) {
            add_row_s8(s, (const int8_t *)input + row, n[4], os[4]);
          } else {
            add_row_s16(s, (const int16_t *)input + row, n[4], os[4]);
          }
        }
      }
    }
  }
  for (o = 0; o < b->out_size; ++o) {
    const int32_t shifted = pm_wrap_s32(sum[o] - offset);
    const int64_t y = (int64_t)pm_requant(shifted, p->multiplier, p->shift) + p->zp_out;
    const int32_t v = (int32_t)PM_CLAMP(y, (int64_t)lo, (int64_t)hi);
    if (bits == REDUCE_S8) {
      ((int8_t *)output)[o] = (int8_t)v;
    } else {
      ((int16_t *)output)[o] = (int16_t)v;
    }
  }
}

void pm_mean_s8(const pm_mean_params *p, const int8_t *input, int8_t *output, uint32_t *scratch) {
  mean(p, input, output, scratch, REDUCE_S8);
}

void pm_mean_s16(const pm_mean_params *p, const int16_t *input, int16_t *output, uint32_t *scratch) {
  mean(p, input, output, scratch, REDUCE_S16);
}
