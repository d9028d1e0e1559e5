/*
 * Cancel and close while the local backend is busy: a running command is
 * killed (and reaped: no process, no handle left), disk work in flight
 * finishes on its worker with its result dropped, a download's data
 * callback may stop, cancel or close, and the loop always closes clean.
 */
#include "local_util.h"

#define BIG_FILES 4
#define BIG_SIZE (4 * 1024 * 1024)

static void on_canceled_exec(nox_req_t *req, int status,
                             const nox_exec_result_t *res) {
  lt_res_t *r = nox_req_data(req);
  lt_note(r, req, status);
  ASSERT(res == NULL);
}

static int on_data_stop(nox_req_t *req, const char *buf, size_t len) {
  lt_res_t *r = nox_req_data(req);
  (void)buf;
  r->data_len += len;
  return 1;
}

static int on_data_cancel(nox_req_t *req, const char *buf, size_t len) {
  lt_res_t *r = nox_req_data(req);
  (void)buf;
  ASSERT_EQ(r->data_len, 0); /* never called again once canceled */
  r->data_len += len;
  ASSERT_EQ(nox_req_cancel(req), 0);
  return 0;
}

static int on_data_close(nox_req_t *req, const char *buf, size_t len) {
  lt_res_t *r = nox_req_data(req);
  (void)buf;
  ASSERT_EQ(r->data_len, 0);
  r->data_len += len;
  ASSERT_EQ(nox_client_close(nox_req_client(req), lt_on_closed, &r->exit_code),
            0);
  return 0;
}

/* A sandbox whose workspace is large enough for work to take a while. */
static void fill(nox_client_t *c, const char *id) {
  lt_res_t r;
  char script[256];
  snprintf(script, sizeof(script),
           "for i in $(seq %d); do head -c %d /dev/urandom > f$i; done",
           BIG_FILES, BIG_SIZE);
  lt_sh(c, id, script, &r);
  ASSERT_EQ(r.exit_code, 0);
  lt_res_free(&r);
}

int main(void) {
  uv_loop_t loop;
  char *root = lt_mkroot();
  nox_client_t *c;
  nox_req_t *req;
  lt_res_t r, d;
  const char *sleeper[] = {"sleep", "86389", NULL};
  nox_exec_options_t eo = NOX_EXEC_OPTIONS_INIT;
  nox_download_options_t dopts = NOX_DOWNLOAD_OPTIONS_INIT;
  int closed = 0;

  ASSERT_EQ(uv_loop_init(&loop), 0);
  c = lt_client(&loop, root, NOX_ISOLATION_AUTO);
  eo.timeout_seconds = 120;

  /* Cancel a running command: it completes canceled, the process dies. */
  ASSERT_EQ(lt_create(c, "x", 0, &r), 0);
  memset(&r, 0, sizeof(r));
  ASSERT_EQ(nox_exec(&req, c, "x", sleeper, &eo, on_canceled_exec, &r), 0);
  lt_sleep(&loop, 300);
  ASSERT(!r.done);
  uint64_t t0 = uv_hrtime();
  ASSERT_EQ(nox_req_cancel(req), 0);
  lt_wait(&loop, &r);
  ASSERT_EQ(r.status, NOX_ECANCELED);
  /* Not the 120 s timeout (a bound for a loaded machine, not a speed). */
  ASSERT_LT((uv_hrtime() - t0) / 1000000, 60000);

  /* Cancel right after starting: the job is queued or running. */
  fill(c, "x");
  memset(&d, 0, sizeof(d));
  ASSERT_EQ(nox_download(&req, c, "x", NULL, lt_on_data, lt_on_done, &d), 0);
  uv_run(&loop, UV_RUN_NOWAIT); /* handed to the backend */
  ASSERT_EQ(nox_req_cancel(req), 0);
  lt_wait(&loop, &d);
  ASSERT_EQ(d.status, NOX_ECANCELED);
  ASSERT_EQ(d.data_len, 0);
  lt_res_free(&d);

  /* The data callback can stop, cancel or close. */
  memset(&d, 0, sizeof(d));
  ASSERT_EQ(nox_download(NULL, c, "x", &dopts, on_data_stop, lt_on_done, &d),
            0);
  lt_wait(&loop, &d);
  ASSERT_EQ(d.status, NOX_EUSER);
  ASSERT_GT(d.data_len, 0);

  memset(&d, 0, sizeof(d));
  ASSERT_EQ(nox_download(NULL, c, "x", &dopts, on_data_cancel, lt_on_done, &d),
            0);
  lt_wait(&loop, &d);
  ASSERT_EQ(d.status, NOX_ECANCELED);

  /* Uploads still working when canceled leave the backend usable. */
  lt_res_t big;
  ASSERT_EQ(lt_download(c, "x", NULL, &big), 0);
  ASSERT_EQ(lt_create(c, "y", 0, &r), 0);
  nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
  uo.archive = big.data;
  uo.archive_len = big.data_len;
  memset(&r, 0, sizeof(r));
  ASSERT_EQ(nox_upload(&req, c, "y", &uo, lt_on_done, &r), 0);
  lt_res_free(&big); /* the library copied it */
  uv_run(&loop, UV_RUN_NOWAIT);
  ASSERT_EQ(nox_req_cancel(req), 0);
  lt_wait(&loop, &r);
  ASSERT_EQ(r.status, NOX_ECANCELED);
  lt_sh(c, "x", "echo still fine", &r);
  ASSERT_STR_EQ(r.out, "still fine\n");
  lt_res_free(&r);

  /* Closing from inside a data callback. */
  memset(&d, 0, sizeof(d));
  ASSERT_EQ(nox_download(NULL, c, "x", &dopts, on_data_close, lt_on_done, &d),
            0);
  lt_wait(&loop, &d);
  ASSERT_EQ(d.status, NOX_ECLOSING);
  while (!d.exit_code) /* its close callback stores 1 there */
    uv_run(&loop, UV_RUN_ONCE);

  /* Close with a command running and disk work in flight. */
  c = lt_client(&loop, root, NOX_ISOLATION_AUTO);
  memset(&r, 0, sizeof(r));
  ASSERT_EQ(nox_exec(NULL, c, "x", sleeper, &eo, on_canceled_exec, &r), 0);
  lt_sleep(&loop, 300);
  memset(&d, 0, sizeof(d));
  ASSERT_EQ(nox_download(NULL, c, "x", NULL, lt_on_data, lt_on_done, &d), 0);
  lt_res_t del;
  memset(&del, 0, sizeof(del));
  ASSERT_EQ(nox_delete(NULL, c, "y", lt_on_done, &del), 0);
  uv_run(&loop, UV_RUN_NOWAIT);
  t0 = uv_hrtime();
  ASSERT_EQ(nox_client_close(c, lt_on_closed, &closed), 0);
  while (!closed)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(r.status, NOX_ECLOSING);
  ASSERT_EQ(d.status, NOX_ECLOSING);
  ASSERT_EQ(del.status, NOX_ECLOSING);
  ASSERT_EQ(d.data_len, 0);
  /* Close does not wait for the day-long command (generous under load). */
  ASSERT_LT((uv_hrtime() - t0) / 1000000, 60000);

  /* Nothing of sleep 86389 is left anywhere. */
  ASSERT(lt_gone(&loop, "sleep 86389"));

  lt_rmroot(root);
  ASSERT_LOOP_CLOSES(&loop);
  return 0;
}
