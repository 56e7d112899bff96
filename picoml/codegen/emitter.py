"""Generate a self-contained C99 project from an IR graph and its memory plan.

The output calls C kernels in a fixed order with constant shapes (no interpreter at run time),
keeps weights and parameter blocks ``const`` (flash), puts every activation in one static
arena of exactly the planned size, and never calls malloc. Each op's call comes from the C
kernel table (:mod:`picoml.codegen.registry`) fed with the params the NumPy kernel prepared.

Optimised kernels (``codegen/c/opt/<isa>/``, e.g. Cortex-M DSP) are a second table keyed by
the same op types (``registry.OPT_OPS``). When an op has an applicable entry, both calls are
emitted, each with its own constants (the optimised kernels read weights in their own layout):

    #if PM_ARM_DSP            <- defined by opt/arm/pm_arm.h from the compiler's feature macros
      the optimised call      (its constants are declared in a matching #if block)
    #else
      the portable call       (the reference; also what -DPM_PORTABLE selects)
    #endif

so one project builds for every core, and a compiler only ever sees one set of constants. The
optimised library files are copied (from ``c/opt/<isa>/``) only for the modules such ops use.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from picoml.codegen.cformat import CTYPES, c_array_body, c_float, c_int
from picoml.codegen.registry import get_c_op, get_opt_ops
from picoml.errors import PicomlError, ResourceError
from picoml.interpreter import Interpreter
from picoml.ir import Graph, Op, Tensor

C_DIR = Path(__file__).parent / "c"
MARKER = ".picoml-project"
# isa of an optimised kernel variant -> (the macro that selects it, the module defining the macro)
OPT_GUARDS = {"arm": ("PM_ARM_DSP", "arm")}


def _portable(isa: str) -> str:
    """The declaration scope of a portable call that has an ``isa`` alternative."""
    return "!" + isa


@dataclass
class CProject:
    """Generated files (name -> text) plus the figures a target reports."""

    files: dict[str, str]
    prefix: str
    arena_bytes: int
    weight_bytes: int
    macs: int
    op_summaries: list[dict] = field(default_factory=list)
    # weight bytes of a build that selects an optimised variant (isa -> bytes); weight_bytes
    # is the portable build's
    variant_weight_bytes: dict[str, int] = field(default_factory=dict)

    @property
    def sources(self) -> list[str]:
        return sorted(n for n in self.files if n.endswith(".c") and n != "main.c")

    def digest(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + self.files[name].encode() + b"\0")
        return h.hexdigest()[:24]

    def write(self, out_dir: os.PathLike) -> Path:
        """Write the folder atomically; refuse to overwrite a folder picoml did not create."""
        out = Path(out_dir)
        if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
            raise PicomlError(f"output folder '{out}' exists and was not written by picoml; choose an empty or "
                              "new folder (picoml will not overwrite files it did not create)")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            for name, text in self.files.items():
                (tmp / name).write_text(text)
            (tmp / MARKER).write_text(self.digest() + "\n")
            if out.exists():
                shutil.rmtree(out)
            os.replace(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out


class OpContext:
    """What an op emitter sees: its op, params, tensor pointers and a way to declare constants."""

    def __init__(self, gen: "_Generator", op: Op, params: dict) -> None:
        self.gen = gen
        self.op = op
        self.graph = gen.graph
        self.params = params

    def tensor(self, i: int, output: bool = False) -> Optional[Tensor]:
        names = self.op.outputs if output else self.op.inputs
        return self.graph.tensor(names[i]) if i < len(names) else None

    def input(self, i: int, ctype: Optional[str] = None) -> str:
        """Pointer expression for input ``i`` (``NULL`` when absent)."""
        t = self.tensor(i)
        return "NULL" if t is None else self.gen.pointer(t, ctype, const=True)

    def output(self, i: int = 0, ctype: Optional[str] = None) -> str:
        t = self.tensor(i, output=True)
        assert t is not None
        return self.gen.pointer(t, ctype, const=False)

    def offset(self, name: str) -> int:
        return self.gen.plan.offsets[name]

    def const(self, values: Any, ctype: str, hint: str = "c") -> str:
        return self.gen.const_array(np.asarray(values), ctype, hint)

    def struct(self, ctype: str, fields: dict[str, Any], hint: str = "p") -> str:
        """Declare ``static const ctype sym = {.field = value, ...}``; returns ``&sym``.
        Values: int, float (emitted as exact float32), or str (a C expression)."""
        return "&" + self.gen.const_struct(ctype, fields, hint)

    def scratch(self, ctype: str = "void") -> str:
        off = self.gen.plan.scratch_offsets[self.op.index]
        return f"(({ctype} *)(pm_arena.bytes + {off}))"

    def use(self, *modules: str) -> None:
        """Library modules this op needs (``"conv"`` copies pm_conv.h and pm_conv.c; an
        optimised module such as ``"conv_arm"`` comes from ``c/opt/<isa>/``)."""
        self.gen.modules.update(modules)


class _Generator:
    def __init__(self, graph: Graph, prefix: str, alignment: int, max_ram: Optional[int],
                 patches: Any = None, dsp: bool = False, scratch: str = "fit",
                 depthwise_in_place: bool = True) -> None:
        from picoml.plan import plan_graph
        from picoml.plan.patches import patched_plan
        from picoml.plan.scratch_fit import ScratchChoice, fast_scratch, fit_scratch, lean_params

        self.graph = graph
        self.prefix = prefix
        self.interp = Interpreter(graph)
        self.dsp = dsp
        self.patches = patches  # a picoml.plan.patches.PatchPlan: its stage runs tile by tile

        # DSP builds keep their fast depthwise kernels rather than the portable in-place one
        in_place = depthwise_in_place and not dsp

        def plan(scratch: Mapping[int, int], in_place: bool = in_place) -> Any:
            return (plan_graph(graph, alignment=alignment, scratch=scratch, depthwise_in_place=in_place)
                    if patches is None else
                    patched_plan(graph, patches, alignment=alignment, scratch=scratch, depthwise_in_place=in_place))

        params = [self.params(p) for _, _, p in self.interp.steps]
        if scratch not in ("fit", "fast", "lean"):
            raise PicomlError(f"scratch must be 'fit', 'fast' or 'lean', got {scratch!r}")
        if scratch == "lean":  # every op that has a zero-scratch variant runs it
            lean = frozenset(i for i, p in enumerate(params) if "lean_scratch_bytes" in p)
            choice = ScratchChoice({i: n for i, n in fast_scratch(params).items() if i not in lean}, lean)
        elif scratch == "fit" and not dsp:  # lean kernels first: the in-place one is slower
            choice = fit_scratch(params, lambda s: plan(s, False))
        else:  # DSP builds keep their kernels' scratch: they trade those bytes for speed
            choice = ScratchChoice(fast_scratch(params))
        for i in choice.lean:
            op, kernel, p = self.interp.steps[i]
            self.interp.steps[i] = (op, kernel, lean_params(p))
        self.plan = plan(choice.scratch)
        if max_ram is not None and self.plan.arena_bytes > max_ram:
            raise ResourceError(
                f"model needs a {self.plan.arena_bytes:,}-byte arena but --max-ram is {max_ram:,} bytes "
                f"({self.plan.arena_bytes - max_ram:,} bytes over); peak at op #{self.plan.peak_op}. Use a smaller "
                "input or model, or raise the limit.")
        self.modules: set[str] = set()
        # declarations and weight bytes per scope: None (every build), an isa (the optimised
        # variant's constants) or _portable(isa) (constants of the calls that isa replaces)
        self.scope: Optional[str] = None
        self.decls: dict[Optional[str], list[str]] = {None: []}
        self.scope_weight_bytes: dict[Optional[str], int] = {None: 0}
        self.const_syms: dict[tuple, str] = {}
        self.counter = 0

    def params(self, params: dict) -> dict:
        """An op's params as this build sees them: builds that compile the Cortex-M DSP kernels
        plan the larger scratch those need (``dsp_scratch_bytes``); others plan the portable one."""
        if self.dsp and "dsp_scratch_bytes" in params:
            return {**params, "scratch_bytes": params["dsp_scratch_bytes"]}
        return params

    # -- declarations -------------------------------------------------------------------
    def _sym(self, hint: str) -> str:
        self.counter += 1
        return f"pm_{hint}_{self.counter}"

    def const_array(self, values: np.ndarray, ctype: str, hint: str) -> str:
        flat = np.ascontiguousarray(values).ravel()
        key = (self.scope, ctype, flat.dtype.str, flat.tobytes())
        if key in self.const_syms:
            return self.const_syms[key]
        sym = self._sym(hint)
        n = max(flat.size, 1)
        body = c_array_body(flat, ctype) if flat.size else "0"
        self.decls[self.scope].append(f"static const {ctype} {sym}[{n}] = {{\n  {body}\n}};")
        self.scope_weight_bytes[self.scope] += flat.size * np.dtype(_np_of(ctype)).itemsize
        self.const_syms[key] = sym
        return sym

    def const_struct(self, ctype: str, fields: dict[str, Any], hint: str) -> str:
        sym = self._sym(hint)
        inits = ",\n  ".join(f".{k} = {_c_value(v)}" for k, v in fields.items())
        self.decls[self.scope].append(f"static const {ctype} {sym} = {{\n  {inits}\n}};")
        return sym

    def build_weight_bytes(self, isa: Optional[str] = None) -> int:
        """Bytes of const arrays in a build that selects ``isa``'s kernels (None: portable)."""
        return sum(n for scope, n in self.scope_weight_bytes.items()
                   if scope is None or scope == isa or (scope.startswith("!") and scope != _portable(isa or "")))

    # -- optimised variants ---------------------------------------------------------------
    def _emit_in_scope(self, scope: Optional[str], emit: Any, op: Op, params: dict) -> Optional[str]:
        """Run an emitter with its declarations going to ``scope``; an optimised emitter that
        returns None (not applicable to this op) leaves no trace."""
        self.decls.setdefault(scope, [])
        self.scope_weight_bytes.setdefault(scope, 0)
        saved = (self.scope, {k: len(v) for k, v in self.decls.items()}, dict(self.const_syms),
                 dict(self.scope_weight_bytes), set(self.modules))
        self.scope = scope
        try:
            stmt = emit(OpContext(self, op, self.params(params)))
        finally:
            self.scope = saved[0]
        if stmt is None:
            for k, n in saved[1].items():
                del self.decls[k][n:]
            self.const_syms, self.scope_weight_bytes, self.modules = saved[2], saved[3], saved[4]
        return stmt

    def emit_op(self, op: Op, params: dict) -> str:
        """The C statement(s) of one op: the portable call, or both calls under ``#if`` when
        an optimised kernel applies (see the module docstring)."""
        for isa, emit in get_opt_ops(op.type):
            fast = self._emit_in_scope(isa, emit, op, params)
            if fast is not None:
                macro, module = OPT_GUARDS[isa]
                self.modules.add(module)
                portable = self._emit_in_scope(_portable(isa), get_c_op(op.type), op, params)
                return f"#if {macro}\n  {fast}\n#else\n  {portable}\n#endif"
        return get_c_op(op.type)(OpContext(self, op, self.params(params)))

    def pointer(self, t: Tensor, ctype: Optional[str], const: bool) -> str:
        ctype = ctype or CTYPES[t.dtype.value]
        if t.is_const:
            return self.const_array(t.data, ctype, "w")
        qual = "const " if const else ""
        return f"(({qual}{ctype} *)(pm_arena.bytes + {self.plan.offsets[t.name]}))"

    # -- files --------------------------------------------------------------------------
    def generate(self) -> CProject:
        calls = []
        summaries = []
        steps = self.interp.steps
        if self.patches is not None:  # the stage's calls: picoml.codegen.patches
            from picoml.codegen.patches import emit_stage

            stage, summary = emit_stage(self, self.patches)
            calls.append(stage)
            summaries.append(summary)
            steps = steps[self.patches.stage_end + 1:]
        for op, _, params in steps:
            stmt = self.emit_op(op, params)
            ins = ", ".join(str(list(self.graph.tensors[n].shape)) for n in op.inputs if n is not None
                            and not self.graph.tensors[n].is_const)
            outs = ", ".join(str(list(self.graph.tensors[n].shape)) for n in op.outputs)
            off = ", ".join(f"@{self.plan.offsets[n]}" for n in op.outputs)
            macs = int(params.get("macs", 0))
            calls.append(f"  /* op #{op.index} {op.type}: {ins} -> {outs}, {macs:,} MACs, out {off} */\n"
                         f"  PM_OP_BEGIN({op.index});\n  {stmt}\n  PM_OP_END({op.index});")
            summaries.append({"index": op.index, "type": op.type, "macs": macs})
        P = self.prefix.upper()
        files = {f"{self.prefix}.h": self._header(P), f"{self.prefix}.c": self._source(calls)}
        for m in sorted(self.modules):
            for ext in (".h", ".c"):
                for folder in (C_DIR, *(C_DIR / "opt" / isa for isa in OPT_GUARDS)):
                    src = folder / f"pm_{m}{ext}"
                    if src.exists():
                        files[src.name] = src.read_text()
        files["requant.h"] = (C_DIR / "requant.h").read_text()
        files["main.c"] = _MAIN.replace("@PU@", P).replace("@P@", self.prefix)
        sources = " ".join(sorted(n for n in files if n.endswith(".c") and n != "main.c"))
        files["Makefile"] = _MAKEFILE.replace("@SOURCES@", sources).replace("@P@", self.prefix)
        files["CMakeLists.txt"] = _CMAKE.replace("@SOURCES@", sources).replace("@P@", self.prefix)
        variants = {isa: self.build_weight_bytes(isa) for isa in OPT_GUARDS if isa in self.decls}
        macs = self.interp.macs if self.patches is None else self.patches.macs_patched
        return CProject(files, self.prefix, self.plan.arena_bytes, self.build_weight_bytes(), macs,
                        summaries, variants)

    def _io(self, kind: str) -> list[Tensor]:
        return self.graph.input_tensors if kind == "input" else self.graph.output_tensors

    def _header(self, P: str) -> str:
        lines = [f"/* Generated by picoml: the C API of model '{self.graph.name}'. */",
                 f"#ifndef {P}_H", f"#define {P}_H", "", "#include <stddef.h>", "#include <stdint.h>", "",
                 f"#define {P}_ARENA_BYTES {self.plan.arena_bytes}",
                 f"#define {P}_NUM_INPUTS {len(self.graph.inputs)}",
                 f"#define {P}_NUM_OUTPUTS {len(self.graph.outputs)}"]
        for kind in ("input", "output"):
            for i, t in enumerate(self._io(kind)):
                lines.append(f"#define {P}_{kind.upper()}_{i}_BYTES {t.nbytes}  /* {t.describe()} */")
        lines += ["",
                  f"/* Call once before the first invoke (zeroes state). */",
                  f"void {self.prefix}_init(void);",
                  f"/* Where to write input i ({P}_INPUT_i_BYTES bytes) before each invoke. */",
                  f"void *{self.prefix}_input(int index);",
                  f"/* Run one inference. */",
                  f"void {self.prefix}_invoke(void);",
                  f"/* Output i ({P}_OUTPUT_i_BYTES bytes), valid until the next invoke. */",
                  f"const void *{self.prefix}_output(int index);",
                  f"size_t {self.prefix}_input_bytes(int index);",
                  f"size_t {self.prefix}_output_bytes(int index);",
                  "", f"#endif /* {P}_H */", ""]
        return "\n".join(lines)

    def _source(self, calls: list[str]) -> str:
        arena = max(self.plan.arena_bytes, 1)
        includes = [f'#include "{self.prefix}.h"', '#include "requant.h"'] + \
                   [f'#include "pm_{m}.h"' for m in sorted(self.modules)]
        lines = [f"/* Generated by picoml from '{self.graph.name}': {len(self.graph.ops)} ops, "
                 f"{self.interp.macs:,} MACs, arena {self.plan.arena_bytes:,} bytes. Do not edit. */",
                 "#include <stddef.h>", "#include <stdint.h>", "#include <string.h>", *includes, "",
                 "/* Profiling builds (-DPICOML_PROFILE) mark each op's start and end; pm_profile.h",
                 " * comes from the target (e.g. the Cortex-M firmware). Otherwise the marks vanish. */",
                 "#ifdef PICOML_PROFILE", '#include "pm_profile.h"', "#else",
                 "#define PM_OP_BEGIN(index) ((void)0)", "#define PM_OP_END(index) ((void)0)", "#endif", "",
                 "/* One static arena holds every activation (offsets from picoml's memory planner). */",
                 f"static union {{ uint8_t bytes[{arena}]; int64_t align_; }} pm_arena;", ""]
        lines += self.decls[None]
        for isa, (macro, _) in OPT_GUARDS.items():
            if self.decls.get(isa) or self.decls.get(_portable(isa)):
                lines += [f"#if {macro}", *self.decls.get(isa, []), "#else", *self.decls.get(_portable(isa), []),
                          f"#endif /* {macro} */"]
        variables = [t for t in self.graph.tensors.values() if t.variable and not t.is_const]
        init_body = "\n".join(f"  memset(pm_arena.bytes + {self.plan.offsets[t.name]}, 0, {t.nbytes});"
                              for t in variables) or "  /* no state to reset */"
        lines += ["", f"void {self.prefix}_init(void) {{", init_body, "}", ""]
        for kind, ret in (("input", "void *"), ("output", "const void *")):
            tensors = self._io(kind)
            cases = "\n".join(f"    case {i}: return pm_arena.bytes + {self.plan.offsets[t.name]};"
                              for i, t in enumerate(tensors))
            sizes = "\n".join(f"    case {i}: return {t.nbytes};" for i, t in enumerate(tensors))
            lines += [f"{ret}{self.prefix}_{kind}(int index) {{", "  switch (index) {", cases,
                      "    default: return NULL;", "  }", "}", "",
                      f"size_t {self.prefix}_{kind}_bytes(int index) {{", "  switch (index) {", sizes,
                      "    default: return 0;", "  }", "}", ""]
        lines += [f"void {self.prefix}_invoke(void) {{", *calls, "}", ""]
        return "\n".join(lines)


