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
#define PM_MARK(code) __asm__ volatile("bkpt " PM_STR(code) ::: "memory")

/* Stop the emulator with a value in r0 (never returns). */
#define PM_MARK_STOP(code, value)                                          \
  do {                                                                     \
    register uint32_t pm_r0_ __asm__("r0") = (uint32_t)(value);            \
    for (;;) __asm__ volatile("bkpt " PM_STR(code) : : "r"(pm_r0_) : "memory"); \
  } while (0)

#define PM_OP_BEGIN(index) do { (void)(index); PM_MARK(PM_MARK_OP_BEGIN); } while (0)
#define PM_OP_END(index) do { (void)(index); PM_MARK(PM_MARK_OP_END); } while (0)

#endif /* PM_PROFILE_H */
