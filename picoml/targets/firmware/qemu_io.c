/* QEMU-only firmware I/O (linked only into -DPICOML_QEMU builds, see picoml/targets/qemu.py).
 *
 * QEMU's plugins cannot touch guest memory, so the firmware moves its own data through ARM
 * semihosting (BKPT 0xAB; QEMU runs with -semihosting-config enable=on,target=native and its
 * working directory holds the files). The SVC handler serves two marks (pm_profile.h):
 *   - READY (SVC 1, from main): read "pm_in.bin", the inputs one after another, into the
 *     buffers main published in pm_io;
 *   - EXIT (SVC 126, r0 = main's return value): write "pm_out.bin" = "PMOK", exit code, the
 *     pm_io words, each output's bytes, then the whole stack area (qemu.py painted it before
 *     the run: the high-water mark), and exit QEMU.
 * Everything here lives in the .pm_qemu section, linked after the rest of the flash, so the
 * other code and constants keep the addresses they have in the Unicorn build.
 */
#include <stdint.h>

#include "pm_profile.h"

#define PM_QEMU_SECTION(kind) __attribute__((section(".pm_qemu." kind)))

extern volatile uint32_t pm_io[];
extern uint32_t __pm_stack_limit, _estack;

enum { PM_SYS_OPEN = 0x01, PM_SYS_CLOSE = 0x02, PM_SYS_WRITE = 0x05, PM_SYS_READ = 0x06, PM_SYS_EXIT = 0x18 };
enum { PM_ADP_APPLICATION_EXIT = 0x20026, PM_ADP_RUNTIME_ERROR = 0x20023 };
enum { PM_MODE_RB = 1, PM_MODE_WB = 5 };

static const char pm_in_name[] PM_QEMU_SECTION("rodata_in") = "pm_in.bin";
static const char pm_out_name[] PM_QEMU_SECTION("rodata_out") = "pm_out.bin";

void pm_qemu_service(const uint32_t *frame) PM_QEMU_SECTION("service");

PM_QEMU_SECTION("semihost") static uint32_t pm_semihost(uint32_t op, uint32_t arg) {
  register uint32_t r0 __asm__("r0") = op;
  register uint32_t r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

PM_QEMU_SECTION("call3") static uint32_t pm_call3(uint32_t op, uint32_t a, uint32_t b, uint32_t c) {
  volatile uint32_t block[3];
  block[0] = a;
  block[1] = b;
  block[2] = c;
  return pm_semihost(op, (uint32_t)(uintptr_t)block);
}

PM_QEMU_SECTION("fail") __attribute__((noreturn)) static void pm_fail(void) {
  for (;;) pm_semihost(PM_SYS_EXIT, PM_ADP_RUNTIME_ERROR);
}

PM_QEMU_SECTION("open") static uint32_t pm_open(const char *name, uint32_t len, uint32_t mode) {
  uint32_t fd = pm_call3(PM_SYS_OPEN, (uint32_t)(uintptr_t)name, mode, len);
  if (fd == 0xFFFFFFFFu) pm_fail();
  return fd;
}

PM_QEMU_SECTION("write") static void pm_write(uint32_t fd, const volatile void *p, uint32_t n) {
  if (pm_call3(PM_SYS_WRITE, fd, (uint32_t)(uintptr_t)p, n) != 0) pm_fail();
}

/* SVCall: hand the exception frame (r0..r3, r12, lr, pc, xPSR on the main stack) to C. */
PM_QEMU_SECTION("svc") __attribute__((naked)) void pm_qemu_svc(void) {
  __asm__ volatile("mrs r0, msp\n\tb pm_qemu_service");
}

void pm_qemu_service(const uint32_t *frame) {
  const uint8_t svc = *(const uint8_t *)(uintptr_t)(frame[6] - 2); /* the SVC's immediate */
  uint32_t fd, i, words, head[2];
  if (svc == 1) {
    __asm__ volatile(PM_QEMU_READY_HINT ::: "memory");
    fd = pm_open(pm_in_name, sizeof pm_in_name - 1, PM_MODE_RB);
    for (i = 0; i < pm_io[1]; ++i)
      if (pm_call3(PM_SYS_READ, fd, pm_io[3 + 2 * i], pm_io[4 + 2 * i]) != 0) pm_fail();
    pm_call3(PM_SYS_CLOSE, fd, 0, 0);
    return;
  }
  if (svc != 126) pm_fail();
  __asm__ volatile(PM_QEMU_EXIT_HINT ::: "memory");
  head[0] = 0x4B4F4D50u; /* "PMOK" */
  head[1] = frame[0];    /* r0: main's return value */
  fd = pm_open(pm_out_name, sizeof pm_out_name - 1, PM_MODE_WB);
  pm_write(fd, head, sizeof head);
  words = 3 + 2 * (pm_io[1] + pm_io[2]);
  pm_write(fd, pm_io, 4 * words);
  for (i = 3 + 2 * pm_io[1]; i < words; i += 2) pm_write(fd, (const void *)(uintptr_t)pm_io[i], pm_io[i + 1]);
  pm_write(fd, &__pm_stack_limit, (uint32_t)((uintptr_t)&_estack - (uintptr_t)&__pm_stack_limit));
  pm_call3(PM_SYS_CLOSE, fd, 0, 0);
  for (;;) pm_semihost(PM_SYS_EXIT, PM_ADP_APPLICATION_EXIT);
}
