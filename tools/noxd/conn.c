/*
 * One HTTP request, from its headers to its completion: the MHD callbacks
 * and the answers. A request waiting on a libnoxrunner operation suspends
 * its connection; the operation's callback sets the answer and resumes it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <strings.h>

#include "noxd.h"

/* ------------------------------------------------------------------------ */
/* Answers                                                                  */
/* ------------------------------------------------------------------------ */

/* body is malloc'd and becomes MHD's; NULL for an empty body. */
void noxd_reply(noxd_conn_t *c, unsigned status, const char *content_type,
                char *body, size_t len) {
  if (c->resp != NULL || c->peer_gone) { /* the first answer wins */
    free(body);
    return;
  }
  struct MHD_Response *r;
  if (body != NULL) {
    r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL)
      free(body);
  } else {
    r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  }
  if (r == NULL)
    return; /* out of memory: MHD drops the connection */
  if (content_type != NULL)
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  if (status == MHD_HTTP_UNAUTHORIZED)
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED && c->allow != NULL)
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, c->allow);
  if (c->srv->stopping)
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
  c->resp = r;
  c->resp_status = status;
}

static void reply_json_error(noxd_conn_t *c, unsigned status, const char *msg,
                             const char *code) {
  char *body;
  size_t len;
  if (noxd_json_error(msg, code, &body, &len) != 0)
    noxd_reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL, 0);
  else
    noxd_reply(c, status, "application/json", body, len);
}

void noxd_reply_error(noxd_conn_t *c, unsigned status, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  reply_json_error(c, status, msg, NULL);
}

void noxd_reply_nox_error(noxd_conn_t *c, int err, const char *msg) {
  char text[512];
  snprintf(text, sizeof(text), "%s", msg);
  reply_json_error(c, noxd_status_for(err), text, nox_err_name(err));
}

/* MHD runs on the next loop turn, once for every connection resumed by then. */
static void kick(noxd_server_t *s) {
  noxd_mhd_uv_kick(&s->front);
}

/* ------------------------------------------------------------------------ */
/* Clients that leave                                                       */
/* ------------------------------------------------------------------------ */

/*
 * MHD does not poll a suspended connection, so it would see a client's close
 * only once the answer is ready: a canceled `noxrc exec` would leave its
 * command running to the end. While a connection waits on a nox request
 * (c->waiting) its socket is watched here instead, on a handle of its own
 * that outlives the connection until its close callback. A hangup, a reset
 * or end-of-file cancels the request, which kills the command; the
 * connection then ends without an answer. Bytes already sent after the
 * request (pipelining) are left for MHD, and only a hangup is news then.
 */
typedef struct peer_watch {
  uv_poll_t poll;
  noxd_conn_t *c;
} peer_watch_t;

static void on_watch_closed(uv_handle_t *h) {
  free(h->data);
}

static void unwatch_peer(noxd_conn_t *c) {
  peer_watch_t *w = c->peer_watch;

  if (w == NULL)
    return;
  c->peer_watch = NULL;
  /* Stopped at once, so MHD may close the socket before the callback. */
  uv_close((uv_handle_t *)&w->poll, on_watch_closed);
}

static void peer_left(noxd_conn_t *c) {
  unwatch_peer(c);
  c->peer_gone = true;
  if (c->waiting != NULL)
    nox_req_cancel(c->waiting); /* its callback resumes the connection */
}

