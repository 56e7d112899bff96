/* picoml Cortex-M DSP kernels (codegen/c/opt/arm): when they run, and what they share.
 *
 * PM_ARM_DSP is 1 when the compiler targets a core with the DSP extension (Cortex-M4, M7,
 * M33: __ARM_FEATURE_DSP) and the build does not ask for the reference kernels with
 * -DPM_PORTABLE; the generated model.c then calls the pm_*_arm kernels (with constants in
 * their own layouts) instead of the portable ones. Everywhere else (host, Cortex-M0+/M3, or
 * -DPM_PORTABLE) the pm_*_arm sources compile to nothing and the portable kernels run.
 *
 * Every optimised kernel gives the bits of its portable twin (and so of the NumPy reference):
 * same int32 sums (modulo 2^32), same requantization, taken in the form pm_arm_dsp.h proves
 * equal. No floating point.
 */
#ifndef PICOML_ARM_H
#define PICOML_ARM_H

#include <stdint.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(PM_PORTABLE)
#define PM_ARM_DSP 1
#else
#define PM_ARM_DSP 0
#endif

/* Shapes and window of a conv-like op (NHWC; pad_* is the implicit padding before the first
 * row / column). */
typedef struct {
  int32_t batches, in_h, in_w, in_c;
  int32_t out_h, out_w, out_c;
  int32_t kernel_h, kernel_w;
  int32_t stride_h, stride_w;
  int32_t dilation_h, dilation_w;
  int32_t pad_h, pad_w;
} pm_arm_window;

/* The output stage of one channel, PM_ARM_CHANNEL_WORDS int32 values in a const table:
 *   bias, multiplier, round_lo, round_hi, shift      (see pm_arm_requant below)
 * The accumulator starts at bias (the int8 kernels' folded bias: bias - zp_in * sum(w)); each
 * kernel's parameters add output_offset after pm_arm_requant (0 when the output zero point is
 * folded into round). */
#define PM_ARM_CHANNEL_WORDS 5

#if PM_ARM_DSP
/* -- helpers of the pm_*_arm kernels (model.c needs only the macro and the types above) ---- */
#include <arm_acle.h>
#include <string.h>

/* Forces inlining where a constant argument selects a loop variant (GCC and clang). */
#define PM_ARM_INLINE static inline __attribute__((always_inline))
/* Keeps a function holding register-hungry assembly out of a large caller. */
#define PM_ARM_NOINLINE static __attribute__((noinline))

