/*
 * Streaming parse of exec and create answers with yajl's push parser: the
 * body is fed as it arrives (in batches of up to NOX__JSON_BATCH bytes, see
 * http.h), known top-level fields are stored on the request as their values
 * complete, unknown fields (of any shape) are
 * skipped, and a known field of the wrong type stops the parse.
 *
 * Numbers come as their text (yajl's number callback): only the fields we
 * use are converted and range-checked, so an unknown field may hold any
 * number JSON can spell (123456789012345678901234567890, 1e400).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "http.h"

enum {
  K_NONE,
  K_OTHER,
  K_EXIT_CODE,
  K_STDOUT,
  K_STDERR,
  K_DURATION,
  K_OUT_TRUNCATED,
  K_ERR_TRUNCATED,
  K_POD_NAME,
  K_EXPIRES_AT
};

static const struct {
  const char *name;
  int key;
  nox__op_t op;
} fields[] = {
    {"exitCode", K_EXIT_CODE, NOX__OP_EXEC},
    {"stdout", K_STDOUT, NOX__OP_EXEC},
    {"stderr", K_STDERR, NOX__OP_EXEC},
    {"durationMs", K_DURATION, NOX__OP_EXEC},
    {"stdoutTruncated", K_OUT_TRUNCATED, NOX__OP_EXEC},
    {"stderrTruncated", K_ERR_TRUNCATED, NOX__OP_EXEC},
    {"podName", K_POD_NAME, NOX__OP_CREATE},
    {"expiresAt", K_EXPIRES_AT, NOX__OP_CREATE},
};

static const char *key_name(int key) {
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
    if (fields[i].key == key)
      return fields[i].name;
  return "?";
}

/* Stops the parse: yajl reports "client canceled" and we keep our reason. */
static int wrong_type(nox__json_t *js, const char *what) {
  js->err = NOX_EPROTO;
  snprintf(js->errmsg, sizeof(js->errmsg),
           "malformed response: field \"%s\" is %s", key_name(js->key), what);
  return 0;
}

/* A scalar at depth 1 is the value of the current top-level key. */
static bool at_value(nox__json_t *js) {
  return js->depth == 1 && js->key != K_NONE && js->key != K_OTHER;
}

/* Every value ends the current key once it is complete at depth 1. */
static void value_done(nox__json_t *js) {
  if (js->depth == 1)
    js->key = K_NONE;
}

static int top_scalar(nox__json_t *js) {
  if (js->depth == 0) {
    js->err = NOX_EPROTO;
    snprintf(js->errmsg, sizeof(js->errmsg),
             "malformed response: not a JSON object");
    return 0;
  }
  return 1;
}

static int on_null(void *ctx) {
  nox__json_t *js = ctx;
  if (!top_scalar(js))
    return 0;
  if (at_value(js) && js->key != K_STDOUT && js->key != K_STDERR &&
      js->key != K_POD_NAME && js->key != K_EXPIRES_AT &&
      js->key != K_DURATION && js->key != K_OUT_TRUNCATED &&
      js->key != K_ERR_TRUNCATED)
    return wrong_type(js, "null");
  value_done(js);
  return 1;
}

static int on_boolean(void *ctx, int v) {
  nox__json_t *js = ctx;
  if (!top_scalar(js))
    return 0;
  if (at_value(js)) {
    if (js->key == K_OUT_TRUNCATED)
      js->req->result.out_truncated = v ? 1 : 0;
    else if (js->key == K_ERR_TRUNCATED)
      js->req->result.err_truncated = v ? 1 : 0;
    else
      return wrong_type(js, "a boolean");
  }
  value_done(js);
  return 1;
}

/*
 * Converts the text of a known integer field: an integer spelled as such
 * must fit int64_t; one spelled with a fraction or exponent (1.0, 1e3)
 * goes through a double and must be finite. *integral says whether it had
 * no fractional part. Returns 0, or -1 when out of range.
 */
static int parse_number(const char *s, size_t len, int64_t *out,
                        bool *integral) {
  char text[512];
  char *end;
  if (len == 0 || len >= sizeof(text))
    return -1;
  memcpy(text, s, len);
  text[len] = '\0';
  errno = 0;
  if (strpbrk(text, ".eE") == NULL) {
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0')
      return -1;
    *out = (int64_t)v;
    *integral = true;
    return 0;
  }
  double d = strtod(text, &end);
  /* ERANGE is also set on underflow (1e-400): that is a zero, not huge. */
  if (*end != '\0' || !isfinite(d) || d < -9.0e18 || d > 9.0e18)
    return -1;
  *integral = d == floor(d);
  *out = (int64_t)d;
  return 0;
}

