/*
 * The endpoints of the NoxRunner protocol, each mapped onto one public
 * libnoxrunner operation on the server's local:// client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noxd.h"

#define MAX_SEGMENTS 6

unsigned noxd_status_for(int err) {
  switch (err) {
  case NOX_ENOTFOUND:
    return MHD_HTTP_NOT_FOUND;
  case NOX_EINVAL:
  case NOX_EARCHIVE:
  case NOX_EBADSHELL:
    return MHD_HTTP_BAD_REQUEST;
  case NOX_ETOOBIG:
    return MHD_HTTP_CONTENT_TOO_LARGE;
  case NOX_EUNAVAIL:
  case NOX_ECLOSING:
    return MHD_HTTP_SERVICE_UNAVAILABLE;
  default:
    return MHD_HTTP_INTERNAL_SERVER_ERROR;
  }
}

/* ------------------------------------------------------------------------ */
/* Routing                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct {
  const char *p;
  size_t n;
} seg_t;

static bool seg_is(seg_t s, const char *lit) {
  return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

/* Splits the raw path at '/'; -1 if it is not absolute or too deep. */
static int split(const char *url, seg_t *seg) {
  const char *p = url;
  if (*p != '/')
    return -1;
  int n = 0;
  while (*p == '/') {
    const char *start = ++p;
    while (*p != '\0' && *p != '/')
      p++;
    if (n == MAX_SEGMENTS)
      return -1;
    seg[n].p = start;
    seg[n].n = (size_t)(p - start);
    n++;
  }
  return n;
}

static bool method_is(const noxd_conn_t *c, const char *m) {
  return strcmp(c->method, m) == 0;
}

/* Percent-decodes the id segment; the caller answers 400 on failure. */
static const char *decode_id(noxd_conn_t *c, seg_t s) {
  if (s.n == 0)
    return "sandbox id must not be empty";
  c->id = malloc(s.n + 1);
  if (c->id == NULL)
    return "out of memory";
  memcpy(c->id, s.p, s.n);
  c->id[s.n] = '\0';
  size_t n = MHD_http_unescape(c->id);
  if (n != strlen(c->id))
    return "sandbox id must not contain a NUL byte";
  if (n == 0)
    return "sandbox id must not be empty";
  if (n > 1024)
    return "sandbox id is longer than 1024 bytes";
  return NULL;
}

void noxd_route(noxd_conn_t *c, const char *url, bool authorized) {
  seg_t seg[MAX_SEGMENTS];
  int n = split(url, seg);

  if (n == 1 && seg_is(seg[0], "healthz")) {
    c->allow = "GET, HEAD";
    if (method_is(c, "GET") || method_is(c, "HEAD"))
      c->op = NOXD_OP_HEALTH;
  } else if (!authorized) {
    noxd_reply_error(c, MHD_HTTP_UNAUTHORIZED,
                     "missing or invalid bearer token");
    return;
  } else if (n >= 3 && seg_is(seg[0], "v1") && seg_is(seg[1], "sandboxes")) {
    if (n == 3) {
      c->allow = "PUT, DELETE";
      if (method_is(c, "PUT"))
        c->op = NOXD_OP_CREATE;
      else if (method_is(c, "DELETE"))
        c->op = NOXD_OP_DELETE;
    } else if (n == 4 && seg_is(seg[3], "touch")) {
      c->allow = "POST";
      if (method_is(c, "POST"))
        c->op = NOXD_OP_TOUCH;
    } else if (n == 4 && seg_is(seg[3], "exec")) {
      c->allow = "POST";
      if (method_is(c, "POST"))
        c->op = NOXD_OP_EXEC;
    } else if (n == 5 && seg_is(seg[3], "files") && seg_is(seg[4], "upload")) {
      c->allow = "POST";
      if (method_is(c, "POST"))
        c->op = NOXD_OP_UPLOAD;
    } else if (n == 5 && seg_is(seg[3], "files") &&
               seg_is(seg[4], "download")) {
      c->allow = "GET, HEAD";
      if (method_is(c, "GET") || method_is(c, "HEAD"))
        c->op = NOXD_OP_DOWNLOAD;
    }
  }
  if (c->allow == NULL) {
    noxd_reply_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint: %s %.200s",
                     c->method, url);
    return;
  }
  if (c->op == NOXD_OP_NONE) {
    noxd_reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                     "method %s is not allowed here (allowed: %s)", c->method,
                     c->allow);
    return;
  }
  if (c->op == NOXD_OP_HEALTH)
    return;
  const char *bad = decode_id(c, seg[2]);
  if (bad != NULL)
    noxd_reply_error(c, MHD_HTTP_BAD_REQUEST, "%s", bad);
}

