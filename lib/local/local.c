/*
 * The local backend's vtable, its per-client state, and jobs: disk work
 * run on libuv's work queue whose results come back to the loop.
 *
 * A job that outlives its request (canceled, or the client closing) still
 * runs to the end, since work in progress cannot be stopped; its result is
 * then dropped. The client's close waits for every job and every exec
 * state, so nothing a worker touches is freed under it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local/local.h"

#define URL_PREFIX "local:"

/* ---- jobs --------------------------------------------------------------- */

nox__local_job_t *nox__local_job_new(nox__local_t *l, nox_req_t *req) {
  nox__local_job_t *job = calloc(1, sizeof(*job));

  if (job == NULL)
    return NULL;
  job->kind = NOX__LOCAL_JOB;
  job->local = l;
  job->req = req;
  job->work.data = job;
  nox__list_init(&job->snode);
  if (req != NULL) {
    job->op = req->op;
    job->session_id = nox__strdup(req->session_id);
    if (req->session_id != NULL && job->session_id == NULL) {
      free(job);
      return NULL;
    }
  }
  return job;
}

void nox__local_job_free(nox__local_job_t *job) {
  char **p;

  free(job->session_id);
  free(job->path);
  nox__local_meta_free(&job->params);
  nox__buf_reset(&job->body);
  nox__local_meta_free(&job->meta);
  free(job->sandbox);
  free(job->workspace);
  free(job->hostdir);
  free(job->innerdir);
  if (job->cgroup != NULL)
    nox__local_cgroup_discard(job->cgroup);
  free(job->cgroup);
  nox__buf_reset(&job->data);
  for (p = job->reaped; p != NULL && *p != NULL; p++)
    free(*p);
  free(job->reaped);
  free(job);
}

static void job_work(uv_work_t *w) {
  nox__local_job_t *job = w->data;

  job->run(job);
}

/*
 * Jobs of one session id run one at a time, in the order they were queued:
 * a create that was canceled while a worker ran it still finishes, and a
 * delete queued after it must not overtake it (the sandbox would be made
 * again behind the delete). A parked job whose request went away is dropped
 * without running.
 */
static nox__local_job_t *busy_with(nox__local_t *l, const char *id) {
  for (nox__list_t *n = l->busy.next; n != &l->busy; n = n->next) {
    nox__local_job_t *j = nox__list_entry(n, nox__local_job_t, snode);
    if (strcmp(j->session_id, id) == 0)
      return j;
  }
  return NULL;
}

static void job_submit(nox__local_job_t *job);

static void unpark(nox__local_t *l, const char *id) {
  for (nox__list_t *n = l->parked.next; n != &l->parked; n = n->next) {
    nox__local_job_t *j = nox__list_entry(n, nox__local_job_t, snode);
    if (strcmp(j->session_id, id) != 0)
      continue;
    nox__list_remove(&j->snode);
    l->pending--; /* job_submit counts it again */
    if (j->req == NULL && !j->background) {
      nox__local_job_free(j); /* canceled while it waited */
      n = &l->parked;         /* the list changed: look again */
      continue;
    }
    job_submit(j);
    return;
  }
}

static void job_after(uv_work_t *w, int status) {
  nox__local_job_t *job = w->data;
  nox__local_t *l = job->local;
  (void)status;

  nox__list_remove(&job->snode);
  if (job->req != NULL) {
    job->req->backend_data = NULL;
    job->done(job);
  } else if (job->background) {
    job->done(job);
  }
  if (job->session_id != NULL)
    unpark(l, job->session_id);
  nox__local_job_free(job);
  l->pending--;
  nox__local_maybe_closed(l);
}

static void job_submit(nox__local_job_t *job) {
  nox__local_t *l = job->local;
  int r = uv_queue_work(l->client->loop, &job->work, job_work, job_after);

  if (r != 0) {
    if (job->req != NULL)
      nox__local_finish(job->req, NOX_EINTERNAL);
    nox__local_job_free(job);
    return;
  }
  if (job->session_id != NULL)
    nox__list_push_back(&l->busy, &job->snode);
  if (job->req != NULL)
    job->req->backend_data = job;
  l->pending++;
}

void nox__local_job_queue(nox__local_job_t *job) {
  nox__local_t *l = job->local;

  if (job->session_id != NULL && busy_with(l, job->session_id) != NULL) {
    nox__list_push_back(&l->parked, &job->snode);
    if (job->req != NULL)
      job->req->backend_data = job;
    l->pending++;
    return;
  }
  job_submit(job);
}

void nox__local_finish(nox_req_t *req, int status) {
  req->backend_data = NULL;
  nox__req_complete(req, status);
}

