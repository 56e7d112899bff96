/* picoml streaming keyword detector: 16 kHz int16 audio in, detected keyword indices out.
 *
 *   audio -> 480-sample window every 320 new samples (20 ms) -> micro_speech features (int8 [40],
 *   pm_audio_frontend.c, noise estimate carried across the whole stream) -> ring of the last
 *   49 frames -> every `stride_frames` frames: the model on those 49 x 40 int8 features ->
 *   int8 scores -> u = score + 128 (0..255) -> smoothed[l] = round(mean of u over the last
 *   `average_count` inferences) -> top label = first argmax of smoothed -> a detection when
 *   the top label is not ignored, at least `min_count` inferences are in the average,
 *   smoothed[top] >= threshold, and that label was not detected in the last `suppression_ms`
 *   ms (each label has its own timer: other labels may be detected meanwhile).
 *
 * The model is any function pair (e.g. a generated model_*() API): `input` gives the buffer
 * for the 1960 features (oldest frame first), `invoke` runs the model and returns its
 * `num_labels` int8 scores. Example with picoml's generated code:
 *
 *   static int8_t *in(void *u) { (void)u; return (int8_t *)model_input(0); }
 *   static const int8_t *run(void *u) { (void)u; model_invoke(); return (const int8_t *)model_output(0); }
 *   pm_kws_model m = {in, run, NULL, 4};
 *   pm_kws_config c = PM_KWS_CONFIG_DEFAULT;
 *   model_init(); pm_kws_stream_init(&stream, &m, &c);
 *   ... label = pm_kws_stream_push(&stream, samples, n); if (label >= 0) ...
 *
 * Integer only, no malloc: the state (3.7 KB with the default limits) is the caller's; the code
 * is under 1 KB of flash (arm-none-eabi-gcc -O2, Cortex-M4) besides the frontend.
 * The Python twin (picoml/audio/streaming.py) gives the same detections and smoothed scores.
 */
#ifndef PM_KWS_STREAM_H
#define PM_KWS_STREAM_H

#include <stdint.h>

#include "pm_audio_frontend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PM_KWS_WINDOW_FRAMES 49 /* 49 frames x 20 ms = the model's 1 s of features */
#define PM_KWS_FEATURES (PM_KWS_WINDOW_FRAMES * PM_MS_NUM_CHANNELS)
#ifndef PM_KWS_MAX_LABELS
#define PM_KWS_MAX_LABELS 16
#endif
#ifndef PM_KWS_MAX_AVERAGE
#define PM_KWS_MAX_AVERAGE 32
#endif
#define PM_KWS_NEVER_MS ((int32_t)1 << 30) /* "time since the last detection" saturates here */

typedef struct {
    int8_t *(*input)(void *user);        /* where to write PM_KWS_FEATURES int8 features */
    const int8_t *(*invoke)(void *user); /* run the model; its num_labels int8 scores */
    void *user;                          /* passed to both */
    int32_t num_labels;                  /* 1..PM_KWS_MAX_LABELS */
} pm_kws_model;

typedef struct {
    int32_t stride_frames;  /* run the model every this many new frames (20 ms each), >= 1 */
    int32_t average_count;  /* smooth over the last this many inferences, 1..PM_KWS_MAX_AVERAGE */
    int32_t min_count;      /* inferences needed in the average before detecting, 1..average_count */
    int32_t threshold;      /* smoothed score (0..255) needed to detect */
    int32_t suppression_ms; /* no second detection of the same label within this time, >= 0 */
    uint32_t ignore_mask;   /* bit l set: label l is never reported (e.g. silence, unknown) */
} pm_kws_config;

/* micro_speech's labels (silence, unknown, yes, no): every 2 frames (40 ms), average of 8,
 * detection at 200/256 (TFLM RecognizeCommands's threshold) after at least 4 inferences,
 * 1 s suppression, silence and unknown ignored. */
#define PM_KWS_CONFIG_DEFAULT {2, 8, 4, 200, 1000, 0x3u}

typedef struct {
    pm_kws_model model;
    pm_kws_config config;
    pm_micro_speech_state frontend;
    int16_t audio[PM_MS_FRAME_SAMPLES];                      /* the window being filled */
    int32_t audio_fill;                                      /* samples in audio[] */
    int8_t features[PM_KWS_WINDOW_FRAMES][PM_MS_NUM_CHANNELS]; /* ring of the last 49 frames */
    int32_t feature_next;                                    /* slot of the next (= oldest) frame */
    int32_t feature_count;                                   /* valid frames, up to 49 */
    int32_t countdown;                                       /* frames until the next inference */
    uint8_t history[PM_KWS_MAX_AVERAGE][PM_KWS_MAX_LABELS];  /* score + 128 of recent inferences */
    int32_t history_next;
    int32_t history_count;
    uint8_t smoothed[PM_KWS_MAX_LABELS];                     /* after the latest inference */
    int32_t last_label;                                      /* latest detection, -1 if none */
    int32_t since_detection_ms[PM_KWS_MAX_LABELS];           /* per label; saturates at PM_KWS_NEVER_MS */
    uint32_t frames;                                         /* frames computed since init/reset */
    uint32_t inferences;                                     /* model runs since init/reset */
} pm_kws_stream;

/* Keep the model and config (copied) and reset; 0, or -1 when a field is out of range. */
int pm_kws_stream_init(pm_kws_stream *s, const pm_kws_model *model, const pm_kws_config *config);

/* Forget all audio, features, scores and detections (the model and config stay). */
void pm_kws_stream_reset(pm_kws_stream *s);

/* Feed n samples (any n >= 0); the label of the last detection they caused, or -1. */
int32_t pm_kws_stream_push(pm_kws_stream *s, const int16_t *samples, int32_t n);

/* The smoothed scores (0..255, num_labels of them) after the latest inference. */
const uint8_t *pm_kws_stream_smoothed(const pm_kws_stream *s);

#ifdef __cplusplus
}
#endif

#endif /* PM_KWS_STREAM_H */
