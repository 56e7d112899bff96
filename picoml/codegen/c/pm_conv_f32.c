/* picoml float32 and hybrid conv kernels (see pm_conv_f32.h). Every product is a statement of
 * its own before it is added, so no compiler fuses it into an FMA (C99 lets a compiler contract
 * `a * b + c` within one expression) and sums keep TFLM's rounding. */
#include "pm_conv_f32.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* y = clamp(sum + bias), NaN passing through like TFLM's std::max / std::min. */
static float finish(float sum, const float *bias, int32_t o, float lo, float hi) {
  float v = bias != NULL ? sum + bias[o] : sum;
  v = v < lo ? lo : v;
  return v > hi ? hi : v;
}

void pm_conv_f32(const pm_conv_f32_params *p, const float *input, const float *weights, float *output) {
  const pm_conv_geometry *g = &p->g;
  const int32_t group_in = g->in_c / p->groups;
  const int32_t group_out = g->out_c / p->groups;
  int32_t b, oy, ox, o, fy, fx, i;
  for (b = 0; b < g->batches; ++b) {
    for (oy = 0; oy < g->out_h; ++oy) {
      for (ox = 0; ox < g->out_w; ++ox) {
        const int32_t y0 = oy * g->stride_h - g->pad_h;
        const int32_t x0 = ox * g->stride_w - g->pad_w;
        float *out = output + ((b * g->out_h + oy) * g->out_w + ox) * g->out_c;
        for (o = 0; o < g->out_c; ++o) {
          const int32_t first = (o / group_out) * group_in;
          float sum = 0.0f;
          for (fy = 0; fy < g->kernel_h; ++fy) {
            const int32_t iy = y0 + fy * g->dilation_h;
            if (iy < 0 || iy >= g->in_h) continue;
            for (fx = 0; fx < g->kernel_w; ++fx) {
              const int32_t ix = x0 + fx * g->dilation_w;
              const float *x, *w;
              if (ix < 0 || ix >= g->in_w) continue;
              x = input + ((b * g->in_h + iy) * g->in_w + ix) * g->in_c + first;
              w = weights + ((o * g->kernel_h + fy) * g->kernel_w + fx) * group_in;
              for (i = 0; i < group_in; ++i) {
                const float product = x[i] * w[i];
                sum += product;
              }
            }
          }
          out[o] = finish(sum, p->bias, o, p->act_min, p->act_max);
        }
      }
    }
  }
}

