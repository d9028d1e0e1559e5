/* The growable byte buffer (buf.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "noxrunner.h"

int nox__buf_append(nox__buf_t *b, const void *p, size_t n) {
  if (n == 0)
    return 0;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) {
      if (cap > SIZE_MAX / 2)
        return NOX_ENOMEM;
      cap *= 2;
    }
    char *d = realloc(b->data, cap);
    if (d == NULL)
      return NOX_ENOMEM;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

void nox__buf_reset(nox__buf_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}
