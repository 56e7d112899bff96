/* picoml DEPTHWISE_CONV_2D int8 kernel for DSP cores (see pm_depthwise_arm.h). */
#include "pm_depthwise_arm.h"

#if PM_ARM_DSP

static inline void store32(void *p, uint32_t v) { memcpy(p, &v, 4); }

/* GCC's optimised builds run the pairs kernel's fused assembly rows (pm_dw_pair_rows_s1/_s2) */
#if defined(__OPTIMIZE__) && !defined(__clang__)
#define PM_ARM_DW_FUSED 1
#else
#define PM_ARM_DW_FUSED 0
#endif

/* -- widening input rows into int16 planes -------------------------------------------------- */

/* Input rows iy0 .. iy0 + count - 1 (of the image) of channels c0 .. c0 + group - 1 into the
 * planes' ring of plane_rows rows (input row iy at slot (iy - first_row) mod plane_rows): the
 * input columns, or zero points throughout for a row outside the input. The columns left and
 * right of the input hold zero points from the start (pad_columns) and are never written. */
static void widen_rows(const pm_depthwise_conv_s8_arm_params *p, const int8_t *image, int32_t c0, int32_t iy0,
                       int32_t count, int16_t *planes, int32_t plane_rows, int32_t first_row) {
  const int32_t in_w = p->w.in_w, in_c = p->w.in_c, pad = p->w.pad_w, row_len = p->row_len, group = p->group;
  const int32_t plane_size = plane_rows * row_len;
  const int16_t zp = (int16_t)p->input_zero_point;
  int32_t j, x, k;
  for (k = 0; k < count; ++k) {
    const int32_t iy = iy0 + k;
    int16_t *row = planes + ((iy - first_row) % plane_rows) * row_len;
    const int8_t *src = image + iy * in_w * in_c + c0;
    if (iy < 0 || iy >= p->w.in_h) { /* a padding row: zero points throughout */
      for (j = 0; j < group; ++j) {
        int16_t *r = row + j * plane_size;
        for (x = 0; x < row_len; ++x) r[x] = zp;
      }
      continue;
    }
    if (group == 4) { /* two pixels of four channels per step: two words per plane row */
      int16_t *r0 = row + pad;
      int16_t *r1 = r0 + plane_size, *r2 = r1 + plane_size, *r3 = r2 + plane_size;
      for (x = 0; x + 2 <= in_w; x += 2, src += 2 * in_c) {
        const int32_t v0 = pm_arm_load32(src), v1 = pm_arm_load32(src + in_c);
        const uint32_t e0 = (uint32_t)pm_arm_even(v0), o0 = (uint32_t)pm_arm_odd(v0);
        const uint32_t e1 = (uint32_t)pm_arm_even(v1), o1 = (uint32_t)pm_arm_odd(v1);
        store32(r0 + x, pm_arm_pack_bottoms(e0, e1)); /* channel c0 at x, x + 1 */
        store32(r2 + x, pm_arm_pack_tops(e0, e1));
        store32(r1 + x, pm_arm_pack_bottoms(o0, o1));
        store32(r3 + x, pm_arm_pack_tops(o0, o1));
      }
      if (x < in_w) r0[x] = src[0], r1[x] = src[1], r2[x] = src[2], r3[x] = src[3];
    } else {
      x = 0;
      if (in_c == 1) { /* four pixels per word */
        for (; x + 4 <= in_w; x += 4, src += 4) {
          const int32_t v = pm_arm_load32(src);
          const uint32_t e = (uint32_t)pm_arm_even(v), o = (uint32_t)pm_arm_odd(v);
          store32(row + pad + x, pm_arm_pack_bottoms(e, o));
          store32(row + pad + x + 2, pm_arm_pack_tops(e, o));
        }
      }
      for (; x < in_w; ++x, src += in_c) row[pad + x] = *src;
    }
  }
}

/* The zero points left and right of the input columns, in every row of every plane. */
static void pad_columns(const pm_depthwise_conv_s8_arm_params *p, int16_t *planes, int32_t rows) {
  const int32_t row_len = p->row_len, first = p->w.pad_w, last = p->w.pad_w + p->w.in_w;
  const int16_t zp = (int16_t)p->input_zero_point;
  int32_t r, x;
  for (r = 0; r < rows; ++r, planes += row_len) {
    for (x = 0; x < first; ++x) planes[x] = zp;
    for (x = last; x < row_len; ++x) planes[x] = zp;
  }
}

/* -- a row of sums -------------------------------------------------------------------------- */

/* 3x3 taps, no column dilation: acc[x] = bias + the taps of rows r0, r1, r2 at columns
 * s x .. s x + 2 (stride s = 1 or 2), eight outputs per loop pass (n rounded up to a multiple
 * of 4, an odd four first: up to three values past the row, and reads up to 7 int16 past the padded width). k packs
 * the weights in int16 lanes: k[f] = (w[f][0], w[f][1]) for rows f = 0..2,
 * k[3] = (w[0][2], w[1][2]), k[4] = (w[2][2], 0). Per row three word loads serve both
 * outputs: (x0, x1) and (x2, x3) and, for stride 1, (x1, x2) (SMLAD on the pairs, SMLAxy on
 * the third column). Assembly in 13 registers (k[4], the bias and the end are read from memory):
 * GCC spills the C version's; the C version runs in unoptimised builds. */
#define PM_ARM_ROW_3X3(r, kp, third_a, third_b)                                                  \
  "ldr %[t1], [%[" r "], #2]\n\t"                                                               \
  "ldr %[t2], [%[" r "], #4]\n\t"                                                               \
  "ldr %[t0], [%[" r "]], #4\n\t"                                                               \
  "smlad %[a], %[t0], %[" kp "], %[a]\n\t"                                                      \
  "smlad %[b], %[t1], %[" kp "], %[b]\n\t"                                                      \
  third_a "\n\t" third_b "\n\t"

#define PM_ARM_ROW_3X3_S2(r, kp, third_a, third_b)                                               \
  "ldr %[t1], [%[" r "], #4]\n\t"                                                               \
  "ldr %[t2], [%[" r "], #8]\n\t"                                                               \
  "ldr %[t0], [%[" r "]], #8\n\t"                                                               \
  "smlad %[a], %[t0], %[" kp "], %[a]\n\t"                                                      \
  "smlad %[b], %[t1], %[" kp "], %[b]\n\t"                                                      \
  third_a "\n\t" third_b "\n\t"

/* one step: two outputs (acc[0], acc[1] = a, b), the row pointers advanced */
#define PM_ARM_PAIR_3X3_S1                                                                        \
  "ldr %[t1], [%[r0], #2]\n\t"                                                                    \
  "ldr %[t2], [%[r0], #4]\n\t"                                                                    \
  "ldr %[t0], [%[r0]], #4\n\t"                                                                    \
  "ldr %[a], %[bias]\n\t"                                                                         \
  "smlad %[b], %[t1], %[k0], %[a]\n\t"                                                            \
  "smlad %[a], %[t0], %[k0], %[a]\n\t"                                                            \
  "smlabb %[a], %[t2], %[k3], %[a]\n\t"                                                           \
  "smlatb %[b], %[t2], %[k3], %[b]\n\t"                                                           \
  PM_ARM_ROW_3X3("r1", "k1", "smlabt %[a], %[t2], %[k3], %[a]", "smlatt %[b], %[t2], %[k3], %[b]")   \
  PM_ARM_ROW_3X3("r2", "k2", "ldr %[t0], %[k4]\n\tsmlabb %[a], %[t2], %[t0], %[a]",                   \
                 "smlatb %[b], %[t2], %[t0], %[b]")                                                      \
  "strd %[a], %[b], [%[acc]], #8\n\t"
#define PM_ARM_PAIR_3X3_S2                                                                        \
  "ldr %[t1], [%[r0], #4]\n\t"                                                                    \
  "ldr %[t2], [%[r0], #8]\n\t"                                                                    \
  "ldr %[t0], [%[r0]], #8\n\t"                                                                    \
  "ldr %[a], %[bias]\n\t"                                                                         \
  "smlad %[b], %[t1], %[k0], %[a]\n\t"                                                            \
  "smlad %[a], %[t0], %[k0], %[a]\n\t"                                                            \
  "smlabb %[a], %[t1], %[k3], %[a]\n\t"                                                           \
  "smlabb %[b], %[t2], %[k3], %[b]\n\t"                                                           \
  PM_ARM_ROW_3X3_S2("r1", "k1", "smlabt %[a], %[t1], %[k3], %[a]", "smlabt %[b], %[t2], %[k3], %[b]") \
  PM_ARM_ROW_3X3_S2("r2", "k2", "ldr %[t0], %[k4]\n\tsmlabb %[a], %[t1], %[t0], %[a]",                \
                    "smlabb %[b], %[t2], %[t0], %[b]")                                                   \
  "strd %[a], %[b], [%[acc]], #8\n\t"

