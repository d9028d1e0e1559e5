/*
 * curl multi-socket on libuv: one uv_poll_t per curl socket, made when curl
 * opens the socket and closed when curl closes it or the fd number comes
 * back for a new socket, and one uv_timer_t for curl's timeouts.
 *
 * libcurl is only called from uv callbacks and the client's idle drain,
 * never from inside one of its own callbacks; completions are read after
 * curl_multi_socket_action() returns.
 *
 * In front of curl sits a FIFO: at most max_transfers transfers hold an easy
 * handle at once, so thousands of outstanding requests cost a list node
 * each, not a socket or a curl handle.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"

typedef struct nox__sock {
  nox__http_t *http;
  curl_socket_t fd;
  uv_poll_t poll;
  nox__list_t node;
  int events; /* what the watcher is started for (0: stopped) */
  bool closing;
} nox__sock_t;

static void check_done(nox__http_t *h);
static void pump(nox__http_t *h);

static void maybe_closed(nox__http_t *h) {
  if (h->closing && h->pending_closes == 0) {
    nox_client_t *c = h->client;
    free(h->socks_by_fd);
    free(h->pool);
    /* Every stream was released (aborted): the workers end promptly. */
    nox__pool_free(h->tar_pool);
    free(h);
    c->backend_data = NULL;
    nox__client_backend_closed(c);
  }
}

static void on_sock_closed(uv_handle_t *handle) {
  nox__sock_t *s = handle->data;
  nox__http_t *h = s->http;
  free(s);
  h->pending_closes--;
  maybe_closed(h);
}

static nox__sock_t *sock_lookup(nox__http_t *h, curl_socket_t fd) {
  return fd >= 0 && (size_t)fd < h->nsocks_by_fd ? h->socks_by_fd[fd] : NULL;
}

static void sock_close(nox__sock_t *s) {
  nox__http_t *h = s->http;
  if (s->closing)
    return;
  s->closing = true;
  if (sock_lookup(h, s->fd) == s)
    h->socks_by_fd[s->fd] = NULL;
  nox__list_remove(&s->node);
  h->pending_closes++;
  uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

/* A watcher for a socket curl just opened; it lives until curl closes it. */
static nox__sock_t *sock_new(nox__http_t *h, curl_socket_t fd) {
  if ((size_t)fd >= h->nsocks_by_fd) {
    size_t n = h->nsocks_by_fd ? h->nsocks_by_fd : 64;
    while (n <= (size_t)fd)
      n *= 2;
    nox__sock_t **t = realloc(h->socks_by_fd, n * sizeof(*t));
    if (t == NULL)
      return NULL;
    memset(t + h->nsocks_by_fd, 0, (n - h->nsocks_by_fd) * sizeof(*t));
    h->socks_by_fd = t;
    h->nsocks_by_fd = n;
  }
  /* A context left by a socket curl closed without telling us. */
  if (h->socks_by_fd[fd] != NULL)
    sock_close(h->socks_by_fd[fd]);
  nox__sock_t *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return NULL;
  s->http = h;
  s->fd = fd;
  if (uv_poll_init_socket(h->client->loop, &s->poll, fd) != 0) {
    free(s);
    return NULL;
  }
  s->poll.data = s;
  nox__list_push_back(&h->socks, &s->node);
  h->socks_by_fd[fd] = s;
  return s;
}

/*
 * The watcher follows the socket from curl's open to curl's close, so a
 * kept-alive connection keeps its context (no allocation per request);
 * between requests it is only stopped.
 */
curl_socket_t nox__http_open_socket(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *a) {
  nox__xfer_t *x = clientp;
  nox__http_t *h = x->http;
  (void)purpose;
  curl_socket_t fd =
      socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  if (fd == CURL_SOCKET_BAD)
    return CURL_SOCKET_BAD;
  if (!h->closing && sock_new(h, fd) == NULL) {
    close(fd);
    x->fail = NOX_ENOMEM; /* curl would call it a failed connect */
    return CURL_SOCKET_BAD;
  }
  return fd;
}

int nox__http_close_socket(void *clientp, curl_socket_t fd) {
  nox__http_t *h = clientp;
  nox__sock_t *s = sock_lookup(h, fd);
  if (s != NULL)
    sock_close(s); /* stops watching before the fd number can be reused */
  return close(fd);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  nox__sock_t *s = p->data;
  nox__http_t *h = s->http;
  int flags = 0, running;
  /*
   * On a socket error let curl read or write and meet the real errno
   * ("connection reset by peer") instead of a bare "poll error".
   */
  if (status < 0)
    flags = CURL_CSELECT_IN | CURL_CSELECT_OUT;
  if (events & UV_READABLE)
    flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE)
    flags |= CURL_CSELECT_OUT;
  curl_multi_socket_action(h->multi, s->fd, flags, &running);
  check_done(h);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                          void *socketp) {
  nox__http_t *h = userp;
  nox__sock_t *s = sock_lookup(h, fd);
  (void)easy;
  (void)socketp;

  /*
   * Stop watching at once: libcurl 7.88 closes some sockets (a connect
   * abandoned by a cancel, for one) without its close-socket callback, and
   * a watcher still queued or armed on a closed fd makes libuv abort.
   */
  if (what == CURL_POLL_REMOVE) {
    if (s != NULL && !s->closing && s->events != 0) {
      uv_poll_stop(&s->poll);
      s->events = 0;
    }
    return 0;
  }
  if (h->closing)
    return 0;
  if (s == NULL && (s = sock_new(h, fd)) == NULL)
    return -1; /* curl fails the transfer with an error */
  int events = 0;
  if (what & CURL_POLL_IN)
    events |= UV_READABLE;
  if (what & CURL_POLL_OUT)
    events |= UV_WRITABLE;
  if (events != s->events) {
    s->events = events;
    uv_poll_start(&s->poll, events, on_poll);
  }
  return 0;
}