static void on_peer(uv_poll_t *p, int status, int events) {
  peer_watch_t *w = p->data;
  uv_os_fd_t fd;
  if (status == 0 && !(events & UV_DISCONNECT) &&
      uv_fileno((uv_handle_t *)p, &fd) == 0) {
    char byte;
    ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {
      uv_poll_start(p, UV_DISCONNECT, on_peer); /* no busy loop on them */
      return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      return;
  }
  peer_left(w->c);
}

static void watch_peer(noxd_conn_t *c) {
  const union MHD_ConnectionInfo *i =
      MHD_get_connection_info(c->mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (i == NULL || c->peer_watch != NULL)
    return;
  peer_watch_t *w = calloc(1, sizeof(*w));
  if (w == NULL)
    return; /* unwatched: the command runs to its end, as before */
  if (uv_poll_init(c->srv->loop, &w->poll, i->connect_fd) != 0) {
    free(w);
    return;
  }
  w->c = c;
  w->poll.data = w;
  c->peer_watch = w;
  uv_poll_start(&w->poll, UV_READABLE | UV_DISCONNECT, on_peer);
}

void noxd_resume(noxd_conn_t *c) {
  unwatch_peer(c);
  c->waiting = NULL; /* its callback is running: the handle dies with it */
  if (!c->suspended)
    return;
  c->suspended = false;
  c->srv->suspended--;
  MHD_resume_connection(c->mhd);
  kick(c->srv);
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * Slow clients. A new connection must deliver its first request line and
 * headers within header_timeout_s (MHD calls us only once they are
 * complete, and its idle timeout restarts with every byte, so a client
 * sending one byte a second would hold a connection for hours): a sweep
 * shuts down connections still "fresh" past that. Bodies are checked as
 * they arrive: a JSON body within body_timeout_s, an upload at
 * min_upload_rate bytes/s on average once header_timeout_s has passed.
 * Other connections are not affected.
 */
typedef struct fresh {
  struct fresh *next, *prev; /* on s->fresh while no request has started */
  struct MHD_Connection *mc;
  uint64_t start_ns;
  bool listed;
} fresh_t;

static void fresh_unlink(noxd_server_t *s, fresh_t *f) {
  if (!f->listed)
    return;
  if (f->prev != NULL)
    f->prev->next = f->next;
  else
    s->fresh = f->next;
  if (f->next != NULL)
    f->next->prev = f->prev;
  f->listed = false;
}

static void on_connection(void *cls, struct MHD_Connection *mc,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
  noxd_server_t *s = cls;
  fresh_t *f = *socket_context;

  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    f = calloc(1, sizeof(*f));
    if (f == NULL)
      return; /* untracked: only the idle timeout applies */
    f->mc = mc;
    f->start_ns = uv_hrtime();
    f->next = s->fresh;
    if (s->fresh != NULL)
      ((fresh_t *)s->fresh)->prev = f;
    s->fresh = f;
    f->listed = true;
    *socket_context = f;
  } else if (f != NULL) {
    fresh_unlink(s, f);
    free(f);
    *socket_context = NULL;
  }
}

static void request_seen(noxd_server_t *s, struct MHD_Connection *mc) {
  const union MHD_ConnectionInfo *i =
      MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  if (i != NULL && i->socket_context != NULL)
    fresh_unlink(s, i->socket_context);
}

void noxd_sweep(noxd_server_t *s) {
  uint64_t now = uv_hrtime(),
           limit = (uint64_t)s->header_timeout_s * 1000000000u;
  bool cut = false;

  for (fresh_t *f = s->fresh, *next; f != NULL; f = next) {
    next = f->next;
    if (now - f->start_ns < limit)
      continue;
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(f->mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    fresh_unlink(s, f);
    if (i != NULL) {
      shutdown(i->connect_fd, SHUT_RDWR); /* MHD sees the end and closes */
      fprintf(stderr,
              "noxd: closed a connection that sent no complete "
              "request in %u s\n",
              s->header_timeout_s);
      cut = true;
    }
  }
  if (cut)
    kick(s);
}

static bool body_in_time(const noxd_conn_t *c) {
  const noxd_server_t *s = c->srv;
  double secs = (double)(uv_hrtime() - c->start_ns) / 1e9;
  if (c->op != NOXD_OP_UPLOAD)
    return secs <= (double)s->body_timeout_s;
  return secs <= (double)s->header_timeout_s ||
         (double)c->body_bytes >= (double)s->min_upload_rate * secs;
}

static noxd_conn_t *conn_new(noxd_server_t *s, struct MHD_Connection *mc,
                             const char *method, const char *url) {
  noxd_conn_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  c->path = strdup(url);
  if (c->path == NULL) {
    free(c);
    return NULL;
  }
  c->srv = s;
  c->mhd = mc;
  c->start_ns = uv_hrtime();
  request_seen(s, mc);
  snprintf(c->method, sizeof(c->method), "%s", method);
  s->active++;
  return c;
}

void noxd_suspend(noxd_conn_t *c) {
  if (c->suspended)
    return;
  MHD_suspend_connection(c->mhd);
  c->suspended = true;
  c->srv->suspended++;
}

void noxd_conn_free(noxd_conn_t *c) {
  unwatch_peer(c);
  if (c->resp != NULL)
    MHD_destroy_response(c->resp);
  free(c->body);
  free(c->dl);
  free(c->id);
  free(c->path);
  free(c);
}

/* Compares without an early exit, so the time taken says nothing. */
static bool token_matches(const noxd_server_t *s, const char *h) {
  size_t n = strlen(h);
  unsigned char diff = (unsigned char)(n != s->token_len);
  for (size_t i = 0; i < s->token_len; i++)
    diff |= (unsigned char)(s->token[i] ^ (i < n ? h[i] : 0));
  return diff == 0;
}

static bool authorized(noxd_conn_t *c) {
  if (c->srv->token == NULL)
    return true;
  const char *h = MHD_lookup_connection_value(c->mhd, MHD_HEADER_KIND,
                                              MHD_HTTP_HEADER_AUTHORIZATION);
  if (h == NULL || strncasecmp(h, "Bearer", 6) != 0 ||
      (h[6] != ' ' && h[6] != '\t'))
    return false;
  h += 6;
  while (*h == ' ' || *h == '\t')
    h++;
  return token_matches(c->srv, h);
}

/* -1: no usable Content-Length (chunked, or none). */
static long long content_length(noxd_conn_t *c) {
  const char *h = MHD_lookup_connection_value(c->mhd, MHD_HEADER_KIND,
                                              MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (h == NULL)
    return -1;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(h, &end, 10);
  if (errno != 0 || end == h || *end != '\0' || v > (1ull << 62))
    return -1;
  return (long long)v;
}

/* True when the client waits for "100 Continue" before sending its body. */
static bool expects_continue(noxd_conn_t *c) {
  const char *h = MHD_lookup_connection_value(c->mhd, MHD_HEADER_KIND,
                                              MHD_HTTP_HEADER_EXPECT);
  return h != NULL && strcasecmp(h, "100-continue") == 0;
}

/*
 * Decides what can be decided from the headers. Returns true when the
 * answer must go out before the body is read: a declared body over the limit
 * from a client waiting for "100 Continue" (it sends nothing more), or one so
 * large (past NOXD_DRAIN_FACTOR times the limit) that reading it is not worth
 * it. Every other early answer waits for the body to be drained, so that a
 * client still sending is not reset before it reads the answer.
 */
static bool begin(noxd_conn_t *c, const char *url) {
  noxd_server_t *s = c->srv;
  long long cl = content_length(c);

  if (s->stopping)
    noxd_reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                     "server is shutting down");
  else
    noxd_route(c, url, authorized(c));
  /* Uploads stream, so only a buffered body has a limit. */
  if (cl > (long long)s->max_body && c->op != NOXD_OP_UPLOAD) {
    noxd_reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE,
                     "request body of %lld bytes exceeds the limit of %zu", cl,
                     s->max_body);
    return expects_continue(c) ||
           cl / NOXD_DRAIN_FACTOR > (long long)s->max_body;
  }
  /* Sized up front, but only so far: a declared length costs nothing. */
  if (cl > 0 && c->resp == NULL && c->op != NOXD_OP_UPLOAD) {
    size_t cap = (size_t)(cl < NOXD_BODY_PREALLOC ? cl : NOXD_BODY_PREALLOC);
    c->body = malloc(cap + 1);
    if (c->body != NULL)
      c->body_cap = cap + 1;
  }
  return false;
}

static void take_body(noxd_conn_t *c, const char *data, size_t n) {
  size_t max = c->srv->max_body;
  if (c->resp != NULL)
    return; /* answered already: drain */
  if (n > max - c->body_len) {
    noxd_reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE,
                     "request body exceeds the limit of %zu bytes", max);
    free(c->body);
    c->body = NULL;
    c->body_len = c->body_cap = 0;
    return;
  }
  if (c->body_len + n + 1 > c->body_cap) {
    size_t cap = c->body_cap ? c->body_cap : 4096;
    while (cap < c->body_len + n + 1)
      cap *= 2;
    if (cap > max + 1)
      cap = max + 1;
    char *p = realloc(c->body, cap);
    if (p == NULL) {
      noxd_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
      return;
    }
    c->body = p;
    c->body_cap = cap;
  }
  memcpy(c->body + c->body_len, data, n);
  c->body_len += n;
  c->body[c->body_len] = '\0';
}

static enum MHD_Result queue(noxd_conn_t *c) {
  enum MHD_Result r = MHD_queue_response(c->mhd, c->resp_status, c->resp);
  MHD_destroy_response(c->resp);
  c->resp = NULL;
  c->status = c->resp_status;
  return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  noxd_server_t *s = cls;
  noxd_conn_t *c = *con_cls;

  if (c == NULL) {
    c = conn_new(s, mc, method, url);
    if (c == NULL)
      return MHD_NO;
    *con_cls = c;
    if (begin(c, url))
      return c->resp != NULL ? queue(c) : MHD_NO;
    return MHD_YES;
  }
  if (*upload_data_size > 0 && !body_in_time(c)) {
    fprintf(stderr, "noxd: %s %s: body too slow, connection closed\n",
            c->method, c->path);
    return MHD_NO;
  }
  if (*upload_data_size > 0 && c->op == NOXD_OP_UPLOAD && c->resp == NULL) {
    size_t took = noxd_upload_data(c, upload_data, *upload_data_size);
    c->body_bytes += took;
    *upload_data_size -= took;
    if (*upload_data_size > 0 && c->resp == NULL) {
      /* No room: the upload's read callback resumes us when it drained. */
      c->ul_wait_room = true;
      noxd_suspend(c);
    }
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    c->body_bytes += *upload_data_size;
    take_body(c, upload_data, *upload_data_size);
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (c->resp == NULL && !c->started && c->op == NOXD_OP_UPLOAD &&
      noxd_upload_end(c)) {
    c->started = true;
    noxd_suspend(c); /* until the upload's callback answers */
    return MHD_YES;
  }
  if (c->resp == NULL && !c->started) {
    c->started = true;
    noxd_dispatch(c);
    if (c->resp == NULL) {
      /* The operation's callback never runs inside the call above. */
      MHD_suspend_connection(mc);
      c->suspended = true;
      s->suspended++;
      if (c->waiting != NULL)
        watch_peer(c);
      return MHD_YES;
    }
  }
  if (c->resp == NULL && c->peer_gone) {
    s->quiet_aborts++; /* MHD_NO is how to drop it; not an internal error */
    return MHD_NO;
  }
  if (c->resp == NULL)
    return MHD_NO; /* answer lost to out-of-memory */
  return queue(c);
}

static const char *termination_name(enum MHD_RequestTerminationCode toe) {
  switch (toe) {
  case MHD_REQUEST_TERMINATED_COMPLETED_OK:
    return NULL;
  case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
    return "timed out";
  case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
    return "server shut down";
  case MHD_REQUEST_TERMINATED_READ_ERROR:
  case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
    return "client went away";
  default:
    return "connection error";
  }
}

static void log_request(const noxd_conn_t *c,
                        enum MHD_RequestTerminationCode toe) {
  double ms = (double)(uv_hrtime() - c->start_ns) / 1e6;
  /* Ended without an answer because its client left while it waited. */
  const char *why = c->peer_gone ? "client went away" : termination_name(toe);
  /* The raw path is the client's: keep the log line one printable line. */
  char path[256];
  size_t i;
  for (i = 0; c->path[i] != '\0' && i + 1 < sizeof(path); i++) {
    unsigned char ch = (unsigned char)c->path[i];
    path[i] = (ch < 0x20 || ch >= 0x7F) ? '?' : (char)ch;
  }
  path[i] = '\0';
  if (c->status != 0)
    fprintf(stderr, "noxd: %s %s %u %.1fms%s%s%s\n", c->method, path, c->status,
            ms, why ? " (" : "", why ? why : "", why ? ")" : "");
  else
    fprintf(stderr, "noxd: %s %s - %.1fms (%s)\n", c->method, path, ms,
            why ? why : "no answer");
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  noxd_server_t *s = cls;
  noxd_conn_t *c = *con_cls;

  if (c == NULL)
    return;
  log_request(c, toe);
  *con_cls = NULL;
  s->active--;
  if (c->req != NULL) {
    /* A download still streaming: its callback frees the connection. */
    c->dead = true;
    nox_req_cancel(c->req);
    return;
  }
  noxd_conn_free(c);
}

/*
 * MHD unescapes the path by default, which would turn an id's "%2F" into a
 * path separator. Keep everything raw; routes.c decodes path segments and
 * query values itself with MHD_http_unescape().
 */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s) {
  return strlen(s);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  static const char dropped[] = "Application reported internal error";
  noxd_server_t *s = cls;
  const char *msg = fmt;

  if (s->quiet_aborts > 0) {
    if (strcmp(fmt, "%s\n") == 0) { /* MHD passes its texts as arguments */
      va_list cp;
      va_copy(cp, ap);
      msg = va_arg(cp, const char *);
      va_end(cp);
    }
    if (msg != NULL && strncmp(msg, dropped, sizeof(dropped) - 1) == 0) {
      s->quiet_aborts--;
      return;
    }
  }
  fputs("noxd: mhd: ", stderr);
  vfprintf(stderr, fmt, ap);
}

/* ------------------------------------------------------------------------ */
/* The daemon                                                               */
/* ------------------------------------------------------------------------ */

struct MHD_Daemon *noxd_daemon_start(noxd_server_t *s, bool ipv6,
                                     const struct sockaddr *addr) {
  unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (ipv6)
    flags |= MHD_USE_IPv6;
  return MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, s,
      /* First, so that MHD logs nothing through its own logger. */
      MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, MHD_OPTION_SOCK_ADDR, addr,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
      MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
      MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)NOXD_CONNECTION_TIMEOUT_S,
      MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, MHD_OPTION_END);
}
