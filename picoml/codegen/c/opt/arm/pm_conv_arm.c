/* picoml CONV_2D and FULLY_CONNECTED int8 kernels for DSP cores (see pm_conv_arm.h). */
#include "pm_conv_arm.h"

#if PM_ARM_DSP

#include <string.h>

/* -- 1 unit x 4 pixels --------------------------------------------------------------------- */

/* acc[j] += the dot product of weight row w ([groups][4 bytes]) with widened pixel j of the
 * quad a ([groups][pixel 0 even, odd, ..., pixel 3 even, odd]). Per group one weight load and
 * two SXTB16 serve four pixels: nine loads and eight SMLADs per 16 MACs, and the unit's
 * output stage then shares its constants across the four pixels. */
#define PM_ARM_GROUP_1X4                                                                      \
  "ldr %[v], [%[w]], #4\n\t"                                                                  \
  "ldr %[x3], [%[a], #12]\n\t"                                                                \
  "ldr %[x2], [%[a], #8]\n\t"                                                                 \
  "ldr %[x1], [%[a], #4]\n\t"                                                                 \
  "ldr %[x0], [%[a]], #16\n\t"                                                                \
  "sxtb16 %[we], %[v]\n\t"                                                                    \
  "sxtb16 %[v], %[v], ror #8\n\t"                                                             \
  "smlad %[s0], %[x0], %[we], %[s0]\n\t"                                                      \
  "smlad %[s0], %[x1], %[v], %[s0]\n\t"                                                       \
  "smlad %[s1], %[x2], %[we], %[s1]\n\t"                                                      \
  "smlad %[s1], %[x3], %[v], %[s1]\n\t"                                                       \
  "ldr %[x3], [%[a], #12]\n\t"                                                                \
  "ldr %[x2], [%[a], #8]\n\t"                                                                 \
  "ldr %[x1], [%[a], #4]\n\t"                                                                 \
  "ldr %[x0], [%[a]], #16\n\t"                                                                \
  "smlad %[s2], %[x0], %[we], %[s2]\n\t"                                                      \
  "smlad %[s2], %[x1], %[v], %[s2]\n\t"                                                       \
  "smlad %[s3], %[x2], %[we], %[s3]\n\t"                                                      \
  "smlad %[s3], %[x3], %[v], %[s3]\n\t"

static inline const int8_t *mac_1x4(const int32_t *a, const int8_t *w, int32_t groups, int32_t *acc) {
  int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
#if defined(__OPTIMIZE__)
  int32_t x0, x1, x2, x3, v, we;
  __asm__ volatile(
      "tst %[n], #1\n\t"
      "beq 2f\n\t" PM_ARM_GROUP_1X4
      "2:\n\t"
      "lsrs %[n], %[n], #1\n\t"
      "beq 3f\n"
      "1:\n\t" PM_ARM_GROUP_1X4 PM_ARM_GROUP_1X4
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n"
      "3:\n"
      : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [a] "+r"(a), [w] "+r"(w),
        [n] "+r"(groups), [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3), [v] "=&r"(v),
        [we] "=&r"(we)
      :
      : "cc", "memory");
#else
  for (; groups > 0; --groups, a += 8, w += 4) {
    const int32_t v = pm_arm_load32(w), we = pm_arm_even(v), wo = pm_arm_odd(v);
    s0 = __smlad(a[0], we, __smlad(a[1], wo, s0));
    s1 = __smlad(a[2], we, __smlad(a[3], wo, s1));
    s2 = __smlad(a[4], we, __smlad(a[5], wo, s2));
    s3 = __smlad(a[6], we, __smlad(a[7], wo, s3));
  }
#endif
  acc[0] = s0, acc[1] = s1, acc[2] = s2, acc[3] = s3;
  return w;
}

/* The same for the first two pixels of the quad: acc[0..1] += w . pixel 0, w . pixel 1. */
#define PM_ARM_GROUP_1X2                                                                      \
  "ldr %[v], [%[w]], #4\n\t"                                                                  \
  "ldr %[x3], [%[a], #12]\n\t"                                                                \
  "ldr %[x2], [%[a], #8]\n\t"                                                                 \
  "ldr %[x1], [%[a], #4]\n\t"                                                                 \
  "ldr %[x0], [%[a]], #32\n\t"                                                                \
  "sxtb16 %[we], %[v]\n\t"                                                                    \
  "sxtb16 %[v], %[v], ror #8\n\t"                                                             \
  "smlad %[s0], %[x0], %[we], %[s0]\n\t"                                                      \
  "smlad %[s0], %[x1], %[v], %[s0]\n\t"                                                       \
  "smlad %[s1], %[x2], %[we], %[s1]\n\t"                                                      \
  "smlad %[s1], %[x3], %[v], %[s1]\n\t"

