/*
 * The streaming response parser: whatever the bytes and however they are
 * split, it never crashes, and a body parses to the same outcome whole and
 * in chunks. Input: byte 0 picks the operation, byte 1 seeds the chunking,
 * the rest is the body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

typedef struct {
  int status;
  int exit_code;
  int64_t duration;
  int out_truncated, err_truncated;
  nox__buf_t out, err, pod, exp;
} outcome_t;

static void parse(nox__op_t op, const char *body, size_t len, unsigned seed,
                  outcome_t *o) {
  nox_req_t *req = calloc(1, sizeof(*req));
  nox__json_t js;
  if (req == NULL)
    abort();
  req->op = op;
  req->result.duration_ms = -1;
  if (nox__json_begin(&js, req) != 0)
    abort();
  if (seed != 0)
    js.batch = 1 + seed % 97; /* split yajl's input too, not only ours */
  int st = 0;
  size_t off = 0;
  while (off < len && st == 0) {
    size_t n = seed == 0 ? len : 1 + (seed = seed * 1103515245u + 12345u) % 64;
    if (n > len - off)
      n = len - off;
    st = nox__json_feed(&js, body + off, n);
    off += n;
  }
  if (st == 0)
    st = nox__json_end(&js);
  nox__json_free(&js);
  o->status = st;
  o->exit_code = req->result.exit_code;
  o->duration = req->result.duration_ms;
  o->out_truncated = req->result.out_truncated;
  o->err_truncated = req->result.err_truncated;
  o->out = req->out;
  o->err = req->errbuf;
  o->pod = req->pod_name;
  o->exp = req->expires_at;
  free(req);
}

static int same_buf(const nox__buf_t *a, const nox__buf_t *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void release(outcome_t *o) {
  nox__buf_reset(&o->out);
  nox__buf_reset(&o->err);
  nox__buf_reset(&o->pod);
  nox__buf_reset(&o->exp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  nox__op_t op = (data[0] & 1) ? NOX__OP_CREATE : NOX__OP_EXEC;
  unsigned seed = data[1] | 1u;
  const char *body = (const char *)data + 2;
  size_t len = size - 2;
  outcome_t whole, split;
  memset(&whole, 0, sizeof(whole));
  memset(&split, 0, sizeof(split));
  parse(op, body, len, 0, &whole);
  parse(op, body, len, seed, &split);
  /* The same verdict; on success, the same fields. */
  if ((whole.status == 0) != (split.status == 0))
    abort();
  if (whole.status == 0 &&
      (whole.exit_code != split.exit_code || whole.duration != split.duration ||
       whole.out_truncated != split.out_truncated ||
       whole.err_truncated != split.err_truncated ||
       !same_buf(&whole.out, &split.out) || !same_buf(&whole.err, &split.err) ||
       !same_buf(&whole.pod, &split.pod) || !same_buf(&whole.exp, &split.exp)))
    abort();
  release(&whole);
  release(&split);

  /* Error bodies: any bytes give a printable message. */
  char msg[256];
  char code[32];
  nox__json_error_message(body, len, msg, sizeof(msg), code, sizeof(code));
  for (const char *p = msg; *p; p++)
    if ((unsigned char)*p < 0x20)
      abort();
  return 0;
}
