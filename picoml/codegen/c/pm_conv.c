/* picoml CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV: int8 and int16x8 kernels (see pm_conv.h
 * for the math). Inner loops run over contiguous channels or reduction elements so the compiler
 * can vectorise them; bounds checks are hoisted out of them. */
#include "pm_conv.h"

#include <stddef.h>
#include <string.h>

#include "requant.h"

/* -- the int8 GEMM core ------------------------------------------------------------------- */

/* sum[n] += sum_k x[k] * weights[k * stride + n] for n < units: depth-major weights (rows
 * `stride` apart), the loop over units innermost, so it vectorises across output channels.
 * Inlined with a constant `units` for common counts, where the compiler then picks a vector
 * width that fits them and needs no scalar tail. */
static inline void accumulate_depth_major(const int8_t *restrict x, const int8_t *restrict weights, int32_t depth,
                                          int32_t units, int32_t stride, int32_t *restrict sum) {
  int32_t k = 0, n;
  /* four reduction steps per pass over the sums: |4 products| <= 2^16, exact in int32 */
  for (; k + 4 <= depth; k += 4) {
    const int8_t *restrict w0 = weights + k * stride;
    const int8_t *restrict w1 = w0 + stride;
    const int8_t *restrict w2 = w1 + stride;
    const int8_t *restrict w3 = w2 + stride;
    const int32_t x0 = x[k], x1 = x[k + 1], x2 = x[k + 2], x3 = x[k + 3];
    for (n = 0; n < units; ++n) sum[n] += x0 * w0[n] + x1 * w1[n] + x2 * w2[n] + x3 * w3[n];
  }
  for (; k < depth; ++k) {
    const int8_t *restrict w0 = weights + k * stride;
    const int32_t x0 = x[k];
    for (n = 0; n < units; ++n) sum[n] += x0 * w0[n];
  }
}

/* The depth-major GEMM row: the same sums from zero. */
static inline void gemm_row_depth_major(const int8_t *restrict x, const int8_t *restrict weights, int32_t depth,
                                        int32_t units, int32_t stride, int32_t *restrict sum) {
  int32_t n;
  for (n = 0; n < units; ++n) sum[n] = 0;
  accumulate_depth_major(x, weights, depth, units, stride, sum);
}

/* Four unit-major weight rows (weights [units][K]) against x: dot products that vectorise
 * along K, four sharing each load of x. */
static void dot_4(const int8_t *restrict x, const int8_t *restrict w, int32_t depth, int32_t *restrict sum) {
  const int8_t *restrict w0 = w;
  const int8_t *restrict w1 = w0 + depth;
  const int8_t *restrict w2 = w1 + depth;
  const int8_t *restrict w3 = w2 + depth;
  int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, k;
  for (k = 0; k < depth; ++k) {
    const int32_t v = x[k];
    s0 += v * w0[k];
    s1 += v * w1[k];
    s2 += v * w2[k];
    s3 += v * w3[k];
  }
  sum[0] = s0, sum[1] = s1, sum[2] = s2, sum[3] = s3;
}

static int32_t dot_1(const int8_t *restrict x, const int8_t *restrict w, int32_t depth) {
  int32_t s = 0, k;
  for (k = 0; k < depth; ++k) s += x[k] * w[k];
  return s;
}

/* acc[n] = sum_k a[k] * W[first + n][k] for n < count (W has `units` rows; layouts as in
 * pm_gemm_pixels_s8). */
static void gemm_row_s8(const int8_t *a, const int8_t *weights, int32_t depth, int32_t units, int32_t first,
                        int32_t count, int32_t depth_major, int32_t *acc) {
  int32_t n = 0;
  if (depth_major) {
    const int8_t *w = weights + first;
    switch (count) {
      case 8: gemm_row_depth_major(a, w, depth, 8, units, acc); return;
      case 16: gemm_row_depth_major(a, w, depth, 16, units, acc); return;
      case 32: gemm_row_depth_major(a, w, depth, 32, units, acc); return;
      case PM_GEMM_CHUNK: gemm_row_depth_major(a, w, depth, PM_GEMM_CHUNK, units, acc); return;
      default: gemm_row_depth_major(a, w, depth, count, units, acc); return;
    }
  }
  for (; n + 4 <= count; n += 4) dot_4(a, weights + (first + n) * depth, depth, acc + n);
  for (; n < count; ++n) acc[n] = dot_1(a, weights + (first + n) * depth, depth);
}

