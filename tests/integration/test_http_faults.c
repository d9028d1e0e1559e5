/*
 * Every faultd fault maps to one error code (or to the right result), with
 * no crash, hang or leak. Retries are off here (NOX_RETRIES_NONE) so each
 * fault is seen raw; test_http_retry covers retries.
 */
#include "http_common.h"

#define REQ_TIMEOUT_MS 1000u
#define EXEC_TIMEOUT_S 3u /* chunk1 drips ~350 chunks: slack for ASan on a loaded machine */
#define EXEC_GRACE_MS 300u
/*
 * A deadline never ends an operation early (the lower bounds); how late it
 * ends depends on the machine's load, so the upper bounds only tell a
 * deadline that fired from one that did not (the faults hang for minutes).
 */
#define SLACK_MS 20000u

typedef enum {
  K_HEALTH,
  K_CREATE,
  K_TOUCH,
  K_DELETE,
  K_EXEC,
  K_UPLOAD,
  K_DOWNLOAD
} kind_t;

static const char *const kind_names[] = {
    "health", "create", "touch", "delete", "exec", "upload", "download"};

typedef struct fcase {
  const char *spec;
  kind_t kind;
  int want;
  long http_status;      /* -1: not checked */
  const char *message;   /* NULL: not checked */
  size_t max_body_bytes; /* 0: default */
  void (*check)(const ht_op_t *op);
} fcase_t;

static const char *const echo_argv[] = {"echo", "x", NULL};

static int start_kind(ht_op_t *op, nox_client_t *c, kind_t kind) {
  static const nox_file_t file = {"f.txt", "data", 4, 0};
  nox_upload_options_t up = NOX_UPLOAD_OPTIONS_INIT;
  nox_exec_options_t ex = NOX_EXEC_OPTIONS_INIT;
  up.files = &file;
  up.nfiles = 1;
  ex.timeout_seconds = EXEC_TIMEOUT_S;
  switch (kind) {
  case K_HEALTH:
    return ht_health(op, c);
  case K_CREATE:
    return ht_create(op, c, "fs", NULL);
  case K_TOUCH:
    return ht_touch(op, c, "fs");
  case K_DELETE:
    return ht_delete(op, c, "fs");
  case K_EXEC:
    return ht_exec(op, c, "fs", echo_argv, &ex);
  case K_UPLOAD:
    return ht_upload(op, c, "fs", &up);
  case K_DOWNLOAD:
    return ht_download(op, c, "fs", NULL);
  }
  return NOX_EINTERNAL;
}

static nox_client_t *fault_client(ht_t *t, const char *spec,
                                  size_t max_body_bytes) {
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.request_timeout_ms = REQ_TIMEOUT_MS;
  o.exec_grace_ms = EXEC_GRACE_MS;
  o.max_retries = NOX_RETRIES_NONE;
  o.max_body_bytes = max_body_bytes;
  return ht_client(t, spec, &o);
}

/* Runs the cases side by side, one client each, then checks each. */
static void run_cases(const fcase_t *cases, size_t n) {
  ht_t t;
  ht_op_t *ops = calloc(n, sizeof(*ops));
  nox_client_t **clients = calloc(n, sizeof(*clients));
  ASSERT(ops != NULL && clients != NULL);
  ht_begin(&t);
  for (size_t i = 0; i < n; i++) {
    clients[i] = fault_client(&t, cases[i].spec, cases[i].max_body_bytes);
    ht_op_init(&ops[i], &t);
    ASSERT_EQ(start_kind(&ops[i], clients[i], cases[i].kind), 0);
  }
  ht_wait(&t);
  for (size_t i = 0; i < n; i++)
    fprintf(stderr, "  %-22s %-8s -> %s (%s) in %llu ms\n", cases[i].spec,
            kind_names[cases[i].kind], nox_err_name(ops[i].status),
            ops[i].err.message, ops[i].t_done - ops[i].t_start);
  for (size_t i = 0; i < n; i++) {
    const fcase_t *fc = &cases[i];
    HT_EXPECT(&ops[i], fc->want);
    if (fc->http_status >= 0)
      ASSERT_EQ(ops[i].err.http_status, fc->http_status);
    if (fc->message != NULL)
      ASSERT_STR_EQ(ops[i].err.message, fc->message);
    if (fc->want != 0)
      ASSERT(ops[i].err.message[0] != '\0');
    ASSERT_EQ(ops[i].attempts, 1);
    if (fc->check != NULL)
      fc->check(&ops[i]);
    ht_op_free(&ops[i]);
  }
  t.client = NULL;
  for (size_t i = 0; i < n; i++)
    ht_close(&t, clients[i]);
  ht_end(&t);
  free(ops);
  free(clients);
}