static int on_number(void *ctx, const char *s, size_t len) {
  nox__json_t *js = ctx;
  nox_req_t *req = js->req;
  int64_t v;
  bool integral;
  if (!top_scalar(js))
    return 0;
  if (at_value(js)) {
    if (js->key != K_EXIT_CODE && js->key != K_DURATION)
      return wrong_type(js, "a number");
    if (parse_number(s, len, &v, &integral) != 0)
      return wrong_type(js, "out of range");
    if (js->key == K_EXIT_CODE) {
      if (!integral)
        return wrong_type(js, "not an integer");
      if (v < INT32_MIN || v > INT32_MAX)
        return wrong_type(js, "out of range");
      req->result.exit_code = (int)v;
      req->have_exit_code = true;
    } else {
      req->result.duration_ms = v;
    }
  }
  value_done(js);
  return 1;
}

static int on_string(void *ctx, const unsigned char *s, size_t len) {
  nox__json_t *js = ctx;
  nox_req_t *req = js->req;
  nox__buf_t *dst = NULL;
  if (!top_scalar(js))
    return 0;
  if (at_value(js)) {
    switch (js->key) {
    case K_STDOUT:
      dst = &req->out;
      break;
    case K_STDERR:
      dst = &req->errbuf;
      break;
    case K_POD_NAME:
      dst = &req->pod_name;
      break;
    case K_EXPIRES_AT:
      dst = &req->expires_at;
      break;
    default:
      return wrong_type(js, "a string");
    }
    nox__buf_reset(dst); /* a repeated key: the last one wins */
    if (nox__buf_append(dst, s, len) != 0) {
      js->err = NOX_ENOMEM;
      snprintf(js->errmsg, sizeof(js->errmsg), "out of memory");
      return 0;
    }
  }
  value_done(js);
  return 1;
}

static int on_start_container(nox__json_t *js, bool array) {
  const char *what = array ? "an array" : "an object";
  if (js->depth == 0 && array) {
    js->err = NOX_EPROTO;
    snprintf(js->errmsg, sizeof(js->errmsg),
             "malformed response: not a JSON object");
    return 0;
  }
  if (at_value(js))
    return wrong_type(js, what);
  if (js->depth == 0)
    js->top_is_object = true;
  js->depth++;
  return 1;
}

static int on_start_map(void *ctx) {
  return on_start_container(ctx, false);
}

static int on_start_array(void *ctx) {
  return on_start_container(ctx, true);
}

static int on_end_container(void *ctx) {
  nox__json_t *js = ctx;
  js->depth--;
  value_done(js);
  return 1;
}

static int on_map_key(void *ctx, const unsigned char *k, size_t len) {
  nox__json_t *js = ctx;
  if (js->depth != 1)
    return 1;
  js->key = K_OTHER;
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
    if (fields[i].op == js->req->op && strlen(fields[i].name) == len &&
        memcmp(fields[i].name, k, len) == 0) {
      js->key = fields[i].key;
      break;
    }
  }
  return 1;
}

/* With yajl_number set, yajl never calls the integer and double ones. */
static const yajl_callbacks callbacks = {
    on_null,      on_boolean,       NULL,         NULL,
    on_number,    on_string,        on_start_map, on_map_key,
    on_end_container, on_start_array, on_end_container,
};

int nox__json_begin(nox__json_t *js, nox_req_t *req) {
  memset(js, 0, sizeof(*js));
  js->req = req;
  js->batch = NOX__JSON_BATCH;
  js->yh = yajl_alloc(&callbacks, NULL, js);
  if (js->yh == NULL)
    return NOX_ENOMEM;
  /* Be tolerant of backends that pass raw non-UTF-8 output through. */
  yajl_config(js->yh, yajl_dont_validate_strings, 1);
  return 0;
}

