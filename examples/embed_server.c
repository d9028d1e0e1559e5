/*
 * embed_server: libnoxrunner inside an HTTP service, on the service's loop.
 *
 *   embed_server [PORT [BASE_URL]]
 *
 * Listens on 127.0.0.1:PORT (default 8081; 0 picks a free port) and answers
 *
 *   POST /run   body: a shell script
 *   -> 200 {"exitCode": N, "stdout": "...", "stderr": "..."}
 *
 * by running the script with `sh -c` in one sandbox on BASE_URL (default
 * "local:", the in-process backend). Prints "embed_server listening on
 * http://127.0.0.1:PORT" once the sandbox exists; SIGINT or SIGTERM deletes
 * the sandbox and exits.
 *
 * The point is the shape, not the HTTP: the server's sockets and the
 * library's work share one uv_loop_t and one thread. A request whose script
 * runs for a minute holds up nothing: other connections are accepted, read
 * and answered meanwhile, because the exec is just another pending callback
 * on the loop. The HTTP handling is the least that curl and browsers need
 * (one request per connection, Content-Length bodies, Expect:
 * 100-continue); a real service would put a proper HTTP server (for
 * example libmicrohttpd, as tools/noxd does) on the loop instead.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>
#include <yajl/yajl_gen.h>

#include <noxrunner.h>

#define SESSION "embed-server"
#define MAX_HEADER 8192
#define MAX_SCRIPT (1 << 20)
#define SCRIPT_TIMEOUT_S 120
/* The sandbox's ttl is the default (900 s): touched well within it. */
#define TOUCH_EVERY_MS (300 * 1000)

typedef struct conn_s conn_t;

typedef struct {
  uv_loop_t *loop;
  uv_tcp_t listener;
  uv_signal_t sigint, sigterm;
  uv_timer_t keepalive; /* touches the sandbox, which exec does not */
  nox_client_t *client;
  conn_t *conns; /* open connections, to close idle ones at shutdown */
  int port;
  int stopping;
  int status; /* the exit status */
} server_t;

struct conn_s {
  uv_tcp_t tcp;
  server_t *srv;
  conn_t *prev, *next;
  char *buf; /* the request as read so far */
  size_t len, cap;
  size_t header_len; /* 0 until the blank line after the headers */
  size_t body_len;   /* Content-Length */
  nox_req_t *req;    /* the exec in flight, or NULL */
  uv_write_t write;
  uv_buf_t out;
  int answered; /* a response (or a close) is on its way */
  int closed;   /* the tcp handle's close callback ran */
};

static void conn_maybe_free(conn_t *c) {
  /* The exec callback and the close callback may come in either order. */
  if (!c->closed || c->req != NULL)
    return;
  free(c->buf);
  free(c->out.base);
  free(c);
}

static void on_conn_closed(uv_handle_t *h) {
  conn_t *c = h->data;

  c->closed = 1;
  conn_maybe_free(c);
}

