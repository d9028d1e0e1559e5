#include "hist.h"

#include <string.h>

static size_t bucket_of(uint64_t v) {
  if (v < HIST_SUB_COUNT)
    return (size_t)v;
  unsigned msb = 63u - (unsigned)__builtin_clzll(v);
  unsigned shift = msb - HIST_SUB_BITS;
  return (size_t)shift * HIST_SUB_COUNT + (size_t)(v >> shift);
}

static uint64_t bucket_mid(size_t i) {
  if (i < 2 * HIST_SUB_COUNT)
    return i;
  unsigned shift = (unsigned)(i / HIST_SUB_COUNT) - 1;
  uint64_t mantissa = i - (uint64_t)shift * HIST_SUB_COUNT;
  return (mantissa << shift) + ((1ull << shift) >> 1);
}

void hist_init(hist_t *h) {
  memset(h, 0, sizeof(*h));
  h->min = UINT64_MAX;
}

void hist_record(hist_t *h, uint64_t value) {
  h->buckets[bucket_of(value)]++;
  h->count++;
  h->sum += (double)value;
  if (value < h->min)
    h->min = value;
  if (value > h->max)
    h->max = value;
}

static uint64_t clamp(const hist_t *h, uint64_t v) {
  if (v < h->min)
    return h->min;
  return v > h->max ? h->max : v;
}

uint64_t hist_quantile(const hist_t *h, double q) {
  if (h->count == 0)
    return 0;
  if (q >= 1.0)
    return h->max;
  /* The smallest value with at least ceil(q * count) values at or below. */
  uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
  if (rank == 0)
    rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < HIST_BUCKETS; i++) {
    seen += h->buckets[i];
    if (seen >= rank)
      return clamp(h, bucket_mid(i));
  }
  return h->max;
}

int hist_next(const hist_t *h, size_t *pos, uint64_t *value, uint64_t *below) {
  static const size_t none = HIST_BUCKETS;
  uint64_t seen = *below;
  if (*pos == 0)
    seen = 0;
  for (size_t i = *pos; i < none; i++) {
    if (h->buckets[i] == 0)
      continue;
    *below = seen + h->buckets[i];
    *value = clamp(h, bucket_mid(i));
    *pos = i + 1;
    return 1;
  }
  *pos = none;
  return 0;
}
