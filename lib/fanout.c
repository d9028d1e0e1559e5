/*
 * Fan-out: a batch of jobs over a set of sandbox handles. Each handle runs
 * one job at a time (its slot); jobs start in order as slots free up, at
 * most max_concurrent at once. Every job reports exactly once, then the
 * batch does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

#define DEFAULT_MAX_DOWNLOAD ((size_t)16 << 20)

typedef struct {
  nox_fanout_t *f;
  nox_sandbox_t *sb;
  bool active;
  bool too_big;
  size_t job;
  uint64_t t0;
  nox_req_t *req;
  bool have_exec;
  nox_exec_result_t exec;
  nox__buf_t out, err, dl;
} slot_t;

struct nox_fanout_s {
  const nox_job_t *jobs;
  size_t njobs;
  size_t nslots;
  slot_t *slots;
  uint32_t max_concurrent;
  bool fail_fast;
  size_t max_download;
  nox_job_cb on_job;
  nox_fanout_cb on_done;
  void *data;
  uv_loop_t *loop;
  nox_client_t *client; /* for nox_client_last_error() */

  size_t next, running, cursor;
  bool stopping, in_pump, repump, done;
  nox_fanout_report_t rep;
  uint64_t t0;
  uv_timer_t kick; /* runs pump() from the loop for start and cancel */
};

static void pump(nox_fanout_t *f);
static void step_exec(slot_t *s);

static void report(nox_fanout_t *f, size_t index, nox_sandbox_t *sb, int status,
                   int step, bool ok, slot_t *s, const char *msg,
                   uint64_t latency) {
  nox_job_result_t r;
  memset(&r, 0, sizeof(r));
  r.index = index;
  r.job = &f->jobs[index];
  r.sandbox = sb;
  r.status = status;
  r.failed_step = ok ? NOX_JOB_STEP_NONE : step;
  r.ok = ok;
  r.latency_ms = latency;
  r.message = msg ? msg : "";
  if (s != NULL && s->have_exec)
    r.exec = &s->exec;
  if (s != NULL && ok && f->jobs[index].download_src != NULL) {
    r.download = s->dl.data ? s->dl.data : "";
    r.download_len = s->dl.len;
  }
  if (ok) {
    f->rep.ok++;
  } else if (status == NOX_ECANCELED) {
    f->rep.canceled++;
  } else {
    f->rep.failed++;
    if (f->rep.first_failed == f->njobs) {
      f->rep.first_failed = index;
      f->rep.first_status = status;
    }
  }
  if (!ok && status != NOX_ECANCELED && f->fail_fast)
    nox_fanout_cancel(f);
  if (f->on_job != NULL)
    f->on_job(f, &r, f->data);
}

static void slot_reset(slot_t *s) {
  nox__buf_reset(&s->out);
  nox__buf_reset(&s->err);
  nox__buf_reset(&s->dl);
  s->active = false;
  s->have_exec = false;
  s->too_big = false;
  s->req = NULL;
}

static void job_end(slot_t *s, int status, int step, const char *msg) {
  nox_fanout_t *f = s->f;
  bool ok = status == 0 && step == NOX_JOB_STEP_NONE;
  if (s->too_big && status == NOX_EUSER)
    status = NOX_ETOOBIG;
  report(f, s->job, s->sb, status, step, ok, s, msg, uv_now(f->loop) - s->t0);
  slot_reset(s);
  f->running--;
  pump(f);
}

/* A step refused at once: the client's detail, copied before it changes. */
static void job_refused(slot_t *s, int err, int step) {
  char msg[sizeof(((nox_error_t *)0)->message)];
  snprintf(msg, sizeof(msg), "%s", nox_client_last_error(s->f->client)->message);
  job_end(s, err, step, msg);
}

static void on_download_done(nox_req_t *req, int status) {
  slot_t *s = nox_req_data(req);
  job_end(s, status, status ? NOX_JOB_STEP_DOWNLOAD : NOX_JOB_STEP_NONE,
          nox_req_error(req)->message);
}

static int on_download_data(nox_req_t *req, const char *buf, size_t len) {
  slot_t *s = nox_req_data(req);
  if (s->dl.len + len > s->f->max_download) {
    s->too_big = true;
    return -1;
  }
  return nox__buf_append(&s->dl, buf, len) == 0 ? 0 : -1;
}

