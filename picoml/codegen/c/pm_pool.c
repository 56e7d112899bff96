/* picoml pooling, int8 / int16 (see pm_pool.h for the math). One loop nest per kernel serves
 * both element sizes; the per-tap work is in small typed leaves whose channel loops are
 * contiguous, so the compiler vectorises them. */
#include "pm_pool.h"

#include "requant.h"

/* Element sizes the shared loop nests dispatch on. */
enum { POOL_S8 = 8, POOL_S16 = 16 };

/* TFLM's integer average: the int32 sum divided by count, ties away from zero. The int64
 * keeps sum +- count/2 from overflowing where the NumPy twin does not either. */
static int32_t rounded_average(uint32_t sum, int32_t count) {
  const int64_t s = pm_wrap_s32(sum);
  const int64_t half = count / 2;
  return (int32_t)((s > 0 ? s + half : s - half) / count);
}

/* -- average leaves: acc[c] += tap[c]; out[c] = clamp(average) ---------------------------- */
static void add_tap_s8(uint32_t *acc, const int8_t *tap, int32_t n) {
  int32_t c;
  for (c = 0; c < n; ++c) acc[c] += (uint32_t)tap[c];
}

static void add_tap_s16(uint32_t *acc, const int16_t *tap, int32_t n) {
  int32_t c;
  for (c = 0; c < n; ++c) acc[c] += (uint32_t)tap[c];
}

static void store_average_s8(int8_t *out, const uint32_t *acc, int32_t n, int32_t count, int32_t lo, int32_t hi) {
  int32_t c;
  for (c = 0; c < n; ++c) out[c] = (int8_t)PM_CLAMP(rounded_average(acc[c], count), lo, hi);
}

static void store_average_s16(int16_t *out, const uint32_t *acc, int32_t n, int32_t count, int32_t lo,
                              int32_t hi) {
  int32_t c;
  for (c = 0; c < n; ++c) out[c] = (int16_t)PM_CLAMP(rounded_average(acc[c], count), lo, hi);
}

static void average_pool(const pm_pool_params *p, const void *input, void *output, int bits) {
  const pm_pool_window *w = &p->window;
  uint32_t acc[PM_POOL_CHUNK];
  int32_t b, oy, ox, iy, ix, c0, c;
  for (b = 0; b < w->batches; ++b) {
    for (oy = 0; oy < w->out_h; ++oy) {
      int32_t y0, y1;
      pm_pool_taps(oy, w->stride_h, w->pad_h, w->filter_h, w->in_h, &y0, &y1);
      for (ox = 0; ox < w->out_w; ++ox) {
        int32_t x0, x1;
        int32_t count, out_index;
        pm_pool_taps(ox, w->stride_w, w->pad_w, w->filter_w, w->in_w, &x0, &x1);
        count = (y1 - y0) * (x1 - x0);
        out_index = ((b * w->out_h + oy) * w->out_w + ox) * w->channels;
        for (c0 = 0; c0 < w->channels; c0 += PM_POOL_CHUNK) {
          const int32_t n = PM_MIN(PM_POOL_CHUNK, w->channels - c0);
          for (c = 0; c < n; ++c) acc[c] = 0;
          for (iy = y0; iy < y1; ++iy) {
            for (ix = x0; ix < x1; ++ix) {
              const int32_t in_index = ((b * w->in_h + iy) * w->in_w + ix) * w->channels + c0;
              if (bits == POOL_S8) {
                add_tap_s8(acc, (const int8_t *)input + in_index, n);
              } else {
                add_tap_s16(acc, (const int16_t *)input + in_index, n);
              }
            }
          }
          if (bits == POOL_S8) {
            store_average_s8((int8_t *)output + out_index + c0, acc, n, count, p->act_min, p->act_max);
          } else {
            store_average_s16((int16_t *)output + out_index + c0, acc, n, count, p->act_min, p->act_max);
          }
        }
      }
    }
  }
}

/* -- max leaves: out starts at the type's lowest, takes the max of every tap, then clamps --- */
static void max_tap_s8(int8_t *out, const int8_t *tap, int32_t n, int first) {
  int32_t c;
  if (first) {
    for (c = 0; c < n; ++c) out[c] = tap[c];
  } else {
    for (c = 0; c < n; ++c) out[c] = PM_MAX(out[c], tap[c]);
  }
}

static void max_tap_s16(int16_t *out, const int16_t *tap, int32_t n, int first) {
  int32_t c;
  if (first) {
    for (c = 0; c < n; ++c) out[c] = tap[c];
  } else {
    for (c = 0; c < n; ++c) out[c] = PM_MAX(out[c], tap[c]);
  }
}

static void clamp_s8(int8_t *out, int32_t n, int32_t lo, int32_t hi) {
  int32_t c;
  for (c = 0; c < n; ++c) out[c] = (int8_t)PM_CLAMP(out[c], lo, hi);
}

static void clamp_s16(int16_t *out, int32_t n, int32_t lo, int32_t hi) {
  int32_t c;
  for (c = 0; c < n; ++c) out[c] = (int16_t)PM_CLAMP(out[c], lo, hi);
}

/* The output row itself holds the running maximum (count >= 1, so starting from the first
 * tap equals TFLM's start from the type's lowest value). */
static void max_pool(const pm_pool_params *p, const void *input, void *output, int bits) {
  const pm_pool_window *w = &p->window;
  const int32_t n = w->channels;
  int32_t b, oy, ox, iy, ix;
  for (b = 0; b < w->batches; ++b) {
    for (oy = 0; oy < w->out_h; ++oy) {
      int32_t y0, y1;
      pm_pool_taps(oy, w->stride_h, w->pad_h, w->filter_h, w->in_h, &y0, &y1);
      for (ox = 0; ox < w->out_w; ++ox) {
        int32_t x0, x1;
        int32_t out_index;
        pm_pool_taps(ox, w->stride_w, w->pad_w, w->filter_w, w->in_w, &x0, &x1);
        out_index = ((b * w->out_h + oy) * w->out_w + ox) * n;
        for (iy = y0; iy < y1; ++iy) {
          for (ix = x0; ix < x1; ++ix) {
            const int32_t in_index = ((b * w->in_h + iy) * w->in_w + ix) * n;
            const int first = iy == y0 && ix == x0;
            if (bits == POOL_S8) {
              max_tap_s8((int8_t *)output + out_index, (const int8_t *)input + in_index, n, first);
            } else {
              max_tap_s16((int16_t *)output + out_index, (const int16_t *)input + in_index, n, first);
            }
          }
        }
        if (bits == POOL_S8) {
          clamp_s8((int8_t *)output + out_index, n, p->act_min, p->act_max);
        } else {
          clamp_s16((int16_t *)output + out_index, n, p->act_min, p->act_max);
        }
      }
    }
  }
}

void pm_average_pool_s8(const pm_pool_params *p, const int8_t *input, int8_t *output) {
  average_pool(p, input, output, POOL_S8);
}

void pm_average_pool_s16(const pm_pool_params *p, const int16_t *input, int16_t *output) {
  average_pool(p, input, output, POOL_S16);
}

void pm_max_pool_s8(const pm_pool_params *p, const int8_t *input, int8_t *output) {
  max_pool(p, input, output, POOL_S8);
}

void pm_max_pool_s16(const pm_pool_params *p, const int16_t *input, int16_t *output) {
  max_pool(p, input, output, POOL_S16);
}