void pm_gemm_pixels_s8(const int8_t *const *a, int32_t pixels, const int8_t *weights, int32_t depth, int32_t units,
                       int32_t depth_major, const pm_requant_stage *stage, int32_t first_channel,
                       const int32_t *folded_bias, int8_t *out) {
  int32_t acc[PM_GEMM_CHUNK];
  int32_t j, c0;
  if (pixels > 1) {
    for (j = 0; j < pixels; ++j) gemm_row_s8(a[j], weights, depth, units, 0, units, depth_major, acc + j * units);
    pm_output_stage_s8(stage, first_channel, pixels * units, acc, folded_bias, out);
    return;
  }
  for (c0 = 0; c0 < units; c0 += PM_GEMM_CHUNK) {
    const int32_t n = PM_MIN(PM_GEMM_CHUNK, units - c0);
    gemm_row_s8(a[0], weights, depth, units, c0, n, depth_major, acc);
    pm_output_stage_s8(stage, first_channel + c0, n, acc, folded_bias + c0, out + c0);
  }
}

/* -- CONV_2D int8 --------------------------------------------------------------------------- */

/* The input values output pixel `pixel` (flat over batch, rows, columns) meets, for the
 * channels [first, first + count) of one group, in weight order [fy][fx][i]. A 1x1 kernel
 * (never padded) reads them in place; larger kernels copy them into `patch`, with the input
 * zero point where a tap falls outside the input. A kernel row wholly inside the input with
 * all channels and no dilation is one contiguous copy. */
static const int8_t *conv_patch(const pm_conv_geometry *g, const int8_t *input, int32_t pixel, int32_t first,
                                int32_t count, int8_t zero_point, int8_t *patch) {
  const int32_t ox = pixel % g->out_w;
  const int32_t oy = (pixel / g->out_w) % g->out_h;
  const int32_t b = pixel / (g->out_w * g->out_h);
  const int32_t y0 = oy * g->stride_h - g->pad_h;
  const int32_t x0 = ox * g->stride_w - g->pad_w;
  const int32_t row_bytes = g->kernel_w * count;
  const int whole_rows = g->dilation_w == 1 && count == g->in_c && x0 >= 0 && x0 + g->kernel_w <= g->in_w;
  int32_t fy, fx;
  if (g->kernel_h == 1 && g->kernel_w == 1) {
    return input + ((b * g->in_h + y0) * g->in_w + x0) * g->in_c + first;
  }
  for (fy = 0; fy < g->kernel_h; ++fy) {
    const int32_t iy = y0 + fy * g->dilation_h;
    const int8_t *row = iy >= 0 && iy < g->in_h ? input + (b * g->in_h + iy) * g->in_w * g->in_c + first : NULL;
    int8_t *dst = patch + fy * row_bytes;
    if (row == NULL) {
      memset(dst, zero_point, (size_t)row_bytes);
    } else if (whole_rows) {
      memcpy(dst, row + x0 * g->in_c, (size_t)row_bytes);
    } else {
      for (fx = 0; fx < g->kernel_w; ++fx) {
        const int32_t ix = x0 + fx * g->dilation_w;
        if (ix >= 0 && ix < g->in_w) {
          memcpy(dst + fx * count, row + ix * g->in_c, (size_t)count);
        } else {
          memset(dst + fx * count, zero_point, (size_t)count);
        }
      }
    }
  }
  return patch;
}

