/*
 * Helpers of the noxd tests: a noxd on a free port over a fresh temporary
 * root, and raw HTTP requests with full control of method, headers and body.
 */
#ifndef NOXD_UTIL_H
#define NOXD_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "harness.h"

typedef struct noxd_test {
  nox_test_server_t srv;
  char root[4096];
} noxd_test_t;

/*
 * Starts build/bin/noxd --listen 127.0.0.1:0 --root TMP --isolation ISO,
 * plus the extra NULL-terminated arguments (may be NULL). Returns 0 or -1.
 */
int noxd_test_start(noxd_test_t *t, const char *isolation,
                    const char *const *extra);
/* The same with its root under parent instead of /tmp. */
int noxd_test_start_in(noxd_test_t *t, const char *parent,
                       const char *isolation, const char *const *extra);

/* "tar czf" of one file, f.txt = "hello\n" (sizeof gives its length). */
extern const unsigned char noxd_test_tgz[121];

/* SIGTERM, wait, remove the root. Returns the wait status. */
int noxd_test_stop(noxd_test_t *t);

/* True while the noxd process has not exited. */
bool noxd_test_alive(const noxd_test_t *t);

typedef struct noxd_http_opts {
  const char *const *headers; /* NULL-terminated "Name: value", or NULL */
  const void *body;           /* sent when not NULL (len may be 0) */
  size_t len;
  bool chunked; /* send the body without a Content-Length */
} noxd_http_opts_t;

/*
 * One request on a fresh connection. *resp (may be NULL) receives the
 * NUL-terminated body, to free(); *resp_len its length. Returns the HTTP
 * status, or -1 on a transport failure.
 */
long noxd_http(const char *method, const char *url,
               const noxd_http_opts_t *opts, char **resp, size_t *resp_len);

/*
 * The "error" string of a JSON error body, copied into buf; false when the
 * body is not a JSON object with a non-empty "error" string.
 */
bool noxd_error_message(const char *body, char *buf, size_t len);

#endif /* NOXD_UTIL_H */
