/*
 * Shared fixture of the HTTP-backend tests (see http_common.h).
 */
#include "http_common.h"

#include <signal.h>
#include <unistd.h>

/* A test stuck this long is a hang: SIGALRM ends the executable. */
#define WATCHDOG_S 50

nox_test_server_t ht_server;

int ht_main(int argc, char **argv, const ht_case_t *cases, size_t n) {
  /* A failed ASSERT aborts: what was printed before it must be out. */
  setvbuf(stdout, NULL, _IONBF, 0);
  ASSERT_EQ(nox_library_init(), 0);
  ASSERT_EQ(nox_test_faultd_start(&ht_server), 0);
  size_t ran = 0;
  for (size_t i = 0; i < n; i++) {
    bool wanted = argc < 2;
    for (int a = 1; a < argc; a++)
      wanted = wanted || strcmp(argv[a], cases[i].name) == 0;
    if (!wanted)
      continue;
    printf("[ RUN  ] %s\n", cases[i].name);
    fflush(stdout);
    unsigned long long t0 = nox_test_now_ms();
    alarm(WATCHDOG_S);
    cases[i].fn();
    alarm(0);
    printf("[   OK ] %s (%llu ms)\n", cases[i].name, nox_test_now_ms() - t0);
    fflush(stdout);
    ran++;
  }
  ASSERT_EQ(nox_test_server_stop(&ht_server), 0);
  nox_library_cleanup();
  ASSERT_GT(ran, 0);
  return 0;
}

void ht_url(char *buf, size_t len, const char *spec) {
  if (spec != NULL && spec[0] != '\0')
    snprintf(buf, len, "%s/f/%s", ht_server.url, spec);
  else
    snprintf(buf, len, "%s", ht_server.url);
}

void ht_begin(ht_t *t) {
  memset(t, 0, sizeof(*t));
  ASSERT_EQ(uv_loop_init(&t->loop), 0);
  ASSERT_EQ(nox_test_faultd_reset(&ht_server), 0);
}

nox_client_t *ht_client(ht_t *t, const char *spec,
                        const nox_client_options_t *opts) {
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  char url[512];
  nox_client_t *c = NULL;
  if (opts != NULL)
    o = *opts;
  ht_url(url, sizeof(url), spec);
  o.base_url = url;
  ASSERT_EQ(nox_client_new(&c, &t->loop, &o), 0);
  ASSERT(c != NULL);
  ASSERT(nox_client_loop(c) == &t->loop);
  t->clients++;
  if (t->client == NULL)
    t->client = c;
  return c;
}

void ht_wait(ht_t *t) {
  while (t->pending > 0) {
    int alive = uv_run(&t->loop, UV_RUN_ONCE);
    if (alive == 0 && t->pending > 0) {
      fprintf(stderr, "loop ran dry with %d callbacks owed\n", t->pending);
      ASSERT(0);
    }
  }
}

static void on_timer(uv_timer_t *h) {
  *(bool *)h->data = true;
}

static void on_handle_closed(uv_handle_t *h) {
  *(bool *)h->data = true;
}

void ht_run_for(ht_t *t, uint64_t ms) {
  uv_timer_t timer;
  bool fired = false;
  ASSERT_EQ(uv_timer_init(&t->loop, &timer), 0);
  timer.data = &fired;
  ASSERT_EQ(uv_timer_start(&timer, on_timer, ms, 0), 0);
  while (!fired)
    uv_run(&t->loop, UV_RUN_ONCE);
  bool closed = false;
  timer.data = &closed;
  uv_close((uv_handle_t *)&timer, on_handle_closed);
  while (!closed)
    uv_run(&t->loop, UV_RUN_ONCE);
}

static void on_client_closed(void *data) {
  ht_t *t = data;
  t->closes++;
  t->clients--;
}

int ht_close_async(ht_t *t, nox_client_t *c) {
  int r = nox_client_close(c, on_client_closed, t);
  if (r == 0 && c == t->client)
    t->client = NULL;
  return r;
}