void pm_conv_s8(const pm_conv_s8_params *p, const int8_t *input, const int8_t *weights, int8_t *output,
                void *scratch) {
  const pm_conv_geometry *g = &p->g;
  const int32_t group_in = g->in_c / p->groups;
  const int32_t group_out = g->out_c / p->groups;
  const int32_t depth = g->kernel_h * g->kernel_w * group_in;
  const int32_t pixels = g->batches * g->out_h * g->out_w;
  const int8_t zero_point = (int8_t)p->input_zero_point;
  int8_t *patch = (int8_t *)scratch; /* stage_pixels im2col patches, for kernels larger than 1x1 */
  const int8_t *rows[PM_STAGE_PIXELS_MAX];
  int32_t pixel, group, j;
  for (pixel = 0; pixel < pixels; pixel += p->stage_pixels) {
    const int32_t count = PM_MIN(p->stage_pixels, pixels - pixel);
    for (group = 0; group < p->groups; ++group) {
      const int32_t first_out = group * group_out;
      for (j = 0; j < count; ++j) {
        rows[j] = conv_patch(g, input, pixel + j, group * group_in, group_in, zero_point, patch + j * depth);
      }
      pm_gemm_pixels_s8(rows, count, weights + first_out * depth, depth, group_out, p->depth_major, &p->stage,
                        first_out, p->folded_bias + first_out, output + pixel * g->out_c + first_out);
    }
  }
}

/* -- CONV_2D and DEPTHWISE_CONV_2D int8 without scratch ---------------------------------------- */

/* acc[j] += sum_{i < depth} x_i * w[i * out_c + j] for j < n: `depth` input values that every
 * channel of the chunk reads (one group), x_i = x[i], or the zero point when x is NULL (taps
 * outside the input). The loop over channels is innermost and vectorises. */
static inline void lean_shared_s8(const int8_t *x, int32_t zero_point, const int8_t *restrict w, int32_t depth,
                                  int32_t out_c, int32_t n, int32_t *restrict acc) {
  int32_t i, j;
  if (x == NULL) {
    for (i = 0; i < depth; ++i) {
      const int8_t *restrict wi = w + i * out_c;
      for (j = 0; j < n; ++j) acc[j] += zero_point * wi[j];
    }
    return;
  }
  accumulate_depth_major(x, w, depth, n, out_c, acc);
}

/* The same for channels of different groups (depthwise, grouped conv): channel o0 + j reads
 * input channels [g * group_in, (g + 1) * group_in) of `pixel`, g = (o0 + j) / group_out. */
static inline void lean_grouped_s8(const pm_conv_lean_s8_params *p, const int8_t *pixel, const int8_t *restrict w,
                            int32_t o0, int32_t n, int32_t *restrict acc) {
  const int32_t group_in = p->g.in_c / p->groups, group_out = p->g.out_c / p->groups, out_c = p->g.out_c;
  int32_t i, j;
  if (pixel == NULL) {
    lean_shared_s8(NULL, p->input_zero_point, w, group_in, out_c, n, acc);
  } else if (group_in == 1 && group_out == 1) { /* depthwise, multiplier 1 */
    const int8_t *restrict x = pixel + o0;
    for (j = 0; j < n; ++j) acc[j] += x[j] * w[j];
  } else {
    for (i = 0; i < group_in; ++i) {
      for (j = 0; j < n; ++j) acc[j] += pixel[((o0 + j) / group_out) * group_in + i] * w[i * out_c + j];
    }
  }
}

/* One output pixel's sums for channels o0 .. o0 + n - 1, tap by tap. Inlined with a constant n
 * for common chunk sizes, where the sums stay in vector registers. */
static inline void lean_pixel_s8(const pm_conv_lean_s8_params *p, const int8_t *image, int32_t y0, int32_t x0,
                                 int32_t o0, int32_t n, int32_t *restrict acc) {
  const pm_conv_geometry *g = &p->g;
  const int32_t group_in = g->in_c / p->groups, tap_size = group_in * g->out_c;
  /* one group and no column dilation: a kernel row wholly inside the input is one run of
   * KW * in_c input values meeting consecutive weight rows */
  const int whole_rows = p->groups == 1 && g->dilation_w == 1 && x0 >= 0 && x0 + g->kernel_w <= g->in_w;
  int32_t fy, fx, j;
  for (j = 0; j < n; ++j) acc[j] = 0;
  for (fy = 0; fy < g->kernel_h; ++fy) {
    const int32_t iy = y0 + fy * g->dilation_h;
    const int row_inside = iy >= 0 && iy < g->in_h;
    const int8_t *w = p->weights + fy * g->kernel_w * tap_size + o0;
    if (whole_rows && row_inside) {
      lean_shared_s8(image + (iy * g->in_w + x0) * g->in_c, 0, w, g->kernel_w * g->in_c, g->out_c, n, acc);
      continue;
    }
    for (fx = 0; fx < g->kernel_w; ++fx, w += tap_size) {
      const int32_t ix = x0 + fx * g->dilation_w;
      const int8_t *pixel = row_inside && ix >= 0 && ix < g->in_w ? image + (iy * g->in_w + ix) * g->in_c : NULL;
      if (p->groups == 1) {
        lean_shared_s8(pixel, p->input_zero_point, w, group_in, g->out_c, n, acc);
      } else {
        lean_grouped_s8(p, pixel, w, o0, n, acc);
      }
    }
  }
}