static void on_timer(uv_timer_t *t) {
  nox__http_t *h = t->data;
  int running;
  curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(h);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
  nox__http_t *h = userp;
  (void)multi;
  if (h->closing)
    return 0;
  if (timeout_ms < 0)
    uv_timer_stop(&h->timer);
  else
    uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
  return 0;
}

/* Takes a transfer's easy handle back into the pool (or frees it). */
static void easy_put(nox__http_t *h, nox__xfer_t *x) {
  if (x->easy == NULL)
    return;
  curl_multi_remove_handle(h->multi, x->easy);
  h->active--;
  if (h->npool < h->client->opts.max_transfers) {
    curl_easy_reset(x->easy);
    h->pool[h->npool++] = x->easy;
  } else {
    curl_easy_cleanup(x->easy);
  }
  x->easy = NULL;
}

static void on_backoff_done(nox_req_t *req) {
  nox__xfer_t *x = req->backend_data;
  x->state = NOX__XFER_IDLE;
  nox__http_enqueue(x);
}

static void finish(nox__http_t *h, nox__xfer_t *x, CURLcode rc) {
  nox_req_t *req = x->req;
  nox__req_stop_timer(req); /* the stall watch */
  long code = 0;
  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
  if (code != 0)
    x->http_status = code;
  easy_put(h, x);
  x->state = NOX__XFER_IDLE;
  x->paused = x->user_paused = false;
  if (x->resume_queued) {
    nox__list_remove(&x->rnode);
    x->resume_queued = false;
  }
  int status = nox__http_finish_status(x, rc);
  uint64_t delay;
  /* While a close waits for the registry's deletes, those still retry. */
  if (status != 0 && !(h->client->closing && !h->client->close_deferred) &&
      nox__http_should_retry(x, status, &delay)) {
    nox__http_reset_attempt(x);
    x->state = NOX__XFER_BACKOFF;
    if (nox__req_start_timer(req, delay, on_backoff_done) == 0)
      return;
    status = NOX_ENOMEM;
  }
  if (nox__http_stream_finish(x, status))
    return; /* the worker still unpacks; its wake-up completes the request */
  nox__http_complete(x, status);
}

