/*
 * Starting requests: each public starter checks its arguments, says which
 * one broke which rule when one does (nox_client_last_error()), copies what
 * it keeps and queues the request to be started from the loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tar/tar.h"

/* Most bytes of a caller's string quoted in a message. */
#define QUOTE_MAX 96

#define FAIL(c, ...) nox__api_fail((c), NOX_EINVAL, __VA_ARGS__)

/* ---- argument checks ---------------------------------------------------- */

static int check_client(nox_client_t *c, const char *fn) {
  if (c == NULL)
    return NOX_EINVAL; /* nowhere to say so: the only code without detail */
  if (c->closing)
    return nox__api_fail(c, NOX_ECLOSING,
                         "%s: the client is closing (nox_client_close() "
                         "was called)",
                         fn);
  return 0;
}

static int check_session_id(nox_client_t *c, const char *fn, const char *id) {
  if (id == NULL)
    return FAIL(c, "%s: session_id is NULL", fn);
  if (id[0] == '\0')
    return FAIL(c, "%s: session_id is empty", fn);
  size_t n = strlen(id);
  if (n > NOX__MAX_SESSION_ID)
    return FAIL(c, "%s: session_id is %zu bytes long, over the limit of %u",
                fn, n, NOX__MAX_SESSION_ID);
  return 0;
}

/* The checks every operation shares: the client, the id and the callback. */
static int check_common(nox_client_t *c, const char *fn, nox__op_t op,
                        const char *session_id, const void *cb) {
  int err = check_client(c, fn);
  if (err == 0 && op != NOX__OP_HEALTH)
    err = check_session_id(c, fn, session_id);
  if (err == 0 && cb == NULL)
    err = FAIL(c, "%s: cb is NULL (a completion callback is required)", fn);
  return err;
}

static int check_version(nox_client_t *c, const char *fn, unsigned got,
                         unsigned want, const char *init) {
  if (got == want)
    return 0;
  return FAIL(c, "%s: opts->version is %u, not %u: initialise opts with %s",
              fn, got, want, init);
}

static int check_utf8(nox_client_t *c, const char *fn, const char *what,
                      size_t i, const char *s) {
  if (nox_utf8_valid(s, strlen(s)))
    return 0;
  if (i == (size_t)-1)
    return FAIL(c, "%s: %s is not valid UTF-8", fn, what);
  return FAIL(c, "%s: %s[%zu] is not valid UTF-8", fn, what, i);
}

static int check_argv(nox_client_t *c, const char *fn,
                      const char *const argv[]) {
  if (argv == NULL || argv[0] == NULL)
    return FAIL(c, "%s: argv is NULL or empty (it needs at least the program)",
                fn);
  for (size_t i = 0; argv[i] != NULL; i++) {
    int err = check_utf8(c, fn, "argv", i, argv[i]);
    if (err != 0)
      return err;
  }
  return 0;
}

static int check_env(nox_client_t *c, const char *fn, const char *const *env) {
  for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
    const char *eq = strchr(env[i], '=');
    if (eq == NULL || eq == env[i])
      return FAIL(c,
                  "%s: opts->env[%zu] \"%.*s\" is not NAME=value with a "
                  "non-empty NAME",
                  fn, i, QUOTE_MAX, env[i]);
    int err = check_utf8(c, fn, "opts->env", i, env[i]);
    if (err != 0)
      return err;
  }
  return 0;
}

/* Why nox__tar_path_is_safe() refused path (not NULL). */
static const char *path_rule(const char *path) {
  if (path[0] == '\0')
    return "must not be empty";
  if (path[0] == '/')
    return "must be a relative path, not an absolute one";
  for (const char *p = path;;) {
    size_t n = strcspn(p, "/");
    if (n == 2 && p[0] == '.' && p[1] == '.')
      return "must be a relative path without \"..\"";
    if (p[n] == '\0')
      break;
    p += n + 1;
  }
  return "must name a file (not end in \"/\" or \"/.\")";
}

