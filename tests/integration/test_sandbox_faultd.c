/*
 * Against faultd:
 *  - admission limits as the server sees them: faultd counts the creates,
 *    execs and transfers it is answering at once. With delay tokens every
 *    request stays in flight long enough to overlap, so the unlimited client
 *    shows a burst and the limited one never exceeds its limits;
 *  - readiness: execs answered 503 are retried until one succeeds;
 *  - loss seen by an exec's 404, and a lost sandbox released without a
 *    delete;
 *  - deletes that keep failing reported by id, kept in the journal, and
 *    reaped later.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <noxrunner/sandbox.h>

#include "harness.h"
#include "test.h"

#define BURST 12

static nox_test_server_t srv;
static nox_client_t *client;
static int outstanding;
static nox_client_stats_t peak;

static void sample(void) {
  nox_client_stats_t s;
  ASSERT_EQ(nox_client_stats(client, &s), 0);
#define KEEP_MAX(f)                                                            \
  if (s.f > peak.f)                                                            \
    peak.f = s.f;
  KEEP_MAX(creating)
  KEEP_MAX(execs)
  KEEP_MAX(transfers)
  KEEP_MAX(creating_queued)
  KEEP_MAX(execs_queued)
  KEEP_MAX(transfers_queued)
#undef KEEP_MAX
}

static void on_done(nox_req_t *req, int status) {
  ASSERT_EQ(status, 0);
  (void)req;
  sample();
  outstanding--;
}

static void on_create(nox_req_t *req, int status,
                      const nox_sandbox_info_t *info) {
  (void)info;
  on_done(req, status);
}

static void on_exec(nox_req_t *req, int status, const nox_exec_result_t *r) {
  (void)r;
  on_done(req, status);
}

static int on_data(nox_req_t *req, const char *buf, size_t len) {
  (void)req;
  (void)buf;
  (void)len;
  return 0;
}

static void on_closed(void *data);

static int ready_calls, ready_status, lost_calls, lost_status;

static void on_ready(nox_sandbox_t *sb, int status) {
  (void)sb;
  ready_calls++;
  ready_status = status;
}

static void on_lost(nox_sandbox_t *sb, int status) {
  (void)sb;
  lost_calls++;
  lost_status = status;
}

static int exec_calls, exec_status;

static void on_user_exec(nox_req_t *req, int status,
                         const nox_exec_result_t *r) {
  (void)req;
  (void)r;
  ASSERT_EQ(lost_calls, 1); /* on_lost ran first */
  exec_calls++;
  exec_status = status;
}

static void on_released(nox_sandbox_t *sb, int status, void *data) {
  (void)sb;
  *(int *)data = status == 0 ? 1 : -1;
}

/* How many requests of faultd's log have this method and path. */
static int count_log(const char *method, const char *path) {
  yajl_val log = nox_test_faultd_log(&srv);
  int n = 0;
  ASSERT(log != NULL && YAJL_IS_ARRAY(log));
  for (size_t i = 0; i < log->u.array.len; i++) {
    yajl_val e = log->u.array.values[i];
    const char *m = nox_test_json_str(e, "method", NULL);
    const char *p = nox_test_json_str(e, "path", NULL);
    n += m && p && strcmp(m, method) == 0 && strcmp(p, path) == 0;
  }
  yajl_tree_free(log);
  return n;
}

static int close_reports;

static void on_close_report(nox_client_t *c, const nox_release_report_t *r,
                            void *data) {
  (void)c;
  (void)data;
  ASSERT_EQ(r->released, 1);
  ASSERT_EQ(r->failed, 0);
  close_reports++;
}