void pm_conv_lean_s8(const pm_conv_lean_s8_params *p, const int8_t *input, int8_t *output) {
  const pm_conv_geometry *g = &p->g;
  int32_t acc[PM_GEMM_CHUNK];
  int32_t b, oy, ox, o0;
  for (b = 0; b < g->batches; ++b) {
    const int8_t *image = input + b * g->in_h * g->in_w * g->in_c;
    for (oy = 0; oy < g->out_h; ++oy) {
      const int32_t y0 = oy * g->stride_h - g->pad_h;
      for (ox = 0; ox < g->out_w; ++ox) {
        const int32_t x0 = ox * g->stride_w - g->pad_w;
        int8_t *out = output + ((b * g->out_h + oy) * g->out_w + ox) * g->out_c;
        for (o0 = 0; o0 < g->out_c; o0 += PM_GEMM_CHUNK) {
          const int32_t n = PM_MIN(PM_GEMM_CHUNK, g->out_c - o0);
          switch (n) {
            case 8: lean_pixel_s8(p, image, y0, x0, o0, 8, acc); break;
            case 16: lean_pixel_s8(p, image, y0, x0, o0, 16, acc); break;
            case 32: lean_pixel_s8(p, image, y0, x0, o0, 32, acc); break;
            case PM_GEMM_CHUNK: lean_pixel_s8(p, image, y0, x0, o0, PM_GEMM_CHUNK, acc); break;
            default: lean_pixel_s8(p, image, y0, x0, o0, n, acc); break;
          }
          pm_output_stage_s8(&p->stage, o0, n, acc, p->folded_bias + o0, out + o0);
        }
      }
    }
  }
}

/* -- CONV_2D int16x8 ------------------------------------------------------------------------ */

void pm_conv_s16(const pm_conv_s16_params *p, const int16_t *input, const int8_t *weights, int16_t *output) {
  const pm_conv_geometry *g = &p->g;
  const int32_t group_in = g->in_c / p->groups;
  const int32_t group_out = g->out_c / p->groups;
  int32_t b, oy, ox, o, fy, fx, i;
  for (b = 0; b < g->batches; ++b) {
    for (oy = 0; oy < g->out_h; ++oy) {
      for (ox = 0; ox < g->out_w; ++ox) {
        const int32_t y0 = oy * g->stride_h - g->pad_h;
        const int32_t x0 = ox * g->stride_w - g->pad_w;
        int16_t *out = output + ((b * g->out_h + oy) * g->out_w + ox) * g->out_c;
        for (o = 0; o < g->out_c; ++o) {
          const int32_t first = (o / group_out) * group_in;
          int64_t acc = 0;
          for (fy = 0; fy < g->kernel_h; ++fy) {
            const int32_t iy = y0 + fy * g->dilation_h;
            if (iy < 0 || iy >= g->in_h) continue;
            for (fx = 0; fx < g->kernel_w; ++fx) {
              const int32_t ix = x0 + fx * g->dilation_w;
              const int16_t *x;
              const int8_t *w;
              if (ix < 0 || ix >= g->in_w) continue;
              x = input + ((b * g->in_h + iy) * g->in_w + ix) * g->in_c + first;
              w = weights + ((o * g->kernel_h + fy) * g->kernel_w + fx) * group_in;
              for (i = 0; i < group_in; ++i) acc += (int32_t)x[i] * w[i];
            }
          }
          out[o] = pm_stage64_value(&p->stage, o, acc);
        }
      }
    }
  }
}

/* -- DEPTHWISE_CONV_2D ---------------------------------------------------------------------- */

