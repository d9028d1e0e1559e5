/*
 * The worker pool and the bounded pipe of a streaming transfer (see
 * stream.h). Threads are libuv's portable ones, but the pool is the
 * client's own: a transfer may hold a worker for as long as it runs, which
 * must never starve libuv's shared threadpool (DNS, fs of the application).
 */
#include <stdlib.h>
#include <string.h>

#include "tar/stream.h"

/* Progress callbacks come at most this often, except the last one. */
#define PROGRESS_EVERY_MS 100

struct nox__pool {
  uv_mutex_t mu;
  uv_cond_t cv;
  unsigned nthreads, started;
  uv_thread_t *threads;
  nox__stream_t **queue; /* FIFO ring of jobs */
  size_t qcap, qhead, qlen;
  bool stop;
};

static void stream_free(nox__stream_t *s) {
  nox__stream_ev_t *ev = s->ev_head, *next;
  for (; ev != NULL; ev = next) {
    next = ev->next;
    free(ev);
  }
  for (size_t i = 0; i < s->nfiles; i++) {
    free((char *)s->files[i].path);
    free((void *)s->files[i].data);
  }
  free(s->files);
  free(s->dir);
  free(s->pack_src);
  nox__strv_free(s->include);
  nox__strv_free(s->exclude);
  free(s->buf);
  uv_mutex_destroy(&s->mu);
  uv_cond_destroy(&s->cv);
  free(s);
}

/* The worker's end of a job: report, wake the loop or free the stream. */
static void job_done(nox__stream_t *s, int status, const char *msg) {
  bool free_it;
  uv_mutex_lock(&s->mu);
  s->worker_done = true;
  s->status = status;
  if (status != 0 && s->msg[0] == '\0')
    snprintf(s->msg, sizeof(s->msg), "%s", msg);
  if (!s->loop_gone)
    uv_async_send(&s->async);
  free_it = s->loop_gone && s->async_closed;
  uv_mutex_unlock(&s->mu);
  if (free_it)
    stream_free(s);
}

static void worker(void *arg) {
  nox__pool_t *p = arg;
  char msg[256];
  uv_mutex_lock(&p->mu);
  for (;;) {
    while (p->qlen == 0 && !p->stop)
      uv_cond_wait(&p->cv, &p->mu);
    if (p->qlen == 0)
      break;
    nox__stream_t *s = p->queue[p->qhead];
    p->qhead = (p->qhead + 1) % p->qcap;
    p->qlen--;
    uv_mutex_unlock(&p->mu);
    msg[0] = '\0';
    uv_mutex_lock(&s->mu);
    bool skip = s->aborted; /* released before it started: nothing to do */
    uv_mutex_unlock(&s->mu);
    int status = skip ? NOX_ECANCELED : nox__stream_run(s, msg, sizeof(msg));
    job_done(s, status, msg);
    uv_mutex_lock(&p->mu);
  }
  uv_mutex_unlock(&p->mu);
}

nox__pool_t *nox__pool_new(unsigned n) {
  nox__pool_t *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return NULL;
  p->threads = calloc(n, sizeof(*p->threads));
  if (p->threads == NULL || uv_mutex_init(&p->mu) != 0) {
    free(p->threads);
    free(p);
    return NULL;
  }
  if (uv_cond_init(&p->cv) != 0) {
    uv_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
    return NULL;
  }
  p->nthreads = n;
  return p;
}

int nox__pool_submit(nox__pool_t *p, nox__stream_t *s) {
  int err = 0;
  uv_mutex_lock(&p->mu);
  if (p->qlen == p->qcap) {
    size_t ncap = p->qcap ? p->qcap * 2 : 8;
    nox__stream_t **q = malloc(ncap * sizeof(*q));
    if (q == NULL) {
      err = NOX_ENOMEM;
      goto out;
    }
    for (size_t i = 0; i < p->qlen; i++)
      q[i] = p->queue[(p->qhead + i) % p->qcap];
    free(p->queue);
    p->queue = q;
    p->qcap = ncap;
    p->qhead = 0;
  }
  /* Workers start as jobs come, up to the pool's size. */
  if (p->started < p->nthreads && p->started <= p->qlen) {
    if (uv_thread_create(&p->threads[p->started], worker, p) == 0)
      p->started++;
    else if (p->started == 0)
      err = NOX_ENOMEM;
  }
  if (err == 0) {
    p->queue[(p->qhead + p->qlen) % p->qcap] = s;
    p->qlen++;
    uv_cond_signal(&p->cv);
  }
out:
  uv_mutex_unlock(&p->mu);
  return err;
}

