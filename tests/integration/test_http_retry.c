/*
 * Retries (only where safe, with backoff and Retry-After) and wait-ready
 * polling.
 */
#include "http_common.h"

static const char *const echo_argv[] = {"echo", "x", NULL};

static nox_client_t *retry_client(ht_t *t, const char *spec,
                                  uint32_t max_retries) {
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.retry_base_ms = 20;
  o.max_retries = max_retries;
  return ht_client(t, spec, &o);
}

static nox_client_t *refused_client(ht_t *t, uint32_t max_retries) {
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  char url[64];
  nox_client_t *c;
  snprintf(url, sizeof(url), "http://127.0.0.1:%d", nox_test_unused_port());
  o.base_url = url;
  o.retry_base_ms = 20;
  o.max_retries = max_retries;
  ASSERT_EQ(nox_client_new(&c, &t->loop, &o), 0);
  t->clients++;
  if (t->client == NULL)
    t->client = c;
  return c;
}

/* Every idempotent operation gets through two 503s. */
static void test_idempotent_after_503s(void) {
  ht_t t;
  ht_op_t ops[5];
  ht_begin(&t);
  nox_client_t *c = retry_client(&t, "s503x2", 0);
  for (int i = 0; i < 5; i++)
    ht_op_init(&ops[i], &t);
  ASSERT_EQ(ht_create(&ops[0], c, "r", NULL), 0);
  ASSERT_EQ(ht_touch(&ops[1], c, "r"), 0);
  ASSERT_EQ(ht_health(&ops[2], c), 0);
  ASSERT_EQ(ht_download(&ops[3], c, "r", NULL), 0);
  ASSERT_EQ(ht_delete(&ops[4], c, "r"), 0);
  ht_wait(&t);
  for (int i = 0; i < 5; i++) {
    HT_EXPECT(&ops[i], 0);
    ASSERT_EQ(ops[i].attempts, 3);
  }
  ASSERT_STR_EQ(ops[0].pod_name, "pod-r");
  ASSERT_EQ(ops[3].data_len, 4096); /* the body once, not per attempt */

  yajl_val log = ht_log();
  ASSERT_EQ(ht_log_len(log), 15);
  ASSERT_EQ(ht_log_count(log, "PUT", "/v1/sandboxes/r"), 3);
  ASSERT_EQ(ht_log_count(log, "POST", "/v1/sandboxes/r/touch"), 3);
  ASSERT_EQ(ht_log_count(log, "GET", "/healthz"), 3);
  ASSERT_EQ(ht_log_count(log, "GET", "/v1/sandboxes/r/files/download"), 3);
  ASSERT_EQ(ht_log_count(log, "DELETE", "/v1/sandboxes/r"), 3);
  yajl_tree_free(log);
  for (int i = 0; i < 5; i++)
    ht_op_free(&ops[i]);
  ht_end(&t);
}

/* Retry-After: 1 holds each retry back for a second. */
static void test_retry_after(void) {
  ht_t t;
  ht_op_t op;
  ht_begin(&t);
  ht_op_init(&op, &t);
  ASSERT_EQ(ht_create(&op, retry_client(&t, "s503x2,ra1", 0), "ra", NULL), 0);
  ht_wait(&t);
  HT_EXPECT(&op, 0);
  ASSERT_EQ(op.attempts, 3);
  unsigned long long ms = op.t_done - op.t_start;
  printf("  two Retry-After: 1 waits took %llu ms\n", ms);
  ASSERT_GE(ms, 1800);
  ASSERT_LT(ms, 6000);

  yajl_val log = ht_log();
  ASSERT_EQ(ht_log_len(log), 3);
  for (size_t i = 1; i < 3; i++) {
    double a =
        YAJL_GET_DOUBLE(ht_json_get(ht_log_at(log, i - 1), "time", NULL));
    double b = YAJL_GET_DOUBLE(ht_json_get(ht_log_at(log, i), "time", NULL));
    printf("  gap %zu: %.3f s\n", i, b - a);
    ASSERT(b - a >= 0.9);
  }
  yajl_tree_free(log);
  ht_op_free(&op);
  ht_end(&t);
}

