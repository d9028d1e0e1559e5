/*
 * Requests: argument checks and copies, complete-once, cancel, the per-
 * request timer, and the callback dispatch that ends a request's life.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tar/tar.h"

/* ---- lifecycle ---------------------------------------------------------- */

void nox__strv_free(char **v) {
  if (v == NULL)
    return;
  for (char **p = v; *p; p++)
    free(*p);
  free(v);
}

#define free_strv nox__strv_free

static void free_files(nox_file_t *files, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free((char *)files[i].path);
    free((void *)files[i].data);
  }
  free(files);
}

static void req_free_fields(nox_req_t *req) {
  free(req->session_id);
  free_strv(req->argv);
  free_strv(req->env);
  free(req->workdir);
  free(req->image);
  free(req->cpu_limit);
  free(req->memory_limit);
  free(req->storage_limit);
  free(req->path);
  nox__buf_reset(&req->body);
  free_files(req->files, req->nfiles);
  free(req->src_dir);
  free_strv(req->include);
  free_strv(req->exclude);
  free(req->extract_dir);
  nox__buf_reset(&req->out);
  nox__buf_reset(&req->errbuf);
  nox__buf_reset(&req->pod_name);
  nox__buf_reset(&req->expires_at);
}

static void on_timer_closed(uv_handle_t *h) {
  nox_req_t *req = h->data;
  free(h);
  free(req);
}

/* Ends a request's life once its callback has returned. */
static void req_release(nox_req_t *req) {
  nox_client_t *c = req->client;
  nox__list_remove(&req->node);
  c->nreqs--;
  if (req->backend_data != NULL && req->op != NOX__OP_WAIT)
    c->backend->release(req);
  req_free_fields(req);
  if (req->timer != NULL) {
    req->timer->data = req;
    uv_close((uv_handle_t *)req->timer, on_timer_closed);
  } else {
    free(req);
  }
}

void nox__req_complete(nox_req_t *req, int status) {
  if (req->state == NOX__REQ_DONE)
    return;
  if (req->canceled && status != NOX_ECLOSING)
    status = NOX_ECANCELED;
  req->status = status;
  req->state = NOX__REQ_DONE;
  nox__admission_done(req);
  nox__req_stop_timer(req);
  if (status != 0 && req->err.message[0] == '\0')
    nox__req_set_message(req, "%s", nox_strerror(status));
  nox__list_remove(&req->cnode);
  nox__list_remove(&req->qnode);
  nox__list_push_back(&req->client->done_q, &req->qnode);
  nox__client_wake(req->client);
}

void nox__req_dispatch(nox_req_t *req) {
  nox_client_t *c = req->client;
  int st = req->status;
  req->err.code = st;

  c->in_dispatch++;
  if (req->observer != NULL)
    req->observer(req, st);
  if (req->internal) {
    req->internal_cb(req, st);
  } else if (req->op == NOX__OP_CREATE) {
    req->info.pod_name = req->pod_name.data ? req->pod_name.data : "";
    req->info.expires_at = req->expires_at.data ? req->expires_at.data : "";
    req->info.expires_at_unix = nox__parse_iso8601(req->info.expires_at);
    req->cb.create(req, st, st == 0 ? &req->info : NULL);
  } else if (req->op == NOX__OP_EXEC) {
    req->result.out = req->out.data ? req->out.data : "";
    req->result.out_len = req->out.len;
    req->result.err = req->errbuf.data ? req->errbuf.data : "";
    req->result.err_len = req->errbuf.len;
    req->cb.exec(req, st, st == 0 ? &req->result : NULL);
  } else {
    req->cb.done(req, st);
  }
  c->in_dispatch--;
  req_release(req);
}

void nox__req_set_message(nox_req_t *req, const char *fmt, ...) {
  if (req->err.message[0] != '\0')
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(req->err.message, sizeof(req->err.message), fmt, ap);
  va_end(ap);
}

static void on_req_timer(uv_timer_t *t) {
  nox_req_t *req = t->data;
  void (*cb)(nox_req_t *) = req->timer_cb;
  req->timer_cb = NULL;
  if (cb)
    cb(req);
}