/* acc[o] = sum over the 9 taps of x_t[o] * w_t[o], o < n: a 3x3 window of a depthwise conv
 * with multiplier 1 (x_t point at the tap's input channels, or at a row of zero points for
 * taps outside the input). Inlined with a constant n by depthwise_3x3_s8. */
static inline void window_3x3_s8(int32_t *restrict acc, const int8_t *const *x, const int8_t *restrict w,
                                 int32_t n) {
  const int8_t *restrict x0 = x[0], *restrict x1 = x[1], *restrict x2 = x[2];
  const int8_t *restrict x3 = x[3], *restrict x4 = x[4], *restrict x5 = x[5];
  const int8_t *restrict x6 = x[6], *restrict x7 = x[7], *restrict x8 = x[8];
  const int8_t *restrict w0 = w, *restrict w1 = w + n, *restrict w2 = w + 2 * n;
  const int8_t *restrict w3 = w + 3 * n, *restrict w4 = w + 4 * n, *restrict w5 = w + 5 * n;
  const int8_t *restrict w6 = w + 6 * n, *restrict w7 = w + 7 * n, *restrict w8 = w + 8 * n;
  int32_t o;
  for (o = 0; o < n; ++o) {
    acc[o] = x0[o] * w0[o] + x1[o] * w1[o] + x2[o] * w2[o] + x3[o] * w3[o] + x4[o] * w4[o] + x5[o] * w5[o] +
             x6[o] * w6[o] + x7[o] * w7[o] + x8[o] * w8[o];
  }
}

/* The same for one input channel feeding n = depth_multiplier outputs: x_t[0] * w_t[o], with
 * the taps' weights `stride` apart. */
static inline void window_3x3_single_s8(int32_t *restrict acc, const int8_t *const *x, const int8_t *restrict w,
                                        int32_t n, int32_t stride) {
  const int32_t a0 = x[0][0], a1 = x[1][0], a2 = x[2][0], a3 = x[3][0], a4 = x[4][0], a5 = x[5][0], a6 = x[6][0],
                a7 = x[7][0], a8 = x[8][0];
  const int8_t *restrict w0 = w, *restrict w1 = w + stride, *restrict w2 = w + 2 * stride;
  const int8_t *restrict w3 = w + 3 * stride, *restrict w4 = w + 4 * stride, *restrict w5 = w + 5 * stride;
  const int8_t *restrict w6 = w + 6 * stride, *restrict w7 = w + 7 * stride, *restrict w8 = w + 8 * stride;
  int32_t o;
  for (o = 0; o < n; ++o) {
    acc[o] = a0 * w0[o] + a1 * w1[o] + a2 * w2[o] + a3 * w3[o] + a4 * w4[o] + a5 * w5[o] + a6 * w6[o] +
             a7 * w7[o] + a8 * w8[o];
  }
}

/* acc = the 3x3 window's sums for every output channel. Common channel counts run with a
 * constant trip count (the compiler then vectorises without a scalar tail); any multiplier
 * other than 1 with several input channels goes channel by channel. */
static void depthwise_3x3_s8(int32_t *restrict acc, const int8_t *const *x, const int8_t *restrict w,
                             int32_t in_c, int32_t m) {
  const int32_t n = in_c * m;
  int32_t c, t;
  if (m == 1) {
    switch (n) {
      case 8: window_3x3_s8(acc, x, w, 8); return;
      case 16: window_3x3_s8(acc, x, w, 16); return;
      case 32: window_3x3_s8(acc, x, w, 32); return;
      default: window_3x3_s8(acc, x, w, n); return;
    }
  }
  if (in_c == 1) {
    switch (n) {
      case 8: window_3x3_single_s8(acc, x, w, 8, 8); return;
      default: window_3x3_single_s8(acc, x, w, n, n); return;
    }
  }
  for (c = 0; c < in_c; ++c) {
    const int8_t *taps[9];
    for (t = 0; t < 9; ++t) taps[t] = x[t] + c;
    window_3x3_single_s8(acc + c * m, taps, w + c * m, m, n);
  }
}

/* Taps gathered per call of depthwise_taps_s8 (kernels other than 3x3). */
#define PM_DEPTHWISE_TAPS 16

