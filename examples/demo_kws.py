"""picoml keyword-spotting demo: synthetic speech to an always-on keyword spotter on a Cortex-M4.

1. Data: the synthetic espeak-ng + flite dataset (``picoml.data.speech``) and two audio-augmented
   copies of its training clips (generated once, a few minutes, then cached), micro_speech int8
   features [49, 40], TFLM micro_speech's 4 labels (silence, unknown, yes, no); voices split
   between train, validation and test.
2. Training with rich progress bars: the zoo's DS-CNN (float with an auxiliary 12-word head,
   then int8 quantization-aware),
   and a binary DS-CNN (binary pointwise convolutions; Bop + Adam, then int8 QAT of the rest).
3. Deployment: ``picoml.from_torch`` -> ``picoml.compile`` for the host and the Cortex-M4
   emulator; accuracy of the compiled C; TFLM's real yes/no recordings labelled by the C.
4. CPU load at 120 MHz: the C frontend (50 frames/s) + the model at the streaming detector's
   default rate, flash and SRAM, for picoml's two models and TFLM's micro_speech_quantized.
5. Report: ``out/kws_report/report.md`` and ``report.json``.

    python examples/demo_kws.py        # or: make demo-kws, picoml demo kws
    PICOML_DEMO_OUT=/tmp/x python examples/demo_kws.py
"""
from __future__ import annotations

import os
import sys

import torch

from picoml.kws import Settings, run


def main() -> int:
    torch.set_num_threads(2)
    run(Settings(out=os.environ.get("PICOML_DEMO_OUT", "out")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
