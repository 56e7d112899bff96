"""The PyTorch frontend: ``nn.Module`` -> IR graph through ``torch.export``.

    graph = from_torch(model, example_input)                        # float (binary layers: LCE ops)
    graph = from_torch(model, example_input, calibration_data=xs)   # int8, calibrated
    graph = from_torch(qat_model, example_input)                    # int8 from fake-quant parameters

Steps:

1. ``torch.export`` traces the module (eval mode, batch 1) into aten ops, each tagged with the
   module that produced it.
2. Every call of a picoml layer or quantizer (``QuantConv2d``, ``Int8ActivationFakeQuant``, ...)
   is converted as one unit from the module's attributes (:mod:`.torch_lowering.modules`); the
   remaining aten ops are converted one by one (:mod:`.torch_lowering.aten_ops`). Computations
   on parameters and buffers alone are evaluated by torch (constants). The result is a float
   NHWC graph with a few pseudo-ops.
3. The passes (:mod:`picoml.passes`): binary lowering (LCE rules), batch-norm folding,
   activation fusion, constant folding.
4. int8 quantization (:func:`picoml.quantize.quantize_graph`) when the model has int8 fake-quant
   modules (their parameters are kept) or ``calibration_data`` is given.

Layouts: a 4-D NCHW torch tensor is NHWC in the graph (inputs included: feed the compiled model
NHWC data); other ranks keep torch's order.
"""
from __future__ import annotations

import operator
import warnings
from typing import TYPE_CHECKING, Any, Iterable, Optional

import numpy as np

from picoml.errors import PicomlError, UnsupportedError
from picoml.frontends.torch_lowering import aten_ops, modules
from picoml.frontends.torch_lowering.builder import NCHW_TO_NHWC, Builder, Value
from picoml.ir import Graph

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["from_torch", "to_float_graph", "to_numpy_samples"]


def from_torch(module: "torch.nn.Module", example_input: Any, calibration_data: Optional[Iterable[Any]] = None,
               name: Optional[str] = None) -> Graph:
    """Convert ``module`` to an IR graph (see the module docstring).

    Arguments:
        module: the model; it is traced in eval mode and its training flags are restored.
        example_input: one input batch (NCHW for images); only its first sample's shape is used.
        calibration_data: an iterable of input batches for post-training int8 quantization.
            Without it, a model with no int8 fake quantizers stays float (binary layers as LCE ops),
            and a QAT model takes every int8 parameter from its fake quantizers (tensors they do not
            cover are then calibrated on ``example_input`` alone, with a warning).
        name: the graph name (default: the module's class name).
    """
    from picoml.passes import run_passes
    from picoml.quantize import quantize_graph
    from picoml.quantize.ptq import has_hints

    example = _batch_of_one(example_input)
    graph = run_passes(to_float_graph(module, example, name))
    if calibration_data is None and not has_hints(graph):
        return graph
    samples = to_numpy_samples(calibration_data) if calibration_data is not None else _example_only(example)
    return quantize_graph(graph, samples)


def _example_only(example: "torch.Tensor") -> Iterable[list[np.ndarray]]:
    """Calibration on ``example`` alone, with a warning -- raised only if the quantizer reads it,
    i.e. when some tensor of the QAT model has no fake quantizer (a fully fake-quantized model,
    such as the zoo's with ``qat=True``, takes every parameter from training)."""
    warnings.warn("from_torch: some tensors have no fake quantizer and no calibration_data was given; they are "
                  "calibrated on example_input only", stacklevel=2)
    yield from to_numpy_samples([example])


def to_numpy_samples(batches: Iterable[Any]) -> Iterable[list[np.ndarray]]:
    """One IR input list per sample of every batch (4-D NCHW batches become NHWC samples)."""
    for batch in batches:
        arr = _as_numpy(batch[0] if isinstance(batch, (tuple, list)) else batch)
        if arr.ndim == 4:
            arr = np.transpose(arr, NCHW_TO_NHWC)
        for i in range(arr.shape[0]):
            yield [np.ascontiguousarray(arr[i:i + 1], dtype=np.float32)]


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, np.float32)


