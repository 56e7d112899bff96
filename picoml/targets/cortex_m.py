"""The Cortex-M target: cross-compile the generated C into firmware, run it in an emulator.

``compile_cortex_m(graph)`` generates the C project, builds it with ``arm-none-eabi-gcc``
together with picoml's bare-metal firmware (``targets/firmware``: start-up code, a linker
script with the target's flash and SRAM sizes, a benchmark ``main``), and checks that it fits.
The returned :class:`CortexMModel` runs inferences in Unicorn (:mod:`.emulator`): outputs are
checked against the reference interpreter on every run, and :meth:`CortexMModel.bench` reports
executed instructions, estimated cycles (:mod:`.cycles`), latency at the clock, flash (code and
weights), SRAM (arena, other static data, measured stack) and a per-op cycle breakdown.

Builds are cached by the hash of every source, the flags and the memory sizes.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from picoml.codegen.emitter import CProject
from picoml.errors import PicomlError, ResourceError
from picoml.interpreter import Inputs, Interpreter, bind_inputs
from picoml.ir import Graph
from picoml.targets.cycles import CycleModel, cost_table
from picoml.targets.emulator import (MARK_INVOKE_BEGIN, MARK_INVOKE_END, MARK_OP_BEGIN, MARK_OP_END,
                                     EmulatorError, Emulator, Firmware, RunResult)

FIRMWARE_DIR = Path(__file__).parent / "firmware"
FLASH_ORIGIN = 0x08000000   # STM32-style memory map
RAM_ORIGIN = 0x20000000
STACK_MIN_BYTES = 1024      # reserved by the linker script; the measured need is checked after a run
CPU_FLAGS = {
    "cortex-m0plus": ["-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"],
    "cortex-m3": ["-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"],
    "cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    # single-precision FPU (STM32F7-class parts): Unicorn's Cortex-M7 has no double-precision FPU
    "cortex-m7": ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"],
    "cortex-m33": ["-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"],
}
CPUS = tuple(CPU_FLAGS)
# kernels="optimized" lets cores with the DSP extension run the codegen/c/opt/arm kernels
# (selected by the compiler's __ARM_FEATURE_DSP); "portable" builds with -DPM_PORTABLE.
KERNELS = ("optimized", "portable")
DSP_CPUS = ("cortex-m4", "cortex-m7", "cortex-m33")
# Unicorn (pip) by default; QEMU with picoml's plugin (targets/qemu.py) is the optional fast path.
EMULATORS = ("unicorn", "qemu")
# -std=c99 also turns off floating-point contraction (no fused multiply-add), like the host build.
C_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-ffunction-sections", "-fdata-sections"]
LD_FLAGS = ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections"]
GCC = "arm-none-eabi-gcc"


class OutputMismatchError(AssertionError):
    """The firmware's outputs differ from the reference interpreter's: a bug in picoml."""


@dataclass(frozen=True)
class TargetConfig:
    """One Cortex-M board as picoml models it."""

    cpu: str = "cortex-m4"
    opt: str = "-O2"
    flash_kb: int = 1024
    sram_kb: int = 320
    clock_mhz: float = 120.0
    flash_wait_states: int = 0
    profile: bool = True
    kernels: str = "optimized"
    emulator: str = "unicorn"

    def check(self) -> None:
        """Reject settings picoml cannot build or emulate."""
        if self.cpu not in CPU_FLAGS:
            raise PicomlError(f"unknown Cortex-M cpu '{self.cpu}'; supported: {', '.join(CPUS)}")
        if self.kernels not in KERNELS:
            raise PicomlError(f"kernels must be one of {', '.join(KERNELS)}, got '{self.kernels}'")
        if not re.fullmatch(r"-O[0-3sgz]|-Ofast", self.opt):
            raise PicomlError(f"opt must be one of -O0 -O1 -O2 -O3 -Os -Oz -Og -Ofast, got '{self.opt}'")
        for name in ("flash_kb", "sram_kb", "clock_mhz"):
            if not getattr(self, name) > 0:
                raise PicomlError(f"{name} must be positive, got {getattr(self, name)}")
        if self.flash_kb > 256 * 1024 or self.sram_kb > 256 * 1024:
            raise PicomlError("flash_kb and sram_kb must be at most 262144 (256 MB) each")
        if self.flash_wait_states < 0:
            raise PicomlError(f"flash_wait_states must be >= 0, got {self.flash_wait_states}")
        if self.emulator not in EMULATORS:
            raise PicomlError(f"emulator must be one of {', '.join(EMULATORS)}, got '{self.emulator}'")
        if self.emulator == "qemu":
            from picoml.targets.qemu import check_config

            check_config(self.cpu, self.flash_bytes, self.sram_bytes)
            if self.flash_wait_states:  # the plugin's flash-read counter does not count yet (QEMU 7.2)
                raise PicomlError("the qemu emulator does not count flash reads: use emulator='unicorn' for "
                                  "flash_wait_states > 0")

    @property
    def flash_origin(self) -> int:
        """Where flash starts: STM32-style, or 0 on QEMU's MPS2 boards (their code memory)."""
        return 0 if self.emulator == "qemu" else FLASH_ORIGIN

    @property
    def flash_bytes(self) -> int:
        return int(self.flash_kb) * 1024

    @property
    def optimized(self) -> bool:
        """Whether the build runs the DSP kernels (optimized kernels on a core that has DSP)."""
        return self.kernels == "optimized" and self.cpu in DSP_CPUS

    @property
    def sram_bytes(self) -> int:
        return int(self.sram_kb) * 1024


