"""The static Cortex-M cycle model, priced on hand-written instruction sequences assembled with
arm-none-eabi-as, and the emulator's counting (marks, taken branches, wait states, stack) on tiny
hand-written firmwares."""
import shutil
import subprocess

import pytest

pytest.importorskip("capstone", reason="capstone is not installed (pip install capstone==5.0.9)")
if not shutil.which("arm-none-eabi-as"):
    pytest.skip("arm-none-eabi-as is not installed (apt-get install binutils-arm-none-eabi)", allow_module_level=True)

from picoml.targets.cycles import CORTEX_M0PLUS, CORTEX_M3, CORTEX_M4, CycleModel, thumb_instruction_count  # noqa: E402

CPU_AS = {"cortex-m4": ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16"], "cortex-m3": ["-mcpu=cortex-m3"],
          "cortex-m0plus": ["-mcpu=cortex-m0plus"]}


def assemble(tmp_path, body, cpu="cortex-m4"):
    """Machine code of a Thumb instruction sequence."""
    src, obj, binf = tmp_path / "t.s", tmp_path / "t.o", tmp_path / "t.bin"
    src.write_text(".syntax unified\n.thumb\n.text\n" + body + "\n")
    subprocess.run(["arm-none-eabi-as", *CPU_AS[cpu], "-mthumb", "-o", str(obj), str(src)], check=True)
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", "-j", ".text", str(obj), str(binf)], check=True)
    return binf.read_bytes()


def costs(tmp_path, body, table=CORTEX_M4, cpu="cortex-m4"):
    code = assemble(tmp_path, body, cpu)
    return CycleModel(table).block_cost(code), [c for _, c in CycleModel(table).instruction_costs(code)]


@pytest.mark.parametrize("body, n, cycles", [
    ("adds r0, r0, r1\n eor r2, r3\n lsls r1, r1, #3\n mov.w r4, #1000\n add.w r5, r6, r7, lsl #2", 5, 5),
    ("mul r0, r1, r2\n mla r0, r1, r2, r3\n smull r0, r1, r2, r3\n smlal r0, r1, r2, r3", 4, 4),
    ("smlad r0, r1, r2, r3\n sxtb16 r0, r1\n usada8 r0, r1, r2, r3\n qadd r0, r1, r2\n ssat r0, #8, r1", 5, 5),
    ("ldr r0, [r1]", 1, 2),
    ("ldr r0, [r1]\n ldrb r2, [r1, #1]\n ldrsh r3, [r1, #2]\n str r0, [r1, #8]", 4, 2 + 1 + 1 + 1),
    ("ldr r0, [r1]\n adds r0, #1\n ldr r2, [r1, #4]", 3, 2 + 1 + 2),  # an ALU op breaks the pipelining
    ("vldr s0, [r0]\n vldr s1, [r0, #4]\n vstr s2, [r0, #8]", 3, 2 + 1 + 1),
    ("ldrd r0, r1, [r2]\n strd r0, r1, [r2, #8]", 2, 6),
    ("push {r4, r5, r6, r7, lr}\n pop {r4, r5, r6, r7}", 2, 6 + 5),
    ("ldm r0!, {r1, r2, r3}\n stmdb r0, {r1, r2}", 2, 4 + 3),
    ("vpush {d8, d9}\n vpop {s16, s17}\n vldmia r0!, {s0, s1, s2, s3}", 3, 5 + 3 + 5),  # a D register is 2 words
    ("sdiv r0, r1, r2\n udiv r0, r1, r2", 2, 14),
    ("vfma.f32 s0, s1, s2\n vmla.f32 s0, s1, s2\n vmul.f32 s0, s1, s2\n vadd.f32 s0, s1, s2", 4, 3 + 3 + 1 + 1),
    ("vdiv.f32 s0, s1, s2\n vsqrt.f32 s0, s1", 2, 28),
    ("cmp r0, #0\n it eq\n moveq r0, #1", 3, 2),  # IT folds into the next instruction
])
def test_cortex_m4_table(tmp_path, body, n, cycles):
    block, _ = costs(tmp_path, body)
    assert block == (n, cycles)


def test_cortex_m3_multiplies_are_slower(tmp_path):
    block, each = costs(tmp_path, "mul r0, r1, r2\n mla r0, r1, r2, r3\n umull r0, r1, r2, r3\n smlal r0, r1, r2, r3",
                        CORTEX_M3, "cortex-m3")
    assert each == [1, 2, 4, 5] and block == (4, 12)