static inline const int8_t *mac_1x2(const int32_t *a, const int8_t *w, int32_t groups, int32_t *acc) {
  int32_t s0 = acc[0], s1 = acc[1];
#if defined(__OPTIMIZE__)
  int32_t x0, x1, x2, x3, v, we;
  __asm__ volatile(
      "1:\n\t" PM_ARM_GROUP_1X2
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n"
      : [s0] "+r"(s0), [s1] "+r"(s1), [a] "+r"(a), [w] "+r"(w), [n] "+r"(groups), [x0] "=&r"(x0),
        [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3), [v] "=&r"(v), [we] "=&r"(we)
      :
      : "cc", "memory");
#else
  for (; groups > 0; --groups, a += 8, w += 4) {
    const int32_t v = pm_arm_load32(w), we = pm_arm_even(v), wo = pm_arm_odd(v);
    s0 = __smlad(a[0], we, __smlad(a[1], wo, s0));
    s1 = __smlad(a[2], we, __smlad(a[3], wo, s1));
  }
#endif
  acc[0] = s0, acc[1] = s1;
  return w;
}

/* -- CONV_2D -------------------------------------------------------------------------------- */

/* Widen `groups` groups of 4 int8 values at src into pixel slot `slot` of the quad buffer (two
 * words per group, the three other pixels' words in between). */
static void widen(const int8_t *src, int32_t groups, int32_t *slot) {
  for (; groups > 0; --groups, src += 4, slot += 8) {
    const int32_t v = pm_arm_load32(src);
    slot[0] = pm_arm_even(v);
    slot[1] = pm_arm_odd(v);
  }
}

static void fill(int32_t *slot, int32_t groups, int32_t value) {
  for (; groups > 0; --groups, slot += 8) slot[0] = value, slot[1] = value;
}

/* The patch of output pixel `pixel` (flat over batch, rows, columns) widened into `slot`:
 * taps in weight order [fy][fx][i], the input zero point for taps outside the input, zeros
 * after K. With whole groups per tap (in_c a multiple of 4) each tap is widened in place, with
 * whole groups per kernel row (no column dilation) each row; otherwise the int8 patch is
 * gathered in `patch` first. */
