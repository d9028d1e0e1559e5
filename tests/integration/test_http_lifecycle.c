/*
 * Request and client lifecycle over HTTP: cancel (in flight, queued, before
 * start, racing completion), close with requests pending and from inside a
 * callback, arguments refused at once, data sinks that stop a download.
 */
#include "http_common.h"

static const char *const echo_argv[] = {"echo", "x", NULL};

/* Connections the server still has open drop to zero (the client left). */
static void wait_server_connections_closed(ht_t *t) {
  unsigned long long deadline = nox_test_now_ms() + 60000; /* hang guard */
  while (nox_test_faultd_stat(&ht_server, "connections_open") != 0) {
    ASSERT_LT(nox_test_now_ms(), deadline);
    ht_run_for(t, 10);
  }
}

static void test_cancel_in_flight(void) {
  ht_t t;
  ht_op_t op;
  ht_begin(&t);
  nox_client_t *c = ht_client(&t, "hang", NULL);
  ht_op_init(&op, &t);
  ASSERT_EQ(ht_exec(&op, c, "cx", echo_argv, NULL), 0);
  ASSERT_EQ(nox_client_pending(c), 1);
  ht_wait_server_requests(&t, 1);
  ASSERT_EQ(op.calls, 0);

  unsigned long long t0 = nox_test_now_ms();
  ASSERT_EQ(nox_req_cancel(op.req), 0);
  int again = nox_req_cancel(op.req);
  ASSERT(again == 0 || again == NOX_EALREADY);
  ASSERT_EQ(op.calls, 0); /* never from inside nox_req_cancel */
  ht_wait(&t);
  HT_EXPECT(&op, NOX_ECANCELED);
  ASSERT_LT(op.t_done - t0, 20000); /* not the exec's 60 s deadline */
  ASSERT_EQ(nox_client_pending(c), 0);
  /* An abandoned answer must not keep its connection. */
  wait_server_connections_closed(&t);
  ht_end(&t);
}

/* A request waiting for a transfer slot is canceled without being sent. */
static void test_cancel_queued(void) {
  ht_t t;
  ht_op_t a, b, c2;
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.max_connections = 1;
  ht_begin(&t);
  nox_client_t *c = ht_client(&t, "hang", &o);
  ht_op_init(&a, &t);
  ht_op_init(&b, &t);
  ht_op_init(&c2, &t);
  ASSERT_EQ(ht_exec(&a, c, "qa", echo_argv, NULL), 0);
  ASSERT_EQ(ht_exec(&b, c, "qb", echo_argv, NULL), 0);
  ASSERT_EQ(ht_exec(&c2, c, "qc", echo_argv, NULL), 0);
  ht_wait_server_requests(&t, 1);
  ht_run_for(&t, 50);
  ASSERT_EQ(nox_test_faultd_stat(&ht_server, "requests"), 1);

  ASSERT_EQ(nox_req_cancel(b.req), 0);
  while (b.calls == 0)
    ht_run_for(&t, 5);
  HT_EXPECT(&b, NOX_ECANCELED);
  ASSERT_EQ(a.calls, 0);
  ASSERT_EQ(c2.calls, 0);

  ASSERT_EQ(nox_req_cancel(a.req), 0);
  ht_wait_server_requests(&t, 2);
  HT_EXPECT(&a, NOX_ECANCELED);
  ASSERT_EQ(c2.calls, 0);
  ASSERT_EQ(nox_req_cancel(c2.req), 0);
  ht_wait(&t);
  HT_EXPECT(&c2, NOX_ECANCELED);

  yajl_val log = ht_log();
  ASSERT_EQ(ht_log_len(log), 2);
  ASSERT_EQ(ht_log_count(log, "POST", "/v1/sandboxes/qa/exec"), 1);
  ASSERT_EQ(ht_log_count(log, "POST", "/v1/sandboxes/qb/exec"), 0);
  ASSERT_EQ(ht_log_count(log, "POST", "/v1/sandboxes/qc/exec"), 1);
  yajl_tree_free(log);
  ht_end(&t);
}

