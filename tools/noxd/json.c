/*
 * Request bodies in (yajl_tree: bodies are capped by --max-body) and JSON
 * answers out (yajl_gen writing straight into a buffer MHD will own).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "noxd.h"

/* ------------------------------------------------------------------------ */
/* Generation                                                               */
/* ------------------------------------------------------------------------ */

/*
 * yajl_gen can only refuse invalid UTF-8 (yajl_gen_validate_utf8), and a
 * command's output is arbitrary bytes, so each invalid byte is replaced by
 * U+FFFD before generating. Valid input is passed through without a copy.
 */
static yajl_gen_status gen_str(yajl_gen g, const char *s, size_t n) {
  if (nox_utf8_valid(s, n))
    return yajl_gen_string(g, (const unsigned char *)s, n);
  char *fixed;
  size_t len;
  if (nox_utf8_sanitize(&fixed, &len, s, n) != 0)
    return yajl_gen_generation_complete; /* any failure will do */
  yajl_gen_status st = yajl_gen_string(g, (const unsigned char *)fixed, len);
  nox_free(fixed);
  return st;
}

/* One member, "key": value; each put_ is true when yajl took it. */
static bool put_key(yajl_gen g, const char *key) {
  return yajl_gen_string(g, (const unsigned char *)key, strlen(key)) ==
         yajl_gen_status_ok;
}

static bool put_str(yajl_gen g, const char *key, const char *s, size_t n) {
  return put_key(g, key) && gen_str(g, s, n) == yajl_gen_status_ok;
}

