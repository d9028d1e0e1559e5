/*
 * Streaming uploads and downloads of the local backend. Once a job has
 * resolved the sandbox and the path (ops.c), the transfer runs as one job
 * on the client's tar worker pool, like the HTTP backend's:
 *
 *   upload, archive or read source   the loop feeds the pipe; the worker
 *                                    extracts into the destination
 *   upload, files or dir source      the worker packs into an unlinked
 *                                    temporary file, then extracts it
 *   download to on_data              the worker packs into the pipe; the
 *                                    loop hands chunks to on_data
 *   download to extract_dir/on_entry the worker packs into a temporary
 *                                    file, then unpacks it
 *
 * One job per transfer, so a transfer never waits for a second worker.
 * Uploads extract in place (the destination is the sandbox's directory):
 * members written before a failure stay, as with an interrupted `tar -x`.
 */
#include <stdlib.h>
#include <string.h>

#include "local/local.h"

#define CHUNK ((size_t)64 * 1024)

typedef enum { FEED, PULL, WAIT } mode_t_;

struct nox__local_xfer {
  nox__local_kind_t kind; /* NOX__LOCAL_XFER */
  nox__local_t *l;
  nox_req_t *req;
  nox__stream_t *s;
  mode_t_ mode;
  bool user_paused;
  bool input_done;
  const char *chunk; /* bytes not yet taken by the pipe or on_data */
  size_t chunk_len;
  size_t body_off;
  uint64_t bytes;
  uint64_t progress_ms;
  char buf[CHUNK];
};

/*
 * A job that packs into a temporary file and unpacks it (WAIT) moves no
 * byte through the loop: its archive bytes are the ones the unpacker read.
 */
static void count_packed(nox__local_xfer_t *x) {
  if (x->mode != WAIT)
    return;
  uv_mutex_lock(&x->s->mu);
  x->bytes = x->s->consumed;
  uv_mutex_unlock(&x->s->mu);
}

static void progress(nox__local_xfer_t *x, bool final) {
  count_packed(x);
  nox__stream_progress(x->s, x->req, &x->progress_ms, x->bytes, 0, final);
}

static void complete(nox__local_xfer_t *x, int status, const char *msg) {
  nox_req_t *req = x->req;
  int wstatus;
  char wmsg[sizeof(req->err.message)];
  nox__stream_snapshot(x->s, &req->transfer, &wstatus, wmsg, sizeof(wmsg));
  count_packed(x);
  req->transfer.bytes = x->bytes;
  if (status == 0 && wstatus != 0) {
    status = wstatus;
    msg = wmsg;
  }
  if (status != 0 && msg != NULL && msg[0] != '\0')
    nox__req_set_message(req, "%s", msg);
  nox__stream_abort(x->s);
  progress(x, true);
  nox__req_complete(req, status);
}

static bool gone(const nox_req_t *req) {
  return req->state == NOX__REQ_DONE || req->canceled || req->client->closing;
}

/* Upload from memory or the read callback into the pipe. */
static int feed(nox__local_xfer_t *x) {
  nox_req_t *req = x->req;
  while (!x->input_done && !x->user_paused) {
    if (x->chunk_len == 0) {
      if (req->read_cb == NULL) {
        size_t left = req->body.len - x->body_off;
        x->chunk = req->body.data + x->body_off;
        x->chunk_len = left < CHUNK ? left : CHUNK;
        x->body_off += x->chunk_len;
      } else {
        size_t got = 0;
        int r = req->read_cb(req, x->buf, CHUNK, &got);
        if (gone(req))
          return 0;
        if (r == NOX_PAUSE) {
          x->user_paused = true;
          break;
        }
        if (r != 0 || got > CHUNK) {
          nox__req_set_message(req, "the read callback stopped the upload");
          return NOX_EUSER;
        }
        x->chunk = x->buf;
        x->chunk_len = got;
      }
      if (x->chunk_len == 0) {
        x->input_done = true;
        nox__stream_finish(x->s);
        break;
      }
    }
    size_t n = nox__stream_push(x->s, x->chunk, x->chunk_len);
    if (n == 0 || n == (size_t)-1)
      break; /* full (woken when drained) or the worker ended */
    x->bytes += n;
    x->chunk_len = 0;
  }
  return 0;
}

/* Download: packed bytes from the pipe to on_data. Sets *end at the end. */
static int pull(nox__local_xfer_t *x, bool *end) {
  nox_req_t *req = x->req;
  *end = false;
  while (!x->user_paused) {
    if (x->chunk_len == 0) {
      bool again;
      size_t n = nox__stream_pull(x->s, x->buf, CHUNK, &again);
      if (again)
        break;
      if (n == 0 || n == (size_t)-1) {
        *end = true; /* the outcome is the worker's */
        break;
      }
      x->chunk = x->buf;
      x->chunk_len = n;
    }
    int r = req->on_data(req, x->chunk, x->chunk_len);
    if (gone(req))
      return 0;
    if (r == NOX_PAUSE) {
      x->user_paused = true;
      break;
    }
    req->delivered_data = true;
    if (r != 0) {
      nox__req_set_message(req, "the data callback stopped the download");
      return NOX_EUSER;
    }
    x->bytes += x->chunk_len;
    x->chunk_len = 0;
  }
  return 0;
}