static void readiness_and_loss(void) {
  uv_loop_t loop;
  char url[512];
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  nox_sandbox_t *sb;
  int closed = 0, released = 0;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ASSERT_EQ(nox_test_faultd_reset(&srv), 0);

  /* Two 503s, then ready; the deletes at close also get two 503s. */
  snprintf(url, sizeof(url), "%s/f/s503x2", srv.url);
  o.base_url = url;
  ASSERT_EQ(nox_client_new(&client, &loop, &o), 0);
  nox_registry_options_t ro = NOX_REGISTRY_OPTIONS_INIT;
  ro.on_close = on_close_report;
  ASSERT_EQ(nox_registry_configure(client, &ro), 0);
  nox_sandbox_options_t so = NOX_SANDBOX_OPTIONS_INIT;
  so.wait_ready = 1;
  so.ready_backoff_ms = 20;
  ASSERT_EQ(nox_sandbox_new(&sb, client, "slow", &so, on_ready, NULL), 0);
  while (ready_calls == 0)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(ready_status, 0);
  ASSERT(nox_sandbox_ready(sb));
  ASSERT_EQ(count_log("POST", "/v1/sandboxes/slow/exec"), 3);
  ASSERT_EQ(nox_client_close(client, on_closed, &closed), 0);
  while (!closed)
    uv_run(&loop, UV_RUN_ONCE);
  /* The close deleted it, through the 503s (the registry retries). */
  ASSERT_EQ(close_reports, 1);
  ASSERT_EQ(count_log("DELETE", "/v1/sandboxes/slow"), 3);

  /* Lost: the exec answers 404. */
  ASSERT_EQ(nox_test_faultd_reset(&srv), 0);
  snprintf(url, sizeof(url), "%s/f/lost", srv.url);
  ASSERT_EQ(nox_client_new(&client, &loop, &o), 0);
  so = (nox_sandbox_options_t)NOX_SANDBOX_OPTIONS_INIT;
  so.on_lost = on_lost;
  ready_calls = 0;
  ASSERT_EQ(nox_sandbox_new(&sb, client, "gone", &so, on_ready, NULL), 0);
  while (ready_calls == 0)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(ready_status, 0);
  static const char *const argv[] = {"true", NULL};
  ASSERT_EQ(nox_sandbox_exec(NULL, sb, argv, NULL, on_user_exec, NULL), 0);
  while (exec_calls == 0)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(exec_status, NOX_ENOTFOUND);
  ASSERT_EQ(lost_status, NOX_ENOTFOUND);
  ASSERT(nox_sandbox_lost(sb));
  ASSERT_EQ(nox_sandbox_release(sb, on_released, &released), 0);
  ASSERT_EQ(nox_sandbox_release(sb, on_released, &released), NOX_EALREADY);
  while (released == 0)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(released, 1);
  ASSERT_EQ(count_log("DELETE", "/v1/sandboxes/gone"), 0);
  ASSERT_EQ(lost_calls, 1);
  closed = 0;
  ASSERT_EQ(nox_client_close(client, on_closed, &closed), 0);
  while (!closed)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_LOOP_CLOSES(&loop);
}

static void on_closed(void *data) {
  *(int *)data = 1;
}

static int fail_reports;
static nox_release_report_t fail_rep;
static char fail_id[64];
static int fail_status;

static void on_fail_report(nox_client_t *c, const nox_release_report_t *r,
                           void *data) {
  (void)c;
  (void)data;
  fail_rep = *r;
  if (r->failed > 0) {
    snprintf(fail_id, sizeof(fail_id), "%s", r->failed_ids[0]);
    fail_status = r->failed_status[0];
  }
  fail_reports++;
}

/*
 * Deletes that keep failing are reported with their ids and stay in the
 * journal, which a later reap on a healthy backend clears.
 */
static void undeletable(void) {
  uv_loop_t loop;
  char url[512], journal[64];
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  nox_sandbox_t *sb;
  int closed = 0;
  snprintf(journal, sizeof(journal), "/tmp/nox-journal-%ld", (long)getpid());
  unlink(journal);
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ASSERT_EQ(nox_test_faultd_reset(&srv), 0);
  snprintf(url, sizeof(url), "%s/f/s500x*", srv.url);
  o.base_url = url;
  ASSERT_EQ(nox_client_new(&client, &loop, &o), 0);
  nox_registry_options_t ro = NOX_REGISTRY_OPTIONS_INIT;
  ro.journal_path = journal;
  ro.delete_attempts = 2;
  ro.delete_backoff_ms = 10;
  ASSERT_EQ(nox_registry_configure(client, &ro), 0);
  ready_calls = 0;
  ASSERT_EQ(nox_sandbox_new(&sb, client, "stuck", NULL, on_ready, NULL), 0);
  while (ready_calls == 0)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(ready_status, NOX_EHTTP); /* the create may still have happened */
  ASSERT_EQ(nox_sandbox_release_all(client, on_fail_report, NULL), 0);
  while (fail_reports == 0)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(fail_rep.released, 0);
  ASSERT_EQ(fail_rep.failed, 1);
  ASSERT_STR_EQ(fail_id, "stuck");
  ASSERT_EQ(fail_status, NOX_EHTTP);
  ASSERT_EQ(count_log("DELETE", "/v1/sandboxes/stuck"), 2);
  ASSERT_EQ(nox_client_close(client, on_closed, &closed), 0);
  while (!closed)
    uv_run(&loop, UV_RUN_ONCE);

  /* A healthy backend: the reap deletes it and removes the journal. */
  o.base_url = srv.url;
  ASSERT_EQ(nox_client_new(&client, &loop, &o), 0);
  fail_reports = 0;
  ASSERT_EQ(nox_journal_reap(client, journal, on_fail_report, NULL), 0);
  while (fail_reports == 0)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(fail_rep.released, 1);
  ASSERT_EQ(fail_rep.failed, 0);
  ASSERT_EQ(access(journal, F_OK), -1);
  closed = 0;
  ASSERT_EQ(nox_client_close(client, on_closed, &closed), 0);
  while (!closed)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_LOOP_CLOSES(&loop);
}