def _np_of(ctype: str) -> str:
    return {"float": "float32", "int8_t": "int8", "uint8_t": "uint8", "int16_t": "int16", "uint16_t": "uint16",
            "int32_t": "int32", "uint32_t": "uint32", "int64_t": "int64", "uint64_t": "uint64"}[ctype]


def _c_value(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (int, np.integer)):
        return c_int(int(v), "int64_t" if not -(1 << 31) <= int(v) < (1 << 31) else "int32_t")
    if isinstance(v, (float, np.floating)):
        return c_float(float(v))
    raise TypeError(f"cannot emit {v!r} as a C value")


def generate(graph: Graph, prefix: str = "model", alignment: int = 16, max_ram: Optional[int] = None,
             patches: Any = None, dsp: bool = False, scratch: str = "fit",
             depthwise_in_place: bool = True) -> CProject:
    """The C project for ``graph`` (see :class:`CProject`). ``patches``, a
    :class:`picoml.plan.patches.PatchPlan` of ``graph``, runs its stage tile by tile in the
    arena of ``patched_plan`` (see :mod:`picoml.codegen.patches`). ``scratch`` picks between
    kernels' fast variants and their zero-scratch ones: "fit" (default) uses the fast ones
    wherever their scratch does not raise the arena (picoml.plan.scratch_fit; DSP builds
    always use their fast kernels), "fast" always, "lean" never (for tests and comparisons).
    ``depthwise_in_place`` lets the planner run depthwise ops in place where that lowers the
    arena (picoml.plan.inplace); DSP builds never do (the in-place kernel is portable C)."""
    if not prefix.isidentifier():
        raise PicomlError(f"prefix '{prefix}' is not a C identifier")
    return _Generator(graph, prefix, alignment, max_ram, patches, dsp, scratch, depthwise_in_place).generate()