void ht_wait_closes(ht_t *t, int n) {
  while (t->closes < n) {
    int alive = uv_run(&t->loop, UV_RUN_ONCE);
    ASSERT(alive != 0 || t->closes >= n);
  }
}

void ht_close(ht_t *t, nox_client_t *c) {
  int before = t->closes;
  ASSERT_EQ(ht_close_async(t, c), 0);
  ht_wait_closes(t, before + 1);
}

void ht_wait_server_requests(ht_t *t, long n) {
  unsigned long long deadline = nox_test_now_ms() + 60000; /* hang guard */
  while (nox_test_faultd_stat(&ht_server, "requests") < n) {
    if (nox_test_now_ms() >= deadline)
      fprintf(stderr, "faultd saw %ld requests, want %ld\n",
              nox_test_faultd_stat(&ht_server, "requests"), n);
    ASSERT_LT(nox_test_now_ms(), deadline);
    ht_run_for(t, 10);
  }
}

void ht_end(ht_t *t) {
  if (t->client != NULL)
    ht_close(t, t->client);
  ASSERT_EQ(t->pending, 0);
  ASSERT_EQ(t->clients, 0);
  ASSERT_LOOP_CLOSES(&t->loop);
}

void ht_op_init(ht_op_t *op, ht_t *t) {
  memset(op, 0, sizeof(*op));
  op->t = t;
  op->status = 1; /* no callback yet */
  op->duration_ms = -2;
  op->expires_at_unix = -2;
}

void ht_op_free(ht_op_t *op) {
  free(op->out);
  free(op->errout);
  free(op->pod_name);
  free(op->expires_at);
  free(op->data);
  op->out = op->errout = op->pod_name = op->expires_at = op->data = NULL;
}

static char *dup_bytes(const char *p, size_t n) {
  char *d = malloc(n + 1);
  ASSERT(d != NULL);
  if (n > 0)
    memcpy(d, p, n);
  d[n] = '\0';
  return d;
}

/* The checks and bookkeeping every callback shares; returns the op. */
static ht_op_t *op_enter(nox_req_t *req, int status) {
  ht_op_t *op = nox_req_data(req);
  ASSERT(op != NULL);
  ASSERT(!op->in_start);
  ASSERT(op->req == NULL || op->req == req);
  op->calls++;
  ASSERT_EQ(op->calls, 1);
  ASSERT(status <= 0);
  op->status = status;
  op->attempts = nox_req_attempts(req);
  op->err = *nox_req_error(req);
  ASSERT_EQ(op->err.code, status);
  ASSERT(memchr(op->err.message, '\0', sizeof(op->err.message)) != NULL);
  op->t_done = nox_test_now_ms();
  op->req = req;
  op->t->pending--;
  return op;
}

static void op_leave(ht_op_t *op) {
  if (op->then != NULL)
    op->then(op);
  op->req = NULL; /* the handle dies when the callback returns */
}

static void on_done(nox_req_t *req, int status) {
  op_leave(op_enter(req, status));
}

static void on_create(nox_req_t *req, int status,
                      const nox_sandbox_info_t *info) {
  ht_op_t *op = op_enter(req, status);
  if (status == 0) {
    ASSERT(info != NULL);
    ASSERT(info->pod_name != NULL && info->expires_at != NULL);
    op->pod_name = dup_bytes(info->pod_name, strlen(info->pod_name));
    op->expires_at = dup_bytes(info->expires_at, strlen(info->expires_at));
    op->expires_at_unix = info->expires_at_unix;
  } else {
    ASSERT(info == NULL);
  }
  op_leave(op);
}

static void on_exec(nox_req_t *req, int status, const nox_exec_result_t *r) {
  ht_op_t *op = op_enter(req, status);
  if (status == 0) {
    ASSERT(r != NULL);
    ASSERT(r->out != NULL && r->err != NULL);
    ASSERT_EQ(r->out[r->out_len], '\0');
    ASSERT_EQ(r->err[r->err_len], '\0');
    op->exit_code = r->exit_code;
    op->duration_ms = r->duration_ms;
    op->out_truncated = r->out_truncated;
    op->err_truncated = r->err_truncated;
    op->out = dup_bytes(r->out, r->out_len);
    op->out_len = r->out_len;
    op->errout = dup_bytes(r->err, r->err_len);
    op->err_len = r->err_len;
  } else {
    ASSERT(r == NULL);
  }
  op_leave(op);
}

