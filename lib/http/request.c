/*
 * What goes on the wire for each operation: method, URL (session id and
 * query values percent-encoded by curl), headers and JSON body, built once
 * inside the user's starting call so bad input is refused at once; and the
 * easy-handle options applied on every attempt.
 */
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "http.h"

static int gen_str(yajl_gen g, const char *s) {
  return yajl_gen_string(g, (const unsigned char *)s, strlen(s)) ==
                 yajl_gen_status_ok
             ? 0
             : NOX_EINVAL;
}

static int gen_kv(yajl_gen g, const char *k, const char *v) {
  if (v == NULL)
    return 0;
  int err = gen_str(g, k);
  return err ? err : gen_str(g, v);
}

static int gen_int(yajl_gen g, const char *k, long long v) {
  int err = gen_str(g, k);
  if (err == 0 && yajl_gen_integer(g, v) != yajl_gen_status_ok)
    err = NOX_EINVAL;
  return err;
}

static int gen_create(yajl_gen g, nox_req_t *req) {
  int err = gen_int(g, "ttlSeconds", req->ttl_seconds);
  if (err == 0)
    err = gen_kv(g, "image", req->image);
  if (err == 0)
    err = gen_kv(g, "cpuLimit", req->cpu_limit);
  if (err == 0)
    err = gen_kv(g, "memoryLimit", req->memory_limit);
  if (err == 0)
    err = gen_kv(g, "ephemeralStorageLimit", req->storage_limit);
  return err;
}

static int gen_exec(yajl_gen g, nox_req_t *req) {
  int err = gen_str(g, "cmd");
  if (err == 0 && yajl_gen_array_open(g) != yajl_gen_status_ok)
    err = NOX_EINVAL;
  for (char **a = req->argv; err == 0 && *a; a++)
    err = gen_str(g, *a);
  if (err == 0 && yajl_gen_array_close(g) != yajl_gen_status_ok)
    err = NOX_EINVAL;
  if (err == 0)
    err = gen_kv(g, "workdir", req->workdir);
  if (err == 0 && req->env != NULL) {
    err = gen_str(g, "env");
    if (err == 0 && yajl_gen_map_open(g) != yajl_gen_status_ok)
      err = NOX_EINVAL;
    for (char **e = req->env; err == 0 && *e; e++) {
      const char *eq = strchr(*e, '=');
      if (yajl_gen_string(g, (const unsigned char *)*e, (size_t)(eq - *e)) !=
          yajl_gen_status_ok)
        err = NOX_EINVAL;
      else
        err = gen_str(g, eq + 1);
    }
    if (err == 0 && yajl_gen_map_close(g) != yajl_gen_status_ok)
      err = NOX_EINVAL;
  }
  if (err == 0)
    err = gen_int(g, "timeoutSeconds", req->timeout_seconds);
  return err;
}

/* The JSON body of create and exec; strings must be valid UTF-8. */
static int build_json(nox__xfer_t *x) {
  nox_req_t *req = x->req;
  yajl_gen g = yajl_gen_alloc(NULL);
  if (g == NULL)
    return NOX_ENOMEM;
  yajl_gen_config(g, yajl_gen_validate_utf8, 1);
  int err = yajl_gen_map_open(g) == yajl_gen_status_ok ? 0 : NOX_EINVAL;
  if (err == 0)
    err = req->op == NOX__OP_CREATE ? gen_create(g, req) : gen_exec(g, req);
  if (err == 0 && yajl_gen_map_close(g) != yajl_gen_status_ok)
    err = NOX_EINVAL;
  if (err == 0) {
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    err = nox__buf_append(&x->json, buf, len);
  }
  yajl_gen_free(g);
  return err;
}

/* Appends curl-escaped s to b. */
static int append_escaped(nox__buf_t *b, const char *s) {
  char *e = curl_easy_escape(NULL, s, (int)strlen(s));
  if (e == NULL)
    return NOX_ENOMEM;
  int err = nox__buf_append(b, e, strlen(e));
  curl_free(e);
  return err;
}

