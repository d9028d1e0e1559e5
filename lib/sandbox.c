/*
 * Sandbox handles: create, wait until ready, lease, operations, release.
 *
 * A handle drives at most one request of its own at a time (create, probe,
 * touch or delete) and one timer (probe backoff, next touch, delete retry,
 * or the first step of a release, so that no user callback ever runs inside
 * nox_sandbox_release()). Release cancels that request and continues from
 * its callback, so every path ends in one place, finish().
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry.h"

#define PROBE_BACKOFF_CAP_MS 2000u
#define TOUCH_RETRY_BASE_MS 500u

static void release_step(nox_sandbox_t *sb);
static void start_delete(nox_sandbox_t *sb);

static void sb_unref(nox_sandbox_t *sb) {
  if (--sb->refs > 0)
    return;
  free(sb->id);
  free(sb);
}

static void on_timer_closed(uv_handle_t *h) {
  sb_unref(h->data);
}

static void arm(nox_sandbox_t *sb, nox__sb_timer_t what, uint64_t ms);

nox_sandbox_t *nox__sandbox_alloc(nox_client_t *c, const char *id) {
  struct nox__registry *r = nox__registry_get(c);
  if (r == NULL)
    return NULL;
  nox_sandbox_t *sb = calloc(1, sizeof(*sb));
  if (sb == NULL)
    return NULL;
  if ((sb->id = strdup(id)) == NULL) {
    free(sb);
    return NULL;
  }
  sb->client = c;
  sb->refs = 1;
  sb->expires_at = -1;
  sb->state = NOX__SB_READY;
  sb->ready_reported = true;
  nox__list_init(&sb->bnode);
  uv_timer_init(c->loop, &sb->timer);
  sb->timer.data = sb;
  nox__list_push_back(&r->handles, &sb->node);
  r->count++;
  return sb;
}

void nox__sandbox_discard(nox_sandbox_t *sb) {
  nox__list_remove(&sb->node);
  sb->client->registry->count--;
  sb->finished = true;
  uv_close((uv_handle_t *)&sb->timer, on_timer_closed);
}

static void report_ready(nox_sandbox_t *sb, int status) {
  if (sb->ready_reported)
    return;
  sb->ready_reported = true;
  if (status != 0)
    sb->state = NOX__SB_FAILED;
  sb->ready_cb(sb, status);
}

static void mark_lost(nox_sandbox_t *sb, int status) {
  if (sb->lost || sb->finished)
    return;
  sb->lost = true;
  if (sb->timer_what == NOX__SB_TIMER_TOUCH) {
    uv_timer_stop(&sb->timer);
    sb->timer_what = NOX__SB_TIMER_NONE;
  }
  nox__journal_write(sb->client->registry, 'D', sb->id);
  if (sb->on_lost != NULL)
    sb->on_lost(sb, status);
}

static void schedule_touch(nox_sandbox_t *sb) {
  uint64_t every = sb->touch_interval_ms;
  /* Jitter downwards only, so a touch never comes later than asked. */
  double f = 0.8 + 0.2 * nox__client_random(sb->client);
  arm(sb, NOX__SB_TIMER_TOUCH, (uint64_t)((double)every * f));
}

static void became_ready(nox_sandbox_t *sb) {
  sb->state = NOX__SB_READY;
  report_ready(sb, 0);
  if (sb->lease && !sb->releasing && !sb->lost)
    schedule_touch(sb);
}

/* ---- lease -------------------------------------------------------------- */