static int parse_error(nox__json_t *js, yajl_status st, const char *buf,
                       size_t len) {
  if (js->err != 0)
    return js->err;
  js->err = NOX_EPROTO;
  if (st == yajl_status_client_canceled) {
    snprintf(js->errmsg, sizeof(js->errmsg), "malformed response");
    return js->err;
  }
  unsigned char *m =
      yajl_get_error(js->yh, 0, (const unsigned char *)buf, len);
  snprintf(js->errmsg, sizeof(js->errmsg), "malformed JSON in response: %s",
           m ? (const char *)m : "parse error");
  if (m)
    yajl_free_error(js->yh, m);
  size_t n = strlen(js->errmsg);
  while (n > 0 && (js->errmsg[n - 1] == '\n' || js->errmsg[n - 1] == ' '))
    js->errmsg[--n] = '\0';
  return js->err;
}

static int flush(nox__json_t *js) {
  if (js->pending.len == 0)
    return 0;
  yajl_status st = yajl_parse(js->yh, (const unsigned char *)js->pending.data,
                              js->pending.len);
  int err = st == yajl_status_ok
                ? 0
                : parse_error(js, st, js->pending.data, js->pending.len);
  js->pending.len = 0;
  return err;
}

int nox__json_feed(nox__json_t *js, const char *buf, size_t len) {
  if (nox__buf_append(&js->pending, buf, len) != 0) {
    js->err = NOX_ENOMEM;
    snprintf(js->errmsg, sizeof(js->errmsg), "out of memory");
    return js->err;
  }
  return js->pending.len >= js->batch ? flush(js) : 0;
}

int nox__json_end(nox__json_t *js) {
  int err = flush(js);
  if (err != 0)
    return err;
  yajl_status st = yajl_complete_parse(js->yh);
  if (st != yajl_status_ok)
    return parse_error(js, st, NULL, 0);
  if (!js->top_is_object) {
    js->err = NOX_EPROTO;
    snprintf(js->errmsg, sizeof(js->errmsg),
             "malformed response: not a JSON object");
    return js->err;
  }
  if (js->req->op == NOX__OP_EXEC && !js->req->have_exit_code) {
    js->err = NOX_EPROTO;
    snprintf(js->errmsg, sizeof(js->errmsg),
             "malformed response: no \"exitCode\"");
    return js->err;
  }
  return 0;
}

void nox__json_free(nox__json_t *js) {
  if (js->yh != NULL)
    yajl_free(js->yh);
  js->yh = NULL;
  nox__buf_reset(&js->pending);
}

/* Copies s into out, replacing control characters so it prints safely. */
static void copy_printable(char *out, size_t outlen, const char *s,
                           size_t len) {
  size_t o = 0;
  while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' ||
                     s[len - 1] == ' ' || s[len - 1] == '\t'))
    len--;
  for (size_t i = 0; i < len && o + 1 < outlen; i++) {
    unsigned char ch = (unsigned char)s[i];
    out[o++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
  }
  out[o] = '\0';
}

bool nox__json_error_message(const char *body, size_t len, char *out,
                             size_t outlen, char *code, size_t codelen) {
  out[0] = '\0';
  if (code != NULL && codelen > 0)
    code[0] = '\0';
  if (body == NULL || len == 0)
    return false;
  /* yajl_tree_parse wants a C string; the body may hold NULs or lack one. */
  char *text = malloc(len + 1);
  if (text == NULL)
    return false;
  memcpy(text, body, len);
  text[len] = '\0';
  yajl_val v = yajl_tree_parse(text, NULL, 0);
  free(text);
  if (v != NULL && YAJL_IS_OBJECT(v)) {
    static const char *const keys[] = {"error", "message", "detail"};
    for (size_t i = 0; i < 3; i++) {
      const char *path[] = {keys[i], NULL};
      yajl_val s = yajl_tree_get(v, path, yajl_t_string);
      if (s != NULL) {
        const char *str = YAJL_GET_STRING(s);
        copy_printable(out, outlen, str, strlen(str));
        const char *cpath[] = {"code", NULL};
        yajl_val cv = yajl_tree_get(v, cpath, yajl_t_string);
        if (cv != NULL && code != NULL && codelen > 0) {
          const char *cs = YAJL_GET_STRING(cv);
          copy_printable(code, codelen, cs, strlen(cs));
        }
        yajl_tree_free(v);
        return true;
      }
    }
  }
  if (v != NULL)
    yajl_tree_free(v);
  copy_printable(out, outlen, body, len);
  return false;
}