static inline void row_3x3(const int16_t *r0, const int16_t *r1, const int16_t *r2, const int32_t *k, int32_t bias,
                           int32_t *acc, int32_t n, int32_t stride) {
  const int32_t *end = acc + n;
#if defined(__OPTIMIZE__) && !defined(__clang__) /* clang keeps a frame pointer and lacks the registers */
  const int32_t k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4];
  const int32_t odd = (n + 3) / 4 % 2; /* eight outputs per loop pass: an odd four first */
  int32_t a, b, t0, t1, t2;
  if (stride == 1) {
    __asm__ volatile(
        "ldr %[t0], %[odd]\n\t"
        "cmp %[t0], #0\n\t"
        "bne 2f\n"
        "1:\n\t" PM_ARM_PAIR_3X3_S1 PM_ARM_PAIR_3X3_S1
        "2:\n\t" PM_ARM_PAIR_3X3_S1 PM_ARM_PAIR_3X3_S1
        "ldr %[t0], %[end]\n\t"
        "cmp %[acc], %[t0]\n\t"
        "blo 1b\n"
        : [a] "=&r"(a), [b] "=&r"(b), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [r0] "+r"(r0),
          [r1] "+r"(r1), [r2] "+r"(r2), [acc] "+r"(acc)
        : [k0] "r"(k0), [k1] "r"(k1), [k2] "r"(k2), [k3] "r"(k3), [k4] "m"(k4), [bias] "m"(bias), [end] "m"(end),
          [odd] "m"(odd)
        : "cc", "memory");
  } else { /* stride 2: the pairs (x0, x1), (x2, x3), (x4, x5): outputs at x0 and x2 */
    __asm__ volatile(
        "ldr %[t0], %[odd]\n\t"
        "cmp %[t0], #0\n\t"
        "bne 2f\n"
        "1:\n\t" PM_ARM_PAIR_3X3_S2 PM_ARM_PAIR_3X3_S2
        "2:\n\t" PM_ARM_PAIR_3X3_S2 PM_ARM_PAIR_3X3_S2
        "ldr %[t0], %[end]\n\t"
        "cmp %[acc], %[t0]\n\t"
        "blo 1b\n"
        : [a] "=&r"(a), [b] "=&r"(b), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [r0] "+r"(r0),
          [r1] "+r"(r1), [r2] "+r"(r2), [acc] "+r"(acc)
        : [k0] "r"(k0), [k1] "r"(k1), [k2] "r"(k2), [k3] "r"(k3), [k4] "m"(k4), [bias] "m"(bias), [end] "m"(end),
          [odd] "m"(odd)
        : "cc", "memory");
  }
#else
  const int16_t *rows[3];
  int32_t x, f;
  rows[0] = r0, rows[1] = r1, rows[2] = r2;
  for (x = 0; acc + x < end; ++x) {
    int32_t sum = bias;
    for (f = 0; f < 3; ++f) {
      const int16_t *t = rows[f] + x * stride;
      const int32_t w0 = (int16_t)k[f], w1 = (int16_t)((uint32_t)k[f] >> 16);
      const int32_t w2 = (int16_t)(f == 0 ? (uint32_t)k[3] : f == 1 ? (uint32_t)k[3] >> 16 : (uint32_t)k[4]);
      sum += t[0] * w0 + t[1] * w1 + t[2] * w2;
    }
    acc[x] = sum;
  }
#endif
}

/* The sums of `rows` output rows of out_w values, acc[r * out_w + x], 3x3 kernels with
 * stride_w 1 or 2 (`s2`, a constant in each inlined copy). Output row r reads the plane's rows
 * at offsets ring[3 r + f]. A row's last pass writes up to three values past it, which the
 * next row overwrites (acc holds rows * out_w + 3 values). */
PM_ARM_INLINE void band_3x3(const pm_depthwise_conv_s8_arm_params *p, const int16_t *plane, const int32_t *ring,
                            const int32_t *k, int32_t bias, int32_t *acc, int32_t rows, int s2) {
  const int32_t out_w = p->w.out_w;
  int32_t r;
  for (r = 0; r < rows; ++r, ring += 3, acc += out_w) {
    row_3x3(plane + ring[0], plane + ring[1], plane + ring[2], k, bias, acc, out_w, s2 ? 2 : 1);
  }
}

static void band_3x3_s1(const pm_depthwise_conv_s8_arm_params *p, const int16_t *plane, const int32_t *ring,
                        const int32_t *k, int32_t bias, int32_t *acc, int32_t rows) {
  band_3x3(p, plane, ring, k, bias, acc, rows, 0);
}

static void band_3x3_s2(const pm_depthwise_conv_s8_arm_params *p, const int16_t *plane, const int32_t *ring,
                        const int32_t *k, int32_t bias, int32_t *acc, int32_t rows) {
  band_3x3(p, plane, ring, k, bias, acc, rows, 1);
}

/* Any kernel, stride and dilation: one tap at a time over each of `rows` output rows. Output
 * row r's kernel row f is the plane's row at offset ring[r * KH + f]; w the channel's KH x KW
 * weights. */
static void band_any(const pm_depthwise_conv_s8_arm_params *p, const int16_t *plane, const int32_t *ring,
                     const int8_t *w, int32_t bias, int32_t *acc, int32_t rows) {
  const int32_t sw = p->w.stride_w, dw = p->w.dilation_w, n = p->w.out_w;
  int32_t r, fy, fx, x;
  for (r = 0; r < rows; ++r, acc += n) {
    const int8_t *tap = w;
    for (x = 0; x < n; ++x) acc[x] = bias;
    for (fy = 0; fy < p->w.kernel_h; ++fy) {
      const int16_t *row = plane + *ring++;
      for (fx = 0; fx < p->w.kernel_w; ++fx) {
        const int16_t *t = row + fx * dw;
        const int32_t weight = *tap++;
        for (x = 0; x < n; ++x) acc[x] += t[x * sw] * weight;
      }
    }
  }
}

/* -- the output stage of a row -------------------------------------------------------------- */

/* out[x * stride] = the requantized acc[x], x < n. `full` (a constant in each inlined copy)
 * means the activation spans all of int8: SSAT #8 alone clamps. The channel's constants stay in
 * registers; the full-range loop is assembly (GCC keeps reloading the constants in the C
 * version): four values per step where the zero point is folded (GCC only: clang lacks the
 * registers), else two. */
#define PM_ARM_REQUANT_VALUE(x, add_offset)                                                       \
  "and %[lo], %[" x "], #0x80000000\n\t"                                                         \
  "adds %[lo], %[lo], %[rl]\n\t"                                                                 \
  "adc %[hi], %[rh], %[" x "], asr #31\n\t"                                                      \
  "smlal %[lo], %[hi], %[" x "], %[q]\n\t"                                                       \
  "asr %[hi], %[hi], %[sh]\n\t" add_offset                                                       \
  "ssat %[hi], #8, %[hi]\n\t"                                                                    \
  "strb %[hi], [%[out]]\n\t"                                                                     \
  "add %[out], %[out], %[stride]\n\t"
#define PM_ARM_REQUANT_PAIR(add_offset)                                                          \
  "ldr %[x0], [%[acc]], #8\n\t"                                                                  \
  "ldr %[x1], [%[acc], #-4]\n\t" PM_ARM_REQUANT_VALUE("x0", add_offset) PM_ARM_REQUANT_VALUE("x1", add_offset)
/* the folded-offset pair: both results kept (x0, hi) so the two stores pipeline */
#define PM_ARM_REQUANT_PAIR_FOLDED                                                               \
  "ldr %[x0], [%[acc]], #8\n\t"                                                                  \
  "ldr %[x1], [%[acc], #-4]\n\t" PM_ARM_REQUANT_PAIR_FOLDED_BODY