static void on_lease_touch(nox_req_t *req, int status) {
  nox_sandbox_t *sb = nox_req_data(req);
  uint64_t now = uv_now(sb->client->loop);
  sb->pending = NULL;
  if (sb->releasing) {
    release_step(sb);
    return;
  }
  if (sb->lost)
    return; /* an exec found it gone meanwhile */
  if (status == 0) {
    sb->touch_failures = 0;
    sb->last_touch_ok = now;
    sb->expires_at = (int64_t)time(NULL) + sb->ttl_seconds;
    schedule_touch(sb);
  } else if (status == NOX_ENOTFOUND) {
    mark_lost(sb, status);
  } else if (now - sb->last_touch_ok > (uint64_t)sb->ttl_seconds * 1000) {
    mark_lost(sb, NOX_ETIMEDOUT);
  } else {
    unsigned k = sb->touch_failures < 8 ? sb->touch_failures : 8;
    uint64_t ms = (uint64_t)TOUCH_RETRY_BASE_MS << k;
    sb->touch_failures++;
    arm(sb, NOX__SB_TIMER_TOUCH,
        ms < sb->touch_interval_ms ? ms : sb->touch_interval_ms);
  }
}

static void lease_touch(nox_sandbox_t *sb) {
  int err = nox__req_start_internal(sb->client, NOX__OP_TOUCH, sb->id,
                                    on_lease_touch, sb, &sb->pending);
  if (err != 0) {
    sb->touch_failures++;
    arm(sb, NOX__SB_TIMER_TOUCH, TOUCH_RETRY_BASE_MS);
  }
}

/* ---- create and readiness ----------------------------------------------- */

static void probe(nox_sandbox_t *sb);

static void on_probe(nox_req_t *req, int status, const nox_exec_result_t *res) {
  nox_sandbox_t *sb = nox_req_data(req);
  sb->pending = NULL;
  if (sb->releasing) {
    release_step(sb);
    return;
  }
  if (status == 0 && res->exit_code == 0) {
    became_ready(sb);
    return;
  }
  /* Status 0 here: the probe ran, but its exit code was not 0. */
  if (status != 0 && !nox__probe_not_ready(req, status)) {
    report_ready(sb, status);
    return;
  }
  uint64_t now = uv_now(sb->client->loop);
  /* Up to +50% jitter spreads a thousand waiting handles apart. */
  uint64_t pause = sb->backoff_ms + (uint64_t)(sb->backoff_ms * 0.5 *
                                               nox__client_random(sb->client));
  if (now + pause >= sb->ready_deadline) {
    report_ready(sb, NOX_ETIMEDOUT);
    return;
  }
  sb->backoff_ms = sb->backoff_ms * 2 < PROBE_BACKOFF_CAP_MS
                       ? sb->backoff_ms * 2
                       : PROBE_BACKOFF_CAP_MS;
  arm(sb, NOX__SB_TIMER_PROBE, pause);
}

static void probe(nox_sandbox_t *sb) {
  static const char *const argv[] = {"echo", "ready", NULL};
  nox_exec_options_t o = NOX_EXEC_OPTIONS_INIT;
  uint64_t now = uv_now(sb->client->loop);
  uint64_t left = sb->ready_deadline > now ? sb->ready_deadline - now : 0;
  o.timeout_seconds = (uint32_t)(left / 1000 + 1);
  if (o.timeout_seconds > 10)
    o.timeout_seconds = 10;
  int err = nox_exec(&sb->pending, sb->client, sb->id, argv, &o, on_probe, sb);
  if (err != 0)
    report_ready(sb, err);
}

static void on_create(nox_req_t *req, int status,
                      const nox_sandbox_info_t *info) {
  nox_sandbox_t *sb = nox_req_data(req);
  sb->pending = NULL;
  if (sb->releasing) {
    release_step(sb);
    return;
  }
  if (status != 0) {
    report_ready(sb, status);
    return;
  }
  sb->last_touch_ok = uv_now(sb->client->loop);
  sb->expires_at = info->expires_at_unix >= 0
                       ? info->expires_at_unix
                       : (int64_t)time(NULL) + sb->ttl_seconds;
  if (sb->state == NOX__SB_PROBING) {
    sb->ready_deadline = uv_now(sb->client->loop) + sb->ready_timeout_ms;
    probe(sb);
  } else {
    became_ready(sb);
  }
}

