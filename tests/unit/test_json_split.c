/*
 * The streaming JSON parser gives the same result whatever the chunking:
 * every fixture is fed split at every chunk size from 1 to 64 bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "test.h"

typedef struct {
  const char *name;
  nox__op_t op;
  const char *body;
  int status;          /* expected outcome */
  int exit_code;
  const char *out;     /* expected stdout (may hold NULs) */
  size_t out_len;
  const char *err;
  long long duration;
  const char *pod, *expires;
  int out_truncated, err_truncated;
} fixture_t;

static const fixture_t fixtures[] = {
    {"exec plain", NOX__OP_EXEC,
     "{\"exitCode\": 3, \"stdout\": \"hello\\n\", \"stderr\": \"warn\", "
     "\"durationMs\": 12}",
     0, 3, "hello\n", 6, "warn", 12, NULL, NULL, 0, 0},
    {"exec nul and escapes", NOX__OP_EXEC,
     "{\"stdout\":\"a\\u0000b\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\","
     "\"exitCode\":0}",
     0, 0, "a\0b\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80", 17, "", -1, NULL,
     NULL, 0, 0},
    {"exec unknown fields", NOX__OP_EXEC,
     "{\"x\":{\"exitCode\":\"nested\",\"a\":[1,{\"stdout\":5}]},\"exitCode\":"
     "1.0,\"y\":[true,false,null,1e3,\"s\"],\"stdout\":\"ok\",\"z\":null,"
     "\"stderr\":null,\"durationMs\":2.5}",
     0, 1, "ok", 2, "", 2, NULL, NULL, 0, 0},
    {"exec wrong type", NOX__OP_EXEC,
     "{\"exitCode\":\"0\",\"stdout\":\"\",\"stderr\":\"\"}", NOX_EPROTO, 0,
     NULL, 0, NULL, 0, NULL, NULL, 0, 0},
    {"exec stdout number", NOX__OP_EXEC, "{\"exitCode\":0,\"stdout\":5}",
     NOX_EPROTO, 0, NULL, 0, NULL, 0, NULL, NULL, 0, 0},
    {"exec missing exitCode", NOX__OP_EXEC, "{\"stdout\":\"x\"}", NOX_EPROTO,
     0, NULL, 0, NULL, 0, NULL, NULL, 0, 0},
    {"exec fractional exitCode", NOX__OP_EXEC, "{\"exitCode\":1.5}",
     NOX_EPROTO, 0, NULL, 0, NULL, 0, NULL, NULL, 0, 0},
    {"exec duration out of range", NOX__OP_EXEC,
     "{\"exitCode\":0,\"durationMs\":1e20}", NOX_EPROTO, 0, NULL, 0, NULL, 0,
     NULL, NULL, 0, 0},
    {"exec array body", NOX__OP_EXEC, "[1,2]", NOX_EPROTO, 0, NULL, 0, NULL, 0,
     NULL, NULL, 0, 0},
    {"exec scalar body", NOX__OP_EXEC, "\"text\"", NOX_EPROTO, 0, NULL, 0,
     NULL, 0, NULL, NULL, 0, 0},
    {"exec truncated", NOX__OP_EXEC, "{\"exitCode\":0,\"stdout\":\"abc",
     NOX_EPROTO, 0, NULL, 0, NULL, 0, NULL, NULL, 0, 0},
    {"exec garbage", NOX__OP_EXEC, "{\"exitCode\":0,}", NOX_EPROTO, 0, NULL, 0,
     NULL, 0, NULL, NULL, 0, 0},
    {"create", NOX__OP_CREATE,
     "  {\"podName\":\"pod-1\",\"extra\":{\"a\":[]},\"expiresAt\":"
     "\"2030-01-02T03:04:05Z\"}\n",
     0, 0, NULL, 0, NULL, 0, "pod-1", "2030-01-02T03:04:05Z", 0, 0},
    {"create wrong type", NOX__OP_CREATE, "{\"podName\":5}", NOX_EPROTO, 0,
     NULL, 0, NULL, 0, NULL, NULL, 0, 0},
    {"create object value", NOX__OP_CREATE, "{\"expiresAt\":{}}", NOX_EPROTO,
     0, NULL, 0, NULL, 0, NULL, NULL, 0, 0},
    /* Unknown fields may hold any number JSON can spell (issue 13). */
    {"exec big unknown integer", NOX__OP_EXEC,
     "{\"exitCode\":0,\"stdout\":\"hi\\n\",\"stderr\":\"\",\"durationMs\":1,"
     "\"x\":123456789012345678901234567890}",
     0, 0, "hi\n", 3, "", 1, NULL, NULL, 0, 0},
    {"exec unknown past int64", NOX__OP_EXEC,
     "{\"x\":9223372036854775808,\"exitCode\":0,\"y\":-9223372036854775809,"
     "\"stdout\":\"hi\\n\",\"stderr\":\"\",\"durationMs\":1}",
     0, 0, "hi\n", 3, "", 1, NULL, NULL, 0, 0},
    {"exec unknown past double", NOX__OP_EXEC,
     "{\"exitCode\":0,\"x\":1e400,\"y\":-1e400,\"z\":1e-400,\"stdout\":\"hi\\n\","
     "\"stderr\":\"\",\"durationMs\":1}",
     0, 0, "hi\n", 3, "", 1, NULL, NULL, 0, 0},
    {"exec big numbers nested", NOX__OP_EXEC,
     "{\"a\":[1e400,{\"exitCode\":123456789012345678901234567890,"
     "\"b\":[9223372036854775808,[-1e999]]}],\"exitCode\":7,"
     "\"o\":{\"durationMs\":1e400,\"stdoutTruncated\":5,\"deep\":{\"n\":"
     "-123456789012345678901234567890.5e-7}},\"stdout\":\"ok\",\"durationMs\":3}",
     0, 7, "ok", 2, "", 3, NULL, NULL, 0, 0},
    {"exec exitCode past double", NOX__OP_EXEC,
     "{\"exitCode\":1e400,\"stdout\":\"\"}", NOX_EPROTO, 0, NULL, 0, NULL, 0,
     NULL, NULL, 0, 0},
    {"exec exitCode past int64", NOX__OP_EXEC,
     "{\"exitCode\":99999999999999999999}", NOX_EPROTO, 0, NULL, 0, NULL, 0,
     NULL, NULL, 0, 0},
    {"exec exitCode past int", NOX__OP_EXEC, "{\"exitCode\":2147483648}",
     NOX_EPROTO, 0, NULL, 0, NULL, 0, NULL, NULL, 0, 0},
    {"exec exitCode negative", NOX__OP_EXEC,
     "{\"exitCode\":-2147483648,\"durationMs\":-0}", 0, -2147483647 - 1, "", 0,
     "", 0, NULL, NULL, 0, 0},
    {"exec exitCode exponent", NOX__OP_EXEC, "{\"exitCode\":1E2}", 0, 100, "",
     0, "", -1, NULL, NULL, 0, 0},
    {"exec duration past int64", NOX__OP_EXEC,
     "{\"exitCode\":0,\"durationMs\":9223372036854775808}", NOX_EPROTO, 0, NULL,
     0, NULL, 0, NULL, NULL, 0, 0},
    {"exec truncation flags", NOX__OP_EXEC,
     "{\"exitCode\":0,\"stdout\":\"abc\",\"stdoutTruncated\":true,"
     "\"stderrTruncated\":false}",
     0, 0, "abc", 3, "", -1, NULL, NULL, 1, 0},
    {"exec truncation flags stderr", NOX__OP_EXEC,
     "{\"stderrTruncated\":true,\"exitCode\":0,\"stdoutTruncated\":null}", 0, 0,
     "", 0, "", -1, NULL, NULL, 0, 1},
    {"exec truncation flag wrong type", NOX__OP_EXEC,
     "{\"exitCode\":0,\"stdoutTruncated\":\"yes\"}", NOX_EPROTO, 0, NULL, 0,
     NULL, 0, NULL, NULL, 0, 0},
    {"exec truncation flag number", NOX__OP_EXEC,
     "{\"exitCode\":0,\"stderrTruncated\":1}", NOX_EPROTO, 0, NULL, 0, NULL, 0,
     NULL, NULL, 0, 0},
    {"create big unknown numbers", NOX__OP_CREATE,
     "{\"x\":123456789012345678901234567890,\"podName\":\"pod-1\",\"y\":1e400,"
     "\"z\":[9223372036854775808,{\"w\":-1e400}],\"expiresAt\":"
     "\"2030-01-02T03:04:05Z\",\"exitCode\":1e400}",
     0, 0, NULL, 0, NULL, 0, "pod-1", "2030-01-02T03:04:05Z", 0, 0},
};