/* Canceled before the loop ever ran: never sent, still called back. */
static void test_cancel_before_start(void) {
  ht_t t;
  ht_op_t op[3];
  ht_begin(&t);
  nox_client_t *c = ht_client(&t, NULL, NULL);
  for (int i = 0; i < 3; i++)
    ht_op_init(&op[i], &t);
  ASSERT_EQ(ht_health(&op[0], c), 0);
  ASSERT_EQ(ht_exec(&op[1], c, "cb", echo_argv, NULL), 0);
  ASSERT_EQ(ht_download(&op[2], c, "cb", NULL), 0);
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(nox_req_cancel(op[i].req), 0);
  ht_wait(&t);
  for (int i = 0; i < 3; i++) {
    HT_EXPECT(&op[i], NOX_ECANCELED);
    ASSERT_EQ(op[i].attempts, 0);
  }
  ASSERT_EQ(op[2].data_calls, 0);
  ASSERT_EQ(nox_test_faultd_stat(&ht_server, "requests"), 0);
  ht_end(&t);
}

static void cancel_self(ht_op_t *op) {
  ASSERT_EQ(nox_req_cancel(op->req), NOX_EALREADY);
}

/* Inside its own callback a request's outcome is decided. */
static void test_cancel_in_own_callback(void) {
  ht_t t;
  ht_op_t ok, failed;
  ht_begin(&t);
  nox_client_t *c = ht_client(&t, NULL, NULL);
  nox_client_t *c404 = ht_client(&t, "s404x*", NULL);
  ht_op_init(&ok, &t);
  ht_op_init(&failed, &t);
  ok.then = cancel_self;
  failed.then = cancel_self;
  ASSERT_EQ(ht_health(&ok, c), 0);
  ASSERT_EQ(ht_touch(&failed, c404, "x"), 0);
  ht_wait(&t);
  HT_EXPECT(&ok, 0);
  HT_EXPECT(&failed, NOX_ENOTFOUND);
  ht_close(&t, c404);
  ht_end(&t);
}

#define RACE_N 24

typedef struct {
  ht_op_t ops[RACE_N];
  int cancel_ret[RACE_N];
} race_t;

/* The first callback cancels every other request that is still live. */
static void cancel_the_rest(ht_op_t *op) {
  race_t *r = op->user;
  for (int i = 0; i < RACE_N; i++) {
    ht_op_t *o = &r->ops[i];
    if (o != op && o->calls == 0 && r->cancel_ret[i] == 1)
      r->cancel_ret[i] = nox_req_cancel(o->req);
  }
}

/*
 * Whatever the timing, nox_req_cancel() agrees with the outcome: 0 means the
 * callback says NOX_ECANCELED, NOX_EALREADY means it reports the real
 * outcome.
 */
static void test_cancel_race(void) {
  ht_t t;
  race_t *r = calloc(1, sizeof(*r));
  ASSERT(r != NULL);
  ht_begin(&t);
  nox_client_t *c = ht_client(&t, NULL, NULL);
  for (int i = 0; i < RACE_N; i++) {
    ht_op_init(&r->ops[i], &t);
    r->ops[i].user = r;
    r->ops[i].then = cancel_the_rest;
    r->cancel_ret[i] = 1; /* not canceled */
    ASSERT_EQ(ht_exec(&r->ops[i], c, "race", echo_argv, NULL), 0);
  }
  ht_wait(&t);
  int canceled = 0, already = 0;
  for (int i = 0; i < RACE_N; i++) {
    if (r->cancel_ret[i] == 0) {
      HT_EXPECT(&r->ops[i], NOX_ECANCELED);
      canceled++;
    } else {
      ASSERT(r->cancel_ret[i] == 1 || r->cancel_ret[i] == NOX_EALREADY);
      already += r->cancel_ret[i] == NOX_EALREADY;
      HT_EXPECT(&r->ops[i], 0);
    }
    ht_op_free(&r->ops[i]);
  }
  printf("  %d canceled, %d already decided\n", canceled, already);
  ht_end(&t);
  free(r);
}

