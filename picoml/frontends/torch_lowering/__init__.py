"""Pieces of the PyTorch frontend (:mod:`picoml.frontends.torch`): the graph builder and layouts,
layer emitters, whole-module conversion of picoml layers, and aten op converters."""