/* One burst of every class at once through a client with these limits. */
static void burst(uint32_t max_creating, uint32_t max_execs,
                  uint32_t max_transfers, const char *tag) {
  uv_loop_t loop;
  char url[512];
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ASSERT_EQ(nox_test_faultd_reset(&srv), 0);
  snprintf(url, sizeof(url), "%s/f/delay150,tag%s", srv.url, tag);
  o.base_url = url;
  o.max_creating = max_creating;
  o.max_execs = max_execs;
  o.max_transfers_inflight = max_transfers;
  ASSERT_EQ(nox_client_new(&client, &loop, &o), 0);
  memset(&peak, 0, sizeof(peak));

  static const char *const argv[] = {"echo", "hi", NULL};
  static const char payload[] = "x";
  nox_file_t file = {"a.txt", payload, 1, 0};
  nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
  uo.files = &file;
  uo.nfiles = 1;
  for (int i = 0; i < BURST; i++) {
    char id[32];
    snprintf(id, sizeof(id), "sb%d", i);
    ASSERT_EQ(nox_create(NULL, client, id, NULL, on_create, NULL), 0);
    ASSERT_EQ(nox_exec(NULL, client, id, argv, NULL, on_exec, NULL), 0);
    ASSERT_EQ(nox_upload(NULL, client, id, &uo, on_done, NULL), 0);
    ASSERT_EQ(nox_download(NULL, client, id, NULL, on_data, on_done, NULL), 0);
    outstanding += 4;
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  sample();
  while (outstanding > 0)
    uv_run(&loop, UV_RUN_ONCE);
  int closed = 0;
  ASSERT_EQ(nox_client_close(client, on_closed, &closed), 0);
  while (!closed)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_LOOP_CLOSES(&loop);
}

int main(void) {
  ASSERT_EQ(nox_library_init(), 0);
  ASSERT_EQ(nox_test_faultd_start(&srv), 0);

  /* Unlimited: the server sees the burst (so the counter works). */
  burst(0, 0, 0, "free");
  long creates = nox_test_faultd_stat(&srv, "max_concurrent_create");
  long execs = nox_test_faultd_stat(&srv, "max_concurrent_exec");
  long transfers = nox_test_faultd_stat(&srv, "max_concurrent_transfer");
  fprintf(stderr, "unlimited: creates %ld execs %ld transfers %ld\n", creates,
          execs, transfers);
  ASSERT_GT(creates, 3);
  ASSERT_GT(execs, 2);
  ASSERT_GT(transfers, 2);
  ASSERT_EQ(peak.creating_queued + peak.execs_queued + peak.transfers_queued,
            0);

  /* Limited: never more than the limits, on either side. */
  burst(3, 2, 2, "lim");
  creates = nox_test_faultd_stat(&srv, "max_concurrent_create");
  execs = nox_test_faultd_stat(&srv, "max_concurrent_exec");
  transfers = nox_test_faultd_stat(&srv, "max_concurrent_transfer");
  fprintf(stderr, "limited: creates %ld execs %ld transfers %ld\n", creates,
          execs, transfers);
  ASSERT_GE(creates, 1);
  ASSERT_LE(creates, 3);
  ASSERT_GE(execs, 1);
  ASSERT_LE(execs, 2);
  ASSERT_GE(transfers, 1);
  ASSERT_LE(transfers, 2);
  ASSERT_EQ(peak.creating, 3);
  ASSERT_EQ(peak.execs, 2);
  ASSERT_EQ(peak.transfers, 2);
  ASSERT_EQ(peak.creating_queued, BURST - 3);
  ASSERT_EQ(peak.execs_queued, BURST - 2);
  ASSERT_EQ(peak.transfers_queued, 2 * BURST - 2);

  readiness_and_loss();
  undeletable();

  ASSERT_EQ(nox_test_server_stop(&srv), 0);
  nox_library_cleanup();
  return 0;
}
