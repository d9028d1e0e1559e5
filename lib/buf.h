/*
 * A growable byte buffer. A generic helper of every layer of lib/ (it knows
 * no request, client or backend; see docs/architecture.md); nox__-prefixed,
 * never exported.
 */
#ifndef NOX_BUF_H
#define NOX_BUF_H

#include <stddef.h>

/* A growable byte buffer, always NUL-terminated when non-empty. */
typedef struct {
  char *data;
  size_t len;
  size_t cap;
} nox__buf_t;

/* Appends n bytes of p. 0, or NOX_ENOMEM with b unchanged. */
int nox__buf_append(nox__buf_t *b, const void *p, size_t n);
/* Frees the bytes; b is empty again. */
void nox__buf_reset(nox__buf_t *b);

#endif /* NOX_BUF_H */
