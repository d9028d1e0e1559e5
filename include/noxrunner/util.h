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
 * - Sandbox paths: a workdir, an upload's dest and a download's src name a
 *   place inside the sandbox's /workspace. nox_workspace_path() is the rule
 *   both backends apply (the local backend, and noxd behind the HTTP one).
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

/** The directory inside a sandbox that holds its files: "/workspace". */
#define NOX_WORKSPACE "/workspace"

/**
 * The canonical form of a sandbox path (a workdir, dest or src), the rule
 * both backends apply before they touch the sandbox: a relative path is
 * taken from /workspace; empty components ("//", a trailing "/") and "."
 * are dropped; ".." removes the component before it, and at "/" stays at
 * "/" (as the kernel reads "/.."); the result must be /workspace or below.
 * All of it on the name alone: the file system is not looked at (symlinks
 * are the backend's business, and the local backend refuses those that lead
 * out). So "sub/./x/" and "/workspace/a/../sub//x" are both
 * "/workspace/sub/x", while "/", "/etc", "..", "/workspace/.." and
 * "/workspacex" are refused.
 *
 * On success *out is the canonical path ("/workspace" or "/workspace/..."
 * without a trailing "/"), owned by the caller: free it with nox_free().
 * Returns 0, NOX_EINVAL (out or path NULL, path empty or outside
 * /workspace) or NOX_ENOMEM; *out is NULL on failure.
 */
NOX_EXTERN int nox_workspace_path(char **out, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* NOXRUNNER_UTIL_H */