static int build_url(nox__xfer_t *x) {
  nox_req_t *req = x->req;
  nox_client_t *c = req->client;
  nox__buf_t u = {0};
  const char *suffix = "", *query = NULL;
  int err = nox__buf_append(&u, c->base_url, strlen(c->base_url));

  if (req->op == NOX__OP_HEALTH) {
    if (err == 0)
      err = nox__buf_append(&u, "/healthz", 8);
  } else {
    switch (req->op) {
    case NOX__OP_TOUCH:
      suffix = "/touch";
      break;
    case NOX__OP_EXEC:
      suffix = "/exec";
      break;
    case NOX__OP_UPLOAD:
      suffix = "/files/upload?dest=";
      query = req->path;
      break;
    case NOX__OP_DOWNLOAD:
      suffix = "/files/download?src=";
      query = req->path;
      break;
    default:
      break;
    }
    if (err == 0)
      err = nox__buf_append(&u, "/v1/sandboxes/", 14);
    /* "." and ".." would be dot-segments that URL normalisation removes. */
    if (err == 0 && (strcmp(req->session_id, ".") == 0 ||
                     strcmp(req->session_id, "..") == 0))
      err = nox__buf_append(&u, "%2E%2E", 3 * strlen(req->session_id));
    else if (err == 0)
      err = append_escaped(&u, req->session_id);
    if (err == 0)
      err = nox__buf_append(&u, suffix, strlen(suffix));
    if (err == 0 && query != NULL)
      err = append_escaped(&u, query);
  }
  if (err != 0) {
    nox__buf_reset(&u);
    return err;
  }
  x->url = u.data;
  return 0;
}

static int add_header(nox__xfer_t *x, const char *h) {
  struct curl_slist *l = curl_slist_append(x->headers, h);
  if (l == NULL)
    return NOX_ENOMEM;
  x->headers = l;
  return 0;
}

static int build_headers(nox__xfer_t *x) {
  nox_req_t *req = x->req;
  const char *ctype;
  switch (req->op) {
  case NOX__OP_CREATE:
  case NOX__OP_EXEC:
    ctype = "Content-Type: application/json";
    break;
  case NOX__OP_UPLOAD:
    ctype = "Content-Type: application/x-tar";
    break;
  default:
    ctype = "Content-Type:"; /* no body: drop curl's form default */
    break;
  }
  int err = add_header(x, ctype);
  if (err == 0)
    err = add_header(x, req->op == NOX__OP_DOWNLOAD
                            ? "Accept: application/x-tar, application/json"
                            : "Accept: application/json");
  /* Answering 100-continue costs a round trip some servers never make. */
  if (err == 0)
    err = add_header(x, "Expect:");
  if (err == 0 && req->client->token != NULL) {
    nox__buf_t b = {0};
    err = nox__buf_append(&b, "Authorization: Bearer ", 22);
    if (err == 0)
      err = nox__buf_append(&b, req->client->token,
                            strlen(req->client->token));
    if (err == 0)
      err = add_header(x, b.data);
    nox__buf_reset(&b);
  }
  return err;
}

int nox__http_prepare(nox_req_t *req) {
  nox__xfer_t *x = calloc(1, sizeof(*x));
  if (x == NULL)
    return NOX_ENOMEM;
  x->http = req->client->backend_data;
  x->req = req;
  x->retry_after_ms = -1;
  nox__list_init(&x->wnode);
  req->backend_data = x;

  const nox_client_options_t *o = &req->client->opts;
  switch (req->op) {
  case NOX__OP_CREATE:
    x->method = "PUT";
    x->timeout_ms = o->request_timeout_ms;
    break;
  case NOX__OP_DELETE:
    x->method = "DELETE";
    x->timeout_ms = o->request_timeout_ms;
    break;
  case NOX__OP_TOUCH:
    x->method = "POST";
    x->timeout_ms = o->request_timeout_ms;
    break;
  case NOX__OP_EXEC:
    x->method = "POST";
    x->timeout_ms = (long)req->timeout_seconds * 1000 + o->exec_grace_ms;
    break;
  case NOX__OP_UPLOAD:
    x->method = "POST";
    break;
  default:
    x->method = "GET";
    x->timeout_ms = req->op == NOX__OP_HEALTH ? o->request_timeout_ms : 0;
    break;
  }
  int err = 0;
  if (req->op == NOX__OP_CREATE || req->op == NOX__OP_EXEC)
    err = build_json(x);
  if (err == 0)
    err = build_url(x);
  if (err == 0)
    err = build_headers(x);
  return err;
}

