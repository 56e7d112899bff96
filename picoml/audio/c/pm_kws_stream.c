/* picoml streaming keyword detector (see pm_kws_stream.h for the algorithm). */
#include "pm_kws_stream.h"

#include <string.h>

#define PM_KWS_OVERLAP (PM_MS_FRAME_SAMPLES - PM_MS_STRIDE_SAMPLES) /* 160 samples shared by two windows */

int pm_kws_stream_init(pm_kws_stream *s, const pm_kws_model *model, const pm_kws_config *config) {
    const pm_kws_config *c = config;
    if (model->input == NULL || model->invoke == NULL || model->num_labels < 1 ||
        model->num_labels > PM_KWS_MAX_LABELS || c->stride_frames < 1 || c->average_count < 1 ||
        c->average_count > PM_KWS_MAX_AVERAGE || c->min_count < 1 || c->min_count > c->average_count ||
        c->suppression_ms < 0) {
        return -1;
    }
    s->model = *model;
    s->config = *config;
    pm_kws_stream_reset(s);
    return 0;
}

void pm_kws_stream_reset(pm_kws_stream *s) {
    int32_t l;
    pm_micro_speech_reset(&s->frontend);
    memset(s->audio, 0, sizeof(s->audio));
    memset(s->features, 0, sizeof(s->features));
    memset(s->history, 0, sizeof(s->history));
    memset(s->smoothed, 0, sizeof(s->smoothed));
    s->audio_fill = 0;
    s->feature_next = 0;
    s->feature_count = 0;
    s->countdown = 0;
    s->history_next = 0;
    s->history_count = 0;
    s->last_label = -1;
    for (l = 0; l < PM_KWS_MAX_LABELS; ++l) {
        s->since_detection_ms[l] = PM_KWS_NEVER_MS;
    }
    s->frames = 0;
    s->inferences = 0;
}

/* Run the model on the 49 frames (oldest first), add its scores to the history and smooth;
 * the detected label or -1. */
static int32_t infer(pm_kws_stream *s) {
    const pm_kws_config *c = &s->config;
    const int32_t n = s->model.num_labels;
    const int32_t older = PM_KWS_WINDOW_FRAMES - s->feature_next; /* frames from the oldest slot to the end */
    int8_t *in = s->model.input(s->model.user);
    const int8_t *scores;
    int32_t l, i, top = 0;

    memcpy(in, s->features[s->feature_next], (size_t)older * PM_MS_NUM_CHANNELS);
    memcpy(in + older * PM_MS_NUM_CHANNELS, s->features[0], (size_t)s->feature_next * PM_MS_NUM_CHANNELS);
    scores = s->model.invoke(s->model.user);
    for (l = 0; l < n; ++l) {
        s->history[s->history_next][l] = (uint8_t)((int32_t)scores[l] + 128);
    }
    s->history_next = (s->history_next + 1) % c->average_count;
    if (s->history_count < c->average_count) {
        ++s->history_count;
    }
    ++s->inferences;
    for (l = 0; l < n; ++l) { /* rounded mean, half up: everything is non-negative */
        int32_t sum = 0;
        for (i = 0; i < s->history_count; ++i) {
            sum += s->history[i][l];
        }
        s->smoothed[l] = (uint8_t)((sum + s->history_count / 2) / s->history_count);
        if (s->smoothed[l] > s->smoothed[top]) {
            top = l;
        }
    }
    if (s->history_count < c->min_count || ((c->ignore_mask >> top) & 1u) || s->smoothed[top] < c->threshold ||
        s->since_detection_ms[top] < c->suppression_ms) {
        return -1;
    }
    s->last_label = top;
    s->since_detection_ms[top] = 0;
    return top;
}

/* One full window: features into the ring, keep the overlap, maybe run the model. */
static int32_t frame(pm_kws_stream *s) {
    int32_t l;
    pm_micro_speech_frame(&s->frontend, s->audio, s->features[s->feature_next]);
    s->feature_next = (s->feature_next + 1) % PM_KWS_WINDOW_FRAMES;
    if (s->feature_count < PM_KWS_WINDOW_FRAMES) {
        ++s->feature_count;
    }
    memmove(s->audio, s->audio + PM_MS_STRIDE_SAMPLES, PM_KWS_OVERLAP * sizeof(int16_t));
    s->audio_fill = PM_KWS_OVERLAP;
    ++s->frames;
    for (l = 0; l < s->model.num_labels; ++l) {
        if (s->since_detection_ms[l] < PM_KWS_NEVER_MS) {
            s->since_detection_ms[l] += PM_MS_STRIDE_SAMPLES / 16; /* 20 ms at 16 kHz */
        }
    }
    if (s->feature_count < PM_KWS_WINDOW_FRAMES) {
        return -1;
    }
    if (s->countdown > 0) {
        --s->countdown;
        return -1;
    }
    s->countdown = s->config.stride_frames - 1;
    return infer(s);
}

int32_t pm_kws_stream_push(pm_kws_stream *s, const int16_t *samples, int32_t n) {
    int32_t detected = -1;
    while (n > 0) {
        int32_t take = PM_MS_FRAME_SAMPLES - s->audio_fill;
        if (take > n) {
            take = n;
        }
        memcpy(s->audio + s->audio_fill, samples, (size_t)take * sizeof(int16_t));
        s->audio_fill += take;
        samples += take;
        n -= take;
        if (s->audio_fill == PM_MS_FRAME_SAMPLES) {
            const int32_t label = frame(s);
            if (label >= 0) {
                detected = label;
            }
        }
    }
    return detected;
}

const uint8_t *pm_kws_stream_smoothed(const pm_kws_stream *s) {
    return s->smoothed;
}