_MAIN = """/* Example program: read the raw input bytes (all inputs, concatenated) from a file, run the
 * model once, write the raw output bytes (all outputs, concatenated) to a file. */
#include <stdio.h>
#include <string.h>
#include "@P@.h"

int main(int argc, char **argv) {
  FILE *f;
  int i;
  if (argc != 3) {
    fprintf(stderr, "usage: %s INPUT.bin OUTPUT.bin\\n", argv[0]);
    return 2;
  }
  @P@_init();
  f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 1; }
  for (i = 0; i < @PU@_NUM_INPUTS; ++i) {
    size_t n = @P@_input_bytes(i);
    if (fread(@P@_input(i), 1, n, f) != n) { fprintf(stderr, "%s: too short for input %d\\n", argv[1], i); return 1; }
  }
  fclose(f);
  @P@_invoke();
  f = fopen(argv[2], "wb");
  if (!f) { perror(argv[2]); return 1; }
  for (i = 0; i < @PU@_NUM_OUTPUTS; ++i) {
    size_t n = @P@_output_bytes(i);
    if (fwrite(@P@_output(i), 1, n, f) != n) { perror(argv[2]); return 1; }
  }
  return fclose(f) == 0 ? 0 : 1;
}
"""

_MAKEFILE = """# Generated by picoml. `make` builds the example program and a static library.
CC ?= cc
CFLAGS ?= -std=c99 -O2 -Wall -Wextra -Werror -pedantic
LDLIBS ?= -lm
SRCS := @SOURCES@

all: @P@_main lib@P@.a

@P@_main: main.c $(SRCS) $(wildcard *.h)
\t$(CC) $(CFLAGS) -o $@ main.c $(SRCS) $(LDLIBS)

lib@P@.a: $(SRCS:.c=.o)
\t$(AR) rcs $@ $^

%.o: %.c $(wildcard *.h)
\t$(CC) $(CFLAGS) -c -o $@ $<

clean:
\trm -f *.o lib@P@.a @P@_main

.PHONY: all clean
"""

_CMAKE = """# Generated by picoml.
cmake_minimum_required(VERSION 3.13)
project(@P@ C)
set(CMAKE_C_STANDARD 99)
set(CMAKE_C_STANDARD_REQUIRED ON)
add_library(@P@ STATIC @SOURCES@)
target_include_directories(@P@ PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
add_executable(@P@_main main.c)
target_link_libraries(@P@_main @P@)
if(UNIX)
  target_link_libraries(@P@_main m)
endif()
"""