@dataclass(frozen=True)
class MemoryFigures:
    """Flash and static SRAM of a linked firmware, from its ELF sections and symbols."""

    flash_code_bytes: int     # everything in flash but the weights: code, library constants, .data image
    flash_weight_bytes: int   # the model's const arrays and parameter blocks (objects in <prefix>.c)
    sram_arena_bytes: int     # the pm_arena object
    sram_static_bytes: int    # .data + .bss other than the arena

    @property
    def flash_bytes(self) -> int:
        return self.flash_code_bytes + self.flash_weight_bytes


def memory_figures(fw: Firmware, prefix: str = "model") -> MemoryFigures:
    """Split flash into code and weights and static SRAM into arena and the rest."""
    in_ram = [s for s in fw.sections if s.alloc and s.address >= RAM_ORIGIN and s.name != ".stack"]
    # by load address: the initial values of .data are stored in flash too; .pm_qemu holds the
    # QEMU build's I/O code (qemu.py), which is not part of the firmware being measured
    flash = sum(s.size for s in fw.sections
                if s.alloc and not s.nobits and s.load_address < RAM_ORIGIN and s.name != ".pm_qemu")
    weights = sum(s.size for s in fw.all_symbols
                  if s.kind == "OBJECT" and s.file == f"{prefix}.c" and s.address < RAM_ORIGIN)
    arena = next((s.size for s in fw.all_symbols if s.name == "pm_arena" and s.file == f"{prefix}.c"), 0)
    static = sum(s.size for s in in_ram)
    return MemoryFigures(flash - weights, weights, arena, static - arena)


# -- building -------------------------------------------------------------------------------
def toolchain() -> str:
    """The cross compiler, or an error saying how to install it."""
    gcc = shutil.which(os.environ.get("PICOML_ARM_GCC", GCC))
    if not gcc:
        raise PicomlError(f"{GCC} not found: install the GNU Arm toolchain (Debian/Ubuntu: apt-get install "
                          "gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi), or set PICOML_ARM_GCC")
    return gcc