int nox__req_start_timer(nox_req_t *req, uint64_t ms,
                         void (*cb)(nox_req_t *req)) {
  if (req->timer == NULL) {
    req->timer = malloc(sizeof(*req->timer));
    if (req->timer == NULL)
      return NOX_ENOMEM;
    uv_timer_init(req->client->loop, req->timer);
    req->timer->data = req;
  }
  req->timer_cb = cb;
  uv_timer_start(req->timer, on_req_timer, ms, 0);
  return 0;
}

void nox__req_stop_timer(nox_req_t *req) {
  if (req->timer != NULL)
    uv_timer_stop(req->timer);
  req->timer_cb = NULL;
}

/* ---- public accessors --------------------------------------------------- */

int nox_req_cancel(nox_req_t *req) {
  if (req == NULL)
    return NOX_EINVAL;
  if (req->state == NOX__REQ_DONE)
    return NOX_EALREADY;
  if (req->canceled)
    return 0;
  req->canceled = true;
  if (req->state == NOX__REQ_NEW) {
    nox__req_complete(req, NOX_ECANCELED);
  } else {
    nox__list_push_back(&req->client->cancel_q, &req->cnode);
    nox__client_wake(req->client);
  }
  return 0;
}

void *nox_req_data(const nox_req_t *req) {
  return req ? req->data : NULL;
}

nox_client_t *nox_req_client(const nox_req_t *req) {
  return req ? req->client : NULL;
}

const nox_error_t *nox_req_error(const nox_req_t *req) {
  return req ? &req->err : NULL;
}

unsigned nox_req_attempts(const nox_req_t *req) {
  return req ? req->attempts : 0;
}

/* ---- starting requests -------------------------------------------------- */

static int check_client(nox_client_t *c) {
  if (c == NULL)
    return NOX_EINVAL;
  if (c->closing)
    return NOX_ECLOSING;
  return 0;
}

static int check_session_id(const char *id) {
  if (id == NULL || id[0] == '\0' || strlen(id) > NOX__MAX_SESSION_ID)
    return NOX_EINVAL;
  return 0;
}

static nox_req_t *req_alloc(nox_client_t *c, nox__op_t op, void *data) {
  nox_req_t *req = calloc(1, sizeof(*req));
  if (req == NULL)
    return NULL;
  req->client = c;
  req->op = op;
  req->state = NOX__REQ_NEW;
  req->data = data;
  req->result.duration_ms = -1;
  nox__list_init(&req->node);
  nox__list_init(&req->qnode);
  nox__list_init(&req->cnode);
  return req;
}

static void req_discard(nox_req_t *req) {
  req_free_fields(req);
  free(req);
}

/*
 * Lets the backend check the request, then queues it to be started from the
 * loop. On error the request is freed and the code returned to the user.
 */
static int req_submit(nox_req_t *req, nox_req_t **out) {
  nox_client_t *c = req->client;
  if (c->backend->prepare != NULL && req->op != NOX__OP_WAIT) {
    int err = c->backend->prepare(req);
    if (err != 0) {
      if (c->backend->release != NULL && req->backend_data != NULL)
        c->backend->release(req);
      req_discard(req);
      return err;
    }
  }
  nox__list_push_back(&c->reqs, &req->node);
  c->nreqs++;
  nox__list_push_back(&c->start_q, &req->qnode);
  nox__client_wake(c);
  if (out)
    *out = req;
  return 0;
}

static int begin(nox_client_t *c, nox__op_t op, const char *session_id,
                 const void *cb, void *data, nox_req_t **reqp) {
  int err = check_client(c);
  if (err == 0 && cb == NULL)
    err = NOX_EINVAL;
  if (err == 0 && op != NOX__OP_HEALTH)
    err = check_session_id(session_id);
  if (err != 0)
    return err;
  nox_req_t *req = req_alloc(c, op, data);
  if (req == NULL)
    return NOX_ENOMEM;
  if (session_id != NULL && (req->session_id = strdup(session_id)) == NULL) {
    free(req);
    return NOX_ENOMEM;
  }
  *reqp = req;
  return 0;
}

int nox_health(nox_req_t **out, nox_client_t *c, nox_req_cb cb, void *data) {
  nox_req_t *req;
  int err = begin(c, NOX__OP_HEALTH, NULL, (const void *)cb, data, &req);
  if (err != 0)
    return err;
  req->cb.done = cb;
  return req_submit(req, out);
}