static void test_502_504_retried(void) {
  ht_t t;
  ht_op_t a, b;
  ht_begin(&t);
  nox_client_t *c502 = retry_client(&t, "s502x1", 0);
  nox_client_t *c504 = retry_client(&t, "s504x1", 0);
  ht_op_init(&a, &t);
  ht_op_init(&b, &t);
  ASSERT_EQ(ht_create(&a, c502, "g", NULL), 0);
  ASSERT_EQ(ht_touch(&b, c504, "g"), 0);
  ht_wait(&t);
  HT_EXPECT(&a, 0);
  ASSERT_EQ(a.attempts, 2);
  HT_EXPECT(&b, 0);
  ASSERT_EQ(b.attempts, 2);
  ht_op_free(&a);
  ht_close(&t, c504);
  ht_end(&t);
}

static void test_retries_exhausted(void) {
  ht_t t;
  ht_op_t op;
  ht_begin(&t);
  ht_op_init(&op, &t);
  ASSERT_EQ(ht_create(&op, retry_client(&t, "s503x9", 2), "ex", NULL), 0);
  ht_wait(&t);
  HT_EXPECT(&op, NOX_EUNAVAIL);
  ASSERT_EQ(op.attempts, 3);
  ASSERT_EQ(op.err.http_status, 503);
  ASSERT_STR_EQ(op.err.message, "injected 503");
  yajl_val log = ht_log();
  ASSERT_EQ(ht_log_count(log, "PUT", "/v1/sandboxes/ex"), 3);
  yajl_tree_free(log);
  ht_end(&t);
}

/* Not retried: statuses that are not transient, and NOX_RETRIES_NONE. */
static void test_not_transient(void) {
  ht_t t;
  ht_op_t a, b;
  ht_begin(&t);
  nox_client_t *c500 = retry_client(&t, "s500x1", 0);
  nox_client_t *none = retry_client(&t, "s503x1", NOX_RETRIES_NONE);
  ht_op_init(&a, &t);
  ht_op_init(&b, &t);
  ASSERT_EQ(ht_create(&a, c500, "nt", NULL), 0);
  ASSERT_EQ(ht_create(&b, none, "nt", NULL), 0);
  ht_wait(&t);
  HT_EXPECT(&a, NOX_EHTTP);
  ASSERT_EQ(a.attempts, 1);
  HT_EXPECT(&b, NOX_EUNAVAIL);
  ASSERT_EQ(b.attempts, 1);
  ASSERT_EQ(nox_test_faultd_stat(&ht_server, "requests"), 2);
  ht_close(&t, none);
  ht_end(&t);
}

/* exec and upload reached the server: never sent twice. */
static void test_exec_upload_not_retried(void) {
  ht_t t;
  ht_op_t ex503, ex502, exreset, up502;
  nox_file_t file = {"f", "x", 1, 0};
  nox_upload_options_t up = NOX_UPLOAD_OPTIONS_INIT;
  up.files = &file;
  up.nfiles = 1;
  ht_begin(&t);
  nox_client_t *c503 = retry_client(&t, "s503x1", 0);
  nox_client_t *c502 = retry_client(&t, "s502x1", 0);
  nox_client_t *creset = retry_client(&t, "resetnow", 0);
  ht_op_init(&ex503, &t);
  ht_op_init(&ex502, &t);
  ht_op_init(&exreset, &t);
  ht_op_init(&up502, &t);
  ASSERT_EQ(ht_exec(&ex503, c503, "e1", echo_argv, NULL), 0);
  ASSERT_EQ(ht_exec(&ex502, c502, "e2", echo_argv, NULL), 0);
  ASSERT_EQ(ht_exec(&exreset, creset, "e3", echo_argv, NULL), 0);
  ASSERT_EQ(ht_upload(&up502, c502, "u", &up), 0);
  ht_wait(&t);
  HT_EXPECT(&ex503, NOX_EUNAVAIL);
  HT_EXPECT(&ex502, NOX_EHTTP);
  ASSERT_EQ(ex502.err.http_status, 502);
  HT_EXPECT(&exreset, NOX_ETRANSPORT);
  HT_EXPECT(&up502, NOX_EHTTP);
  ASSERT_EQ(up502.err.http_status, 502);
  ASSERT_EQ(ex503.attempts, 1);
  ASSERT_EQ(ex502.attempts, 1);
  ASSERT_EQ(exreset.attempts, 1);
  ASSERT_EQ(up502.attempts, 1);

  yajl_val log = ht_log();
  ASSERT_EQ(ht_log_len(log), 4);
  ASSERT_EQ(ht_log_count(log, "POST", "/v1/sandboxes/e1/exec"), 1);
  ASSERT_EQ(ht_log_count(log, "POST", "/v1/sandboxes/e2/exec"), 1);
  ASSERT_EQ(ht_log_count(log, "POST", "/v1/sandboxes/e3/exec"), 1);
  ASSERT_EQ(ht_log_count(log, "POST", "/v1/sandboxes/u/files/upload"), 1);
  yajl_tree_free(log);
  ht_close(&t, c502);
  ht_close(&t, creset);
  ht_end(&t);
}