static int parse_split(const fixture_t *f, size_t chunk, nox_req_t *req) {
  nox__json_t js;
  ASSERT_EQ(nox__json_begin(&js, req), 0);
  js.batch = 1; /* hand every chunk to yajl as it comes, splits and all */
  size_t len = strlen(f->body);
  int err = 0;
  for (size_t off = 0; off < len && err == 0; off += chunk) {
    size_t n = len - off < chunk ? len - off : chunk;
    err = nox__json_feed(&js, f->body + off, n);
  }
  if (err == 0)
    err = nox__json_end(&js);
  if (err != 0)
    ASSERT(js.errmsg[0] != '\0'); /* every failure explains itself */
  /* A known field that is out of range is named. */
  if (err != 0 && strstr(f->name, "past") != NULL)
    ASSERT(strstr(js.errmsg, f->op == NOX__OP_EXEC &&
                                     strstr(f->name, "duration") != NULL
                                 ? "\"durationMs\""
                                 : "\"exitCode\"") != NULL);
  nox__json_free(&js);
  return err;
}

static void check(const fixture_t *f, size_t chunk) {
  nox_req_t *req = calloc(1, sizeof(*req));
  ASSERT(req != NULL);
  req->op = f->op;
  req->result.duration_ms = -1;
  int err = parse_split(f, chunk, req);
  if (err != f->status)
    fprintf(stderr, "fixture \"%s\" chunk %zu: got %s\n", f->name, chunk,
            nox_err_name(err));
  ASSERT_EQ(err, f->status);
  if (err == 0 && f->op == NOX__OP_EXEC) {
    ASSERT_EQ(req->result.exit_code, f->exit_code);
    ASSERT_UEQ(req->out.len, f->out_len);
    if (f->out_len)
      ASSERT_MEM_EQ(req->out.data, f->out, f->out_len);
    ASSERT_UEQ(req->errbuf.len, strlen(f->err));
    if (req->errbuf.len)
      ASSERT_MEM_EQ(req->errbuf.data, f->err, req->errbuf.len);
    ASSERT_EQ(req->result.duration_ms, f->duration);
    ASSERT_EQ(req->result.out_truncated, f->out_truncated);
    ASSERT_EQ(req->result.err_truncated, f->err_truncated);
  }
  if (err == 0 && f->op == NOX__OP_CREATE) {
    ASSERT_STR_EQ(req->pod_name.data, f->pod);
    ASSERT_STR_EQ(req->expires_at.data, f->expires);
  }
  nox__buf_reset(&req->out);
  nox__buf_reset(&req->errbuf);
  nox__buf_reset(&req->pod_name);
  nox__buf_reset(&req->expires_at);
  free(req);
}

int main(void) {
  size_t checks = 0;
  for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
    for (size_t chunk = 1; chunk <= 64; chunk++) {
      check(&fixtures[i], chunk);
      checks++;
    }
  }
  printf("%zu fixture/chunk combinations parsed alike\n", checks);
  return 0;
}
