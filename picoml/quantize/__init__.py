"""Post-training int8 quantization of float IR graphs (calibration, per-channel weights)."""
from picoml.quantize.ptq import quantize_graph

__all__ = ["quantize_graph"]
