/*
 * Streaming uploads and downloads over curl: the read and write callbacks
 * that feed or drain a transfer's pipe (or the caller's own callbacks), the
 * pause/resume dance with curl, progress reports and the wake-ups of
 * workers.
 *
 * curl is paused from inside its callbacks by returning *_PAUSE, and
 * unpaused only from uv callbacks (a stream's async wake-up, or the resume
 * timer for nox_req_resume()), never from inside a curl callback.
 *
 * Retries: a download is retried only before any byte reached its sink; an
 * upload from a streamed source (files, dir, read) only when curl never
 * asked it for a byte (the connection was refused). So a worker is only
 * ever taken by a transfer that is moving bytes, and never held across a
 * backoff or the admission queue.
 */
#include <stdlib.h>
#include <string.h>

#include "http.h"

void nox__http_stream_progress(nox__xfer_t *x, bool final) {
  nox__stream_progress(x->stream, x->req, &x->progress_ms, x->xbytes, x->total,
                       final);
}

/* Hands a worker's outcome to the transfer, runs entry callbacks. */
static void on_wake(nox__stream_t *s) {
  nox__xfer_t *x = s->owner;
  nox_req_t *req = x->req;
  if (req->state == NOX__REQ_DONE || req->canceled)
    return;

  /* Read "done" first: every event of a finished worker is queued by then. */
  int status;
  nox_transfer_report_t rep;
  bool done = nox__stream_snapshot(s, &rep, &status, NULL, 0);
  int uerr = nox__stream_deliver_events(s, req);
  if (req->state == NOX__REQ_DONE || req->canceled)
    return;
  if (uerr != 0) {
    nox__req_set_message(req, "the entry callback stopped the download");
    if (x->state == NOX__XFER_ACTIVE)
      nox__http_fail(x, uerr);
    else
      nox__http_complete(x, uerr);
    return;
  }

  if (x->draining) {
    if (done) {
      x->draining = false;
      nox__http_complete(x, 0);
    }
    return;
  }
  if (x->state != NOX__XFER_ACTIVE)
    return;
  if (done && status != 0) {
    char msg[sizeof(req->err.message)];
    nox__stream_snapshot(s, &rep, &status, msg, sizeof(msg));
    nox__req_set_message(req, "%s", msg);
    nox__http_fail(x, status);
    return;
  }
  nox__http_stream_progress(x, false);
  if (x->paused && !x->user_paused) {
    x->paused = false;
    curl_easy_pause(x->easy, CURLPAUSE_CONT);
    nox__http_check_done(x->http);
  }
}

static int start_stream(nox__xfer_t *x, nox__stream_kind_t kind) {
  nox_req_t *req = x->req;
  nox_client_t *c = req->client;
  nox__http_t *h = x->http;
  if (h->tar_pool == NULL &&
      (h->tar_pool = nox__pool_new(c->opts.tar_workers)) == NULL)
    return NOX_ENOMEM;
  nox__stream_t *s =
      nox__stream_new(c->loop, kind, c->opts.stream_buffer_bytes, on_wake, x);
  if (s == NULL)
    return NOX_ENOMEM;
  /* The job owns what it reads: the request may go first (cancel). */
  s->files = req->files;
  s->nfiles = req->nfiles;
  req->files = NULL;
  req->nfiles = 0;
  s->include = req->include;
  s->exclude = req->exclude;
  req->include = req->exclude = NULL;
  s->dir = kind == NOX__STREAM_PACK_DIR ? req->src_dir : req->extract_dir;
  if (kind == NOX__STREAM_PACK_DIR)
    req->src_dir = NULL;
  else
    req->extract_dir = NULL;
  s->limits = req->limits;
  x->stream = s;
  return nox__stream_start(s, h->tar_pool);
}

