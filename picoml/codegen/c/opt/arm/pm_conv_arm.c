/* picoml CONV_2D and FULLY_CONNECTED int8 kernels for DSP cores (see pm_conv_arm.h). */
#include "pm_conv_arm.h"

#if PM_ARM_DSP

#include <string.h>

/* -- 2 units x 4 pixels --------------------------------------------------------------------- */

/* s[2 j + u] += the dot product of unit u's weights with widened pixel j of the quad a
 * ([groups][pixel 0 even, odd, ..., pixel 3 even, odd]), for the unit pair whose weights w
 * hold per group two words: the even taps (k0, k2) of both units as bytes
 * (u0 k0, u1 k0, u0 k2, u1 k2), then the odd taps (k1, k3) the same way (codegen/ops/arm.py,
 * `unit_pairs`). One SXTB16 gives unit 0's int16 pair of a word, SXTB16 ROR #8 unit 1's, both
 * in the lanes of the pixels' even (odd) words: per group two weight loads, four SXTB16 and
 * eight pixel loads serve 32 MACs (16 SMLAD), 17 cycles per half. 14 registers: the loop end
 * is read from memory. */
#define PM_ARM_HALF_2X4(x0, x1, x2, x3)                                                         \
  "ldr %[R], [%[w]], #4\n\t"                                                                    \
  "ldr %[X0], " x0 "\n\t"                                                                       \
  "ldr %[X1], " x1 "\n\t"                                                                       \
  "sxtb16 %[E], %[R]\n\t"                                                                       \
  "sxtb16 %[R], %[R], ror #8\n\t"                                                               \
  "smlad %[s0], %[X0], %[E], %[s0]\n\t"                                                         \
  "smlad %[s1], %[X0], %[R], %[s1]\n\t"                                                         \
  "smlad %[s2], %[X1], %[E], %[s2]\n\t"                                                         \
  "smlad %[s3], %[X1], %[R], %[s3]\n\t"                                                         \
  "ldr %[X0], " x2 "\n\t"                                                                       \
  "ldr %[X1], " x3 "\n\t"                                                                       \
  "smlad %[s4], %[X0], %[E], %[s4]\n\t"                                                         \
  "smlad %[s5], %[X0], %[R], %[s5]\n\t"                                                         \
  "smlad %[s6], %[X1], %[E], %[s6]\n\t"                                                         \
  "smlad %[s7], %[X1], %[R], %[s7]\n\t"
/* one group: the even half (the pixels' words at 0, 8, 16, 24; the first load moves a to the
 * next group), then the odd half (4, 12, 20, 28) */
#define PM_ARM_GROUP_2X4                                                                        \
  PM_ARM_HALF_2X4("[%[a]], #32", "[%[a], #-24]", "[%[a], #-16]", "[%[a], #-8]")                  \
  PM_ARM_HALF_2X4("[%[a], #-28]", "[%[a], #-20]", "[%[a], #-12]", "[%[a], #-4]")

PM_ARM_INLINE const int8_t *mac_2x4(const int32_t *a, const int8_t *w, int32_t groups, int32_t *s) {
#if defined(__OPTIMIZE__) && !defined(__clang__) /* clang keeps a frame pointer and lacks the registers */
  int32_t s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3], s4 = s[4], s5 = s[5], s6 = s[6], s7 = s[7];
  int32_t R, E, X0, X1;
  const int32_t *end = a + 8 * (groups & ~1);
  if (groups & 1) {
    __asm__ volatile(PM_ARM_GROUP_2X4
                     : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [s4] "+r"(s4), [s5] "+r"(s5),
                       [s6] "+r"(s6), [s7] "+r"(s7), [a] "+r"(a), [w] "+r"(w), [R] "=&r"(R), [E] "=&r"(E),
                       [X0] "=&r"(X0), [X1] "=&r"(X1)
                     :
                     : "cc", "memory");
    end += 8;
  }
  if (a < end) {
    __asm__ volatile("1:\n\t" PM_ARM_GROUP_2X4 PM_ARM_GROUP_2X4
                     "ldr %[X0], %[end]\n\t"
                     "cmp %[a], %[X0]\n\t"
                     "blo 1b\n"
                     : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [s4] "+r"(s4), [s5] "+r"(s5),
                       [s6] "+r"(s6), [s7] "+r"(s7), [a] "+r"(a), [w] "+r"(w), [R] "=&r"(R), [E] "=&r"(E),
                       [X0] "=&r"(X0), [X1] "=&r"(X1)
                     : [end] "m"(end)
                     : "cc", "memory");
  }
  s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3, s[4] = s4, s[5] = s5, s[6] = s6, s[7] = s7;
