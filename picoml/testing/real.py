"""Where the real third-party models live (../shared/real), for tests and benchmarks."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

_CANDIDATES = [os.environ.get("PICOML_REAL", ""), Path(__file__).resolve().parents[2] / "../shared/real"]


def real_dir() -> Optional[Path]:
    for c in _CANDIDATES:
        if c and Path(c).is_dir():
            return Path(c).resolve()
    return None


def real_path(rel: str) -> Path:
    d = real_dir()
    if d is None:
        raise FileNotFoundError("../shared/real is not present")
    return d / rel


# The int8 real models the speed benchmarks time against tflite-micro (benchmarks/*.py).
INT8_MODELS = [
    "tflm/person_detection/person_detect.tflite",
    "tflm/micro_speech/micro_speech_quantized.tflite",
    "tflm/hello_world/hello_world_int8.tflite",
    "mlperf_tiny/kws/kws_ref_model.tflite",
    "mlperf_tiny/vww/vww_96_int8.tflite",
    "mlperf_tiny/ic/pretrainedResnet_quant.tflite",
    "mlperf_tiny/ad/ad01_int8.tflite",
    "mlperf_tiny/sww/str_ww_ref_model.tflite",
    "tflm/mobilenet_v2_pytorch/mobilenet_v2_quantized_1x3x224x224.tflite",
]
