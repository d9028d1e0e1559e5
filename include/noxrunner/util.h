/**
 * @file
 * libnoxrunner utilities: the rules the library applies to what it is given,
 * as functions a program can apply too.
 *
 * - UTF-8: strings handed to the library (argv, env, workdir, scripts) must
 *   be strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past
 *   U+10FFFF), while what a command prints is arbitrary bytes. These
 *   functions check a string the way the library does, and turn arbitrary
 *   bytes into valid UTF-8 (for JSON, say) the way noxd and noxrc do.
 *
 * None of them needs a client or a loop; all are thread-safe. Results are
 * owned by the caller and freed with nox_free().
 */
#ifndef NOXRUNNER_UTIL_H
#define NOXRUNNER_UTIL_H

#include "../noxrunner.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Length in bytes (1 to 4) of the strict UTF-8 sequence that starts at s, of
 * the len bytes there; 0 when those bytes start no valid sequence (a stray
 * continuation byte, an overlong form, a surrogate, a code point past
 * U+10FFFF, a sequence cut short by len) or len is 0. A NUL byte is a valid
 * sequence of length 1. s is only read.
 */
NOX_EXTERN size_t nox_utf8_char_len(const char *s, size_t len);

/**
 * 1 when the len bytes at s are strict UTF-8 throughout (the rule the
 * starting calls apply to argv, env and workdir), else 0. len 0 is valid.
 */
NOX_EXTERN int nox_utf8_valid(const char *s, size_t len);

/**
 * A copy of the len bytes at s as valid UTF-8: each byte that starts no
 * valid sequence becomes U+FFFD (EF BF BD), everything else is kept as it
 * is. On success *out is a NUL-terminated string owned by the caller (free
 * it with nox_free()) and *out_len, when out_len is not NULL, its length
 * without the NUL (at most 3 * len). Returns 0, NOX_EINVAL (out NULL, or s
 * NULL with len not 0) or NOX_ENOMEM; *out is NULL on failure.
 */
NOX_EXTERN int nox_utf8_sanitize(char **out, size_t *out_len, const char *s,
                                 size_t len);

#ifdef __cplusplus
}
#endif

#endif /* NOXRUNNER_UTIL_H */
