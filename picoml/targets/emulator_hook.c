/* The emulator's block hook in C: the same counting as the Python hook in emulator.py, without
 * a Python call per executed block (Unicorn calls this for every translated block it runs).
 *
 * Per block: look (address, size) up in an open-addressing table of static costs; on a miss,
 * ask Python to price the block (price() fills miss_instructions / miss_cycles) and remember
 * it. Add the instructions and cycles, plus the taken-branch penalty when the block does not
 * start where the previous one ended. Stop the emulator past the instruction limit.
 * pm_flash_read_hook counts data reads from flash (installed only with flash wait states).
 * Built for the host by emulator.py (cc -O2 -shared -fPIC) and cached; if no host compiler
 * exists, the Python hook does the same work more slowly.
 */
#include <stdint.h>

typedef void (*pm_price_fn)(uint64_t address, uint32_t size);
typedef int (*pm_stop_fn)(void *uc);

typedef struct {
  uint64_t key; /* ((address << 16) | size) + 1; 0 = empty */
  uint32_t instructions;
  uint32_t cycles;
} pm_block_cost;

typedef struct {
  uint64_t instructions;
  uint64_t cycles;
  uint64_t prev_end;
  uint64_t limit;
  uint32_t penalty;
  uint32_t over_limit;
  pm_block_cost *table;
  uint32_t mask; /* table size - 1 (a power of two) */
  uint32_t used;
  pm_price_fn price;
  pm_stop_fn stop;
  uint32_t miss_instructions;
  uint32_t miss_cycles;
  uint64_t flash_reads;
} pm_counter;

void pm_block_hook(void *uc, uint64_t address, uint32_t size, void *user) {
  pm_counter *s = (pm_counter *)user;
  const uint64_t key = ((address << 16) | (size & 0xFFFFu)) + 1u;
  uint32_t h = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 40) & s->mask;
  uint32_t n, c;
  while (s->table[h].key != 0 && s->table[h].key != key) h = (h + 1u) & s->mask;
  if (s->table[h].key == key) {
    n = s->table[h].instructions;
    c = s->table[h].cycles;
  } else {
    s->price(address, size);
    n = s->miss_instructions;
    c = s->miss_cycles;
    if (s->used < s->mask / 2u) { /* keep probes short; past half full, price again each time */
      s->table[h].key = key;
      s->table[h].instructions = n;
      s->table[h].cycles = c;
      s->used++;
    }
  }
  s->instructions += n;
  s->cycles += c + (address != s->prev_end ? s->penalty : 0u);
  s->prev_end = address + size;
  if (s->instructions > s->limit && !s->over_limit) {
    s->over_limit = 1u;
    s->stop(uc);
  }
}

void pm_flash_read_hook(void *uc, int type, uint64_t address, int size, int64_t value, void *user) {
  (void)uc;
  (void)type;
  (void)address;
  (void)size;
  (void)value;
  ((pm_counter *)user)->flash_reads++;
}