/* acc[c*m + j] += x_t[c] * w_t[c*m + j] for taps t < count (weights of tap t at w + t*in_c*m). */
static inline void taps_s8(int32_t *restrict acc, const int8_t *const *x, int32_t count, const int8_t *restrict w,
                           int32_t in_c, int32_t m) {
  const int32_t n = in_c * m;
  int32_t t, c, j;
  for (t = 0; t < count; ++t) {
    const int8_t *restrict xt = x[t];
    const int8_t *restrict wt = w + t * n;
    if (m == 1) {
      for (c = 0; c < n; ++c) acc[c] += xt[c] * wt[c];
    } else {
      for (c = 0; c < in_c; ++c) {
        const int32_t v = xt[c];
        for (j = c * m; j < (c + 1) * m; ++j) acc[j] += v * wt[j];
      }
    }
  }
}

/* taps_s8 with constant channel counts for the common shapes (see depthwise_3x3_s8). */
static void depthwise_taps_s8(int32_t *restrict acc, const int8_t *const *x, int32_t count, const int8_t *restrict w,
                              int32_t in_c, int32_t m) {
  if (m == 1) {
    switch (in_c) {
      case 8: taps_s8(acc, x, count, w, 8, 1); return;
      case 16: taps_s8(acc, x, count, w, 16, 1); return;
      case 32: taps_s8(acc, x, count, w, 32, 1); return;
      default: taps_s8(acc, x, count, w, in_c, 1); return;
    }
  }
  if (in_c == 1 && m == 8) {
    taps_s8(acc, x, count, w, 1, 8);
    return;
  }
  taps_s8(acc, x, count, w, in_c, m);
}

void pm_depthwise_conv_s8(const pm_depthwise_conv_s8_params *p, const int8_t *input, const int8_t *weights,
                          int8_t *output, void *scratch) {
  /* geometry in locals: the compiler cannot keep struct fields in registers across stores */
  const int32_t in_h = p->g.in_h, in_w = p->g.in_w, in_c = p->g.in_c;
  const int32_t out_h = p->g.out_h, out_w = p->g.out_w, out_c = p->g.out_c;
  const int32_t kernel_h = p->g.kernel_h, kernel_w = p->g.kernel_w;
  const int32_t stride_h = p->g.stride_h, stride_w = p->g.stride_w;
  const int32_t dilation_h = p->g.dilation_h, dilation_w = p->g.dilation_w;
  const int32_t row = dilation_h * in_w * in_c; /* input elements between tap rows */
  const int32_t col = dilation_w * in_c;        /* ... and between tap columns */
  const int32_t m = p->depth_multiplier;
  const int is_3x3 = kernel_h == 3 && kernel_w == 3;
  const int32_t stage_pixels = p->stage_pixels;
  int32_t *sums = (int32_t *)scratch; /* stage_pixels pixels' sums */
  int8_t *zero_row = (int8_t *)(sums + stage_pixels * out_c);
  const int8_t *taps[PM_DEPTHWISE_TAPS];
  int32_t b, oy, ox, fy, fx, c, pending = 0;
  memset(zero_row, p->input_zero_point, (size_t)in_c);
  for (b = 0; b < p->g.batches; ++b) {
    const int8_t *image = input + b * in_h * in_w * in_c;
    for (oy = 0; oy < out_h; ++oy) {
      const int32_t y0 = oy * stride_h - p->g.pad_h;
      const int row_inside = oy >= p->interior_y0 && oy < p->interior_y1;
      for (ox = 0; ox < out_w; ++ox) {
        const int32_t x0 = ox * stride_w - p->g.pad_w;
        const int inside = row_inside && ox >= p->interior_x0 && ox < p->interior_x1;
        int32_t *acc = sums + pending * out_c;
        if (inside && is_3x3) { /* the common case: no bounds checks */
          const int8_t *window = image + (y0 * in_w + x0) * in_c;
          taps[0] = window, taps[1] = window + col, taps[2] = window + 2 * col;
          taps[3] = window + row, taps[4] = taps[3] + col, taps[5] = taps[3] + 2 * col;
          taps[6] = window + 2 * row, taps[7] = taps[6] + col, taps[8] = taps[6] + 2 * col;
          depthwise_3x3_s8(acc, taps, weights, in_c, m);
        } else if (is_3x3) {
          for (fy = 0; fy < 3; ++fy) {
            const int32_t iy = y0 + fy * dilation_h;
            for (fx = 0; fx < 3; ++fx) {
              const int32_t ix = x0 + fx * dilation_w;
              /* a tap outside the input reads zero points: (zp - zp) * w adds nothing */
              taps[fy * 3 + fx] = iy >= 0 && iy < in_h && ix >= 0 && ix < in_w ? image + (iy * in_w + ix) * in_c
                                                                                : zero_row;
            }
          }
          depthwise_3x3_s8(acc, taps, weights, in_c, m);
        } else {
          int32_t count = 0, done = 0; /* taps gathered, taps accumulated */
          for (c = 0; c < out_c; ++c) acc[c] = 0;
          for (fy = 0; fy < kernel_h; ++fy) {
            const int32_t iy = y0 + fy * dilation_h;
            for (fx = 0; fx < kernel_w; ++fx) {
              const int32_t ix = x0 + fx * dilation_w;
              /* a tap outside the input reads zero points: (zp - zp) * w adds nothing */
              taps[count++] = inside || (iy >= 0 && iy < in_h && ix >= 0 && ix < in_w)
                                  ? image + (iy * in_w + ix) * in_c
                                  : zero_row;
              if (count == PM_DEPTHWISE_TAPS) {
                depthwise_taps_s8(acc, taps, count, weights + done * out_c, in_c, m);
                done += count, count = 0;
              }
            }
          }
          if (count > 0) depthwise_taps_s8(acc, taps, count, weights + done * out_c, in_c, m);
        }
        /* requantize stage_pixels pixels at a time (they are contiguous in the output) */
        if (++pending == stage_pixels || (b == p->g.batches - 1 && oy == out_h - 1 && ox == out_w - 1)) {
          int8_t *out = output + ((b * out_h + oy) * out_w + ox + 1 - pending) * out_c;
          pm_output_stage_s8(&p->stage, 0, pending * out_c, sums, p->folded_bias, out);
          pending = 0;
        }
      }
    }
  }
}

