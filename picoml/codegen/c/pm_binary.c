/* picoml binary layers, integer part (see pm_binary.h for the math). */
#include "pm_binary.h"

#include "requant.h"

/* -- xor-popcount ------------------------------------------------------------------------- */
#if PM_POPCOUNT_MODE == PM_POPCOUNT_CSA
/* Carry-save adder: adds the three bit-vectors a, b, c; *low gets the sum bits, *high the carries. */
static inline void csa(uint32_t *high, uint32_t *low, uint32_t a, uint32_t b, uint32_t c) {
  const uint32_t u = a ^ b;
  *high = (a & b) | (u & c);
  *low = u ^ c;
}

/* Per-byte bit counts of x: each byte of the result holds 0..8 (the first SWAR steps). */
static inline uint32_t byte_counts(uint32_t x) {
  x = x - ((x >> 1) & 0x55555555u);
  x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
  return (x + (x >> 4)) & 0x0F0F0F0Fu;
}

/* Harley-Seal: eight words go through seven carry-save adders into the counters ones, twos,
 * fours (bit-sliced 3-bit counts per bit position) and one "eights" word, which is the only
 * word popcounted per block of eight. The tail words and the three counters are then summed
 * per byte (at most 8 + 2*8 + 4*8 + 7*8 = 112 per byte, no overflow) and the four bytes are
 * added up in two 16-bit halves (the total, up to 448, would not fit one byte). */
int32_t pm_xor_popcount(const uint32_t *a, const uint32_t *b, int32_t n) {
  uint32_t ones = 0, twos = 0, fours = 0, eights, twos_a, twos_b, fours_a, fours_b, bytes;
  int32_t eights_total = 0, i = 0;
  for (; i + 8 <= n; i += 8) {
    csa(&twos_a, &ones, ones, a[i] ^ b[i], a[i + 1] ^ b[i + 1]);
    csa(&twos_b, &ones, ones, a[i + 2] ^ b[i + 2], a[i + 3] ^ b[i + 3]);
    csa(&fours_a, &twos, twos, twos_a, twos_b);
    csa(&twos_a, &ones, ones, a[i + 4] ^ b[i + 4], a[i + 5] ^ b[i + 5]);
    csa(&twos_b, &ones, ones, a[i + 6] ^ b[i + 6], a[i + 7] ^ b[i + 7]);
    csa(&fours_b, &twos, twos, twos_a, twos_b);
    csa(&eights, &fours, fours, fours_a, fours_b);
    eights_total += pm_popcount32(eights);
  }
  bytes = byte_counts(ones) + (byte_counts(twos) << 1) + (byte_counts(fours) << 2);
  for (; i < n; ++i) bytes += byte_counts(a[i] ^ b[i]);
  bytes = (bytes & 0x00FF00FFu) + ((bytes >> 8) & 0x00FF00FFu); /* two 16-bit sums, <= 224 each */
  return 8 * eights_total + (int32_t)((bytes + (bytes >> 16)) & 0xFFFFu);
}

const char *pm_binary_popcount_impl(void) { return "csa"; }

#elif PM_POPCOUNT_MODE == PM_POPCOUNT_BUILTIN
int32_t pm_xor_popcount(const uint32_t *a, const uint32_t *b, int32_t n) {
  int32_t total = 0, i;
  for (i = 0; i < n; ++i) total += __builtin_popcount(a[i] ^ b[i]);
  return total;
}

const char *pm_binary_popcount_impl(void) { return "builtin"; }

#else
int32_t pm_xor_popcount(const uint32_t *a, const uint32_t *b, int32_t n) {
  int32_t total = 0, i;
  for (i = 0; i < n; ++i) total += pm_popcount32(a[i] ^ b[i]);
  return total;
}

const char *pm_binary_popcount_impl(void) { return "portable"; }
#endif

/* -- binary convolution ------------------------------------------------------------------- */
void pm_bconv2d_patch(const pm_bconv2d_geometry *g, const int32_t *input, int32_t b, int32_t oy, int32_t ox,
                      uint32_t *patch) {
  const uint32_t *in = (const uint32_t *)input;
  int32_t fy, fx, w;
  for (fy = 0; fy < g->filter_h; ++fy) {
    const int32_t iy = oy * g->stride_h - g->pad_h + fy * g->dilation_h;
    for (fx = 0; fx < g->filter_w; ++fx) {
      const int32_t ix = ox * g->stride_w - g->pad_w + fx * g->dilation_w;
      uint32_t *dst = patch + (fy * g->filter_w + fx) * g->words;
      if (iy < 0 || iy >= g->in_h || ix < 0 || ix >= g->in_w) {
        for (w = 0; w < g->words; ++w) dst[w] = 0; /* zero words: +1 values (one-padding) */
      } else {
        const uint32_t *src = in + ((b * g->in_h + iy) * g->in_w + ix) * g->words;
        for (w = 0; w < g->words; ++w) dst[w] = src[w];
      }
    }
  }
}