def test_cortex_m0plus_loads_do_not_pipeline(tmp_path):
    block, each = costs(tmp_path, "ldr r0, [r1]\n ldr r2, [r1, #4]\n str r2, [r1, #8]\n muls r0, r1\n push {r4, lr}",
                        CORTEX_M0PLUS, "cortex-m0plus")
    assert each == [2, 2, 2, 1, 3] and block == (5, 10)


def test_instruction_count_handles_32_bit_encodings_and_unknown_code():
    assert thumb_instruction_count(bytes.fromhex("0844" "01eb8205" "00bf")) == 3  # add, add.w, nop
    block = CycleModel().block_cost(bytes.fromhex("ffff ffff"))  # undecodable: counted, default cost
    assert block.instructions == 1 and block.cycles == 1


# -- the emulator on hand-written firmware --------------------------------------------------
FIRMWARE = """
.section .isr_vector,"a"
.word _estack
.word Reset_Handler
.text
.thumb_func
.global Reset_Handler
Reset_Handler:
  bkpt 0x02                 @ INVOKE_BEGIN .. INVOKE_END: two ALU ops
  movs r0, #1
  adds r0, r0, #2
  bkpt 0x03
  bkpt 0x10                 @ OP_BEGIN .. OP_END: a counted loop
  movs r0, #10
1:
  subs r0, #1
  bne 1b
  bkpt 0x11
  bkpt 0x10                 @ loads from flash and SRAM, a stack frame of 3 words
  ldr r1, =0x20000104      @ not a Thumb-2 immediate: a literal-pool load from flash
  ldr r2, [r1]
  ldr r3, [r1, #4]
  str r3, [r1, #8]
  push {r4, r5, lr}
  pop {r4, r5}
  pop {r0}
  bkpt 0x11
  movs r0, #0
  bkpt 0x7e                 @ EXIT
"""


def run_asm(tmp_path, body, flash_wait_states=0, ram=65536, native_hook=True, max_instructions=10**6):
    from picoml.targets.cortex_m import linker_script
    from picoml.targets.emulator import Emulator, Firmware

    pytest.importorskip("unicorn", reason="unicorn is not installed (pip install unicorn==2.1.4)")
    pytest.importorskip("elftools", reason="pyelftools is not installed (pip install pyelftools==0.33)")
    (tmp_path / "fw.s").write_text(".syntax unified\n.thumb\n" + body)
    (tmp_path / "fw.ld").write_text(linker_script(65536, ram))
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-nostdlib", "-T", "fw.ld", "fw.s", "-o",
                    "fw.elf"], cwd=tmp_path, check=True)
    em = Emulator(Firmware(tmp_path / "fw.elf"), "cortex-m4", (0x08000000, 65536), (0x20000000, ram),
                  CycleModel(CORTEX_M4, flash_wait_states), max_instructions, native_hook)
    return em.run()


def spans(result):
    """(instructions, cycles) of the three marked regions."""
    pairs = list(zip(result.marks[0:6:2], result.marks[1:6:2]))
    return [e.instructions - b.instructions for b, e in pairs], [e.cycles - b.cycles for b, e in pairs]


@pytest.mark.parametrize("native_hook", [True, False])
def test_emulator_counts_marks_free_and_taken_branches(tmp_path, native_hook):
    r = run_asm(tmp_path, FIRMWARE, native_hook=native_hook)
    insns, cycles = spans(r)
    assert insns == [2, 1 + 10 * 2, 7]
    # loop: 21 one-cycle instructions + 9 taken branches x 2; the last pass falls through
    # loads: ldr(2) ldr(1) ldr(1) str(1) push 3 regs(4) pop 2(3) pop 1(2)
    assert cycles == [2, 21 + 9 * 2, 14]
    assert r.stack_bytes == 12 and not r.stack_overflow
    assert r.exit_code == 0 and r.instructions == 2 + 21 + 7 + 1


@pytest.mark.parametrize("native_hook", [True, False])
def test_flash_wait_states_cost_taken_branches_and_flash_reads(tmp_path, native_hook):
    r = run_asm(tmp_path, FIRMWARE, flash_wait_states=3, native_hook=native_hook)
    _, cycles = spans(r)
    assert cycles == [2, 21 + 9 * (2 + 3), 14 + 3]  # the literal-pool load reads flash
    assert r.flash_reads == 1