/* ------------------------------------------------------------------------ */
/* Operations                                                               */
/* ------------------------------------------------------------------------ */

static noxd_conn_t *conn_of(nox_req_t *req) {
  return nox_req_data(req);
}

static void reply_failure(noxd_conn_t *c, nox_req_t *req, int status) {
  const nox_error_t *e = nox_req_error(req);
  const char *msg = e->message[0] ? e->message : nox_strerror(status);

  if (status == NOX_ECLOSING)
    msg = "server is shutting down";
  noxd_reply_nox_error(c, status, msg);
  /* --max-sandboxes, or --max-pids when a command could not start. */
  if (status == NOX_EUNAVAIL && c->resp != NULL)
    MHD_add_response_header(c->resp, MHD_HTTP_HEADER_RETRY_AFTER,
                            NOXD_RETRY_AFTER_SANDBOXES);
}

/*
 * A starting call failed at once: its callback will never run. The client
 * said which argument broke which rule (nox_client_last_error()).
 */
static void reply_refused(noxd_conn_t *c, int rc) {
  const nox_error_t *e = nox_client_last_error(c->srv->client);
  const char *msg =
      e != NULL && e->code == rc && e->message[0] ? e->message : NULL;

  noxd_reply_nox_error(c, rc, msg != NULL ? msg : nox_strerror(rc));
}

static void reply_copy(noxd_conn_t *c, unsigned status, const char *type,
                       const char *text) {
  char *body = strdup(text);
  if (body == NULL)
    noxd_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
  else
    noxd_reply(c, status, type, body, strlen(body));
}

static void on_health(nox_req_t *req, int status) {
  noxd_conn_t *c = conn_of(req);
  if (status == 0)
    reply_copy(c, MHD_HTTP_OK, "text/plain", "OK");
  else
    reply_failure(c, req, status);
  noxd_resume(c);
}

static void on_create(nox_req_t *req, int status,
                      const nox_sandbox_info_t *info) {
  noxd_conn_t *c = conn_of(req);
  char *body;
  size_t len;

  if (status != 0)
    reply_failure(c, req, status);
  else if (noxd_json_sandbox(info, &body, &len) != 0)
    noxd_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
  else
    noxd_reply(c, MHD_HTTP_OK, "application/json", body, len);
  noxd_resume(c);
}

static void on_delete(nox_req_t *req, int status) {
  noxd_conn_t *c = conn_of(req);
  if (status == 0)
    noxd_reply(c, MHD_HTTP_NO_CONTENT, NULL, NULL, 0);
  else
    reply_failure(c, req, status);
  noxd_resume(c);
}

/* 200 with a body: the Python client takes only 200 as a successful touch. */
static void on_touch(nox_req_t *req, int status) {
  noxd_conn_t *c = conn_of(req);
  if (status == 0)
    reply_copy(c, MHD_HTTP_OK, "application/json", "{}");
  else
    reply_failure(c, req, status);
  noxd_resume(c);
}

static void on_exec(nox_req_t *req, int status,
                    const nox_exec_result_t *result) {
  noxd_conn_t *c = conn_of(req);
  char *body;
  size_t len;

  c->srv->execs--;
  if (status != 0)
    reply_failure(c, req, status);
  else if (noxd_json_exec_result(result, &body, &len) != 0)
    noxd_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
  else
    noxd_reply(c, MHD_HTTP_OK, "application/json", body, len);
  noxd_resume(c);
}