static int check_files(nox_client_t *c, const char *fn, const nox_file_t *f,
                       size_t n) {
  if (f == NULL)
    return FAIL(c, "%s: opts->nfiles is %zu but opts->files is NULL", fn, n);
  for (size_t i = 0; i < n; i++) {
    if (f[i].path == NULL)
      return FAIL(c, "%s: opts->files[%zu].path is NULL", fn, i);
    if (!nox__tar_path_is_safe(f[i].path))
      return FAIL(c, "%s: file name \"%.*s\" (opts->files[%zu].path) %s", fn,
                  QUOTE_MAX, f[i].path, i, path_rule(f[i].path));
    if (f[i].data == NULL && f[i].len > 0)
      return FAIL(c, "%s: opts->files[%zu].data is NULL but its len is %zu",
                  fn, i, f[i].len);
  }
  return 0;
}

/* ---- making and queueing requests --------------------------------------- */

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

/* A request for a checked call, with its session id copied. */
static int begin(nox_client_t *c, nox__op_t op, const char *session_id,
                 void *data, nox_req_t **reqp) {
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
      nox__req_discard(req);
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

static int dup_opt(char **dst, const char *src) {
  if (src == NULL)
    return 0;
  *dst = strdup(src);
  return *dst ? 0 : NOX_ENOMEM;
}

/* Copies a NULL-terminated string array (already checked). */
static int dup_strv(char ***dst, const char *const *src) {
  size_t n = 0;
  while (src[n] != NULL)
    n++;
  char **v = calloc(n + 1, sizeof(*v));
  if (v == NULL)
    return NOX_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    if ((v[i] = strdup(src[i])) == NULL) {
      nox__strv_free(v);
      return NOX_ENOMEM;
    }
  }
  *dst = v;
  return 0;
}

/* ---- the operations ----------------------------------------------------- */

static int simple_start(const char *fn, nox__op_t op, nox_req_t **out,
                        nox_client_t *c, const char *session_id, nox_req_cb cb,
                        void *data) {
  nox_req_t *req;
  int err = check_common(c, fn, op, session_id, (const void *)cb);
  if (err == 0)
    err = begin(c, op, session_id, data, &req);
  if (err != 0)
    return err;
  req->cb.done = cb;
  return req_submit(req, out);
}

int nox__simple_start(const char *fn, nox__op_t op, nox_req_t **out,
                      nox_client_t *c, const char *session_id, nox_req_cb cb,
                      void *data) {
  nox__api_enter(c);
  return nox__api_leave(c, fn,
                        simple_start(fn, op, out, c, session_id, cb, data));
}

int nox_health(nox_req_t **out, nox_client_t *c, nox_req_cb cb, void *data) {
  return nox__simple_start("nox_health", NOX__OP_HEALTH, out, c, NULL, cb,
                           data);
}

int nox_touch(nox_req_t **out, nox_client_t *c, const char *session_id,
              nox_req_cb cb, void *data) {
  return nox__simple_start("nox_touch", NOX__OP_TOUCH, out, c, session_id, cb,
                           data);
}

int nox_delete(nox_req_t **out, nox_client_t *c, const char *session_id,
               nox_req_cb cb, void *data) {
  return nox__simple_start("nox_delete", NOX__OP_DELETE, out, c, session_id,
                           cb, data);
}

static int create_start(const char *fn, nox_req_t **out, nox_client_t *c,
                        const char *session_id,
                        const nox_create_options_t *opts, nox_create_cb cb,
                        void *data) {
  static const nox_create_options_t defaults = NOX_CREATE_OPTIONS_INIT;
  if (opts == NULL)
    opts = &defaults;
  nox_req_t *req;
  int err = check_common(c, fn, NOX__OP_CREATE, session_id, (const void *)cb);
  if (err == 0)
    err = check_version(c, fn, opts->version, NOX_CREATE_OPTIONS_VERSION,
                        "NOX_CREATE_OPTIONS_INIT");
  if (err == 0)
    err = begin(c, NOX__OP_CREATE, session_id, data, &req);
  if (err != 0)
    return err;
  req->cb.create = cb;
  req->ttl_seconds =
      opts->ttl_seconds ? opts->ttl_seconds : NOX__DEFAULT_TTL_SECONDS;
  if (dup_opt(&req->image, opts->image) ||
      dup_opt(&req->cpu_limit, opts->cpu_limit) ||
      dup_opt(&req->memory_limit, opts->memory_limit) ||
      dup_opt(&req->storage_limit, opts->ephemeral_storage_limit)) {
    nox__req_discard(req);
    return NOX_ENOMEM;
  }
  return req_submit(req, out);
}