/* ---- client ------------------------------------------------------------- */

/*
 * The root from the base URL: "local:" is $TMPDIR/noxrunner-UID (made
 * private to us), "local:///dir" or "local:/dir" is dir.
 */
static int root_path(const char *url, char **out, bool *is_default) {
  const char *rest = url + sizeof(URL_PREFIX) - 1, *tmp;
  char *p;

  *is_default = false;
  if (*rest == '\0') {
    tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] != '/')
      tmp = "/tmp";
    p = malloc(strlen(tmp) + 40);
    if (p == NULL)
      return NOX_ENOMEM;
    sprintf(p, "%s/noxrunner-%lu", tmp, (unsigned long)geteuid());
    *is_default = true;
    *out = p;
    return 0;
  }
  if (strncmp(rest, "//", 2) == 0)
    rest += 2; /* an empty authority: local:///dir */
  if (rest[0] != '/')
    return NOX_EINVAL;
  *out = strdup(rest);
  return *out ? 0 : NOX_ENOMEM;
}

/* mkdir -p, the last component with mode. */
static int make_dirs(char *path, mode_t mode) {
  char *p;

  for (p = path + 1; *p != '\0'; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
      *p = '/';
      return -1;
    }
    *p = '/';
  }
  return mkdir(path, mode) != 0 && errno != EEXIST ? -1 : 0;
}

static int open_root(nox__local_t *l, const char *url) {
  struct stat st;
  bool is_default;
  char *path = NULL;
  int r = root_path(url, &path, &is_default);

  if (r != 0)
    return r;
  if (make_dirs(path, 0700) != 0 || lstat(path, &st) != 0 ||
      !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "noxrunner: cannot use %s as the local root: %s\n", path,
            strerror(errno ? errno : ENOTDIR));
    free(path);
    return NOX_EIO;
  }
  /* In a shared /tmp, refuse a directory someone else planted for us. */
  if (is_default && (st.st_uid != geteuid() || (st.st_mode & 077) != 0)) {
    fprintf(stderr, "noxrunner: %s is not a private directory of ours\n", path);
    free(path);
    return NOX_EIO;
  }
  l->root = realpath(path, NULL);
  free(path);
  return l->root ? 0 : NOX_EIO;
}

static void local_free(nox__local_t *l) {
  /* Every transfer was released (its stream aborted): joins are short. */
  nox__pool_free(l->tar_pool);
  nox__local_cgroup_free(l);
  free(l->root);
  nox__local_isolation_free(l);
  free(l);
}

static int local_init(nox_client_t *c) {
  nox__local_t *l = calloc(1, sizeof(*l));
  int r;

  if (l == NULL)
    return NOX_ENOMEM;
  l->client = c;
  nox__list_init(&l->execs);
  nox__list_init(&l->busy);
  nox__list_init(&l->parked);
  r = open_root(l, c->base_url);
  if (r == 0)
    r = nox__local_isolation_init(l);
  if (r == 0)
    r = nox__local_cgroup_init(l);
  if (r == 0)
    r = nox__local_reaper_init(l);
  if (r != 0) {
    local_free(l);
    return r;
  }
  c->backend_data = l;
  return 0;
}

static void local_start(nox_req_t *req) {
  nox__local_start_op(req->client->backend_data, req);
}

static void detach(nox_req_t *req) {
  nox__local_kind_t *kind = req->backend_data;

  if (kind == NULL)
    return;
  if (*kind == NOX__LOCAL_XFER) {
    nox__local_xfer_abort((nox__local_xfer_t *)kind);
    return;
  }
  req->backend_data = NULL;
  if (*kind == NOX__LOCAL_JOB)
    ((nox__local_job_t *)kind)->req = NULL;
  else
    nox__local_exec_abort(kind);
}

static void release(nox_req_t *req) {
  nox__local_kind_t *kind = req->backend_data;
  if (kind != NULL && *kind == NOX__LOCAL_XFER)
    nox__local_xfer_free((nox__local_xfer_t *)kind);
  else
    detach(req);
}

static void local_close(nox_client_t *c) {
  nox__local_t *l = c->backend_data;

  l->closing = true;
  nox__local_reaper_close(l);
  nox__local_maybe_closed(l);
}

void nox__local_maybe_closed(nox__local_t *l) {
  nox_client_t *c = l->client;

  if (!l->closing || l->pending > 0)
    return;
  c->backend_data = NULL;
  local_free(l);
  nox__client_backend_closed(c);
}

const nox__backend_t nox__local_backend = {
    .name = "local",
    .init = local_init,
    .start = local_start,
    .abort = detach,
    .release = release,
    .close = local_close,
    .resume = nox__local_xfer_resume,
};