static void conn_close(conn_t *c) {
  if (uv_is_closing((uv_handle_t *)&c->tcp))
    return;
  c->answered = 1;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    c->srv->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_written(uv_write_t *w, int status) {
  conn_close(w->data);
}

/* One response per connection, then the connection closes. */
static void respond(conn_t *c, const char *status, const char *type,
                    const char *body, size_t body_len) {
  static const char fmt[] = "HTTP/1.1 %s\r\n"
                            "Content-Type: %s\r\n"
                            "Content-Length: %zu\r\n"
                            "Connection: close\r\n\r\n";
  int n;

  if (c->answered)
    return;
  c->answered = 1;
  uv_read_stop((uv_stream_t *)&c->tcp);
  n = snprintf(NULL, 0, fmt, status, type, body_len);
  c->out.base = malloc((size_t)n + 1 + body_len);
  if (c->out.base == NULL) {
    conn_close(c);
    return;
  }
  snprintf(c->out.base, (size_t)n + 1, fmt, status, type, body_len);
  memcpy(c->out.base + n, body, body_len);
  c->out.len = (size_t)n + body_len;
  c->write.data = c;
  /* uv_write() copies the buffer array; c->out keeps the bytes alive. */
  uv_buf_t bufs[1] = {uv_buf_init(c->out.base, (unsigned)c->out.len)};
  if (uv_write(&c->write, (uv_stream_t *)&c->tcp, bufs, 1, on_written) != 0)
    conn_close(c);
}

static void respond_error(conn_t *c, const char *status, const char *msg) {
  char body[256];
  int n = snprintf(body, sizeof(body), "{\"error\": \"%s\"}\n", msg);

  respond(c, status, "application/json", body, (size_t)n);
}

static int gen_str(yajl_gen g, const char *s) {
  return yajl_gen_string(g, (const unsigned char *)s, strlen(s)) !=
         yajl_gen_status_ok;
}

static void on_exec(nox_req_t *req, int status, const nox_exec_result_t *r) {
  conn_t *c = nox_req_data(req);
  const unsigned char *json;
  size_t json_len;
  yajl_gen g;
  int bad;

  c->req = NULL;
  if (c->answered) {
    /* The client hung up and the exec was canceled. */
    conn_maybe_free(c);
    return;
  }
  if (status != 0) {
    fprintf(stderr, "embed_server: exec: %s: %s\n", nox_err_name(status),
            nox_req_error(req)->message);
    if (status == NOX_ECLOSING)
      respond_error(c, "503 Service Unavailable", "shutting down");
    else
      respond_error(c, "502 Bad Gateway", nox_strerror(status));
    return;
  }
  g = yajl_gen_alloc(NULL);
  if (g == NULL) {
    respond_error(c, "500 Internal Server Error", "out of memory");
    return;
  }
  /* Command output is bytes; refuse, rather than emit, invalid JSON. */
  yajl_gen_config(g, yajl_gen_validate_utf8, 1);
  bad = yajl_gen_map_open(g) != yajl_gen_status_ok;
  bad |= gen_str(g, "exitCode");
  bad |= yajl_gen_integer(g, r->exit_code) != yajl_gen_status_ok;
  bad |= gen_str(g, "stdout");
  bad |= yajl_gen_string(g, (const unsigned char *)r->out, r->out_len) !=
         yajl_gen_status_ok;
  bad |= gen_str(g, "stderr");
  bad |= yajl_gen_string(g, (const unsigned char *)r->err, r->err_len) !=
         yajl_gen_status_ok;
  bad |= yajl_gen_map_close(g) != yajl_gen_status_ok;
  if (bad || yajl_gen_get_buf(g, &json, &json_len) != yajl_gen_status_ok)
    respond_error(c, "502 Bad Gateway", "output is not valid UTF-8");
  else
    respond(c, "200 OK", "application/json", (const char *)json, json_len);
  yajl_gen_free(g);
}

/* The request is complete: route it. */
static void handle(conn_t *c) {
  static const nox_exec_options_t defaults = NOX_EXEC_OPTIONS_INIT;
  nox_exec_options_t opts = defaults;
  char *script, *line_end;
  int rc;

  line_end = strstr(c->buf, "\r\n");
  if (strncmp(c->buf, "POST /run ", 10) != 0) {
    if (strncmp(c->buf, "POST ", 5) != 0 &&
        memmem(c->buf, (size_t)(line_end - c->buf), " /run ", 6) != NULL)
      respond_error(c, "405 Method Not Allowed", "use POST");
    else
      respond_error(c, "404 Not Found", "only POST /run");
    return;
  }
  /* The body is the script; make it a C string in place. */
  script = c->buf + c->header_len;
  script[c->body_len] = '\0';
  if (strlen(script) != c->body_len) {
    respond_error(c, "400 Bad Request", "the script holds a NUL byte");
    return;
  }
  opts.timeout_seconds = SCRIPT_TIMEOUT_S;
  rc = nox_exec_shell(&c->req, c->srv->client, SESSION, "sh", script, &opts,
                      on_exec, c);
  if (rc != 0) {
    c->req = NULL;
    respond_error(c, "503 Service Unavailable", nox_strerror(rc));
  }
}

/* Finds the blank line ending the headers and reads the ones we need. */
static int parse_headers(conn_t *c) {
  char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
  char *line, *next;
  int have_length = 0;

  if (end == NULL) {
    if (c->len > MAX_HEADER)
      respond_error(c, "431 Request Header Fields Too Large", "headers");
    return -1;
  }
  c->header_len = (size_t)(end - c->buf) + 4;
  *end = '\0'; /* so the header lines below are one C string */
  line = strstr(c->buf, "\r\n");
  for (; line != NULL; line = next) {
    line += 2;
    next = strstr(line, "\r\n");
    if (next != NULL)
      *next = '\0';
    if (strncasecmp(line, "Content-Length:", 15) == 0) {
      char *num_end;
      unsigned long long n = strtoull(line + 15, &num_end, 10);

      if (num_end == line + 15 || n > MAX_SCRIPT) {
        respond_error(c, "413 Content Too Large", "script too large");
        return -1;
      }
      c->body_len = (size_t)n;
      have_length = 1;
    } else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
      respond_error(c, "411 Length Required", "send a Content-Length");
      return -1;
    } else if (strncasecmp(line, "Expect:", 7) == 0 &&
               strcasestr(line + 7, "100-continue") != NULL) {
      static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
      uv_buf_t b = uv_buf_init(cont, sizeof(cont) - 1);

      /* Small and written at once or not at all: no write request. */
      if (uv_try_write((uv_stream_t *)&c->tcp, &b, 1) != (int)b.len) {
        conn_close(c);
        return -1;
      }
    }
    if (next != NULL)
      *next = '\r'; /* restore, for the request-line checks later */
  }
  *end = '\r';
  if (!have_length && strncmp(c->buf, "POST ", 5) == 0) {
    respond_error(c, "411 Length Required", "send a Content-Length");
    return -1;
  }
  return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  conn_t *c = h->data;
  size_t want = c->len + 4096 + 1; /* + 1: room for the script's NUL */

  if (want > c->cap) {
    char *p = realloc(c->buf, want);

    if (p == NULL) {
      *buf = uv_buf_init(NULL, 0);
      return;
    }
    c->buf = p;
    c->cap = want;
  }
  *buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len - 1));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = s->data;

  if (n < 0) {
    /* The peer went away: its exec, if any, is of no use any more. */
    if (c->req != NULL)
      nox_req_cancel(c->req);
    conn_close(c);
    return;
  }
  if (c->answered || c->req != NULL)
    return; /* anything after the request is ignored */
  c->len += (size_t)n;
  if (c->header_len == 0 && parse_headers(c) != 0)
    return;
  if (c->len - c->header_len >= c->body_len)
    handle(c);
}