def _batch_of_one(x: Any) -> "torch.Tensor":
    import torch

    if isinstance(x, (tuple, list)):
        if len(x) != 1:
            raise UnsupportedError(f"from_torch: models with {len(x)} inputs are not supported; supported: one input")
        x = x[0]
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x, np.float32))
    if t.dim() < 1 or t.shape[0] < 1:
        raise UnsupportedError(f"from_torch: example_input needs a batch axis, got shape {list(t.shape)}")
    return t[:1].float().contiguous()


# -- tracing ------------------------------------------------------------------------------------
def _export(module: "torch.nn.Module", example: "torch.Tensor") -> Any:
    import torch

    flags = {m: m.training for m in module.modules()}
    module.eval()
    try:
        return torch.export.export(module, (example,))
    except PicomlError:
        raise
    except Exception as e:  # torch raises many types for untraceable code
        raise UnsupportedError(f"torch.export could not trace {type(module).__name__}: {type(e).__name__}: "
                               f"{str(e).splitlines()[0] if str(e) else ''}") from None
    finally:
        for m, flag in flags.items():
            m.training = flag


def to_float_graph(module: "torch.nn.Module", example: "torch.Tensor", name: Optional[str] = None) -> Graph:
    """Steps 1 and 2: the float graph (with pseudo-ops) before any pass."""
    ep = _export(module, example)
    return _Translator(module, ep).run(name or type(module).__name__)