static void took_request_timeout(const ht_op_t *op) {
  unsigned long long ms = op->t_done - op->t_start;
  ASSERT_GE(ms, REQ_TIMEOUT_MS - 50);
  ASSERT_LT(ms, REQ_TIMEOUT_MS + SLACK_MS);
}

static void took_exec_deadline(const ht_op_t *op) {
  unsigned long long ms = op->t_done - op->t_start;
  ASSERT_GE(ms, EXEC_TIMEOUT_S * 1000 + EXEC_GRACE_MS - 50);
  ASSERT_LT(ms, EXEC_TIMEOUT_S * 1000 + EXEC_GRACE_MS + SLACK_MS);
}

static void took_stall_limit(const ht_op_t *op) {
  unsigned long long ms = op->t_done - op->t_start;
  ASSERT_GE(ms, REQ_TIMEOUT_MS - 50);
  ASSERT_LT(ms, REQ_TIMEOUT_MS + SLACK_MS);
}

/* Malformed, cut and reset answers; timeouts. */
static void test_broken_answers(void) {
  static const fcase_t cases[] = {
      {"badjson", K_EXEC, NOX_EPROTO, 200, NULL, 0, NULL},
      {"badjson", K_CREATE, NOX_EPROTO, 200, NULL, 0, NULL},
      {"wrongtype", K_EXEC, NOX_EPROTO, 200, NULL, 0, NULL},
      {"wrongtype", K_CREATE, NOX_EPROTO, 200, NULL, 0, NULL},
      {"empty", K_EXEC, NOX_EPROTO, 200, NULL, 0, NULL},
      {"empty", K_CREATE, NOX_EPROTO, 200, NULL, 0, NULL},
      {"truncate", K_EXEC, NOX_EPROTO, 200, NULL, 0, NULL},
      {"truncate", K_CREATE, NOX_EPROTO, 200, NULL, 0, NULL},
      {"truncate", K_HEALTH, NOX_EPROTO, 200, NULL, 0, NULL},
      {"truncate", K_DOWNLOAD, NOX_EPROTO, 200, NULL, 0, NULL},
      {"truncate,chunk16", K_EXEC, NOX_EPROTO, 200, NULL, 0, NULL},
      {"reset", K_EXEC, NOX_ETRANSPORT, -1, NULL, 0, NULL},
      {"reset", K_CREATE, NOX_ETRANSPORT, -1, NULL, 0, NULL},
      {"reset", K_DOWNLOAD, NOX_ETRANSPORT, -1, NULL, 0, NULL},
      {"resetnow", K_EXEC, NOX_ETRANSPORT, 0, NULL, 0, NULL},
      {"resetnow", K_HEALTH, NOX_ETRANSPORT, 0, NULL, 0, NULL},
      {"resetnow", K_CREATE, NOX_ETRANSPORT, 0, NULL, 0, NULL},
      {"resetnow", K_UPLOAD, NOX_ETRANSPORT, 0, NULL, 0, NULL},
      {"resetnow", K_DELETE, NOX_ETRANSPORT, 0, NULL, 0, NULL},
      {"hang", K_HEALTH, NOX_ETIMEDOUT, 0, NULL, 0, took_request_timeout},
      {"hang", K_CREATE, NOX_ETIMEDOUT, 0, NULL, 0, took_request_timeout},
      {"hang", K_TOUCH, NOX_ETIMEDOUT, 0, NULL, 0, took_request_timeout},
      {"hang", K_DELETE, NOX_ETIMEDOUT, 0, NULL, 0, took_request_timeout},
      {"hang", K_EXEC, NOX_ETIMEDOUT, 0, NULL, 0, took_exec_deadline},
      {"trickle100", K_HEALTH, NOX_ETIMEDOUT, -1, NULL, 0,
       took_request_timeout},
      {"trickle100", K_CREATE, NOX_ETIMEDOUT, -1, NULL, 0,
       took_request_timeout},
      {"trickle50", K_EXEC, NOX_ETIMEDOUT, -1, NULL, 0, took_exec_deadline},
  };
  run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Injected statuses, JSON and plain-text bodies. */
static void test_statuses(void) {
  static const fcase_t cases[] = {
      {"s404x*", K_HEALTH, NOX_ENOTFOUND, 404, "injected 404", 0, NULL},
      {"s404x*", K_CREATE, NOX_ENOTFOUND, 404, "injected 404", 0, NULL},
      {"s404x*", K_TOUCH, NOX_ENOTFOUND, 404, "injected 404", 0, NULL},
      {"s404x*", K_DELETE, NOX_ENOTFOUND, 404, "injected 404", 0, NULL},
      {"s404x*", K_EXEC, NOX_ENOTFOUND, 404, "injected 404", 0, NULL},
      {"s404x*", K_UPLOAD, NOX_ENOTFOUND, 404, "injected 404", 0, NULL},
      {"s404x*", K_DOWNLOAD, NOX_ENOTFOUND, 404, "injected 404", 0, NULL},
      {"s404x*,text", K_EXEC, NOX_ENOTFOUND, 404, "injected 404", 0, NULL},
      {"s503x*", K_HEALTH, NOX_EUNAVAIL, 503, "injected 503", 0, NULL},
      {"s503x*", K_CREATE, NOX_EUNAVAIL, 503, "injected 503", 0, NULL},
      {"s503x*", K_EXEC, NOX_EUNAVAIL, 503, "injected 503", 0, NULL},
      {"s503x*", K_DOWNLOAD, NOX_EUNAVAIL, 503, "injected 503", 0, NULL},
      {"s503x*,text", K_TOUCH, NOX_EUNAVAIL, 503, "injected 503", 0, NULL},
      {"s500x*", K_EXEC, NOX_EHTTP, 500, "injected 500", 0, NULL},
      {"s500x*", K_CREATE, NOX_EHTTP, 500, "injected 500", 0, NULL},
      {"s500x*", K_DOWNLOAD, NOX_EHTTP, 500, "injected 500", 0, NULL},
      {"s500x*,text", K_EXEC, NOX_EHTTP, 500, "injected 500", 0, NULL},
      {"s500x*,text", K_UPLOAD, NOX_EHTTP, 500, "injected 500", 0, NULL},
      /* A 400 with a JSON error body is a refused request (as on local:). */
      {"s400x*", K_EXEC, NOX_EINVAL, 400, "injected 400", 0, NULL},
      {"s400x*", K_UPLOAD, NOX_EINVAL, 400, "injected 400", 0, NULL},
      {"s400x*", K_DOWNLOAD, NOX_EINVAL, 400, "injected 400", 0, NULL},
      /* A bare 400 could come from anything on the way: it stays EHTTP. */
      {"s400x*,text", K_EXEC, NOX_EHTTP, 400, "injected 400", 0, NULL},
      {"s409x*,text", K_CREATE, NOX_EHTTP, 409, "injected 409", 0, NULL},
      {"s502x*", K_EXEC, NOX_EHTTP, 502, "injected 502", 0, NULL},
      {"s504x*", K_HEALTH, NOX_EHTTP, 504, "injected 504", 0, NULL},
      {"s401x*", K_EXEC, NOX_EAUTH, 401, "injected 401", 0, NULL},
      {"s401x*", K_HEALTH, NOX_EAUTH, 401, "injected 401", 0, NULL},
      {"s401x*,text", K_CREATE, NOX_EAUTH, 401, "injected 401", 0, NULL},
      {"s403x*", K_DELETE, NOX_EAUTH, 403, "injected 403", 0, NULL},
      {"s503x*,chunk4", K_EXEC, NOX_EUNAVAIL, 503, "injected 503", 0, NULL},
  };
  run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void check_huge(const ht_op_t *op) {
  ASSERT_EQ(op->out_len, 1u << 20);
  for (size_t i = 0; i < op->out_len; i++)
    if (op->out[i] != 'a' + (char)(i % 26)) {
      fprintf(stderr, "stdout byte %zu is %d\n", i, op->out[i]);
      ASSERT(0);
    }
  ASSERT_EQ(op->exit_code, 0);
}

static void check_escapes(const ht_op_t *op) {
  static const char want[] = "q\"b\\s/n\nt\tu\xc3\xa9\xf0\x9f\x98\x80z";
  ASSERT_EQ(op->out_len, sizeof(want) - 1);
  ASSERT_MEM_EQ(op->out, want, sizeof(want) - 1);
}

static void check_nul(const ht_op_t *op) {
  ASSERT_EQ(op->out_len, 3);
  ASSERT_MEM_EQ(op->out, "a\0b", 3);
}

static void check_unknown_exec(const ht_op_t *op) {
  ASSERT_EQ(op->exit_code, 0);
  ASSERT_EQ(op->duration_ms, 7);
  ASSERT_STR_EQ(op->out, "echo x");
  ASSERT_EQ(op->err_len, 0);
}

static void check_not_truncated(const ht_op_t *op) {
  check_unknown_exec(op);
  ASSERT_EQ(op->out_truncated, 0);
  ASSERT_EQ(op->err_truncated, 0);
}

static void check_truncflags(const ht_op_t *op) {
  check_unknown_exec(op);
  ASSERT_EQ(op->out_truncated, 1);
  ASSERT_EQ(op->err_truncated, 0);
}

static void check_unknown_create(const ht_op_t *op) {
  ASSERT_STR_EQ(op->pod_name, "pod-fs");
  ASSERT_STR_EQ(op->expires_at, "2030-01-02T03:04:05Z");
  ASSERT_EQ(op->expires_at_unix, 1893553445);
}

static void check_echo(const ht_op_t *op) {
  ASSERT_EQ(op->exit_code, 0);
  ASSERT_STR_EQ(op->out, "echo x");
}

static void check_pattern(const ht_op_t *op, size_t len) {
  ASSERT_EQ(op->data_len, len);
  for (size_t i = 0; i < op->data_len; i++)
    ASSERT_EQ((unsigned char)op->data[i], i % 251);
}

static void check_download(const ht_op_t *op) {
  check_pattern(op, 4096);
}

static void check_download600(const ht_op_t *op) {
  check_pattern(op, 600);
}

/* Odd but valid answers, and answers over the size cap. */
static void test_odd_answers(void) {
  static const fcase_t cases[] = {
      {"huge2000000", K_EXEC, NOX_ETOOBIG, 200, NULL, 1u << 20, NULL},
      {"huge1048576", K_EXEC, 0, 200, NULL, 0, check_huge},
      {"unknown", K_CREATE, NOX_ETOOBIG, 200, NULL, 64, NULL},
      {"escapes", K_EXEC, 0, 200, NULL, 0, check_escapes},
      {"nul", K_EXEC, 0, 200, NULL, 0, check_nul},
      {"unknown", K_EXEC, 0, 200, NULL, 0, check_unknown_exec},
      {"unknown", K_CREATE, 0, 200, NULL, 0, check_unknown_create},
      {"unknown,chunk3", K_EXEC, 0, 200, NULL, 0, check_unknown_exec},
      /* Numbers no C type holds, in fields nobody reads (issue 13). */
      {"bignum", K_EXEC, 0, 200, NULL, 0, check_not_truncated},
      {"bignum", K_CREATE, 0, 200, NULL, 0, check_unknown_create},
      {"bignum,unknown,chunk5", K_EXEC, 0, 200, NULL, 0, check_unknown_exec},
      {"bignum,unknown,chunk3", K_CREATE, 0, 200, NULL, 0,
       check_unknown_create},
      {"bigexit", K_EXEC, NOX_EPROTO, 200,
       "malformed response: field \"exitCode\" is out of range", 0, NULL},
      {"truncflags", K_EXEC, 0, 200, NULL, 0, check_truncflags},
      {"truncflags,bignum,chunk4", K_EXEC, 0, 200, NULL, 0, check_truncflags},
      {"delay300", K_EXEC, 0, 200, NULL, 0, check_echo},
      {"chunk7,dl600", K_DOWNLOAD, 0, 200, NULL, 0, check_download600},
      {"chunk64", K_DOWNLOAD, 0, 200, NULL, 0, check_download},
      {"badjson", K_HEALTH, 0, 200, NULL, 0, NULL},
      {"close", K_EXEC, 0, 200, NULL, 0, check_echo},
  };
  run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void check_download300(const ht_op_t *op) {
  check_pattern(op, 300);
}

/*
 * Uploads and downloads have no overall deadline, only a stall limit of
 * request_timeout_ms: a silent server ends them about then, and a slow one
 * that keeps moving bytes does not.
 */
static void test_stream_stall_timing(void) {
  static const fcase_t cases[] = {
      {"hang", K_DOWNLOAD, NOX_ETIMEDOUT, 0, NULL, 0, took_stall_limit},
      {"hang", K_UPLOAD, NOX_ETIMEDOUT, 0, NULL, 0, took_stall_limit},
      {"trickle8,dl300", K_DOWNLOAD, 0, 200, NULL, 0, check_download300},
  };
  run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Every chunk size from 1 to 64 parses to the same answer. */
static void test_chunk_sizes(void) {
  fcase_t cases[2 * 64];
  char specs[64][16];
  for (int n = 1; n <= 64; n++) {
    snprintf(specs[n - 1], sizeof(specs[n - 1]), "chunk%d", n);
    cases[2 * (n - 1)] =
        (fcase_t){specs[n - 1], K_EXEC, 0, 200, NULL, 0, check_unknown_exec};
    cases[2 * (n - 1) + 1] = (fcase_t){
        specs[n - 1], K_CREATE, 0, 200, NULL, 0, check_unknown_create};
  }
  run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Chunked and unknown together, at every chunk size. */
static void test_chunk_sizes_unknown(void) {
  fcase_t cases[64];
  char specs[64][24];
  for (int n = 1; n <= 64; n++) {
    snprintf(specs[n - 1], sizeof(specs[n - 1]), "unknown,chunk%d", n);
    cases[n - 1] =
        (fcase_t){specs[n - 1], K_EXEC, 0, 200, NULL, 0, check_unknown_exec};
  }
  run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* A server that closes after every answer costs a connection each, no more. */
static void test_connection_close(void) {
  ht_t t;
  ht_op_t ops[5];
  ht_begin(&t);
  nox_client_t *c = fault_client(&t, "close", 0);
  for (int i = 0; i < 5; i++) {
    ht_op_init(&ops[i], &t);
    ASSERT_EQ(start_kind(&ops[i], c, K_EXEC), 0);
    ht_wait(&t);
    HT_EXPECT(&ops[i], 0);
    check_echo(&ops[i]);
    ht_op_free(&ops[i]);
  }
  ASSERT_EQ(nox_test_faultd_stat(&ht_server, "connections_total"), 5);
  ASSERT_EQ(nox_test_faultd_stat(&ht_server, "requests"), 5);
  ht_end(&t);
}

static void test_connection_refused(void) {
  ht_t t;
  ht_op_t ops[3];
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  char url[64];
  int port = nox_test_unused_port();
  ASSERT_GT(port, 0);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
  o.base_url = url;
  o.max_retries = NOX_RETRIES_NONE;
  ht_begin(&t);
  ASSERT_EQ(nox_client_new(&t.client, &t.loop, &o), 0);
  t.clients = 1;
  for (int i = 0; i < 3; i++)
    ht_op_init(&ops[i], &t);
  ASSERT_EQ(ht_health(&ops[0], t.client), 0);
  ASSERT_EQ(ht_create(&ops[1], t.client, "x", NULL), 0);
  ASSERT_EQ(ht_exec(&ops[2], t.client, "x", echo_argv, NULL), 0);
  ht_wait(&t);
  for (int i = 0; i < 3; i++) {
    HT_EXPECT(&ops[i], NOX_ECONNECT);
    ASSERT_EQ(ops[i].attempts, 1);
    ASSERT_EQ(ops[i].err.http_status, 0);
    ASSERT_NE(ops[i].err.curl_code, 0);
  }
  ht_end(&t);
}

int main(int argc, char **argv) {
  static const ht_case_t cases[] = {
      {"broken_answers", test_broken_answers},
      {"statuses", test_statuses},
      {"odd_answers", test_odd_answers},
      {"chunk_sizes", test_chunk_sizes},
      {"chunk_sizes_unknown", test_chunk_sizes_unknown},
      {"connection_close", test_connection_close},
      {"connection_refused", test_connection_refused},
      {"stream_stall_timing", test_stream_stall_timing},
  };
  return HT_RUN(cases);
}
