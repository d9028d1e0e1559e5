/*
 * fanout: many sandboxes from one loop.
 *
 *   fanout [BASE_URL] [SANDBOXES] [CONCURRENCY]
 *
 * Makes SANDBOXES sandbox handles (default 1000; each created, waited for
 * until it runs commands, and leased), runs one job per sandbox across them
 * with at most CONCURRENCY jobs at once (default 64), prints a summary with
 * latency percentiles, and closes the client, which deletes every sandbox
 * it created. BASE_URL defaults to "local:"; NOXRUNNER_ISOLATION=none runs
 * the local backend's commands without bubblewrap.
 *
 * Admission control turns the burst of creates and execs into a steady
 * stream: at most 64 creates and 64 execs are in flight at once, whatever
 * SANDBOXES is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include <noxrunner/sandbox.h>

typedef struct {
  nox_client_t *client;
  nox_sandbox_t **sbs;
  nox_job_t *jobs;
  char (*scripts)[64];
  uint64_t *latency; /* per job, ms */
  size_t n, ready, failed_ready, done_jobs;
  unsigned concurrency;
  uint64_t t0, t_ready;
  int failed;
  size_t peak_creating, peak_execs;
} app_t;

static void sample(app_t *app) {
  nox_client_stats_t s;
  nox_client_stats(app->client, &s);
  if (s.creating > app->peak_creating)
    app->peak_creating = s.creating;
  if (s.execs > app->peak_execs)
    app->peak_execs = s.execs;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *v, size_t n, double p) {
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  return v[i < n ? i : n - 1];
}

static void on_close_report(nox_client_t *c, const nox_release_report_t *r,
                            void *data) {
  app_t *app = data;
  (void)c;
  printf("cleanup: %zu sandboxes deleted, %zu failed\n", r->released,
         r->failed);
  for (size_t i = 0; i < r->failed; i++)
    fprintf(stderr, "  could not delete %s: %s\n", r->failed_ids[i],
            nox_strerror(r->failed_status[i]));
  if (r->failed > 0)
    app->failed = 1;
}

static void on_job(nox_fanout_t *f, const nox_job_result_t *r, void *data) {
  app_t *app = data;
  (void)f;
  sample(app);
  app->latency[app->done_jobs++] = r->latency_ms;
  if (!r->ok)
    fprintf(stderr, "job %zu failed: %s (exit %d) %s\n", r->index,
            nox_strerror(r->status), r->exec ? r->exec->exit_code : -1,
            r->message);
}

static void on_batch(nox_fanout_t *f, const nox_fanout_report_t *r,
                     void *data) {
  app_t *app = data;
  (void)f;
  uint64_t now = uv_now(nox_client_loop(app->client));
  qsort(app->latency, app->done_jobs, sizeof(uint64_t), cmp_u64);
  printf("sandboxes: %zu ready in %llu ms (peak %zu creates in flight)\n",
         app->ready, (unsigned long long)(app->t_ready - app->t0),
         app->peak_creating);
  printf("jobs: %zu ok, %zu failed, %zu canceled in %llu ms (peak %zu execs "
         "in flight)\n",
         r->ok, r->failed, r->canceled, (unsigned long long)r->elapsed_ms,
         app->peak_execs);
  if (app->done_jobs > 0)
    printf("job latency ms: p50 %llu  p90 %llu  p99 %llu  max %llu\n",
           (unsigned long long)pct(app->latency, app->done_jobs, 0.50),
           (unsigned long long)pct(app->latency, app->done_jobs, 0.90),
           (unsigned long long)pct(app->latency, app->done_jobs, 0.99),
           (unsigned long long)app->latency[app->done_jobs - 1]);
  printf("total: %llu ms\n", (unsigned long long)(now - app->t0));
  if (r->ok != app->n)
    app->failed = 1;
  /* Closing deletes every sandbox the handles hold, then closes. */
  nox_client_close(app->client, NULL, NULL);
}