#define PM_ARM_REQUANT_PAIR_FOLDED_BODY                                                          \
  "and %[lo], %[x0], #0x80000000\n\t"                                                            \
  "adds %[lo], %[lo], %[rl]\n\t"                                                                 \
  "adc %[hi], %[rh], %[x0], asr #31\n\t"                                                         \
  "smlal %[lo], %[hi], %[x0], %[q]\n\t"                                                          \
  "asr %[x0], %[hi], %[sh]\n\t"                                                                  \
  "and %[lo], %[x1], #0x80000000\n\t"                                                            \
  "adds %[lo], %[lo], %[rl]\n\t"                                                                 \
  "adc %[hi], %[rh], %[x1], asr #31\n\t"                                                         \
  "smlal %[lo], %[hi], %[x1], %[q]\n\t"                                                          \
  "asr %[hi], %[hi], %[sh]\n\t"                                                                  \
  "ssat %[x0], #8, %[x0]\n\t"                                                                    \
  "ssat %[hi], #8, %[hi]\n\t"                                                                    \
  "strb %[x0], [%[out]]\n\t"                                                                     \
  "strb %[hi], [%[out], %[stride]]\n\t"                                                          \
  "add %[out], %[out], %[stride], lsl #1\n\t"

#define PM_ARM_REQUANT_LOOP(add_offset)                                                          \
  "tst %[n], #1\n\t"                                                                             \
  "beq 2f\n\t"                                                                                   \
  "ldr %[x0], [%[acc]], #4\n\t" PM_ARM_REQUANT_VALUE("x0", add_offset)                            \
  "2:\n\t"                                                                                       \
  "lsrs %[n], %[n], #1\n\t"                                                                      \
  "beq 3f\n"                                                                                      \
  "1:\n\t" PM_ARM_REQUANT_PAIR(add_offset)                                                       \
  "subs %[n], %[n], #1\n\t"                                                                      \
  "bne 1b\n"                                                                                      \
  "3:\n"

PM_ARM_INLINE void requant_row(const int32_t *acc, int32_t n, const int32_t *c, int32_t offset, int32_t lo,
                               int32_t hi, int8_t *out, int32_t stride, int full) {
  const int32_t multiplier = c[1], round_hi = c[3], shift = c[4];
  const uint32_t round_lo = (uint32_t)c[2];
#if defined(__OPTIMIZE__)
  if (full && n > 0) {
    int32_t x0, x1, t_lo, t_hi;
#if !defined(__clang__) /* clang lacks the registers of the four-value loop: the general one runs */
    if (offset == 0) { /* the zero point is folded into round */
      int32_t x2, x3; /* the odd value, an odd pair, then four values per step */
      __asm__ volatile("tst %[n], #1\n\t"
                       "beq 2f\n\t"
                       "ldr %[x0], [%[acc]], #4\n\t" PM_ARM_REQUANT_VALUE("x0", "")
                       "2:\n\t"
                       "tst %[n], #2\n\t"
                       "beq 3f\n\t" PM_ARM_REQUANT_PAIR_FOLDED
                       "3:\n\t"
                       "lsrs %[n], %[n], #2\n\t"
                       "beq 4f\n"
                       "1:\n\t"
                       "ldr %[x0], [%[acc]], #16\n\t"
                       "ldr %[x1], [%[acc], #-12]\n\t"
                       "ldr %[x2], [%[acc], #-8]\n\t"
                       "ldr %[x3], [%[acc], #-4]\n\t" PM_ARM_REQUANT_ASM("x0", "x0") PM_ARM_REQUANT_ASM("x1", "x1")
                       PM_ARM_REQUANT_ASM("x2", "x2") PM_ARM_REQUANT_ASM("x3", "x3")
                       "strb %[x0], [%[out]]\n\t"
                       "strb %[x1], [%[out], %[stride]]\n\t"
                       "strb %[x2], [%[out], %[stride], lsl #1]\n\t"
                       "add %[out], %[out], %[stride], lsl #1\n\t"
                       "strb %[x3], [%[out], %[stride]]\n\t"
                       "add %[out], %[out], %[stride], lsl #1\n\t"
                       "subs %[n], %[n], #1\n\t"
                       "bne 1b\n"
                       "4:\n"
                       : [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3), [lo] "=&r"(t_lo),
                         [hi] "=&r"(t_hi), [acc] "+r"(acc), [out] "+r"(out), [n] "+r"(n)
                       : [rl] "r"(round_lo), [rh] "r"(round_hi), [q] "r"(multiplier), [sh] "r"(shift),
                         [stride] "r"(stride)
                       : "cc", "memory");
    } else
#endif
    {
      __asm__ volatile(PM_ARM_REQUANT_LOOP("add %[hi], %[hi], %[offset]\n\t")
                       : [x0] "=&r"(x0), [x1] "=&r"(x1), [lo] "=&r"(t_lo), [hi] "=&r"(t_hi), [acc] "+r"(acc),
                         [out] "+r"(out), [n] "+r"(n)
                       : [rl] "r"(round_lo), [rh] "r"(round_hi), [q] "r"(multiplier), [sh] "r"(shift),
                         [offset] "r"(offset), [stride] "r"(stride)
                       : "cc", "memory");
    }
    return;
  }
#endif
  {
    const int32_t *end = acc + n;
    for (; acc < end; ++acc, out += stride) {
      int32_t v = __ssat(pm_arm_requant(*acc, multiplier, round_lo, round_hi, shift) + offset, 8);
      if (!full) v = pm_arm_clamp(v, lo, hi);
      *out = (int8_t)v;
    }
  }
}

static void requant_row_full(const int32_t *acc, int32_t n, const int32_t *c, int32_t offset, int32_t lo,
                             int32_t hi, int8_t *out, int32_t stride) {
  requant_row(acc, n, c, offset, lo, hi, out, stride, 1);
}

static void requant_row_clamped(const int32_t *acc, int32_t n, const int32_t *c, int32_t offset, int32_t lo,
                                int32_t hi, int8_t *out, int32_t stride) {
  requant_row(acc, n, c, offset, lo, hi, out, stride, 0);
}

/* -- 3x3, depth multiplier 1: channel pairs (PM_ARM_DW_PAIRS) ----------------------------- */

/* Input row `src` (in_w pixels of in_c channels) into a row of the scratch: pair q of channels
 * 2q, 2q + 1 is 2 * row_len bytes, the two channels' bytes per column, the input from column
 * pad_w on. Two pixels at a time (two words in, a word to each of two pairs, per four
 * channels), then the odd last pixel; channels inner (eight per step) where there are more
 * than 16 of them, else pixels inner (the per-pass work is then paid fewer times). */
static void pair_row(const pm_depthwise_conv_s8_arm_params *p, const int8_t *src, int8_t *row) {
  const int32_t in_c = p->w.in_c, pair_bytes = 2 * p->row_len;
  const int8_t *end = src + p->w.in_w * in_c;
  int8_t *col = row + 2 * p->w.pad_w;
  int32_t q, x;
  if (in_c <= 16) { /* few channels: pixels inner, four channels per pass */
    const int32_t in_w = p->w.in_w;
    for (q = 0; q < in_c; q += 4, src += 4, col += 2 * pair_bytes) {
      const int8_t *s = src;
      for (x = 0; x + 2 <= in_w; x += 2, s += 2 * in_c) {
        const uint32_t a = (uint32_t)pm_arm_load32(s), b = (uint32_t)pm_arm_load32(s + in_c);
        store32(col + 2 * x, pm_arm_pack_bottoms(a, b));
        store32(col + pair_bytes + 2 * x, pm_arm_pack_tops(a, b));
      }
      if (x < in_w) memcpy(col + 2 * x, s, 2), memcpy(col + pair_bytes + 2 * x, s + 2, 2);
    }
    return;
  }
  for (; src + 2 * in_c <= end; src += 2 * in_c, col += 4) {
    const int8_t *s = src, *last = src + in_c;
    int8_t *d = col;
    if (in_c % 8 == 4) { /* then eight channels per step (the loads pipeline) */
      const uint32_t a = (uint32_t)pm_arm_load32(s), b = (uint32_t)pm_arm_load32(s + in_c);
      store32(d, pm_arm_pack_bottoms(a, b));
      store32(d + pair_bytes, pm_arm_pack_tops(a, b));
      s += 4, d += 2 * pair_bytes;
    }
    for (; s < last; s += 8, d += 4 * pair_bytes) {
      const uint32_t a = (uint32_t)pm_arm_load32(s), b = (uint32_t)pm_arm_load32(s + in_c);
      const uint32_t e = (uint32_t)pm_arm_load32(s + 4), f = (uint32_t)pm_arm_load32(s + 4 + in_c);
      store32(d, pm_arm_pack_bottoms(a, b));
      store32(d + pair_bytes, pm_arm_pack_tops(a, b));
      store32(d + 2 * pair_bytes, pm_arm_pack_bottoms(e, f));
      store32(d + 3 * pair_bytes, pm_arm_pack_tops(e, f));
    }
  }
  for (; src < end; src += 2, col += pair_bytes) memcpy(col, src, 2); /* the odd last pixel */
}