static void on_upload(nox_req_t *req, int status) {
  noxd_conn_t *c = conn_of(req);
  c->req = NULL;
  if (c->dead) {
    noxd_conn_free(c);
    return;
  }
  c->ul_wait_room = false;
  if (status == 0)
    reply_copy(c, MHD_HTTP_OK, "application/json", "{\"ok\":true}");
  else
    reply_failure(c, req, status);
  noxd_resume(c);
}

/*
 * Downloads stream: the nox download's bytes go through a bounded buffer to
 * MHD's content reader. The status is decided by the first byte: a failure
 * before it is a normal error answer; one after it cuts the chunked body
 * short (MHD_CONTENT_READER_END_WITH_ERROR), which the client sees as a
 * transfer error, never as a complete archive. A full buffer pauses the nox
 * download (NOX_PAUSE); an empty one suspends the connection.
 */
static ssize_t dl_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  noxd_conn_t *c = cls;
  size_t avail = c->dl_len - c->dl_off;
  (void)pos;
  if (avail > 0) {
    size_t n = avail < max ? avail : max;
    memcpy(buf, c->dl + c->dl_off, n);
    c->dl_off += n;
    if (c->dl_paused && c->req != NULL &&
        c->dl_len - c->dl_off < NOXD_STREAM_BUF / 2) {
      c->dl_paused = false;
      nox_req_resume(c->req);
    }
    return (ssize_t)n;
  }
  if (c->dl_done)
    return c->dl_status == 0 ? MHD_CONTENT_READER_END_OF_STREAM
                             : MHD_CONTENT_READER_END_WITH_ERROR;
  noxd_suspend(c); /* until bytes or the end arrive */
  return 0;
}

static int start_stream(noxd_conn_t *c) {
  const unsigned char *b = (const unsigned char *)c->dl + c->dl_off;
  bool gz = c->dl_len - c->dl_off >= 2 && b[0] == 0x1F && b[1] == 0x8B;
  struct MHD_Response *r = MHD_create_response_from_callback(
      MHD_SIZE_UNKNOWN, 64 * 1024, dl_reader, c, NULL);
  if (r == NULL)
    return -1;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                          gz ? "application/gzip" : "application/x-tar");
  c->resp = r;
  c->resp_status = MHD_HTTP_OK;
  c->dl_started = true;
  return 0;
}

static int on_download_data(nox_req_t *req, const char *buf, size_t len) {
  noxd_conn_t *c = conn_of(req);
  size_t held = c->dl_len - c->dl_off;

  if (c->dead)
    return -1;
  if (held > 0 && held + len > NOXD_STREAM_BUF) {
    c->dl_paused = true;
    return NOX_PAUSE;
  }
  if (c->dl_off > 0) {
    memmove(c->dl, c->dl + c->dl_off, held);
    c->dl_off = 0;
    c->dl_len = held;
  }
  if (held + len > c->dl_cap) {
    size_t cap = held + len > NOXD_STREAM_BUF ? held + len : NOXD_STREAM_BUF;
    char *p = realloc(c->dl, cap);
    if (p == NULL)
      return -1;
    c->dl = p;
    c->dl_cap = cap;
  }
  memcpy(c->dl + c->dl_len, buf, len);
  c->dl_len += len;
  if (!c->dl_started && start_stream(c) != 0)
    return -1;
  noxd_resume(c);
  return 0;
}

static void on_download(nox_req_t *req, int status) {
  noxd_conn_t *c = conn_of(req);

  c->req = NULL;
  if (c->dead) {
    noxd_conn_free(c);
    return;
  }
  c->dl_done = true;
  c->dl_status = status;
  if (!c->dl_started) {
    if (status != 0)
      reply_failure(c, req, status);
    else
      noxd_reply(c, MHD_HTTP_OK, "application/x-tar", NULL, 0);
  }
  noxd_resume(c);
}