static void expect_closing_before_close_cb(ht_op_t *op) {
  ASSERT_EQ(op->t->closes, 0);
  ASSERT_EQ(op->status, NOX_ECLOSING);
}

/* Close with requests in flight and queued: each called back, then close. */
static void test_close_with_pending(void) {
  ht_t t;
  ht_op_t ops[7];
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.max_connections = 2;
  ht_begin(&t);
  nox_client_t *c = ht_client(&t, "hang", &o);
  for (int i = 0; i < 6; i++) {
    ht_op_init(&ops[i], &t);
    ops[i].then = expect_closing_before_close_cb;
  }
  ASSERT_EQ(ht_exec(&ops[0], c, "p0", echo_argv, NULL), 0);
  ASSERT_EQ(ht_create(&ops[1], c, "p1", NULL), 0);
  ASSERT_EQ(ht_download(&ops[2], c, "p2", NULL), 0);
  ASSERT_EQ(ht_exec(&ops[3], c, "p3", echo_argv, NULL), 0);
  ASSERT_EQ(ht_health(&ops[4], c), 0);
  ASSERT_EQ(ht_touch(&ops[5], c, "p5"), 0);
  /* At least one is in flight (test_http_load checks that both are). */
  ht_wait_server_requests(&t, 1);
  ASSERT_EQ(nox_client_pending(c), 6);

  ASSERT_EQ(ht_close_async(&t, c), 0);
  for (int i = 0; i < 6; i++)
    ASSERT_EQ(ops[i].calls, 0); /* never from inside nox_client_close */
  ASSERT_EQ(nox_client_close(c, NULL, NULL), NOX_ECLOSING);
  ht_op_init(&ops[6], &t);
  ASSERT_EQ(ht_health(&ops[6], c), NOX_ECLOSING);
  ASSERT_EQ(ht_exec(&ops[6], c, "late", echo_argv, NULL), NOX_ECLOSING);

  ht_wait_closes(&t, 1);
  ASSERT_EQ(t.pending, 0);
  for (int i = 0; i < 6; i++)
    HT_EXPECT(&ops[i], NOX_ECLOSING);
  ASSERT_EQ(ops[6].calls, 0);
  wait_server_connections_closed(&t);
  ASSERT_LE(nox_test_faultd_stat(&ht_server, "requests"), 2);
  ht_end(&t);
}

typedef struct {
  nox_client_t *c;
  int close_ret;
  int late_ret;
} closer_t;

static void close_from_callback(ht_op_t *op) {
  closer_t *cl = op->user;
  ht_op_t late;
  cl->close_ret = ht_close_async(op->t, cl->c);
  ht_op_init(&late, op->t);
  cl->late_ret = ht_health(&late, cl->c);
  ASSERT_EQ(op->t->closes, 0);
}

static void test_close_from_callback(void) {
  ht_t t;
  ht_op_t ops[3];
  closer_t cl = {NULL, 1, 1};
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.max_connections = 1;
  ht_begin(&t);
  cl.c = ht_client(&t, "delay200", &o);
  for (int i = 0; i < 3; i++)
    ht_op_init(&ops[i], &t);
  ops[0].then = close_from_callback;
  ops[0].user = &cl;
  ops[1].then = expect_closing_before_close_cb;
  ops[2].then = expect_closing_before_close_cb;
  ASSERT_EQ(ht_exec(&ops[0], cl.c, "cc", echo_argv, NULL), 0);
  ASSERT_EQ(ht_exec(&ops[1], cl.c, "cc", echo_argv, NULL), 0);
  ASSERT_EQ(ht_create(&ops[2], cl.c, "cc", NULL), 0);
  ht_wait_closes(&t, 1);
  ASSERT_EQ(cl.close_ret, 0);
  ASSERT_EQ(cl.late_ret, NOX_ECLOSING);
  HT_EXPECT(&ops[0], 0);
  ASSERT_STR_EQ(ops[0].out, "echo x");
  HT_EXPECT(&ops[1], NOX_ECLOSING);
  HT_EXPECT(&ops[2], NOX_ECLOSING);
  ht_op_free(&ops[0]);
  ht_end(&t);
}