void pm_depthwise_conv_s16(const pm_depthwise_conv_s16_params *p, const int16_t *input, const int8_t *weights,
                           int16_t *output) {
  const pm_conv_geometry *g = &p->g;
  const int32_t m = p->depth_multiplier;
  int32_t b, oy, ox, o, fy, fx;
  for (b = 0; b < g->batches; ++b) {
    for (oy = 0; oy < g->out_h; ++oy) {
      for (ox = 0; ox < g->out_w; ++ox) {
        const int32_t y0 = oy * g->stride_h - g->pad_h;
        const int32_t x0 = ox * g->stride_w - g->pad_w;
        int16_t *out = output + ((b * g->out_h + oy) * g->out_w + ox) * g->out_c;
        for (o = 0; o < g->out_c; ++o) {
          int64_t acc = 0;
          for (fy = 0; fy < g->kernel_h; ++fy) {
            const int32_t iy = y0 + fy * g->dilation_h;
            if (iy < 0 || iy >= g->in_h) continue;
            for (fx = 0; fx < g->kernel_w; ++fx) {
              const int32_t ix = x0 + fx * g->dilation_w;
              if (ix < 0 || ix >= g->in_w) continue;
              acc += (int32_t)input[((b * g->in_h + iy) * g->in_w + ix) * g->in_c + o / m] *
                     weights[(fy * g->kernel_w + fx) * g->out_c + o];
            }
          }
          out[o] = pm_stage64_value(&p->stage, o, acc);
        }
      }
    }
  }
}

/* -- TRANSPOSE_CONV ------------------------------------------------------------------------- */

/* Output row and column ranges [*first, *last) of taps that input position `in` reaches. */
static void scatter_taps(int32_t in, int32_t stride, int32_t pad, int32_t kernel, int32_t out_size,
                         int32_t *first, int32_t *last) {
  const int32_t origin = in * stride - pad;
  *first = origin < 0 ? -origin : 0;
  *last = origin + kernel > out_size ? out_size - origin : kernel;
}