/* A C string; NULL is "". */
static bool put_cstr(yajl_gen g, const char *key, const char *s) {
  return put_str(g, key, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

static bool put_int(yajl_gen g, const char *key, long long v) {
  return put_key(g, key) && yajl_gen_integer(g, v) == yajl_gen_status_ok;
}

static bool put_bool(yajl_gen g, const char *key, int v) {
  return put_key(g, key) && yajl_gen_bool(g, v) == yajl_gen_status_ok;
}

typedef struct {
  char *data;
  size_t len, cap;
  bool oom;
} outbuf_t;

static void out_print(void *ctx, const char *s, size_t n) {
  outbuf_t *o = ctx;
  if (o->oom)
    return;
  if (o->len + n + 1 > o->cap) {
    size_t cap = o->cap ? o->cap : 256;
    while (cap < o->len + n + 1)
      cap *= 2;
    char *p = realloc(o->data, cap);
    if (p == NULL) {
      o->oom = true;
      return;
    }
    o->data = p;
    o->cap = cap;
  }
  memcpy(o->data + o->len, s, n);
  o->len += n;
  o->data[o->len] = '\0';
}

/*
 * One JSON object whose members fill puts, written straight into a buffer
 * that becomes *out (malloc'd, NUL-terminated; MHD will own it). 0 or -1.
 */
static int gen_object(bool (*fill)(yajl_gen g, const void *arg),
                      const void *arg, char **out, size_t *len) {
  outbuf_t o = {NULL, 0, 0, false};
  yajl_gen g = yajl_gen_alloc(NULL);
  if (g == NULL)
    return -1;
  yajl_gen_config(g, yajl_gen_print_callback, out_print, &o);
  bool ok = yajl_gen_map_open(g) == yajl_gen_status_ok && fill(g, arg) &&
            yajl_gen_map_close(g) == yajl_gen_status_ok;
  yajl_gen_free(g);
  if (!ok || o.oom || o.data == NULL) {
    free(o.data);
    return -1;
  }
  *out = o.data;
  *len = o.len;
  return 0;
}

static bool fill_exec_result(yajl_gen g, const void *arg) {
  const nox_exec_result_t *r = arg;
  return put_int(g, "exitCode", r->exit_code) &&
         put_str(g, "stdout", r->out ? r->out : "", r->out ? r->out_len : 0) &&
         put_str(g, "stderr", r->err ? r->err : "", r->err ? r->err_len : 0) &&
         put_int(g, "durationMs", r->duration_ms < 0 ? 0 : r->duration_ms) &&
         put_bool(g, "stdoutTruncated", r->out_truncated) &&
         put_bool(g, "stderrTruncated", r->err_truncated);
}

int noxd_json_exec_result(const nox_exec_result_t *r, char **out, size_t *len) {
  return gen_object(fill_exec_result, r, out, len);
}

static bool fill_sandbox(yajl_gen g, const void *arg) {
  const nox_sandbox_info_t *info = arg;
  return put_cstr(g, "podName", info->pod_name) &&
         put_cstr(g, "expiresAt", info->expires_at);
}

int noxd_json_sandbox(const nox_sandbox_info_t *info, char **out, size_t *len) {
  return gen_object(fill_sandbox, info, out, len);
}

typedef struct {
  const char *msg, *code;
} error_body_t;

static bool fill_error(yajl_gen g, const void *arg) {
  const error_body_t *e = arg;
  return put_cstr(g, "error", e->msg) &&
         (e->code == NULL || put_cstr(g, "code", e->code));
}

int noxd_json_error(const char *msg, const char *code, char **out,
                    size_t *len) {
  error_body_t e = {msg, code};
  return gen_object(fill_error, &e, out, len);
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * yajl_tree hands out NUL-terminated strings, so a "\u0000" inside one would
 * silently cut it short. No C API below can take such a string anyway:
 * refuse it up front. Outside strings a backslash is already invalid JSON.
 */
static int has_nul_escape(const char *s, size_t n) {
  for (size_t i = 0; i + 1 < n; i++) {
    if (s[i] != '\\')
      continue;
    if (s[i + 1] == 'u' && i + 5 < n && memcmp(s + i + 2, "0000", 4) == 0)
      return 1;
    i++; /* skip the escaped character */
  }
  return 0;
}

static yajl_val parse_object(const char *body, size_t len, char *err,
                             size_t errlen) {
  if (len == 0) {
    snprintf(err, errlen, "request body is empty: expected a JSON object");
    return NULL;
  }
  if (memchr(body, '\0', len) != NULL) {
    snprintf(err, errlen, "request body contains a NUL byte");
    return NULL;
  }
  if (has_nul_escape(body, len)) {
    snprintf(err, errlen, "strings must not contain \\u0000");
    return NULL;
  }
  /* yajl_tree_parse wants a C string; body is (pointer, length). */
  char *text = malloc(len + 1);
  if (text == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  memcpy(text, body, len);
  text[len] = '\0';
  char ybuf[256] = "";
  yajl_val v = yajl_tree_parse(text, ybuf, sizeof(ybuf));
  free(text);
  if (v == NULL) {
    /* yajl's message goes on with an excerpt and a caret; keep line one. */
    char *nl = strchr(ybuf, '\n');
    if (nl != NULL)
      *nl = '\0';
    snprintf(err, errlen, "malformed JSON: %s", ybuf[0] ? ybuf : "parse error");
    return NULL;
  }
  if (!YAJL_IS_OBJECT(v)) {
    snprintf(err, errlen, "request body must be a JSON object");
    yajl_tree_free(v);
    return NULL;
  }
  return v;
}

/* The member named key, or NULL when absent or null. */
static yajl_val member(yajl_val obj, const char *key) {
  for (size_t i = 0; i < obj->u.object.len; i++)
    if (strcmp(obj->u.object.keys[i], key) == 0)
      return YAJL_IS_NULL(obj->u.object.values[i]) ? NULL
                                                   : obj->u.object.values[i];
  return NULL;
}

static int get_int(yajl_val obj, const char *key, long long lo, long long hi,
                   long long dflt, long long *out, char *err, size_t errlen) {
  yajl_val v = member(obj, key);
  if (v == NULL) {
    *out = dflt;
    return 0;
  }
  if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < lo ||
      YAJL_GET_INTEGER(v) > hi) {
    snprintf(err, errlen, "%s must be an integer from %lld to %lld", key, lo,
             hi);
    return -1;
  }
  *out = YAJL_GET_INTEGER(v);
  return 0;
}

static int get_str(yajl_val obj, const char *key, const char **out, char *err,
                   size_t errlen) {
  yajl_val v = member(obj, key);
  *out = NULL;
  if (v == NULL)
    return 0;
  if (!YAJL_IS_STRING(v)) {
    snprintf(err, errlen, "%s must be a string", key);
    return -1;
  }
  *out = v->u.string;
  return 0;
}

void noxd_exec_args_free(noxd_exec_args_t *a) {
  if (a->env != NULL)
    for (char **e = a->env; *e != NULL; e++)
      free(*e);
  free(a->env);
  free(a->argv);
  nox_free(a->workdir);
  if (a->tree != NULL)
    yajl_tree_free(a->tree);
  memset(a, 0, sizeof(*a));
}

static int parse_cmd(yajl_val root, noxd_exec_args_t *a, char *err,
                     size_t errlen) {
  yajl_val cmd = member(root, "cmd");
  if (cmd == NULL) {
    snprintf(err, errlen, "cmd is required");
    return -1;
  }
  if (!YAJL_IS_ARRAY(cmd)) {
    snprintf(err, errlen, "cmd must be an array of strings");
    return -1;
  }
  size_t n = cmd->u.array.len;
  if (n == 0) {
    snprintf(err, errlen, "cmd must not be empty");
    return -1;
  }
  a->argv = calloc(n + 1, sizeof(*a->argv));
  if (a->argv == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    yajl_val s = cmd->u.array.values[i];
    if (!YAJL_IS_STRING(s)) {
      snprintf(err, errlen, "cmd[%zu] must be a string", i);
      return -1;
    }
    a->argv[i] = s->u.string;
  }
  if (a->argv[0][0] == '\0') {
    snprintf(err, errlen, "cmd[0] must not be an empty string");
    return -1;
  }
  return 0;
}

static int parse_env(yajl_val root, noxd_exec_args_t *a, char *err,
                     size_t errlen) {
  yajl_val env = member(root, "env");
  if (env == NULL)
    return 0;
  if (!YAJL_IS_OBJECT(env)) {
    snprintf(err, errlen, "env must be an object of strings");
    return -1;
  }
  size_t n = env->u.object.len;
  a->env = calloc(n + 1, sizeof(*a->env));
  if (a->env == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    const char *k = env->u.object.keys[i];
    yajl_val v = env->u.object.values[i];
    size_t kl = strlen(k);
    if (kl == 0 || strchr(k, '=') != NULL) {
      snprintf(err, errlen, "env names must be non-empty and without '='");
      return -1;
    }
    if (!YAJL_IS_STRING(v)) {
      snprintf(err, errlen, "env[\"%.64s\"] must be a string", k);
      return -1;
    }
    size_t vl = strlen(v->u.string);
    a->env[i] = malloc(kl + vl + 2);
    if (a->env[i] == NULL) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    memcpy(a->env[i], k, kl);
    a->env[i][kl] = '=';
    memcpy(a->env[i] + kl + 1, v->u.string, vl + 1);
  }
  return 0;
}

int noxd_parse_exec(const char *body, size_t len, noxd_exec_args_t *out,
                    char *err, size_t errlen) {
  memset(out, 0, sizeof(*out));
  yajl_val root = parse_object(body, len, err, errlen);
  if (root == NULL)
    return -1;
  out->tree = root;
  const char *workdir;
  long long timeout;
  if (parse_cmd(root, out, err, errlen) != 0 ||
      parse_env(root, out, err, errlen) != 0 ||
      get_str(root, "workdir", &workdir, err, errlen) != 0 ||
      noxd_sandbox_path("workdir", workdir ? workdir : NOX_WORKSPACE,
                        &out->workdir, err, errlen) != 0 ||
      get_int(root, "timeoutSeconds", 1, NOXD_MAX_TIMEOUT_SECONDS,
              NOXD_DEFAULT_TIMEOUT_SECONDS, &timeout, err, errlen) != 0) {
    noxd_exec_args_free(out);
    return -1;
  }
  out->timeout_seconds = (uint32_t)timeout;
  return 0;
}

void noxd_create_args_free(noxd_create_args_t *a) {
  if (a->tree != NULL)
    yajl_tree_free(a->tree);
  memset(a, 0, sizeof(*a));
}

int noxd_parse_create(const char *body, size_t len, noxd_create_args_t *out,
                      char *err, size_t errlen) {
  memset(out, 0, sizeof(*out));
  /* A bare PUT is a request for the defaults. */
  if (len == 0) {
    out->ttl_seconds = NOXD_DEFAULT_TTL_SECONDS;
    return 0;
  }
  yajl_val root = parse_object(body, len, err, errlen);
  if (root == NULL)
    return -1;
  out->tree = root;
  long long ttl;
  if (get_int(root, "ttlSeconds", 1, NOXD_MAX_TTL_SECONDS,
              NOXD_DEFAULT_TTL_SECONDS, &ttl, err, errlen) != 0 ||
      get_str(root, "image", &out->image, err, errlen) != 0 ||
      get_str(root, "cpuLimit", &out->cpu_limit, err, errlen) != 0 ||
      get_str(root, "memoryLimit", &out->memory_limit, err, errlen) != 0 ||
      get_str(root, "ephemeralStorageLimit", &out->storage_limit, err,
              errlen) != 0) {
    noxd_create_args_free(out);
    return -1;
  }
  out->ttl_seconds = (uint32_t)ttl;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Sandbox paths: the library's rule, with noxd's messages                  */
/* ------------------------------------------------------------------------ */

int noxd_sandbox_path(const char *what, const char *in, char **out, char *err,
                      size_t errlen) {
  int rc = nox_workspace_path(out, in);
  if (rc == NOX_ENOMEM)
    snprintf(err, errlen, "out of memory");
  else if (rc != 0 && in[0] == '\0')
    snprintf(err, errlen, "%s must not be empty", what);
  else if (rc != 0)
    snprintf(err, errlen, "%s \"%.200s\" is outside the sandbox (%s)", what, in,
             NOX_WORKSPACE);
  return rc == 0 ? 0 : -1;
}