/* A client closed with nothing pending, and one never used. */
static void test_close_idle(void) {
  ht_t t;
  ht_op_t op;
  ht_begin(&t);
  nox_client_t *unused = ht_client(&t, NULL, NULL);
  nox_client_t *c = ht_client(&t, NULL, NULL);
  ht_op_init(&op, &t);
  ASSERT_EQ(ht_health(&op, c), 0);
  ht_wait(&t);
  HT_EXPECT(&op, 0);
  ht_close(&t, c);
  ASSERT_EQ(ht_close_async(&t, unused), 0);
  ht_wait_closes(&t, 2);
  ht_end(&t);
}

static int on_data_never(nox_req_t *req, const char *buf, size_t len) {
  ASSERT(0);
  return 0;
}

static void on_done_never(nox_req_t *req, int status) {
  ASSERT(0);
}

static void on_exec_never(nox_req_t *req, int status,
                          const nox_exec_result_t *r) {
  ASSERT(0);
}

static void on_create_never(nox_req_t *req, int status,
                            const nox_sandbox_info_t *i) {
  ASSERT(0);
}

/* Refused at once with no callback, and nothing reaches the server. */
static void test_bad_arguments(void) {
  ht_t t;
  nox_client_t *c;
  char long_id[1100];
  memset(long_id, 'x', 1025);
  long_id[1025] = '\0';
  const char *const empty_argv[] = {NULL};
  const char *const bad_env[] = {"NOEQUALS", NULL};
  /* Broken sequences: a stray byte, a cut sequence, a lone continuation. */
  const char *const bad_utf8[][2] = {
      {"\xff", NULL}, {"ok\xc3", NULL}, {"a\x80z", NULL}, {"\xe2\x9c", NULL}};
  nox_exec_options_t ex = NOX_EXEC_OPTIONS_INIT;
  nox_exec_options_t ex_bad_version = NOX_EXEC_OPTIONS_INIT;
  nox_create_options_t cr_bad_version = NOX_CREATE_OPTIONS_INIT;
  nox_download_options_t dl_bad_version = NOX_DOWNLOAD_OPTIONS_INIT;
  nox_wait_options_t wt_bad_version = NOX_WAIT_OPTIONS_INIT;
  nox_upload_options_t up = NOX_UPLOAD_OPTIONS_INIT;
  nox_file_t file = {"ok.txt", "x", 1, 0};
  nox_client_options_t co = NOX_CLIENT_OPTIONS_INIT;
  ex.env = bad_env;
  ex_bad_version.version = 99;
  cr_bad_version.version = 0;
  dl_bad_version.version = 99;
  wt_bad_version.version = 99;

  ht_begin(&t);
  c = ht_client(&t, NULL, NULL);

  /* Session ids. */
  ASSERT_EQ(nox_create(NULL, c, NULL, NULL, on_create_never, NULL), NOX_EINVAL);
  ASSERT_EQ(nox_create(NULL, c, "", NULL, on_create_never, NULL), NOX_EINVAL);
  ASSERT_EQ(nox_create(NULL, c, long_id, NULL, on_create_never, NULL),
            NOX_EINVAL);
  ASSERT_EQ(nox_touch(NULL, c, NULL, on_done_never, NULL), NOX_EINVAL);
  ASSERT_EQ(nox_touch(NULL, c, long_id, on_done_never, NULL), NOX_EINVAL);
  ASSERT_EQ(nox_delete(NULL, c, "", on_done_never, NULL), NOX_EINVAL);
  ASSERT_EQ(nox_exec(NULL, c, NULL, echo_argv, NULL, on_exec_never, NULL),
            NOX_EINVAL);
  ASSERT_EQ(nox_exec(NULL, c, long_id, echo_argv, NULL, on_exec_never, NULL),
            NOX_EINVAL);
  ASSERT_EQ(nox_download(NULL, c, "", NULL, on_data_never, on_done_never, NULL),
            NOX_EINVAL);
  ASSERT_EQ(nox_wait_ready(NULL, c, NULL, NULL, on_done_never, NULL),
            NOX_EINVAL);

  /* Callbacks are required. */
  ASSERT_EQ(nox_health(NULL, c, NULL, NULL), NOX_EINVAL);
  ASSERT_EQ(nox_exec(NULL, c, "x", echo_argv, NULL, NULL, NULL), NOX_EINVAL);
  ASSERT_EQ(nox_download(NULL, c, "x", NULL, NULL, on_done_never, NULL),
            NOX_EINVAL);

  /* Commands. */
  ASSERT_EQ(nox_exec(NULL, c, "x", NULL, NULL, on_exec_never, NULL),
            NOX_EINVAL);
  ASSERT_EQ(nox_exec(NULL, c, "x", empty_argv, NULL, on_exec_never, NULL),
            NOX_EINVAL);
  ASSERT_EQ(nox_exec(NULL, c, "x", echo_argv, &ex, on_exec_never, NULL),
            NOX_EINVAL);
  for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
    int r = nox_exec(NULL, c, "x", bad_utf8[i], NULL, on_exec_never, NULL);
    if (r != NOX_EINVAL)
      fprintf(stderr, "argv[0] with invalid UTF-8 #%zu: %s\n", i,
              nox_err_name(r));
    ASSERT_EQ(r, NOX_EINVAL);
  }
  ASSERT_EQ(
      nox_exec_shell(NULL, c, "x", "zsh", "echo", NULL, on_exec_never, NULL),
      NOX_EBADSHELL);
  ASSERT_EQ(nox_exec_shell(NULL, c, "x", "/bin/sh", "echo", NULL, on_exec_never,
                           NULL),
            NOX_EBADSHELL);
  ASSERT_EQ(nox_exec_shell(NULL, c, "x", "sh", NULL, NULL, on_exec_never, NULL),
            NOX_EINVAL);
  ASSERT_EQ(nox_exec_shell(NULL, c, "x", "sh", "echo \xff", NULL, on_exec_never,
                           NULL),
            NOX_EINVAL);

  /* Uploads: files or archive, exactly one; relative clean paths. */
  ASSERT_EQ(nox_upload(NULL, c, "x", NULL, on_done_never, NULL), NOX_EINVAL);
  ASSERT_EQ(nox_upload(NULL, c, "x", &up, on_done_never, NULL), NOX_EINVAL);
  up.files = &file;
  up.nfiles = 1;
  up.archive = "tar";
  up.archive_len = 3;
  ASSERT_EQ(nox_upload(NULL, c, "x", &up, on_done_never, NULL), NOX_EINVAL);
  up.archive = NULL;
  up.archive_len = 0;
  static const char *const bad_paths[] = {
      "/etc/passwd", "..", "../x", "a/../b", "a/..", "", ".", "a/", "a/."};
  for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
    file.path = bad_paths[i];
    int r = nox_upload(NULL, c, "x", &up, on_done_never, NULL);
    if (r != NOX_EINVAL)
      fprintf(stderr, "upload path \"%s\": %s\n", bad_paths[i],
              nox_err_name(r));
    ASSERT_EQ(r, NOX_EINVAL);
  }
  file.path = NULL;
  ASSERT_EQ(nox_upload(NULL, c, "x", &up, on_done_never, NULL), NOX_EINVAL);
  file.path = "ok.txt";
  file.data = NULL;
  ASSERT_EQ(nox_upload(NULL, c, "x", &up, on_done_never, NULL), NOX_EINVAL);

  /* Option structs of another version. */
  ASSERT_EQ(nox_create(NULL, c, "x", &cr_bad_version, on_create_never, NULL),
            NOX_EINVAL);
  ASSERT_EQ(
      nox_exec(NULL, c, "x", echo_argv, &ex_bad_version, on_exec_never, NULL),
      NOX_EINVAL);
  ASSERT_EQ(nox_exec_shell(NULL, c, "x", NULL, "echo", &ex_bad_version,
                           on_exec_never, NULL),
            NOX_EINVAL);
  file.data = "x";
  up.version = 99;
  ASSERT_EQ(nox_upload(NULL, c, "x", &up, on_done_never, NULL), NOX_EINVAL);
  ASSERT_EQ(nox_download(NULL, c, "x", &dl_bad_version, on_data_never,
                         on_done_never, NULL),
            NOX_EINVAL);
  ASSERT_EQ(nox_wait_ready(NULL, c, "x", &wt_bad_version, on_done_never, NULL),
            NOX_EINVAL);

  /* Clients. */
  nox_client_t *bad = NULL;
  co.version = 0;
  ASSERT_EQ(nox_client_new(&bad, &t.loop, &co), NOX_EINVAL);
  co.version = NOX_CLIENT_OPTIONS_VERSION + 1;
  ASSERT_EQ(nox_client_new(&bad, &t.loop, &co), NOX_EINVAL);
  /* A program built against layout 1 (before the local_max_* fields). */
  co.version = 1;
  ASSERT_EQ(nox_client_new(&bad, &t.loop, &co), 0);
  nox_client_close(bad, NULL, NULL);
  bad = NULL;
  /* ...and one built against layout 2 (before local_auto_create). */
  co.version = 2;
  ASSERT_EQ(nox_client_new(&bad, &t.loop, &co), 0);
  nox_client_close(bad, NULL, NULL);
  bad = NULL;
  co.version = NOX_CLIENT_OPTIONS_VERSION;
  co.base_url = "ftp://127.0.0.1/";
  ASSERT_EQ(nox_client_new(&bad, &t.loop, &co), NOX_EUNSUPPORTED);
  ASSERT_EQ(nox_client_new(&bad, NULL, NULL), NOX_EINVAL);

  ASSERT_EQ(nox_client_pending(c), 0);
  ht_run_for(&t, 100);
  ASSERT_EQ(nox_test_faultd_stat(&ht_server, "requests"), 0);
  ht_end(&t);
}