static void widen_pixel(const pm_conv_s8_arm_params *p, const int8_t *input, int32_t pixel, int32_t *slot,
                        int8_t *patch) {
  const pm_arm_window *g = &p->w;
  const int32_t in_c = g->in_c;
  const int32_t ox = pixel % g->out_w, row = pixel / g->out_w;
  const int32_t oy = row % g->out_h, b = row / g->out_h;
  const int8_t *image = input + b * g->in_h * g->in_w * in_c;
  const int32_t y0 = oy * g->stride_h - g->pad_h;
  const int32_t x0 = ox * g->stride_w - g->pad_w;
  const int8_t zp = (int8_t)p->input_zero_point;
  int32_t fy, fx, i;
  if ((in_c & 3) == 0) {
    const int32_t groups = in_c >> 2;
    const int32_t zz = (int32_t)(((uint32_t)(uint16_t)zp << 16) | (uint16_t)zp); /* int16 lanes zp, zp */
    for (fy = 0; fy < g->kernel_h; ++fy) {
      const int32_t iy = y0 + fy * g->dilation_h;
      for (fx = 0; fx < g->kernel_w; ++fx, slot += 8 * groups) {
        const int32_t ix = x0 + fx * g->dilation_w;
        if (iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w) {
          widen(image + (iy * g->in_w + ix) * in_c, groups, slot);
        } else {
          fill(slot, groups, zz);
        }
      }
    }
    return;
  }
  if (g->dilation_w == 1 && ((g->kernel_w * in_c) & 3) == 0) {
    /* each kernel row is whole groups: widened from the input when inside it */
    const int32_t row_bytes = g->kernel_w * in_c, groups = row_bytes >> 2;
    const int32_t zz = (int32_t)(((uint32_t)(uint16_t)zp << 16) | (uint16_t)zp);
    const int inside_x = x0 >= 0 && x0 + g->kernel_w <= g->in_w;
    for (fy = 0; fy < g->kernel_h; ++fy, slot += 8 * groups) {
      const int32_t iy = y0 + fy * g->dilation_h;
      const int8_t *row = image + (iy * g->in_w + x0) * in_c;
      if (iy < 0 || iy >= g->in_h) {
        fill(slot, groups, zz);
      } else if (inside_x) {
        widen(row, groups, slot);
      } else {
        for (fx = 0; fx < g->kernel_w; ++fx) {
          const int inside = x0 + fx >= 0 && x0 + fx < g->in_w;
          for (i = 0; i < in_c; ++i) patch[fx * in_c + i] = inside ? row[fx * in_c + i] : zp;
        }
        widen(patch, groups, slot);
      }
    }
    return;
  }
  {
    const int32_t row_bytes = g->kernel_w * in_c;
    /* without column dilation a kernel row's taps inside the input are one run of bytes */
    const int32_t fx0 = g->dilation_w != 1 || x0 >= 0 ? 0 : (-x0 < g->kernel_w ? -x0 : g->kernel_w);
    const int32_t fx1 = g->dilation_w != 1 ? 0 : x0 + g->kernel_w <= g->in_w ? g->kernel_w
                                                : (g->in_w - x0 > fx0 ? g->in_w - x0 : fx0);
    int8_t *dst = patch;
    for (fy = 0; fy < g->kernel_h; ++fy, dst += row_bytes) {
      const int32_t iy = y0 + fy * g->dilation_h;
      const int8_t *row = image + iy * g->in_w * in_c;
      if (iy < 0 || iy >= g->in_h) {
        memset(dst, zp, (size_t)row_bytes);
      } else if (g->dilation_w == 1) {
        memset(dst, zp, (size_t)(fx0 * in_c));
        memcpy(dst + fx0 * in_c, row + (x0 + fx0) * in_c, (size_t)((fx1 - fx0) * in_c));
        memset(dst + fx1 * in_c, zp, (size_t)((g->kernel_w - fx1) * in_c));
      } else {
        for (fx = 0; fx < g->kernel_w; ++fx) {
          const int32_t ix = x0 + fx * g->dilation_w;
          const int8_t *src = row + ix * in_c;
          const int inside = ix >= 0 && ix < g->in_w;
          for (i = 0; i < in_c; ++i) dst[fx * in_c + i] = inside ? src[i] : zp;
        }
      }
    }
    for (i = p->depth; i < 4 * p->groups4; ++i) patch[i] = 0;
    widen(patch, p->groups4, slot);
  }
}

/* The four outputs of one unit: out[0], out[stride], out[2 stride], out[3 stride]. The
 * activation clamp is SSAT #8 when it spans all of int8 (`full`, a constant in each inlined
 * copy), else SSAT and the bounds. */
PM_ARM_INLINE void store_quad(int8_t *out, int32_t stride, const int32_t *acc, const int32_t *c, int32_t offset,
                              int32_t lo, int32_t hi, int full) {
  const int32_t multiplier = c[1], round_hi = c[3], shift = c[4];
  const uint32_t round_lo = (uint32_t)c[2];
  int32_t v0 = __ssat(pm_arm_requant(acc[0], multiplier, round_lo, round_hi, shift) + offset, 8);
  int32_t v1 = __ssat(pm_arm_requant(acc[1], multiplier, round_lo, round_hi, shift) + offset, 8);
  int32_t v2 = __ssat(pm_arm_requant(acc[2], multiplier, round_lo, round_hi, shift) + offset, 8);
  int32_t v3 = __ssat(pm_arm_requant(acc[3], multiplier, round_lo, round_hi, shift) + offset, 8);
  if (!full) {
    v0 = pm_arm_clamp(v0, lo, hi), v1 = pm_arm_clamp(v1, lo, hi);
    v2 = pm_arm_clamp(v2, lo, hi), v3 = pm_arm_clamp(v3, lo, hi);
  }
  out[0] = (int8_t)v0;
  out[stride] = (int8_t)v1;
  out += 2 * stride;
  out[0] = (int8_t)v2;
  out[stride] = (int8_t)v3;
}

/* Every unit of the widened quad: out + j * stride + u gets pixel j's output of unit u, for
 * the first `count` pixels (4, or 2 for a pair in slots 0 and 1). */