def linker_script(flash_bytes: int, ram_bytes: int, flash_origin: int = FLASH_ORIGIN) -> str:
    """The firmware's linker script for the given memory sizes."""
    text = (FIRMWARE_DIR / "linker.ld.in").read_text()
    for key, value in {"FLASH_ORIGIN": f"{flash_origin:#010x}", "FLASH_BYTES": str(flash_bytes),
                       "RAM_ORIGIN": f"{RAM_ORIGIN:#010x}", "RAM_BYTES": str(ram_bytes),
                       "STACK_MIN": str(STACK_MIN_BYTES)}.items():
        text = text.replace(f"@{key}@", value)
    return text


def firmware_files(project: CProject, qemu: bool = False) -> dict[str, str]:
    """The generated project plus the firmware sources (bench main specialised for its prefix);
    ``qemu`` adds the semihosting I/O of the QEMU build."""
    files = {n: t for n, t in project.files.items() if n.endswith((".c", ".h")) and n != "main.c"}
    files["startup.c"] = (FIRMWARE_DIR / "startup.c").read_text()
    if qemu:  # sorts after the model's sources: their code keeps its addresses
        files["qemu_io.c"] = (FIRMWARE_DIR / "qemu_io.c").read_text()
    files["pm_profile.h"] = (FIRMWARE_DIR / "pm_profile.h").read_text()
    files["bench_main.c"] = ((FIRMWARE_DIR / "bench_main.c.in").read_text()
                             .replace("@PU@", project.prefix.upper()).replace("@P@", project.prefix))
    return files


def cache_dir() -> Path:
    base = os.environ.get("PICOML_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "picoml")
    return Path(base) / "cortex_m"


def build_firmware(project: CProject, config: TargetConfig) -> Path:
    """Compile and link the firmware ELF (cached); :class:`ResourceError` if it does not fit."""
    gcc = toolchain()
    qemu = config.emulator == "qemu"
    files = firmware_files(project, qemu)
    cflags = [*CPU_FLAGS[config.cpu], config.opt, *C_FLAGS] + (["-DPICOML_PROFILE"] if config.profile else []) \
        + ([] if config.kernels == "optimized" else ["-DPM_PORTABLE"]) + (["-DPICOML_QEMU"] if qemu else [])
    script = linker_script(config.flash_bytes, config.sram_bytes, config.flash_origin)
    h = hashlib.sha256(repr((gcc, cflags, LD_FLAGS, script, sorted(files.items()))).encode())
    out = cache_dir() / h.hexdigest()[:24] / "firmware.elf"
    if out.exists():
        return out
    out.parent.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent.parent, prefix=".build-"))
    try:
        for name, text in files.items():
            (tmp / name).write_text(text)
        sources = sorted(n for n in files if n.endswith(".c"))
        compile_ = [gcc, *cflags, "-c", *sources]
        objects = [s[:-2] + ".o" for s in sources]
        link = [gcc, *CPU_FLAGS[config.cpu], *LD_FLAGS, "-T", "linker.ld", "-o", "firmware.elf", *objects, "-lm"]
        (tmp / "linker.ld").write_text(script)
        (tmp / "build.sh").write_text("#!/bin/sh\n# How picoml built firmware.elf here.\nset -e\n"
                                      f"{' '.join(compile_)}\n{' '.join(link)}\n")
        _gcc(compile_, tmp, "the generated C failed to cross-compile")
        r = subprocess.run(link, cwd=tmp, capture_output=True, text=True)
        if r.returncode != 0:
            _explain_link_failure(link, r.stderr, tmp, config, project.prefix)
        try:
            os.replace(tmp, out.parent)
        except OSError:  # another process built the same firmware first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _gcc(cmd: list[str], cwd: Path, what: str) -> None:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise PicomlError(f"{what} (a picoml bug; please report it):\n{' '.join(cmd)}\n{r.stderr[-4000:]}")