/* A query value naming a sandbox path, decoded and checked. */
static int query_path(noxd_conn_t *c, const char *key, char **out) {
  const char *raw =
      MHD_lookup_connection_value(c->mhd, MHD_GET_ARGUMENT_KIND, key);
  char *v = strdup(raw != NULL ? raw : NOX_WORKSPACE);
  if (v == NULL) {
    noxd_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    return -1;
  }
  size_t n = MHD_http_unescape(v);
  if (n != strlen(v)) {
    noxd_reply_error(c, MHD_HTTP_BAD_REQUEST, "%s must not contain a NUL byte",
                     key);
    free(v);
    return -1;
  }
  char err[320];
  int rc = noxd_sandbox_path(key, v, out, err, sizeof(err));
  free(v);
  if (rc != 0)
    noxd_reply_error(c, MHD_HTTP_BAD_REQUEST, "%s", err);
  return rc;
}

static void start_create(noxd_conn_t *c) {
  noxd_create_args_t a;
  char err[320];
  if (noxd_parse_create(c->body, c->body_len, &a, err, sizeof(err)) != 0) {
    noxd_reply_error(c, MHD_HTTP_BAD_REQUEST, "%s", err);
    return;
  }
  nox_create_options_t o = NOX_CREATE_OPTIONS_INIT;
  o.ttl_seconds = a.ttl_seconds;
  o.image = a.image;
  o.cpu_limit = a.cpu_limit;
  o.memory_limit = a.memory_limit;
  o.ephemeral_storage_limit = a.storage_limit;
  int rc = nox_create(NULL, c->srv->client, c->id, &o, on_create, c);
  noxd_create_args_free(&a);
  if (rc != 0)
    reply_refused(c, rc);
}

static void start_exec(noxd_conn_t *c) {
  if (c->srv->execs >= c->srv->max_execs) {
    /* The server's cap, not the sandbox's state: come back in a second. */
    noxd_reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                     "too many commands running (%u); retry shortly",
                     c->srv->max_execs);
    if (c->resp != NULL)
      MHD_add_response_header(c->resp, MHD_HTTP_HEADER_RETRY_AFTER,
                              NOXD_RETRY_AFTER_EXECS);
    return;
  }
  noxd_exec_args_t a;
  char err[320];
  if (noxd_parse_exec(c->body, c->body_len, &a, err, sizeof(err)) != 0) {
    noxd_reply_error(c, MHD_HTTP_BAD_REQUEST, "%s", err);
    return;
  }
  nox_exec_options_t o = NOX_EXEC_OPTIONS_INIT;
  o.workdir = a.workdir;
  o.env = (const char *const *)a.env;
  o.timeout_seconds = a.timeout_seconds;
  int rc = nox_exec(&c->waiting, c->srv->client, c->id, a.argv, &o, on_exec, c);
  noxd_exec_args_free(&a);
  if (rc != 0) {
    c->waiting = NULL;
    reply_refused(c, rc);
  } else {
    c->srv->execs++;
  }
}

/*
 * Uploads stream: the body goes through a bounded buffer to the nox
 * upload's read callback as MHD delivers it. A full buffer suspends the
 * connection; an empty one pauses the upload (NOX_PAUSE). An empty body
 * is still refused with a 400 before anything starts.
 */
static int ul_read(nox_req_t *req, char *buf, size_t cap, size_t *nread) {
  noxd_conn_t *c = conn_of(req);
  size_t held = c->dl_len - c->dl_off;

  if (c->dead)
    return -1;
  if (held == 0 && !c->ul_eof) {
    c->ul_paused = true;
    return NOX_PAUSE;
  }
  size_t n = held < cap ? held : cap;
  if (n > 0)
    memcpy(buf, c->dl + c->dl_off, n);
  c->dl_off += n;
  *nread = n;
  if (c->ul_wait_room && c->dl_len - c->dl_off < NOXD_STREAM_BUF / 2) {
    c->ul_wait_room = false;
    noxd_resume(c);
  }
  return 0;
}