PM_ARM_INLINE void quad_outputs(const pm_conv_s8_arm_params *p, const int32_t *quad, const int8_t *w, int8_t *out,
                                int32_t stride, int32_t count, int full) {
  const int32_t groups4 = p->groups4, offset = p->output_offset, lo = p->act_min, hi = p->act_max;
  const int32_t *c = p->channels;
  const int8_t *end = out + p->w.out_c;
  int32_t acc[4];
  if (count == 4) {
    for (; out < end; ++out, c += PM_ARM_CHANNEL_WORDS) {
      acc[0] = acc[1] = acc[2] = acc[3] = c[0];
      w = mac_1x4(quad, w, groups4, acc);
      store_quad(out, stride, acc, c, offset, lo, hi, full);
    }
    return;
  }
  for (; out < end; ++out, c += PM_ARM_CHANNEL_WORDS) {
    int32_t v0, v1;
    acc[0] = acc[1] = c[0];
    w = mac_1x2(quad, w, groups4, acc);
    v0 = __ssat(pm_arm_requant(acc[0], c[1], (uint32_t)c[2], c[3], c[4]) + offset, 8);
    v1 = __ssat(pm_arm_requant(acc[1], c[1], (uint32_t)c[2], c[3], c[4]) + offset, 8);
    if (!full) v0 = pm_arm_clamp(v0, lo, hi), v1 = pm_arm_clamp(v1, lo, hi);
    out[0] = (int8_t)v0;
    out[stride] = (int8_t)v1;
  }
}

static void quad_outputs_full(const pm_conv_s8_arm_params *p, const int32_t *quad, const int8_t *w, int8_t *out,
                              int32_t stride, int32_t count) {
  quad_outputs(p, quad, w, out, stride, count, 1);
}

static void quad_outputs_clamped(const pm_conv_s8_arm_params *p, const int32_t *quad, const int8_t *w, int8_t *out,
                                 int32_t stride, int32_t count) {
  quad_outputs(p, quad, w, out, stride, count, 0);
}

void pm_conv_s8_arm(const pm_conv_s8_arm_params *p, const int8_t *input, const int8_t *weights, int8_t *output,
                    void *scratch) {
  int32_t stack[8 * PM_ARM_STACK_GROUPS + PM_ARM_STACK_GROUPS];
  const int32_t out_c = p->w.out_c, in_c = p->w.in_c, groups4 = p->groups4;
  const int32_t pixels = p->w.batches * p->w.out_h * p->w.out_w;
  const int pointwise = p->w.kernel_h == 1 && p->w.kernel_w == 1 && p->w.stride_h == 1 && p->w.stride_w == 1 &&
                        (in_c & 3) == 0; /* pixel j's patch is input pixel j */
  void (*outputs)(const pm_conv_s8_arm_params *, const int32_t *, const int8_t *, int8_t *, int32_t, int32_t) =
      p->act_min == -128 && p->act_max == 127 ? quad_outputs_full : quad_outputs_clamped;
  int32_t *quad = groups4 <= PM_ARM_STACK_GROUPS ? stack : (int32_t *)scratch;
  int8_t *patch = (int8_t *)(quad + 8 * groups4);
  int32_t first = 0;
  /* quads of consecutive pixels, then the last one to three: three as an overlapping quad
   * (recomputing the same values), two as a pair, one as a pair of itself (stride 0) */
  while (first < pixels) {
    const int32_t left = pixels - first;
    const int32_t count = left >= 3 && pixels >= 4 ? 4 : 2;
    const int32_t q0 = left >= 4 || count == 2 ? first : pixels - 4;
    int32_t j;
    for (j = 0; j < count; ++j) {
      const int32_t pixel = q0 + j < pixels ? q0 + j : q0;
      if (pointwise) {
        widen(input + pixel * in_c, groups4, quad + 2 * j);
      } else {
        widen_pixel(p, input, pixel, quad + 2 * j, patch);
      }
    }
    outputs(p, quad, weights, output + q0 * out_c, q0 + 1 < pixels ? out_c : 0, count);
    first = q0 + count;
  }
}

/* -- FULLY_CONNECTED ------------------------------------------------------------------------ */

/* acc[0..3] += four weight rows ([groups][4 units][4 bytes]) times the int8 row x, whose
 * `groups` words are widened on the fly (the last may be partial: `tail` bytes, 0 = full). */