/* One kernel row of a step, stride 1: ldr A = columns (x, x + 1), B = (x + 1, x + 2), then
 * A = (x + 2, x + 3) of both channels; the weights' stream gives (w0, w1) of c, of c + 1, and
 * (w2 of c, w2 of c + 1). a0/b0: channel c at columns x / x + 1, a1/b1: channel c + 1. */
#define PM_ARM_PAIR_ROW_S1(r)                                                                   \
  "ldr %[A], [%[" r "]], #4\n\t"                                                                \
  "ldr %[B], [%[" r "], #-2]\n\t"                                                               \
  "ldr %[W], [%[w]], #4\n\t"                                                                    \
  "sxtb16 %[T], %[A]\n\t"                                                                       \
  "smlad %[a0], %[T], %[W], %[a0]\n\t"                                                          \
  "sxtb16 %[T], %[B]\n\t"                                                                       \
  "smlad %[b0], %[T], %[W], %[b0]\n\t"                                                          \
  "ldr %[W], [%[w]], #4\n\t"                                                                    \
  "sxtb16 %[A], %[A], ror #8\n\t"                                                               \
  "smlad %[a1], %[A], %[W], %[a1]\n\t"                                                          \
  "sxtb16 %[B], %[B], ror #8\n\t"                                                               \
  "smlad %[b1], %[B], %[W], %[b1]\n\t"                                                          \
  "ldr %[A], [%[" r "]]\n\t"                                                                    \
  "ldr %[W], [%[w]], #4\n\t"                                                                    \
  "sxtb16 %[T], %[A]\n\t"                                                                       \
  "smlabb %[a0], %[T], %[W], %[a0]\n\t"                                                         \
  "smlatb %[b0], %[T], %[W], %[b0]\n\t"                                                         \
  "sxtb16 %[A], %[A], ror #8\n\t"                                                               \
  "smlabt %[a1], %[A], %[W], %[a1]\n\t"                                                         \
  "smlatt %[b1], %[A], %[W], %[b1]\n\t"

/* Stride 2: A = columns (2x, 2x + 1), B = (2x + 2, 2x + 3), then A = (2x + 4, 2x + 5); the
 * stream gives (w0, w1) of c, the w2 word, (w0, w1) of c + 1, the w2 word. */
#define PM_ARM_PAIR_ROW_S2(r)                                                                   \
  "ldr %[A], [%[" r "]], #8\n\t"                                                                \
  "ldr %[B], [%[" r "], #-4]\n\t"                                                               \
  "ldr %[W], [%[w]], #4\n\t"                                                                    \
  "sxtb16 %[T], %[A]\n\t"                                                                       \
  "smlad %[a0], %[T], %[W], %[a0]\n\t"                                                          \
  "sxtb16 %[T], %[B]\n\t"                                                                       \
  "smlad %[b0], %[T], %[W], %[b0]\n\t"                                                          \
  "ldr %[W], [%[w]], #4\n\t"                                                                    \
  "smlabb %[a0], %[T], %[W], %[a0]\n\t"                                                         \
  "sxtb16 %[T], %[B], ror #8\n\t"                                                               \
  "smlabt %[a1], %[T], %[W], %[a1]\n\t"                                                         \
  "ldr %[W], [%[w]], #4\n\t"                                                                    \
  "sxtb16 %[A], %[A], ror #8\n\t"                                                               \
  "smlad %[a1], %[A], %[W], %[a1]\n\t"                                                          \
  "smlad %[b1], %[T], %[W], %[b1]\n\t"                                                          \
  "ldr %[A], [%[" r "]]\n\t"                                                                    \
  "ldr %[W], [%[w]], #4\n\t"                                                                    \
  "sxtb16 %[T], %[A]\n\t"                                                                       \
  "smlabb %[b0], %[T], %[W], %[b0]\n\t"                                                         \
  "sxtb16 %[A], %[A], ror #8\n\t"                                                               \
  "smlabt %[b1], %[A], %[W], %[b1]\n\t"

#define PM_ARM_PAIR_STEP(row, words)                                                            \
  "1:\n\t"                                                                                      \
  "ldrd %[a0], %[a1], [%[w]], #8\n\t"                                                           \
  "mov %[b0], %[a0]\n\t"                                                                        \
  "mov %[b1], %[a1]\n\t" row("r0") row("r1") row("r2")                                          \
  "sub %[w], %[w], #" words "\n\t"                                                              \
  "strd %[a0], %[b0], [%[acc]], #8\n\t"                                                         \
  "strd %[a1], %[b1], [%[acc]], #8\n\t"                                                         \
  "ldr %[T], %[end]\n\t"                                                                        \
  "cmp %[acc], %[T]\n\t"                                                                        \
  "blo 1b\n"

/* The sums of one output row of the channel pair whose input rows are r0, r1, r2 (at the first
 * output's first column) and weight stream w: `steps` column pairs into acc (4 words each). */
PM_ARM_INLINE void pair_sums(const int8_t *r0, const int8_t *r1, const int8_t *r2, const int32_t *w, int32_t *acc,
                      int32_t steps, int32_t stride) {
#if defined(__OPTIMIZE__) && !defined(__clang__) /* clang keeps a frame pointer and lacks the registers */
  const int32_t *end = acc + 4 * steps;
  int32_t a0, a1, b0, b1, A, B, T, W;
  if (stride == 1) {
    __asm__ volatile(PM_ARM_PAIR_STEP(PM_ARM_PAIR_ROW_S1, "44")
                     : [a0] "=&r"(a0), [a1] "=&r"(a1), [b0] "=&r"(b0), [b1] "=&r"(b1), [A] "=&r"(A), [B] "=&r"(B),
                       [T] "=&r"(T), [W] "=&r"(W), [r0] "+r"(r0), [r1] "+r"(r1), [r2] "+r"(r2), [w] "+r"(w),
                       [acc] "+r"(acc)
                     : [end] "m"(end)
                     : "cc", "memory");
  } else {
    __asm__ volatile(PM_ARM_PAIR_STEP(PM_ARM_PAIR_ROW_S2, "56")
                     : [a0] "=&r"(a0), [a1] "=&r"(a1), [b0] "=&r"(b0), [b1] "=&r"(b1), [A] "=&r"(A), [B] "=&r"(B),
                       [T] "=&r"(T), [W] "=&r"(W), [r0] "+r"(r0), [r1] "+r"(r1), [r2] "+r"(r2), [w] "+r"(w),
                       [acc] "+r"(acc)
                     : [end] "m"(end)
                     : "cc", "memory");
  }
#else
  const int8_t *rows[3];
  int32_t step, j, ch, f, fx;
  rows[0] = r0, rows[1] = r1, rows[2] = r2;
  for (step = 0; step < steps; ++step, acc += 4) {
    for (ch = 0; ch < 2; ++ch) {
      for (j = 0; j < 2; ++j) { /* output column 2 step + j of channel ch */
        int32_t sum = w[ch];
        for (f = 0; f < 3; ++f) {
          const int32_t *k = w + 2 + f * (stride == 1 ? 3 : 4);
          for (fx = 0; fx < 3; ++fx) {
            const int32_t col = (2 * step + j) * stride + fx;
            const int32_t word = fx < 2 ? k[stride == 1 ? ch : 2 * ch] : k[stride == 1 ? 2 : 1];
            const int32_t half = fx < 2 ? fx : ch;
            sum += rows[f][2 * col + ch] * (int16_t)((uint32_t)word >> (16 * half));
          }
        }
        acc[2 * ch + j] = sum;
      }
    }
  }
#endif
}

/* The output stage of one channel's row from the pair sums a (column x at a[4 (x / 2) + x % 2])
 * to out[x * stride], x < n, full int8 range (PM_ARM_REQUANT_ASM, shared with the other DSP
 * kernels): two columns per step, then the odd last one. `folded` (a constant where inlined):
 * the output offset is 0. */