static void on_exec(nox_req_t *req, int status, const nox_exec_result_t *res) {
  slot_t *s = nox_req_data(req);
  const nox_job_t *job = &s->f->jobs[s->job];
  s->req = NULL;
  if (status != 0) {
    job_end(s, status, NOX_JOB_STEP_EXEC, nox_req_error(req)->message);
    return;
  }
  /* Kept past this callback for the job's result. */
  if (nox__buf_append(&s->out, res->out, res->out_len) != 0 ||
      nox__buf_append(&s->err, res->err, res->err_len) != 0) {
    job_end(s, NOX_ENOMEM, NOX_JOB_STEP_EXEC, NULL);
    return;
  }
  s->have_exec = true;
  s->exec = *res;
  s->exec.out = s->out.data ? s->out.data : "";
  s->exec.err = s->err.data ? s->err.data : "";
  if (res->exit_code != 0) {
    job_end(s, 0, NOX_JOB_STEP_EXEC, "command exited with a non-zero code");
    return;
  }
  if (job->download_src == NULL || s->f->stopping) {
    job_end(s, s->f->stopping ? NOX_ECANCELED : 0,
            s->f->stopping ? NOX_JOB_STEP_DOWNLOAD : NOX_JOB_STEP_NONE, NULL);
    return;
  }
  nox_download_options_t o = NOX_DOWNLOAD_OPTIONS_INIT;
  o.src = job->download_src;
  int err = nox_sandbox_download(&s->req, s->sb, &o, on_download_data,
                                 on_download_done, s);
  if (err != 0)
    job_refused(s, err, NOX_JOB_STEP_DOWNLOAD);
}

static void step_exec(slot_t *s) {
  const nox_job_t *job = &s->f->jobs[s->job];
  int err = job->argv != NULL
                ? nox_sandbox_exec(&s->req, s->sb, job->argv, job->exec_opts,
                                   on_exec, s)
                : nox_sandbox_exec_shell(&s->req, s->sb, "sh", job->script,
                                         job->exec_opts, on_exec, s);
  if (err != 0)
    job_refused(s, err, NOX_JOB_STEP_EXEC);
}

static void on_upload(nox_req_t *req, int status) {
  slot_t *s = nox_req_data(req);
  s->req = NULL;
  if (status != 0)
    job_end(s, status, NOX_JOB_STEP_UPLOAD, nox_req_error(req)->message);
  else if (s->f->stopping)
    job_end(s, NOX_ECANCELED, NOX_JOB_STEP_EXEC, NULL);
  else
    step_exec(s);
}

static void start_job(slot_t *s, size_t index) {
  const nox_job_t *job = &s->f->jobs[index];
  s->active = true;
  s->job = index;
  s->t0 = uv_now(s->f->loop);
  s->f->running++;
  if (job->nfiles == 0) {
    step_exec(s);
    return;
  }
  nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
  o.dest = job->upload_dest;
  o.files = job->files;
  o.nfiles = job->nfiles;
  int err = nox_sandbox_upload(&s->req, s->sb, &o, on_upload, s);
  if (err != 0)
    job_refused(s, err, NOX_JOB_STEP_UPLOAD);
}

/* A free slot whose sandbox is not lost, round robin; NULL if none. */
static slot_t *free_slot(nox_fanout_t *f, bool *any_usable) {
  *any_usable = false;
  for (size_t k = 0; k < f->nslots; k++) {
    slot_t *s = &f->slots[(f->cursor + k) % f->nslots];
    if (nox_sandbox_lost(s->sb))
      continue;
    *any_usable = true;
    if (!s->active) {
      f->cursor = (f->cursor + k + 1) % f->nslots;
      return s;
    }
  }
  return NULL;
}

static void on_kick_closed(uv_handle_t *h) {
  nox_fanout_t *f = h->data;
  free(f->slots);
  free(f);
}

static void finish(nox_fanout_t *f) {
  f->done = true;
  f->rep.elapsed_ms = uv_now(f->loop) - f->t0;
  f->on_done(f, &f->rep, f->data);
  uv_close((uv_handle_t *)&f->kick, on_kick_closed);
}

static void on_kick(uv_timer_t *t) {
  pump(t->data);
}

static void pump(nox_fanout_t *f) {
  if (f->in_pump) {
    f->repump = true;
    return;
  }
  f->in_pump = true;
  do {
    f->repump = false;
    while (!f->stopping && f->next < f->njobs &&
           f->running < f->max_concurrent) {
      bool usable;
      slot_t *s = free_slot(f, &usable);
      if (s == NULL && !usable && f->running == 0) {
        size_t i = f->next++;
        report(f, i, NULL, NOX_ENOTFOUND, NOX_JOB_STEP_EXEC, false, NULL,
               "every sandbox of the batch is lost", 0);
        continue;
      }
      if (s == NULL)
        break;
      start_job(s, f->next++);
    }
    while (f->stopping && f->next < f->njobs)
      report(f, f->next++, NULL, NOX_ECANCELED, NOX_JOB_STEP_NONE, false, NULL,
             "batch canceled", 0);
  } while (f->repump);
  f->in_pump = false;
  if (f->running == 0 && f->next == f->njobs && !f->done)
    finish(f);
}

