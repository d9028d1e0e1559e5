/*
 * The blocking API: a private loop around the asynchronous engine, the way
 * curl_easy_perform() drives a private multi handle. It uses the public API
 * only, so it is also a worked example of embedding the library.
 *
 * Each call starts one request and turns the private loop until that
 * request's callback has run. The client lives as long as the nox_sync_t, so
 * its connections survive between calls.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "noxrunner.h"
#include "noxrunner/sync.h"

/* The documented default of max_body_bytes, for a 0 in the options. */
#define SYNC_DEFAULT_MAX_BODY ((size_t)64 << 20)
#define SYNC_FIRST_CHUNK ((size_t)16 << 10)

/* The call in progress: what its callback fills in. */
typedef struct sync_call {
  nox_req_t *req; /* matches callbacks to this call */
  bool done;
  int status;

  nox_exec_result_t *exec;
  nox_sandbox_info_t *info;

  /* nox_sync_download: the body so far, capped at s->max_body. */
  char *buf;
  size_t len;
  size_t cap;
  int abort_status; /* the status to report when on_data aborted */

  /* nox_sync_download_to: the caller's sink, or NULL. */
  nox_sync_data_cb user_cb;
  void *user_data;
} sync_call_t;

struct nox_sync_s {
  uv_loop_t loop;
  nox_client_t *client;
  size_t max_body; /* effective max_body_bytes, 0 resolved to the default */
  nox_error_t last;
  sync_call_t *call; /* non-NULL while a call runs the loop */
  bool free_pending; /* nox_sync_free() was called from a callback */
  bool closed;
};

