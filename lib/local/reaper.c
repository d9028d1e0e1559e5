/*
 * The TTL reaper: removes expired sandboxes from the root, once when the
 * client starts (so what expired while no process ran goes too) and then
 * every reap_interval_ms. Its timer is unreferenced: it never keeps the
 * loop alive on its own.
 */
#include <stdlib.h>

#include "local/local.h"

static void reap_run(nox__local_job_t *job) {
  nox__local_session_reap(job);
}

static void reap_done(nox__local_job_t *job) {
  nox__local_t *l = job->local;
  char **p;

  l->reap_running = false;
  /* Commands still running in a removed sandbox die with it. */
  for (p = job->reaped; p != NULL && *p != NULL; p++)
    nox__local_exec_kill_sandbox(l, *p);
}

static void reap(nox__local_t *l) {
  nox__local_job_t *job;

  if (l->reap_running || l->closing)
    return;
  job = nox__local_job_new(l, NULL);
  if (job == NULL)
    return; /* the next tick tries again */
  job->background = true;
  job->run = reap_run;
  job->done = reap_done;
  l->reap_running = true;
  nox__local_job_queue(job);
}

static void on_reap_timer(uv_timer_t *t) {
  reap(t->data);
}

static void on_timer_closed(uv_handle_t *h) {
  nox__local_t *l = h->data;

  l->pending--;
  nox__local_maybe_closed(l);
}

int nox__local_reaper_init(nox__local_t *l) {
  uint64_t every = l->client->opts.reap_interval_ms;

  uv_timer_init(l->client->loop, &l->reap_timer);
  l->reap_timer.data = l;
  l->pending++;
  uv_timer_start(&l->reap_timer, on_reap_timer, every, every);
  uv_unref((uv_handle_t *)&l->reap_timer);
  reap(l);
  return 0;
}

void nox__local_reaper_close(nox__local_t *l) {
  uv_timer_stop(&l->reap_timer);
  uv_close((uv_handle_t *)&l->reap_timer, on_timer_closed);
}
