/*
 * Chaos: a backend killed and restarted in the middle of a run of 1,000
 * operations, 429/503 with Retry-After, a host name that cannot resolve, and
 * the event loop's longest turn under load (printed, not asserted: timing is
 * for benchmarks). Every operation must end, exactly once, in success or a
 * clear error; idempotent ones must recover through retries.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <noxrunner.h>
#include <uv.h>

#include "harness.h"
#include "noxd_util.h"
#include "test.h"

#define N_OPS 1000
#define CONCURRENCY 32
#define N_SANDBOXES 20

/* ---- restart in the middle of a run ------------------------------------ */

typedef struct run {
  uv_loop_t loop;
  nox_client_t *client;
  noxd_test_t noxd;
  char listen[64];
  int started, done;
  int ok_by_op[4], err_by_op[4];
  int codes[64]; /* count per -code */
  bool killed, restarted;
  uv_timer_t restart_timer;
} run_t;

static const char *const op_names[4] = {"touch", "create", "exec", "health"};

static void start_next(run_t *r);

static void count(run_t *r, int op, int status) {
  r->done++;
  if (status == 0) {
    r->ok_by_op[op]++;
  } else {
    r->err_by_op[op]++;
    ASSERT(-status < 64);
    r->codes[-status]++;
  }
  start_next(r);
}

static void on_touch(nox_req_t *req, int status) {
  count(nox_req_data(req), 0, status);
}

static void on_health(nox_req_t *req, int status) {
  count(nox_req_data(req), 3, status);
}

static void on_create(nox_req_t *req, int status,
                      const nox_sandbox_info_t *info) {
  (void)info;
  count(nox_req_data(req), 1, status);
}

static void on_exec(nox_req_t *req, int status, const nox_exec_result_t *res) {
  if (status == 0)
    ASSERT_EQ(res->exit_code, 0);
  count(nox_req_data(req), 2, status);
}

static void restart(uv_timer_t *t) {
  run_t *r = t->data;
  const char *argv[] = {NOX_BINARY_DIR "/bin/noxd", "--listen", r->listen,
                        "--root", r->noxd.root, "--isolation", "none", NULL};
  ASSERT_EQ(nox_test_server_start(&r->noxd.srv, argv), 0);
  r->restarted = true;
  uv_close((uv_handle_t *)t, NULL);
}

static void start_next(run_t *r) {
  if (r->done == N_OPS / 3 && !r->killed) {
    /* Kill the backend with work in flight; bring it back a bit later. */
    r->killed = true;
    nox_test_server_stop(&r->noxd.srv);
    uv_timer_init(&r->loop, &r->restart_timer);
    r->restart_timer.data = r;
    uv_timer_start(&r->restart_timer, restart, 300, 0);
  }
  if (r->started >= N_OPS)
    return;
  int i = r->started++;
  char id[32];
  snprintf(id, sizeof(id), "chaos-%d", i % N_SANDBOXES);
  static const char *const argv[] = {"true", NULL};
  int err;
  switch (i % 4) {
  case 0:
    err = nox_touch(NULL, r->client, id, on_touch, r);
    break;
  case 1:
    err = nox_create(NULL, r->client, id, NULL, on_create, r);
    break;
  case 2:
    err = nox_exec(NULL, r->client, id, argv, NULL, on_exec, r);
    break;
  default:
    err = nox_health(NULL, r->client, on_health, r);
    break;
  }
  ASSERT_EQ(err, 0);
}

static void on_setup_create(nox_req_t *req, int status,
                            const nox_sandbox_info_t *info) {
  (void)info;
  ASSERT_EQ(status, 0);
  (*(int *)nox_req_data(req))++;
}

