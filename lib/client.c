/*
 * Client lifecycle and the dispatcher.
 *
 * Every state change that could re-enter the user or libcurl is funnelled
 * through three queues drained from one idle handle: requests to start,
 * requests to abort, and completed requests whose callback must run. That
 * gives the contracts in one place: a callback never runs inside the call
 * that started its request, libcurl is never called from inside one of its
 * own callbacks, and a close requested from a callback is only a flag until
 * control is back here.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void on_idle(uv_idle_t *idle);

static int apply_defaults(nox_client_options_t *o) {
  if (o->connect_timeout_ms == 0)
    o->connect_timeout_ms = NOX__DEFAULT_CONNECT_TIMEOUT_MS;
  if (o->request_timeout_ms == 0)
    o->request_timeout_ms = NOX__DEFAULT_REQUEST_TIMEOUT_MS;
  if (o->exec_grace_ms == 0)
    o->exec_grace_ms = NOX__DEFAULT_EXEC_GRACE_MS;
  if (o->max_connections == 0)
    o->max_connections = NOX__DEFAULT_MAX_CONNECTIONS;
  if (o->max_host_connections == 0 ||
      o->max_host_connections > o->max_connections)
    o->max_host_connections = o->max_connections;
  if (o->http_version < NOX_HTTP_AUTO || o->http_version > NOX_HTTP_2)
    return NOX_EINVAL;
  if (o->max_transfers == 0)
    o->max_transfers = o->http_version == NOX_HTTP_2 ? o->max_connections * 16
                                                     : o->max_connections;
  if (o->max_body_bytes == 0)
    o->max_body_bytes = NOX__DEFAULT_MAX_BODY_BYTES;
  if (o->max_retries == 0)
    o->max_retries = NOX__DEFAULT_MAX_RETRIES;
  else if (o->max_retries == NOX_RETRIES_NONE)
    o->max_retries = 0;
  if (o->retry_base_ms == 0)
    o->retry_base_ms = NOX__DEFAULT_RETRY_BASE_MS;
  if (o->retry_max_ms == 0)
    o->retry_max_ms = NOX__DEFAULT_RETRY_MAX_MS;
  if (o->isolation < NOX_ISOLATION_AUTO || o->isolation > NOX_ISOLATION_NONE)
    return NOX_EINVAL;
  if (o->max_output_bytes == 0)
    o->max_output_bytes = NOX__DEFAULT_MAX_OUTPUT_BYTES;
  if (o->reap_interval_ms == 0)
    o->reap_interval_ms = NOX__DEFAULT_REAP_INTERVAL_MS;
  if (o->tar_workers == 0)
    o->tar_workers = NOX__DEFAULT_TAR_WORKERS;
  /* Below 64 KiB a pipe would pause curl on nearly every chunk. */
  if (o->stream_buffer_bytes == 0)
    o->stream_buffer_bytes = NOX__DEFAULT_STREAM_BUFFER_BYTES;
  else if (o->stream_buffer_bytes < ((size_t)64 << 10))
    o->stream_buffer_bytes = (size_t)64 << 10;
  return 0;
}

static const nox__backend_t *backend_for(const char *url) {
  if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)
    return &nox__http_backend;
  if (strncmp(url, "local:", 6) == 0)
    return &nox__local_backend;
  return NULL;
}

static void client_free(nox_client_t *c) {
  nox__registry_free(c);
  free(c->base_url);
  free(c->token);
  free(c->user_agent);
  free(c->ca_file);
  free(c);
}

int nox_client_new(nox_client_t **out, uv_loop_t *loop,
                   const nox_client_options_t *opts) {
  static const nox_client_options_t defaults = NOX_CLIENT_OPTIONS_INIT;
  if (out == NULL || loop == NULL)
    return NOX_EINVAL;
  *out = NULL;
  if (opts == NULL)
    opts = &defaults;
  /*
   * Layout 1 ended where local_max_sandboxes begins, layout 2 where
   * local_auto_create begins (see the header).
   */
  size_t size;
  if (opts->version == NOX_CLIENT_OPTIONS_VERSION)
    size = sizeof(*opts);
  else if (opts->version == 2)
    size = offsetof(nox_client_options_t, local_auto_create);
  else if (opts->version == 1)
    size = offsetof(nox_client_options_t, local_max_sandboxes);
  else
    return NOX_EINVAL;

  nox_client_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NOX_ENOMEM;
  c->loop = loop;
  memcpy(&c->opts, opts, size);
  c->opts.version = NOX_CLIENT_OPTIONS_VERSION;
  int err = apply_defaults(&c->opts);
  if (err != 0) {
    client_free(c);
    return err;
  }
  const char *url = opts->base_url ? opts->base_url : NOX__DEFAULT_BASE_URL;
  c->backend = backend_for(url);
  if (c->backend == NULL) {
    client_free(c);
    return NOX_EUNSUPPORTED;
  }
  c->base_url = strdup(url);
  c->token = nox__strdup(opts->token);
  c->ca_file = nox__strdup(opts->ca_file);
  c->user_agent = strdup(opts->user_agent ? opts->user_agent
                                          : "libnoxrunner/" NOX_VERSION_STRING);
  if (c->base_url == NULL || c->user_agent == NULL ||
      (opts->token != NULL && c->token == NULL) ||
      (opts->ca_file != NULL && c->ca_file == NULL)) {
    client_free(c);
    return NOX_ENOMEM;
  }
  size_t n = strlen(c->base_url);
  while (n > 0 && c->base_url[n - 1] == '/')
    c->base_url[--n] = '\0';
  /* The strings in opts now belong to the caller; point at our copies. */
  c->opts.base_url = c->base_url;
  c->opts.token = c->token;
  c->opts.user_agent = c->user_agent;
  c->opts.ca_file = c->ca_file;

  nox__list_init(&c->reqs);
  nox__list_init(&c->start_q);
  nox__list_init(&c->cancel_q);
  nox__list_init(&c->done_q);
  nox__admission_init(c);
  c->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)c ^ 0x9e3779b97f4a7c15ull;
  if (c->rng == 0)
    c->rng = 1;

  err = c->backend->init(c);
  if (err != 0) {
    client_free(c);
    return err;
  }
  /* Cannot fail on Unix; made last so a failed init leaves no handle. */
  uv_idle_init(loop, &c->idle);
  c->idle.data = c;
  *out = c;
  return 0;
}