static void start_upload(noxd_conn_t *c) {
  c->ul_started = true;
  char *dest;
  if (query_path(c, "dest", &dest) != 0)
    return;
  nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
  o.dest = dest;
  o.read = ul_read;
  int rc = nox_upload(&c->req, c->srv->client, c->id, &o, on_upload, c);
  nox_free(dest);
  if (rc != 0)
    reply_refused(c, rc);
}

size_t noxd_upload_data(noxd_conn_t *c, const char *data, size_t n) {
  if (!c->ul_started) {
    if (c->srv->client == NULL) {
      noxd_reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                       "server is shutting down");
      return n;
    }
    start_upload(c);
  }
  if (c->resp != NULL || c->req == NULL)
    return n; /* answered already: drain */
  size_t held = c->dl_len - c->dl_off;
  if (held >= NOXD_STREAM_BUF)
    return 0;
  size_t take = NOXD_STREAM_BUF - held < n ? NOXD_STREAM_BUF - held : n;
  if (c->dl_off > 0) {
    memmove(c->dl, c->dl + c->dl_off, held);
    c->dl_off = 0;
    c->dl_len = held;
  }
  if (c->dl_cap < NOXD_STREAM_BUF) {
    char *p = realloc(c->dl, NOXD_STREAM_BUF);
    if (p == NULL) {
      noxd_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
      return n;
    }
    c->dl = p;
    c->dl_cap = NOXD_STREAM_BUF;
  }
  memcpy(c->dl + c->dl_len, data, take);
  c->dl_len += take;
  if (c->ul_paused) {
    c->ul_paused = false;
    nox_req_resume(c->req);
  }
  return take;
}

bool noxd_upload_end(noxd_conn_t *c) {
  if (!c->ul_started)
    return false; /* no body: dispatched (and refused) as before */
  if (c->req == NULL)
    return false; /* refused or finished: its answer is queued */
  c->ul_eof = true;
  if (c->ul_paused) {
    c->ul_paused = false;
    nox_req_resume(c->req);
  }
  return true;
}

static void start_empty_upload(noxd_conn_t *c) {
  char *dest;
  if (query_path(c, "dest", &dest) != 0)
    return;
  nox_free(dest);
  noxd_reply_error(c, MHD_HTTP_BAD_REQUEST,
                   "request body is empty: expected a tar or tar.gz "
                   "archive");
}

static void start_download(noxd_conn_t *c) {
  char *src;
  if (query_path(c, "src", &src) != 0)
    return;
  nox_download_options_t o = NOX_DOWNLOAD_OPTIONS_INIT;
  o.src = src;
  int rc = nox_download(&c->req, c->srv->client, c->id, &o, on_download_data,
                        on_download, c);
  nox_free(src);
  if (rc != 0)
    reply_refused(c, rc);
}

void noxd_dispatch(noxd_conn_t *c) {
  nox_client_t *client = c->srv->client;
  int rc = 0;

  if (client == NULL) {
    noxd_reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                     "server is shutting down");
    return;
  }
  switch (c->op) {
  case NOXD_OP_HEALTH:
    rc = nox_health(NULL, client, on_health, c);
    break;
  case NOXD_OP_CREATE:
    start_create(c);
    break;
  case NOXD_OP_DELETE:
    rc = nox_delete(NULL, client, c->id, on_delete, c);
    break;
  case NOXD_OP_TOUCH:
    rc = nox_touch(NULL, client, c->id, on_touch, c);
    break;
  case NOXD_OP_EXEC:
    start_exec(c);
    break;
  case NOXD_OP_UPLOAD:
    start_empty_upload(c);
    break;
  case NOXD_OP_DOWNLOAD:
    start_download(c);
    break;
  case NOXD_OP_NONE:
    noxd_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "no operation");
    break;
  }
  if (rc != 0)
    reply_refused(c, rc);
}
