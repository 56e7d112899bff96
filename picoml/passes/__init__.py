"""Graph -> Graph rewrites between a frontend and the kernels, one module per pass:

* :func:`lower_binary` -- Larq Compute Engine's fusions around binary convolutions (activation,
  batch norm, sign -> bitpacked output with thresholds, max pool -> binary max pool);
* :func:`fold_batch_norm` -- batch norm into the preceding conv / linear (else a 1x1 depthwise conv);
* :func:`fuse_activations` -- ReLU / ReLU6 / hardtanh(-1, 1) into the producing op;
* :func:`fold_constants` -- ops whose inputs are all constants become constants.

:func:`run_passes` applies them in that order (the order matters: the binary pass claims the
batch norms after binary convolutions before the float folding sees them).
"""
from picoml.ir import Graph
from picoml.passes.activation import fuse_activations
from picoml.passes.batchnorm import fold_batch_norm
from picoml.passes.binary import lower_binary
from picoml.passes.constant_folding import fold_constants

__all__ = ["fold_batch_norm", "fold_constants", "fuse_activations", "lower_binary", "run_passes"]


def run_passes(graph: Graph) -> Graph:
    """All passes, in their required order."""
    return fold_constants(fuse_activations(fold_batch_norm(lower_binary(graph))))
