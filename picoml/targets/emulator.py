"""Run picoml's Cortex-M firmware in Unicorn: count instructions, estimate cycles, measure stack.

The firmware contract (``picoml/targets/firmware``): the vector table starts the flash (initial
SP, reset PC); the firmware talks to the emulator with BKPT *marks* (``pm_profile.h``), and
publishes the model's buffers in a word array ``pm_io``. One run:

1. load the ELF's segments into mapped flash and SRAM, paint the stack area with a pattern;
2. start at the reset vector; a block hook adds each translated block's instruction count
   and static cycle cost (both computed once per block and cached) and, when a block does not
   start where the previous one ended, the taken-branch penalty (see :mod:`.cycles`). The hook
   is C (``emulator_hook.c``, built for the host and cached: about 70 M instructions/s) with a
   Python fallback (about 8 M/s) that counts the same;
3. at the READY mark, write the inputs where ``pm_io`` says; at every mark, record the counters
   (the mark instructions themselves are subtracted, so marks are free in the figures);
4. at the EXIT mark, stop, read the outputs back and the lowest stack word that lost its paint:
   the stack high-water mark.

Unicorn runs Cortex-M0 (used for M0+: the same ARMv6-M instruction set), M3, M4, M7 and M33.
It does not fault when the FPU is left disabled, and it does not model time: cycles are the
static estimate of :mod:`picoml.targets.cycles`.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from picoml.errors import PicomlError
from picoml.targets.cycles import CycleModel

# BKPT immediates: the same table as firmware/pm_profile.h.
MARK_READY = 0x01
MARK_INVOKE_BEGIN = 0x02
MARK_INVOKE_END = 0x03
MARK_OP_BEGIN = 0x10
MARK_OP_END = 0x11
MARK_EXIT = 0x7E
MARK_FAULT = 0x7F
MARK_NAMES = {MARK_READY: "READY", MARK_INVOKE_BEGIN: "INVOKE_BEGIN", MARK_INVOKE_END: "INVOKE_END",
              MARK_OP_BEGIN: "OP_BEGIN", MARK_OP_END: "OP_END", MARK_EXIT: "EXIT", MARK_FAULT: "FAULT"}
IO_MAGIC = 0x4F494D50  # "PMIO" in bench_main.c.in
STACK_PAINT = 0xA5A5A5A5
UNICORN_CPUS = {"cortex-m0plus": "UC_CPU_ARM_CORTEX_M0", "cortex-m3": "UC_CPU_ARM_CORTEX_M3",
                "cortex-m4": "UC_CPU_ARM_CORTEX_M4", "cortex-m7": "UC_CPU_ARM_CORTEX_M7",
                "cortex-m33": "UC_CPU_ARM_CORTEX_M33"}
_EXCEPTIONS = {2: "NMI", 3: "HardFault", 4: "MemManage", 5: "BusFault", 6: "UsageFault", 11: "SVCall",
               14: "PendSV", 15: "SysTick"}
_SCS = (0xE000E000, 0x1000)  # System Control Space, mapped as plain memory (CPACR writes)
_PAGE = 0x1000


class EmulatorError(PicomlError):
    """The firmware did not run to its end (fault, bad access, runaway, broken contract)."""


@dataclass(frozen=True)
class Symbol:
    name: str
    address: int
    size: int
    kind: str            # ELF symbol type without STT_: FUNC, OBJECT, NOTYPE, ...
    file: Optional[str]  # source file of a local (static) symbol, else None


@dataclass(frozen=True)
class Section:
    name: str
    address: int
    size: int
    load_address: int    # where the bytes sit in the image (differs for .data)
    nobits: bool         # .bss-like: occupies memory, no bytes in the image
    alloc: bool


class Firmware:
    """A linked ELF, read once: loadable bytes, sections and symbols (keep the symbol table)."""

    def __init__(self, path: "str | Path") -> None:
        from elftools.elf.elffile import ELFFile

        self.path = Path(path)
        with open(self.path, "rb") as f:
            elf = ELFFile(f)
            if elf["e_machine"] != "EM_ARM":
                raise EmulatorError(f"{self.path} is not an ARM ELF ({elf['e_machine']})")
            self.segments = [(seg["p_paddr"], seg.data()) for seg in elf.iter_segments()
                             if seg["p_type"] == "PT_LOAD" and seg["p_filesz"]]
            self.sections = self._sections(elf)
            self.all_symbols = self._symbols(elf)
        self.symbols = {s.name: s for s in self.all_symbols if s.file is None}

    @staticmethod
    def _sections(elf) -> list[Section]:
        load = {}
        for seg in elf.iter_segments():
            if seg["p_type"] == "PT_LOAD":
                for sec in elf.iter_sections():
                    if sec["sh_size"] and seg.section_in_segment(sec):
                        load[sec.name] = seg["p_paddr"] + sec["sh_addr"] - seg["p_vaddr"]
        return [Section(s.name, s["sh_addr"], s["sh_size"], load.get(s.name, s["sh_addr"]),
                        s["sh_type"] == "SHT_NOBITS", bool(s["sh_flags"] & 0x2))
                for s in elf.iter_sections() if s.name]

    @staticmethod
    def _symbols(elf) -> list[Symbol]:
        tab = elf.get_section_by_name(".symtab")
        if tab is None:
            raise EmulatorError("the firmware ELF has no symbol table (do not strip it)")
        out, current_file = [], None
        for s in tab.iter_symbols():
            kind = s["st_info"]["type"].replace("STT_", "")
            if kind == "FILE":
                current_file = s.name
                continue
            if not s.name or s.name.startswith("$"):  # ARM mapping symbols $t/$d/$a
                continue
            local = s["st_info"]["bind"] == "STB_LOCAL"
            out.append(Symbol(s.name, s["st_value"], s["st_size"], kind, current_file if local else None))
        return out

    def address(self, name: str) -> int:
        """Address of a global symbol (a missing one is a broken firmware contract)."""
        sym = self.symbols.get(name)
        if sym is None:
            raise EmulatorError(f"{self.path.name}: no symbol '{name}' (not picoml firmware?)")
        return sym.address & ~1 if sym.kind == "FUNC" else sym.address


@dataclass
class Mark:
    """The counters when the firmware reached a mark (mark instructions excluded)."""

    code: int
    instructions: int
    cycles: int

    @property
    def name(self) -> str:
        return MARK_NAMES.get(self.code, hex(self.code))


@dataclass
class RunResult:
    """What one emulated run of the firmware produced."""

    exit_code: int
    instructions: int      # whole run, from reset to the EXIT mark
    cycles: int            # static estimate for the same span
    marks: list[Mark]
    outputs: list[bytes]
    stack_bytes: int       # high-water mark of the main stack
    stack_overflow: bool   # the stack reached the end of its area (the figure is a lower bound)
    flash_reads: int       # data reads from flash (counted only with flash wait states)
    wall_s: float


class Emulator:
    """Runs one firmware ELF on a Unicorn Cortex-M with the given flash and SRAM windows.

    Block costs are cached across runs (the code does not change), so running the same
    firmware again only pays for emulation. The block hook is C (``emulator_hook.c``, built for
    the host once) unless ``native_hook`` is False or no host compiler exists; both count alike.
    """

    def __init__(self, firmware: Firmware, cpu: str = "cortex-m4", flash: tuple[int, int] = (0x08000000, 1 << 20),
                 ram: tuple[int, int] = (0x20000000, 320 << 10), cycle_model: Optional[CycleModel] = None,
                 max_instructions: int = 4_000_000_000, native_hook: bool = True) -> None:
        if cpu not in UNICORN_CPUS:
            raise EmulatorError(f"Unicorn cannot emulate '{cpu}'; it runs: {', '.join(UNICORN_CPUS)}")
        self.firmware = firmware
        self.cpu = cpu
        self.flash = flash
        self.ram = ram
        self.cycle_model = cycle_model or CycleModel()
        self.max_instructions = max_instructions
        self.native_hook = native_hook
        self._blocks: dict[tuple[int, int], tuple[int, int]] = {}
        self._native_table = None
        self._mark_cost = self.cycle_model.block_cost(b"\x00\xbe").cycles  # BKPT #0
        self.stack_limit = firmware.address("__pm_stack_limit")
        self.stack_top = firmware.address("_estack")

    def _machine(self):
        from unicorn import UC_ARCH_ARM, UC_MODE_MCLASS, UC_MODE_THUMB, Uc
        from unicorn import arm_const

        uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
        uc.ctl_set_cpu_model(getattr(arm_const, UNICORN_CPUS[self.cpu]))
        for base, size in (self.flash, self.ram, _SCS):
            lo = base & ~(_PAGE - 1)
            uc.mem_map(lo, (base + size - lo + _PAGE - 1) & ~(_PAGE - 1))
        for addr, data in self.firmware.segments:
            if not (self._inside(addr, len(data), self.flash) or self._inside(addr, len(data), self.ram)):
                raise EmulatorError(f"firmware segment at {addr:#x} (+{len(data)}) is outside flash and SRAM")
            uc.mem_write(addr, data)
        n = (self.stack_top - self.stack_limit) // 4
        uc.mem_write(self.stack_limit, struct.pack("<I", STACK_PAINT) * n)
        return uc

    @staticmethod
    def _inside(addr: int, size: int, window: tuple[int, int]) -> bool:
        return window[0] <= addr and addr + size <= window[0] + window[1]

    def run(self, inputs: Sequence[bytes] = ()) -> RunResult:
        """Run from reset to the EXIT mark; ``inputs`` are written at the READY mark."""
        from unicorn import UC_HOOK_INTR, UC_HOOK_MEM_INVALID, UcError
        from unicorn import arm_const as A

        uc = self._machine()
        sp, pc = struct.unpack("<II", uc.mem_read(self.flash[0], 8))
        uc.reg_write(A.UC_ARM_REG_SP, sp)
        counter = self._native_counter(uc) if self.native_hook else None
        counter = counter or _PythonCounter(self, uc)
        cm, mark_cost = self.cycle_model, self._mark_cost
        marks: list[Mark] = []
        outputs: list[tuple[int, int]] = []
        state: dict = {"exit": None, "error": None}

        def on_intr(uc_, intno, _):
            pcv = uc_.reg_read(A.UC_ARM_REG_PC)
            code = uc_.mem_read(pcv, 2)
            if intno != 7 or code[1] != 0xBE:  # not a BKPT
                state["error"] = f"CPU exception {intno} at pc={pcv:#010x}"
                uc_.emu_stop()
                return
            k = len(marks) + 1  # marks so far, this one included: their instructions are not counted
            count, cycles = counter.counts()
            mark = Mark(code[0], count - k, cycles + counter.flash_reads() * cm.flash_read_penalty - k * mark_cost)
            marks.append(mark)
            uc_.reg_write(A.UC_ARM_REG_PC, (pcv + 2) | 1)
            if mark.code == MARK_READY:
                self._io(uc_, inputs, outputs, state)
            elif mark.code == MARK_EXIT:
                state["exit"] = uc_.reg_read(A.UC_ARM_REG_R0)
                uc_.emu_stop()
            elif mark.code == MARK_FAULT:
                n = uc_.reg_read(A.UC_ARM_REG_R0) & 0x1FF
                state["error"] = f"the firmware took exception {n} ({_EXCEPTIONS.get(n, 'IRQ')})"
                uc_.emu_stop()
            elif mark.code not in MARK_NAMES:
                state["error"] = f"unknown mark BKPT #{mark.code:#x} at pc={pcv:#010x}"
                uc_.emu_stop()

        def on_bad_memory(uc_, access, addr, size, value, _):
            state["error"] = (f"invalid memory access at {addr:#010x} ({size} bytes) from "
                              f"pc={uc_.reg_read(A.UC_ARM_REG_PC):#010x}")
            return False

        uc.hook_add(UC_HOOK_INTR, on_intr)
        uc.hook_add(UC_HOOK_MEM_INVALID, on_bad_memory)
        if cm.flash_read_penalty:
            counter.count_flash_reads(uc, self.flash)
        t0 = time.perf_counter()
        try:
            uc.emu_start(pc | 1, 0)
        except UcError as e:
            state["error"] = state["error"] or f"{e} at pc={uc.reg_read(A.UC_ARM_REG_PC):#010x}"
        wall = time.perf_counter() - t0
        if counter.over_limit():
            state["error"] = f"more than {self.max_instructions:,} instructions (runaway firmware?)"
        if state["error"] is None and state["exit"] is None:
            state["error"] = f"the firmware stopped at pc={uc.reg_read(A.UC_ARM_REG_PC):#010x} without an EXIT mark"
        if state["error"]:
            raise EmulatorError(f"{self.firmware.path.name} on {self.cpu}: {state['error']} "
                                "(a picoml bug; please report it)")
        stack, overflow = self._stack_high_water(uc)
        end = marks[-1]
        return RunResult(exit_code=state["exit"], instructions=end.instructions, cycles=end.cycles, marks=marks,
                         outputs=[bytes(uc.mem_read(a, n)) for a, n in outputs], stack_bytes=stack,
                         stack_overflow=overflow, flash_reads=counter.flash_reads(), wall_s=wall)

    def block(self, uc, address: int, size: int) -> tuple[int, int]:
        """(instructions, static cycles) of the translated block at ``address``, priced once."""
        info = self._blocks.get((address, size))
        if info is None:
            info = self._blocks[(address, size)] = tuple(
                self.cycle_model.block_cost(bytes(uc.mem_read(address, size)), address))
        return info

    def _native_counter(self, uc) -> Optional["_NativeCounter"]:
        """The C block hook, or None when it cannot be built (no host compiler)."""
        lib = native_hook_library()
        if lib is None:
            return None
        if self._native_table is None:  # block costs survive across runs, like self._blocks
            self._native_table = (_BlockCost * _NATIVE_TABLE_SIZE)()
        return _NativeCounter(self, uc, lib, self._native_table)

    def _io(self, uc, inputs: Sequence[bytes], outputs: list, state: dict) -> None:
        """At READY: check ``pm_io``, write the inputs, remember where the outputs are."""
        base = self.firmware.address("pm_io")
        magic, n_in, n_out = struct.unpack("<III", uc.mem_read(base, 12))
        if magic != IO_MAGIC:
            state["error"] = f"pm_io has magic {magic:#x}, expected {IO_MAGIC:#x}"
        elif n_in != len(inputs):
            state["error"] = f"the firmware has {n_in} input(s) but {len(inputs)} were given"
        else:
            words = struct.unpack(f"<{2 * (n_in + n_out)}I", uc.mem_read(base + 12, 8 * (n_in + n_out)))
            pairs = list(zip(words[0::2], words[1::2]))
            for (addr, nbytes), data in zip(pairs[:n_in], inputs):
                if len(data) != nbytes:
                    state["error"] = f"an input of the firmware takes {nbytes} bytes, got {len(data)}"
                    break
                uc.mem_write(addr, bytes(data))
            outputs.extend(pairs[n_in:])
        if state["error"]:
            uc.emu_stop()

    def _stack_high_water(self, uc) -> tuple[int, bool]:
        """Bytes of stack ever used: from the top of SRAM down to the lowest repainted word."""
        words = np.frombuffer(bytes(uc.mem_read(self.stack_limit, self.stack_top - self.stack_limit)), "<u4")
        touched = np.flatnonzero(words != STACK_PAINT)
        if touched.size == 0:
            return 0, False
        return int(words.size - touched[0]) * 4, bool(touched[0] == 0)


# -- block counters: the C hook, and the same in Python -----------------------------------------
class _PythonCounter:
    """Counts in a Python block hook (about 8 M instructions/s)."""

    def __init__(self, em: Emulator, uc) -> None:
        from unicorn import UC_HOOK_BLOCK

        self.count = self.cycles = self._reads = 0
        self.prev_end = -1
        self._over = False
        penalty, limit, block = em.cycle_model.branch_penalty, em.max_instructions, em.block

        def on_block(uc_, addr, size, _):
            n, c = block(uc_, addr, size)
            self.count += n
            self.cycles += c + (penalty if addr != self.prev_end else 0)
            self.prev_end = addr + size
            if self.count > limit and not self._over:
                self._over = True
                uc_.emu_stop()

        uc.hook_add(UC_HOOK_BLOCK, on_block)

    def count_flash_reads(self, uc, flash: tuple[int, int]) -> None:
        from unicorn import UC_HOOK_MEM_READ

        def on_read(uc_, access, addr, size, value, _):
            self._reads += 1

        uc.hook_add(UC_HOOK_MEM_READ, on_read, begin=flash[0], end=flash[0] + flash[1] - 1)

    def counts(self) -> tuple[int, int]:
        return self.count, self.cycles

    def flash_reads(self) -> int:
        return self._reads

    def over_limit(self) -> bool:
        return self._over


class _BlockCost(ctypes.Structure):
    _fields_ = [("key", ctypes.c_uint64), ("instructions", ctypes.c_uint32), ("cycles", ctypes.c_uint32)]


_PRICE_FN = ctypes.CFUNCTYPE(None, ctypes.c_uint64, ctypes.c_uint32)
_STOP_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
_NATIVE_TABLE_SIZE = 1 << 15


class _CounterState(ctypes.Structure):  # pm_counter in emulator_hook.c
    _fields_ = [("instructions", ctypes.c_uint64), ("cycles", ctypes.c_uint64), ("prev_end", ctypes.c_uint64),
                ("limit", ctypes.c_uint64), ("penalty", ctypes.c_uint32), ("over_limit", ctypes.c_uint32),
                ("table", ctypes.POINTER(_BlockCost)), ("mask", ctypes.c_uint32), ("used", ctypes.c_uint32),
                ("price", _PRICE_FN), ("stop", _STOP_FN), ("miss_instructions", ctypes.c_uint32),
                ("miss_cycles", ctypes.c_uint32), ("flash_reads", ctypes.c_uint64)]


class _NativeCounter:
    """Counts in the C block hook (about 60 M instructions/s); Python only prices new blocks."""

    def __init__(self, em: Emulator, uc, lib: ctypes.CDLL, table) -> None:
        from unicorn import UC_HOOK_BLOCK
        from unicorn.unicorn_py3.unicorn import uclib

        def price(address: int, size: int) -> None:
            st.miss_instructions, st.miss_cycles = em.block(uc, address, size)

        st = self.state = _CounterState()
        st.prev_end, st.limit = (1 << 64) - 1, em.max_instructions
        st.penalty = em.cycle_model.branch_penalty
        st.table, st.mask = table, _NATIVE_TABLE_SIZE - 1
        st.used = sum(1 for e in table if e.key)
        st.price = self._price = _PRICE_FN(price)  # keep the callback alive
        st.stop = ctypes.cast(uclib.uc_emu_stop, _STOP_FN)
        self._uc, self._lib = uc, lib
        self._hook(UC_HOOK_BLOCK, lib.pm_block_hook, 1, 0)

    def _hook(self, kind: int, fn, begin: int, end: int) -> None:
        from unicorn.unicorn_py3.unicorn import uc_hook_h, uclib

        handle = uc_hook_h()
        status = uclib.uc_hook_add(self._uc._uch, ctypes.byref(handle), kind, ctypes.cast(fn, ctypes.c_void_p),
                                   ctypes.cast(ctypes.pointer(self.state), ctypes.c_void_p), ctypes.c_uint64(begin),
                                   ctypes.c_uint64(end))
        if status != 0:
            raise EmulatorError(f"cannot install the native hook (unicorn error {status})")

    def count_flash_reads(self, uc, flash: tuple[int, int]) -> None:
        from unicorn import UC_HOOK_MEM_READ

        self._hook(UC_HOOK_MEM_READ, self._lib.pm_flash_read_hook, flash[0], flash[0] + flash[1] - 1)

    def counts(self) -> tuple[int, int]:
        return self.state.instructions, self.state.cycles

    def flash_reads(self) -> int:
        return self.state.flash_reads

    def over_limit(self) -> bool:
        return bool(self.state.over_limit)


@functools.lru_cache(maxsize=None)
def native_hook_library() -> Optional[ctypes.CDLL]:
    """emulator_hook.c built for the host (cached), or None without a working C compiler or
    with a Unicorn binding whose internals differ from 2.1's."""
    try:
        from unicorn.unicorn_py3.unicorn import uc_hook_h, uclib  # noqa: F401
    except ImportError:
        return None
    src = Path(__file__).with_name("emulator_hook.c")
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc or not src.exists():
        return None
    text = src.read_bytes()
    base = os.environ.get("PICOML_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "picoml")
    out = Path(base) / "emulator" / hashlib.sha256(text + cc.encode()).hexdigest()[:16] / "libpm_emulator_hook.so"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".so")
        os.close(fd)
        r = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", tmp, str(src)], capture_output=True, text=True)
        if r.returncode != 0:
            os.unlink(tmp)
            return None
        os.replace(tmp, out)
    try:
        return ctypes.CDLL(str(out))
    except OSError:
        return None