static int dup_opt(char **dst, const char *src) {
  if (src == NULL)
    return 0;
  *dst = strdup(src);
  return *dst ? 0 : NOX_ENOMEM;
}

int nox_create(nox_req_t **out, nox_client_t *c, const char *session_id,
               const nox_create_options_t *opts, nox_create_cb cb, void *data) {
  static const nox_create_options_t defaults = NOX_CREATE_OPTIONS_INIT;
  if (opts == NULL)
    opts = &defaults;
  if (opts->version != NOX_CREATE_OPTIONS_VERSION)
    return NOX_EINVAL;
  nox_req_t *req;
  int err = begin(c, NOX__OP_CREATE, session_id, (const void *)cb, data, &req);
  if (err != 0)
    return err;
  req->cb.create = cb;
  req->ttl_seconds =
      opts->ttl_seconds ? opts->ttl_seconds : NOX__DEFAULT_TTL_SECONDS;
  if (dup_opt(&req->image, opts->image) ||
      dup_opt(&req->cpu_limit, opts->cpu_limit) ||
      dup_opt(&req->memory_limit, opts->memory_limit) ||
      dup_opt(&req->storage_limit, opts->ephemeral_storage_limit)) {
    req_discard(req);
    return NOX_ENOMEM;
  }
  return req_submit(req, out);
}

int nox_touch(nox_req_t **out, nox_client_t *c, const char *session_id,
              nox_req_cb cb, void *data) {
  nox_req_t *req;
  int err = begin(c, NOX__OP_TOUCH, session_id, (const void *)cb, data, &req);
  if (err != 0)
    return err;
  req->cb.done = cb;
  return req_submit(req, out);
}

int nox_delete(nox_req_t **out, nox_client_t *c, const char *session_id,
               nox_req_cb cb, void *data) {
  nox_req_t *req;
  int err = begin(c, NOX__OP_DELETE, session_id, (const void *)cb, data, &req);
  if (err != 0)
    return err;
  req->cb.done = cb;
  return req_submit(req, out);
}

/* Copies a NULL-terminated string array; NOX_EINVAL if check rejects one. */
static int dup_strv(char ***dst, const char *const *src,
                    int (*check)(const char *)) {
  size_t n = 0;
  while (src[n] != NULL) {
    if (check && check(src[n]) != 0)
      return NOX_EINVAL;
    n++;
  }
  char **v = calloc(n + 1, sizeof(*v));
  if (v == NULL)
    return NOX_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    if ((v[i] = strdup(src[i])) == NULL) {
      free_strv(v);
      return NOX_ENOMEM;
    }
  }
  *dst = v;
  return 0;
}

static int check_utf8(const char *s) {
  return nox__utf8_valid(s, strlen(s)) ? 0 : NOX_EINVAL;
}

static int check_env_entry(const char *kv) {
  const char *eq = strchr(kv, '=');
  return (eq == NULL || eq == kv) ? NOX_EINVAL : check_utf8(kv);
}

static int start_exec(nox_req_t **out, nox_client_t *c, const char *session_id,
                      const char *const argv[], const nox_exec_options_t *opts,
                      nox_exec_cb cb, void *data, nox__op_t op) {
  static const nox_exec_options_t defaults = NOX_EXEC_OPTIONS_INIT;
  if (opts == NULL)
    opts = &defaults;
  if (opts->version != NOX_EXEC_OPTIONS_VERSION || argv == NULL ||
      argv[0] == NULL ||
      (opts->workdir != NULL && check_utf8(opts->workdir) != 0))
    return NOX_EINVAL;
  nox_req_t *req;
  int err = begin(c, op, session_id, (const void *)cb, data, &req);
  if (err != 0)
    return err;
  req->cb.exec = cb;
  req->timeout_seconds = opts->timeout_seconds ? opts->timeout_seconds
                                               : NOX__DEFAULT_EXEC_TIMEOUT_S;
  err = dup_strv(&req->argv, argv, check_utf8);
  if (err == 0 && opts->env != NULL)
    err = dup_strv(&req->env, opts->env, check_env_entry);
  if (err == 0)
    err = dup_opt(&req->workdir,
                  opts->workdir ? opts->workdir : NOX__DEFAULT_WORKDIR);
  if (err != 0) {
    req_discard(req);
    return err;
  }
  return req_submit(req, out);
}