/* curl's receive buffer for downloads (its default is 16 KiB). */
#define NOX__DOWNLOAD_BUFFER (128L * 1024)

#define SETOPT(opt, val)                                                       \
  do {                                                                         \
    if (curl_easy_setopt(e, opt, val) != CURLE_OK)                             \
      return NOX_EINTERNAL;                                                    \
  } while (0)

int nox__http_setup_easy(nox__xfer_t *x) {
  CURL *e = x->easy;
  nox_req_t *req = x->req;
  const nox_client_options_t *o = &req->client->opts;

  nox__http_reset_attempt(x);
  SETOPT(CURLOPT_URL, x->url);
  SETOPT(CURLOPT_PRIVATE, (char *)x);
  SETOPT(CURLOPT_NOSIGNAL, 1L);
  SETOPT(CURLOPT_ERRORBUFFER, x->curl_err);
  SETOPT(CURLOPT_HEADERFUNCTION, nox__http_on_header);
  SETOPT(CURLOPT_HEADERDATA, x);
  SETOPT(CURLOPT_WRITEFUNCTION, nox__http_on_write);
  SETOPT(CURLOPT_WRITEDATA, x);
  SETOPT(CURLOPT_HTTPHEADER, x->headers);
  SETOPT(CURLOPT_USERAGENT, req->client->user_agent);
  SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
  SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
  SETOPT(CURLOPT_TCP_NODELAY, 1L);
  SETOPT(CURLOPT_OPENSOCKETFUNCTION, nox__http_open_socket);
  SETOPT(CURLOPT_OPENSOCKETDATA, x);
  SETOPT(CURLOPT_CLOSESOCKETFUNCTION, nox__http_close_socket);
  SETOPT(CURLOPT_CLOSESOCKETDATA, x->http);
  if (o->ca_file != NULL)
    SETOPT(CURLOPT_CAINFO, o->ca_file);
  /* Streams (timeout_ms 0) are watched for stalls by the engine instead. */
  if (x->timeout_ms > 0)
    SETOPT(CURLOPT_TIMEOUT_MS, x->timeout_ms);
  switch (o->http_version) {
  case NOX_HTTP_1_1:
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    break;
  case NOX_HTTP_2:
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    SETOPT(CURLOPT_PIPEWAIT, 1L);
    break;
  default:
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /*
     * Waiting for a connection to show whether it multiplexes only pays
     * where h2 can be negotiated; over cleartext it would serialise the
     * first requests behind the first answer.
     */
    if (strncmp(x->url, "https:", 6) == 0)
      SETOPT(CURLOPT_PIPEWAIT, 1L);
    break;
  }

  if (strcmp(x->method, "GET") == 0) {
    SETOPT(CURLOPT_HTTPGET, 1L);
    /* Archives arrive in fewer, larger writes: fewer pipe hand-offs. */
    if (req->op == NOX__OP_DOWNLOAD)
      SETOPT(CURLOPT_BUFFERSIZE, NOX__DOWNLOAD_BUFFER);
  } else if (strcmp(x->method, "DELETE") == 0) {
    SETOPT(CURLOPT_CUSTOMREQUEST, "DELETE");
  } else if (req->op == NOX__OP_UPLOAD && req->body.len == 0) {
    /* A streamed source: chunked, pulled as curl sends (stream.c). */
    SETOPT(CURLOPT_POST, 1L);
    SETOPT(CURLOPT_READFUNCTION, nox__http_on_read);
    SETOPT(CURLOPT_READDATA, x);
    SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
  } else {
    const nox__buf_t *body = req->op == NOX__OP_UPLOAD ? &req->body : &x->json;
    SETOPT(CURLOPT_POST, 1L);
    SETOPT(CURLOPT_POSTFIELDS, body->data ? body->data : "");
    SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    if (strcmp(x->method, "PUT") == 0)
      SETOPT(CURLOPT_CUSTOMREQUEST, "PUT");
  }
  return 0;
}

void nox__http_xfer_free(nox__xfer_t *x) {
  nox__json_free(&x->js);
  nox__buf_reset(&x->errbody);
  nox__buf_reset(&x->json);
  curl_slist_free_all(x->headers);
  free(x->url);
  free(x);
}
