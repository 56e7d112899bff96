"""Keyword spotting end to end: train the zoo's DS-CNN (int8, QAT) and a binary DS-CNN on the
synthetic speech dataset's micro_speech features, deploy both to C (host and Cortex-M4
emulator), label TFLM's real recordings and measure the always-on CPU load.

Modules: :mod:`.models` (the two networks), :mod:`.train` (data, augmentation, training),
:mod:`.deploy` (conversion, feature input, evaluation), :mod:`.cpu_load` (frontend firmware,
load), :mod:`.report` (tables), :mod:`.pipeline` (everything: ``run(Settings())``).
"""
from __future__ import annotations

from picoml.kws.pipeline import Settings, run
from picoml.kws.train import TrainSettings

__all__ = ["Settings", "TrainSettings", "run"]