void nox__pool_free(nox__pool_t *p) {
  if (p == NULL)
    return;
  uv_mutex_lock(&p->mu);
  p->stop = true;
  uv_cond_broadcast(&p->cv);
  uv_mutex_unlock(&p->mu);
  /* Every stream was aborted when its request ended: the joins are short. */
  for (unsigned i = 0; i < p->started; i++)
    uv_thread_join(&p->threads[i]);
  uv_cond_destroy(&p->cv);
  uv_mutex_destroy(&p->mu);
  free(p->queue);
  free(p->threads);
  free(p);
}

/* ---- loop side ------------------------------------------------------------
 */

static void on_async(uv_async_t *a) {
  nox__stream_t *s = a->data;
  if (s->owner != NULL)
    s->wake(s);
}

nox__stream_t *nox__stream_new(uv_loop_t *loop, nox__stream_kind_t kind,
                               size_t cap, nox__stream_wake_cb wake,
                               void *owner) {
  nox__stream_t *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return NULL;
  s->kind = kind;
  s->cap = cap;
  s->wake = wake;
  s->owner = owner;
  if (uv_mutex_init(&s->mu) != 0) {
    free(s);
    return NULL;
  }
  if (uv_cond_init(&s->cv) != 0) {
    uv_mutex_destroy(&s->mu);
    free(s);
    return NULL;
  }
  if (uv_async_init(loop, &s->async, on_async) != 0) {
    uv_cond_destroy(&s->cv);
    uv_mutex_destroy(&s->mu);
    free(s);
    return NULL;
  }
  s->async.data = s;
  return s;
}

int nox__stream_start(nox__stream_t *s, nox__pool_t *pool) {
  int err = nox__pool_submit(pool, s);
  if (err == 0)
    s->pool = pool; /* from now on the job frees it with the loop side */
  return err;
}

size_t nox__stream_push(nox__stream_t *s, const void *buf, size_t len) {
  size_t r = 0;
  uv_mutex_lock(&s->mu);
  if (s->worker_done || s->aborted) {
    r = (size_t)-1;
  } else if (s->used == 0 || s->used + len <= s->cap) {
    /* An empty pipe takes any chunk, so one larger than cap still fits. */
    if (s->off + s->used + len > s->bufcap) {
      if (s->used + len > s->bufcap) {
        size_t ncap = s->used + len > s->cap ? s->used + len : s->cap;
        char *nb = malloc(ncap);
        if (nb == NULL) {
          uv_mutex_unlock(&s->mu);
          return (size_t)-1;
        }
        if (s->used > 0)
          memcpy(nb, s->buf + s->off, s->used);
        free(s->buf);
        s->buf = nb;
        s->bufcap = ncap;
      } else if (s->used > 0) {
        memmove(s->buf, s->buf + s->off, s->used);
      }
      s->off = 0;
    }
    if (len > 0)
      memcpy(s->buf + s->off + s->used, buf, len);
    s->used += len;
    r = len;
    uv_cond_signal(&s->cv);
  } else {
    s->loop_waiting = true;
  }
  uv_mutex_unlock(&s->mu);
  return r;
}

size_t nox__stream_pull(nox__stream_t *s, void *buf, size_t cap, bool *again) {
  size_t n = 0;
  *again = false;
  uv_mutex_lock(&s->mu);
  if (s->used > 0) {
    n = s->used < cap ? s->used : cap;
    memcpy(buf, s->buf + s->off, n);
    s->off += n;
    s->used -= n;
    if (s->used == 0)
      s->off = 0;
    uv_cond_signal(&s->cv);
  } else if (s->worker_done) {
    if (s->status != 0)
      n = (size_t)-1;
  } else {
    s->loop_waiting = true;
    *again = true;
  }
  uv_mutex_unlock(&s->mu);
  return n;
}