/* A refused connection never reached the server: even exec is retried. */
static void test_refused_retried(void) {
  ht_t t;
  ht_op_t ex, up, hl;
  nox_file_t file = {"f", "x", 1, 0};
  nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
  uo.files = &file;
  uo.nfiles = 1;
  ht_begin(&t);
  nox_client_t *c = refused_client(&t, 2);
  ht_op_init(&ex, &t);
  ht_op_init(&up, &t);
  ht_op_init(&hl, &t);
  ASSERT_EQ(ht_exec(&ex, c, "rf", echo_argv, NULL), 0);
  ASSERT_EQ(ht_upload(&up, c, "rf", &uo), 0);
  ASSERT_EQ(ht_health(&hl, c), 0);
  ht_wait(&t);
  HT_EXPECT(&ex, NOX_ECONNECT);
  HT_EXPECT(&up, NOX_ECONNECT);
  HT_EXPECT(&hl, NOX_ECONNECT);
  ASSERT_EQ(ex.attempts, 3);
  ASSERT_EQ(up.attempts, 3);
  ASSERT_EQ(hl.attempts, 3);
  ht_end(&t);
}

/* A dropped connection is retried for idempotent operations. */
static void test_transport_retried(void) {
  ht_t t;
  ht_op_t cr, del;
  ht_begin(&t);
  nox_client_t *c = retry_client(&t, "resetnow", 2);
  ht_op_init(&cr, &t);
  ht_op_init(&del, &t);
  ASSERT_EQ(ht_create(&cr, c, "tr", NULL), 0);
  ASSERT_EQ(ht_delete(&del, c, "tr"), 0);
  ht_wait(&t);
  HT_EXPECT(&cr, NOX_ETRANSPORT);
  HT_EXPECT(&del, NOX_ETRANSPORT);
  ASSERT_EQ(cr.attempts, 3);
  ASSERT_EQ(del.attempts, 3);
  yajl_val log = ht_log();
  ASSERT_EQ(ht_log_count(log, "PUT", "/v1/sandboxes/tr"), 3);
  ASSERT_EQ(ht_log_count(log, "DELETE", "/v1/sandboxes/tr"), 3);
  yajl_tree_free(log);
  ht_end(&t);
}

/* Bytes already given to on_data are never given twice. */
static void test_download_not_retried_after_data(void) {
  ht_t t;
  ht_op_t op;
  ht_begin(&t);
  ht_op_init(&op, &t);
  ASSERT_EQ(ht_download(&op, retry_client(&t, "reset", 2), "dr", NULL), 0);
  ht_wait(&t);
  HT_EXPECT(&op, NOX_ETRANSPORT);
  ASSERT_EQ(op.attempts, 1);
  ASSERT_GT(op.data_len, 0);
  ASSERT_LT(op.data_len, 4096);
  for (size_t i = 0; i < op.data_len; i++)
    ASSERT_EQ((unsigned char)op.data[i], i % 251);
  ASSERT_EQ(nox_test_faultd_stat(&ht_server, "requests"), 1);
  ht_op_free(&op);
  ht_end(&t);
}

/*
 * Cancel and close while a retry waits out its backoff. The server asks for
 * a 60 s wait, so an end within 30 s can only come from the cancel and the
 * close, however slow the machine.
 */
static nox_client_t *patient_client(ht_t *t, const char *spec) {
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.retry_base_ms = 20;
  o.retry_max_ms = 120000;
  return ht_client(t, spec, &o);
}