class _Translator:
    """Walks the exported graph once, in order, filling a :class:`Builder`."""

    def __init__(self, module: Any, ep: Any) -> None:
        self.module = module
        self.ep = ep
        self.b = Builder()
        self.env: dict[Any, Any] = {}
        self.groups: dict[str, list[Any]] = {}
        self.group_of: dict[Any, tuple[str, str, Any]] = {}

    # -- module attribution ------------------------------------------------------------
    def _submodule(self, path: str) -> Any:
        if not path:
            return self.module
        try:
            return self.module.get_submodule(path)
        except (AttributeError, ValueError):
            return None

    def _owner(self, node: Any) -> Optional[tuple[str, str, Any]]:
        """(call key, path, module) of the outermost picoml layer or quantizer that made ``node``."""
        stack = node.meta.get("nn_module_stack") or {}
        for key, entry in stack.items():
            path = entry[0] if isinstance(entry, tuple) else str(entry)
            m = self._submodule(path)
            if m is not None and modules.is_converted_whole(m):
                return key, path, m
        return None

    def _where(self, node: Any) -> str:
        stack = node.meta.get("nn_module_stack") or {}
        if not stack:
            return f"{type(self.module).__name__} (top level, aten op {node.target})"
        path = list(stack.values())[-1][0]
        return modules.describe(path, self._submodule(path))

    def _base_name(self, node: Any) -> str:
        stack = node.meta.get("nn_module_stack") or {}
        path = list(stack.values())[-1][0] if stack else ""
        return f"{path}/{node.name}" if path else node.name

    # -- walk -----------------------------------------------------------------------------
    def run(self, name: str) -> Graph:
        from torch.export.graph_signature import InputKind

        graph = self.ep.graph
        nodes = {n.name: n for n in graph.nodes}
        consts = {**self.ep.state_dict, **getattr(self.ep, "constants", {})}
        inputs: list[str] = []
        for spec in self.ep.graph_signature.input_specs:
            node = nodes[spec.arg.name]
            if spec.kind == InputKind.USER_INPUT:
                val = node.meta["val"]
                v = self.b.activation("input", tuple(val.shape))
                self.env[node] = v
                inputs.append(v.name)
            elif spec.target in consts:
                self.env[node] = consts[spec.target]
            else:
                raise UnsupportedError(f"from_torch: input {spec.arg.name} of kind {spec.kind} is not supported")
        calls = [n for n in graph.nodes if n.op == "call_function"]
        for n in calls:
            owner = self._owner(n)
            if owner is not None:
                self.groups.setdefault(owner[0], []).append(n)
                self.group_of[n] = owner
        for n in calls:
            owner = self.group_of.get(n)
            if owner is None:
                self._call(n)
            elif self.groups[owner[0]][-1] is n:
                self._group(owner)
        outputs = []
        out_node = next(n for n in graph.nodes if n.op == "output")
        for o in _flatten(out_node.args[0]):
            v = self.env.get(o)
            if not isinstance(v, Value):
                raise UnsupportedError("from_torch: every model output must be an activation tensor "
                                       f"(output {o} is a constant or not a tensor)")
            outputs.append(v.name)
        return self.b.graph(inputs, outputs, name)

    def _resolve(self, a: Any) -> Any:
        from torch.fx import Node

        if isinstance(a, Node):
            if a not in self.env:
                raise UnsupportedError(f"from_torch: {a.name} is used before it is converted")
            return self.env[a]
        if isinstance(a, (list, tuple)):
            return type(a)(self._resolve(x) for x in a)
        return a

    def _call(self, n: Any) -> None:
        """Convert one aten call outside picoml layers (or evaluate it when all inputs are constants)."""
        args = [self._resolve(a) for a in n.args]
        kwargs = {k: self._resolve(v) for k, v in n.kwargs.items()}
        if n.target is operator.getitem:
            self.env[n] = args[0][args[1]]
            return
        if not any(isinstance(v, Value) for v in _flatten([args, kwargs])):
            import torch

            with torch.no_grad():
                self.env[n] = n.target(*args, **kwargs)
            return
        schema = getattr(n.target, "_schema", None)
        key = schema.name if schema is not None else str(n.target)
        if key in aten_ops.IGNORED:
            self.env[n] = None
            return
        conv = aten_ops.CONVERTERS.get(key)
        if conv is None:
            raise UnsupportedError(f"{self._where(n)}: the op {key} is not supported; supported: "
                                   f"{', '.join(sorted(k.split('::')[1] for k in aten_ops.CONVERTERS))} and picoml "
                                   f"layers ({modules.SUPPORTED})")
        bound = _bind(schema, args, kwargs)
        val = n.meta.get("val")
        shape = tuple(val.shape) if hasattr(val, "shape") else ()
        self.env[n] = conv(aten_ops.Call(self.b, bound, shape, self._base_name(n), self._where(n)))

    def _group(self, owner: tuple[str, str, Any]) -> None:
        """Convert every node of one call of a picoml layer or quantizer at once."""
        key, path, module = owner
        members = self.groups[key]
        inside = set(members)
        external: list[Value] = []
        for n in members:
            for a in _flatten([list(n.args), list(n.kwargs.values())]):
                if hasattr(a, "op") and a not in inside:
                    v = self.env.get(a)
                    if isinstance(v, Value) and v not in external:
                        external.append(v)
        if not external:  # computations on parameters only (e.g. a quantizer applied to a weight)
            for n in members:
                self._call(n)
            return
        where = modules.describe(path, module)
        if len(external) != 1:
            raise UnsupportedError(f"{where}: a layer with {len(external)} activation inputs is not supported")
        used_outside = [n for n in members if any(u not in inside for u in n.users)]
        if len(used_outside) != 1:
            raise UnsupportedError(f"{where}: a layer whose call produces {len(used_outside)} outputs is not supported")
        out = used_outside[0]
        shape = tuple(out.meta["val"].shape)
        self.env[out] = modules.convert(self.b, module, path, external[0], shape, path or type(module).__name__)


def _bind(schema: Any, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Arguments by schema name, defaults filled in."""
    bound: dict[str, Any] = {}
    for i, arg in enumerate(schema.arguments):
        if i < len(args):
            bound[arg.name] = args[i]
        elif arg.name in kwargs:
            bound[arg.name] = kwargs[arg.name]
        elif arg.has_default_value():
            bound[arg.name] = arg.default_value
        else:
            bound[arg.name] = None
    return bound


def _flatten(x: Any) -> list[Any]:
    if isinstance(x, (list, tuple)):
        return [y for item in x for y in _flatten(item)]
    if isinstance(x, dict):
        return _flatten(list(x.values()))
    return [x]