static void on_wake(nox__stream_t *s) {
  nox__local_xfer_t *x = s->owner;
  nox_req_t *req = x->req;
  if (gone(req))
    return;
  /* Read "done" first: a finished worker's events are all queued. */
  nox_transfer_report_t rep;
  int status;
  bool done = nox__stream_snapshot(s, &rep, &status, NULL, 0);
  int err = nox__stream_deliver_events(s, req);
  if (gone(req))
    return;
  if (err != 0) {
    complete(x, err, "the entry callback stopped the download");
    return;
  }
  bool end = false;
  if (x->mode == FEED)
    err = feed(x);
  else if (x->mode == PULL)
    err = pull(x, &end);
  if (gone(req))
    return;
  if (err != 0) {
    complete(x, err, NULL);
    return;
  }
  progress(x, false);
  if (done && (x->mode != PULL || end || status != 0))
    complete(x, 0, NULL);
}

void nox__local_xfer_start(nox__local_job_t *job) {
  nox__local_t *l = job->local;
  nox_req_t *req = job->req;
  nox_client_t *c = l->client;
  nox__local_xfer_t *x = calloc(1, sizeof(*x));
  nox__stream_kind_t kind;
  mode_t_ mode = WAIT;

  if (req->op == NOX__OP_UPLOAD) {
    kind = NOX__STREAM_EXTRACT;
    if (req->nfiles == 0 && req->src_dir == NULL)
      mode = FEED;
  } else if (req->on_entry != NULL) {
    kind = NOX__STREAM_ENTRIES;
  } else if (req->extract_dir != NULL) {
    kind = NOX__STREAM_EXTRACT;
  } else {
    kind = NOX__STREAM_PACK_DIR;
    mode = PULL;
  }
  if (x == NULL ||
      (l->tar_pool == NULL &&
       (l->tar_pool = nox__pool_new(c->opts.tar_workers)) == NULL)) {
    free(x);
    nox__req_complete(req, NOX_ENOMEM);
    return;
  }
  x->kind = NOX__LOCAL_XFER;
  x->l = l;
  x->req = req;
  x->mode = mode;
  x->s =
      nox__stream_new(c->loop, kind, c->opts.stream_buffer_bytes, on_wake, x);
  if (x->s == NULL) {
    free(x);
    nox__req_complete(req, NOX_ENOMEM);
    return;
  }
  nox__stream_t *s = x->s;
  req->backend_data = x;
  l->pending++;
  /* The job owns what it reads: the request may go first (cancel). */
  s->limits = req->limits;
  s->include = req->include;
  s->exclude = req->exclude;
  req->include = req->exclude = NULL;
  if (req->op == NOX__OP_UPLOAD) {
    s->in_place = true;
    s->dir = job->hostdir;
    job->hostdir = NULL;
    if (req->nfiles > 0) {
      s->pack_files = true;
      s->files = req->files;
      s->nfiles = req->nfiles;
      req->files = NULL;
      req->nfiles = 0;
    } else if (req->src_dir != NULL) {
      s->pack_src = req->src_dir;
      req->src_dir = NULL;
    }
  } else if (kind == NOX__STREAM_PACK_DIR) {
    s->dir = job->hostdir;
    job->hostdir = NULL;
  } else {
    s->pack_src = job->hostdir;
    job->hostdir = NULL;
    s->dir = req->extract_dir;
    req->extract_dir = NULL;
  }
  int err = nox__stream_start(s, l->tar_pool);
  if (err != 0) {
    complete(x, err, "cannot start a tar worker");
    return;
  }
  on_wake(s);
}

int nox__local_xfer_resume(nox_req_t *req) {
  nox__local_xfer_t *x = req->backend_data;
  if (x == NULL || x->kind != NOX__LOCAL_XFER || !x->user_paused)
    return NOX_EINVAL;
  x->user_paused = false;
  /* Continue from the loop, outside whatever callback called us. */
  uv_async_send(&x->s->async);
  return 0;
}

void nox__local_xfer_abort(nox__local_xfer_t *x) {
  count_packed(x);
  x->req->transfer.bytes = x->bytes;
  nox__stream_snapshot(x->s, &x->req->transfer, NULL, NULL, 0);
  nox__stream_abort(x->s);
}

void nox__local_xfer_free(nox__local_xfer_t *x) {
  nox__local_t *l = x->l;
  x->req->backend_data = NULL;
  nox__stream_release(x->s);
  free(x);
  l->pending--;
  nox__local_maybe_closed(l);
}