/*
 * Well-formed byte patterns that are still not UTF-8 (RFC 3629): an overlong
 * '/', a UTF-16 surrogate, a code point past U+10FFFF.
 */
static void test_strict_utf8(void) {
  ht_t t;
  const char *const bad[][2] = {
      {"\xc0\xaf", NULL}, {"\xed\xa0\x80", NULL}, {"\xf4\x90\x80\x80", NULL}};
  ht_begin(&t);
  nox_client_t *c = ht_client(&t, NULL, NULL);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int r = nox_exec(NULL, c, "x", bad[i], NULL, on_exec_never, NULL);
    if (r != NOX_EINVAL)
      fprintf(stderr, "argv[0] not UTF-8 #%zu: %s\n", i, nox_err_name(r));
    ASSERT_EQ(r, NOX_EINVAL);
  }
  ht_run_for(&t, 50);
  ASSERT_EQ(nox_test_faultd_stat(&ht_server, "requests"), 0);
  ht_end(&t);
}

/* Failures known at once still come back later, never inside the call. */
static void test_never_inside_start(void) {
  ht_t t;
  ht_op_t ops[8];
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  char url[64];
  nox_file_t file = {"f", "x", 1, 0};
  nox_upload_options_t up = NOX_UPLOAD_OPTIONS_INIT;
  nox_wait_options_t wo = NOX_WAIT_OPTIONS_INIT;
  up.files = &file;
  up.nfiles = 1;
  wo.timeout_ms = 300;
  wo.interval_ms = 50;
  snprintf(url, sizeof(url), "http://127.0.0.1:%d", nox_test_unused_port());
  o.base_url = url;
  o.max_retries = NOX_RETRIES_NONE;
  ht_begin(&t);
  ASSERT_EQ(nox_client_new(&t.client, &t.loop, &o), 0);
  t.clients = 1;
  for (int i = 0; i < 8; i++)
    ht_op_init(&ops[i], &t);
  ASSERT_EQ(ht_health(&ops[0], t.client), 0);
  ASSERT_EQ(ht_create(&ops[1], t.client, "n", NULL), 0);
  ASSERT_EQ(ht_touch(&ops[2], t.client, "n"), 0);
  ASSERT_EQ(ht_delete(&ops[3], t.client, "n"), 0);
  ASSERT_EQ(ht_exec(&ops[4], t.client, "n", echo_argv, NULL), 0);
  ASSERT_EQ(ht_upload(&ops[5], t.client, "n", &up), 0);
  ASSERT_EQ(ht_download(&ops[6], t.client, "n", NULL), 0);
  ASSERT_EQ(ht_wait_ready(&ops[7], t.client, "n", &wo), 0);
  ASSERT_EQ(nox_client_pending(t.client), 8);
  ht_wait(&t);
  for (int i = 0; i < 7; i++)
    HT_EXPECT(&ops[i], NOX_ECONNECT);
  HT_EXPECT(&ops[7], NOX_ETIMEDOUT);
  ht_end(&t);
}