static void start_jobs(app_t *app) {
  app->t_ready = uv_now(nox_client_loop(app->client));
  for (size_t i = 0; i < app->n; i++) {
    snprintf(app->scripts[i], sizeof(app->scripts[i]),
             "echo job %zu in $(pwd)", i);
    memset(&app->jobs[i], 0, sizeof(app->jobs[i]));
    app->jobs[i].script = app->scripts[i];
  }
  nox_fanout_options_t fo = NOX_FANOUT_OPTIONS_INIT;
  fo.max_concurrent = app->concurrency;
  int err = nox_fanout(NULL, app->sbs, app->n, app->jobs, app->n, &fo, on_job,
                       on_batch, app);
  if (err != 0) {
    fprintf(stderr, "fanout: %s\n", nox_strerror(err));
    app->failed = 1;
    nox_client_close(app->client, NULL, NULL);
  }
}

static void on_ready(nox_sandbox_t *sb, int status) {
  app_t *app = nox_sandbox_data(sb);
  sample(app);
  if (status != 0) {
    fprintf(stderr, "sandbox %s: %s\n", nox_sandbox_id(sb),
            nox_strerror(status));
    app->failed_ready++;
  } else {
    app->ready++;
  }
  if (app->ready + app->failed_ready < app->n)
    return;
  if (app->failed_ready > 0) {
    app->failed = 1;
    nox_client_close(app->client, NULL, NULL);
    return;
  }
  start_jobs(app);
}

static void on_lost(nox_sandbox_t *sb, int status) {
  fprintf(stderr, "sandbox %s lost: %s\n", nox_sandbox_id(sb),
          nox_strerror(status));
}

int main(int argc, char **argv) {
  const char *url = argc > 1 ? argv[1] : "local:";
  app_t app;
  memset(&app, 0, sizeof(app));
  app.n = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
  app.concurrency = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 64;
  if (app.n == 0 || app.concurrency == 0) {
    fprintf(stderr, "usage: fanout [BASE_URL] [SANDBOXES] [CONCURRENCY]\n");
    return 2;
  }
  app.sbs = calloc(app.n, sizeof(*app.sbs));
  app.jobs = calloc(app.n, sizeof(*app.jobs));
  app.scripts = calloc(app.n, sizeof(*app.scripts));
  app.latency = calloc(app.n, sizeof(*app.latency));
  if (!app.sbs || !app.jobs || !app.scripts || !app.latency)
    return 1;

  if (nox_library_init() != 0)
    return 1;
  uv_loop_t *loop = uv_default_loop();
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  const char *iso = getenv("NOXRUNNER_ISOLATION");
  o.base_url = url;
  o.max_creating = 64;
  o.max_execs = 64;
  if (iso != NULL && strcmp(iso, "none") == 0)
    o.isolation = NOX_ISOLATION_NONE;
  else if (iso != NULL && strcmp(iso, "bwrap") == 0)
    o.isolation = NOX_ISOLATION_BWRAP;
  int err = nox_client_new(&app.client, loop, &o);
  if (err != 0) {
    fprintf(stderr, "client: %s\n", nox_strerror(err));
    return 1;
  }
  nox_registry_options_t ro = NOX_REGISTRY_OPTIONS_INIT;
  ro.max_deletes = 64;
  ro.on_close = on_close_report;
  ro.on_close_data = &app;
  nox_registry_configure(app.client, &ro);

  nox_create_options_t co = NOX_CREATE_OPTIONS_INIT;
  co.ttl_seconds = 300;
  nox_sandbox_options_t so = NOX_SANDBOX_OPTIONS_INIT;
  so.create = &co;
  so.wait_ready = 1;
  so.lease = 1;
  so.on_lost = on_lost;
  app.t0 = uv_now(loop);
  for (size_t i = 0; i < app.n; i++) {
    char id[64];
    snprintf(id, sizeof(id), "fanout-%ld-%zu", (long)getpid(), i);
    err = nox_sandbox_new(&app.sbs[i], app.client, id, &so, on_ready, &app);
    if (err != 0) {
      fprintf(stderr, "sandbox %s: %s\n", id, nox_strerror(err));
      app.failed = 1;
      break; /* the close below deletes the ones already made */
    }
  }
  if (app.failed)
    nox_client_close(app.client, NULL, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  nox_library_cleanup();
  free(app.sbs);
  free(app.jobs);
  free(app.scripts);
  free(app.latency);
  return app.failed;
}