PM_ARM_INLINE void requant_pair_channel(const int32_t *a, int32_t n, const int32_t *c, int32_t offset, int8_t *out,
                                        int32_t stride, int folded) {
#if defined(__OPTIMIZE__)
  int32_t x0, x1, q, rl, rh, sh, hi;
#define PM_ARM_PAIR_CHANNEL(requant)                                                             \
  "ldr %[q], [%[lo], #4]\n\t"                                                                    \
  "ldr %[rl], [%[lo], #8]\n\t"                                                                   \
  "ldr %[rh], [%[lo], #12]\n\t"                                                                  \
  "ldr %[sh], [%[lo], #16]\n\t"                                                                  \
  "lsrs %[n], %[n], #1\n\t"                                                                      \
  "bcc 2f\n\t" /* odd n: the last column first, at a + 16 (n / 2), out + 2 (n / 2) stride */    \
  "add %[x1], %[a], %[n], lsl #4\n\t"                                                            \
  "ldr %[x0], [%[x1]]\n\t" requant("x0", "x0")                                                   \
  "mul %[x1], %[n], %[stride]\n\t"                                                               \
  "strb %[x0], [%[out], %[x1], lsl #1]\n"                                                        \
  "2:\n\t"                                                                                      \
  "cbz %[n], 3f\n"                                                                              \
  "1:\n\t"                                                                                      \
  "ldrd %[x0], %[x1], [%[a]], #16\n\t" requant("x0", "x0") requant("x1", "x1")                   \
  "strb %[x0], [%[out]]\n\t"                                                                     \
  "strb %[x1], [%[out], %[stride]]\n\t"                                                          \
  "add %[out], %[out], %[stride], lsl #1\n\t"                                                    \
  "subs %[n], %[n], #1\n\t"                                                                      \
  "bne 1b\n"                                                                                    \
  "3:\n"
  if (folded) {
    __asm__ volatile(PM_ARM_PAIR_CHANNEL(PM_ARM_REQUANT_ASM)
                     : [x0] "=&r"(x0), [x1] "=&r"(x1), [q] "=&r"(q), [rl] "=&r"(rl), [rh] "=&r"(rh), [sh] "=&r"(sh),
                       [hi] "=&r"(hi), [lo] "+r"(c), [a] "+r"(a), [out] "+r"(out), [n] "+l"(n)
                     : [stride] "r"(stride)
                     : "cc", "memory");
  } else {
    __asm__ volatile(PM_ARM_PAIR_CHANNEL(PM_ARM_REQUANT_OFFSET_ASM)
                     : [x0] "=&r"(x0), [x1] "=&r"(x1), [q] "=&r"(q), [rl] "=&r"(rl), [rh] "=&r"(rh), [sh] "=&r"(sh),
                       [hi] "=&r"(hi), [lo] "+r"(c), [a] "+r"(a), [out] "+r"(out), [n] "+l"(n)
                     : [stride] "r"(stride), [offset] "r"(offset)
                     : "cc", "memory");
  }
#undef PM_ARM_PAIR_CHANNEL
#else
  int32_t x;
  (void)folded;
  for (x = 0; x < n; ++x, out += stride) {
    *out = (int8_t)__ssat(pm_arm_requant(a[4 * (x / 2) + x % 2], c[1], (uint32_t)c[2], c[3], c[4]) + offset, 8);
  }
#endif
}

/* One output row of every channel from the pair rows' sums (acc: channel pair j's at
 * acc + 4 j steps; column x of channel 2 j + h at [4 (x / 2) + 2 h + x % 2]): channel by
 * channel, its constants in registers (requant_pair_channel when the activation spans all of
 * int8). */
PM_ARM_INLINE void requant_pair_rows(const pm_depthwise_conv_s8_arm_params *p, const int32_t *acc, int32_t steps,
                                     int8_t *out, int full) {
  const int32_t n = p->w.out_w, stride = p->w.out_c, offset = p->output_offset;
  const int32_t lo = p->act_min, hi = p->act_max;
  const int32_t *c = p->channels, *end = c + p->w.out_c * PM_ARM_CHANNEL_WORDS;
  int32_t x, h;
  if (full) {
    for (; c < end; c += 2 * PM_ARM_CHANNEL_WORDS, out += 2, acc += 4 * steps) {
      if (offset == 0 && !PM_ARM_DW_FUSED) { /* (fused builds run these rows in pm_dw_pair_rows_*) */
        requant_pair_channel(acc, n, c, 0, out, stride, 1);
        requant_pair_channel(acc + 2, n, c + PM_ARM_CHANNEL_WORDS, 0, out + 1, stride, 1);
      } else {
        requant_pair_channel(acc, n, c, offset, out, stride, 0);
        requant_pair_channel(acc + 2, n, c + PM_ARM_CHANNEL_WORDS, offset, out + 1, stride, 0);
      }
    }
    return;
  }
  for (; c < end; c += 2 * PM_ARM_CHANNEL_WORDS, out += 2, acc += 4 * steps) {
    for (h = 0; h < 2; ++h) {
      const int32_t *r = c + h * PM_ARM_CHANNEL_WORDS;
      int8_t *o = out + h;
      for (x = 0; x < n; ++x, o += stride) {
        const int32_t v = pm_arm_requant(acc[4 * (x / 2) + 2 * h + x % 2], r[1], (uint32_t)r[2], r[3], r[4]);
        *o = (int8_t)pm_arm_clamp(__ssat(v + offset, 8), lo, hi);
      }
    }
  }
}

static void requant_pair_rows_full(const pm_depthwise_conv_s8_arm_params *p, const int32_t *acc, int32_t steps,
                                   int8_t *out) {
  requant_pair_rows(p, acc, steps, out, 1);
}

static void requant_pair_rows_clamped(const pm_depthwise_conv_s8_arm_params *p, const int32_t *acc, int32_t steps,
                                      int8_t *out) {
  requant_pair_rows(p, acc, steps, out, 0);
}

/* -- the pairs kernel's fused rows (GCC, optimised builds) --------------------------------- */

#if PM_ARM_DW_FUSED
/* A band of output rows of every channel pair, sums and output stage in one assembly routine
 * (the activation spans all of int8 and the output zero point is folded: SSAT #8 is the clamp
 * and no offset is added). Per pair: the PM_ARM_PAIR_STEP loop into acc row by row (the row's
 * end in LR, not in memory; the weights at fixed offsets; the four sums of a step stored with
 * one STM, so channel c's columns come first), then each of the two channels' output stage
 * over the band with its constants in registers (two columns per step, then the odd last one
 * of a one-row band), then the pointers move to the next pair. The routine keeps the job on
 * the stack and updates it in place. Registers: r0-r3 sums, r4-r7 input and weight words,
 * r8-r10 the input rows, r11 the weight stream, r12 acc (MAC loop); r4-r7 multiplier,
 * round_lo, round_hi, shift, r8/r9 the 64-bit sum, r10/r11 two values, r0 acc, r1 out, r2 the
 * output stride, r3 a count (output stage). */
typedef struct {
  const int8_t *r0, *r1, *r2; /* 0, 4, 8: the pair's input rows for the band's first output row */
  const int32_t *w;           /* 12: the pair's weight stream */
  int32_t *acc, *acc_end;     /* 16, 20: 4 int32 sums per step, and the band's end */
  const int32_t *channels;    /* 24: the pair's two output-stage records */
  int8_t *out;                /* 28: channel c's output at column 0 */
  int32_t out_stride;         /* 32: out_c */
  int32_t pair_bytes;         /* 36: row bytes from one pair to the next */
  int32_t half, odd;          /* 40, 44: column pairs of the rows' outputs, and out_w % 2 (then one row) */
  int32_t pairs;              /* 48: channel pairs (left) */
  int32_t row_skip;           /* 52: bytes from a row's end (after its steps) to the next output row's */
  int32_t row_sums;           /* 56: sum bytes of one output row (16 per step) */
} pm_dw_pair_job;

void pm_dw_pair_rows_s1(pm_dw_pair_job *job);
void pm_dw_pair_rows_s2(pm_dw_pair_job *job);