size_t nox__http_stream_write(nox__xfer_t *x, char *buf, size_t len) {
  nox_req_t *req = x->req;
  if (x->xbytes == 0) {
    curl_off_t cl = -1;
    curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    x->total = cl > 0 ? (uint64_t)cl : 0;
  }
  if (req->extract_dir == NULL && req->on_entry == NULL && x->stream == NULL) {
    int r = req->on_data(req, buf, len);
    if (r == NOX_PAUSE) {
      x->paused = x->user_paused = true;
      return CURL_WRITEFUNC_PAUSE;
    }
    req->delivered_data = true;
    if (r != 0) {
      nox__req_set_message(req, "the data callback stopped the download");
      x->fail = NOX_EUSER;
      return 0;
    }
    x->xbytes += len;
    nox__http_stream_progress(x, false);
    return len;
  }

  if (x->stream == NULL) {
    int err = start_stream(x, req->on_entry != NULL ? NOX__STREAM_ENTRIES
                                                    : NOX__STREAM_EXTRACT);
    if (err != 0) {
      x->fail = err;
      return 0;
    }
  }
  size_t n = nox__stream_push(x->stream, buf, len);
  if (n == 0) {
    x->paused = true;
    return CURL_WRITEFUNC_PAUSE;
  }
  req->delivered_data = true;
  if (n == (size_t)-1) {
    int status;
    nox_transfer_report_t rep;
    char msg[sizeof(req->err.message)];
    nox__stream_snapshot(x->stream, &rep, &status, msg, sizeof(msg));
    nox__req_set_message(req, "%s", msg);
    x->fail = status != 0 ? status : NOX_EARCHIVE;
    return 0;
  }
  x->xbytes += len;
  nox__http_stream_progress(x, false);
  return len;
}

size_t nox__http_on_read(char *buf, size_t size, size_t n, void *ud) {
  nox__xfer_t *x = ud;
  nox_req_t *req = x->req;
  size_t cap = size * n, got = 0;
  if (req->canceled || req->state == NOX__REQ_DONE) {
    x->fail = NOX_ECANCELED;
    return CURL_READFUNC_ABORT;
  }
  x->read_started = true;
  if (req->read_cb != NULL) {
    int r = req->read_cb(req, buf, cap, &got);
    if (r == NOX_PAUSE) {
      x->paused = x->user_paused = true;
      return CURL_READFUNC_PAUSE;
    }
    if (r != 0 || got > cap) {
      nox__req_set_message(req, "the read callback stopped the upload");
      x->fail = NOX_EUSER;
      return CURL_READFUNC_ABORT;
    }
  } else {
    if (x->stream == NULL) {
      int err = start_stream(x, req->src_dir != NULL ? NOX__STREAM_PACK_DIR
                                                     : NOX__STREAM_PACK_FILES);
      if (err != 0) {
        x->fail = err;
        return CURL_READFUNC_ABORT;
      }
    }
    bool again;
    got = nox__stream_pull(x->stream, buf, cap, &again);
    if (again) {
      x->paused = true;
      return CURL_READFUNC_PAUSE;
    }
    if (got == (size_t)-1) {
      int status;
      nox_transfer_report_t rep;
      char msg[sizeof(req->err.message)];
      nox__stream_snapshot(x->stream, &rep, &status, msg, sizeof(msg));
      nox__req_set_message(req, "%s", msg);
      x->fail = status;
      return CURL_READFUNC_ABORT;
    }
  }
  x->xbytes += got;
  nox__http_stream_progress(x, false);
  return got;
}

bool nox__http_stream_finish(nox__xfer_t *x, int status) {
  nox__stream_t *s = x->stream;
  if (s == NULL)
    return false;
  if (status != 0 || s->kind == NOX__STREAM_PACK_FILES ||
      s->kind == NOX__STREAM_PACK_DIR) {
    /* The worker (if still running) stops and removes its temporary tree. */
    nox__stream_abort(s);
    return false;
  }
  nox__stream_finish(s);
  /* Completed from on_wake, after the last entry events are delivered. */
  x->draining = true;
  uv_async_send(&s->async);
  return true;
}

/* ---- nox_req_resume() ------------------------------------------------------
 */

void nox__http_on_resume_timer(uv_timer_t *t) {
  nox__http_t *h = t->data;
  nox__list_t *n;
  while ((n = nox__list_pop_front(&h->resume_q)) != NULL) {
    nox__xfer_t *x = nox__list_entry(n, nox__xfer_t, rnode);
    x->resume_queued = false;
    if (x->state == NOX__XFER_ACTIVE && x->user_paused) {
      x->user_paused = x->paused = false;
      curl_easy_pause(x->easy, CURLPAUSE_CONT);
    }
  }
  nox__http_check_done(h);
}

int nox__http_resume(nox_req_t *req) {
  nox__xfer_t *x = req->backend_data;
  if (x == NULL || x->state != NOX__XFER_ACTIVE || !x->user_paused)
    return NOX_EINVAL;
  if (!x->resume_queued) {
    x->resume_queued = true;
    nox__list_push_back(&x->http->resume_q, &x->rnode);
    uv_timer_start(&x->http->resume_timer, nox__http_on_resume_timer, 0, 0);
  }
  return 0;
}