void nox__http_complete(nox__xfer_t *x, int status) {
  nox_req_t *req = x->req;
  if (req->op == NOX__OP_UPLOAD || req->op == NOX__OP_DOWNLOAD) {
    req->transfer.bytes = x->xbytes;
    if (x->stream != NULL) {
      int wstatus;
      char msg[sizeof(req->err.message)];
      nox__stream_snapshot(x->stream, &req->transfer, &wstatus, msg,
                           sizeof(msg));
      if (status == 0 && wstatus != 0) {
        status = wstatus;
        nox__req_set_message(req, "%s", msg);
      }
    }
    nox__http_stream_progress(x, true);
  }
  nox__req_complete(req, status);
}

void nox__http_fail(nox__xfer_t *x, int status) {
  if (x->state != NOX__XFER_ACTIVE)
    return;
  x->fail = status;
  finish(x->http, x, CURLE_ABORTED_BY_CALLBACK);
  pump(x->http);
}

void nox__http_check_done(nox__http_t *h) { check_done(h); }

/*
 * Uploads and downloads have no overall deadline; they fail when no byte has
 * moved either way for request_timeout_ms. Checked on the request's timer a
 * few times per period (curl's own low-speed check only runs when curl is
 * woken, which can be much later on an idle connection).
 */
static void on_stall_check(nox_req_t *req);

static void watch_stall(nox__xfer_t *x) {
  uint64_t period = x->req->client->opts.request_timeout_ms;
  uint64_t tick = period / 4 > 10 ? period / 4 : 10;
  if (nox__req_start_timer(x->req, tick, on_stall_check) != 0)
    x->progress_at = 0; /* no watch; curl still finishes or fails it */
}

static void on_stall_check(nox_req_t *req) {
  nox__xfer_t *x = req->backend_data;
  nox__http_t *h = x->http;
  curl_off_t up = 0, down = 0;
  uint64_t now = uv_now(h->client->loop);
  if (x->state != NOX__XFER_ACTIVE)
    return;
  long head = 0;
  curl_easy_getinfo(x->easy, CURLINFO_SIZE_UPLOAD_T, &up);
  curl_easy_getinfo(x->easy, CURLINFO_SIZE_DOWNLOAD_T, &down);
  /* A response head dripping in is progress too, not only its body. */
  curl_easy_getinfo(x->easy, CURLINFO_HEADER_SIZE, &head);
  down += head;
  if (x->paused) {
    /* Waiting on our own side (a worker, or the caller's NOX_PAUSE). */
    x->progress_at = now;
  } else if (up + down != x->progress) {
    x->progress = up + down;
    x->progress_at = now;
  } else if (now - x->progress_at >= h->client->opts.request_timeout_ms) {
    nox__req_set_message(req, "transfer stalled: nothing moved for %u ms",
                         (unsigned)h->client->opts.request_timeout_ms);
    finish(h, x, CURLE_OPERATION_TIMEDOUT);
    pump(h);
    return;
  }
  watch_stall(x);
}

static void check_done(nox__http_t *h) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    nox__xfer_t *x = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    finish(h, x, msg->data.result);
  }
  pump(h);
}

/* Hands waiting transfers to curl while there is room. */
static void pump(nox__http_t *h) {
  nox__list_t *n;
  while (h->active < h->client->opts.max_transfers &&
         (n = nox__list_pop_front(&h->waiting)) != NULL) {
    nox__xfer_t *x = nox__list_entry(n, nox__xfer_t, wnode);
    x->easy = h->npool > 0 ? h->pool[--h->npool] : curl_easy_init();
    int err = x->easy ? nox__http_setup_easy(x) : NOX_ENOMEM;
    if (err == 0 && curl_multi_add_handle(h->multi, x->easy) != CURLM_OK)
      err = NOX_EINTERNAL;
    if (err != 0) {
      if (x->easy)
        curl_easy_cleanup(x->easy);
      x->easy = NULL;
      x->state = NOX__XFER_IDLE;
      nox__req_complete(x->req, err);
      continue;
    }
    h->active++;
    x->state = NOX__XFER_ACTIVE;
    x->req->attempts++;
    if (x->timeout_ms == 0) {
      x->progress = 0;
      x->progress_at = uv_now(h->client->loop);
      watch_stall(x);
    }
  }
}

