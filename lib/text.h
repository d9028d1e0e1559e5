/*
 * Small helpers on strings: percent-encoding and the FNV-1a hash. Generic
 * helpers of every layer of lib/ (they know no request, client or backend;
 * see docs/architecture.md); nox__-prefixed, never exported.
 */
#ifndef NOX_TEXT_H
#define NOX_TEXT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Writes s percent-encoded to out: ASCII letters and digits and the
 * characters of keep stay, every other byte becomes %XX (upper-case hex).
 * out has room for 3 * strlen(s) + 1 bytes; it is NUL-terminated. Returns
 * the length written, without the NUL.
 */
size_t nox__percent_encode(char *out, const char *s, const char *keep);

/* FNV-1a's 64-bit offset basis: the h to start nox__fnv1a() with. */
#define NOX__FNV1A_INIT 0xcbf29ce484222325ull

/* h, the 64-bit FNV-1a hash so far, carried on over the bytes of s. */
uint64_t nox__fnv1a(uint64_t h, const char *s);

#endif /* NOX_TEXT_H */
