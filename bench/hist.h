/*
 * A log-linear latency histogram in the manner of HdrHistogram: values keep
 * their top HIST_SUB_BITS + 1 significant bits, so any recorded value is
 * reported within 1/128 of itself, in constant memory whatever the count.
 */
#ifndef NOX_BENCH_HIST_H
#define NOX_BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB_COUNT)

typedef struct hist {
  uint64_t count;
  uint64_t min;
  uint64_t max;
  double sum;
  uint64_t buckets[HIST_BUCKETS];
} hist_t;

void hist_init(hist_t *h);
void hist_record(hist_t *h, uint64_t value);

/* The value at quantile q in [0, 1] (a bucket's midpoint, clamped to the
 * exact min and max); 0 when empty. */
uint64_t hist_quantile(const hist_t *h, double q);

/* Iterates the non-empty buckets in order: *value is the bucket's midpoint
 * and *below the number of values recorded up to and including it. Start
 * with *pos = 0; returns 0 when done. */
int hist_next(const hist_t *h, size_t *pos, uint64_t *value, uint64_t *below);

#endif /* NOX_BENCH_HIST_H */
