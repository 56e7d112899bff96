"""The host target: compile the generated C into a shared library and call it through ctypes.

Builds use ``-O3 -march=native`` (the library only ever runs on this machine; see
:func:`native_flags`) and are cached by the hash of the generated files, the compiler command
and, with native flags, the machine, so running the same model twice compiles once.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from picoml.codegen.emitter import CProject
from picoml.errors import PicomlError
from picoml.interpreter import Inputs, bind_inputs
from picoml.ir import Graph

HOST_CFLAGS = ["-std=c99", "-O3", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fPIC"]


def cache_dir() -> Path:
    base = os.environ.get("PICOML_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "picoml")
    return Path(base) / "host"


def compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise PicomlError("no C compiler found for the host target: install gcc or clang (or set CC)")
    return cc


@functools.lru_cache(maxsize=None)
def native_flags(cc: str) -> tuple[str, ...]:
    """``-march=native`` when the compiler takes it: the library only ever runs on this machine,
    and the int8 kernels' requantization needs 64-bit vector lanes that baseline x86-64 lacks
    (person_detect: 1.5 ms at -O3 alone, 0.63 ms with it). Empty if the compiler refuses."""
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "probe.c"
        src.write_text("int main(void) { return 0; }\n")
        r = subprocess.run([cc, "-march=native", "-o", str(Path(d) / "probe"), str(src)], capture_output=True)
    return ("-march=native",) if r.returncode == 0 else ()


def build_shared(project: CProject, extra_flags: Sequence[str] = ()) -> Path:
    """Compile ``project`` into a shared library (cached) and return its path."""
    cc = compiler()
    native = native_flags(cc)
    flags = [*HOST_CFLAGS, *native, *extra_flags]
    machine = platform.node() if native else ""  # a cache shared between hosts keeps their builds apart
    key = f"{project.digest()}-{hashlib.sha256(repr((cc, flags, machine)).encode()).hexdigest()[:10]}"
    out = cache_dir() / key / f"lib{project.prefix}.so"
    if out.exists():
        return out
    out.parent.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent.parent, prefix=".build-"))
    try:
        for name, text in project.files.items():
            (tmp / name).write_text(text)
        cmd = [cc, *flags, "-shared", "-o", str(tmp / out.name), *project.sources, "-lm"]
        r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        if r.returncode != 0:
            raise PicomlError(f"the generated C failed to compile (a picoml bug; please report it):\n"
                              f"{' '.join(cmd)}\n{r.stderr[-4000:]}")
        try:
            os.replace(tmp, out.parent)
        except OSError:  # another process built the same library first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


class HostModel:
    """A compiled model loaded in this process."""

    def __init__(self, graph: Graph, project: CProject, extra_flags: Sequence[str] = ()) -> None:
        self.graph = graph
        self.project = project
        self.library_path = build_shared(project, extra_flags)
        lib = ctypes.CDLL(str(self.library_path))
        p = project.prefix
        self._init = getattr(lib, f"{p}_init")
        self._invoke = getattr(lib, f"{p}_invoke")
        self._input = getattr(lib, f"{p}_input")
        self._output = getattr(lib, f"{p}_output")
        self._input.restype = ctypes.c_void_p
        self._output.restype = ctypes.c_void_p
        self._lib = lib
        self._init()

    def run(self, inputs: Inputs) -> list[np.ndarray]:
        bound = bind_inputs(self.graph, inputs)
        for i, t in enumerate(self.graph.input_tensors):
            a = np.ascontiguousarray(bound[t.name])
            ctypes.memmove(self._input(i), a.ctypes.data, a.nbytes)
        self._invoke()
        outs = []
        for i, t in enumerate(self.graph.output_tensors):
            raw = ctypes.string_at(self._output(i), t.nbytes)
            outs.append(np.frombuffer(raw, t.dtype.numpy).reshape(t.storage_shape).copy())
        return outs

    def report(self) -> dict[str, Any]:
        return {"target": "host", "arena_bytes": self.project.arena_bytes,
                "weight_bytes": self.project.weight_bytes, "macs": self.project.macs,
                "ops": len(self.graph.ops), "library": str(self.library_path)}


def compile_host(graph: Graph, prefix: str = "model", max_ram: Optional[int] = None) -> HostModel:
    from picoml.codegen import generate

    return HostModel(graph, generate(graph, prefix=prefix, max_ram=max_ram))