#define FAIL(c, ...) nox__api_fail((c), NOX_EINVAL, __VA_ARGS__)

static int check_fanout(nox_client_t *c, nox_sandbox_t *const *sandboxes,
                        size_t nsandboxes, const nox_job_t *jobs, size_t njobs,
                        const nox_fanout_options_t *opts,
                        nox_fanout_cb on_done) {
  static const char fn[] = "nox_fanout";
  for (size_t i = 1; i < nsandboxes; i++) {
    if (sandboxes[i] == NULL)
      return FAIL(c, "%s: sandboxes[%zu] is NULL", fn, i);
    if (nox_sandbox_client(sandboxes[i]) != c)
      return FAIL(c,
                  "%s: sandboxes[%zu] belongs to another client than "
                  "sandboxes[0]",
                  fn, i);
  }
  if (opts->version != NOX_FANOUT_OPTIONS_VERSION)
    return FAIL(c,
                "%s: opts->version is %u, not %d: initialise opts with "
                "NOX_FANOUT_OPTIONS_INIT",
                fn, opts->version, NOX_FANOUT_OPTIONS_VERSION);
  if (jobs == NULL || njobs == 0)
    return FAIL(c, "%s: jobs is NULL or njobs is 0", fn);
  if (on_done == NULL)
    return FAIL(c, "%s: on_done is NULL", fn);
  for (size_t i = 0; i < njobs; i++)
    if ((jobs[i].argv == NULL) == (jobs[i].script == NULL))
      return FAIL(c, "%s: jobs[%zu] must set exactly one of argv and script",
                  fn, i);
  if (c->closing)
    return nox__api_fail(c, NOX_ECLOSING, "%s: the client is closing", fn);
  return 0;
}

int nox_fanout(nox_fanout_t **out, nox_sandbox_t *const *sandboxes,
               size_t nsandboxes, const nox_job_t *jobs, size_t njobs,
               const nox_fanout_options_t *opts, nox_job_cb on_job,
               nox_fanout_cb on_done, void *data) {
  static const nox_fanout_options_t defaults = NOX_FANOUT_OPTIONS_INIT;
  if (opts == NULL)
    opts = &defaults;
  /* The client comes from the first handle: without one, nowhere to say. */
  if (sandboxes == NULL || nsandboxes == 0 || sandboxes[0] == NULL)
    return NOX_EINVAL;
  nox_client_t *c = nox_sandbox_client(sandboxes[0]);
  nox__api_enter(c);
  int err =
      check_fanout(c, sandboxes, nsandboxes, jobs, njobs, opts, on_done);
  if (err != 0)
    return err;

  nox_fanout_t *f = calloc(1, sizeof(*f));
  if (f == NULL || (f->slots = calloc(nsandboxes, sizeof(slot_t))) == NULL) {
    free(f);
    return nox__api_leave(c, "nox_fanout", NOX_ENOMEM);
  }
  f->jobs = jobs;
  f->njobs = njobs;
  f->nslots = nsandboxes;
  f->max_concurrent = opts->max_concurrent && opts->max_concurrent < nsandboxes
                          ? opts->max_concurrent
                          : (uint32_t)nsandboxes;
  f->fail_fast = opts->fail_fast != 0;
  f->max_download = opts->max_download_bytes ? opts->max_download_bytes
                                             : DEFAULT_MAX_DOWNLOAD;
  f->on_job = on_job;
  f->on_done = on_done;
  f->data = data;
  f->loop = c->loop;
  f->client = c;
  f->t0 = uv_now(c->loop);
  f->rep.jobs = njobs;
  f->rep.first_failed = njobs;
  for (size_t i = 0; i < nsandboxes; i++) {
    f->slots[i].f = f;
    f->slots[i].sb = sandboxes[i];
  }
  /* Everything, the first start included, happens from the loop. */
  uv_timer_init(c->loop, &f->kick);
  f->kick.data = f;
  uv_timer_start(&f->kick, on_kick, 0, 0);
  if (out)
    *out = f;
  return 0;
}

int nox_fanout_cancel(nox_fanout_t *f) {
  if (f == NULL)
    return NOX_EINVAL;
  nox_client_t *c = f->client;
  nox__api_enter(c);
  if (f->stopping || f->done)
    return nox__api_fail(c, NOX_EALREADY,
                         "nox_fanout_cancel: the fan-out is already stopping "
                         "or done");
  f->stopping = true;
  for (size_t i = 0; i < f->nslots; i++)
    if (f->slots[i].active && f->slots[i].req != NULL)
      nox_req_cancel(f->slots[i].req);
  /* The jobs that never started report from the loop, not from here. */
  if (!f->in_pump)
    uv_timer_start(&f->kick, on_kick, 0, 0);
  return 0;
}