static void test_restart_mid_run(void) {
  run_t r;
  memset(&r, 0, sizeof(r));
  ASSERT_EQ(noxd_test_start(&r.noxd, "none", NULL), 0);
  snprintf(r.listen, sizeof(r.listen), "127.0.0.1:%d", r.noxd.srv.port);
  ASSERT_EQ(uv_loop_init(&r.loop), 0);
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.base_url = r.noxd.srv.url;
  o.retry_base_ms = 100;
  o.retry_max_ms = 2000;
  o.max_retries = 8; /* enough backoff to span the restart */
  o.max_connections = 16;
  ASSERT_EQ(nox_client_new(&r.client, &r.loop, &o), 0);

  int created = 0;
  for (int i = 0; i < N_SANDBOXES; i++) {
    char id[32];
    snprintf(id, sizeof(id), "chaos-%d", i);
    ASSERT_EQ(nox_create(NULL, r.client, id, NULL, on_setup_create, &created),
              0);
  }
  uv_run(&r.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(created, N_SANDBOXES);

  for (int i = 0; i < CONCURRENCY; i++)
    start_next(&r);
  uv_run(&r.loop, UV_RUN_DEFAULT);

  ASSERT_EQ(r.done, N_OPS);
  ASSERT(r.killed && r.restarted);
  for (int op = 0; op < 4; op++)
    printf("  %-7s ok %4d  failed %4d\n", op_names[op], r.ok_by_op[op],
           r.err_by_op[op]);
  for (int c = 1; c < 64; c++)
    if (r.codes[c])
      printf("  %s: %d\n", nox_err_name(-c), r.codes[c]);
  /* Idempotent operations recover through retries. */
  ASSERT_EQ(r.err_by_op[0], 0);
  ASSERT_EQ(r.err_by_op[1], 0);
  ASSERT_EQ(r.err_by_op[3], 0);
  /*
   * An exec that had reached the server when it died is not retried; it
   * ends in one of the errors that say so. Nothing else is acceptable.
   */
  for (int c = 1; c < 64; c++) {
    if (r.codes[c] == 0)
      continue;
    int code = -c;
    ASSERT(code == NOX_ETRANSPORT || code == NOX_EUNAVAIL ||
           code == NOX_ECONNECT || code == NOX_ETIMEDOUT);
  }
  ASSERT_GT(r.ok_by_op[2], 0);

  ASSERT_EQ(nox_client_close(r.client, NULL, NULL), 0);
  ASSERT_LOOP_CLOSES(&r.loop);
  ASSERT_EQ(noxd_test_stop(&r.noxd), 0);
}

/* ---- 429 and 503 with Retry-After, and a name that cannot resolve ------ */

typedef struct {
  int status;
  unsigned attempts;
  unsigned long long at;
} result_t;

static void on_result(nox_req_t *req, int status) {
  result_t *res = nox_req_data(req);
  res->status = status;
  res->attempts = nox_req_attempts(req);
  res->at = nox_test_now_ms();
}

static void test_retry_after_and_resolve(void) {
  nox_test_server_t fd;
  ASSERT_EQ(nox_test_faultd_start(&fd), 0);
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);

  char url429[512], url503[512];
  snprintf(url429, sizeof(url429), "%s/f/s429x2,ra1,tagchaos429", fd.url);
  snprintf(url503, sizeof(url503), "%s/f/s503x1,ra1,tagchaos503", fd.url);
  /* A label over 63 bytes is refused by the resolver without a query. */
  char bad[160];
  snprintf(bad, sizeof(bad), "http://%0*d.invalid:8080", 70, 0);

  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  nox_client_t *c429, *c503, *cbad;
  o.base_url = url429;
  ASSERT_EQ(nox_client_new(&c429, &loop, &o), 0);
  o.base_url = url503;
  ASSERT_EQ(nox_client_new(&c503, &loop, &o), 0);
  o.base_url = bad;
  ASSERT_EQ(nox_client_new(&cbad, &loop, &o), 0);

  result_t r429 = {0}, r503 = {0}, rbad = {0};
  unsigned long long t0 = nox_test_now_ms();
  ASSERT_EQ(nox_touch(NULL, c429, "sb", on_result, &r429), 0);
  ASSERT_EQ(nox_delete(NULL, c503, "sb", on_result, &r503), 0);
  ASSERT_EQ(nox_health(NULL, cbad, on_result, &rbad), 0);
  uv_run(&loop, UV_RUN_DEFAULT);

  ASSERT_EQ(r429.status, 0);
  ASSERT_EQ(r429.attempts, 3);
  ASSERT_GE(r429.at - t0, 1900); /* two server-imposed 1 s waits */
  ASSERT_EQ(r503.status, 0);
  ASSERT_EQ(r503.attempts, 2);
  ASSERT_GE(r503.at - t0, 950);
  ASSERT_EQ(rbad.status, NOX_ERESOLVE);

  nox_client_close(c429, NULL, NULL);
  nox_client_close(c503, NULL, NULL);
  nox_client_close(cbad, NULL, NULL);
  ASSERT_LOOP_CLOSES(&loop);
  nox_test_server_stop(&fd);
}

