/* picoml binary layers, float part (see pm_binary_f32.h for the math). */
#include "pm_binary_f32.h"

#include <math.h>
#include <stddef.h>

#include "requant.h"

/* LCE's float32 output transform of one accumulator. */
static float transform(int32_t accum, int32_t clamp_min, int32_t clamp_max, float multiplier, float bias) {
  const int32_t x = PM_CLAMP(2 * accum, clamp_min, clamp_max);
  const float scaled = (float)x * multiplier;
  return scaled + bias;
}

/* Cache row of the zero-padding correction of pixel (oy, ox), or -1 for none. */
static int32_t correction_row(const pm_bconv2d_f32_params *p, int32_t oy, int32_t ox) {
  int32_t c;
  if (p->row_inner[oy] && p->col_inner[ox]) return -1;
  for (c = 0; c < 4; ++c) {
    const int32_t y = p->row_case_y[c * p->geo.out_h + oy];
    const int32_t x = p->col_case_x[c * p->geo.out_w + ox];
    if (y >= 0 && x >= 0) return (c * p->corr_h + y) * p->corr_w + x;
  }
  return -1;
}

void pm_bconv2d_f32(const pm_bconv2d_f32_params *p, const int32_t *input, const int32_t *filter, float *output,
                    uint32_t *scratch) {
  const pm_bconv2d_geometry *g = &p->geo;
  const int32_t patch_words = g->filter_h * g->filter_w * g->words;
  const uint32_t *filt = (const uint32_t *)filter;
  int32_t b, oy, ox, o;
  for (b = 0; b < g->batches; ++b) {
    for (oy = 0; oy < g->out_h; ++oy) {
      for (ox = 0; ox < g->out_w; ++ox) {
        float *out = output + ((b * g->out_h + oy) * g->out_w + ox) * g->channels_out;
        const int32_t row = p->correction != NULL ? correction_row(p, oy, ox) : -1;
        pm_bconv2d_patch(g, input, b, oy, ox, scratch);
        for (o = 0; o < g->channels_out; ++o) {
          const int32_t accum = pm_xor_popcount(scratch, filt + o * patch_words, patch_words);
          out[o] = transform(accum, p->clamp_min, p->clamp_max, p->multiplier[o], p->bias[o]);
        }
        if (row >= 0) {
          const float *add = p->correction + row * g->channels_out;
          for (o = 0; o < g->channels_out; ++o) out[o] = out[o] + add[o];
        }
      }
    }
  }
}

void pm_bconv2d_s8(const pm_bconv2d_s8_params *p, const int32_t *input, const int32_t *filter, int8_t *output,
                   uint32_t *scratch) {
  const pm_bconv2d_geometry *g = &p->geo;
  const int32_t patch_words = g->filter_h * g->filter_w * g->words;
  const uint32_t *filt = (const uint32_t *)filter;
  int32_t b, oy, ox, o;
  for (b = 0; b < g->batches; ++b) {
    for (oy = 0; oy < g->out_h; ++oy) {
      for (ox = 0; ox < g->out_w; ++ox) {
        int8_t *out = output + ((b * g->out_h + oy) * g->out_w + ox) * g->channels_out;
        pm_bconv2d_patch(g, input, b, oy, ox, scratch);
        for (o = 0; o < g->channels_out; ++o) {
          const int32_t accum = pm_xor_popcount(scratch, filt + o * patch_words, patch_words);
          const float y = roundf(transform(accum, p->clamp_min, p->clamp_max, p->multiplier[o], p->bias[o]));
          out[o] = (int8_t)(y < -128.0f ? -128 : (y > 127.0f ? 127 : (int32_t)y));
        }
      }
    }
  }
}

void pm_lce_quantize_f32(const pm_lce_quantize_params *p, const float *input, int32_t *output) {
  const int32_t words = (p->channels + 31) / 32;
  uint32_t *out = (uint32_t *)output;
  int32_t r, w, j;
  for (r = 0; r < p->rows; ++r) {
    const float *row = input + r * p->channels;
    for (w = 0; w < words; ++w) {
      const int32_t n = PM_MIN(32, p->channels - w * 32);
      uint32_t word = 0;
      for (j = 0; j < n; ++j) word |= (uint32_t)(row[w * 32 + j] < 0.0f) << j; /* +-0 and NaN: +1 */
      out[r * words + w] = word;
    }
  }
}

void pm_lce_dequantize_f32(const pm_lce_dequantize_params *p, const int32_t *input, float *output) {
  const int32_t words = (p->channels + 31) / 32;
  const uint32_t *in = (const uint32_t *)input;
  int32_t r, c;
  for (r = 0; r < p->rows; ++r) {
    for (c = 0; c < p->channels; ++c) {
      const uint32_t bit = (in[r * words + c / 32] >> (c % 32)) & 1u;
      output[r * p->channels + c] = bit ? -1.0f : 1.0f;
    }
  }
}