int nox_exec(nox_req_t **out, nox_client_t *c, const char *session_id,
             const char *const argv[], const nox_exec_options_t *opts,
             nox_exec_cb cb, void *data) {
  return start_exec(out, c, session_id, argv, opts, cb, data, NOX__OP_EXEC);
}

int nox_exec_shell(nox_req_t **out, nox_client_t *c, const char *session_id,
                   const char *shell, const char *script,
                   const nox_exec_options_t *opts, nox_exec_cb cb, void *data) {
  if (shell == NULL)
    shell = "sh";
  if (strcmp(shell, "sh") != 0 && strcmp(shell, "bash") != 0)
    return NOX_EBADSHELL;
  if (script == NULL)
    return NOX_EINVAL;
  const char *argv[] = {shell, "-c", script, NULL};
  return start_exec(out, c, session_id, argv, opts, cb, data, NOX__OP_EXEC);
}

static int copy_files(nox_req_t *req, const nox_file_t *files, size_t n) {
  req->files = calloc(n, sizeof(*req->files));
  if (req->files == NULL)
    return NOX_ENOMEM;
  req->nfiles = n;
  for (size_t i = 0; i < n; i++) {
    nox_file_t *f = &req->files[i];
    f->mode = files[i].mode;
    f->len = files[i].len;
    f->path = strdup(files[i].path);
    /* One spare byte so an empty file still has a buffer. */
    f->data = malloc(files[i].len + 1);
    if (f->path == NULL || f->data == NULL)
      return NOX_ENOMEM;
    if (files[i].len > 0)
      memcpy((void *)f->data, files[i].data, files[i].len);
  }
  return 0;
}

int nox_upload(nox_req_t **out, nox_client_t *c, const char *session_id,
               const nox_upload_options_t *opts, nox_req_cb cb, void *data) {
  if (opts == NULL || opts->version != NOX_UPLOAD_OPTIONS_VERSION)
    return NOX_EINVAL;
  bool have_files = opts->nfiles > 0;
  bool have_archive = opts->archive != NULL && opts->archive_len > 0;
  bool have_dir = opts->dir != NULL;
  bool have_read = opts->read != NULL;
  if (have_files + have_archive + have_dir + have_read != 1 ||
      (have_files && opts->files == NULL) || (have_dir && opts->dir[0] == '\0'))
    return NOX_EINVAL;
  for (size_t i = 0; have_files && i < opts->nfiles; i++) {
    if (!nox__tar_path_is_safe(opts->files[i].path) ||
        (opts->files[i].data == NULL && opts->files[i].len > 0))
      return NOX_EINVAL;
  }
  nox_req_t *req;
  int err = begin(c, NOX__OP_UPLOAD, session_id, (const void *)cb, data, &req);
  if (err != 0)
    return err;
  req->cb.done = cb;
  req->read_cb = opts->read;
  req->progress_cb = opts->progress;
  err = dup_opt(&req->path, opts->dest ? opts->dest : NOX__DEFAULT_WORKDIR);
  if (err == 0 && have_archive)
    err = nox__buf_append(&req->body, opts->archive, opts->archive_len);
  if (err == 0 && have_files)
    err = copy_files(req, opts->files, opts->nfiles);
  if (err == 0 && have_dir)
    err = dup_opt(&req->src_dir, opts->dir);
  if (err == 0 && have_dir && opts->include != NULL)
    err = dup_strv(&req->include, opts->include, NULL);
  if (err == 0 && have_dir && opts->exclude != NULL)
    err = dup_strv(&req->exclude, opts->exclude, NULL);
  if (err != 0) {
    req_discard(req);
    return err;
  }
  return req_submit(req, out);
}