static void on_connection(uv_stream_t *listener, int status) {
  server_t *srv = listener->data;
  conn_t *c;

  if (status != 0)
    return;
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    return;
  c->srv = srv;
  uv_tcp_init(srv->loop, &c->tcp);
  c->tcp.data = c;
  c->next = srv->conns;
  if (c->next != NULL)
    c->next->prev = c;
  srv->conns = c;
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 ||
      uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
    conn_close(c);
}

static void on_client_closed(void *data) {
  server_t *srv = data;

  uv_close((uv_handle_t *)&srv->sigint, NULL);
  uv_close((uv_handle_t *)&srv->sigterm, NULL);
  uv_close((uv_handle_t *)&srv->keepalive, NULL);
}

static void on_deleted(nox_req_t *req, int status) {
  server_t *srv = nox_req_data(req);

  if (status != 0 && status != NOX_ENOTFOUND)
    fprintf(stderr, "embed_server: delete: %s\n", nox_err_name(status));
  /* Completes the execs still running (503 to their clients). */
  nox_client_close(srv->client, on_client_closed, srv);
}

static void stop(server_t *srv) {
  conn_t *c, *next;

  if (srv->stopping)
    return;
  srv->stopping = 1;
  uv_timer_stop(&srv->keepalive);
  uv_close((uv_handle_t *)&srv->listener, NULL);
  for (c = srv->conns; c != NULL; c = next) {
    next = c->next;
    if (c->req == NULL)
      conn_close(c);
  }
  if (nox_delete(NULL, srv->client, SESSION, on_deleted, srv) != 0)
    nox_client_close(srv->client, on_client_closed, srv);
}

static void on_signal(uv_signal_t *h, int signum) {
  stop(h->data);
}