void pm_bconv2d_bitpacked(const pm_bconv2d_bitpacked_params *p, const int32_t *input, const int32_t *filter,
                          int32_t *output, uint32_t *scratch) {
  const pm_bconv2d_geometry *g = &p->geo;
  const int32_t patch_words = g->filter_h * g->filter_w * g->words;
  const uint32_t *filt = (const uint32_t *)filter;
  uint32_t *out = (uint32_t *)output;
  int32_t b, oy, ox, o0, j;
  for (b = 0; b < g->batches; ++b) {
    for (oy = 0; oy < g->out_h; ++oy) {
      for (ox = 0; ox < g->out_w; ++ox) {
        uint32_t *out_pixel = out + ((b * g->out_h + oy) * g->out_w + ox) * p->out_words;
        pm_bconv2d_patch(g, input, b, oy, ox, scratch);
        for (o0 = 0; o0 < g->channels_out; o0 += 32) {
          const int32_t n = PM_MIN(32, g->channels_out - o0);
          uint32_t word = 0;
          for (j = 0; j < n; ++j) {
            const int32_t o = o0 + j;
            const int32_t accum = pm_xor_popcount(scratch, filt + o * patch_words, patch_words);
            word |= (uint32_t)(accum > p->thresholds[o]) << j;
          }
          out_pixel[o0 / 32] = word;
        }
      }
    }
  }
}

/* -- bitpacking ----------------------------------------------------------------------------- */
void pm_lce_quantize_s8(const pm_lce_quantize_params *p, const int8_t *input, int32_t *output) {
  const int32_t words = (p->channels + 31) / 32;
  uint32_t *out = (uint32_t *)output;
  int32_t r, w, j;
  for (r = 0; r < p->rows; ++r) {
    const int8_t *row = input + r * p->channels;
    for (w = 0; w < words; ++w) {
      const int32_t n = PM_MIN(32, p->channels - w * 32);
      uint32_t word = 0;
      for (j = 0; j < n; ++j) word |= (uint32_t)(row[w * 32 + j] < p->zero_point) << j;
      out[r * words + w] = word;
    }
  }
}

void pm_lce_dequantize_s8(const pm_lce_dequantize_params *p, const int32_t *input, int8_t *output) {
  const int32_t words = (p->channels + 31) / 32;
  const uint32_t *in = (const uint32_t *)input;
  int32_t r, c;
  for (r = 0; r < p->rows; ++r) {
    for (c = 0; c < p->channels; ++c) {
      const uint32_t bit = (in[r * words + c / 32] >> (c % 32)) & 1u;
      output[r * p->channels + c] = (int8_t)(bit ? p->minus : p->plus);
    }
  }
}

/* -- binary max pooling --------------------------------------------------------------------- */
void pm_bmaxpool2d(const pm_bmaxpool2d_params *p, const int32_t *input, int32_t *output) {
  const uint32_t *in = (const uint32_t *)input;
  uint32_t *out = (uint32_t *)output;
  int32_t b, oy, ox, iy, ix, w;
  for (b = 0; b < p->batches; ++b) {
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t y_origin = oy * p->stride_h - p->pad_h;
      const int32_t y0 = PM_MAX(0, y_origin), y1 = PM_MIN(p->in_h, y_origin + p->filter_h);
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t x_origin = ox * p->stride_w - p->pad_w;
        const int32_t x0 = PM_MAX(0, x_origin), x1 = PM_MIN(p->in_w, x_origin + p->filter_w);
        uint32_t *dst = out + ((b * p->out_h + oy) * p->out_w + ox) * p->words;
        for (w = 0; w < p->words; ++w) dst[w] = 0xFFFFFFFFu;
        for (iy = y0; iy < y1; ++iy) {
          for (ix = x0; ix < x1; ++ix) {
            const uint32_t *src = in + ((b * p->in_h + iy) * p->in_w + ix) * p->words;
            for (w = 0; w < p->words; ++w) dst[w] &= src[w];
          }
        }
      }
    }
  }
}