static void test_cancel_close_in_backoff(void) {
  ht_t t;
  ht_op_t a, b;
  ht_begin(&t);
  nox_client_t *c = patient_client(&t, "s503x*,ra60");
  nox_client_t *c2 = patient_client(&t, "s503x*,ra60,tag2");
  ht_op_init(&a, &t);
  ht_op_init(&b, &t);
  ASSERT_EQ(ht_health(&a, c), 0);
  ASSERT_EQ(ht_create(&b, c2, "bk", NULL), 0);
  ht_wait_server_requests(&t, 2);
  ht_run_for(&t, 50);
  ASSERT_EQ(a.calls, 0);
  ASSERT_EQ(b.calls, 0);
  unsigned long long t0 = nox_test_now_ms();
  ASSERT_EQ(nox_req_cancel(a.req), 0);
  ASSERT_EQ(ht_close_async(&t, c2), 0);
  ht_wait(&t);
  ht_wait_closes(&t, 1);
  HT_EXPECT(&a, NOX_ECANCELED);
  HT_EXPECT(&b, NOX_ECLOSING);
  ASSERT_LT(nox_test_now_ms() - t0, 30000);
  ASSERT_EQ(nox_test_faultd_stat(&ht_server, "requests"), 2);
  ht_end(&t);
}

static void test_wait_ready_third_probe(void) {
  ht_t t;
  ht_op_t op;
  nox_wait_options_t wo = NOX_WAIT_OPTIONS_INIT;
  wo.interval_ms = 50;
  wo.timeout_ms = 10000;
  ht_begin(&t);
  ht_op_init(&op, &t);
  ASSERT_EQ(ht_wait_ready(&op, retry_client(&t, "s503x2", 0), "w", &wo), 0);
  ht_wait(&t);
  HT_EXPECT(&op, 0);
  yajl_val log = ht_log();
  ASSERT_EQ(ht_log_len(log), 3);
  ASSERT_EQ(ht_log_count(log, "POST", "/v1/sandboxes/w/exec"), 3);
  for (size_t i = 0; i < 3; i++) {
    yajl_val body = ht_log_json(ht_log_at(log, i));
    yajl_val cmd = ht_json_get(body, "cmd", NULL);
    ASSERT(cmd != NULL && YAJL_IS_ARRAY(cmd));
    ASSERT_EQ(YAJL_GET_ARRAY(cmd)->len, 2);
    ASSERT_STR_EQ(YAJL_GET_STRING(YAJL_GET_ARRAY(cmd)->values[0]), "echo");
    ASSERT_STR_EQ(YAJL_GET_STRING(YAJL_GET_ARRAY(cmd)->values[1]), "ready");
    yajl_tree_free(body);
  }
  for (size_t i = 1; i < 3; i++) {
    double a =
        YAJL_GET_DOUBLE(ht_json_get(ht_log_at(log, i - 1), "time", NULL));
    double b = YAJL_GET_DOUBLE(ht_json_get(ht_log_at(log, i), "time", NULL));
    ASSERT(b - a >= 0.045);
  }
  yajl_tree_free(log);
  ht_end(&t);
}

static void test_wait_ready_deadline(void) {
  ht_t t;
  ht_op_t busy, hang;
  nox_wait_options_t wo = NOX_WAIT_OPTIONS_INIT;
  wo.interval_ms = 50;
  wo.timeout_ms = 700;
  ht_begin(&t);
  ht_op_init(&busy, &t);
  ht_op_init(&hang, &t);
  nox_client_t *cbusy = retry_client(&t, "s503x*", 0);
  nox_client_options_t ho = NOX_CLIENT_OPTIONS_INIT;
  ho.max_retries = 0;
  ho.request_timeout_ms = 60000;
  nox_client_t *chang = ht_client(&t, "hang", &ho);
  ASSERT_EQ(ht_wait_ready(&busy, cbusy, "w", &wo), 0);
  /* A probe that never answers must not outlive the wait's deadline. */
  ASSERT_EQ(ht_wait_ready(&hang, chang, "w", &wo), 0);
  ht_wait(&t);
  unsigned long long ms_busy = busy.t_done - busy.t_start;
  unsigned long long ms_hang = hang.t_done - hang.t_start;
  printf("  deadline 700 ms: busy backend %llu ms, silent backend %llu ms\n",
         ms_busy, ms_hang);
  /*
   * A timer never fires early, so the lower bounds hold on any machine; the
   * upper ones only tell the deadline from the silent probe's own request
   * timeout (60 s), so they leave room for a loaded machine.
   */
  HT_EXPECT(&busy, NOX_ETIMEDOUT);
  ASSERT_GE(ms_busy, 650);
  ASSERT_LT(ms_busy, 30000);
  ASSERT_GE(nox_test_faultd_stat(&ht_server, "requests"), 2);
  HT_EXPECT(&hang, NOX_ETIMEDOUT);
  ASSERT_GE(ms_hang, 650);
  ASSERT_LT(ms_hang, 30000);
  ht_close(&t, chang);
  ht_end(&t);
}

