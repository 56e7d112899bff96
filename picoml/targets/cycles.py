"""A static cycle estimate for Cortex-M code: a cost per instruction class, plus taken branches.

Instruction-level emulators do not model time, so picoml estimates cycles the way the recipe
in ``notes/cortex-m-recipe`` does (and other engines measured the same way can be compared
with): every executed instruction costs what the core's technical reference manual lists for
its class, assuming zero-wait-state memory, and every taken branch (any jump to somewhere other
than the next instruction, including calls, returns and ``pop {..., pc}``) adds the pipeline
refill. The emulator detects taken branches at run time; this module prices instructions.

Cortex-M4 table (ARM DDI 0439B, "Processor instruction timings"; the default)::

    class                                         cycles
    LDR/STR (byte, half, word, exclusive), VLDR/VSTR   2, or 1 right after another one
                                                       (neighbouring single loads/stores pipeline)
    LDRD/STRD                                     3
    LDM/STM/PUSH/POP/VLDM/VSTM/VPUSH/VPOP         1 + N (N registers; a D register counts 2)
    SDIV/UDIV                                     7 (2 to 12 on hardware, depending on the operands)
    VMLA/VMLS/VNMLA/VNMLS/VFMA/VFMS/VFNMA/VFNMS   3
    VDIV/VSQRT                                    14
    IT                                            0 (folded into the next instruction)
    everything else (ALU, MUL/MLA, SMULL/SMLAL, SMLAD & other DSP, VADD/VMUL, ...)   1
    taken branch                                  + 2 (pipeline refill)

Cortex-M3 has the same pipeline but a slower multiplier (MLA/MLS 2; SMULL/UMULL 3 to 5 and
SMLAL/UMLAL 4 to 7, early termination: 4 and 5 here) and no FPU or DSP instructions.
Cortex-M0+ (two-stage pipeline): loads and stores always 2 (no pipelining), LDM/STM 1 + N,
MULS 1 (the fast-multiplier option), a taken branch 2 in total (+1), BL 3. Cortex-M7 (dual
issue) and Cortex-M33 use the Cortex-M4 table: a documented approximation.

Flash wait states (``flash_wait_states`` = W > 0): a core fetching from flash through a
prefetch buffer (STM32's ART accelerator and the like) hides the latency of sequential fetches
but not of a jump, so each taken branch costs W more, and each data read from flash (literal
pools, const weights) costs W more; the emulator counts the reads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, NamedTuple

_SINGLE_LS = frozenset({
    "ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrex", "ldrexb", "ldrexh", "ldrt", "ldrbt", "ldrht",
    "ldrsbt", "ldrsht", "str", "strb", "strh", "strex", "strexb", "strexh", "strt", "strbt", "strht",
    "vldr", "vstr"})
_DOUBLE_LS = frozenset({"ldrd", "strd"})
_MULTIPLE = frozenset({"ldm", "ldmdb", "ldmia", "stm", "stmdb", "stmia", "push", "pop", "vldmia", "vldmdb",
                       "vstmia", "vstmdb", "vpush", "vpop", "vldm", "vstm"})
_FP_MAC = ("vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms")


@dataclass(frozen=True)
class CostTable:
    """Cycles per instruction class for one core (see the module docstring)."""

    name: str
    load_store: int = 2                 # single LDR/STR/VLDR/VSTR
    load_store_pipelined: int = 1       # the same, directly after another single load/store
    load_store_double: int = 3          # LDRD/STRD
    multiple_base: int = 1              # LDM/STM/PUSH/POP: base + 1 per register
    branch_taken: int = 2               # extra cycles when a branch is taken
    default: int = 1
    by_name: Mapping[str, int] = field(default_factory=dict)  # capstone instruction name -> cycles


CORTEX_M4 = CostTable("cortex-m4", by_name={
    "sdiv": 7, "udiv": 7, "vdiv": 14, "vsqrt": 14, "it": 0, **{n: 3 for n in _FP_MAC}})
CORTEX_M3 = CostTable("cortex-m3", by_name={
    "sdiv": 7, "udiv": 7, "it": 0, "mla": 2, "mls": 2, "smull": 4, "umull": 4, "smlal": 5, "umlal": 5})
CORTEX_M0PLUS = CostTable("cortex-m0plus", load_store_pipelined=2, load_store_double=2, branch_taken=1,
                          by_name={"bl": 2})
COST_TABLES: dict[str, CostTable] = {
    "cortex-m0plus": CORTEX_M0PLUS, "cortex-m3": CORTEX_M3, "cortex-m4": CORTEX_M4,
    "cortex-m7": CORTEX_M4, "cortex-m33": CORTEX_M4}


class BlockCost(NamedTuple):
    """Static figures of one basic block (the taken-branch penalty is added at run time)."""

    instructions: int
    cycles: int


def thumb_instruction_count(code: bytes) -> int:
    """Thumb instructions in ``code``: a halfword starting 0b11101/0b11110/0b11111 opens a
    32-bit instruction. Exact for any code, including encodings a disassembler rejects."""
    n = i = 0
    while i + 1 < len(code):
        i += 4 if (code[i + 1] >> 3) in (0b11101, 0b11110, 0b11111) else 2
        n += 1
    return n


def _registers_in_list(op_str: str) -> int:
    """Registers in a ``{r4, r5, lr}`` list; a D register moves two words."""
    lo, hi = op_str.find("{"), op_str.find("}")
    if lo < 0 or hi < lo:
        return 1
    regs = [r.strip() for r in op_str[lo + 1:hi].split(",") if r.strip()]
    return max(1, sum(2 if r.startswith("d") else 1 for r in regs))


class CycleModel:
    """Prices basic blocks of Thumb code with a :class:`CostTable`."""

    def __init__(self, table: CostTable = CORTEX_M4, flash_wait_states: int = 0) -> None:
        from capstone import CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB, Cs

        if flash_wait_states < 0:
            raise ValueError(f"flash_wait_states must be >= 0, got {flash_wait_states}")
        self.table = table
        self.flash_wait_states = flash_wait_states
        self.branch_penalty = table.branch_taken + flash_wait_states
        self.flash_read_penalty = flash_wait_states
        self._cs = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS)

    def instruction_costs(self, code: bytes, address: int = 0) -> list[tuple[str, int]]:
        """(instruction name, cycles) for each instruction of straight-line ``code``."""
        t = self.table
        out = []
        prev_single = False
        for ins in self._cs.disasm(code, address):
            name = ins.insn_name()
            single = name in _SINGLE_LS
            if single:
                c = t.load_store_pipelined if prev_single else t.load_store
            elif name in _DOUBLE_LS:
                c = t.load_store_double
            elif name in _MULTIPLE:
                c = t.multiple_base + _registers_in_list(ins.op_str)
            else:
                c = t.by_name.get(name, t.default)
            out.append((name, c))
            prev_single = single
        return out

    def block_cost(self, code: bytes, address: int = 0) -> BlockCost:
        """Instructions and static cycles of a basic block; an instruction the disassembler
        does not know costs the default."""
        n = thumb_instruction_count(code)
        costs = self.instruction_costs(code, address)
        return BlockCost(n, sum(c for _, c in costs) + (n - len(costs)) * self.table.default)


def cost_table(cpu: str) -> CostTable:
    """The table for ``cpu`` (one of :data:`COST_TABLES`)."""
    try:
        return COST_TABLES[cpu]
    except KeyError:
        raise ValueError(f"no cycle table for '{cpu}'; known: {', '.join(COST_TABLES)}") from None