void nox__api_enter(nox_client_t *c) {
  if (c != NULL)
    memset(&c->last_error, 0, sizeof(c->last_error));
}

int nox__api_fail(nox_client_t *c, int err, const char *fmt, ...) {
  if (c == NULL || c->last_error.code != 0)
    return err;
  c->last_error.code = err;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->last_error.message, sizeof(c->last_error.message), fmt, ap);
  va_end(ap);
  return err;
}

int nox__api_leave(nox_client_t *c, const char *fn, int err) {
  if (c == NULL)
    return err;
  if (err == 0) {
    memset(&c->last_error, 0, sizeof(c->last_error));
    return 0;
  }
  if (c->last_error.code == 0)
    nox__api_fail(c, err, "%s: %s", fn, nox_strerror(err));
  /* The code returned is the one recorded, whatever an inner call said. */
  c->last_error.code = err;
  return err;
}

const nox_error_t *nox_client_last_error(const nox_client_t *client) {
  return client != NULL ? &client->last_error : NULL;
}

uv_loop_t *nox_client_loop(const nox_client_t *client) {
  return client ? client->loop : NULL;
}

size_t nox_client_pending(const nox_client_t *client) {
  return client ? client->nreqs : 0;
}

void nox_client_set_data(nox_client_t *client, void *data) {
  if (client != NULL)
    client->data = data;
}

void *nox_client_data(const nox_client_t *client) {
  return client ? client->data : NULL;
}

void nox__client_wake(nox_client_t *c) {
  if (!c->idle_active) {
    c->idle_active = true;
    uv_idle_start(&c->idle, on_idle);
  }
}

int nox_client_close(nox_client_t *c, nox_close_cb cb, void *data) {
  if (c == NULL)
    return NOX_EINVAL;
  nox__api_enter(c);
  if (c->closing)
    return nox__api_fail(c, NOX_ECLOSING,
                         "nox_client_close: the client is already closing");
  c->closing = true;
  c->close_cb = cb;
  c->close_data = data;
  c->close_deferred = nox__registry_close(c);
  nox__client_wake(c);
  return 0;
}

void nox__client_close_resume(nox_client_t *c) {
  c->close_deferred = false;
  nox__client_wake(c);
}

double nox__client_random(nox_client_t *c) {
  /* xorshift64*: plenty for jitter, and no global state. */
  uint64_t x = c->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  c->rng = x;
  return (double)((x * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}

static void abort_running(nox_req_t *req) {
  if (req->op == NOX__OP_WAIT)
    nox__wait_abort(req);
  else
    req->client->backend->abort(req);
}

static void on_idle_closed(uv_handle_t *h) {
  nox_client_t *c = h->data;
  nox_close_cb cb = c->close_cb;
  void *data = c->close_data;
  client_free(c);
  if (cb)
    cb(data);
}

void nox__client_backend_closed(nox_client_t *c) {
  uv_close((uv_handle_t *)&c->idle, on_idle_closed);
}

static void drain(nox_client_t *c) {
  nox__list_t q;
  nox__list_t *n;

  if (c->closing && !c->close_deferred) {
    /* Complete everything still live; callbacks run below. */
    for (n = c->reqs.next; n != &c->reqs; n = n->next) {
      nox_req_t *req = nox__list_entry(n, nox_req_t, node);
      if (req->state == NOX__REQ_RUNNING)
        abort_running(req);
      nox__req_complete(req, NOX_ECLOSING);
    }
  }

  nox__list_init(&q);
  nox__list_move(&c->cancel_q, &q);
  while ((n = nox__list_pop_front(&q)) != NULL) {
    nox_req_t *req = nox__list_entry(n, nox_req_t, cnode);
    if (req->state == NOX__REQ_RUNNING) {
      abort_running(req);
      nox__req_complete(req, NOX_ECANCELED);
    }
  }

  nox__list_init(&q);
  nox__list_move(&c->start_q, &q);
  while ((n = nox__list_pop_front(&q)) != NULL) {
    nox_req_t *req = nox__list_entry(n, nox_req_t, qnode);
    if (!nox__admission_admit(req))
      continue;
    req->state = NOX__REQ_RUNNING;
    if (req->op == NOX__OP_WAIT)
      nox__wait_start(req);
    else
      c->backend->start(req);
  }

  nox__list_init(&q);
  nox__list_move(&c->done_q, &q);
  while ((n = nox__list_pop_front(&q)) != NULL)
    nox__req_dispatch(nox__list_entry(n, nox_req_t, qnode));
}

static void on_idle(uv_idle_t *idle) {
  nox_client_t *c = idle->data;

  drain(c);

  if (!nox__list_empty(&c->start_q) || !nox__list_empty(&c->cancel_q) ||
      !nox__list_empty(&c->done_q) ||
      (c->closing && !c->close_deferred && c->nreqs > 0))
    return; /* stay armed: more to do on the next turn */

  c->idle_active = false;
  uv_idle_stop(&c->idle);

  if (c->closing && !c->close_deferred && c->nreqs == 0 &&
      !c->backend_closing) {
    c->backend_closing = true;
    c->backend->close(c);
  }
}
