/*
 * Requests: complete-once, cancel, the per-request timer, and the callback
 * dispatch that ends a request's life. Starting them is start.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

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

void nox__req_discard(nox_req_t *req) {
  req_free_fields(req);
  free(req);
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
  nox__api_enter(req->client);
  if (req->state == NOX__REQ_DONE)
    return nox__api_fail(req->client, NOX_EALREADY,
                         "nox_req_cancel: the request's outcome is already "
                         "decided (its callback is about to run)");
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

int nox_req_resume(nox_req_t *req) {
  static const char fn[] = "nox_req_resume";
  if (req == NULL)
    return NOX_EINVAL;
  nox_client_t *c = req->client;
  nox__api_enter(c);
  if (req->op != NOX__OP_UPLOAD && req->op != NOX__OP_DOWNLOAD)
    return nox__api_fail(c, NOX_EINVAL,
                         "%s: req is not an upload or a download", fn);
  if (req->state == NOX__REQ_DONE || req->canceled)
    return nox__api_fail(c, NOX_EALREADY, "%s: the transfer already ended",
                         fn);
  int err = NOX_EINVAL;
  if (req->state == NOX__REQ_RUNNING && c->backend->resume != NULL)
    err = c->backend->resume(req);
  if (err == NOX_EINVAL)
    return nox__api_fail(c, err,
                         "%s: the transfer is not paused (no callback of it "
                         "returned NOX_PAUSE)",
                         fn);
  return nox__api_leave(c, fn, err);
}

const nox_transfer_report_t *nox_req_transfer(const nox_req_t *req) {
  if (req == NULL || (req->op != NOX__OP_UPLOAD && req->op != NOX__OP_DOWNLOAD))
    return NULL;
  return &req->transfer;
}