static void on_timer(uv_timer_t *t) {
  nox_sandbox_t *sb = t->data;
  nox__sb_timer_t what = sb->timer_what;
  sb->timer_what = NOX__SB_TIMER_NONE;
  switch (what) {
  case NOX__SB_TIMER_PROBE:
    probe(sb);
    break;
  case NOX__SB_TIMER_TOUCH:
    lease_touch(sb);
    break;
  case NOX__SB_TIMER_RELEASE:
    release_step(sb);
    break;
  case NOX__SB_TIMER_DELETE:
    start_delete(sb);
    break;
  case NOX__SB_TIMER_NONE:
    break;
  }
}

static void arm(nox_sandbox_t *sb, nox__sb_timer_t what, uint64_t ms) {
  sb->timer_what = what;
  uv_timer_start(&sb->timer, on_timer, ms, 0);
}

static int sandbox_new(nox_sandbox_t **out, nox_client_t *c,
                       const char *session_id,
                       const nox_sandbox_options_t *opts, nox_sandbox_cb cb,
                       void *data) {
  static const char fn[] = "nox_sandbox_new";
  static const nox_sandbox_options_t defaults = NOX_SANDBOX_OPTIONS_INIT;
  static const nox_create_options_t cdefaults = NOX_CREATE_OPTIONS_INIT;
  if (opts == NULL)
    opts = &defaults;
  if (c == NULL)
    return NOX_EINVAL;
  if (out == NULL)
    return nox__api_fail(c, NOX_EINVAL, "%s: out is NULL", fn);
  if (session_id == NULL)
    return nox__api_fail(c, NOX_EINVAL, "%s: session_id is NULL", fn);
  if (cb == NULL)
    return nox__api_fail(c, NOX_EINVAL, "%s: cb is NULL", fn);
  if (opts->version != NOX_SANDBOX_OPTIONS_VERSION)
    return nox__api_fail(c, NOX_EINVAL,
                         "%s: opts->version is %u, not %d: initialise opts "
                         "with NOX_SANDBOX_OPTIONS_INIT",
                         fn, opts->version, NOX_SANDBOX_OPTIONS_VERSION);
  if (c->closing)
    return nox__api_fail(c, NOX_ECLOSING, "%s: the client is closing", fn);
  const nox_create_options_t *co = opts->create ? opts->create : &cdefaults;
  uint32_t ttl = co->ttl_seconds ? co->ttl_seconds : NOX__DEFAULT_TTL_SECONDS;
  uint32_t every =
      opts->touch_interval_ms ? opts->touch_interval_ms : ttl * 1000 / 3;
  if (opts->lease && (every == 0 || every >= (uint64_t)ttl * 1000))
    return nox__api_fail(c, NOX_EINVAL,
                         "%s: a lease's touch interval (%u ms) must be shorter "
                         "than the TTL (%u s)",
                         fn, every, ttl);

  nox_sandbox_t *sb = nox__sandbox_alloc(c, session_id);
  if (sb == NULL)
    return NOX_ENOMEM;
  c->registry->used = true;
  sb->data = data;
  sb->ready_cb = cb;
  sb->on_lost = opts->on_lost;
  sb->ready_reported = false;
  sb->state = opts->wait_ready ? NOX__SB_PROBING : NOX__SB_CREATING;
  sb->ttl_seconds = ttl;
  sb->lease = opts->lease != 0;
  sb->keep = opts->keep_on_release != 0;
  sb->touch_interval_ms = every;
  sb->ready_timeout_ms =
      opts->ready_timeout_ms ? opts->ready_timeout_ms : 30000;
  sb->backoff_ms = opts->ready_backoff_ms ? opts->ready_backoff_ms : 100;

  /* Journal first: a crash between the two must still leave a trace. */
  int err = nox__journal_write(c->registry, 'C', sb->id);
  if (err != 0)
    nox__api_fail(c, err, "%s: cannot append to the journal %s", fn,
                  c->registry->journal_path);
  else
    err = nox__create_start(fn, &sb->pending, c, sb->id, co, on_create, sb);
  if (err != 0) {
    nox__journal_write(c->registry, 'D', sb->id);
    nox__sandbox_discard(sb);
    return err;
  }
  sb->created = true;
  *out = sb;
  return 0;
}