void pm_transpose_conv_s8(const pm_transpose_conv_s8_params *p, const int8_t *input, const int8_t *weights,
                          int8_t *output, void *scratch) {
  const pm_conv_geometry *g = &p->g;
  const int32_t plane = g->out_h * g->out_w;
  const int32_t kernel_size = g->kernel_h * g->kernel_w * g->in_c;
  uint32_t *acc = (uint32_t *)scratch; /* wraps like TFLM's int32 scratch */
  int32_t b, iy, ix, fy, fx, fy0, fy1, fx0, fx1, o, i, pixel;
  for (b = 0; b < g->batches; ++b) {
    memset(acc, 0, (size_t)plane * (size_t)g->out_c * sizeof(uint32_t));
    for (iy = 0; iy < g->in_h; ++iy) {
      scatter_taps(iy, g->stride_h, g->pad_h, g->kernel_h, g->out_h, &fy0, &fy1);
      for (ix = 0; ix < g->in_w; ++ix) {
        const int8_t *x = input + ((b * g->in_h + iy) * g->in_w + ix) * g->in_c;
        scatter_taps(ix, g->stride_w, g->pad_w, g->kernel_w, g->out_w, &fx0, &fx1);
        for (fy = fy0; fy < fy1; ++fy) {
          for (fx = fx0; fx < fx1; ++fx) {
            const int32_t oy = iy * g->stride_h - g->pad_h + fy;
            const int32_t ox = ix * g->stride_w - g->pad_w + fx;
            uint32_t *dst = acc + (oy * g->out_w + ox) * g->out_c;
            for (o = 0; o < g->out_c; ++o) {
              const int8_t *w = weights + o * kernel_size + (fy * g->kernel_w + fx) * g->in_c;
              int32_t s = 0; /* |term| <= 2^15: no overflow for in_c <= 65535 */
              for (i = 0; i < g->in_c; ++i) s += (x[i] - p->input_zero_point) * w[i];
              dst[o] += (uint32_t)s;
            }
          }
        }
      }
    }
    for (pixel = 0; pixel < plane; ++pixel) {
      pm_output_stage_s8(&p->stage, 0, g->out_c, (int32_t *)(acc + pixel * g->out_c), p->bias,
                         output + (b * plane + pixel) * g->out_c);
    }
  }
}

void pm_transpose_conv_s16(const pm_transpose_conv_s16_params *p, const int16_t *input, const int8_t *weights,
                           int16_t *output, void *scratch) {
  const pm_conv_geometry *g = &p->g;
  const int32_t plane = g->out_h * g->out_w;
  const int32_t kernel_size = g->kernel_h * g->kernel_w * g->in_c;
  int64_t *acc = (int64_t *)scratch;
  int32_t b, iy, ix, fy, fx, fy0, fy1, fx0, fx1, o, i, pixel;
  for (b = 0; b < g->batches; ++b) {
    memset(acc, 0, (size_t)plane * (size_t)g->out_c * sizeof(int64_t));
    for (iy = 0; iy < g->in_h; ++iy) {
      scatter_taps(iy, g->stride_h, g->pad_h, g->kernel_h, g->out_h, &fy0, &fy1);
      for (ix = 0; ix < g->in_w; ++ix) {
        const int16_t *x = input + ((b * g->in_h + iy) * g->in_w + ix) * g->in_c;
        scatter_taps(ix, g->stride_w, g->pad_w, g->kernel_w, g->out_w, &fx0, &fx1);
        for (fy = fy0; fy < fy1; ++fy) {
          for (fx = fx0; fx < fx1; ++fx) {
            const int32_t oy = iy * g->stride_h - g->pad_h + fy;
            const int32_t ox = ix * g->stride_w - g->pad_w + fx;
            int64_t *dst = acc + (oy * g->out_w + ox) * g->out_c;
            for (o = 0; o < g->out_c; ++o) {
              const int8_t *w = weights + o * kernel_size + (fy * g->kernel_w + fx) * g->in_c;
              int64_t s = 0;
              for (i = 0; i < g->in_c; ++i) s += (int32_t)x[i] * w[i];
              dst[o] += s;
            }
          }
        }
      }
    }
    for (pixel = 0; pixel < plane; ++pixel) {
      int16_t *out = output + (b * plane + pixel) * g->out_c;
      for (o = 0; o < g->out_c; ++o) out[o] = pm_stage64_value(&p->stage, o, acc[pixel * g->out_c + o]);
    }
  }
}