int nox_download(nox_req_t **out, nox_client_t *c, const char *session_id,
                 const nox_download_options_t *opts, nox_data_cb on_data,
                 nox_req_cb cb, void *data) {
  static const nox_download_options_t defaults = NOX_DOWNLOAD_OPTIONS_INIT;
  if (opts == NULL)
    opts = &defaults;
  bool have_dir = opts->extract_dir != NULL;
  bool have_entry = opts->on_entry != NULL;
  if (opts->version != NOX_DOWNLOAD_OPTIONS_VERSION ||
      (on_data == NULL && !have_dir && !have_entry) ||
      (have_dir && have_entry) || (have_dir && opts->extract_dir[0] == '\0'))
    return NOX_EINVAL;
  nox_req_t *req;
  int err =
      begin(c, NOX__OP_DOWNLOAD, session_id, (const void *)cb, data, &req);
  if (err != 0)
    return err;
  req->cb.done = cb;
  req->on_data = on_data;
  req->on_entry = opts->on_entry;
  req->limits = opts->limits;
  req->progress_cb = opts->progress;
  err = dup_opt(&req->path, opts->src ? opts->src : NOX__DEFAULT_WORKDIR);
  if (err == 0 && have_dir)
    err = dup_opt(&req->extract_dir, opts->extract_dir);
  if (err != 0) {
    req_discard(req);
    return err;
  }
  return req_submit(req, out);
}

int nox_req_resume(nox_req_t *req) {
  if (req == NULL || (req->op != NOX__OP_UPLOAD && req->op != NOX__OP_DOWNLOAD))
    return NOX_EINVAL;
  if (req->state == NOX__REQ_DONE || req->canceled)
    return NOX_EALREADY;
  if (req->state != NOX__REQ_RUNNING || req->client->backend->resume == NULL)
    return NOX_EINVAL;
  return req->client->backend->resume(req);
}

const nox_transfer_report_t *nox_req_transfer(const nox_req_t *req) {
  if (req == NULL || (req->op != NOX__OP_UPLOAD && req->op != NOX__OP_DOWNLOAD))
    return NULL;
  return &req->transfer;
}

int nox_wait_ready(nox_req_t **out, nox_client_t *c, const char *session_id,
                   const nox_wait_options_t *opts, nox_req_cb cb, void *data) {
  static const nox_wait_options_t defaults = NOX_WAIT_OPTIONS_INIT;
  if (opts == NULL)
    opts = &defaults;
  if (opts->version != NOX_WAIT_OPTIONS_VERSION)
    return NOX_EINVAL;
  nox_req_t *req;
  int err = begin(c, NOX__OP_WAIT, session_id, (const void *)cb, data, &req);
  if (err != 0)
    return err;
  req->cb.done = cb;
  req->wait_timeout_ms = opts->timeout_ms ? opts->timeout_ms : 30000;
  req->wait_interval_ms = opts->interval_ms ? opts->interval_ms : 2000;
  return req_submit(req, out);
}

/*
 * Starts a request on behalf of the library (a wait-ready probe). It lives
 * like any other request but reports to cb instead of a user callback.
 */
int nox__req_start_probe(nox_req_t *parent, nox_req_t **probe,
                         void (*cb)(nox_req_t *req, int status)) {
  static const char *const argv[] = {"echo", "ready", NULL};
  nox_client_t *c = parent->client;
  nox_req_t *req = req_alloc(c, NOX__OP_EXEC, NULL);
  if (req == NULL)
    return NOX_ENOMEM;
  req->internal = true;
  req->internal_cb = cb;
  req->parent = parent;
  uint64_t left = parent->deadline_ms > uv_now(c->loop)
                      ? parent->deadline_ms - uv_now(c->loop)
                      : 0;
  req->timeout_seconds = (uint32_t)(left / 1000 + 1);
  if (req->timeout_seconds > 10)
    req->timeout_seconds = 10;
  if ((req->session_id = strdup(parent->session_id)) == NULL ||
      dup_strv(&req->argv, argv, NULL) != 0 ||
      dup_opt(&req->workdir, NOX__DEFAULT_WORKDIR) != 0) {
    req_discard(req);
    return NOX_ENOMEM;
  }
  int err = req_submit(req, NULL);
  if (err == 0)
    *probe = req;
  return err;
}

int nox__req_start_internal(nox_client_t *c, nox__op_t op, const char *id,
                            void (*cb)(nox_req_t *req, int status), void *data,
                            nox_req_t **out) {
  if (c->closing && !c->close_deferred)
    return NOX_ECLOSING;
  nox_req_t *req = req_alloc(c, op, data);
  if (req == NULL)
    return NOX_ENOMEM;
  req->internal = true;
  req->internal_cb = cb;
  if ((req->session_id = strdup(id)) == NULL) {
    free(req);
    return NOX_ENOMEM;
  }
  return req_submit(req, out);
}
