/* picoml MEAN, float32 (see pm_reduce_f32.h for the math). */
#include "pm_reduce_f32.h"

void pm_mean_f32(const pm_mean_f32_params *p, const float *input, float *output) {
  const pm_reduce_box *b = &p->box;
  const int32_t *n = b->shape, *os = b->out_stride;
  const float count = (float)b->count;
  int32_t i0, i1, i2, i3, i4, o;
  for (o = 0; o < b->out_size; ++o) output[o] = 0.0f;
  for (i0 = 0; i0 < n[0]; ++i0) {
    for (i1 = 0; i1 < n[1]; ++i1) {
      for (i2 = 0; i2 < n[2]; ++i2) {
        for (i3 = 0; i3 < n[3]; ++i3) {
          const float *row = input + (((i0 * n[1] + i1) * n[2] + i2) * n[3] + i3) * n[4];
          float *s = output + i0 * os[0] + i1 * os[1] + i2 * os[2] + i3 * os[3];
          if (os[4]) {
            for (i4 = 0; i4 < n[4]; ++i4) s[i4] += row[i4];
          } else {
            float total = s[0];
            for (i4 = 0; i4 < n[4]; ++i4) total += row[i4];
            s[0] = total;
          }
        }
      }
    }
  }
  for (o = 0; o < b->out_size; ++o) output[o] = output[o] / count;
}
