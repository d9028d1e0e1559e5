/*
 * The registry: nox_sandbox_release_all() releases every handle not yet
 * released and reports; nox_client_close() deletes every sandbox its
 * handles hold before it closes, creates still in flight included, with at
 * most max_deletes deletes at once. argv[1]: local or noxd.
 */
#include "sandbox_util.h"

#define N 24

static int reports;
static nox_release_report_t last;
static int closed_after_report;
static nox_client_t *client;
static size_t ready_ok, ready_err;

static void on_report(nox_client_t *c, const nox_release_report_t *r,
                      void *data) {
  ASSERT(c == client);
  ASSERT(data == &reports);
  reports++;
  last = *r;
  ASSERT_EQ(r->failed, 0);
}

static void on_closed(void *data) {
  closed_after_report = reports > 0;
  *(int *)data = 1;
}

static void on_ready(nox_sandbox_t *sb, int status) {
  (void)sb;
  if (status == 0)
    ready_ok++;
  else
    ready_err++;
}

static void close_client(uv_loop_t *loop) {
  int closed = 0;
  nox_sandbox_t *sb = NULL;
  ASSERT_EQ(nox_client_close(client, on_closed, &closed), 0);
  ASSERT_EQ(nox_sandbox_new(&sb, client, "late", NULL, on_ready, NULL),
            NOX_ECLOSING);
  ASSERT_EQ(nox_sandbox_release_all(client, on_report, &reports), NOX_ECLOSING);
  while (!closed)
    uv_run(loop, UV_RUN_ONCE);
}

int main(int argc, char **argv) {
  st_env_t env;
  uv_loop_t loop;
  st_res_t r;
  nox_client_stats_t s;
  nox_sandbox_t *sb;

  st_setup(&env, argc, argv);
  ASSERT_EQ(uv_loop_init(&loop), 0);

  /* release_all: one handle is already being released by its owner. */
  client = st_client(&env, &loop, NULL);
  nox_sandbox_t *first = NULL;
  for (int i = 0; i < 6; i++) {
    char id[32];
    snprintf(id, sizeof(id), "ra%d", i);
    sb = st_sandbox(client, id, NULL, &r);
    ASSERT_EQ(r.status, 0);
    if (i == 0)
      first = sb;
  }
  ASSERT_EQ(lt_count_sandboxes(env.root), 6);
  st_res_t own = {0, 0};
  ASSERT_EQ(nox_sandbox_release(first, st_on_released, &own), 0);
  ASSERT_EQ(nox_sandbox_release_all(client, on_report, &reports), 0);
  ASSERT_EQ(reports, 0);
  while (reports == 0 || !own.done)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(last.released, 5);
  ASSERT_EQ(own.status, 0);
  ASSERT_EQ(lt_count_sandboxes(env.root), 0);
  ASSERT_EQ(nox_client_stats(client, &s), 0);
  ASSERT_EQ(s.sandboxes, 0);
  /* Nothing left: the report still comes, from the loop. */
  reports = 0;
  ASSERT_EQ(nox_sandbox_release_all(client, on_report, &reports), 0);
  ASSERT_EQ(reports, 0);
  while (reports == 0)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(last.released, 0);
  lt_close(client);
  ASSERT_LOOP_CLOSES(&loop);

  /*
   * Close with N handles, leased and not, some ready, the rest with their
   * create still queued behind max_creating: all deleted, then closed.
   */
  ASSERT_EQ(uv_loop_init(&loop), 0);
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.max_creating = 2;
  client = st_client(&env, &loop, &o);
  nox_registry_options_t ro = NOX_REGISTRY_OPTIONS_INIT;
  ro.max_deletes = 4;
  ro.on_close = on_report;
  ro.on_close_data = &reports;
  ASSERT_EQ(nox_registry_configure(client, &ro), 0);
  reports = 0;
  nox_sandbox_options_t so = NOX_SANDBOX_OPTIONS_INIT;
  for (int i = 0; i < N; i++) {
    char id[32];
    snprintf(id, sizeof(id), "cl%d", i);
    so.lease = i % 2;
    ASSERT_EQ(nox_sandbox_new(&sb, client, id, &so, on_ready, NULL), 0);
  }
  ASSERT_EQ(nox_registry_configure(client, &ro), NOX_EALREADY);
  while (ready_ok < N / 2)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(nox_client_stats(client, &s), 0);
  ASSERT_EQ(s.sandboxes, N);
  ASSERT_LE(s.creating, 2);
  close_client(&loop);
  ASSERT(closed_after_report);
  ASSERT_EQ(reports, 1);
  ASSERT_EQ(last.released, N);
  ASSERT_EQ(ready_ok + ready_err, N);
  ASSERT_EQ(lt_count_sandboxes(env.root), 0);
  ASSERT_LOOP_CLOSES(&loop);

  /* Close while a release-all is still working through its handles. */
  ASSERT_EQ(uv_loop_init(&loop), 0);
  client = st_client(&env, &loop, NULL);
  ro = (nox_registry_options_t)NOX_REGISTRY_OPTIONS_INIT;
  ro.max_deletes = 2;
  ASSERT_EQ(nox_registry_configure(client, &ro), 0);
  for (int i = 0; i < 8; i++) {
    char id[32];
    snprintf(id, sizeof(id), "both%d", i);
    sb = st_sandbox(client, id, NULL, &r);
    ASSERT_EQ(r.status, 0);
  }
  reports = 0;
  ASSERT_EQ(nox_sandbox_release_all(client, on_report, &reports), 0);
  ASSERT_EQ(nox_sandbox_release(sb, NULL, NULL), NOX_EALREADY);
  close_client(&loop);
  ASSERT_EQ(reports, 1);
  ASSERT_EQ(last.released, 8);
  ASSERT_EQ(lt_count_sandboxes(env.root), 0);
  ASSERT_LOOP_CLOSES(&loop);

  /*
   * Close right after the creates were started: nothing left either. Over
   * HTTP this cancels creates curl is still running and starts deletes in
   * the same turn (see test_http_cancel_race for the engine side).
   */
  ASSERT_EQ(uv_loop_init(&loop), 0);
  client = st_client(&env, &loop, NULL);
  ready_ok = ready_err = 0;
  for (int i = 0; i < N; i++) {
    char id[32];
    snprintf(id, sizeof(id), "early%d", i);
    ASSERT_EQ(nox_sandbox_new(&sb, client, id, NULL, on_ready, NULL), 0);
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  close_client(&loop);
  ASSERT_EQ(ready_ok + ready_err, N);
  ASSERT_LOOP_CLOSES(&loop);
  ASSERT_EQ(lt_count_sandboxes(env.root), 0);
  st_teardown(&env);
  return 0;
}