#else
  int32_t j;
  for (; groups > 0; --groups, a += 8, w += 8) {
    const int32_t ve = pm_arm_load32(w), vo = pm_arm_load32(w + 4);
    const int32_t e0 = pm_arm_even(ve), e1 = pm_arm_odd(ve), o0 = pm_arm_even(vo), o1 = pm_arm_odd(vo);
    for (j = 0; j < 4; ++j) {
      s[2 * j] = __smlad(a[2 * j], e0, __smlad(a[2 * j + 1], o0, s[2 * j]));
      s[2 * j + 1] = __smlad(a[2 * j], e1, __smlad(a[2 * j + 1], o1, s[2 * j + 1]));
    }
  }
#endif
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

/* Output pixel j's value of one unit (record c), clamped to the activation: out[j * stride],
 * j < count. The general form, for activations narrower than int8 and the lone pixels of
 * images smaller than a quad. */
static void store_unit(int8_t *out, int32_t stride, const int32_t *s, const int32_t *c, int32_t count,
                       const pm_conv_s8_arm_params *p) {
  int32_t j;
  for (j = 0; j < count; ++j) out[j * stride] = pm_arm_output(s[2 * j], c, p->output_offset, p->act_min, p->act_max);
}

/* Every unit of the widened quad: out + j * stride + u gets pixel j's output of unit u, for
 * the first `count` pixels of the quad (4 unless the image has fewer pixels), two units per
 * pass over the quad. An odd unit count ends with a zero unit (weights and record), whose
 * outputs are not stored. */
static void quad_outputs(const pm_conv_s8_arm_params *p, const int32_t *quad, const int8_t *w, int8_t *out,
                         int32_t stride, int32_t count) {
  const int32_t out_c = p->w.out_c, groups4 = p->groups4, offset = p->output_offset;
  const int fast = count == 4 && p->act_min == -128 && p->act_max == 127;
  const int32_t *c = p->channels;
  int32_t u, s[8];
  for (u = 0; u < out_c; u += 2, c += 2 * PM_ARM_CHANNEL_WORDS) {
    const int32_t b0 = c[0], b1 = c[PM_ARM_CHANNEL_WORDS];
    s[0] = s[2] = s[4] = s[6] = b0;
    s[1] = s[3] = s[5] = s[7] = b1;
    w = mac_2x4(quad, w, groups4, s);
    if (fast) {
      pm_arm_store4(out + u, stride, s[0], s[2], s[4], s[6], c, offset, offset == 0);
      if (u + 1 < out_c) {
        pm_arm_store4(out + u + 1, stride, s[1], s[3], s[5], s[7], c + PM_ARM_CHANNEL_WORDS, offset, offset == 0);
      }
    } else { /* a copy: s itself stays in registers */
      const int32_t t[8] = {s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]};
      store_unit(out + u, stride, t, c, count, p);
      if (u + 1 < out_c) store_unit(out + u + 1, stride, t + 1, c + PM_ARM_CHANNEL_WORDS, count, p);
    }
  }
}

void pm_conv_s8_arm(const pm_conv_s8_arm_params *p, const int8_t *input, const int8_t *weights, int8_t *output,
                    void *scratch) {
  int32_t stack[8 * PM_ARM_STACK_GROUPS + PM_ARM_STACK_GROUPS];
  const int32_t out_c = p->w.out_c, in_c = p->w.in_c, groups4 = p->groups4;
  const int32_t pixels = p->w.batches * p->w.out_h * p->w.out_w;
  const int pointwise = p->w.kernel_h == 1 && p->w.kernel_w == 1 && p->w.stride_h == 1 && p->w.stride_w == 1 &&
                        (in_c & 3) == 0; /* pixel j's patch is input pixel j */
  int32_t *quad = groups4 <= PM_ARM_STACK_GROUPS ? stack : (int32_t *)scratch;
  int8_t *patch = (int8_t *)(quad + 8 * groups4);
  int32_t first = 0;
  /* quads of consecutive pixels; the last one to three run as an overlapping quad (recomputing
   * the same values); an image of fewer than four pixels fills the quad's spare slots with its
   * last pixel and stores only its own */
  while (first < pixels) {
    const int32_t q0 = pixels - first >= 4 || pixels < 4 ? first : pixels - 4;
    const int32_t count = pixels - q0 < 4 ? pixels - q0 : 4;
    int32_t j;
    for (j = 0; j < 4; ++j) {
      const int32_t pixel = q0 + (j < count ? j : count - 1);
      if (pointwise) {
        widen(input + pixel * in_c, groups4, quad + 2 * j);
      } else {
        widen_pixel(p, input, pixel, quad + 2 * j, patch);
      }
    }
    quad_outputs(p, quad, weights, output + q0 * out_c, out_c, count);
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
