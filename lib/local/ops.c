/*
 * The operations of the local backend: each is a job whose disk work runs
 * on the work queue (run) and whose result is handed over on the loop
 * (done). Exec continues in exec.c once its sandbox and workdir are ready.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "local/local.h"
#include "tar/tar.h"


static void finish_job(nox__local_job_t *job) {
  if (job->status != 0 && job->msg[0] != '\0')
    nox__req_set_message(job->req, "%s", job->msg);
  nox__local_finish(job->req, job->status);
}

/* ---- create, touch, delete ---------------------------------------------- */

static void create_run(nox__local_job_t *job) {
  job->status = nox__local_session_open(job, NOX__SESS_CREATE);
}

static void create_done(nox__local_job_t *job) {
  nox_req_t *req = job->req;
  char when[32];
  time_t t = (time_t)job->meta.expires_at;
  struct tm tm;

  if (job->status == 0) {
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (nox__buf_append(&req->pod_name, job->sandbox, strlen(job->sandbox)) ||
        nox__buf_append(&req->expires_at, when, strlen(when)))
      job->status = NOX_ENOMEM;
  }
  finish_job(job);
}

static void touch_run(nox__local_job_t *job) {
  job->status = nox__local_session_open(job, NOX__SESS_TOUCH);
}

static void delete_run(nox__local_job_t *job) {
  job->status = nox__local_session_delete(job);
}

/* ---- upload, download --------------------------------------------------- */

static void upload_run(nox__local_job_t *job) {
  char *inner = NULL;

  job->status = nox__local_session_open(job, NOX__SESS_GET);
  if (job->status == 0)
    job->status =
        nox__local_map_path(job->workspace, job->path, NOX__PATH_MKDIR,
                            &job->hostdir, &inner, job->msg, sizeof(job->msg));
  free(inner);
}

/* The paths are resolved: the transfer streams on the tar workers. */
static void xfer_done(nox__local_job_t *job) {
  if (job->status != 0)
    finish_job(job);
  else
    nox__local_xfer_start(job);
}

static void download_run(nox__local_job_t *job) {
  char *inner = NULL;

  job->status = nox__local_session_open(job, NOX__SESS_GET);
  if (job->status == 0)
    job->status =
        nox__local_map_path(job->workspace, job->path, NOX__PATH_EXISTS,
                            &job->hostdir, &inner, job->msg, sizeof(job->msg));
  free(inner);
}

/* ---- exec --------------------------------------------------------------- */

/* An unknown id is NOX_ENOTFOUND unless local_auto_create (Python compat). */
static void exec_run(nox__local_job_t *job) {
  job->status = nox__local_session_open(
      job, job->local->client->opts.local_auto_create ? NOX__SESS_ENSURE
                                                      : NOX__SESS_GET);
  if (job->status == 0)
    job->status = nox__local_map_path(
        job->workspace, job->path, NOX__PATH_MKDIR, &job->hostdir,
        &job->innerdir, job->msg, sizeof(job->msg));
  if (job->status == 0 && job->local->cg_base != NULL)
    job->status = nox__local_cgroup_prepare(job->local, job->sandbox,
                                            &job->cgroup, job->msg,
                                            sizeof(job->msg));
}

static void exec_done(nox__local_job_t *job) {
  if (job->status != 0)
    finish_job(job);
  else
    nox__local_exec_start(job);
}

/* ---- dispatch ----------------------------------------------------------- */

static int copy_params(nox__local_job_t *job, nox_req_t *req, char *msg,
                       size_t len) {
  nox__local_meta_t *p = &job->params;
  nox__local_limits_t unused;

  /* The metadata file stays small (its reader has a cap). */
  if (req->image != NULL && strlen(req->image) > NOX__LOCAL_MAX_PARAM) {
    snprintf(msg, len, "image name longer than %d bytes", NOX__LOCAL_MAX_PARAM);
    return NOX_EINVAL;
  }
  p->ttl_seconds = req->ttl_seconds;
  if ((req->image && !(p->image = strdup(req->image))) ||
      (req->cpu_limit && !(p->cpu_limit = strdup(req->cpu_limit))) ||
      (req->memory_limit && !(p->memory_limit = strdup(req->memory_limit))) ||
      (req->storage_limit && !(p->storage_limit = strdup(req->storage_limit))))
    return NOX_ENOMEM;
  return nox__local_parse_limits(p, &unused, msg, len);
}

void nox__local_start_op(nox__local_t *l, nox_req_t *req) {
  nox__local_job_t *job;
  char *name;
  int r = 0;

  if (req->op == NOX__OP_HEALTH) {
    nox__local_finish(req, 0);
    return;
  }
  job = nox__local_job_new(l, req);
  if (job == NULL) {
    nox__local_finish(req, NOX_ENOMEM);
    return;
  }
  job->done = finish_job;
  switch (req->op) {
  case NOX__OP_CREATE:
    job->run = create_run;
    job->done = create_done;
    r = copy_params(job, req, job->msg, sizeof(job->msg));
    break;
  case NOX__OP_TOUCH:
    job->run = touch_run;
    break;
  case NOX__OP_DELETE:
    /* Its commands die first, so nothing writes into what is removed. */
    name = nox__local_dirname(req->session_id);
    if (name == NULL)
      r = NOX_ENOMEM;
    else
      nox__local_exec_kill_sandbox(l, name, UINT64_MAX);
    free(name);
    job->run = delete_run;
    break;
  case NOX__OP_UPLOAD:
    job->run = upload_run;
    job->done = xfer_done;
    break;
  case NOX__OP_DOWNLOAD:
    job->run = download_run;
    job->done = xfer_done;
    break;
  case NOX__OP_EXEC:
    if (l->warn_unisolated) {
      l->warn_unisolated = false;
      fprintf(stderr, "noxrunner: warning: bubblewrap not available; local "
                      "sandbox commands run unisolated on the host\n");
    }
    if (l->warn_no_cgroup) {
      l->warn_no_cgroup = false;
      fprintf(stderr, "noxrunner: warning: no writable pids cgroup; local "
                      "sandbox commands have no process limit\n");
    }
    job->run = exec_run;
    job->done = exec_done;
    break;
  default:
    r = NOX_EINTERNAL;
    break;
  }
  if (r == 0 && (req->op == NOX__OP_UPLOAD || req->op == NOX__OP_DOWNLOAD ||
                 req->op == NOX__OP_EXEC)) {
    job->path = strdup(req->op == NOX__OP_EXEC ? req->workdir : req->path);
    if (job->path == NULL)
      r = NOX_ENOMEM;
  }
  if (r != 0) {
    job->status = r;
    finish_job(job);
    nox__local_job_free(job);
    return;
  }
  nox__local_job_queue(job);
}