def _explain_link_failure(link: list[str], stderr: str, tmp: Path, config: TargetConfig, prefix: str) -> None:
    """Relink against a huge memory map to measure the firmware, then say what does not fit."""
    (tmp / "measure.ld").write_text(linker_script(256 << 20, 256 << 20))  # flash ends below SRAM's origin
    cmd = [a if a != "linker.ld" else "measure.ld" for a in link]
    cmd[cmd.index("firmware.elf")] = "measure.elf"
    r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
    if r.returncode == 0:
        check_fits(memory_figures(Firmware(tmp / "measure.elf"), prefix), config, stack=STACK_MIN_BYTES)
    raise PicomlError(f"linking the firmware failed (a picoml bug; please report it):\n{' '.join(link)}\n"
                      f"{stderr[-4000:]}")


def check_fits(mem: MemoryFigures, config: TargetConfig, stack: int, measured: bool = False) -> None:
    """:class:`ResourceError` naming the memory, the need and the excess, if the model does not fit."""
    where = f"{config.cpu} with {config.flash_kb:,} KB flash and {config.sram_kb:,} KB SRAM"
    if mem.flash_bytes > config.flash_bytes:
        raise ResourceError(
            f"the model does not fit in flash: it needs {mem.flash_bytes:,} bytes (code {mem.flash_code_bytes:,} + "
            f"weights {mem.flash_weight_bytes:,}) but the {where} has {config.flash_bytes:,} "
            f"({mem.flash_bytes - config.flash_bytes:,} bytes over). Raise flash_kb (--flash-kb) or use a "
            "smaller model.")
    need = mem.sram_arena_bytes + mem.sram_static_bytes + stack
    if need > config.sram_bytes:
        kind = "measured" if measured else "a minimum of"
        raise ResourceError(
            f"the model does not fit in SRAM: it needs {need:,} bytes (arena {mem.sram_arena_bytes:,} + other "
            f"static data {mem.sram_static_bytes:,} + {kind} {stack:,} of stack) but the {where} has "
            f"{config.sram_bytes:,} ({need - config.sram_bytes:,} bytes over). Raise sram_kb (--sram-kb) or use a "
            "smaller model.")