int nox_sandbox_new(nox_sandbox_t **out, nox_client_t *c,
                    const char *session_id, const nox_sandbox_options_t *opts,
                    nox_sandbox_cb cb, void *data) {
  nox__api_enter(c);
  return nox__api_leave(c, "nox_sandbox_new",
                        sandbox_new(out, c, session_id, opts, cb, data));
}

/* ---- release ------------------------------------------------------------ */

static void finish(nox_sandbox_t *sb, int status) {
  sb->finished = true;
  uv_timer_stop(&sb->timer);
  sb->timer_what = NOX__SB_TIMER_NONE;
  if (status == 0 && !sb->lost)
    nox__journal_write(sb->client->registry, 'D', sb->id);
  nox__list_remove(&sb->node);
  sb->client->registry->count--;
  if (sb->release_cb != NULL)
    sb->release_cb(sb, status, sb->release_data);
  nox__registry_handle_done(sb, status);
  uv_close((uv_handle_t *)&sb->timer, on_timer_closed);
}

static void on_delete(nox_req_t *req, int status) {
  nox_sandbox_t *sb = nox_req_data(req);
  struct nox__registry *r = sb->client->registry;
  sb->pending = NULL;
  if (status == 0 || status == NOX_ENOTFOUND) {
    finish(sb, 0);
  } else if (sb->delete_attempts < r->opts.delete_attempts &&
             status != NOX_ECLOSING) {
    uint64_t ms = (uint64_t)r->opts.delete_backoff_ms
                  << (sb->delete_attempts - 1);
    arm(sb, NOX__SB_TIMER_DELETE, ms);
  } else {
    finish(sb, status);
  }
}

static void start_delete(nox_sandbox_t *sb) {
  sb->delete_attempts++;
  int err = nox__req_start_internal(sb->client, NOX__OP_DELETE, sb->id,
                                    on_delete, sb, &sb->pending);
  if (err != 0)
    finish(sb, err);
}

/* Runs from the loop once nothing of the handle's own is in flight. */
static void release_step(nox_sandbox_t *sb) {
  report_ready(sb, NOX_ECANCELED);
  if (sb->keep || sb->lost || !sb->created)
    finish(sb, 0);
  else
    start_delete(sb);
}

void nox__sandbox_release_start(nox_sandbox_t *sb) {
  sb->releasing = true;
  uv_timer_stop(&sb->timer);
  if (sb->pending != NULL)
    nox_req_cancel(sb->pending); /* its callback goes on with the release */
  else
    arm(sb, NOX__SB_TIMER_RELEASE, 0);
}

int nox_sandbox_release(nox_sandbox_t *sb, nox_sandbox_release_cb cb,
                        void *data) {
  if (sb == NULL)
    return NOX_EINVAL;
  nox__api_enter(sb->client);
  /* A handle claimed by a release-all or a close is released by it. */
  if (sb->releasing || sb->batch != NULL)
    return nox__api_fail(sb->client, NOX_EALREADY,
                         "nox_sandbox_release: the handle is already being "
                         "released (by nox_sandbox_release(), "
                         "nox_sandbox_release_all() or the client's close)");
  sb->release_cb = cb;
  sb->release_data = data;
  nox__sandbox_release_start(sb);
  return 0;
}

/* ---- accessors and operations ------------------------------------------- */

const char *nox_sandbox_id(const nox_sandbox_t *sb) {
  return sb ? sb->id : NULL;
}

