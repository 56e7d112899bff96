"""CPU load of always-on keyword spotting on a Cortex-M: frontend + model, per second of audio.

The micro_speech frontend (``picoml/audio/c/pm_audio_frontend.c``) is measured in the
emulator without a graph: :func:`frontend_project` wraps it in the C API of a generated
model (``kwsfe_init/_input/_invoke/_output``: one second of int16 audio in, 49 frames of 40
int8 features out), so the Cortex-M target's own firmware (start-up code, linker script,
benchmark ``main``, cycle model) builds and runs it unchanged. The emulator's features are
checked against the NumPy frontend.

Load at ``clock_mhz``: (frontend cycles per frame x 50 frames/s + model cycles per inference x
inferences/s) / clock. The streaming detector's default runs the model every
``KwsConfig().stride_frames`` frames (2: 25 inferences per second).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from picoml.audio.micro_speech import SAMPLE_RATE, STRIDE_SAMPLES, micro_speech_features
from picoml.audio.native import C_DIR
from picoml.audio.streaming import WINDOW_FRAMES, KwsConfig
from picoml.codegen.emitter import CProject
from picoml.errors import PicomlError

__all__ = ["FRAMES_PER_SECOND", "FrontendBench", "Load", "bench_frontend", "cpu_load", "frontend_project",
           "inferences_per_second"]

FRAMES_PER_SECOND = SAMPLE_RATE // STRIDE_SAMPLES  # 50
PREFIX = "kwsfe"

_HEADER = """/* The micro_speech frontend behind a generated model's C API, for picoml's benchmark firmware:
 * input 0 = one second of int16 audio, output 0 = its 49 x 40 int8 features. */
#ifndef KWSFE_H
#define KWSFE_H
#include <stddef.h>
#include <stdint.h>
#define KWSFE_NUM_INPUTS 1
#define KWSFE_NUM_OUTPUTS 1
void kwsfe_init(void);
void *kwsfe_input(int index);
void kwsfe_invoke(void);
const void *kwsfe_output(int index);
size_t kwsfe_input_bytes(int index);
size_t kwsfe_output_bytes(int index);
#endif
"""
_SOURCE = """#include "kwsfe.h"
#include "pm_audio_frontend.h"

#define KWSFE_SAMPLES 16000
#define KWSFE_FRAMES ((KWSFE_SAMPLES - PM_MS_FRAME_SAMPLES) / PM_MS_STRIDE_SAMPLES + 1)

static int16_t kwsfe_audio[KWSFE_SAMPLES];
static int8_t kwsfe_features[KWSFE_FRAMES * PM_MS_NUM_CHANNELS];
static pm_micro_speech_state kwsfe_state;

void kwsfe_init(void) { pm_micro_speech_reset(&kwsfe_state); }
void *kwsfe_input(int index) { (void)index; return kwsfe_audio; }
size_t kwsfe_input_bytes(int index) { (void)index; return sizeof(kwsfe_audio); }
const void *kwsfe_output(int index) { (void)index; return kwsfe_features; }
size_t kwsfe_output_bytes(int index) { (void)index; return sizeof(kwsfe_features); }