__asm__(
    ".syntax unified\n\t"
    ".thumb\n\t"
    /* one kernel row of a stride-1 step (PM_ARM_PAIR_ROW_S1 with fixed registers: r0/r1 channel c
     * at columns x / x + 1, r2/r3 channel c + 1, the row's weights at [r11, #o]) */
    ".macro pm_dw_row_s1 r, o, first=0\n\t" /* first: r1, r3 start from the biases in r0, r2 */
    "ldr r4, [\\r], #4\n\t"
    "ldr r5, [\\r, #-2]\n\t"
    "ldr r7, [r11, #\\o]\n\t"
    ".if \\first\n\t"
    "sxtb16 r6, r5\n\t"
    "smlad r1, r6, r7, r0\n\t"
    "sxtb16 r6, r4\n\t"
    "smlad r0, r6, r7, r0\n\t"
    "ldr r7, [r11, #(\\o + 4)]\n\t"
    "sxtb16 r5, r5, ror #8\n\t"
    "smlad r3, r5, r7, r2\n\t"
    "sxtb16 r4, r4, ror #8\n\t"
    "smlad r2, r4, r7, r2\n\t"
    ".else\n\t"
    "sxtb16 r6, r4\n\t"
    "smlad r0, r6, r7, r0\n\t"
    "sxtb16 r6, r5\n\t"
    "smlad r1, r6, r7, r1\n\t"
    "ldr r7, [r11, #(\\o + 4)]\n\t"
    "sxtb16 r4, r4, ror #8\n\t"
    "smlad r2, r4, r7, r2\n\t"
    "sxtb16 r5, r5, ror #8\n\t"
    "smlad r3, r5, r7, r3\n\t"
    ".endif\n\t"
    "ldr r4, [\\r]\n\t"
    "ldr r7, [r11, #(\\o + 8)]\n\t"
    "sxtb16 r6, r4\n\t"
    "smlabb r0, r6, r7, r0\n\t"
    "smlatb r1, r6, r7, r1\n\t"
    "sxtb16 r4, r4, ror #8\n\t"
    "smlabt r2, r4, r7, r2\n\t"
    "smlatt r3, r4, r7, r3\n\t"
    ".endm\n\t"
    /* stride 2 (PM_ARM_PAIR_ROW_S2) */
    ".macro pm_dw_row_s2 r, o, first=0\n\t" /* (no first form: the step copies the biases) */
    "ldr r4, [\\r], #8\n\t"
    "ldr r5, [\\r, #-4]\n\t"
    "ldr r7, [r11, #\\o]\n\t"
    "sxtb16 r6, r4\n\t"
    "smlad r0, r6, r7, r0\n\t"
    "sxtb16 r6, r5\n\t"
    "smlad r1, r6, r7, r1\n\t"
    "ldr r7, [r11, #(\\o + 4)]\n\t"
    "smlabb r0, r6, r7, r0\n\t"
    "sxtb16 r6, r5, ror #8\n\t"
    "smlabt r2, r6, r7, r2\n\t"
    "ldr r7, [r11, #(\\o + 8)]\n\t"
    "sxtb16 r4, r4, ror #8\n\t"
    "smlad r2, r4, r7, r2\n\t"
    "smlad r3, r6, r7, r3\n\t"
    "ldr r4, [\\r]\n\t"
    "ldr r7, [r11, #(\\o + 12)]\n\t"
    "sxtb16 r6, r4\n\t"
    "smlabb r1, r6, r7, r1\n\t"
    "sxtb16 r4, r4, ror #8\n\t"
    "smlabt r3, r4, r7, r3\n\t"
    ".endm\n\t"
    /* x through the output stage (PM_ARM_REQUANT_ASM), saturated into x */
    ".macro pm_dw_requant x\n\t"
    "and r8, \\x, #0x80000000\n\t"
    "adds r8, r8, r5\n\t"
    "adc r9, r6, \\x, asr #31\n\t"
    "smlal r8, r9, \\x, r4\n\t"
    "asr \\x, r9, r7\n\t"
    "ssat \\x, #8, \\x\n\t"
    ".endm\n\t"
    /* two columns of one channel: r0 the sums, r1 the outputs, both advanced */
    ".macro pm_dw_two\n\t"
    "ldrd r10, r11, [r0], #16\n\t"
    "pm_dw_requant r10\n\t"
    "pm_dw_requant r11\n\t"
    "strb r10, [r1]\n\t"
    "strb r11, [r1, r2]\n\t"
    "add r1, r1, r2, lsl #1\n\t"
    ".endm\n\t"
    /* one channel's output row: r0 its first sum, r1 its first output, constants at [r12, #rec] */
    ".macro pm_dw_channel rec\n\t"
    "ldrd r4, r5, [r12, #(\\rec + 4)]\n\t"
    "ldrd r6, r7, [r12, #(\\rec + 12)]\n\t"
    "ldr r3, [lr, #40]\n\t"
    "lsrs r3, r3, #1\n\t" /* an odd column pair first, then two pairs per step */
    "bcc 6f\n\t"
    "pm_dw_two\n"
    "6:\n\t"
    "cmp r3, #0\n\t"
    "beq 3f\n"
    "2:\n\t"
    "pm_dw_two\n\t"
    "pm_dw_two\n\t"
    "subs r3, r3, #1\n\t"
    "bne 2b\n"
    "3:\n\t"
    "ldr r3, [lr, #44]\n\t"
    "cbz r3, 4f\n\t"
    "ldr r10, [r0]\n\t"
    "pm_dw_requant r10\n\t"
    "strb r10, [r1]\n"
    "4:\n\t"
    ".endm\n\t"
    ".macro pm_dw_pair_rows name, row, words, first\n\t"
    ".pushsection .text.\\name, \"ax\", %progbits\n\t"
    ".p2align 2\n\t"
    ".global \\name\n\t"
    ".thumb_func\n\t"
    ".type \\name, %function\n"
    "\\name:\n\t"
    "push {r4-r11, lr}\n\t"
    "push {r0}\n"
    "1:\n\t"
    "ldr r12, [sp]\n\t"
    "ldm r12, {r8-r11}\n\t"
    "ldr lr, [r12, #56]\n\t"
    "ldr r12, [r12, #16]\n\t"
    "add lr, lr, r12\n"
    "5:\n\t"
    "ldrd r0, r2, [r11]\n\t"
    ".if !\\first\n\t"
    "mov r1, r0\n\t"
    "mov r3, r2\n\t"
    ".endif\n\t"
    "\\row r8, 8, \\first\n\t"
    "\\row r9, (8 + (\\words - 8) / 3)\n\t"
    "\\row r10, (8 + 2 * (\\words - 8) / 3)\n\t"
    "stmia r12!, {r0-r3}\n\t"
    "cmp r12, lr\n\t"
    "blo 5b\n\t"
    "ldr lr, [sp]\n\t" /* a row done: the next row's, if any */
    "ldr r4, [lr, #20]\n\t"
    "cmp r12, r4\n\t"
    "bhs 7f\n\t"
    "ldr r4, [lr, #52]\n\t"
    "add r8, r8, r4\n\t"
    "add r9, r9, r4\n\t"
    "add r10, r10, r4\n\t"
    "ldr r4, [lr, #56]\n\t"
    "add lr, r12, r4\n\t"
    "b 5b\n"
    "7:\n\t"
    "ldr r12, [lr, #24]\n\t"
    "ldr r2, [lr, #32]\n\t"
    "ldr r0, [lr, #16]\n\t"
    "ldr r1, [lr, #28]\n\t"
    "pm_dw_channel 0\n\t"
    "ldr r0, [lr, #16]\n\t"
    "ldr r1, [lr, #28]\n\t"
    "adds r0, r0, #8\n\t"
    "adds r1, r1, #1\n\t"
    "pm_dw_channel 20\n\t"
    "ldr r0, [lr, #36]\n\t"
    "ldm lr, {r1-r3}\n\t"
    "add r1, r1, r0\n\t"
    "add r2, r2, r0\n\t"
    "add r3, r3, r0\n\t"
    "stm lr, {r1-r3}\n\t"
    "ldr r0, [lr, #12]\n\t"
    "adds r0, r0, #\\words\n\t"
    "str r0, [lr, #12]\n\t"
    "ldr r0, [lr, #24]\n\t"
    "adds r0, r0, #40\n\t"
    "str r0, [lr, #24]\n\t"
    "ldr r0, [lr, #28]\n\t"
    "adds r0, r0, #2\n\t"
    "str r0, [lr, #28]\n\t"
    "ldr r0, [lr, #48]\n\t"
    "subs r0, r0, #1\n\t"
    "str r0, [lr, #48]\n\t"
    "bne 1b\n\t"
    "add sp, sp, #4\n\t"
    "pop {r4-r11, pc}\n\t"
    ".size \\name, . - \\name\n\t"
    ".popsection\n\t"
    ".endm\n\t"
    "pm_dw_pair_rows pm_dw_pair_rows_s1, pm_dw_row_s1, 44, 1\n\t"
    "pm_dw_pair_rows pm_dw_pair_rows_s2, pm_dw_row_s2, 56, 0\n");