void *nox_sandbox_data(const nox_sandbox_t *sb) {
  return sb ? sb->data : NULL;
}

nox_client_t *nox_sandbox_client(const nox_sandbox_t *sb) {
  return sb ? sb->client : NULL;
}

int64_t nox_sandbox_expires_at(const nox_sandbox_t *sb) {
  return sb ? sb->expires_at : -1;
}

int nox_sandbox_ready(const nox_sandbox_t *sb) {
  return sb && sb->state == NOX__SB_READY && sb->ready_reported;
}

int nox_sandbox_lost(const nox_sandbox_t *sb) {
  return sb && sb->lost;
}

/* Sees the outcome of a user request on the handle before its callback. */
static void observe(nox_req_t *req, int status) {
  nox_sandbox_t *sb = req->observer_data;
  if (!sb->finished) {
    if (status == NOX_ENOTFOUND &&
        (req->op == NOX__OP_EXEC || req->op == NOX__OP_TOUCH))
      mark_lost(sb, status);
    else if (status == 0 && req->op == NOX__OP_TOUCH) {
      sb->expires_at = (int64_t)time(NULL) + sb->ttl_seconds;
      /* The caller's touch kept it alive as well as the lease's would. */
      sb->touch_failures = 0;
      sb->last_touch_ok = uv_now(sb->client->loop);
    }
  }
  sb_unref(sb);
}

static int watch(nox_sandbox_t *sb, nox_req_t *req, nox_req_t **out, int err) {
  if (err != 0)
    return err;
  req->observer = observe;
  req->observer_data = sb;
  sb->refs++;
  if (out)
    *out = req;
  return 0;
}

int nox_sandbox_exec(nox_req_t **out, nox_sandbox_t *sb,
                     const char *const argv[], const nox_exec_options_t *opts,
                     nox_exec_cb cb, void *data) {
  nox_req_t *req = NULL;
  if (sb == NULL)
    return NOX_EINVAL;
  int err = nox__exec_start("nox_sandbox_exec", &req, sb->client, sb->id, argv,
                            opts, cb, data);
  return watch(sb, req, out, err);
}

int nox_sandbox_exec_shell(nox_req_t **out, nox_sandbox_t *sb,
                           const char *shell, const char *script,
                           const nox_exec_options_t *opts, nox_exec_cb cb,
                           void *data) {
  nox_req_t *req = NULL;
  if (sb == NULL)
    return NOX_EINVAL;
  int err = nox__exec_shell_start("nox_sandbox_exec_shell", &req, sb->client,
                                  sb->id, shell, script, opts, cb, data);
  return watch(sb, req, out, err);
}

int nox_sandbox_upload(nox_req_t **out, nox_sandbox_t *sb,
                       const nox_upload_options_t *opts, nox_req_cb cb,
                       void *data) {
  nox_req_t *req = NULL;
  if (sb == NULL)
    return NOX_EINVAL;
  int err = nox__upload_start("nox_sandbox_upload", &req, sb->client, sb->id,
                              opts, cb, data);
  return watch(sb, req, out, err);
}

int nox_sandbox_download(nox_req_t **out, nox_sandbox_t *sb,
                         const nox_download_options_t *opts,
                         nox_data_cb on_data, nox_req_cb cb, void *data) {
  nox_req_t *req = NULL;
  if (sb == NULL)
    return NOX_EINVAL;
  int err = nox__download_start("nox_sandbox_download", &req, sb->client,
                                sb->id, opts, on_data, cb, data);
  return watch(sb, req, out, err);
}

int nox_sandbox_touch(nox_req_t **out, nox_sandbox_t *sb, nox_req_cb cb,
                      void *data) {
  nox_req_t *req = NULL;
  if (sb == NULL)
    return NOX_EINVAL;
  int err = nox__simple_start("nox_sandbox_touch", NOX__OP_TOUCH, &req,
                              sb->client, sb->id, cb, data);
  return watch(sb, req, out, err);
}