void nox__stream_finish(nox__stream_t *s) {
  uv_mutex_lock(&s->mu);
  s->eof = true;
  uv_cond_broadcast(&s->cv);
  uv_mutex_unlock(&s->mu);
}

void nox__stream_abort(nox__stream_t *s) {
  uv_mutex_lock(&s->mu);
  s->aborted = true;
  uv_cond_broadcast(&s->cv);
  uv_mutex_unlock(&s->mu);
}

nox__stream_ev_t *nox__stream_take_events(nox__stream_t *s) {
  uv_mutex_lock(&s->mu);
  nox__stream_ev_t *ev = s->ev_head;
  s->ev_head = s->ev_tail = NULL;
  s->ev_bytes = 0;
  uv_cond_broadcast(&s->cv);
  uv_mutex_unlock(&s->mu);
  return ev;
}

int nox__stream_deliver_events(nox__stream_t *s, nox_req_t *req) {
  nox__stream_ev_t *ev = nox__stream_take_events(s), *next;
  int err = 0;
  for (; ev != NULL; ev = next) {
    next = ev->next;
    bool gone =
        req->state == NOX__REQ_DONE || req->canceled || req->client->closing;
    if (err == 0 && !gone &&
        req->on_entry(req, &ev->entry, ev->header ? NULL : ev->data, ev->len) !=
            0)
      err = NOX_EUSER;
    free(ev);
  }
  return err;
}

bool nox__stream_snapshot(nox__stream_t *s, nox_transfer_report_t *rep,
                          int *status, char *msg, size_t msglen) {
  uv_mutex_lock(&s->mu);
  bool done = s->worker_done;
  rep->entries = s->entries;
  rep->refused = s->refused;
  rep->stripped = s->stripped;
  memcpy(rep->first_refused, s->first_refused, sizeof(rep->first_refused));
  if (status != NULL)
    *status = s->status;
  if (msg != NULL && msglen > 0)
    snprintf(msg, msglen, "%s", s->msg);
  uv_mutex_unlock(&s->mu);
  return done;
}

uint64_t nox__stream_packed(nox__stream_t *s) {
  uv_mutex_lock(&s->mu);
  uint64_t n = s->packed;
  uv_mutex_unlock(&s->mu);
  return n;
}

void nox__stream_progress(nox__stream_t *s, nox_req_t *req, uint64_t *last_ms,
                          uint64_t bytes, uint64_t total, bool final) {
  if (req->progress_cb == NULL)
    return;
  uint64_t now = uv_now(req->client->loop);
  if (!final && now - *last_ms < PROGRESS_EVERY_MS)
    return;
  *last_ms = now;
  nox_progress_t p = {bytes, total, 0, 0};
  if (s != NULL) {
    uv_mutex_lock(&s->mu);
    p.entries = s->entries;
    p.data_bytes = s->data_bytes;
    uv_mutex_unlock(&s->mu);
  }
  req->progress_cb(req, &p);
}

static void on_async_closed(uv_handle_t *h) {
  nox__stream_t *s = h->data;
  bool free_it;
  uv_mutex_lock(&s->mu);
  s->async_closed = true;
  /* A stream whose job never started has no worker to wait for. */
  free_it = s->worker_done || s->pool == NULL;
  uv_mutex_unlock(&s->mu);
  if (free_it)
    stream_free(s);
}

void nox__stream_release(nox__stream_t *s) {
  uv_mutex_lock(&s->mu);
  s->aborted = true;
  s->loop_gone = true;
  s->owner = NULL;
  uv_cond_broadcast(&s->cv);
  uv_mutex_unlock(&s->mu);
  uv_close((uv_handle_t *)&s->async, on_async_closed);
}

/* ---- worker side ------------------------------------------------------------
 */

static void wake_loop(nox__stream_t *s) {
  if (s->loop_waiting && !s->loop_gone) {
    s->loop_waiting = false;
    uv_async_send(&s->async);
  }
}