#endif

/* The pairs kernel: per band of output rows, the input rows it reads are copied into the
 * scratch (padding rows: zero points; rows the last band read too are moved down), then each
 * channel pair's sums and output stage over the band (several rows only where out_w is even:
 * the band's sums and outputs are then one run of column pairs). The padding columns hold zero
 * points from the start and are never written. */
static void depthwise_pairs(const pm_depthwise_conv_s8_arm_params *p, const int8_t *input, const int32_t *weights,
                            int8_t *output, int8_t *rows) {
  const pm_arm_window *g = &p->w;
  const int32_t sh = g->stride_h, dh = g->dilation_h, band = p->band;
  const int32_t span = (band - 1) * sh + 2 * dh + 1, row_bytes = g->in_c * p->row_len;
  const int32_t words = g->stride_w == 1 ? PM_ARM_DW_PAIR_WORDS_S1 : PM_ARM_DW_PAIR_WORDS_S2;
  const int32_t steps = (g->out_w + 1) / 2, keep = span - band * sh; /* rows two bands share */
  const int ring = band == 1; /* one output row per band: a ring of rows (each copied once, none moved) */
  int32_t *acc = (int32_t *)(rows + span * row_bytes);
  void (*requant)(const pm_depthwise_conv_s8_arm_params *, const int32_t *, int32_t, int8_t *) =
      p->act_min == -128 && p->act_max == 127 ? requant_pair_rows_full : requant_pair_rows_clamped;
  int32_t b, oy, r, j;
#if PM_ARM_DW_FUSED
  const int fused = p->act_min == -128 && p->act_max == 127 && p->output_offset == 0;
#endif
  int32_t used = 0; /* slots written since this memset (the others hold zero points throughout) */
  memset(rows, p->input_zero_point, (size_t)(span * row_bytes)); /* the padding columns */
  for (b = 0; b < g->batches; ++b) {
    const int8_t *image = input + b * g->in_h * g->in_w * g->in_c;
    int8_t *out = output + b * g->out_h * g->out_w * g->out_c;
    int32_t next = -g->pad_h; /* the first input row not copied yet */
    for (oy = 0; oy < g->out_h; oy += band, out += band * g->out_w * g->out_c) {
      const int32_t n = g->out_h - oy < band ? g->out_h - oy : band; /* output rows */
      const int32_t iy0 = oy * sh - g->pad_h, read = (n - 1) * sh + 2 * dh + 1;
      const int8_t *r0, *r1, *r2;
      int32_t iy = iy0;
      if (ring) {
        iy = next > iy0 ? next : iy0;
      } else if (oy > 0 && keep > 0) { /* words down (no memmove: it would add to the code) */
        int32_t *to = (int32_t *)(void *)rows;
        const int32_t *from = (const int32_t *)(const void *)(rows + band * sh * row_bytes);
        for (j = 0; j < keep * row_bytes / 4; ++j) to[j] = from[j];
        iy = iy0 + keep;
      }
      for (; iy < iy0 + read; ++iy) {
        const int32_t k = ring ? (iy + g->pad_h) % span : iy - iy0; /* the row's slot */
        if (iy < 0 || iy >= g->in_h) {
          if (k < used) memset(rows + k * row_bytes, p->input_zero_point, (size_t)row_bytes); /* else still so */
        } else {
          pair_row(p, image + iy * g->in_w * g->in_c, rows + k * row_bytes);
        }
        used = used > k ? used : k + 1;
      }
      next = iy0 + read;
      r0 = rows + (ring ? (iy0 + g->pad_h) % span : 0) * row_bytes;
      r1 = rows + (ring ? (iy0 + g->pad_h + dh) % span : dh) * row_bytes;
      r2 = rows + (ring ? (iy0 + g->pad_h + 2 * dh) % span : 2 * dh) * row_bytes;
#if PM_ARM_DW_FUSED
      if (fused) {
        pm_dw_pair_job job;
        job.r0 = r0, job.r1 = r1, job.r2 = r2, job.w = weights;
        job.acc = acc, job.acc_end = acc + 4 * steps * n;
        job.channels = p->channels, job.out = out, job.out_stride = g->out_c, job.pair_bytes = 2 * p->row_len;
        job.half = n * g->out_w / 2, job.odd = g->out_w % 2, job.pairs = g->in_c / 2;
        job.row_skip = sh * row_bytes - steps * 4 * g->stride_w, job.row_sums = 16 * steps;
        if (g->stride_w == 1) {
          pm_dw_pair_rows_s1(&job);
        } else {
          pm_dw_pair_rows_s2(&job);
        }
        continue;
      }
#endif
      for (r = 0; r < n; ++r) {
        const int32_t *w = weights;
        for (j = 0; j < g->in_c; j += 2, w += words) {
          const int32_t at = r * sh * row_bytes + j * p->row_len; /* the pair's row: 2 * row_len bytes */
          pair_sums(r0 + at, r1 + at, r2 + at, w, acc + j * 2 * steps, steps, g->stride_w);
        }
        requant(p, acc, steps, out + r * g->out_w * g->out_c);
      }
    }
  }
}

/* -- the kernel ----------------------------------------------------------------------------- */

/* The band's `rows` output rows of output channel o (out: its first output), from its plane:
 * all the sums, then the output stage over them (the band's outputs are out_w * rows pixels
 * in a row of the output, out_c apart). Not inlined: the assembly loops need its registers. */
PM_ARM_NOINLINE void channel_band(const pm_depthwise_conv_s8_arm_params *p, const int16_t *plane, const int32_t *ring,
                                  const int8_t *w, const int32_t *c, int32_t *acc, int8_t *out, int32_t rows) {
  const pm_arm_window *g = &p->w;
  void (*requant)(const int32_t *, int32_t, const int32_t *, int32_t, int32_t, int32_t, int8_t *, int32_t) =
      p->act_min == -128 && p->act_max == 127 ? requant_row_full : requant_row_clamped;
  if (g->kernel_h == 3 && g->kernel_w == 3 && g->dilation_w == 1 && g->stride_w <= 2) {
    int32_t k[5];
    k[0] = (int32_t)(((uint32_t)(uint16_t)w[1] << 16) | (uint16_t)w[0]);
    k[1] = (int32_t)(((uint32_t)(uint16_t)w[4] << 16) | (uint16_t)w[3]);
    k[2] = (int32_t)(((uint32_t)(uint16_t)w[7] << 16) | (uint16_t)w[6]);
    k[3] = (int32_t)(((uint32_t)(uint16_t)w[5] << 16) | (uint16_t)w[2]);
    k[4] = (uint16_t)w[8];
    if (g->stride_w == 1) {
      band_3x3_s1(p, plane, ring, k, c[0], acc, rows);
    } else {
      band_3x3_s2(p, plane, ring, k, c[0], acc, rows);
    }
  } else {
    band_any(p, plane, ring, w, c[0], acc, rows);
  }
  requant(acc, rows * g->out_w, c, p->output_offset, p->act_min, p->act_max, out, g->out_c);
}

/* -- small images: NHWC, four channels at a time ----------------------------------------- */

/* Four channels' sums over `taps` taps: x from tap pointers (plus c), weights [tap][in_c],
 * SXTB16 and SMLAxy on the halfword lanes. Assembly, three taps per loop pass when the count
 * allows (GCC spills the C version's pointers). */
#define PM_ARM_TAP4                                                                               \
  "ldr %[xe], [%[tap]], #4\n\t"                                                                  \
  "ldr %[v], [%[w]]\n\t"                                                                         \
  "ldr %[x], [%[xe], %[c]]\n\t"                                                                  \
  "add %[w], %[w], %[in_c]\n\t"                                                                  \
  "sxtb16 %[xe], %[x]\n\t"                                                                       \
  "sxtb16 %[x], %[x], ror #8\n\t"                                                                \
  "sxtb16 %[we], %[v]\n\t"                                                                       \
  "sxtb16 %[v], %[v], ror #8\n\t"                                                                \
  "smlabb %[a0], %[xe], %[we], %[a0]\n\t"                                                        \
  "smlatt %[a2], %[xe], %[we], %[a2]\n\t"                                                        \
  "smlabb %[a1], %[x], %[v], %[a1]\n\t"                                                          \
  "smlatt %[a3], %[x], %[v], %[a3]\n\t"

