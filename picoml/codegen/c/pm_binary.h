/* picoml binary layers (Larq Compute Engine semantics), integer part: bitpacking of int8,
 * unpacking to int8, binary convolution with bitpacked output, binary max pooling.
 * C twin of picoml/kernels/bitpack.py and picoml/kernels/binary.py.
 *
 * Bitpacked tensors: the last (channel) axis is packed into int32 words, channel c is bit c % 32
 * (bit 0 = least significant) of word c / 32; a 1 bit means -1, a 0 bit +1; unused high bits of
 * the last word are 0. All bit manipulation goes through uint32_t views of the int32 words.
 *
 * Binary convolution (input [N, H, W, words], OHWI filter [O, KH, KW, words]):
 *   accum[o] = sum over taps (fy, fx) and words w of popcount(x_word ^ filter_word)
 *   with x_word = 0 (+1 values) for taps outside the input (SAME padding), so
 *   K - 2 * accum[o] is the +-1 dot product with one-padding, K = KH * KW * channels_in.
 * Bitpacked output: bit o of the output pixel is accum[o] > thresholds[o] (signed compare).
 * Accumulator range: 0 <= accum <= 32 * KH * KW * words < 2^31, so an int32 accumulator never
 * overflows for KH * KW * words < 2^26 words per output (prepare refuses K >= 2^30).
 *
 * Popcount: three implementations of pm_xor_popcount, chosen at compile time, all bit-exact:
 *   -DPM_PORTABLE_POPCOUNT  the reference: one SWAR popcount (shifts, masks, one multiply) per word;
 *   -DPM_CSA_POPCOUNT       for cores without a popcount instruction: Harley-Seal carry-save adders
 *                           over 8 words, one SWAR popcount per 8 words. The default everywhere the
 *                           next line does not apply (Cortex-M, x86 without -mpopcnt, other compilers);
 *   -DPM_BUILTIN_POPCOUNT   __builtin_popcount per word (GCC/clang); the default where the core has a
 *                           popcount instruction (__POPCNT__ on x86, AArch64, Arm NEON). Without one,
 *                           the builtin is often a library call (baseline x86-64 -O2: about 8x slower
 *                           than the carry-save path; Cortex-M4: 1.5x the carry-save cycles).
 * Integer arithmetic only: no floating point (float and int8 outputs are in pm_binary_f32.h).
 */
#ifndef PICOML_BINARY_H
#define PICOML_BINARY_H

#include <stdint.h>

#define PM_POPCOUNT_PORTABLE 0
#define PM_POPCOUNT_CSA 1
#define PM_POPCOUNT_BUILTIN 2

#if defined(PM_PORTABLE_POPCOUNT)
#define PM_POPCOUNT_MODE PM_POPCOUNT_PORTABLE
#elif defined(PM_CSA_POPCOUNT)
#define PM_POPCOUNT_MODE PM_POPCOUNT_CSA
#elif defined(__GNUC__) && (defined(PM_BUILTIN_POPCOUNT) || defined(__POPCNT__) || defined(__aarch64__) || \
                            defined(__ARM_NEON))
#define PM_POPCOUNT_MODE PM_POPCOUNT_BUILTIN
#else
#define PM_POPCOUNT_MODE PM_POPCOUNT_CSA
#endif

/* Geometry of a binary convolution; every value comes from the NumPy prepare. */
typedef struct {
  int32_t batches, in_h, in_w, words;        /* input [batches, in_h, in_w, words] */
  int32_t out_h, out_w, channels_out;        /* output pixels and output channels */
  int32_t filter_h, filter_w;
  int32_t stride_h, stride_w, dilation_h, dilation_w;
  int32_t pad_h, pad_w;                      /* implicit padding before the first row / column */
} pm_bconv2d_geometry;

/* Bitpacked output: out_words = ceil(channels_out / 32) words per output pixel. */
typedef struct {
  pm_bconv2d_geometry geo;
  int32_t out_words;
  const int32_t *thresholds;                 /* [channels_out] */
} pm_bconv2d_bitpacked_params;

/* LceQuantize of int8 (bit = q < zero_point) and float (bit = x < 0) input. */
typedef struct {
  int32_t rows, channels, zero_point;
} pm_lce_quantize_params;

/* LceDequantize: bit 0 -> plus, bit 1 -> minus (int8 codes; float output uses +-1.0f). */
typedef struct {
  int32_t rows, channels, plus, minus;
} pm_lce_dequantize_params;

/* LceBMaxPool2d: out word = AND of the window's words inside the input (padded taps skipped;
 * prepare guarantees every window has at least one). */
typedef struct {
  int32_t batches, in_h, in_w, words;
  int32_t out_h, out_w, filter_h, filter_w, stride_h, stride_w, pad_h, pad_w;
} pm_bmaxpool2d_params;

/* Bits set in a 32-bit word (SWAR; the portable helper). */
static inline int32_t pm_popcount32(uint32_t x) {
  x = x - ((x >> 1) & 0x55555555u);
  x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
  x = (x + (x >> 4)) & 0x0F0F0F0Fu;
  return (int32_t)((x * 0x01010101u) >> 24);
}

/* sum over i < n of popcount(a[i] ^ b[i]), with the implementation PM_POPCOUNT_MODE selects. */
int32_t pm_xor_popcount(const uint32_t *a, const uint32_t *b, int32_t n);

/* Name of the compiled popcount implementation ("portable", "csa" or "builtin"). */
const char *pm_binary_popcount_impl(void);

/* The words every tap of output pixel (b, oy, ox) reads, tap-major [KH][KW][words], zero words
 * for taps outside the input: the pixel's row of the implicit im2col matrix. */
void pm_bconv2d_patch(const pm_bconv2d_geometry *g, const int32_t *input, int32_t b, int32_t oy, int32_t ox,
                      uint32_t *patch);

/* scratch: KH * KW * words uint32_t (the patch). */
void pm_bconv2d_bitpacked(const pm_bconv2d_bitpacked_params *p, const int32_t *input, const int32_t *filter,
                          int32_t *output, uint32_t *scratch);
void pm_lce_quantize_s8(const pm_lce_quantize_params *p, const int8_t *input, int32_t *output);
void pm_lce_dequantize_s8(const pm_lce_dequantize_params *p, const int32_t *input, int8_t *output);
void pm_bmaxpool2d(const pm_bmaxpool2d_params *p, const int32_t *input, int32_t *output);

#endif /* PICOML_BINARY_H */
