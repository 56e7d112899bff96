"""picoml's own error types.

Every failure a user can cause (a bad model file, an unsupported operator, a wrong input)
raises a subclass of :class:`PicomlError`. The CLI turns these into a one-paragraph message
and exit code 2; anything else escaping is a bug in picoml.
"""
from __future__ import annotations


class PicomlError(Exception):
    """Base class: a problem with the user's input that picoml can explain."""


class ModelFormatError(PicomlError):
    """The model file is not a valid (or not a complete) TFLite flatbuffer."""


class UnsupportedError(PicomlError):
    """The model is valid but uses something picoml does not implement."""


class GraphError(PicomlError):
    """An IR graph is inconsistent: shapes, dtypes or quantization do not agree."""


class InputError(PicomlError):
    """Data given to a model does not match its declared inputs."""


class ResourceError(PicomlError):
    """The model does not fit a limit (SRAM, flash) that the user set."""