void kwsfe_invoke(void) {
  int f;
  pm_micro_speech_reset(&kwsfe_state);
  for (f = 0; f < KWSFE_FRAMES; ++f) {
    pm_micro_speech_frame(&kwsfe_state, &kwsfe_audio[f * PM_MS_STRIDE_SAMPLES],
                          &kwsfe_features[f * PM_MS_NUM_CHANNELS]);
  }
}
"""


def frontend_project() -> CProject:
    """The frontend as a model-like C project (see the module docstring)."""
    files = {"kwsfe.h": _HEADER, "kwsfe.c": _SOURCE,
             "pm_audio_frontend.h": (C_DIR / "pm_audio_frontend.h").read_text(),
             "pm_audio_frontend.c": (C_DIR / "pm_audio_frontend.c").read_text()}
    return CProject(files=files, prefix=PREFIX, arena_bytes=0, weight_bytes=0, macs=0)


@dataclass
class FrontendBench:
    """The frontend on the Cortex-M: cycles per 20 ms frame, flash and SRAM of its firmware."""

    cycles_per_frame: float
    instructions_per_frame: float
    flash_bytes: int           # code + tables of the whole firmware (frontend, start-up, main)
    sram_bytes: int            # static data (audio and feature buffers, state) + measured stack
    stack_bytes: int
    matches_numpy: bool


def bench_frontend(audio: np.ndarray, cpu: str = "cortex-m4", clock_mhz: float = 120.0) -> FrontendBench:
    """Run the C frontend over one second of int16 ``audio`` in the emulator and measure it."""
    from picoml.targets.cortex_m import (FLASH_ORIGIN, RAM_ORIGIN, TargetConfig, _span, build_firmware,
                                         memory_figures)
    from picoml.targets.cycles import CycleModel, cost_table
    from picoml.targets.emulator import MARK_INVOKE_BEGIN, MARK_INVOKE_END, Emulator, Firmware

    audio = np.ascontiguousarray(audio, dtype=np.int16)
    if audio.shape != (SAMPLE_RATE,):
        raise PicomlError(f"bench_frontend takes one second of audio (int16 [{SAMPLE_RATE}]), got {list(audio.shape)}")
    config = TargetConfig(cpu=cpu, clock_mhz=float(clock_mhz), profile=False)
    config.check()
    fw = Firmware(build_firmware(frontend_project(), config))
    em = Emulator(fw, cpu, (FLASH_ORIGIN, config.flash_bytes), (RAM_ORIGIN, config.sram_bytes),
                  CycleModel(cost_table(cpu), config.flash_wait_states))
    result = em.run([audio.tobytes()])
    instructions, cycles = _span(result, MARK_INVOKE_BEGIN, MARK_INVOKE_END)
    got = np.frombuffer(result.outputs[0], np.int8).reshape(WINDOW_FRAMES, -1)
    mem = memory_figures(fw, PREFIX)
    return FrontendBench(cycles / WINDOW_FRAMES, instructions / WINDOW_FRAMES, mem.flash_bytes,
                         mem.sram_arena_bytes + mem.sram_static_bytes + result.stack_bytes, result.stack_bytes,
                         bool(np.array_equal(got, micro_speech_features(audio))))


def inferences_per_second(config: KwsConfig = KwsConfig()) -> float:
    """Model invocations per second of audio in the streaming detector with ``config``."""
    return FRAMES_PER_SECOND / config.stride_frames


@dataclass
class Load:
    """One model's always-on budget on the Cortex-M at ``clock_mhz``."""

    model: str
    frontend_cycles_per_s: float
    model_cycles_per_inference: int
    inferences_per_s: float
    model_cycles_per_s: float
    total_cycles_per_s: float
    cpu_load_percent: float
    max_inferences_per_s: float     # the model's rate at which frontend + model take the whole CPU
    model_flash_bytes: int
    model_sram_bytes: int
    frontend_flash_bytes: int
    frontend_sram_bytes: int
    clock_mhz: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cpu_load(name: str, frontend: FrontendBench, model_bench: dict[str, Any],
             config: KwsConfig = KwsConfig(), clock_mhz: float = 120.0) -> Load:
    """Combine the frontend's and the model's figures (``CortexMModel.bench``) into a load."""
    fe = frontend.cycles_per_frame * FRAMES_PER_SECOND
    ips = inferences_per_second(config)
    mc = float(model_bench["cycles"]) * ips
    total = fe + mc
    spare = clock_mhz * 1e6 - fe
    return Load(name, fe, int(model_bench["cycles"]), ips, mc, total, 100.0 * total / (clock_mhz * 1e6),
                max(0.0, spare) / max(1, int(model_bench["cycles"])),
                int(model_bench["flash_bytes"]), int(model_bench["sram_bytes"]), frontend.flash_bytes,
                frontend.sram_bytes, float(clock_mhz))
