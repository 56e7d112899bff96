"""picoml: deep learning on microcontrollers, from PyTorch or TFLite to bit-exact C."""
from picoml.errors import PicomlError
from picoml.frontends.tflite import load_tflite
from picoml.ir import DType, Graph, Op, QuantParams, Tensor

__version__ = "0.1.0"
__all__ = ["DType", "Graph", "Op", "PicomlError", "QuantParams", "Tensor", "load_tflite"]
