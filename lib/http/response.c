/*
 * Reading an answer: the status line and Retry-After from the headers, the
 * body routed by status (2xx to the operation's parser or sink, anything
 * else kept, capped, for its message), and the mapping of curl results and
 * HTTP statuses to NOX_E* codes.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http.h"

void nox__http_reset_attempt(nox__xfer_t *x) {
  nox_req_t *req = x->req;
  x->http_status = 0;
  x->body_bytes = 0;
  x->fail = 0;
  x->retry_after_ms = -1;
  x->xbytes = 0;
  x->total = 0;
  x->curl_err[0] = '\0';
  nox__buf_reset(&x->errbody);
  nox__json_free(&x->js);
  nox__buf_reset(&req->out);
  nox__buf_reset(&req->errbuf);
  nox__buf_reset(&req->pod_name);
  nox__buf_reset(&req->expires_at);
  req->have_exit_code = false;
  req->result.out_truncated = 0;
  req->result.err_truncated = 0;
  req->err.message[0] = '\0';
  req->err.http_status = 0;
  req->err.curl_code = 0;
}

size_t nox__http_on_header(char *buf, size_t size, size_t n, void *ud) {
  nox__xfer_t *x = ud;
  size_t len = size * n;
  if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
    /* A new response (after 1xx): forget what the last one said. */
    x->retry_after_ms = -1;
    return len;
  }
  static const char ra[] = "retry-after:";
  if (len > sizeof(ra) - 1 && strncasecmp(buf, ra, sizeof(ra) - 1) == 0) {
    char value[128];
    size_t vlen = len - (sizeof(ra) - 1);
    if (vlen >= sizeof(value))
      vlen = sizeof(value) - 1;
    memcpy(value, buf + sizeof(ra) - 1, vlen);
    value[vlen] = '\0';
    x->retry_after_ms = nox__http_parse_retry_after(value);
  }
  return len;
}

/* Returning a short count makes curl fail the transfer: x->fail says why. */
static size_t fail_write(nox__xfer_t *x, int err) {
  x->fail = err;
  return 0;
}

size_t nox__http_on_write(char *buf, size_t size, size_t n, void *ud) {
  nox__xfer_t *x = ud;
  nox_req_t *req = x->req;
  size_t len = size * n;

  if (x->http_status == 0)
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->http_status);
  if (req->canceled || req->state == NOX__REQ_DONE)
    return fail_write(x, NOX_ECANCELED);

  if (x->http_status < 200 || x->http_status > 299) {
    size_t room = NOX__HTTP_MAX_ERROR_BODY - x->errbody.len;
    if (len < room)
      room = len;
    if (room > 0 && nox__buf_append(&x->errbody, buf, room) != 0)
      return fail_write(x, NOX_ENOMEM);
    return len;
  }

  if (req->op == NOX__OP_DOWNLOAD)
    return nox__http_stream_write(x, buf, len);
  x->body_bytes += len;
  if (x->body_bytes > req->client->opts.max_body_bytes) {
    nox__req_set_message(req, "response body exceeds max_body_bytes (%zu)",
                         req->client->opts.max_body_bytes);
    return fail_write(x, NOX_ETOOBIG);
  }
  if (req->op == NOX__OP_EXEC || req->op == NOX__OP_CREATE) {
    if (x->js.yh == NULL && nox__json_begin(&x->js, req) != 0)
      return fail_write(x, NOX_ENOMEM);
    int err = nox__json_feed(&x->js, buf, len);
    if (err != 0) {
      nox__req_set_message(req, "%s", x->js.errmsg);
      return fail_write(x, err);
    }
  }
  return len;
}

static int map_curl(CURLcode rc) {
  switch (rc) {
  case CURLE_COULDNT_CONNECT:
    return NOX_ECONNECT;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    return NOX_ERESOLVE;
  case CURLE_OPERATION_TIMEDOUT:
    return NOX_ETIMEDOUT;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_USE_SSL_FAILED:
    return NOX_ETLS;
  case CURLE_PARTIAL_FILE:
  case CURLE_BAD_CONTENT_ENCODING:
  case CURLE_WEIRD_SERVER_REPLY:
    return NOX_EPROTO;
  case CURLE_OUT_OF_MEMORY:
    return NOX_ENOMEM;
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_URL_MALFORMAT:
    return NOX_EINVAL;
  default:
    return NOX_ETRANSPORT;
  }
}

/*
 * A 400 with a JSON error body: a request the backend refused. It is
 * NOX_EINVAL, the code the local backend gives for the same request (a
 * workdir or path outside /workspace, an empty command, a bad TTL), unless
 * the body's "code" names one of the other errors that are the caller's
 * fault (noxd sends it): an unreadable archive, an unsupported shell.
 */
static int map_refused(const char *code) {
  if (strcmp(code, "NOX_EARCHIVE") == 0)
    return NOX_EARCHIVE;
  if (strcmp(code, "NOX_EBADSHELL") == 0)
    return NOX_EBADSHELL;
  return NOX_EINVAL;
}

/*
 * json_error: the body was a JSON error object, the server's own account.
 * A bare 400 may come from anything on the way (a proxy, a load balancer):
 * it stays NOX_EHTTP.
 */
static int map_status(long code, bool json_error, const char *nox_code) {
  switch (code) {
  case 400:
    return json_error ? map_refused(nox_code) : NOX_EHTTP;
  case 401:
  case 403:
    return NOX_EAUTH;
  case 404:
    return NOX_ENOTFOUND;
  case 503:
    return NOX_EUNAVAIL;
  default:
    return NOX_EHTTP;
  }
}

/* Decides the outcome of one attempt from curl's result and the answer. */
int nox__http_finish_status(nox__xfer_t *x, CURLcode rc) {
  nox_req_t *req = x->req;
  req->err.http_status = x->http_status;
  req->err.curl_code = (int)rc;

  if (x->fail != 0)
    return x->fail;
  if (rc != CURLE_OK) {
    int err = map_curl(rc);
    if (rc == CURLE_PARTIAL_FILE)
      nox__req_set_message(req, "truncated response body: %s",
                           x->curl_err[0] ? x->curl_err : "connection closed");
    else
      nox__req_set_message(req, "%s",
                           x->curl_err[0] ? x->curl_err
                                          : curl_easy_strerror(rc));
    return err;
  }
  if (x->http_status < 200 || x->http_status > 299) {
    char msg[sizeof(req->err.message)], code[32];
    bool json_error = nox__json_error_message(
        x->errbody.data, x->errbody.len, msg, sizeof(msg), code, sizeof(code));
    if (msg[0] != '\0')
      nox__req_set_message(req, "%s", msg);
    else
      nox__req_set_message(req, "HTTP %ld", x->http_status);
    return map_status(x->http_status, json_error, code);
  }
  if (req->op == NOX__OP_EXEC || req->op == NOX__OP_CREATE) {
    if (x->body_bytes == 0) {
      nox__req_set_message(req, "empty response body (HTTP %ld)",
                           x->http_status);
      return NOX_EPROTO;
    }
    int err = nox__json_end(&x->js);
    if (err != 0) {
      nox__req_set_message(req, "%s", x->js.errmsg);
      return err;
    }
  }
  return 0;
}
