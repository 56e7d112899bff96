"""picoml: deep learning on microcontrollers, from PyTorch or TFLite to bit-exact C."""
from picoml.errors import PicomlError
from picoml.frontends.tflite import load_tflite
from picoml.ir import DType, Graph, Op, QuantParams, Tensor

__version__ = "0.1.0"
__all__ = ["DType", "Graph", "Op", "PicomlError", "QuantParams", "Tensor", "compile", "load_tflite", "summary"]


def compile(model, target: str = "host", **options):  # noqa: A001 - the natural name for this
    """Compile a Graph (or a .tflite path) for ``target`` ("host" or a Cortex-M core such as
    "cortex-m4"); returns an object with ``.run(inputs)`` and ``.report()``."""
    graph = model if isinstance(model, Graph) else load_tflite(model)
    if target == "host":
        from picoml.targets.host import compile_host

        return compile_host(graph, **options)
    if target.startswith("cortex-m"):
        from picoml.targets.cortex_m import compile_cortex_m

        return compile_cortex_m(graph, cpu=target, **options)
    raise PicomlError(f"unknown target '{target}'; available: host, cortex-m4 (and cortex-m0plus/m3/m7/m33)")


from picoml.nn.summary import summary  # noqa: E402,F401 - torch is imported only when summary() runs


def from_torch(module, example_input, calibration_data=None, **options) -> Graph:
    """Convert a PyTorch ``nn.Module`` to an IR graph (int8 when it has int8 fake quantizers or
    ``calibration_data`` is given); see :mod:`picoml.frontends.torch`. Imports torch on call."""
    from picoml.frontends.torch import from_torch as _from_torch

    return _from_torch(module, example_input, calibration_data, **options)


def export_tflite(graph: Graph, path=None) -> bytes:
    """The graph as .tflite bytes (also written to ``path`` when given); see
    :mod:`picoml.exporters.tflite`."""
    from picoml.exporters.tflite import export_tflite as _export_tflite

    return _export_tflite(graph, path)


__all__ += ["export_tflite", "from_torch"]
