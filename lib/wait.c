/*
 * wait-ready: probe the sandbox with `echo ready` until it answers with exit
 * code 0 or the deadline passes. The probes are ordinary (internal) exec
 * requests, so this works the same on every backend; the pauses and the
 * overall deadline share the waiting request's own timer.
 */
#include "internal.h"

static void probe(nox_req_t *req);

static void on_deadline(nox_req_t *req) {
  nox__wait_abort(req);
  nox__req_set_message(req, "sandbox not ready after %u ms",
                       (unsigned)req->wait_timeout_ms);
  nox__req_complete(req, NOX_ETIMEDOUT);
}

bool nox__probe_not_ready(const nox_req_t *p, int status) {
  switch (status) {
  case NOX_EUNAVAIL:
  case NOX_ECONNECT:
  case NOX_ETRANSPORT:
  case NOX_ETIMEDOUT:
  case NOX_EPROTO:
    return true;
  case NOX_EHTTP:
    return p->err.http_status >= 500;
  default:
    return false;
  }
}

static void on_probe_done(nox_req_t *p, int status) {
  nox_req_t *req = p->parent;
  if (req == NULL || req->state == NOX__REQ_DONE)
    return; /* the wait ended first */
  req->probe = NULL;
  req->attempts++;
  if (status == 0 && p->result.exit_code == 0) {
    nox__req_complete(req, 0);
    return;
  }
  if (status != 0 && !nox__probe_not_ready(p, status)) {
    req->err.http_status = p->err.http_status;
    req->err.curl_code = p->err.curl_code;
    nox__req_set_message(req, "%s", p->err.message);
    nox__req_complete(req, status);
    return;
  }
  uint64_t now = uv_now(req->client->loop);
  uint64_t left = req->deadline_ms > now ? req->deadline_ms - now : 0;
  int err = left > req->wait_interval_ms
                ? nox__req_start_timer(req, req->wait_interval_ms, probe)
                : nox__req_start_timer(req, left, on_deadline);
  if (err != 0)
    nox__req_complete(req, err);
}

static void probe(nox_req_t *req) {
  int err = nox__req_start_probe(req, &req->probe, on_probe_done);
  if (err != 0) {
    nox__req_complete(req, err);
    return;
  }
  uint64_t now = uv_now(req->client->loop);
  uint64_t left = req->deadline_ms > now ? req->deadline_ms - now : 0;
  if (nox__req_start_timer(req, left, on_deadline) != 0)
    nox__req_complete(req, NOX_ENOMEM);
}

void nox__wait_start(nox_req_t *req) {
  req->deadline_ms = uv_now(req->client->loop) + req->wait_timeout_ms;
  probe(req);
}

void nox__wait_abort(nox_req_t *req) {
  nox_req_t *p = req->probe;
  nox__req_stop_timer(req);
  if (p != NULL) {
    req->probe = NULL;
    p->parent = NULL;
    nox_req_cancel(p);
  }
}
