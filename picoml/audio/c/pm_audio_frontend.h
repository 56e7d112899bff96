/* picoml keyword-spotting frontend: TFLM's micro_speech features in integer C.
 *
 * Bit-exact with tflite-micro running audio_preprocessor_int8.tflite (and with the NumPy
 * twin picoml/audio/micro_speech.py): each call turns one 30 ms window (480 int16 samples
 * at 16 kHz) into 40 int8 log-mel features. Feed windows every 20 ms (320 samples): a 1 s
 * clip gives 49 frames, the [1, 1960] int8 input of micro_speech_quantized.
 *
 * Pipeline: Hann window (Q12) -> FFT auto-scale -> 512-point fixed-point RFFT (kiss_fft
 * arithmetic) -> energy of bins [5, 241) -> 40 mel channels (uint64) -> sqrt -> spectral
 * subtraction (noise estimate = the state) -> PCAN gain control -> log -> int8.
 *
 * Integer only, no malloc, no float: about 1.5 KB of stack; 6.6 KB of flash (code and
 * const tables) with arm-none-eabi-gcc -O2 for a Cortex-M4.
 * The state must be reset (zero noise estimate) at the start of every clip.
 */
#ifndef PM_AUDIO_FRONTEND_H
#define PM_AUDIO_FRONTEND_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PM_MS_FRAME_SAMPLES 480
#define PM_MS_STRIDE_SAMPLES 320
#define PM_MS_NUM_CHANNELS 40

typedef struct {
    uint32_t noise_estimate[PM_MS_NUM_CHANNELS]; /* spectral subtraction's low-pass noise level */
} pm_micro_speech_state;

/* Start a new clip: zero the noise estimate. */
void pm_micro_speech_reset(pm_micro_speech_state *state);

/* One frame: 480 samples in, 40 int8 features out; updates the noise estimate. */
void pm_micro_speech_frame(pm_micro_speech_state *state, const int16_t *samples480, int8_t *features40);

#ifdef __cplusplus
}
#endif

#endif /* PM_AUDIO_FRONTEND_H */
