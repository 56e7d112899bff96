/* picoml's QEMU TCG plugin: per-block execution counts between profiling marks.
 *
 * picoml/targets/qemu.py runs the Cortex-M firmware in qemu-system-arm with this plugin and
 * prices the blocks itself with picoml/targets/cycles.py, so the cost table lives in one place.
 * The plugin only observes:
 *   - every translated block (TB): start address, bytes, instructions, and the byte offsets of
 *     the mark instructions inside it (16-bit hints 0xBF50..0xBFB0, see firmware/pm_profile.h);
 *   - every executed block: its count goes up by one, and a "taken branch" is counted when it
 *     does not start where the previously executed block ended (the same rule as Unicorn's path);
 *   - every executed mark: the counts of the blocks entered since the previous mark are written
 *     out and reset (a block entered before a mark inside it is written with that mark; qemu.py
 *     gives its pieces after the mark to the following segments);
 *   - optionally, data reads from [flash_lo, flash_hi) (flash wait states).
 * The FAULT mark (hint 11, in the firmware's fault handler) writes everything and stops QEMU.
 * Output (text, out=FILE): "C <tb> <count>" lines then "M <hint> <taken> <flash_reads>" per mark;
 * at exit the last segment ("C" lines, then "E <taken> <flash_reads>") and one
 * "T <tb> <start> <bytes> <insns> [<mark offset>:<hint> ...]" line per translated block.
 *
 * Debian 12's QEMU 7.2 runs plugins but ships no qemu-plugin.h: the few declarations of plugin
 * API version 1 used here are written out below. Built by qemu.py (cc -O2 -shared -fPIC), cached.
 * Single vCPU (Cortex-M): no locking.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- QEMU plugin API, version 1 (the subset used) ---- */
typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;
typedef struct qemu_info_t qemu_info_t; /* not read */
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr,
                                          void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb,
                                      enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
/* ---- end of the API declarations ---- */

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define MAX_MARKS_PER_TB 8
#define FAULT_HINT 11

typedef struct pm_tb {
  uint32_t id;
  uint32_t insns;
  uint64_t start, end;
  uint64_t count;          /* executions since the last mark */
  bool listed;             /* in the touched list */
  uint32_t n_marks;
  uint32_t mark_offset[MAX_MARKS_PER_TB];
  uint32_t mark_hint[MAX_MARKS_PER_TB];
  struct pm_tb *next_all;  /* every translation, for the table written at exit */
} pm_tb;

static FILE *out;
static pm_tb *all_tbs;
static uint32_t n_tbs;
static pm_tb **touched;
static size_t n_touched, cap_touched;
static uint64_t prev_end = UINT64_MAX, taken, flash_reads;
static uint64_t flash_lo = 1, flash_hi = 0; /* empty: reads are not counted */

static void on_tb(unsigned int vcpu, void *ud) {
  pm_tb *t = (pm_tb *)ud;
  (void)vcpu;
  if (t->start != prev_end) taken++;
  prev_end = t->end;
  if (!t->listed) {
    if (n_touched == cap_touched) {
      cap_touched = cap_touched ? 2 * cap_touched : 1024;
      touched = realloc(touched, cap_touched * sizeof *touched);
      if (!touched) abort();
    }
    touched[n_touched++] = t;
    t->listed = true;
  }
  t->count++;
}

static void flush(void) {
  size_t i;
  for (i = 0; i < n_touched; ++i) {
    fprintf(out, "C %" PRIu32 " %" PRIu64 "\n", touched[i]->id, touched[i]->count);
    touched[i]->count = 0;
    touched[i]->listed = false;
  }
  n_touched = 0;
}

static void at_exit(qemu_plugin_id_t id, void *ud);

static void on_mark(unsigned int vcpu, void *ud) {
  (void)vcpu;
  flush();
  fprintf(out, "M %u %" PRIu64 " %" PRIu64 "\n", (unsigned)(uintptr_t)ud, taken, flash_reads);
  if ((uintptr_t)ud == FAULT_HINT) { /* the firmware faulted: nothing more will happen */
    at_exit(0, NULL);
    _exit(3);
  }
}

