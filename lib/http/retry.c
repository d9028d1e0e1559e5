/*
 * Retry policy. Idempotent operations are retried on connection failures
 * and on 429/502/503/504; exec and upload only when the connection was
 * refused, since then the request provably never reached the server. A
 * download is never retried once bytes went to the caller's sink.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"

long nox__http_parse_retry_after(const char *value) {
  while (*value == ' ' || *value == '\t')
    value++;
  char *end;
  long secs = strtol(value, &end, 10);
  if (end != value) {
    while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
      end++;
    if (*end == '\0' && secs >= 0)
      return secs > 86400 ? 86400000L : secs * 1000;
  }
  /* The HTTP-date form; curl_getdate parses the formats RFC 9110 allows. */
  time_t when = curl_getdate(value, NULL);
  if (when == -1)
    return -1;
  time_t now = time(NULL);
  return when > now ? (long)(when - now) * 1000 : 0;
}

static bool idempotent(nox__op_t op) {
  return op == NOX__OP_HEALTH || op == NOX__OP_CREATE ||
         op == NOX__OP_TOUCH || op == NOX__OP_DELETE ||
         op == NOX__OP_DOWNLOAD;
}

bool nox__http_should_retry(nox__xfer_t *x, int status, uint64_t *delay_ms) {
  nox_req_t *req = x->req;
  nox_client_t *c = req->client;
  const nox_client_options_t *o = &c->opts;

  if (req->canceled || req->attempts > o->max_retries)
    return false;
  if (req->op == NOX__OP_DOWNLOAD && req->delivered_data)
    return false;
  /* A streamed upload source cannot be rewound once it gave bytes. */
  if (req->op == NOX__OP_UPLOAD && x->read_started)
    return false;

  bool retry;
  if (status == NOX_ECONNECT) {
    retry = true; /* nothing was sent */
  } else if (!idempotent(req->op)) {
    retry = false;
  } else {
    long code = x->http_status;
    retry = status == NOX_ETRANSPORT || code == 429 || code == 502 ||
            code == 503 || code == 504;
  }
  if (!retry)
    return false;

  if (x->retry_after_ms >= 0) {
    if ((uint64_t)x->retry_after_ms > o->retry_max_ms) {
      nox__req_set_message(req, "server asked to retry after %ld ms, more than "
                                "retry_max_ms (%u)",
                           x->retry_after_ms, (unsigned)o->retry_max_ms);
      return false;
    }
    *delay_ms = (uint64_t)x->retry_after_ms;
    return true;
  }
  /* Exponential backoff with "equal jitter": half fixed, half random. */
  uint64_t d = o->retry_base_ms;
  for (unsigned i = 1; i < req->attempts && d < o->retry_max_ms; i++)
    d *= 2;
  if (d > o->retry_max_ms)
    d = o->retry_max_ms;
  *delay_ms = d / 2 + (uint64_t)(nox__client_random(c) * (double)(d / 2 + 1));
  return true;
}