static int on_data(nox_req_t *req, const char *buf, size_t len) {
  ht_op_t *op = nox_req_data(req);
  ASSERT(!op->in_start);
  ASSERT_EQ(op->calls, 0);
  ASSERT(len > 0);
  op->data_calls++;
  if (op->sink_fail_after > 0)
    ASSERT_LE(op->data_calls, op->sink_fail_after);
  char *d = realloc(op->data, op->data_len + len + 1);
  ASSERT(d != NULL);
  memcpy(d + op->data_len, buf, len);
  op->data = d;
  op->data_len += len;
  if (op->sink_cancel) {
    op->sink_cancel = false;
    ASSERT_EQ(nox_req_cancel(req), 0);
  }
  if (op->sink_close) {
    op->sink_close = false;
    ASSERT_EQ(ht_close_async(op->t, nox_req_client(req)), 0);
  }
  return op->data_calls == op->sink_fail_after ? 1 : 0;
}

#define START(op, call)                                                        \
  do {                                                                         \
    (op)->in_start = true;                                                     \
    (op)->t_start = nox_test_now_ms();                                         \
    int r_ = (call);                                                           \
    (op)->in_start = false;                                                    \
    ASSERT_EQ((op)->calls, 0);                                                 \
    if (r_ == 0) {                                                             \
      ASSERT((op)->req != NULL);                                               \
      ASSERT(nox_req_data((op)->req) == (op));                                 \
      (op)->t->pending++;                                                      \
    }                                                                          \
    return r_;                                                                 \
  } while (0)

int ht_health(ht_op_t *op, nox_client_t *c) {
  START(op, nox_health(&op->req, c, on_done, op));
}

int ht_create(ht_op_t *op, nox_client_t *c, const char *id,
              const nox_create_options_t *opts) {
  START(op, nox_create(&op->req, c, id, opts, on_create, op));
}

int ht_touch(ht_op_t *op, nox_client_t *c, const char *id) {
  START(op, nox_touch(&op->req, c, id, on_done, op));
}

int ht_delete(ht_op_t *op, nox_client_t *c, const char *id) {
  START(op, nox_delete(&op->req, c, id, on_done, op));
}

int ht_exec(ht_op_t *op, nox_client_t *c, const char *id,
            const char *const argv[], const nox_exec_options_t *opts) {
  START(op, nox_exec(&op->req, c, id, argv, opts, on_exec, op));
}

int ht_exec_shell(ht_op_t *op, nox_client_t *c, const char *id,
                  const char *shell, const char *script,
                  const nox_exec_options_t *opts) {
  START(op, nox_exec_shell(&op->req, c, id, shell, script, opts, on_exec, op));
}

int ht_upload(ht_op_t *op, nox_client_t *c, const char *id,
              const nox_upload_options_t *opts) {
  START(op, nox_upload(&op->req, c, id, opts, on_done, op));
}

int ht_download(ht_op_t *op, nox_client_t *c, const char *id,
                const nox_download_options_t *opts) {
  START(op, nox_download(&op->req, c, id, opts, on_data, on_done, op));
}

int ht_wait_ready(ht_op_t *op, nox_client_t *c, const char *id,
                  const nox_wait_options_t *opts) {
  START(op, nox_wait_ready(&op->req, c, id, opts, on_done, op));
}

yajl_val ht_log(void) {
  yajl_val log = nox_test_faultd_log(&ht_server);
  ASSERT(log != NULL);
  return log;
}

size_t ht_log_len(yajl_val log) {
  return YAJL_GET_ARRAY(log)->len;
}

yajl_val ht_log_at(yajl_val log, size_t i) {
  ASSERT_LT(i, ht_log_len(log));
  return YAJL_GET_ARRAY(log)->values[i];
}