void nox__http_enqueue(nox__xfer_t *x) {
  x->state = NOX__XFER_WAITING;
  nox__list_push_back(&x->http->waiting, &x->wnode);
  pump(x->http);
}

/* ---- the backend vtable ------------------------------------------------- */

static int http_init(nox_client_t *c) {
  nox__http_t *h = calloc(1, sizeof(*h));
  if (h == NULL)
    return NOX_ENOMEM;
  h->client = c;
  h->pool = calloc(c->opts.max_transfers, sizeof(*h->pool));
  h->multi = curl_multi_init();
  if (h->pool == NULL || h->multi == NULL) {
    if (h->multi)
      curl_multi_cleanup(h->multi);
    free(h->pool);
    free(h);
    return NOX_ENOMEM;
  }
  nox__list_init(&h->waiting);
  nox__list_init(&h->socks);
  const nox_client_options_t *o = &c->opts;
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                    (long)o->max_connections);
  curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                    (long)o->max_host_connections);
  /* Keep every allowed connection alive in the cache for reuse. */
  curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)o->max_connections);
  curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  h->tar_pool = NULL;
  nox__list_init(&h->resume_q);
  uv_timer_init(c->loop, &h->timer);
  h->timer.data = h;
  uv_timer_init(c->loop, &h->resume_timer);
  h->resume_timer.data = h;
  c->backend_data = h;
  return 0;
}

static void http_start(nox_req_t *req) {
  nox__xfer_t *x = req->backend_data;
  nox__http_enqueue(x);
}

static void http_abort(nox_req_t *req) {
  nox__xfer_t *x = req->backend_data;
  nox__http_t *h = x->http;
  switch (x->state) {
  case NOX__XFER_WAITING:
    nox__list_remove(&x->wnode);
    break;
  case NOX__XFER_ACTIVE:
    easy_put(h, x);
    pump(h);
    break;
  case NOX__XFER_BACKOFF:
    nox__req_stop_timer(req);
    break;
  case NOX__XFER_IDLE:
    break;
  }
  x->state = NOX__XFER_IDLE;
  x->draining = false;
  if (x->resume_queued) {
    nox__list_remove(&x->rnode);
    x->resume_queued = false;
  }
  /* A canceled transfer reports what moved, whatever its source or sink. */
  if (req->op == NOX__OP_UPLOAD || req->op == NOX__OP_DOWNLOAD)
    req->transfer.bytes = x->xbytes;
  if (x->stream != NULL) {
    nox__stream_abort(x->stream);
    nox__stream_snapshot(x->stream, &req->transfer, NULL, NULL, 0);
  }
}

static void http_release(nox_req_t *req) {
  nox__xfer_t *x = req->backend_data;
  req->backend_data = NULL;
  if (x->resume_queued)
    nox__list_remove(&x->rnode);
  if (x->stream != NULL)
    nox__stream_release(x->stream);
  if (x->state == NOX__XFER_WAITING)
    nox__list_remove(&x->wnode);
  if (x->easy != NULL)
    easy_put(x->http, x);
  nox__http_xfer_free(x);
}

static void on_timer_closed(uv_handle_t *handle) {
  nox__http_t *h = handle->data;
  h->pending_closes--;
  maybe_closed(h);
}

static void http_close(nox_client_t *c) {
  nox__http_t *h = c->backend_data;
  nox__list_t *n;
  h->closing = true;
  h->pending_closes++; /* held until every close below is under way */
  /* Stop watching before curl closes the sockets it still caches. */
  while ((n = h->socks.next) != &h->socks)
    sock_close(nox__list_entry(n, nox__sock_t, node));
  for (size_t i = 0; i < h->npool; i++)
    curl_easy_cleanup(h->pool[i]);
  h->npool = 0;
  curl_multi_cleanup(h->multi);
  h->multi = NULL;
  h->pending_closes += 2;
  uv_close((uv_handle_t *)&h->timer, on_timer_closed);
  uv_close((uv_handle_t *)&h->resume_timer, on_timer_closed);
  h->pending_closes--;
  maybe_closed(h);
}

const nox__backend_t nox__http_backend = {
    "http",     http_init,    nox__http_prepare, http_start,
    http_abort, http_release, http_close,        nox__http_resume,
};
