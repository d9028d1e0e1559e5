/*
 * Test support: start and stop server processes (faultd, noxd) on free
 * loopback ports, and talk to their control endpoints with plain libcurl.
 */
#ifndef NOX_TEST_HARNESS_H
#define NOX_TEST_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#include <yajl/yajl_tree.h>

typedef struct nox_test_server {
  pid_t pid;
  char url[256]; /* "http://127.0.0.1:PORT", read from the first stdout line */
  int port;
} nox_test_server_t;

/*
 * Spawns argv (argv[0] is a path; NULL-terminated), reads its first stdout
 * line "... listening on http://127.0.0.1:PORT" (60 s deadline) and fills s.
 * The child's later stdout is discarded, its stderr is inherited. Returns 0
 * or -1.
 */
int nox_test_server_start(nox_test_server_t *s, const char *const argv[]);

/* Starts faultd (python3 NOX_SOURCE_DIR/tests/integration/faultd.py --port 0). */
int nox_test_faultd_start(nox_test_server_t *s);

/* SIGTERM, then waits up to 5 s, then SIGKILL. Returns the wait status. */
int nox_test_server_stop(nox_test_server_t *s);

/*
 * A blocking request on a fresh connection (CURLOPT_FORBID_REUSE), for
 * control endpoints. *body (may be NULL) receives the NUL-terminated body,
 * to free(). Returns the HTTP status or -1 on transport failure.
 */
long nox_test_http(const char *method, const char *url, char **body);

/* faultd: POST /_reset. Returns 0 or -1. */
int nox_test_faultd_reset(const nox_test_server_t *s);

/* faultd: GET /_log parsed; yajl_tree_free() it. NULL on failure. */
yajl_val nox_test_faultd_log(const nox_test_server_t *s);

/* faultd: one integer field of GET /_stats, -1 on failure. */
long nox_test_faultd_stat(const nox_test_server_t *s, const char *field);

/*
 * Path lookups in a parsed JSON object: nox_test_json_str(v, "headers",
 * "user-agent") (key2 may be NULL). NULL, or -1, when absent.
 */
const char *nox_test_json_str(yajl_val v, const char *key1, const char *key2);
long long nox_test_json_int(yajl_val v, const char *key);

/* A TCP port on 127.0.0.1 that nothing listens on right now. */
int nox_test_unused_port(void);

/* Milliseconds from a monotonic clock. */
unsigned long long nox_test_now_ms(void);

#endif /* NOX_TEST_HARNESS_H */
