"""Run picoml's Cortex-M firmware in ``qemu-system-arm``: the optional fast path of the target.

The same model code as the Unicorn path (:mod:`.emulator`), built with ``-DPICOML_QEMU`` and
linked for an MPS2 board (code memory at 0, SRAM at 0x20000000; Cortex-M4 with FPU on
``mps2-an386``, Cortex-M3 on ``mps2-an385``). The build differs only where QEMU needs it
(``firmware/pm_profile.h``, ``firmware/qemu_io.c``): marks are 16-bit NOP hints instead of BKPTs
(same size, so the model's code is the same instructions at the same addresses), and the
inputs, outputs and stack area travel through semihosting files.

QEMU models no time either. A small TCG plugin (``qemu_plugin.c``, built with the host C
compiler on first use and cached) counts how often each translated block runs between marks,
and how often a block does not start where the previous one ended (a taken branch); Python
prices the blocks with :mod:`.cycles`, splitting them at marks, exactly as the Unicorn path
prices its blocks. Unicorn ends a block at each BKPT mark and QEMU runs on through the hint; the
instruction after a mark starts a fresh block in the cost model either way, so the figures of
an inference (between the INVOKE marks) and of each op are identical (tests/targets/test_qemu.py).
Whole-run figures are not: the QEMU build's I/O code runs outside the INVOKE marks.

Speed, measured on this machine (person_detect, 11.8 M instructions, one bench): about 0.1 s
in QEMU itself, but with QEMU's start-up and the segment bookkeeping the whole bench takes
0.25-0.4 s, no faster than Unicorn with its C block hook (0.2-0.3 s). QEMU pays off on long
runs. Flash wait states are not supported yet (the plugin's flash-read counter reads nothing
under QEMU 7.2; TargetConfig rejects them).
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from picoml.errors import PicomlError
from picoml.targets.cycles import CycleModel
from picoml.targets.emulator import (IO_MAGIC, MARK_EXIT, MARK_FAULT, MARK_INVOKE_BEGIN,
                                     MARK_INVOKE_END, MARK_OP_BEGIN, MARK_OP_END, MARK_READY, STACK_PAINT,
                                     EmulatorError, Firmware, Mark, RunResult)

QEMU = "qemu-system-arm"
# picoml core -> QEMU board; both boards have 4 MB of code memory at 0 and 4 MB of SRAM at 0x20000000
MACHINES = {"cortex-m4": "mps2-an386", "cortex-m3": "mps2-an385"}
BOARD_FLASH = BOARD_SRAM = 4 << 20
# the hint 0xBFx0 of each mark (firmware/pm_profile.h)
HINT_MARKS = {5: MARK_READY, 6: MARK_INVOKE_BEGIN, 7: MARK_INVOKE_END, 8: MARK_OP_BEGIN, 9: MARK_OP_END,
              10: MARK_EXIT, 11: MARK_FAULT}
_OK = b"PMOK"


def qemu_binary() -> str:
    """The QEMU executable, or an error saying how to install it."""
    exe = shutil.which(os.environ.get("PICOML_QEMU", QEMU))
    if not exe:
        raise PicomlError(f"{QEMU} not found: install it (Debian/Ubuntu: apt-get install qemu-system-arm) or set "
                          "PICOML_QEMU to its path; or use the default Unicorn emulator (emulator='unicorn', "
                          "--emulator unicorn)")
    return exe


def check_config(cpu: str, flash_bytes: int, sram_bytes: int) -> None:
    """Reject a core or memory size the QEMU boards cannot hold."""
    if cpu not in MACHINES:
        raise PicomlError(f"the qemu emulator runs {', '.join(MACHINES)}, not '{cpu}'; use emulator='unicorn'")
    if flash_bytes > BOARD_FLASH or sram_bytes > BOARD_SRAM:
        raise PicomlError(f"the qemu emulator's {MACHINES[cpu]} board has {BOARD_FLASH >> 10} KB of code memory and "
                          f"{BOARD_SRAM >> 10} KB of SRAM; flash_kb and sram_kb must fit them (or use emulator='unicorn')")


def _cache_root() -> Path:
    base = os.environ.get("PICOML_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "picoml")
    return Path(base) / "qemu"


@functools.lru_cache(maxsize=None)
def plugin_library() -> Path:
    """``qemu_plugin.c`` built for the host (cached by the source and the compiler)."""
    src = Path(__file__).with_name("qemu_plugin.c")
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise PicomlError("the qemu emulator builds its plugin with the host C compiler: install gcc or clang "
                          "(or set CC)")
    text = src.read_bytes()
    out = _cache_root() / hashlib.sha256(text + cc.encode()).hexdigest()[:16] / "libpm_qemu_plugin.so"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".so")
        os.close(fd)
        r = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-o", tmp, str(src)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            os.unlink(tmp)
            raise PicomlError(f"building the qemu plugin failed (a picoml bug; please report it):\n{r.stderr[-3000:]}")
        os.replace(tmp, out)
    return out


class QemuEmulator:
    """Runs one QEMU-build firmware ELF; the same :meth:`run` contract as :class:`.emulator.Emulator`."""

    def __init__(self, firmware: Firmware, cpu: str = "cortex-m4", flash: tuple[int, int] = (0, 1 << 20),
                 ram: tuple[int, int] = (0x20000000, 320 << 10), cycle_model: CycleModel | None = None,
                 timeout_s: float = 600.0) -> None:
        check_config(cpu, flash[1], ram[1])
        self.firmware = firmware
        self.cpu = cpu
        self.flash = flash
        self.ram = ram
        self.cycle_model = cycle_model or CycleModel()
        self.timeout_s = timeout_s
        self.stack_limit = firmware.address("__pm_stack_limit")
        self.stack_top = firmware.address("_estack")
        self._pieces: dict[tuple, list[tuple[int, int]]] = {}  # block -> (instructions, cycles) between marks

    def run(self, inputs: Sequence[bytes] = ()) -> RunResult:
        """Run from reset to the EXIT mark; the firmware reads ``inputs`` at its READY mark."""
        with tempfile.TemporaryDirectory(prefix="picoml-qemu-") as d:
            tmp = Path(d)
            (tmp / "pm_in.bin").write_bytes(b"".join(bytes(x) for x in inputs))
            (tmp / "paint.bin").write_bytes(struct.pack("<I", STACK_PAINT) * ((self.stack_top - self.stack_limit) // 4))
            plugin = f"{plugin_library()},out={tmp / 'counts.txt'}"
            if self.cycle_model.flash_read_penalty:
                plugin += f",flash_lo={self.flash[0]:#x},flash_hi={self.flash[0] + self.flash[1]:#x}"
            cmd = [qemu_binary(), "-M", MACHINES[self.cpu], "-nographic", "-monitor", "none", "-serial", "none",
                   "-semihosting-config", "enable=on,target=native", "-kernel", str(self._image()),
                   "-device", f"loader,file={tmp / 'paint.bin'},addr={self.stack_limit:#x},force-raw=on",
                   "-plugin", plugin]
            t0 = time.perf_counter()
            try:
                r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                raise self._error(f"no exit within {self.timeout_s:.0f} s (runaway firmware?)") from None
            wall = time.perf_counter() - t0
            out = (tmp / "pm_out.bin").read_bytes() if (tmp / "pm_out.bin").exists() else b""
            counts = (tmp / "counts.txt").read_text() if (tmp / "counts.txt").exists() else ""
            marks, flash_reads = self._marks(counts)
            if any(m.code == MARK_FAULT for m in marks):  # QEMU's plugins cannot read the exception number
                raise self._error("the firmware took an exception (its Fault_Handler ran)")
            if r.returncode != 0 or out[:4] != _OK or not counts:
                raise self._error(f"qemu exited with status {r.returncode} without the firmware's results: "
                                  f"{r.stderr.strip()[-2000:]}")
        exit_code, outputs, stack = self._results(out, inputs)
        if not marks or marks[-1].code != MARK_EXIT:
            raise self._error("the run has no EXIT mark")
        touched = np.flatnonzero(np.frombuffer(stack, "<u4") != STACK_PAINT)
        stack_bytes = len(stack) - int(touched[0]) * 4 if touched.size else 0
        return RunResult(exit_code=exit_code, instructions=marks[-1].instructions, cycles=marks[-1].cycles,
                         marks=marks, outputs=outputs,
                         stack_bytes=stack_bytes, stack_overflow=bool(touched.size and touched[0] == 0),
                         flash_reads=flash_reads, wall_s=wall)

    def _image(self) -> Path:
        """The ELF with its SRAM segment ending where the stack area starts: QEMU zero-fills a
        segment's whole memory size, and it must not cover the painted stack."""
        path = self.firmware.path.with_suffix(".qemu.elf")
        if path.exists():
            return path
        elf = bytearray(self.firmware.path.read_bytes())
        phoff, = struct.unpack_from("<I", elf, 28)
        phentsize, phnum = struct.unpack_from("<HH", elf, 42)
        for i in range(phnum):
            at = phoff + i * phentsize
            kind, _, vaddr, _, filesz, memsz = struct.unpack_from("<6I", elf, at)
            if kind == 1 and vaddr < self.stack_limit < vaddr + memsz:  # PT_LOAD
                struct.pack_into("<I", elf, at + 20, max(filesz, self.stack_limit - vaddr))
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".elf")
        with os.fdopen(fd, "wb") as f:
            f.write(elf)
        os.replace(tmp, path)
        return path

    def _error(self, what: str) -> EmulatorError:
        return EmulatorError(f"{self.firmware.path.name} on {self.cpu} in QEMU: {what} (a picoml bug; please report it)")

    def _results(self, out: bytes, inputs: Sequence[bytes]) -> tuple[int, list[bytes], bytes]:
        """Exit code, outputs and the stack area from pm_out.bin (see firmware/qemu_io.c)."""
        exit_code, magic, n_in, n_out = struct.unpack_from("<IIII", out, 4)
        if magic != IO_MAGIC:
            raise self._error(f"pm_io has magic {magic:#x}, expected {IO_MAGIC:#x}")
        if n_in != len(inputs):
            raise self._error(f"the firmware has {n_in} input(s) but {len(inputs)} were given")
        words = struct.unpack_from(f"<{2 * (n_in + n_out)}I", out, 20)
        sizes = words[1::2]
        for size, data in zip(sizes[:n_in], inputs):
            if size != len(data):
                raise self._error(f"an input of the firmware takes {size} bytes, got {len(data)}")
        pos, outputs = 20 + 4 * len(words), []
        for size in sizes[n_in:]:
            outputs.append(out[pos:pos + size])
            pos += size
        stack = out[pos:]
        if len(stack) != self.stack_top - self.stack_limit:
            raise self._error(f"pm_out.bin holds {len(stack)} bytes of stack, expected {self.stack_top - self.stack_limit}")
        return exit_code, outputs, stack

    def _piece_costs(self, start: int, size: int, marks: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
        """(instructions, static cycles) of each stretch of a block between its marks (marks excluded)."""
        key = (start, size, marks)
        costs = self._pieces.get(key)
        if costs is None:
            code = self._code(start, size)
            cuts = [0] + [off + 2 for off, _ in marks]
            ends = [off for off, _ in marks] + [size]
            costs = self._pieces[key] = [tuple(self.cycle_model.block_cost(code[a:b], start + a)) if b > a else (0, 0)
                                         for a, b in zip(cuts, ends)]
        return costs

    def _code(self, start: int, size: int) -> bytes:
        for addr, data in self.firmware.segments:
            if addr <= start and start + size <= addr + len(data):
                return data[start - addr:start - addr + size]
        raise self._error(f"executed code at {start:#x} (+{size}) is not in the firmware image")

    def _marks(self, text: str) -> tuple[list[Mark], int]:
        """Cumulative (instructions, cycles) at each mark, from the plugin's segment counts, and the
        flash reads up to the EXIT mark."""
        blocks: dict[int, tuple[int, int, tuple[tuple[int, int], ...]]] = {}
        segments: list[list[tuple[int, int]]] = [[]]
        ends: list[tuple[int, int, int]] = []  # (hint, taken branches, flash reads) closing each segment
        for line in text.splitlines():
            f = line.split()
            if f[0] == "C":
                segments[-1].append((int(f[1]), int(f[2])))
            elif f[0] in ("M", "E"):
                ends.append((int(f[1]) if f[0] == "M" else -1, int(f[-2]), int(f[-1])))
                segments.append([])
            elif f[0] == "T":
                marks = tuple((int(o), int(h)) for o, h in (m.split(":") for m in f[5:]))
                blocks[int(f[1])] = (int(f[2]), int(f[3]), marks)
        n = len(ends)
        insns, cycles = [0] * (n + 1), [0] * (n + 1)
        cm = self.cycle_model
        for s, counts in enumerate(segments[:n]):
            for tb, count in counts:
                for k, (ni, nc) in enumerate(self._piece_costs(*blocks[tb])):
                    insns[min(s + k, n)] += count * ni
                    cycles[min(s + k, n)] += count * nc
        out: list[Mark] = []
        taken_before = reads_before = total_i = total_c = at_exit = 0
        for s, (hint, taken, reads) in enumerate(ends):
            total_i += insns[s]
            total_c += cycles[s] + (taken - taken_before) * cm.branch_penalty \
                + (reads - reads_before) * cm.flash_read_penalty
            taken_before, reads_before = taken, reads
            if hint >= 0:
                if hint not in HINT_MARKS:
                    raise self._error(f"unknown mark hint {hint}")
                out.append(Mark(HINT_MARKS[hint], total_i, total_c))
                at_exit = reads if HINT_MARKS[hint] == MARK_EXIT else at_exit
        return out, at_exit

