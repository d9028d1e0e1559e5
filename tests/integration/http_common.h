/*
 * Shared fixture of the HTTP-backend tests: one faultd per executable, a
 * per-test loop and client, an operation record that every callback fills,
 * and readers for faultd's request log.
 */
#ifndef NOX_TEST_HTTP_COMMON_H
#define NOX_TEST_HTTP_COMMON_H

#include <stdbool.h>
#include <stddef.h>

#include "harness.h"
#include "noxrunner.h"
#include "test.h"

/* The faultd of this executable, started by ht_main(). */
extern nox_test_server_t ht_server;

/* One test: its loop, its client(s), and how many callbacks are owed. */
typedef struct ht {
  uv_loop_t loop;
  nox_client_t *client;
  int pending; /* operations started and not yet called back */
  int clients; /* clients not yet closed */
  int closes;  /* close callbacks seen */
} ht_t;

/*
 * What one operation's callback saw. Callbacks assert that they run once,
 * and never inside the call that started the operation (in_start).
 */
typedef struct ht_op {
  ht_t *t;
  nox_req_t *req;
  bool in_start;
  int calls;
  int status;
  unsigned attempts;
  nox_error_t err;
  unsigned long long t_start, t_done;
  /* exec */
  int exit_code;
  int64_t duration_ms;
  char *out;
  size_t out_len;
  char *errout;
  size_t err_len;
  int out_truncated, err_truncated;
  /* create */
  char *pod_name;
  char *expires_at;
  int64_t expires_at_unix;
  /* download: bytes given to on_data, and how the sink behaves */
  char *data;
  size_t data_len;
  int data_calls;
  int sink_fail_after; /* return non-zero on this call (1-based); 0 never */
  bool sink_cancel;    /* cancel the request from on_data instead */
  bool sink_close;     /* close the request's client from on_data */
  /* Runs at the end of the callback, with the op (may start or close). */
  void (*then)(struct ht_op *op);
  void *user;
} ht_op_t;

/* Asserts an op's status, saying what the request reported if it differs. */
#define HT_EXPECT(op, want)                                                    \
  do {                                                                         \
    const ht_op_t *ht_o_ = (op);                                               \
    int ht_w_ = (want);                                                        \
    if (ht_o_->status != ht_w_) {                                              \
      fprintf(stderr,                                                          \
              "%s:%d: status %s (\"%s\", http %ld, curl %d, %u attempts), "    \
              "want %s\n",                                                     \
              __FILE__, __LINE__,                                              \
              ht_o_->status == 1 ? "(no callback)"                             \
                                 : nox_err_name(ht_o_->status),                \
              ht_o_->err.message, ht_o_->err.http_status,                      \
              ht_o_->err.curl_code, ht_o_->attempts, nox_err_name(ht_w_));     \
      fflush(stderr);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* Runs every test of the executable against one faultd. */
typedef struct {
  const char *name;
  void (*fn)(void);
} ht_case_t;
/*
 * Runs the cases (only those named on the command line, if any) against one
 * faultd, each under a watchdog alarm. Returns the exit code.
 */
int ht_main(int argc, char **argv, const ht_case_t *cases, size_t n);
#define HT_RUN(cases)                                                          \
  ht_main(argc, argv, (cases), sizeof(cases) / sizeof((cases)[0]))

/* The URL of faultd with fault SPEC (NULL or "" for none). */
void ht_url(char *buf, size_t len, const char *spec);

/* Loop init and faultd /_reset. */
void ht_begin(ht_t *t);
/*
 * Makes t->client (once) or another client on t->loop, with base_url set
 * from spec; opts may be NULL. Counts it in t->clients.
 */
nox_client_t *ht_client(ht_t *t, const char *spec,
                        const nox_client_options_t *opts);
/* Runs the loop until t->pending is 0; asserts the loop did not run dry. */
void ht_wait(ht_t *t);
/* Runs the loop for ms milliseconds. */
void ht_run_for(ht_t *t, uint64_t ms);
/* Closes c and runs the loop until its close callback. */
void ht_close(ht_t *t, nox_client_t *c);
/*
 * Starts closing c (its close callback counts in t->closes) and returns
 * nox_client_close()'s result, without running the loop.
 */
int ht_close_async(ht_t *t, nox_client_t *c);
/* Runs the loop until t->closes reaches n. */
void ht_wait_closes(ht_t *t, int n);
/* Runs the loop until faultd has counted n requests (5 s at most). */
void ht_wait_server_requests(ht_t *t, long n);
/* Closes t->client if open, then ASSERT_LOOP_CLOSES. */
void ht_end(ht_t *t);

void ht_op_init(ht_op_t *op, ht_t *t);
void ht_op_free(ht_op_t *op);

/* Starters: return the starting call's result; count pending on 0. */
int ht_health(ht_op_t *op, nox_client_t *c);
int ht_create(ht_op_t *op, nox_client_t *c, const char *id,
              const nox_create_options_t *opts);
int ht_touch(ht_op_t *op, nox_client_t *c, const char *id);
int ht_delete(ht_op_t *op, nox_client_t *c, const char *id);
int ht_exec(ht_op_t *op, nox_client_t *c, const char *id,
            const char *const argv[], const nox_exec_options_t *opts);
int ht_exec_shell(ht_op_t *op, nox_client_t *c, const char *id,
                  const char *shell, const char *script,
                  const nox_exec_options_t *opts);
int ht_upload(ht_op_t *op, nox_client_t *c, const char *id,
              const nox_upload_options_t *opts);
int ht_download(ht_op_t *op, nox_client_t *c, const char *id,
                const nox_download_options_t *opts);
int ht_wait_ready(ht_op_t *op, nox_client_t *c, const char *id,
                  const nox_wait_options_t *opts);

/* faultd's log: the entries, and the ones matching method and path. */
yajl_val ht_log(void);
size_t ht_log_len(yajl_val log);
yajl_val ht_log_at(yajl_val log, size_t i);
size_t ht_log_count(yajl_val log, const char *method, const char *path);
/* The only entry with method and decoded path (asserts there is one). */
yajl_val ht_log_one(yajl_val log, const char *method, const char *path);
/* An entry's body parsed as JSON; yajl_tree_free() it. */
yajl_val ht_log_json(yajl_val entry);
/* The request body bytes of an entry (malloc'd, NUL-added); *len set. */
char *ht_log_body(yajl_val entry, size_t *len);
/*
 * Checks the path part of an entry's raw target against want_path (see
 * ht_pct_equal) and returns its query part ("" when none).
 */
const char *ht_check_target(yajl_val entry, const char *want_path);
/* A field of a JSON value by a path of keys; NULL when absent. */
yajl_val ht_json_get(yajl_val v, const char *key1, const char *key2);

/*
 * Compares a percent-encoded string with the expected one, hex digits
 * case-insensitively (RFC 3986 allows either case).
 */
bool ht_pct_equal(const char *got, const char *want);

#endif /* NOX_TEST_HTTP_COMMON_H */