/* Errors that are not "not ready yet" end the wait at once. */
static void test_wait_ready_fatal(void) {
  ht_t t;
  ht_op_t auth, gone;
  nox_wait_options_t wo = NOX_WAIT_OPTIONS_INIT;
  wo.interval_ms = 50;
  wo.timeout_ms = 60000;
  ht_begin(&t);
  nox_client_t *c401 = retry_client(&t, "s401x*", 0);
  nox_client_t *c404 = retry_client(&t, "s404x*", 0);
  ht_op_init(&auth, &t);
  ht_op_init(&gone, &t);
  ASSERT_EQ(ht_wait_ready(&auth, c401, "w", &wo), 0);
  ASSERT_EQ(ht_wait_ready(&gone, c404, "w", &wo), 0);
  ht_wait(&t);
  HT_EXPECT(&auth, NOX_EAUTH);
  HT_EXPECT(&gone, NOX_ENOTFOUND);
  /* At once: well before the 60 s the wait would otherwise poll for. */
  ASSERT_LT(auth.t_done - auth.t_start, 30000);
  ASSERT_LT(gone.t_done - gone.t_start, 30000);
  ASSERT_EQ(nox_test_faultd_stat(&ht_server, "requests"), 2);
  ht_close(&t, c404);
  ht_end(&t);
}

static void test_wait_ready_cancel_close(void) {
  ht_t t;
  ht_op_t a, b;
  nox_wait_options_t wo = NOX_WAIT_OPTIONS_INIT;
  wo.interval_ms = 100;
  wo.timeout_ms = 120000;
  ht_begin(&t);
  nox_client_t *c = retry_client(&t, "s503x*", 0);
  nox_client_t *c2 = retry_client(&t, "s503x*,tag2", 0);
  ht_op_init(&a, &t);
  ht_op_init(&b, &t);
  ASSERT_EQ(ht_wait_ready(&a, c, "wc", &wo), 0);
  ASSERT_EQ(ht_wait_ready(&b, c2, "wc", &wo), 0);
  ht_run_for(&t, 350);
  ASSERT_EQ(a.calls, 0);
  ASSERT_EQ(b.calls, 0);
  unsigned long long t0 = nox_test_now_ms();
  ASSERT_EQ(nox_req_cancel(a.req), 0);
  ASSERT_EQ(ht_close_async(&t, c2), 0);
  ht_wait(&t);
  ht_wait_closes(&t, 1);
  HT_EXPECT(&a, NOX_ECANCELED);
  HT_EXPECT(&b, NOX_ECLOSING);
  ASSERT_LT(nox_test_now_ms() - t0, 30000); /* not the 120 s deadline */
  /* No probe runs after the cancel. */
  long seen = nox_test_faultd_stat(&ht_server, "requests");
  ht_run_for(&t, 300);
  ASSERT_EQ(nox_test_faultd_stat(&ht_server, "requests"), seen);
  ht_end(&t);
}

int main(int argc, char **argv) {
  static const ht_case_t cases[] = {
      {"idempotent_after_503s", test_idempotent_after_503s},
      {"retry_after", test_retry_after},
      {"502_504_retried", test_502_504_retried},
      {"retries_exhausted", test_retries_exhausted},
      {"not_transient", test_not_transient},
      {"exec_upload_not_retried", test_exec_upload_not_retried},
      {"refused_retried", test_refused_retried},
      {"transport_retried", test_transport_retried},
      {"download_not_retried_after_data", test_download_not_retried_after_data},
      {"cancel_close_in_backoff", test_cancel_close_in_backoff},
      {"wait_ready_third_probe", test_wait_ready_third_probe},
      {"wait_ready_deadline", test_wait_ready_deadline},
      {"wait_ready_fatal", test_wait_ready_fatal},
      {"wait_ready_cancel_close", test_wait_ready_cancel_close},
  };
  return HT_RUN(cases);
}