size_t ht_log_count(yajl_val log, const char *method, const char *path) {
  size_t n = 0;
  for (size_t i = 0; i < ht_log_len(log); i++) {
    yajl_val e = ht_log_at(log, i);
    const char *m = nox_test_json_str(e, "method", NULL);
    const char *p = nox_test_json_str(e, "path", NULL);
    if (m != NULL && p != NULL && strcmp(m, method) == 0 &&
        strcmp(p, path) == 0)
      n++;
  }
  return n;
}

yajl_val ht_log_one(yajl_val log, const char *method, const char *path) {
  yajl_val found = NULL;
  for (size_t i = 0; i < ht_log_len(log); i++) {
    yajl_val e = ht_log_at(log, i);
    const char *m = nox_test_json_str(e, "method", NULL);
    const char *p = nox_test_json_str(e, "path", NULL);
    if (m != NULL && p != NULL && strcmp(m, method) == 0 &&
        strcmp(p, path) == 0) {
      if (found != NULL) {
        fprintf(stderr, "more than one %s %s in the log\n", method, path);
        ASSERT(0);
      }
      found = e;
    }
  }
  if (found == NULL) {
    fprintf(stderr, "no %s %s in the log\n", method, path);
    ASSERT(0);
  }
  return found;
}

yajl_val ht_log_json(yajl_val entry) {
  size_t len;
  char err[256];
  char *body = ht_log_body(entry, &len);
  ASSERT_EQ(strlen(body), len);
  yajl_val v = yajl_tree_parse(body, err, sizeof(err));
  if (v == NULL)
    fprintf(stderr, "request body is not JSON (%s): %s\n", err, body);
  free(body);
  ASSERT(v != NULL);
  return v;
}

/*
 * faultd sends the body as one code point per byte; yajl hands it back as
 * UTF-8, where a code point below 0x100 is one byte or two.
 */
char *ht_log_body(yajl_val entry, size_t *len) {
  const char *s = nox_test_json_str(entry, "body", NULL);
  long long n = nox_test_json_int(entry, "body_len");
  ASSERT(s != NULL);
  ASSERT_GE(n, 0);
  char *out = malloc((size_t)n + 1);
  ASSERT(out != NULL);
  const unsigned char *p = (const unsigned char *)s;
  for (long long i = 0; i < n; i++) {
    if (p[0] < 0x80) {
      out[i] = (char)p[0];
      p++;
    } else {
      ASSERT(p[0] == 0xc2 || p[0] == 0xc3);
      out[i] = (char)(((p[0] & 0x03) << 6) | (p[1] & 0x3f));
      p += 2;
    }
  }
  out[n] = '\0';
  *len = (size_t)n;
  return out;
}

/* The raw target of e split at '?': checks the path part, returns the query. */
const char *ht_check_target(yajl_val e, const char *want_path) {
  const char *target = nox_test_json_str(e, "target", NULL);
  ASSERT(target != NULL);
  const char *q = strchr(target, '?');
  size_t plen = q != NULL ? (size_t)(q - target) : strlen(target);
  char *path = strndup(target, plen);
  if (!ht_pct_equal(path, want_path)) {
    fprintf(stderr, "target %s, want path %s\n", target, want_path);
    ASSERT(0);
  }
  free(path);
  return q != NULL ? q + 1 : "";
}

yajl_val ht_json_get(yajl_val v, const char *key1, const char *key2) {
  const char *path[] = {key1, key2, NULL};
  return yajl_tree_get(v, path, yajl_t_any);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool ht_pct_equal(const char *got, const char *want) {
  while (*want != '\0') {
    if (*want == '%') {
      if (got[0] != '%' || hexval(got[1]) < 0 || hexval(got[2]) < 0 ||
          hexval(got[1]) != hexval(want[1]) ||
          hexval(got[2]) != hexval(want[2]))
        return false;
      got += 3;
      want += 3;
      continue;
    }
    if (*got != *want)
      return false;
    got++;
    want++;
  }
  return *got == '\0';
}
