/* In-place int8 depthwise convolution: see pm_depthwise_inplace.h for the math. */
#include "pm_depthwise_inplace.h"

#include <string.h>

#include "requant.h"

/* plane <- channel c of one image, the zero point around it */
static void load_plane(const pm_depthwise_inplace_s8_params *p, const int8_t *image, int32_t c, int8_t *plane) {
  const int32_t in_h = p->in_h, in_w = p->in_w, channels = p->channels, plane_w = p->plane_w;
  int32_t iy, ix;
  memset(plane, p->input_zero_point, (size_t)p->plane_h * (size_t)plane_w);
  for (iy = 0; iy < in_h; ++iy) {
    const int8_t *src = image + iy * in_w * channels + c;
    int8_t *dst = plane + (iy + p->pad_h) * plane_w + p->pad_w;
    for (ix = 0; ix < in_w; ++ix) dst[ix] = src[ix * channels];
  }
}

/* one output row of channel c through the output stage, written at stride `channels` */
static void store_row(const pm_depthwise_inplace_s8_params *p, int32_t c, const int32_t *sums, int8_t *out) {
  const pm_requant_stage *s = &p->stage;
  const int32_t mult = s->multiplier[c], left = s->left_shift[c], below = s->neg_below[c];
  const int32_t total = s->total_shift[c], bias = p->folded_bias[c];
  const int64_t round = s->round[c];
  const int32_t zp = s->output_zero_point, lo = s->act_min, hi = s->act_max;
  const int32_t channels = p->channels, out_w = p->out_w;
  int32_t ox;
  for (ox = 0; ox < out_w; ++ox) {
    const int32_t x = pm_wrap_s32((uint32_t)sums[ox] + (uint32_t)bias);
    const int32_t v = pm_requant_pre(x, mult, left, below, round, total);
    const int32_t y = pm_wrap_s32((uint32_t)v + (uint32_t)zp);
    out[ox * channels] = (int8_t)PM_CLAMP(y, lo, hi);
  }
}

void pm_depthwise_inplace_s8(const pm_depthwise_inplace_s8_params *p, int8_t *data, const int8_t *weights,
                             void *scratch) {
  const int32_t channels = p->channels, out_h = p->out_h, out_w = p->out_w, plane_w = p->plane_w;
  const int32_t kernel_h = p->kernel_h, kernel_w = p->kernel_w, stride_w = p->stride_w;
  int32_t *sums = (int32_t *)scratch;
  int8_t *plane = (int8_t *)(sums + out_w);
  int32_t b, c, oy, ox, fy, fx;
  for (b = 0; b < p->batches; ++b) {
    int8_t *image = data + b * p->in_h * p->in_w * channels;
    for (c = 0; c < channels; ++c) {
      load_plane(p, image, c, plane);
      for (oy = 0; oy < out_h; ++oy) {
        for (ox = 0; ox < out_w; ++ox) sums[ox] = 0;
        for (fy = 0; fy < kernel_h; ++fy) {
          const int8_t *row = plane + (oy * p->stride_h + fy * p->dilation_h) * plane_w;
          for (fx = 0; fx < kernel_w; ++fx) {
            const int32_t w = weights[(fy * kernel_w + fx) * channels + c];
            const int8_t *tap = row + fx * p->dilation_w;
            if (stride_w == 1) {
              for (ox = 0; ox < out_w; ++ox) sums[ox] += tap[ox] * w;
            } else {
              for (ox = 0; ox < out_w; ++ox) sums[ox] += tap[ox * stride_w] * w;
            }
          }
        }
        store_row(p, c, sums, image + oy * out_w * channels + c);
      }
    }
  }
}