/* TFLite SymmetricQuantizeFloats on n values: returns the scale top / 127 (1 when all are 0). */
static float quantize_symmetric(const float *x, int32_t n, int8_t *q) {
  float lo = x[0], hi = x[0], top;
  int32_t i;
  for (i = 1; i < n; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  top = fabsf(lo) > fabsf(hi) ? fabsf(lo) : fabsf(hi);
  if (top == 0.0f) {
    memset(q, 0, (size_t)n);
    return 1.0f;
  } else {
    const float inverse = 127.0f / top;
    for (i = 0; i < n; ++i) {
      const float r = roundf(x[i] * inverse); /* ties away from zero, like std::round */
      q[i] = (int8_t)(r < -127.0f ? -127.0f : (r > 127.0f ? 127.0f : r));
    }
    return top / 127.0f;
  }
}

void pm_conv_hybrid_f32(const pm_conv_hybrid_f32_params *p, const float *input, const int8_t *weights,
                        float *output, void *scratch) {
  const pm_conv_geometry *g = &p->g;
  const int32_t image = g->in_h * g->in_w * g->in_c;
  int8_t *q = (int8_t *)scratch;
  int32_t b, oy, ox, o, fy, fx, i;
  for (b = 0; b < g->batches; ++b) {
    const float scale = quantize_symmetric(input + b * image, image, q) * p->weight_scale;
    for (oy = 0; oy < g->out_h; ++oy) {
      for (ox = 0; ox < g->out_w; ++ox) {
        const int32_t y0 = oy * g->stride_h - g->pad_h;
        const int32_t x0 = ox * g->stride_w - g->pad_w;
        float *out = output + ((b * g->out_h + oy) * g->out_w + ox) * g->out_c;
        for (o = 0; o < g->out_c; ++o) {
          int32_t acc = 0;
          float total;
          for (fy = 0; fy < g->kernel_h; ++fy) {
            const int32_t iy = y0 + fy * g->dilation_h;
            if (iy < 0 || iy >= g->in_h) continue;
            for (fx = 0; fx < g->kernel_w; ++fx) {
              const int32_t ix = x0 + fx * g->dilation_w;
              const int8_t *x, *w;
              if (ix < 0 || ix >= g->in_w) continue;
              x = q + (iy * g->in_w + ix) * g->in_c;
              w = weights + ((o * g->kernel_h + fy) * g->kernel_w + fx) * g->in_c;
              for (i = 0; i < g->in_c; ++i) acc += (int32_t)x[i] * w[i];
            }
          }
          total = (float)acc * scale;
          out[o] = finish(total, p->bias, o, p->act_min, p->act_max);
        }
      }
    }
  }
}

void pm_depthwise_conv_f32(const pm_depthwise_conv_f32_params *p, const float *input, const float *weights,
                           float *output) {
  const pm_conv_geometry *g = &p->g;
  const int32_t m = p->depth_multiplier;
  int32_t b, oy, ox, o, fy, fx;
  for (b = 0; b < g->batches; ++b) {
    for (oy = 0; oy < g->out_h; ++oy) {
      for (ox = 0; ox < g->out_w; ++ox) {
        const int32_t y0 = oy * g->stride_h - g->pad_h;
        const int32_t x0 = ox * g->stride_w - g->pad_w;
        float *out = output + ((b * g->out_h + oy) * g->out_w + ox) * g->out_c;
        for (o = 0; o < g->out_c; ++o) {
          float sum = 0.0f;
          for (fy = 0; fy < g->kernel_h; ++fy) {
            const int32_t iy = y0 + fy * g->dilation_h;
            if (iy < 0 || iy >= g->in_h) continue;
            for (fx = 0; fx < g->kernel_w; ++fx) {
              const int32_t ix = x0 + fx * g->dilation_w;
              float product;
              if (ix < 0 || ix >= g->in_w) continue;
              product = input[((b * g->in_h + iy) * g->in_w + ix) * g->in_c + o / m] *
                        weights[(fy * g->kernel_w + fx) * g->out_c + o];
              sum += product;
            }
          }
          out[o] = finish(sum, p->bias, o, p->act_min, p->act_max);
        }
      }
    }
  }
}

void pm_transpose_conv_f32(const pm_transpose_conv_f32_params *p, const float *input, const float *weights,
                           float *output) {
  const pm_conv_geometry *g = &p->g;
  const int32_t plane = g->out_h * g->out_w;
  const int32_t kernel_size = g->kernel_h * g->kernel_w * g->in_c;
  int32_t b, iy, ix, i, fy, fx, o, pixel;
  for (b = 0; b < g->batches; ++b) {
    float *out = output + b * plane * g->out_c;
    for (i = 0; i < plane * g->out_c; ++i) out[i] = 0.0f;
    for (iy = 0; iy < g->in_h; ++iy) {
      for (ix = 0; ix < g->in_w; ++ix) {
        for (i = 0; i < g->in_c; ++i) {
          const float x = input[((b * g->in_h + iy) * g->in_w + ix) * g->in_c + i];
          for (fy = 0; fy < g->kernel_h; ++fy) {
            const int32_t oy = iy * g->stride_h - g->pad_h + fy;
            if (oy < 0 || oy >= g->out_h) continue;
            for (fx = 0; fx < g->kernel_w; ++fx) {
              const int32_t ox = ix * g->stride_w - g->pad_w + fx;
              float *dst;
              if (ox < 0 || ox >= g->out_w) continue;
              dst = out + (oy * g->out_w + ox) * g->out_c;
              for (o = 0; o < g->out_c; ++o) {
                const float product = x * weights[o * kernel_size + (fy * g->kernel_w + fx) * g->in_c + i];
                dst[o] += product;
              }
            }
          }
        }
      }
    }
    for (pixel = 0; pixel < plane; ++pixel) {
      for (o = 0; o < g->out_c; ++o) {
        out[pixel * g->out_c + o] = finish(out[pixel * g->out_c + o], p->bias, o, p->act_min, p->act_max);
      }
    }
  }
}