PM_ARM_INLINE void taps4(const int8_t *const *tap, int32_t taps, const int8_t *w, int32_t in_c, int32_t c,
                         int32_t *acc) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#if defined(__OPTIMIZE__)
  int32_t x, xe, v, we;
  if (taps % 3 == 0) {
    taps /= 3;
    __asm__ volatile("1:\n\t" PM_ARM_TAP4 PM_ARM_TAP4 PM_ARM_TAP4
                     "subs %[n], %[n], #1\n\t"
                     "bne 1b\n"
                     : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [tap] "+r"(tap), [w] "+r"(w),
                       [n] "+r"(taps), [x] "=&r"(x), [xe] "=&r"(xe), [v] "=&r"(v), [we] "=&r"(we)
                     : [in_c] "r"(in_c), [c] "r"(c)
                     : "cc", "memory");
  } else {
    __asm__ volatile("1:\n\t" PM_ARM_TAP4
                     "subs %[n], %[n], #1\n\t"
                     "bne 1b\n"
                     : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [tap] "+r"(tap), [w] "+r"(w),
                       [n] "+r"(taps), [x] "=&r"(x), [xe] "=&r"(xe), [v] "=&r"(v), [we] "=&r"(we)
                     : [in_c] "r"(in_c), [c] "r"(c)
                     : "cc", "memory");
  }
#else
  int32_t t;
  for (t = 0; t < taps; ++t, w += in_c) {
    const int32_t x = pm_arm_load32(tap[t] + c), v = pm_arm_load32(w);
    const int32_t xe = pm_arm_even(x), xo = pm_arm_odd(x), we = pm_arm_even(v), wo = pm_arm_odd(v);
    a0 = __smlabb(xe, we, a0), a2 = __smlatt(xe, we, a2);
    a1 = __smlabb(xo, wo, a1), a3 = __smlatt(xo, wo, a3);
  }
#endif
  acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

PM_ARM_INLINE int8_t direct_output(int32_t acc, const int32_t *rec, int32_t offset, int32_t lo, int32_t hi, int full) {
  const int32_t v = __ssat(pm_arm_requant(acc, rec[1], (uint32_t)rec[2], rec[3], rec[4]) + offset, 8);
  return (int8_t)(full ? v : pm_arm_clamp(v, lo, hi));
}

/* The direct kernel's loops (`full`: the activation spans all of int8, SSAT #8 clamps). */
PM_ARM_INLINE void direct(const pm_depthwise_conv_s8_arm_params *p, const int8_t *input, const int8_t *weights,
                          int8_t *output, const int8_t *zero_row, int full) {
  const pm_arm_window *g = &p->w;
  const int32_t in_c = g->in_c, taps = g->kernel_h * g->kernel_w;
  const int32_t offset = p->output_offset, lo = p->act_min, hi = p->act_max;
  const int8_t *tap[PM_ARM_DIRECT_TAPS];
  int32_t b, oy, ox, fy, fx, c;
  for (b = 0; b < g->batches; ++b) {
    const int8_t *image = input + b * g->in_h * g->in_w * in_c;
    for (oy = 0; oy < g->out_h; ++oy) {
      for (ox = 0; ox < g->out_w; ++ox, output += in_c) {
        const int32_t y0 = oy * g->stride_h - g->pad_h, x0 = ox * g->stride_w - g->pad_w;
        const int32_t *rec = p->channels;
          for (fy = 0; fy < g->kernel_h; ++fy) {
          const int32_t iy = y0 + fy * g->dilation_h;
          for (fx = 0; fx < g->kernel_w; ++fx) {
            const int32_t ix = x0 + fx * g->dilation_w;
            tap[fy * g->kernel_w + fx] =
                iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w ? image + (iy * g->in_w + ix) * in_c : zero_row;
          }
        }
        for (c = 0; c < in_c; c += 4, rec += 4 * PM_ARM_CHANNEL_WORDS) {
          int32_t acc[4];
          acc[0] = rec[0], acc[1] = rec[PM_ARM_CHANNEL_WORDS];
          acc[2] = rec[2 * PM_ARM_CHANNEL_WORDS], acc[3] = rec[3 * PM_ARM_CHANNEL_WORDS];
          taps4(tap, taps, weights + c, in_c, c, acc);
          output[c] = direct_output(acc[0], rec, offset, lo, hi, full);
          output[c + 1] = direct_output(acc[1], rec + PM_ARM_CHANNEL_WORDS, offset, lo, hi, full);
          output[c + 2] = direct_output(acc[2], rec + 2 * PM_ARM_CHANNEL_WORDS, offset, lo, hi, full);
          output[c + 3] = direct_output(acc[3], rec + 3 * PM_ARM_CHANNEL_WORDS, offset, lo, hi, full);
        }
      }
    }
  }
}

/* Depth multiplier 1, in_c a multiple of 4 (direct = 1): per output pixel, the window's tap
 * pointers (a row of zero points in the scratch for taps outside the input), then four
 * channels per pass over the taps, weights in the portable [KH][KW][C] layout. No widening:
 * for small images, where the planar kernel's per-channel and per-row work would dominate. */
static void depthwise_direct(const pm_depthwise_conv_s8_arm_params *p, const int8_t *input, const int8_t *weights,
                             int8_t *output, int8_t *zero_row) {
  memset(zero_row, p->input_zero_point, (size_t)p->w.in_c);
  if (p->act_min == -128 && p->act_max == 127) {
    direct(p, input, weights, output, zero_row, 1);
  } else {
    direct(p, input, weights, output, zero_row, 0);
  }
}

void pm_depthwise_conv_s8_arm(const pm_depthwise_conv_s8_arm_params *p, const int8_t *input, const int8_t *weights,
                              int8_t *output, void *scratch) {
  const pm_arm_window *g = &p->w;
  const int32_t m = p->depth_multiplier, group = p->group, row_len = p->row_len;
  const int32_t kernel_taps = g->kernel_h * g->kernel_w;
  const int32_t span = (g->kernel_h - 1) * g->dilation_h + 1;
  const int32_t plane_rows = (p->band - 1) * g->stride_h + span; /* the ring of widened rows */
  const int32_t first_row = -g->pad_h;                             /* input row of ring slot 0 */
  int16_t *planes = (int16_t *)scratch;
  int32_t *acc = (int32_t *)(planes + group * plane_rows * row_len);
  int32_t ring[PM_ARM_RING_ROWS]; /* per output row of a band, its kernel rows' offsets in a plane */
  int32_t b, c0, oy0, j, i, r, f;
  if (p->kernel == PM_ARM_DW_DIRECT) {
    depthwise_direct(p, input, weights, output, (int8_t *)scratch);
    return;
  }
  if (p->kernel == PM_ARM_DW_PAIRS) {
    depthwise_pairs(p, input, (const int32_t *)(const void *)weights, output, (int8_t *)scratch);
    return;
  }
  pad_columns(p, planes, group * plane_rows);
  for (b = 0; b < g->batches; ++b) {
    const int8_t *image = input + b * g->in_h * g->in_w * g->in_c;
    int8_t *out_image = output + b * g->out_h * g->out_w * g->out_c;
    for (c0 = 0; c0 < g->in_c; c0 += group) {
      int32_t next = first_row; /* the first input row not widened yet */
      for (oy0 = 0; oy0 < g->out_h; oy0 += p->band) {
        const int32_t rows = g->out_h - oy0 < p->band ? g->out_h - oy0 : p->band;
        const int32_t iy0 = oy0 * g->stride_h - g->pad_h;
        const int32_t end = iy0 + (rows - 1) * g->stride_h + span; /* rows [iy0, end) are read */
        const int32_t from = next > iy0 ? next : iy0;
        widen_rows(p, image, c0, from, end - from, planes, plane_rows, first_row);
        next = end;
        for (r = 0; r < rows; ++r) {
          for (f = 0; f < g->kernel_h; ++f) {
            ring[r * g->kernel_h + f] =
                ((iy0 + r * g->stride_h + f * g->dilation_h - first_row) % plane_rows) * row_len;
          }
        }
        for (j = 0; j < group; ++j) {
          const int16_t *plane = planes + j * plane_rows * row_len;
          for (i = 0; i < m; ++i) {
            const int32_t o = (c0 + j) * m + i;
            channel_band(p, plane, ring, weights + o * kernel_taps, p->channels + o * PM_ARM_CHANNEL_WORDS, acc,
                         out_image + oy0 * g->out_w * g->out_c + o, rows);
          }
        }
      }
    }
  }
}

#else
typedef int pm_depthwise_arm_unused; /* ISO C forbids an empty translation unit */
#endif /* PM_ARM_DSP */