int nox__stream_write(void *data, const void *buf, size_t len) {
  nox__stream_t *s = data;
  const char *p = buf;
  uv_mutex_lock(&s->mu);
  while (len > 0) {
    while (!s->aborted && s->used >= s->cap)
      uv_cond_wait(&s->cv, &s->mu);
    if (s->aborted) {
      uv_mutex_unlock(&s->mu);
      return NOX_ECANCELED;
    }
    if (s->bufcap < s->cap) {
      char *nb = malloc(s->cap);
      if (nb == NULL) {
        uv_mutex_unlock(&s->mu);
        return NOX_ENOMEM;
      }
      if (s->used > 0)
        memcpy(nb, s->buf + s->off, s->used);
      free(s->buf);
      s->buf = nb;
      s->bufcap = s->cap;
      s->off = 0;
    }
    if (s->used == 0) {
      s->off = 0;
    } else if (s->off + s->used == s->bufcap) {
      memmove(s->buf, s->buf + s->off, s->used);
      s->off = 0;
    }
    size_t room = s->bufcap - s->off - s->used;
    size_t n = len < room ? len : room;
    memcpy(s->buf + s->off + s->used, p, n);
    s->used += n;
    p += n;
    len -= n;
    wake_loop(s);
  }
  uv_mutex_unlock(&s->mu);
  return 0;
}

ptrdiff_t nox__stream_read(nox__stream_t *s, void *buf, size_t cap) {
  uv_mutex_lock(&s->mu);
  while (!s->aborted && s->used == 0 && !s->eof)
    uv_cond_wait(&s->cv, &s->mu);
  ptrdiff_t n;
  if (s->aborted) {
    n = -1;
  } else {
    size_t k = s->used < cap ? s->used : cap;
    if (k > 0)
      memcpy(buf, s->buf + s->off, k);
    s->off += k;
    s->used -= k;
    if (s->used == 0)
      s->off = 0;
    s->consumed += k;
    n = (ptrdiff_t)k;
    wake_loop(s);
  }
  uv_mutex_unlock(&s->mu);
  return n;
}

int nox__stream_post(nox__stream_t *s, const nox_entry_t *e, bool header,
                     const void *data, size_t len) {
  size_t plen = e->path ? strlen(e->path) + 1 : 0;
  size_t llen = e->link ? strlen(e->link) + 1 : 0;
  nox__stream_ev_t *ev = malloc(sizeof(*ev) + len + plen + llen);
  if (ev == NULL)
    return NOX_ENOMEM;
  ev->next = NULL;
  ev->entry = *e;
  ev->header = header;
  ev->len = len;
  ev->data = (char *)(ev + 1);
  if (len > 0)
    memcpy(ev->data, data, len);
  ev->entry.path = plen ? memcpy(ev->data + len, e->path, plen) : NULL;
  ev->entry.link = llen ? memcpy(ev->data + len + plen, e->link, llen) : NULL;
  size_t cost = sizeof(*ev) + len + plen + llen;

  uv_mutex_lock(&s->mu);
  while (!s->aborted && s->ev_head != NULL && s->ev_bytes + cost > s->cap)
    uv_cond_wait(&s->cv, &s->mu);
  if (s->aborted) {
    uv_mutex_unlock(&s->mu);
    free(ev);
    return NOX_ECANCELED;
  }
  if (s->ev_tail != NULL)
    s->ev_tail->next = ev;
  else
    s->ev_head = ev;
  s->ev_tail = ev;
  s->ev_bytes += cost;
  if (!s->loop_gone)
    uv_async_send(&s->async);
  uv_mutex_unlock(&s->mu);
  return 0;
}

void nox__stream_count(nox__stream_t *s, const char *refused_name) {
  uv_mutex_lock(&s->mu);
  if (refused_name != NULL) {
    if (s->refused++ == 0)
      snprintf(s->first_refused, sizeof(s->first_refused), "%s", refused_name);
  } else {
    s->entries++;
  }
  uv_mutex_unlock(&s->mu);
}

void nox__stream_count_data(nox__stream_t *s, size_t n) {
  uv_mutex_lock(&s->mu);
  s->data_bytes += n;
  uv_mutex_unlock(&s->mu);
}

void nox__stream_count_stripped(nox__stream_t *s) {
  uv_mutex_lock(&s->mu);
  s->entries++;
  s->stripped++;
  uv_mutex_unlock(&s->mu);
}