/* ---- streaming downloads that go wrong mid-body ------------------------ */

typedef struct {
  int status;
  int calls;
} dl_t;

static void on_dl_done(nox_req_t *req, int status) {
  dl_t *d = nox_req_data(req);
  d->status = status;
  d->calls++;
}

/* Nothing named after the destination is left in its parent directory. */
static int leftovers(const char *parent, const char *name) {
  char cmd[512], out[64] = "";
  snprintf(cmd, sizeof(cmd), "ls -A '%s' | grep -c '%s' || true", parent, name);
  FILE *p = popen(cmd, "r");
  ASSERT(p != NULL);
  if (fgets(out, sizeof(out), p) == NULL)
    out[0] = '0';
  pclose(p);
  return atoi(out);
}

static void test_stream_faults(void) {
  nox_test_server_t fd;
  ASSERT_EQ(nox_test_faultd_start(&fd), 0);
  char parent[] = "/tmp/nox-chaos-XXXXXX";
  ASSERT(mkdtemp(parent) != NULL);
  /*
   * faultd's body is a byte pattern, not a tar: when it breaks off, the
   * unpacker may already have refused it, so either code is the answer.
   */
  static const struct {
    const char *spec;
    int want, or_want;
  } cases[] = {
      {"reset", NOX_ETRANSPORT, NOX_EARCHIVE}, /* reset mid-body */
      {"truncate", NOX_EPROTO, NOX_EARCHIVE},  /* short of Content-Length */
      {"dl4096", NOX_EARCHIVE, NOX_EARCHIVE},  /* not a tar at all */
      {"hang", NOX_ETIMEDOUT, NOX_ETIMEDOUT},  /* nothing after the request */
      {"s500x*", NOX_EHTTP, NOX_EHTTP},        /* an error, not an archive */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    char url[512], dest[128], name[32];
    snprintf(url, sizeof(url), "%s/f/%s", fd.url, cases[i].spec);
    snprintf(name, sizeof(name), "dest%zu", i);
    snprintf(dest, sizeof(dest), "%s/%s", parent, name);
    nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
    o.base_url = url;
    o.max_retries = NOX_RETRIES_NONE;
    o.request_timeout_ms = 1000;
    nox_client_t *c;
    ASSERT_EQ(nox_client_new(&c, &loop, &o), 0);
    nox_download_options_t d = NOX_DOWNLOAD_OPTIONS_INIT;
    d.extract_dir = dest;
    dl_t r = {0, 0};
    ASSERT_EQ(nox_download(NULL, c, "sb", &d, NULL, on_dl_done, &r), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(r.calls, 1);
    if (r.status != cases[i].want && r.status != cases[i].or_want)
      fprintf(stderr, "%s: %s\n", cases[i].spec, nox_err_name(r.status));
    ASSERT(r.status == cases[i].want || r.status == cases[i].or_want);
    ASSERT_EQ(nox_client_close(c, NULL, NULL), 0);
    ASSERT_LOOP_CLOSES(&loop); /* the worker is done: its temp dir too */
    /* No partial destination, and no temporary directory beside it. */
    ASSERT_EQ(leftovers(parent, name), 0);
    printf("  extract_dir download, %-8s -> %s, nothing left\n",
           cases[i].spec, nox_err_name(r.status));
  }
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", parent);
  ASSERT_EQ(system(cmd), 0);
  nox_test_server_stop(&fd);
}

/* ---- a memory hog is held by its sandbox's limit ------------------------ */

static void on_hog(nox_req_t *req, int status, const nox_exec_result_t *r) {
  int *exit_code = nox_req_data(req);
  ASSERT_EQ(status, 0);
  *exit_code = r->exit_code;
}

static void on_made(nox_req_t *req, int status, const nox_sandbox_info_t *i) {
  (void)i;
  ASSERT_EQ(status, 0);
  (*(int *)nox_req_data(req))++;
}

static void test_memory_hog(void) {
  noxd_test_t t;
  ASSERT_EQ(noxd_test_start(&t, "auto", NULL), 0);
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.base_url = t.srv.url;
  nox_client_t *c;
  ASSERT_EQ(nox_client_new(&c, &loop, &o), 0);
  nox_create_options_t co = NOX_CREATE_OPTIONS_INIT;
  co.memory_limit = "64Mi";
  int made = 0;
  ASSERT_EQ(nox_create(NULL, c, "hog", &co, on_made, &made), 0);
  ASSERT_EQ(nox_create(NULL, c, "bystander", NULL, on_made, &made), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(made, 2);
  /*
   * 512 MiB into memory: under a 64 MiB limit the command fails, alone;
   * the same command in a sandbox without a limit succeeds, so the limit
   * is what stopped it.
   */
  static const char hog_script[] =
      "command -v python3 >/dev/null || exit 99; "
      "python3 -c 'b = bytearray(512 << 20)' 2>/dev/null";
  int hog = -1, other = -1;
  ASSERT_EQ(nox_exec_shell(NULL, c, "hog", "sh", hog_script, NULL, on_hog,
                           &hog),
            0);
  ASSERT_EQ(nox_exec_shell(NULL, c, "bystander", "sh", hog_script, NULL,
                           on_hog, &other),
            0);
  uv_run(&loop, UV_RUN_DEFAULT);
  printf("  512 MiB allocation: exit %d under a 64Mi limit, %d without\n", hog,
         other);
  ASSERT(hog != 99 && other != 99); /* python3 is there (scripts/deps.sh) */
  ASSERT_NE(hog, 0);
  ASSERT_EQ(other, 0);
  ASSERT_EQ(nox_client_close(c, NULL, NULL), 0);
  ASSERT_LOOP_CLOSES(&loop);
  ASSERT(noxd_test_alive(&t));
  ASSERT_EQ(noxd_test_stop(&t), 0);
}

/* ---- the loop's longest turn under load -------------------------------- */

typedef struct {
  uv_prepare_t prepare;
  uv_check_t check;
  uint64_t woke;  /* hrtime when poll returned */
  uint64_t worst; /* longest work between two polls, ns */
  int done;
} lag_t;

static void on_check(uv_check_t *h) {
  lag_t *l = h->data;
  l->woke = uv_hrtime();
}

static void on_prepare(uv_prepare_t *h) {
  lag_t *l = h->data;
  if (l->woke != 0 && uv_hrtime() - l->woke > l->worst)
    l->worst = uv_hrtime() - l->woke;
}

static void on_load_exec(nox_req_t *req, int status,
                         const nox_exec_result_t *res) {
  (void)res;
  ASSERT_EQ(status, 0);
  lag_t *l = nox_req_data(req);
  if (++l->done == 5000) {
    uv_prepare_stop(&l->prepare);
    uv_check_stop(&l->check);
  }
}

static void test_loop_lag(void) {
  nox_test_server_t fd;
  ASSERT_EQ(nox_test_faultd_start(&fd), 0);
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  lag_t l;
  memset(&l, 0, sizeof(l));
  uv_prepare_init(&loop, &l.prepare);
  uv_check_init(&loop, &l.check);
  l.prepare.data = l.check.data = &l;
  uv_prepare_start(&l.prepare, on_prepare);
  uv_check_start(&l.check, on_check);

  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.base_url = fd.url;
  nox_client_t *c;
  ASSERT_EQ(nox_client_new(&c, &loop, &o), 0);
  static const char *const argv[] = {"echo", "x", NULL};
  for (int i = 0; i < 5000; i++)
    ASSERT_EQ(nox_exec(NULL, c, "lag", argv, NULL, on_load_exec, &l), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(l.done, 5000);
  printf("  5,000 queued execs: longest loop turn %.2f ms\n",
         (double)l.worst / 1e6);
  uv_close((uv_handle_t *)&l.prepare, NULL);
  uv_close((uv_handle_t *)&l.check, NULL);
  nox_client_close(c, NULL, NULL);
  ASSERT_LOOP_CLOSES(&loop);
  nox_test_server_stop(&fd);
}

int main(void) {
  ASSERT_EQ(nox_library_init(), 0);
  printf("[ RUN ] restart_mid_run\n");
  test_restart_mid_run();
  printf("[ RUN ] retry_after_and_resolve\n");
  test_retry_after_and_resolve();
  printf("[ RUN ] loop_lag\n");
  test_loop_lag();
  printf("[ RUN ] stream_faults\n");
  test_stream_faults();
  printf("[ RUN ] memory_hog\n");
  test_memory_hog();
  nox_library_cleanup();
  return 0;
}
