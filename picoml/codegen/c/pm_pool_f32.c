/* picoml pooling, float32 (see pm_pool_f32.h for the math). */
#include "pm_pool_f32.h"

#include <float.h>

#include "requant.h"

/* TFLM's ActivationFunctionWithMinMax: std::min(std::max(v, lo), hi) (a NaN passes through). */
static float clamp_f32(float v, float lo, float hi) {
  const float above = v < lo ? lo : v;
  return hi < above ? hi : above;
}

void pm_average_pool_f32(const pm_pool_f32_params *p, const float *input, float *output) {
  const pm_pool_window *w = &p->window;
  float total[PM_POOL_CHUNK];
  int32_t b, oy, ox, iy, ix, c0, c;
  for (b = 0; b < w->batches; ++b) {
    for (oy = 0; oy < w->out_h; ++oy) {
      int32_t y0, y1;
      pm_pool_taps(oy, w->stride_h, w->pad_h, w->filter_h, w->in_h, &y0, &y1);
      for (ox = 0; ox < w->out_w; ++ox) {
        int32_t x0, x1;
        float count;
        float *out;
        pm_pool_taps(ox, w->stride_w, w->pad_w, w->filter_w, w->in_w, &x0, &x1);
        count = (float)((y1 - y0) * (x1 - x0));
        out = output + ((b * w->out_h + oy) * w->out_w + ox) * w->channels;
        for (c0 = 0; c0 < w->channels; c0 += PM_POOL_CHUNK) {
          const int32_t n = PM_MIN(PM_POOL_CHUNK, w->channels - c0);
          for (c = 0; c < n; ++c) total[c] = 0.0f;
          for (iy = y0; iy < y1; ++iy) {
            for (ix = x0; ix < x1; ++ix) {
              const float *tap = input + ((b * w->in_h + iy) * w->in_w + ix) * w->channels + c0;
              for (c = 0; c < n; ++c) total[c] += tap[c];
            }
          }
          for (c = 0; c < n; ++c) out[c0 + c] = clamp_f32(total[c] / count, p->act_min, p->act_max);
        }
      }
    }
  }
}

void pm_max_pool_f32(const pm_pool_f32_params *p, const float *input, float *output) {
  const pm_pool_window *w = &p->window;
  const int32_t n = w->channels;
  int32_t b, oy, ox, iy, ix, c;
  for (b = 0; b < w->batches; ++b) {
    for (oy = 0; oy < w->out_h; ++oy) {
      int32_t y0, y1;
      pm_pool_taps(oy, w->stride_h, w->pad_h, w->filter_h, w->in_h, &y0, &y1);
      for (ox = 0; ox < w->out_w; ++ox) {
        int32_t x0, x1;
        float *out = output + ((b * w->out_h + oy) * w->out_w + ox) * n;
        pm_pool_taps(ox, w->stride_w, w->pad_w, w->filter_w, w->in_w, &x0, &x1);
        for (c = 0; c < n; ++c) out[c] = -FLT_MAX;
        for (iy = y0; iy < y1; ++iy) {
          for (ix = x0; ix < x1; ++ix) {
            const float *tap = input + ((b * w->in_h + iy) * w->in_w + ix) * n;
            for (c = 0; c < n; ++c) out[c] = out[c] < tap[c] ? tap[c] : out[c];
          }
        }
        for (c = 0; c < n; ++c) out[c] = clamp_f32(out[c], p->act_min, p->act_max);
      }
    }
  }
}
