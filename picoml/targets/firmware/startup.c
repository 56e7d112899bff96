/* Bare-metal start-up for picoml's Cortex-M firmware: vector table, reset handler, faults.
 *
 * Reset_Handler enables the FPU on cores that have one (a real core faults on the first
 * floating-point instruction otherwise; the emulator would not notice), copies .data from
 * flash to SRAM, zeroes .bss, calls main and stops the emulator with main's return value.
 * The symbols come from the linker script (linker.ld.in).
 */
#include <stdint.h>

#include "pm_profile.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);

void Reset_Handler(void) __attribute__((noreturn));
void Reset_Handler(void) {
  volatile uint32_t *src = &_sidata; /* volatile: keep gcc from calling memcpy before .data exists */
  volatile uint32_t *dst = &_sdata;
#if defined(__ARM_FP)
  *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* SCB->CPACR: CP10, CP11 full access */
  __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
  while (dst < &_edata) *dst++ = *src++;
  for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
  PM_MARK_STOP(PM_MARK_EXIT, main());
}

/* Any exception stops the emulator with its number (IPSR); on hardware it halts here. */
void Fault_Handler(void) {
  uint32_t ipsr;
  __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
  PM_MARK_STOP(PM_MARK_FAULT, ipsr);
}

typedef void (*pm_vector)(void);
extern const pm_vector pm_vectors[16];
__attribute__((section(".isr_vector"), used)) const pm_vector pm_vectors[16] = {
    (pm_vector)(uintptr_t)&_estack, /* initial stack pointer: top of SRAM */
    Reset_Handler, Fault_Handler /* NMI */, Fault_Handler /* HardFault */,
    Fault_Handler /* MemManage */, Fault_Handler /* BusFault */, Fault_Handler /* UsageFault */,
    0, 0, 0, 0,
#ifdef PICOML_QEMU
    pm_qemu_svc /* SVCall: the READY mark (pm_profile.h) */,
#else
    Fault_Handler /* SVCall */,
#endif
    0, 0, Fault_Handler /* PendSV */, Fault_Handler /* SysTick */,
};