#define PM_ARM_GROUP_4X1                                                                      \
  "ldr %[xe], [%[x]], #4\n\t"                                                                 \
  "ldr %[v0], [%[w]], #4\n\t"                                                                 \
  "ldr %[v1], [%[w]], #4\n\t"                                                                 \
  "sxtb16 %[xo], %[xe], ror #8\n\t"                                                           \
  "sxtb16 %[xe], %[xe]\n\t"                                                                   \
  "sxtb16 %[we], %[v0]\n\t"                                                                   \
  "sxtb16 %[v0], %[v0], ror #8\n\t"                                                           \
  "smlad %[s0], %[xe], %[we], %[s0]\n\t"                                                      \
  "smlad %[s0], %[xo], %[v0], %[s0]\n\t"                                                      \
  "sxtb16 %[we], %[v1]\n\t"                                                                   \
  "sxtb16 %[v1], %[v1], ror #8\n\t"                                                           \
  "smlad %[s1], %[xe], %[we], %[s1]\n\t"                                                      \
  "smlad %[s1], %[xo], %[v1], %[s1]\n\t"                                                      \
  "ldr %[v0], [%[w]], #4\n\t"                                                                 \
  "ldr %[v1], [%[w]], #4\n\t"                                                                 \
  "sxtb16 %[we], %[v0]\n\t"                                                                   \
  "sxtb16 %[v0], %[v0], ror #8\n\t"                                                           \
  "smlad %[s2], %[xe], %[we], %[s2]\n\t"                                                      \
  "smlad %[s2], %[xo], %[v0], %[s2]\n\t"                                                      \
  "sxtb16 %[we], %[v1]\n\t"                                                                   \
  "sxtb16 %[v1], %[v1], ror #8\n\t"                                                           \
  "smlad %[s3], %[xe], %[we], %[s3]\n\t"                                                      \
  "smlad %[s3], %[xo], %[v1], %[s3]\n\t"

static inline int32_t dot4(int32_t s, int32_t x, int32_t v) {
  return __smlad(pm_arm_even(x), pm_arm_even(v), __smlad(pm_arm_odd(x), pm_arm_odd(v), s));
}

static void mac_4x1(const int8_t *x, const int8_t *w, int32_t groups, int32_t tail, int32_t *acc) {
  int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
  int32_t n = tail ? groups - 1 : groups;
  if (n > 0) {
#if defined(__OPTIMIZE__)
    int32_t xe, xo, v0, v1, we;
    __asm__ volatile(
        "1:\n\t" PM_ARM_GROUP_4X1
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n"
        : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [x] "+r"(x), [w] "+r"(w), [n] "+r"(n),
          [xe] "=&r"(xe), [xo] "=&r"(xo), [v0] "=&r"(v0), [v1] "=&r"(v1), [we] "=&r"(we)
        :
        : "cc", "memory");
#else
    for (; n > 0; --n, x += 4, w += 16) {
      const int32_t v = pm_arm_load32(x);
      s0 = dot4(s0, v, pm_arm_load32(w));
      s1 = dot4(s1, v, pm_arm_load32(w + 4));
      s2 = dot4(s2, v, pm_arm_load32(w + 8));
      s3 = dot4(s3, v, pm_arm_load32(w + 12));
    }
#endif
  }
  if (tail) { /* the last, partial group: its missing bytes meet zero weights */
    uint32_t last = 0;
    int32_t i;
    for (i = 0; i < tail; ++i) last |= (uint32_t)(uint8_t)x[i] << (8 * i);
    s0 = dot4(s0, (int32_t)last, pm_arm_load32(w));
    s1 = dot4(s1, (int32_t)last, pm_arm_load32(w + 4));
    s2 = dot4(s2, (int32_t)last, pm_arm_load32(w + 8));
    s3 = dot4(s3, (int32_t)last, pm_arm_load32(w + 12));
  }
  acc[0] = s0, acc[1] = s1, acc[2] = s2, acc[3] = s3;
}

void pm_fully_connected_s8_arm(const pm_fully_connected_s8_arm_params *p, const int8_t *input,
                               const int8_t *weights, int8_t *output) {
  const int32_t units = p->units, groups4 = p->groups4, tail = p->depth & 3;
  const int32_t offset = p->output_offset, lo = p->act_min, hi = p->act_max;
  int32_t r, u, j;
  for (r = 0; r < p->rows; ++r) {
    const int8_t *x = input + r * p->depth;
    int8_t *out = output + r * units;
    const int8_t *w = weights;
    const int32_t *c = p->channels;
    for (u = 0; u < units; u += 4, w += 16 * groups4, c += 4 * PM_ARM_CHANNEL_WORDS) {
      int32_t acc[4];
      for (j = 0; j < 4; ++j) acc[j] = c[j * PM_ARM_CHANNEL_WORDS];
      mac_4x1(x, w, groups4, tail, acc);
      for (j = 0; j < 4 && u + j < units; ++j) out[u + j] = pm_arm_output(acc[j], c + j * PM_ARM_CHANNEL_WORDS, offset, lo, hi);
    }
  }
}

#else
typedef int pm_conv_arm_unused; /* ISO C forbids an empty translation unit */
#endif /* PM_ARM_DSP */
