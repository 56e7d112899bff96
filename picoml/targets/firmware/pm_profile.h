/* pm_profile.h: the marks picoml's Cortex-M emulator (picoml/targets/emulator.py) listens to.
 *
 * A mark is one BKPT instruction whose 8-bit immediate says what happened. The emulator
 * catches it, records the executed-instruction and estimated-cycle counters, and resumes at
 * the next instruction; the mark's own instruction is subtracted from every figure, so a mark
 * costs nothing in the reported numbers. "memory" clobbers keep the compiler from moving
 * loads or stores across a mark. model.c includes this header when compiled with
 * -DPICOML_PROFILE: PM_OP_BEGIN(i) / PM_OP_END(i) then bracket each op's kernel call.
 *
 * Emulator-only: on a real core without a debugger attached BKPT raises a HardFault, so do
 * not define PICOML_PROFILE in a firmware you flash.
 */
#ifndef PM_PROFILE_H
#define PM_PROFILE_H

#include <stdint.h>

/* Mark codes (BKPT immediates); emulator.py has the same table. */
#define PM_MARK_READY 0x01        /* buffers are in pm_io: the emulator writes the inputs now */
#define PM_MARK_INVOKE_BEGIN 0x02
#define PM_MARK_INVOKE_END 0x03
#define PM_MARK_OP_BEGIN 0x10     /* ops are marked in execution order, begin then end */
#define PM_MARK_OP_END 0x11
#define PM_MARK_EXIT 0x7E         /* r0 = exit code: the emulator stops */
#define PM_MARK_FAULT 0x7F        /* r0 = exception number: the emulator stops with an error */

#define PM_STR_(x) #x
#define PM_STR(x) PM_STR_(x)

#ifndef PICOML_QEMU
#define PM_MARK(code) __asm__ volatile("bkpt " PM_STR(code) ::: "memory")

/* Stop the emulator with a value in r0 (never returns). */
#define PM_MARK_STOP(code, value)                                          \
  do {                                                                     \
    register uint32_t pm_r0_ __asm__("r0") = (uint32_t)(value);            \
    for (;;) __asm__ volatile("bkpt " PM_STR(code) : : "r"(pm_r0_) : "memory"); \
  } while (0)
#else
/* The QEMU build (-DPICOML_QEMU, picoml/targets/qemu.py): QEMU's plugins cannot read registers
 * or memory, and a BKPT would fault there. Every mark keeps the BKPT's size and asm constraints,
 * so all code but qemu_io.c (linked apart, in .pm_qemu) is the same instructions at the same
 * addresses as in the Unicorn build:
 *   - a mark is an unallocated 16-bit hint 0xBFx0 (x = 5..11; executed as a NOP), which the
 *     plugin recognises; FAULT's makes the plugin stop QEMU;
 *   - READY and EXIT are SVCs: the handler (qemu_io.c) reads the inputs, or writes the outputs
 *     and the stack area, through semihosting. */
#define PM_QEMU_0x01 "svc 1"
#define PM_QEMU_0x02 ".inst.n 0xbf60"
#define PM_QEMU_0x03 ".inst.n 0xbf70"
#define PM_QEMU_0x10 ".inst.n 0xbf80"
#define PM_QEMU_0x11 ".inst.n 0xbf90"
#define PM_QEMU_0x7E "svc 126"
#define PM_QEMU_0x7F ".inst.n 0xbfb0"
#define PM_QEMU_READY_HINT ".inst.n 0xbf50"
#define PM_QEMU_EXIT_HINT ".inst.n 0xbfa0"
#define PM_QEMU_INSN(code) PM_QEMU_##code
#define PM_MARK_(code) __asm__ volatile(PM_QEMU_INSN(code) ::: "memory")
#define PM_MARK(code) PM_MARK_(code)
#define PM_MARK_STOP_(code, value)                                           \
  do {                                                                       \
    register uint32_t pm_r0_ __asm__("r0") = (uint32_t)(value);              \
    for (;;) __asm__ volatile(PM_QEMU_INSN(code) : : "r"(pm_r0_) : "memory"); \
  } while (0)
#define PM_MARK_STOP(code, value) PM_MARK_STOP_(code, value)
void pm_qemu_svc(void);
#endif

#define PM_OP_BEGIN(index) do { (void)(index); PM_MARK(PM_MARK_OP_BEGIN); } while (0)
#define PM_OP_END(index) do { (void)(index); PM_MARK(PM_MARK_OP_END); } while (0)

#endif /* PM_PROFILE_H */