/* Four bytes from any address (the Cortex-M4 loads unaligned words in one LDR). */
static inline int32_t pm_arm_load32(const void *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* Bytes 0 and 2 of x sign-extended to two int16 lanes (SXTB16), and bytes 1 and 3
 * (SXTB16 with ROR #8). Widening both operands of a dot product this way pairs x0 with w0,
 * x2 with w2 and x1 with w1, x3 with w3, so the SMLADs sum the right products without any
 * reordering. */
static inline int32_t pm_arm_even(int32_t x) { return __sxtb16(x); }
static inline int32_t pm_arm_odd(int32_t x) {
  int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}

/* The requantized accumulator `acc` (bias included) of a channel, before the output offset and
 * the activation clamp:
 *   ((acc * multiplier + round - (acc < 0 ? 2^31 : 0)) >> 32) >> shift
 * which plus output_offset is wrap32(MultiplyByQuantizedMultiplier(acc, q, s) + zp_out) for
 * every int32 acc: quant.arm_requant_constants derives the constants from (q, s, zp_out) and
 * proves it; quant.multiply_by_arm_constants is the NumPy twin. AND, ADDS, ADC, SMLAL, ASR. */
static inline int32_t pm_arm_requant(int32_t acc, int32_t multiplier, uint32_t round_lo, int32_t round_hi,
                                     int32_t shift) {
  const int64_t round = (int64_t)(((uint64_t)(uint32_t)round_hi << 32) | round_lo);
  const int64_t t = round + (acc < 0 ? INT32_MIN : 0) + (int64_t)acc * multiplier;
  return (int32_t)(t >> 32) >> shift;
}

/* (lo & 0xFFFF) | (hi << 16) and (lo >> 16) | (hi & 0xFFFF0000): PKHBT and PKHTB, which GCC
 * does not pick for these expressions. */
static inline uint32_t pm_arm_pack_bottoms(uint32_t lo, uint32_t hi) {
  uint32_t r;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
  return r;
}
static inline uint32_t pm_arm_pack_tops(uint32_t lo, uint32_t hi) {
  uint32_t r;
  __asm__("pkhtb %0, %2, %1, asr #16" : "=r"(r) : "r"(lo), "r"(hi));
  return r;
}

static inline int32_t pm_arm_clamp(int32_t v, int32_t lo, int32_t hi) {
  v = v < lo ? lo : v;
  return v > hi ? hi : v;
}

/* pm_arm_requant in assembly, the output stage every DSP kernel shares where the activation
 * spans all of int8 (SSAT #8 is then the whole clamp): register operand x (an int32 sum, bias
 * included) requantized with the channel's constants in registers %[q], %[rl], %[rh], %[sh],
 * saturated into operand y (which may be x: x is dead after the SMLAL). %[lo] and %[hi] are
 * scratch registers. AND, ADDS, ADC, SMLAL, ASR, SSAT: 6 cycles. The _OFFSET form adds
 * %[offset] before saturating (an output zero point not folded into round). */
#define PM_ARM_REQUANT_ASM(x, y)                                                                 \
  "and %[lo], %[" x "], #0x80000000\n\t"                                                         \
  "adds %[lo], %[lo], %[rl]\n\t"                                                                 \
  "adc %[hi], %[rh], %[" x "], asr #31\n\t"                                                      \
  "smlal %[lo], %[hi], %[" x "], %[q]\n\t"                                                       \
  "asr %[" y "], %[hi], %[sh]\n\t"                                                               \
  "ssat %[" y "], #8, %[" y "]\n\t"
#define PM_ARM_REQUANT_OFFSET_ASM(x, y)                                                          \
  "and %[lo], %[" x "], #0x80000000\n\t"                                                         \
  "adds %[lo], %[lo], %[rl]\n\t"                                                                 \
  "adc %[hi], %[rh], %[" x "], asr #31\n\t"                                                      \
  "smlal %[lo], %[hi], %[" x "], %[q]\n\t"                                                       \
  "asr %[" y "], %[hi], %[sh]\n\t"                                                               \
  "add %[" y "], %[" y "], %[offset]\n\t"                                                        \
  "ssat %[" y "], #8, %[" y "]\n\t"

/* Four sums of one channel (record c) through the output stage, full int8 range, to out[0],
 * out[stride], out[2 stride], out[3 stride] (four pixels of a CONV_2D unit; four units of a
 * FULLY_CONNECTED row with stride 1). The constants are loaded once for the four; GCC's
 * version of the same C spills them. `folded` (a constant where inlined): offset is 0. */
PM_ARM_INLINE void pm_arm_store4(int8_t *out, int32_t stride, int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                 const int32_t *c, int32_t offset, int folded) {
#if defined(__OPTIMIZE__)
  int32_t q, rl, rh, sh, hi;
#define PM_ARM_STORE4_BODY(requant)                                                              \
  "ldr %[q], [%[lo], #4]\n\t"                                                                    \
  "ldr %[rl], [%[lo], #8]\n\t"                                                                   \
  "ldr %[rh], [%[lo], #12]\n\t"                                                                  \
  "ldr %[sh], [%[lo], #16]\n\t" requant("a0", "a0") requant("a1", "a1") requant("a2", "a2")        \
  requant("a3", "a3")                                                                           \
  "strb %[a0], [%[out]]\n\t"                                                                     \
  "strb %[a1], [%[out], %[stride]]\n\t"                                                          \
  "strb %[a2], [%[out], %[stride], lsl #1]\n\t"                                                  \
  "add %[out], %[out], %[stride]\n\t"                                                            \
  "strb %[a3], [%[out], %[stride], lsl #1]\n\t"
  if (folded) {
    __asm__ volatile(PM_ARM_STORE4_BODY(PM_ARM_REQUANT_ASM)
                     : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [lo] "+r"(c), [out] "+r"(out),
                       [q] "=&r"(q), [rl] "=&r"(rl), [rh] "=&r"(rh), [sh] "=&r"(sh), [hi] "=&r"(hi)
                     : [stride] "r"(stride)
                     : "cc", "memory");
  } else {
    __asm__ volatile(PM_ARM_STORE4_BODY(PM_ARM_REQUANT_OFFSET_ASM)
                     : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [lo] "+r"(c), [out] "+r"(out),
                       [q] "=&r"(q), [rl] "=&r"(rl), [rh] "=&r"(rh), [sh] "=&r"(sh), [hi] "=&r"(hi)
                     : [stride] "r"(stride), [offset] "r"(offset)
                     : "cc", "memory");
  }
#undef PM_ARM_STORE4_BODY
#else
  const int32_t multiplier = c[1], round_hi = c[3], shift = c[4];
  const uint32_t round_lo = (uint32_t)c[2];
  (void)folded;
  out[0] = (int8_t)__ssat(pm_arm_requant(a0, multiplier, round_lo, round_hi, shift) + offset, 8);
  out[stride] = (int8_t)__ssat(pm_arm_requant(a1, multiplier, round_lo, round_hi, shift) + offset, 8);
  out[2 * stride] = (int8_t)__ssat(pm_arm_requant(a2, multiplier, round_lo, round_hi, shift) + offset, 8);
  out[3 * stride] = (int8_t)__ssat(pm_arm_requant(a3, multiplier, round_lo, round_hi, shift) + offset, 8);
#endif
}

/* pm_arm_requant with the channel record, the output offset, then the activation clamp. */
static inline int8_t pm_arm_output(int32_t acc, const int32_t *c, int32_t offset, int32_t act_min,
                                   int32_t act_max) {
  return (int8_t)pm_arm_clamp(pm_arm_requant(acc, c[1], (uint32_t)c[2], c[3], c[4]) + offset, act_min, act_max);
}
#endif /* PM_ARM_DSP */

#endif /* PICOML_ARM_H */