int nox__create_start(const char *fn, nox_req_t **out, nox_client_t *c,
                      const char *session_id, const nox_create_options_t *opts,
                      nox_create_cb cb, void *data) {
  nox__api_enter(c);
  return nox__api_leave(c, fn,
                        create_start(fn, out, c, session_id, opts, cb, data));
}

int nox_create(nox_req_t **out, nox_client_t *c, const char *session_id,
               const nox_create_options_t *opts, nox_create_cb cb, void *data) {
  return nox__create_start("nox_create", out, c, session_id, opts, cb, data);
}

/* argv is the caller's (nox_exec) or made from the script (nox_exec_shell). */
static int exec_start(const char *fn, nox_req_t **out, nox_client_t *c,
                      const char *session_id, const char *const argv[],
                      const nox_exec_options_t *opts, nox_exec_cb cb,
                      void *data) {
  static const nox_exec_options_t defaults = NOX_EXEC_OPTIONS_INIT;
  if (opts == NULL)
    opts = &defaults;
  nox_req_t *req;
  int err = check_common(c, fn, NOX__OP_EXEC, session_id, (const void *)cb);
  if (err == 0)
    err = check_version(c, fn, opts->version, NOX_EXEC_OPTIONS_VERSION,
                        "NOX_EXEC_OPTIONS_INIT");
  if (err == 0)
    err = check_argv(c, fn, argv);
  if (err == 0)
    err = check_env(c, fn, opts->env);
  if (err == 0 && opts->workdir != NULL)
    err = check_utf8(c, fn, "opts->workdir", (size_t)-1, opts->workdir);
  if (err == 0)
    err = begin(c, NOX__OP_EXEC, session_id, data, &req);
  if (err != 0)
    return err;
  req->cb.exec = cb;
  req->timeout_seconds = opts->timeout_seconds ? opts->timeout_seconds
                                               : NOX__DEFAULT_EXEC_TIMEOUT_S;
  err = dup_strv(&req->argv, argv);
  if (err == 0 && opts->env != NULL)
    err = dup_strv(&req->env, opts->env);
  if (err == 0)
    err = dup_opt(&req->workdir,
                  opts->workdir ? opts->workdir : NOX__DEFAULT_WORKDIR);
  if (err != 0) {
    nox__req_discard(req);
    return err;
  }
  return req_submit(req, out);
}

int nox__exec_start(const char *fn, nox_req_t **out, nox_client_t *c,
                    const char *session_id, const char *const argv[],
                    const nox_exec_options_t *opts, nox_exec_cb cb,
                    void *data) {
  nox__api_enter(c);
  return nox__api_leave(
      c, fn, exec_start(fn, out, c, session_id, argv, opts, cb, data));
}

int nox_exec(nox_req_t **out, nox_client_t *c, const char *session_id,
             const char *const argv[], const nox_exec_options_t *opts,
             nox_exec_cb cb, void *data) {
  return nox__exec_start("nox_exec", out, c, session_id, argv, opts, cb, data);
}

static int exec_shell_start(const char *fn, nox_req_t **out, nox_client_t *c,
                            const char *session_id, const char *shell,
                            const char *script, const nox_exec_options_t *opts,
                            nox_exec_cb cb, void *data) {
  int err = check_client(c, fn);
  if (err != 0)
    return err;
  if (shell == NULL)
    shell = "sh";
  if (strcmp(shell, "sh") != 0 && strcmp(shell, "bash") != 0)
    return nox__api_fail(c, NOX_EBADSHELL,
                         "%s: shell \"%.*s\" is not supported: use \"sh\", "
                         "\"bash\" or NULL (sh)",
                         fn, QUOTE_MAX, shell);
  if (script == NULL)
    return FAIL(c, "%s: script is NULL", fn);
  if ((err = check_utf8(c, fn, "script", (size_t)-1, script)) != 0)
    return err;
  const char *argv[] = {shell, "-c", script, NULL};
  return exec_start(fn, out, c, session_id, argv, opts, cb, data);
}

int nox__exec_shell_start(const char *fn, nox_req_t **out, nox_client_t *c,
                          const char *session_id, const char *shell,
                          const char *script, const nox_exec_options_t *opts,
                          nox_exec_cb cb, void *data) {
  nox__api_enter(c);
  return nox__api_leave(c, fn,
                        exec_shell_start(fn, out, c, session_id, shell, script,
                                         opts, cb, data));
}