/* A data sink stops its download: non-zero return, cancel, or close. */
static void test_sink_stops_download(void) {
  ht_t t;
  ht_op_t first, third, cancel, closes, after;
  ht_begin(&t);
  nox_client_t *c = ht_client(&t, "dl200000,chunk4096", NULL);
  nox_client_t *c2 = ht_client(&t, "dl200000,chunk4096", NULL);
  ht_op_init(&first, &t);
  ht_op_init(&third, &t);
  ht_op_init(&cancel, &t);
  ht_op_init(&closes, &t);
  first.sink_fail_after = 1;
  third.sink_fail_after = 3;
  cancel.sink_cancel = true;
  closes.sink_close = true;
  ASSERT_EQ(ht_download(&first, c, "s1", NULL), 0);
  ASSERT_EQ(ht_download(&third, c, "s3", NULL), 0);
  ASSERT_EQ(ht_download(&cancel, c, "sc", NULL), 0);
  ASSERT_EQ(ht_download(&closes, c2, "sx", NULL), 0);
  ht_wait(&t);
  HT_EXPECT(&first, NOX_EUSER);
  ASSERT_EQ(first.data_calls, 1);
  ASSERT_EQ(first.attempts, 1);
  HT_EXPECT(&third, NOX_EUSER);
  ASSERT_EQ(third.data_calls, 3);
  HT_EXPECT(&cancel, NOX_ECANCELED);
  ASSERT_GE(cancel.data_calls, 1);
  ASSERT_LT(cancel.data_len, 200000);
  HT_EXPECT(&closes, NOX_ECLOSING);
  ASSERT_LT(closes.data_len, 200000);
  ht_wait_closes(&t, 1);

  /* The client still works after its sinks stopped transfers. */
  ht_op_init(&after, &t);
  ASSERT_EQ(ht_download(&after, c, "s4", NULL), 0);
  ht_wait(&t);
  HT_EXPECT(&after, 0);
  ASSERT_EQ(after.data_len, 200000);
  ht_op_free(&first);
  ht_op_free(&third);
  ht_op_free(&cancel);
  ht_op_free(&closes);
  ht_op_free(&after);
  ht_end(&t);
}

int main(int argc, char **argv) {
  static const ht_case_t cases[] = {
      {"cancel_in_flight", test_cancel_in_flight},
      {"cancel_queued", test_cancel_queued},
      {"cancel_before_start", test_cancel_before_start},
      {"cancel_in_own_callback", test_cancel_in_own_callback},
      {"cancel_race", test_cancel_race},
      {"close_with_pending", test_close_with_pending},
      {"close_from_callback", test_close_from_callback},
      {"close_idle", test_close_idle},
      {"bad_arguments", test_bad_arguments},
      {"never_inside_start", test_never_inside_start},
      {"sink_stops_download", test_sink_stops_download},
      {"strict_utf8", test_strict_utf8},
  };
  return HT_RUN(cases);
}
