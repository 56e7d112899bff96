/* picoml AVERAGE_POOL_2D int8 kernel for DSP cores (see pm_pool_arm.h). */
#include "pm_pool_arm.h"

#if PM_ARM_DSP

/* SXTAB16 with ROR #8: acc's halfword lanes += bytes 1 and 3 of x. */
static inline int32_t sxtab16_odd(int32_t acc, int32_t x) {
  int32_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(x));
  return r;
}

/* TFLM's integer average of `count` taps: ties away from zero, then the clamp. */
static inline int8_t average(int32_t sum, int32_t count, int32_t lo, int32_t hi) {
  const int32_t half = count / 2;
  return (int8_t)pm_arm_clamp((sum > 0 ? sum + half : sum - half) / count, lo, hi);
}

/* The window's taps [y0, y1) x [x0, x1) of `row` (its first tap row), four channels from c. */
static void window4(const int8_t *first, int32_t rows, int32_t cols, int32_t row_step, int32_t col_step,
                    int32_t count, int32_t lo, int32_t hi, int8_t *out) {
  int32_t even = 0, odd = 0, y, x;
  for (y = 0; y < rows; ++y, first += row_step) {
    const int8_t *tap = first;
    for (x = 0; x < cols; ++x, tap += col_step) {
      const int32_t v = pm_arm_load32(tap);
      even = __sxtab16(even, v);
      odd = sxtab16_odd(odd, v);
    }
  }
  out[0] = average((int16_t)even, count, lo, hi);
  out[1] = average((int16_t)odd, count, lo, hi);
  out[2] = average((int16_t)((uint32_t)even >> 16), count, lo, hi);
  out[3] = average((int16_t)((uint32_t)odd >> 16), count, lo, hi);
}

void pm_average_pool_s8_arm(const pm_average_pool_s8_arm_params *p, const int8_t *input, int8_t *output) {
  const pm_arm_window *g = &p->w;
  const int32_t channels = g->in_c, lo = p->act_min, hi = p->act_max;
  const int32_t row_step = g->in_w * channels;
  int32_t b, oy, ox, c, y, x;
  for (b = 0; b < g->batches; ++b) {
    const int8_t *image = input + b * g->in_h * row_step;
    for (oy = 0; oy < g->out_h; ++oy) {
      const int32_t ry = oy * g->stride_h - g->pad_h;
      const int32_t y0 = ry < 0 ? 0 : ry, y1 = ry + g->kernel_h < g->in_h ? ry + g->kernel_h : g->in_h;
      for (ox = 0; ox < g->out_w; ++ox, output += channels) {
        const int32_t rx = ox * g->stride_w - g->pad_w;
        const int32_t x0 = rx < 0 ? 0 : rx, x1 = rx + g->kernel_w < g->in_w ? rx + g->kernel_w : g->in_w;
        const int32_t count = (y1 - y0) * (x1 - x0);
        const int8_t *first = image + (y0 * g->in_w + x0) * channels;
        for (c = 0; c + 4 <= channels; c += 4) {
          window4(first + c, y1 - y0, x1 - x0, row_step, channels, count, lo, hi, output + c);
        }
        for (; c < channels; ++c) {
          int32_t sum = 0;
          for (y = 0; y < y1 - y0; ++y) {
            for (x = 0; x < x1 - x0; ++x) sum += first[y * row_step + x * channels + c];
          }
          output[c] = average(sum, count, lo, hi);
        }
      }
    }
  }
}

#else
typedef int pm_pool_arm_unused; /* ISO C forbids an empty translation unit */
#endif /* PM_ARM_DSP */
