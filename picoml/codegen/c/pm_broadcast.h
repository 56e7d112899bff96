/* picoml broadcasting: how a binary element-wise kernel walks its two inputs.
 *
 * The output (rank <= 6, NumPy broadcasting) is seen as `rows` rows of `inner` contiguous
 * elements. Python (picoml.kernels.elementwise.broadcast_strides) drops size-1 dims and merges
 * dims both inputs walk contiguously, so equal shapes are one row and a last-axis vector
 * operand gives rows of that vector's length. Output element (row, i) reads
 *
 *   input 1 at  offset1(row) + i * inner_stride1      input 2 at  offset2(row) + i * inner_stride2
 *
 * where offsetk(row) = sum_d index_d(row) * outer_stridek[d] over the outer dims (outermost
 * first, row-major) and a stride is 0 along a dim the input is broadcast on (inner strides
 * are 0 or 1). All offsets are element counts below 2^31.
 */
#ifndef PICOML_PM_BROADCAST_H
#define PICOML_PM_BROADCAST_H

#include <stdint.h>

#define PM_BROADCAST_RANK 6

typedef struct {
  int32_t rows;                                     /* product of outer_dims */
  int32_t inner;                                    /* innermost output dim: row length */
  int32_t inner_stride1;                            /* 1, or 0 if input 1 is broadcast along it */
  int32_t inner_stride2;
  int32_t outer_dims[PM_BROADCAST_RANK - 1];        /* outermost first; unused dims are 1 */
  int32_t outer_stride1[PM_BROADCAST_RANK - 1];     /* input 1 elements per step of each dim */
  int32_t outer_stride2[PM_BROADCAST_RANK - 1];
} pm_broadcast;

/* Where row `row` of the output starts in input 1 and input 2. */
static inline void pm_broadcast_row(const pm_broadcast *b, int32_t row, int32_t *offset1, int32_t *offset2) {
  int32_t d;
  int32_t o1 = 0;
  int32_t o2 = 0;
  for (d = PM_BROADCAST_RANK - 2; d >= 0; --d) {
    const int32_t index = row % b->outer_dims[d];
    row /= b->outer_dims[d];
    o1 += index * b->outer_stride1[d];
    o2 += index * b->outer_stride2[d];
  }
  *offset1 = o1;
  *offset2 = o2;
}

/* The loop of every broadcast binary kernel: out[row * inner + i] = ELEM(P, v1, v2) where v1, v2
 * are the input values read as above. The contiguous copy (both inner strides 1: equal shapes or
 * a last-axis vector) lets the compiler vectorise. Each output element is written after both of
 * its input values are read, so `out` may be the same buffer as an input of the output's shape. */
#define PM_BROADCAST_APPLY(b, in1, in2, out, ELEM, P)                                           \
  do {                                                                                          \
    int32_t row_, i_, o1_, o2_;                                                                 \
    for (row_ = 0; row_ < (b)->rows; ++row_) {                                                  \
      const int32_t base_ = row_ * (b)->inner;                                                  \
      pm_broadcast_row((b), row_, &o1_, &o2_);                                                  \
      if ((b)->inner_stride1 == 1 && (b)->inner_stride2 == 1) {                                 \
        for (i_ = 0; i_ < (b)->inner; ++i_)                                                     \
          (out)[base_ + i_] = ELEM((P), (in1)[o1_ + i_], (in2)[o2_ + i_]);                      \
      } else {                                                                                  \
        for (i_ = 0; i_ < (b)->inner; ++i_)                                                     \
          (out)[base_ + i_] = ELEM((P), (in1)[o1_ + i_ * (b)->inner_stride1],                   \
                                   (in2)[o2_ + i_ * (b)->inner_stride2]);                       \
      }                                                                                         \
    }                                                                                           \
  } while (0)

#endif /* PICOML_PM_BROADCAST_H */