static void on_read(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *ud) {
  (void)vcpu;
  (void)info;
  (void)ud;
  if (vaddr >= flash_lo && vaddr < flash_hi) flash_reads++;
}

/* A Thumb instruction is 32-bit when its first halfword starts 0b11101, 0b11110 or 0b11111. */
static size_t thumb_length(const uint8_t *b) { return (b[1] >> 3) >= 0x1D ? 4 : 2; }

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  size_t i, n = qemu_plugin_tb_n_insns(tb);
  pm_tb *t = calloc(1, sizeof *t); /* lives as long as the run: a TB may be re-executed any time */
  (void)id;
  if (!t) abort();
  t->id = n_tbs++;
  t->insns = (uint32_t)n;
  t->start = qemu_plugin_tb_vaddr(tb);
  t->end = t->start;
  t->next_all = all_tbs;
  all_tbs = t;
  /* registered first, so it runs before the mark callbacks of the block's instructions */
  qemu_plugin_register_vcpu_tb_exec_cb(tb, on_tb, QEMU_PLUGIN_CB_NO_REGS, t);
  for (i = 0; i < n; ++i) {
    struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
    const uint8_t *b = (const uint8_t *)qemu_plugin_insn_data(insn);
    uint64_t va = qemu_plugin_insn_vaddr(insn);
    /* QEMU 7.2 can report 2 bytes too many for the instruction before one that crosses a page
     * (the translator peeks at the next halfword): take the length from the encoding. */
    size_t size = thumb_length(b);
    t->end = va + size;
    /* a mark: the hint 0xBFx0 with x in 5..11 (unallocated hints, executed as NOP) */
    if (size == 2 && b[1] == 0xBF && (b[0] & 0x0F) == 0 && (b[0] >> 4) >= 5 && (b[0] >> 4) <= 11) {
      if (t->n_marks == MAX_MARKS_PER_TB) {
        fprintf(stderr, "picoml qemu plugin: more than %d marks in one block\n", MAX_MARKS_PER_TB);
        abort();
      }
      t->mark_offset[t->n_marks] = (uint32_t)(va - t->start);
      t->mark_hint[t->n_marks] = b[0] >> 4;
      qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS,
                                             (void *)(uintptr_t)t->mark_hint[t->n_marks]);
      t->n_marks++;
    }
    if (flash_hi > flash_lo)
      qemu_plugin_register_vcpu_mem_cb(insn, on_read, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_R, NULL);
  }
}

static void at_exit(qemu_plugin_id_t id, void *ud) {
  pm_tb *t;
  uint32_t k;
  static bool done;
  (void)id;
  (void)ud;
  if (done) return;
  done = true;
  flush();
  fprintf(out, "E %" PRIu64 " %" PRIu64 "\n", taken, flash_reads);
  for (t = all_tbs; t; t = t->next_all) {
    fprintf(out, "T %" PRIu32 " %" PRIu64 " %" PRIu64 " %" PRIu32, t->id, t->start, t->end - t->start, t->insns);
    for (k = 0; k < t->n_marks; ++k) fprintf(out, " %" PRIu32 ":%" PRIu32, t->mark_offset[k], t->mark_hint[k]);
    fputc('\n', out);
  }
  fclose(out);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv) {
  int i;
  (void)info;
  for (i = 0; i < argc; ++i) {
    const char *a = argv[i];
    if (!strncmp(a, "out=", 4)) {
      out = fopen(a + 4, "w");
      if (!out) return -1;
    } else if (!strncmp(a, "flash_lo=", 9)) {
      flash_lo = strtoull(a + 9, NULL, 0);
    } else if (!strncmp(a, "flash_hi=", 9)) {
      flash_hi = strtoull(a + 9, NULL, 0);
    } else {
      fprintf(stderr, "picoml qemu plugin: unknown argument '%s'\n", a);
      return -1;
    }
  }
  if (!out) {
    fprintf(stderr, "picoml qemu plugin: out=FILE is required\n");
    return -1;
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  qemu_plugin_register_atexit_cb(id, at_exit, NULL);
  return 0;
}