def test_stack_that_reaches_the_end_of_sram_is_flagged(tmp_path):
    body = FIRMWARE.replace("  movs r0, #0\n  bkpt 0x7e",
                            "  ldr r1, =__pm_stack_limit\n  movs r2, #1\n  str r2, [r1]\n  movs r0, #0\n  bkpt 0x7e")
    r = run_asm(tmp_path, body)
    assert r.stack_overflow and r.stack_bytes > 60000  # the whole area from the end of .bss up


@pytest.mark.parametrize("native_hook", [True, False])
def test_runaway_firmware_is_stopped(tmp_path, native_hook):
    from picoml.targets.emulator import EmulatorError

    with pytest.raises(EmulatorError, match="more than 1,000 instructions"):
        run_asm(tmp_path, FIRMWARE.replace("  movs r0, #0\n  bkpt 0x7e", "2:\n  b 2b"), max_instructions=1000,
                native_hook=native_hook)


def test_native_hook_is_built_where_a_host_compiler_exists():
    from picoml.targets.emulator import native_hook_library

    if shutil.which("cc") or shutil.which("gcc"):
        assert native_hook_library() is not None


def test_fault_and_bad_memory_access_are_reported(tmp_path):
    from picoml.targets.emulator import EmulatorError

    with pytest.raises(EmulatorError, match="invalid memory access at 0x40000000"):
        run_asm(tmp_path, FIRMWARE.replace("  movs r0, #0\n  bkpt 0x7e", "  ldr r1, =0x40000000\n  ldr r0, [r1]"))
    with pytest.raises(EmulatorError, match="exception 3 \\(HardFault\\)"):
        run_asm(tmp_path, FIRMWARE.replace("  movs r0, #0\n  bkpt 0x7e", "  movs r0, #3\n  bkpt 0x7f"))


DOT_MAIN = r"""
#include <stdint.h>
#include "pm_profile.h"
volatile uint32_t pm_io[3];
volatile int32_t sink;
static int8_t a[4096], b[4096];
__attribute__((noinline)) int32_t dot(const int8_t *x, const int8_t *y, int n) {
  int32_t acc = 0;
  for (int i = 0; i < n; i++) acc += (int32_t)x[i] * y[i];
  return acc;
}
int main(void) {
  for (int i = 0; i < 4096; i++) { a[i] = (int8_t)(i * 7); b[i] = (int8_t)(i * 13); }
  PM_MARK(0x10); sink = dot(a, b, 4096); PM_MARK(0x11);
  PM_MARK(0x10); sink = dot(a, b, 2048); PM_MARK(0x11);
  return 0;
}
"""


def test_int8_dot_product_costs_what_the_recipe_measured(tmp_path):
    """notes/cortex-m-recipe: a plain-C int8 dot product of 4096 elements at -O2 takes 20,493
    instructions and 32,786 estimated cycles: 5 and 8 per element (2 LDRSB pipelined, MLA, CMP, BNE taken)."""
    from picoml.targets.cortex_m import CPU_FLAGS, FIRMWARE_DIR, LD_FLAGS, linker_script
    from picoml.targets.emulator import Emulator, Firmware

    pytest.importorskip("unicorn", reason="unicorn is not installed (pip install unicorn==2.1.4)")
    if not shutil.which("arm-none-eabi-gcc"):
        pytest.skip("arm-none-eabi-gcc is not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)")
    for name in ("startup.c", "pm_profile.h"):
        shutil.copy(FIRMWARE_DIR / name, tmp_path / name)
    (tmp_path / "main.c").write_text(DOT_MAIN)
    (tmp_path / "fw.ld").write_text(linker_script(1 << 20, 320 << 10))
    subprocess.run(["arm-none-eabi-gcc", *CPU_FLAGS["cortex-m4"], "-O2", "-std=gnu11", "startup.c", "main.c",
                    *LD_FLAGS, "-T", "fw.ld", "-o", "fw.elf"], cwd=tmp_path, check=True)
    m = Emulator(Firmware(tmp_path / "fw.elf")).run().marks
    big = (m[1].instructions - m[0].instructions, m[1].cycles - m[0].cycles)
    small = (m[3].instructions - m[2].instructions, m[3].cycles - m[2].cycles)
    assert (round((big[0] - small[0]) / 2048), round((big[1] - small[1]) / 2048)) == (5, 8)
    assert abs(big[0] - 20_493) <= 4 and abs(big[1] - 32_786) <= 4