# -- running --------------------------------------------------------------------------------
class CortexMModel:
    """A model built for one Cortex-M configuration, run in the emulator."""

    def __init__(self, graph: Graph, project: CProject, config: TargetConfig, elf_path: Path) -> None:
        self.graph = graph
        self.project = project
        self.config = config
        self.elf_path = elf_path
        self.firmware = Firmware(elf_path)
        self.memory = memory_figures(self.firmware, project.prefix)
        check_fits(self.memory, config, stack=STACK_MIN_BYTES)
        cycle_model = CycleModel(cost_table(config.cpu), config.flash_wait_states)
        flash, ram = (config.flash_origin, config.flash_bytes), (RAM_ORIGIN, config.sram_bytes)
        if config.emulator == "qemu":
            from picoml.targets.qemu import QemuEmulator

            self.emulator: Any = QemuEmulator(self.firmware, config.cpu, flash, ram, cycle_model)
        else:
            self.emulator = Emulator(self.firmware, config.cpu, flash, ram, cycle_model)
        self.reference = Interpreter(graph)
        self.last: Optional[dict[str, Any]] = None

    def _execute(self, inputs: Inputs) -> tuple[list[np.ndarray], RunResult]:
        bound = bind_inputs(self.graph, inputs)
        data = [np.ascontiguousarray(bound[t.name]).tobytes() for t in self.graph.input_tensors]
        result = self.emulator.run(data)
        if result.stack_overflow:
            raise ResourceError(f"the stack overflowed the {self.config.sram_kb:,} KB SRAM of the {self.config.cpu} "
                                f"(static data {self.memory.sram_arena_bytes + self.memory.sram_static_bytes:,} "
                                "bytes leave too little room); raise sram_kb (--sram-kb)")
        check_fits(self.memory, self.config, stack=result.stack_bytes, measured=True)
        outs = [np.frombuffer(raw, t.dtype.numpy).reshape(t.storage_shape).copy()
                for raw, t in zip(result.outputs, self.graph.output_tensors)]
        return outs, result

    def run(self, inputs: Inputs) -> list[np.ndarray]:
        """Outputs computed by the firmware; raises :class:`OutputMismatchError` when they differ
        from the reference interpreter's."""
        outs, _ = self._execute(inputs)
        problem = mismatch(outs, self.reference.run(inputs))
        if problem:
            raise OutputMismatchError(f"{self.config.cpu} firmware output differs from the reference interpreter: "
                                      f"{problem} (a picoml bug; please report it)")
        return outs

    def bench(self, inputs: Optional[Inputs] = None, seed: int = 0) -> dict[str, Any]:
        """One inference with its figures (seeded random inputs when none are given)."""
        if inputs is None:
            rng = np.random.default_rng(seed)
            inputs = [random_input(t, rng) for t in self.graph.input_tensors]
        outs, result = self._execute(inputs)
        problem = mismatch(outs, self.reference.run(inputs))
        invoke = _span(result, MARK_INVOKE_BEGIN, MARK_INVOKE_END)
        ops = self._ops(result) if self.config.profile else []
        mem = self.memory
        macs = int(self.project.macs)
        figures = {
            "instructions": invoke[0], "cycles": invoke[1],
            "latency_ms": invoke[1] / (self.config.clock_mhz * 1e3), "clock_mhz": self.config.clock_mhz,
            "flash_code_bytes": mem.flash_code_bytes, "flash_weight_bytes": mem.flash_weight_bytes,
            "sram_arena_bytes": mem.sram_arena_bytes, "sram_static_bytes": mem.sram_static_bytes,
            "stack_bytes": result.stack_bytes, "outputs_match": problem is None, "ops": ops,
            # beyond the CLI's JSON:
            "cpu": self.config.cpu, "opt": self.config.opt, "flash_wait_states": self.config.flash_wait_states,
            "macs": macs, "cycles_per_mac": invoke[1] / macs if macs else None,
            "flash_bytes": mem.flash_bytes,
            "sram_bytes": mem.sram_arena_bytes + mem.sram_static_bytes + result.stack_bytes,
            "mismatch": problem, "flash_reads": result.flash_reads, "emulator_s": result.wall_s,
        }
        self.last = figures
        return figures

    def _ops(self, result: RunResult) -> list[dict[str, Any]]:
        """Per-op figures from the OP_BEGIN/OP_END marks (in execution order)."""
        marks = [m for m in result.marks if m.code in (MARK_OP_BEGIN, MARK_OP_END)]
        summaries = self.project.op_summaries
        pairs = list(zip(marks[0::2], marks[1::2]))
        if len(marks) != 2 * len(summaries) or any(b.code != MARK_OP_BEGIN or e.code != MARK_OP_END
                                                   for b, e in pairs):
            raise EmulatorError(f"expected {len(summaries)} op begin/end mark pairs, got "
                                f"{[m.name for m in marks][:12]}... (a picoml bug; please report it)")
        return [{"index": s["index"], "type": s["type"], "macs": s["macs"],
                 "instructions": e.instructions - b.instructions, "cycles": e.cycles - b.cycles}
                for s, (b, e) in zip(summaries, pairs)]

    def report(self) -> dict[str, Any]:
        """Static figures of the build, plus those of the last :meth:`bench`."""
        return {"target": "cortex-m", **asdict(self.config), "elf": str(self.elf_path),
                "flash_bytes": self.memory.flash_bytes, **asdict(self.memory),
                "arena_bytes_planned": self.project.arena_bytes, "macs": self.project.macs,
                "ops": len(self.graph.ops), "last_bench": self.last}


def _span(result: RunResult, begin: int, end: int) -> tuple[int, int]:
    """(instructions, cycles) from the first ``begin`` mark to the first ``end`` mark after it."""
    codes = [m.code for m in result.marks]
    if begin not in codes or end not in codes[codes.index(begin):]:
        raise EmulatorError(f"the firmware run has no {begin:#x}..{end:#x} marks (a picoml bug; please report it)")
    b = result.marks[codes.index(begin)]
    e = result.marks[codes.index(end, codes.index(begin))]
    return e.instructions - b.instructions, e.cycles - b.cycles