static void on_touched(nox_req_t *req, int status) {
  /* Gone (deleted behind our back): every later script would fail. */
  if (status != 0) {
    server_t *srv = nox_req_data(req);
    fprintf(stderr, "embed_server: touch: %s: %s\n", nox_err_name(status),
            nox_req_error(req)->message);
    if (status == NOX_ENOTFOUND) {
      srv->status = 1;
      stop(srv);
    }
  }
}

/*
 * An exec does not extend a sandbox's life: without a touch now and then it
 * expires after its ttl and every script gets NOX_ENOTFOUND. (A fleet-layer
 * handle with a lease, nox_sandbox_new() in noxrunner/sandbox.h, does this
 * for you.)
 */
static void on_keepalive(uv_timer_t *t) {
  server_t *srv = t->data;
  if (nox_touch(NULL, srv->client, SESSION, on_touched, srv) != 0)
    fprintf(stderr, "embed_server: touch: %s\n",
            nox_client_last_error(srv->client)->message);
}

static void on_created(nox_req_t *req, int status,
                       const nox_sandbox_info_t *info) {
  server_t *srv = nox_req_data(req);
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  int rc;

  if (status != 0) {
    fprintf(stderr, "embed_server: create: %s: %s\n", nox_err_name(status),
            nox_req_error(req)->message);
    srv->status = 1;
    stop(srv);
    return;
  }
  rc = uv_listen((uv_stream_t *)&srv->listener, 128, on_connection);
  if (rc == 0)
    rc = uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &len);
  if (rc != 0) {
    fprintf(stderr, "embed_server: cannot listen: %s\n", uv_strerror(rc));
    srv->status = 1;
    stop(srv);
    return;
  }
  uv_timer_start(&srv->keepalive, on_keepalive, TOUCH_EVERY_MS,
                 TOUCH_EVERY_MS);
  srv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  printf("embed_server listening on http://127.0.0.1:%d\n", srv->port);
  fflush(stdout);
}

int main(int argc, char **argv) {
  nox_client_options_t opts = NOX_CLIENT_OPTIONS_INIT;
  server_t srv;
  struct sockaddr_in addr;
  uv_loop_t loop;
  int port = argc > 1 ? atoi(argv[1]) : 8081;
  int rc;

  opts.base_url = argc > 2 ? argv[2] : "local:";
  signal(SIGPIPE, SIG_IGN);
  if (nox_library_init() != 0)
    return 1;
  uv_loop_init(&loop);
  memset(&srv, 0, sizeof(srv));
  srv.loop = &loop;
  rc = nox_client_new(&srv.client, &loop, &opts);
  if (rc != 0) {
    fprintf(stderr, "embed_server: %s: %s\n", opts.base_url, nox_strerror(rc));
    uv_loop_close(&loop);
    nox_library_cleanup();
    return 1;
  }
  uv_timer_init(&loop, &srv.keepalive);
  srv.keepalive.data = &srv;
  uv_signal_init(&loop, &srv.sigint);
  uv_signal_init(&loop, &srv.sigterm);
  srv.sigint.data = srv.sigterm.data = &srv;
  uv_signal_start(&srv.sigint, on_signal, SIGINT);
  uv_signal_start(&srv.sigterm, on_signal, SIGTERM);

  uv_tcp_init(&loop, &srv.listener);
  srv.listener.data = &srv;
  uv_ip4_addr("127.0.0.1", port, &addr);
  rc = uv_tcp_bind(&srv.listener, (const struct sockaddr *)&addr, 0);
  if (rc != 0) {
    fprintf(stderr, "embed_server: port %d: %s\n", port, uv_strerror(rc));
    srv.status = 1;
    stop(&srv);
  } else {
    /* Listen only once the sandbox exists, so no request waits on it. */
    rc = nox_create(NULL, srv.client, SESSION, NULL, on_created, &srv);
    if (rc != 0) {
      fprintf(stderr, "embed_server: create: %s\n", nox_strerror(rc));
      srv.status = 1;
      stop(&srv);
    }
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0) {
    fprintf(stderr, "embed_server: handles left on the loop\n");
    srv.status = 1;
  }
  nox_library_cleanup();
  return srv.status;
}