/* A failure of the blocking layer itself, with its explanation. */
static int sync_fail(nox_sync_t *s, int rc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int sync_fail(nox_sync_t *s, int rc, const char *fmt, ...) {
  va_list ap;

  memset(&s->last, 0, sizeof(s->last));
  s->last.code = rc;
  va_start(ap, fmt);
  vsnprintf(s->last.message, sizeof(s->last.message), fmt, ap);
  va_end(ap);
  return rc;
}

/*
 * An immediate failure of the asynchronous call: its detail, from
 * nox_client_last_error(), under the name the caller used
 * ("nox_exec: argv ..." becomes "nox_sync_exec: argv ...").
 */
static int sync_fail_at_once(nox_sync_t *s, int rc, const char *fn,
                             const char *async_fn) {
  const nox_error_t *e = nox_client_last_error(s->client);
  const char *msg = e != NULL && e->code == rc ? e->message : "";
  size_t n = strlen(async_fn);

  if (strncmp(msg, async_fn, n) == 0 && msg[n] == ':')
    return sync_fail(s, rc, "%s%s", fn, msg + n);
  if (msg[0] != '\0')
    return sync_fail(s, rc, "%s", msg);
  return sync_fail(s, rc, "%s: %s", fn, nox_strerror(rc));
}

/*
 * Finds the call a callback belongs to. A request is compared by address:
 * a live request's address is never reused, so a callback from a request
 * abandoned by an earlier call (see sync_run) is told apart and ignored.
 */
static sync_call_t *sync_call_of(nox_req_t *req) {
  nox_sync_t *s = nox_req_data(req);
  sync_call_t *call = s->call;

  if (call == NULL || call->req != req)
    return NULL;
  return call;
}

static void sync_finish(nox_req_t *req, sync_call_t *call, int status) {
  nox_sync_t *s = nox_req_data(req);

  s->last = *nox_req_error(req);
  if (status != 0 && call->abort_status != 0) {
    /* Our own on_data stopped the transfer: say why, not NOX_EUSER. */
    status = call->abort_status;
    if (status == NOX_ETOOBIG)
      snprintf(s->last.message, sizeof(s->last.message),
               "download larger than max_body_bytes (%zu bytes)", s->max_body);
    else
      snprintf(s->last.message, sizeof(s->last.message), "%s",
               nox_strerror(status));
  } else if (status == 0 && call->status != 0) {
    /* The request succeeded but copying its result did not. */
    status = call->status;
    memset(&s->last, 0, sizeof(s->last));
  }
  s->last.code = status;
  call->status = status;
  call->done = true;
}

/*
 * Runs the loop until the call's callback has fired. Should the loop run out
 * of work first, the engine has lost the request: cancel it, which must still
 * complete it, and give up only if even that never comes.
 */
static int sync_run(nox_sync_t *s, sync_call_t *call) {
  bool canceled = false;

  while (!call->done) {
    if (uv_run(&s->loop, UV_RUN_ONCE) != 0 || call->done)
      continue;
    if (canceled || nox_req_cancel(call->req) != 0) {
      s->call = NULL;
      memset(&s->last, 0, sizeof(s->last));
      s->last.code = NOX_EINTERNAL;
      strcpy(s->last.message, "the loop went idle before the request ended");
      return NOX_EINTERNAL;
    }
    canceled = true;
  }
  s->call = NULL;
  return call->status;
}

static void sync_destroy(nox_sync_t *s);

/*
 * Starts a call: refuses re-entry, clears the last error and brings the
 * loop's clock up to date, since it has not run since the previous call.
 */
static int sync_begin(nox_sync_t *s, sync_call_t *call, const char *fn) {
  if (s == NULL)
    return NOX_EINVAL;
  if (s->call != NULL)
    return sync_fail(s, NOX_ERECURSE,
                     "%s: called from a callback of a call running on the "
                     "same nox_sync_t",
                     fn);
  memset(call, 0, sizeof(*call));
  memset(&s->last, 0, sizeof(s->last));
  uv_update_time(&s->loop);
  return 0;
}

/*
 * The second half of every call: rc is what the starting function (async_fn,
 * called for fn) returned. A nox_sync_free() requested from inside a
 * callback happens here, once the loop is no longer running.
 */
static int sync_wait(nox_sync_t *s, sync_call_t *call, int rc, const char *fn,
                     const char *async_fn) {
  if (rc != 0)
    return sync_fail_at_once(s, rc, fn, async_fn);
  s->call = call;
  rc = sync_run(s, call);
  if (s->free_pending)
    sync_destroy(s);
  return rc;
}

static void sync_done_cb(nox_req_t *req, int status) {
  sync_call_t *call = sync_call_of(req);

  if (call != NULL)
    sync_finish(req, call, status);
}

int nox_sync_new(nox_sync_t **out, const nox_client_options_t *opts) {
  nox_sync_t *s;
  int rc;

  if (out == NULL)
    return NOX_EINVAL;
  *out = NULL;
  s = calloc(1, sizeof(*s));
  if (s == NULL)
    return NOX_ENOMEM;
  if (uv_loop_init(&s->loop) != 0) {
    free(s);
    return NOX_ENOMEM;
  }
  rc = nox_client_new(&s->client, &s->loop, opts);
  if (rc != 0) {
    /* Let any handle the failed client closed finish closing. */
    uv_run(&s->loop, UV_RUN_NOWAIT);
    if (uv_loop_close(&s->loop) == 0)
      free(s);
    return rc;
  }
  s->max_body = opts != NULL && opts->max_body_bytes != 0
                    ? opts->max_body_bytes
                    : SYNC_DEFAULT_MAX_BODY;
  *out = s;
  return 0;
}

static void sync_close_cb(void *data) {
  nox_sync_t *s = data;

  s->closed = true;
}

static void sync_close_walk_cb(uv_handle_t *handle, void *arg) {
  if (!uv_is_closing(handle))
    uv_close(handle, NULL);
}

static void sync_destroy(nox_sync_t *s) {
  int rc;

  if (nox_client_close(s->client, sync_close_cb, s) == 0) {
    while (!s->closed && uv_run(&s->loop, UV_RUN_ONCE) != 0)
      ;
  }
  /*
   * Close callbacks queued by the last turn still have to run. NOWAIT, not
   * DEFAULT: a handle wrongly left active must not hang the caller.
   */
  uv_run(&s->loop, UV_RUN_NOWAIT);
  rc = uv_loop_close(&s->loop);
  /* A handle left open is a library bug; tests (built without NDEBUG) stop. */
  assert(rc == 0);
  if (rc != 0) {
    /*
     * Close what the client left behind rather than free memory a handle
     * still points into. If even that fails, leak: it is the only safe way.
     */
    uv_walk(&s->loop, sync_close_walk_cb, NULL);
    uv_run(&s->loop, UV_RUN_NOWAIT);
    if (uv_loop_close(&s->loop) != 0)
      return;
  }
  free(s);
}

void nox_sync_free(nox_sync_t *s) {
  if (s == NULL)
    return;
  if (s->call != NULL) {
    /* Inside a callback: the running call finishes the job. */
    s->free_pending = true;
    return;
  }
  sync_destroy(s);
}

const nox_error_t *nox_sync_last_error(const nox_sync_t *s) {
  return s != NULL ? &s->last : NULL;
}

int nox_sync_health(nox_sync_t *s) {
  sync_call_t call;
  int rc = sync_begin(s, &call, "nox_sync_health");

  if (rc != 0)
    return rc;
  rc = nox_health(&call.req, s->client, sync_done_cb, s);
  return sync_wait(s, &call, rc, "nox_sync_health", "nox_health");
}

void nox_sandbox_info_free(nox_sandbox_info_t *info) {
  free(info);
}

/* One block: the struct followed by both strings. */
static nox_sandbox_info_t *sync_copy_info(const nox_sandbox_info_t *src) {
  const char *pod = src->pod_name != NULL ? src->pod_name : "";
  const char *exp = src->expires_at != NULL ? src->expires_at : "";
  size_t pod_len = strlen(pod) + 1;
  size_t exp_len = strlen(exp) + 1;
  nox_sandbox_info_t *info = malloc(sizeof(*info) + pod_len + exp_len);
  char *p;

  if (info == NULL)
    return NULL;
  p = (char *)(info + 1);
  memcpy(p, pod, pod_len);
  memcpy(p + pod_len, exp, exp_len);
  info->pod_name = p;
  info->expires_at = p + pod_len;
  info->expires_at_unix = src->expires_at_unix;
  return info;
}

static void sync_create_cb(nox_req_t *req, int status,
                           const nox_sandbox_info_t *info) {
  sync_call_t *call = sync_call_of(req);

  if (call == NULL)
    return;
  if (status == 0 && info != NULL) {
    call->info = sync_copy_info(info);
    if (call->info == NULL)
      call->status = NOX_ENOMEM;
  }
  sync_finish(req, call, status);
}

int nox_sync_create(nox_sandbox_info_t **out, nox_sync_t *s,
                    const char *session_id, const nox_create_options_t *opts) {
  sync_call_t call;
  int rc;

  if (out != NULL)
    *out = NULL;
  rc = sync_begin(s, &call, "nox_sync_create");
  if (rc != 0)
    return rc;
  rc = nox_create(&call.req, s->client, session_id, opts, sync_create_cb, s);
  rc = sync_wait(s, &call, rc, "nox_sync_create", "nox_create");
  if (rc == 0 && out != NULL)
    *out = call.info;
  else
    free(call.info);
  return rc;
}

int nox_sync_touch(nox_sync_t *s, const char *session_id) {
  sync_call_t call;
  int rc = sync_begin(s, &call, "nox_sync_touch");

  if (rc != 0)
    return rc;
  rc = nox_touch(&call.req, s->client, session_id, sync_done_cb, s);
  return sync_wait(s, &call, rc, "nox_sync_touch", "nox_touch");
}

int nox_sync_delete(nox_sync_t *s, const char *session_id) {
  sync_call_t call;
  int rc = sync_begin(s, &call, "nox_sync_delete");

  if (rc != 0)
    return rc;
  rc = nox_delete(&call.req, s->client, session_id, sync_done_cb, s);
  return sync_wait(s, &call, rc, "nox_sync_delete", "nox_delete");
}

void nox_exec_result_free(nox_exec_result_t *result) {
  free(result);
}

/* One block: the struct, stdout and its NUL, stderr and its NUL. */
static nox_exec_result_t *sync_copy_result(const nox_exec_result_t *src) {
  size_t out_len = src->out != NULL ? src->out_len : 0;
  size_t err_len = src->err != NULL ? src->err_len : 0;
  nox_exec_result_t *r;
  char *p;

  if (out_len > SIZE_MAX - sizeof(*r) - err_len - 2)
    return NULL;
  r = malloc(sizeof(*r) + out_len + err_len + 2);
  if (r == NULL)
    return NULL;
  p = (char *)(r + 1);
  if (out_len != 0)
    memcpy(p, src->out, out_len);
  p[out_len] = '\0';
  r->out = p;
  r->out_len = out_len;
  p += out_len + 1;
  if (err_len != 0)
    memcpy(p, src->err, err_len);
  p[err_len] = '\0';
  r->err = p;
  r->err_len = err_len;
  r->exit_code = src->exit_code;
  r->duration_ms = src->duration_ms;
  r->out_truncated = src->out_truncated;
  r->err_truncated = src->err_truncated;
  return r;
}

static void sync_exec_cb(nox_req_t *req, int status,
                         const nox_exec_result_t *result) {
  sync_call_t *call = sync_call_of(req);

  if (call == NULL)
    return;
  if (status == 0 && result != NULL) {
    call->exec = sync_copy_result(result);
    if (call->exec == NULL)
      call->status = NOX_ENOMEM;
  }
  sync_finish(req, call, status);
}

static int sync_exec_end(nox_exec_result_t **out, nox_sync_t *s,
                         sync_call_t *call, int rc, const char *fn,
                         const char *async_fn) {
  rc = sync_wait(s, call, rc, fn, async_fn);
  if (rc == 0 && out != NULL)
    *out = call->exec;
  else
    free(call->exec);
  return rc;
}

int nox_sync_exec(nox_exec_result_t **out, nox_sync_t *s,
                  const char *session_id, const char *const argv[],
                  const nox_exec_options_t *opts) {
  sync_call_t call;
  int rc;

  if (out != NULL)
    *out = NULL;
  rc = sync_begin(s, &call, "nox_sync_exec");
  if (rc != 0)
    return rc;
  rc = nox_exec(&call.req, s->client, session_id, argv, opts, sync_exec_cb, s);
  return sync_exec_end(out, s, &call, rc, "nox_sync_exec", "nox_exec");
}

int nox_sync_exec_shell(nox_exec_result_t **out, nox_sync_t *s,
                        const char *session_id, const char *shell,
                        const char *script, const nox_exec_options_t *opts) {
  sync_call_t call;
  int rc;

  if (out != NULL)
    *out = NULL;
  rc = sync_begin(s, &call, "nox_sync_exec_shell");
  if (rc != 0)
    return rc;
  rc = nox_exec_shell(&call.req, s->client, session_id, shell, script, opts,
                      sync_exec_cb, s);
  return sync_exec_end(out, s, &call, rc, "nox_sync_exec_shell",
                       "nox_exec_shell");
}

int nox_sync_upload(nox_sync_t *s, const char *session_id,
                    const nox_upload_options_t *opts) {
  sync_call_t call;
  int rc = sync_begin(s, &call, "nox_sync_upload");

  if (rc != 0)
    return rc;
  rc = nox_upload(&call.req, s->client, session_id, opts, sync_done_cb, s);
  return sync_wait(s, &call, rc, "nox_sync_upload", "nox_upload");
}

/* Grows the buffer by doubling, never past the cap. */
static int sync_collect(nox_sync_t *s, sync_call_t *call, const char *buf,
                        size_t len) {
  size_t need;

  if (len > s->max_body - call->len) {
    call->abort_status = NOX_ETOOBIG;
    return 1;
  }
  need = call->len + len;
  if (need > call->cap) {
    size_t cap = call->cap != 0 ? call->cap : SYNC_FIRST_CHUNK;
    char *p;

    while (cap < need)
      cap = cap > s->max_body / 2 ? s->max_body : cap * 2;
    if (cap > s->max_body)
      cap = s->max_body;
    p = realloc(call->buf, cap);
    if (p == NULL) {
      call->abort_status = NOX_ENOMEM;
      return 1;
    }
    call->buf = p;
    call->cap = cap;
  }
  memcpy(call->buf + call->len, buf, len);
  call->len = need;
  return 0;
}

static int sync_data_cb(nox_req_t *req, const char *buf, size_t len) {
  nox_sync_t *s = nox_req_data(req);
  sync_call_t *call = sync_call_of(req);

  if (call == NULL || s->free_pending)
    return 1;
  if (call->user_cb == NULL)
    return sync_collect(s, call, buf, len);
  if (call->user_cb(call->user_data, buf, len) != 0)
    return 1;
  /* A sink that called nox_sync_free() wants no more bytes. */
  return s->free_pending ? 1 : 0;
}

int nox_sync_download(void **buf, size_t *len, nox_sync_t *s,
                      const char *session_id,
                      const nox_download_options_t *opts) {
  sync_call_t call;
  int rc;

  if (buf != NULL)
    *buf = NULL;
  if (len != NULL)
    *len = 0;
  rc = sync_begin(s, &call, "nox_sync_download");
  if (rc != 0)
    return rc;
  if (buf == NULL || len == NULL)
    return sync_fail(s, NOX_EINVAL, "nox_sync_download: %s is NULL",
                     buf == NULL ? "buf" : "len");
  rc = nox_download(&call.req, s->client, session_id, opts, sync_data_cb,
                    sync_done_cb, s);
  rc = sync_wait(s, &call, rc, "nox_sync_download", "nox_download");
  if (rc == 0 && call.buf == NULL) {
    /* An empty body still gives a buffer, so success means non-NULL. */
    call.buf = malloc(1);
    if (call.buf == NULL)
      return sync_fail(s, NOX_ENOMEM, "nox_sync_download: out of memory");
  }
  if (rc != 0) {
    free(call.buf);
    return rc;
  }
  *buf = call.buf;
  *len = call.len;
  return 0;
}

static int sync_download_to(const char *fn, nox_sync_t *s,
                            const char *session_id,
                            const nox_download_options_t *opts,
                            nox_sync_data_cb on_data, void *data) {
  sync_call_t call;
  int rc = sync_begin(s, &call, fn);

  if (rc != 0)
    return rc;
  call.user_cb = on_data;
  call.user_data = data;
  /*
   * Without on_data the sink is extract_dir or on_entry; nox_download()
   * checks that one is there and says so when neither is.
   */
  rc = nox_download(&call.req, s->client, session_id, opts,
                    on_data != NULL ? sync_data_cb : NULL, sync_done_cb, s);
  return sync_wait(s, &call, rc, fn, "nox_download");
}

int nox_sync_download_to(nox_sync_t *s, const char *session_id,
                         const nox_download_options_t *opts,
                         nox_sync_data_cb on_data, void *data) {
  return sync_download_to("nox_sync_download_to", s, session_id, opts, on_data,
                          data);
}

int nox_sync_download_cb(nox_sync_t *s, const char *session_id,
                         const nox_download_options_t *opts,
                         nox_sync_data_cb on_data, void *data) {
  return sync_download_to("nox_sync_download_cb", s, session_id, opts, on_data,
                          data);
}

int nox_sync_wait_ready(nox_sync_t *s, const char *session_id,
                        const nox_wait_options_t *opts) {
  sync_call_t call;
  int rc = sync_begin(s, &call, "nox_sync_wait_ready");

  if (rc != 0)
    return rc;
  rc = nox_wait_ready(&call.req, s->client, session_id, opts, sync_done_cb, s);
  return sync_wait(s, &call, rc, "nox_sync_wait_ready", "nox_wait_ready");
}