def random_input(t: Any, rng: np.random.Generator) -> np.ndarray:
    """Seeded random data covering the input's whole range (float: standard normal)."""
    if t.dtype.numpy.kind == "f":
        return rng.standard_normal(t.storage_shape).astype(t.dtype.numpy)
    info = np.iinfo(t.dtype.numpy)
    return rng.integers(info.min, info.max, size=t.storage_shape, endpoint=True).astype(t.dtype.numpy)


def mismatch(got: list[np.ndarray], expected: list[np.ndarray], float_rtol: float = 1e-5) -> Optional[str]:
    """None when ``got`` equals ``expected`` (integers bit for bit, floats within ``float_rtol``),
    else where the first difference is."""
    for i, (g, e) in enumerate(zip(got, expected)):
        e = np.asarray(e).reshape(g.shape)
        if g.dtype != e.dtype:
            return f"output {i}: dtype {g.dtype} vs {e.dtype}"
        if g.dtype.kind == "f":
            bad = np.flatnonzero(~np.isclose(g, e, rtol=float_rtol, atol=1e-6, equal_nan=True))
        else:
            bad = np.flatnonzero(g.astype(np.int64) != e.astype(np.int64))
        if bad.size:
            return (f"output {i}: {bad.size} of {g.size} elements differ, first at {bad[:5].tolist()}: "
                    f"firmware {g.ravel()[bad[:5]].tolist()} vs reference {e.ravel()[bad[:5]].tolist()}")
    return None


def compile_cortex_m(graph: Graph, cpu: str = "cortex-m4", opt: str = "-O2", flash_kb: int = 1024,
                     sram_kb: int = 320, clock_mhz: float = 120, flash_wait_states: int = 0,
                     profile: bool = True, kernels: str = "optimized", emulator: str = "unicorn") -> CortexMModel:
    """Build ``graph`` into Cortex-M firmware and load it in the emulator (see the module docstring).

    ``kernels="optimized"`` (default) runs the DSP kernels of ``codegen/c/opt/arm`` on cores
    that have the extension (M4, M7, M33) and the portable ones elsewhere; ``"portable"``
    builds with ``-DPM_PORTABLE``, the reference kernels everywhere.
    ``emulator="qemu"`` runs the firmware in ``qemu-system-arm`` (:mod:`.qemu`) instead
    of Unicorn, with the same figures.
    Raises :class:`ResourceError` when the model does not fit ``flash_kb`` or ``sram_kb``.
    """
    from picoml.codegen import generate

    config = TargetConfig(cpu, opt, flash_kb, sram_kb, float(clock_mhz), int(flash_wait_states), bool(profile),
                          kernels, emulator)
    config.check()
    if emulator == "qemu":
        from picoml.targets.qemu import qemu_binary

        qemu_binary()  # fail before a long build
    try:
        import elftools  # noqa: F401
        import unicorn  # noqa: F401
    except ImportError as e:
        raise PicomlError(f"the Cortex-M emulator needs unicorn and pyelftools ({e}); "
                          "pip install unicorn==2.1.4 pyelftools==0.33 capstone==5.0.9") from None
    toolchain()
    project = generate(graph, prefix="model", dsp=config.optimized)
    if config.optimized and "arm" in project.variant_weight_bytes:  # the constants this build holds
        project = dataclasses.replace(project, weight_bytes=project.variant_weight_bytes["arm"])
    if project.arena_bytes > config.sram_bytes:  # fail before a long build
        check_fits(MemoryFigures(0, 0, project.arena_bytes, 0), config, stack=STACK_MIN_BYTES)
    return CortexMModel(graph, project, config, build_firmware(project, config))