int nox_exec_shell(nox_req_t **out, nox_client_t *c, const char *session_id,
                   const char *shell, const char *script,
                   const nox_exec_options_t *opts, nox_exec_cb cb, void *data) {
  return nox__exec_shell_start("nox_exec_shell", out, c, session_id, shell,
                               script, opts, cb, data);
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

/* Exactly one source, and a usable one. */
static int check_upload_source(nox_client_t *c, const char *fn,
                               const nox_upload_options_t *opts) {
  bool have[4] = {opts->nfiles > 0,
                  opts->archive != NULL && opts->archive_len > 0,
                  opts->dir != NULL, opts->read != NULL};
  static const char *const names[4] = {"files", "archive", "dir", "read"};
  char set[64] = "";
  int n = 0;
  for (int i = 0; i < 4; i++) {
    if (!have[i])
      continue;
    if (n++ > 0)
      strcat(set, ", ");
    strcat(set, names[i]);
  }
  if (n == 0)
    return FAIL(c,
                "%s: no upload source: set one of opts->files (with "
                "nfiles), archive (with archive_len), dir or read",
                fn);
  if (n > 1)
    return FAIL(c, "%s: %d upload sources set (%s): set exactly one", fn, n,
                set);
  if (have[0])
    return check_files(c, fn, opts->files, opts->nfiles);
  if (have[2] && opts->dir[0] == '\0')
    return FAIL(c, "%s: opts->dir is empty", fn);
  return 0;
}

static int upload_start(const char *fn, nox_req_t **out, nox_client_t *c,
                        const char *session_id,
                        const nox_upload_options_t *opts, nox_req_cb cb,
                        void *data) {
  nox_req_t *req;
  int err = check_common(c, fn, NOX__OP_UPLOAD, session_id, (const void *)cb);
  if (err == 0 && opts == NULL)
    err = FAIL(c, "%s: opts is NULL: it must name the upload's source", fn);
  if (err == 0)
    err = check_version(c, fn, opts->version, NOX_UPLOAD_OPTIONS_VERSION,
                        "NOX_UPLOAD_OPTIONS_INIT");
  if (err == 0)
    err = check_upload_source(c, fn, opts);
  if (err == 0)
    err = begin(c, NOX__OP_UPLOAD, session_id, data, &req);
  if (err != 0)
    return err;
  req->cb.done = cb;
  req->read_cb = opts->read;
  req->progress_cb = opts->progress;
  err = dup_opt(&req->path, opts->dest ? opts->dest : NOX__DEFAULT_WORKDIR);
  if (err == 0 && opts->archive != NULL && opts->archive_len > 0)
    err = nox__buf_append(&req->body, opts->archive, opts->archive_len);
  if (err == 0 && opts->nfiles > 0)
    err = copy_files(req, opts->files, opts->nfiles);
  if (err == 0 && opts->dir != NULL)
    err = dup_opt(&req->src_dir, opts->dir);
  if (err == 0 && opts->dir != NULL && opts->include != NULL)
    err = dup_strv(&req->include, opts->include);
  if (err == 0 && opts->dir != NULL && opts->exclude != NULL)
    err = dup_strv(&req->exclude, opts->exclude);
  if (err != 0) {
    nox__req_discard(req);
    return err;
  }
  return req_submit(req, out);
}

int nox__upload_start(const char *fn, nox_req_t **out, nox_client_t *c,
                      const char *session_id, const nox_upload_options_t *opts,
                      nox_req_cb cb, void *data) {
  nox__api_enter(c);
  return nox__api_leave(c, fn,
                        upload_start(fn, out, c, session_id, opts, cb, data));
}

int nox_upload(nox_req_t **out, nox_client_t *c, const char *session_id,
               const nox_upload_options_t *opts, nox_req_cb cb, void *data) {
  return nox__upload_start("nox_upload", out, c, session_id, opts, cb, data);
}

static int check_download_sink(nox_client_t *c, const char *fn,
                               const nox_download_options_t *opts,
                               nox_data_cb on_data) {
  bool have_dir = opts->extract_dir != NULL;
  bool have_entry = opts->on_entry != NULL;
  if (on_data == NULL && !have_dir && !have_entry)
    return FAIL(c,
                "%s: no sink: pass on_data, or set opts->extract_dir or "
                "opts->on_entry",
                fn);
  if (have_dir && have_entry)
    return FAIL(c,
                "%s: opts->extract_dir and opts->on_entry are both set: "
                "choose one",
                fn);
  if (have_dir && opts->extract_dir[0] == '\0')
    return FAIL(c, "%s: opts->extract_dir is empty", fn);
  return 0;
}

static int download_start(const char *fn, nox_req_t **out, nox_client_t *c,
                          const char *session_id,
                          const nox_download_options_t *opts,
                          nox_data_cb on_data, nox_req_cb cb, void *data) {
  static const nox_download_options_t defaults = NOX_DOWNLOAD_OPTIONS_INIT;
  if (opts == NULL)
    opts = &defaults;
  nox_req_t *req;
  int err =
      check_common(c, fn, NOX__OP_DOWNLOAD, session_id, (const void *)cb);
  if (err == 0)
    err = check_version(c, fn, opts->version, NOX_DOWNLOAD_OPTIONS_VERSION,
                        "NOX_DOWNLOAD_OPTIONS_INIT");
  if (err == 0)
    err = check_download_sink(c, fn, opts, on_data);
  if (err == 0)
    err = begin(c, NOX__OP_DOWNLOAD, session_id, data, &req);
  if (err != 0)
    return err;
  req->cb.done = cb;
  req->on_data = on_data;
  req->on_entry = opts->on_entry;
  req->limits = opts->limits;
  req->progress_cb = opts->progress;
  err = dup_opt(&req->path, opts->src ? opts->src : NOX__DEFAULT_WORKDIR);
  if (err == 0 && opts->extract_dir != NULL)
    err = dup_opt(&req->extract_dir, opts->extract_dir);
  if (err != 0) {
    nox__req_discard(req);
    return err;
  }
  return req_submit(req, out);
}

int nox__download_start(const char *fn, nox_req_t **out, nox_client_t *c,
                        const char *session_id,
                        const nox_download_options_t *opts, nox_data_cb on_data,
                        nox_req_cb cb, void *data) {
  nox__api_enter(c);
  return nox__api_leave(c, fn,
                        download_start(fn, out, c, session_id, opts, on_data,
                                       cb, data));
}

int nox_download(nox_req_t **out, nox_client_t *c, const char *session_id,
                 const nox_download_options_t *opts, nox_data_cb on_data,
                 nox_req_cb cb, void *data) {
  return nox__download_start("nox_download", out, c, session_id, opts, on_data,
                             cb, data);
}

static int wait_start(nox_req_t **out, nox_client_t *c, const char *session_id,
                      const nox_wait_options_t *opts, nox_req_cb cb,
                      void *data) {
  static const char fn[] = "nox_wait_ready";
  static const nox_wait_options_t defaults = NOX_WAIT_OPTIONS_INIT;
  if (opts == NULL)
    opts = &defaults;
  nox_req_t *req;
  int err = check_common(c, fn, NOX__OP_WAIT, session_id, (const void *)cb);
  if (err == 0)
    err = check_version(c, fn, opts->version, NOX_WAIT_OPTIONS_VERSION,
                        "NOX_WAIT_OPTIONS_INIT");
  if (err == 0)
    err = begin(c, NOX__OP_WAIT, session_id, data, &req);
  if (err != 0)
    return err;
  req->cb.done = cb;
  req->wait_timeout_ms = opts->timeout_ms ? opts->timeout_ms : 30000;
  req->wait_interval_ms = opts->interval_ms ? opts->interval_ms : 2000;
  return req_submit(req, out);
}

int nox_wait_ready(nox_req_t **out, nox_client_t *c, const char *session_id,
                   const nox_wait_options_t *opts, nox_req_cb cb, void *data) {
  nox__api_enter(c);
  return nox__api_leave(c, "nox_wait_ready",
                        wait_start(out, c, session_id, opts, cb, data));
}

/* ---- requests the library starts itself --------------------------------- */

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
      dup_strv(&req->argv, argv) != 0 ||
      dup_opt(&req->workdir, NOX__DEFAULT_WORKDIR) != 0) {
    nox__req_discard(req);
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
