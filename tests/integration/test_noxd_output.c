/*
 * Output caps over noxd: a command printing past --max-output gets the
 * first bytes exactly, nothing appended, and "stdoutTruncated": true in the
 * answer (read raw and through the library's HTTP backend); output exactly
 * at the cap is not truncated. The default cap is 1 MiB.
 *
 * Then one table of cases, run the same way on both backends (local: with
 * nox_client_options_t.max_output_bytes, noxd with --max-output), at the
 * default cap and at a small one: stdout, stderr or both past the cap give
 * the first cap bytes of what the command printed, byte for byte (seq's
 * output, so an offset or a marker would show), with the matching
 * truncated flag; output exactly at the cap is whole and not flagged.
 */
#include <yajl/yajl_tree.h>

#include "local_util.h"
#include "noxd_util.h"

/* POST exec of sh -c script on id; returns the parsed answer. */
static yajl_val raw_exec(const noxd_test_t *t, const char *id,
                         const char *script) {
  char url[512], body[512], *resp = NULL;
  size_t len = 0;
  noxd_http_opts_t o = {NULL, body, 0, false};
  snprintf(url, sizeof(url), "%s/v1/sandboxes/%s/exec", t->srv.url, id);
  o.len = (size_t)snprintf(body, sizeof(body),
                           "{\"cmd\":[\"sh\",\"-c\",\"%s\"]}", script);
  ASSERT_EQ(noxd_http("POST", url, &o, &resp, &len), 200);
  yajl_val v = yajl_tree_parse(resp, NULL, 0);
  ASSERT(v != NULL);
  free(resp);
  return v;
}

static int flag(yajl_val root, const char *name) {
  const char *path[] = {name, NULL};
  yajl_val v = yajl_tree_get(root, path, yajl_t_any);
  ASSERT(v != NULL && (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)));
  return YAJL_IS_TRUE(v);
}

static void check_stdout(yajl_val root, size_t want, char ch) {
  const char *path[] = {"stdout", NULL};
  yajl_val v = yajl_tree_get(root, path, yajl_t_string);
  ASSERT(v != NULL);
  const char *s = YAJL_GET_STRING(v);
  ASSERT_EQ(strlen(s), want);
  for (size_t i = 0; i < want; i++)
    ASSERT(s[i] == ch);
}

static void create(const noxd_test_t *t, const char *id) {
  char url[512];
  snprintf(url, sizeof(url), "%s/v1/sandboxes/%s", t->srv.url, id);
  ASSERT_EQ(noxd_http("PUT", url, NULL, NULL, NULL), 200);
}

static void check_default_cap(void) {
  noxd_test_t t;
  ASSERT_EQ(noxd_test_start(&t, "none", NULL), 0);
  create(&t, "out");
  yajl_val v = raw_exec(&t, "out", "head -c 2000000 /dev/zero | tr '\\\\0' a");
  check_stdout(v, 1048576, 'a');
  ASSERT_EQ(flag(v, "stdoutTruncated"), 1);
  ASSERT_EQ(flag(v, "stderrTruncated"), 0);
  yajl_tree_free(v);

  v = raw_exec(&t, "out", "head -c 1048576 /dev/zero | tr '\\\\0' b >&2");
  check_stdout(v, 0, 'b');
  ASSERT_EQ(flag(v, "stdoutTruncated"), 0);
  ASSERT_EQ(flag(v, "stderrTruncated"), 0);
  yajl_tree_free(v);

  /* Through the HTTP backend: the result carries the flag. */
  uv_loop_t loop;
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  nox_client_t *c = NULL;
  lt_res_t r;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  o.base_url = t.srv.url;
  ASSERT_EQ(nox_client_new(&c, &loop, &o), 0);
  lt_sh(c, "out", "head -c 2000000 /dev/zero | tr '\\0' a", &r);
  ASSERT_EQ(r.out_len, 1048576);
  for (size_t i = 0; i < r.out_len; i++)
    ASSERT(r.out[i] == 'a');
  ASSERT_EQ(r.out_truncated, 1);
  ASSERT_EQ(r.err_truncated, 0);
  lt_res_free(&r);
  lt_sh(c, "out", "head -c 1048576 /dev/zero | tr '\\0' a", &r);
  ASSERT_EQ(r.out_len, 1048576);
  ASSERT_EQ(r.out_truncated, 0);
  lt_res_free(&r);
  lt_close(c);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  ASSERT_EQ(noxd_test_stop(&t), 0);
}

static void check_max_output(void) {
  static const char *const extra[] = {"--max-output", "1000", NULL};
  noxd_test_t t;
  ASSERT_EQ(noxd_test_start(&t, "none", extra), 0);
  create(&t, "cap");
  yajl_val v = raw_exec(&t, "cap",
                        "head -c 5000 /dev/zero | tr '\\\\0' c; "
                        "head -c 3000 /dev/zero | tr '\\\\0' d >&2");
  check_stdout(v, 1000, 'c');
  ASSERT_EQ(flag(v, "stdoutTruncated"), 1);
  ASSERT_EQ(flag(v, "stderrTruncated"), 1);
  yajl_tree_free(v);
  v = raw_exec(&t, "cap", "head -c 1000 /dev/zero | tr '\\\\0' e");
  check_stdout(v, 1000, 'e');
  ASSERT_EQ(flag(v, "stdoutTruncated"), 0);
  yajl_tree_free(v);
  ASSERT_EQ(noxd_test_stop(&t), 0);
}

/* ---- The same cases on both backends ------------------------------------ */

#define DEFAULT_CAP 1048576

/* A client on one backend, with a sandbox "tbl" made before any exec. */
typedef struct {
  int noxd; /* 0: local:, 1: noxd */
  size_t cap; /* the cap in force (the default when asked for 0) */
  noxd_test_t srv;
  char *root;
  uv_loop_t loop;
  nox_client_t *c;
} backend_t;

static void backend_open(backend_t *b, int noxd, size_t cap) {
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  char capstr[32];
  const char *const extra[] = {"--max-output", capstr, NULL};
  lt_res_t r;

  memset(b, 0, sizeof(*b));
  b->noxd = noxd;
  b->cap = cap != 0 ? cap : DEFAULT_CAP;
  snprintf(capstr, sizeof(capstr), "%zu", cap);
  ASSERT_EQ(uv_loop_init(&b->loop), 0);
  if (noxd) {
    ASSERT_EQ(noxd_test_start(&b->srv, "none", cap != 0 ? extra : NULL), 0);
    o.base_url = b->srv.srv.url;
    ASSERT_EQ(nox_client_new(&b->c, &b->loop, &o), 0);
  } else {
    b->root = lt_mkroot();
    o.isolation = NOX_ISOLATION_NONE;
    o.max_output_bytes = cap;
    b->c = lt_client_with(&b->loop, b->root, &o);
  }
  ASSERT_EQ(lt_create(b->c, "tbl", 0, &r), 0);
  lt_res_free(&r);
}

static void backend_close(backend_t *b) {
  ASSERT_EQ(lt_simple(nox_delete, b->c, "tbl"), 0);
  lt_close(b->c);
  ASSERT_EQ(uv_loop_close(&b->loop), 0);
  if (b->noxd)
    ASSERT_EQ(noxd_test_stop(&b->srv), 0);
  else
    lt_rmroot(b->root);
}

/* The first len bytes of `seq 1 N` for any N large enough, malloc()ed. */
static char *seq_prefix(size_t len) {
  char *p = malloc(len + 32);
  size_t n = 0;
  ASSERT(p != NULL);
  for (unsigned long i = 1; n < len; i++)
    n += (size_t)sprintf(p + n, "%lu\n", i);
  return p;
}

/*
 * One case: the script prints on stdout and stderr, and the result is
 * want_out / want_err bytes of seq's output on each (a multiple of the
 * cap: 0 nothing, 1 exactly the cap), flagged as truncated or not.
 * SEQ prints well past either cap (about 2 MB); AT_CAP exactly the cap.
 */
#define SEQ "seq 1 300000"
#define AT_CAP "seq 1 300000 | head -c %zu"
typedef struct {
  const char *what;
  const char *out_cmd; /* NULL: nothing on stdout */
  const char *err_cmd; /* NULL: nothing on stderr */
  int out_truncated, err_truncated;
} out_case_t;

static const out_case_t out_cases[] = {
    {"stdout past the cap", SEQ, NULL, 1, 0},
    {"stderr past the cap", NULL, SEQ, 0, 1},
    {"both past the cap", SEQ, SEQ, 1, 1},
    {"stdout exactly at the cap", AT_CAP, NULL, 0, 0},
    {"stderr exactly at the cap", NULL, AT_CAP, 0, 0},
};

static void check_stream(const char *what, const char *got, size_t got_len,
                         int printed, const char *want) {
  if (!printed) {
    ASSERT_EQ(got_len, 0);
    return;
  }
  if (memcmp(got, want, got_len) != 0) {
    fprintf(stderr, "%s: bytes differ from what the command printed\n", what);
    ASSERT(0);
  }
}

static void run_case(backend_t *b, const out_case_t *k, const char *want) {
  char cmd[256], script[600];
  size_t n = 0;
  lt_res_t r;

  script[0] = '\0';
  if (k->out_cmd != NULL) {
    snprintf(cmd, sizeof(cmd), k->out_cmd, b->cap);
    n += (size_t)snprintf(script + n, sizeof(script) - n, "%s; ", cmd);
  }
  if (k->err_cmd != NULL) {
    snprintf(cmd, sizeof(cmd), k->err_cmd, b->cap);
    n += (size_t)snprintf(script + n, sizeof(script) - n, "(%s) >&2; ", cmd);
  }
  snprintf(script + n, sizeof(script) - n, "true");
  printf("%s, cap %zu: %s\n", b->noxd ? "noxd" : "local", b->cap, k->what);
  lt_sh(b->c, "tbl", script, &r);
  ASSERT_EQ(r.exit_code, 0);
  ASSERT_EQ(r.out_len, k->out_cmd != NULL ? b->cap : 0);
  ASSERT_EQ(r.err_len, k->err_cmd != NULL ? b->cap : 0);
  check_stream(k->what, r.out, r.out_len, k->out_cmd != NULL, want);
  check_stream(k->what, r.err, r.err_len, k->err_cmd != NULL, want);
  ASSERT_EQ(r.out_truncated, k->out_truncated);
  ASSERT_EQ(r.err_truncated, k->err_truncated);
  lt_res_free(&r);
}

static void check_both_backends(void) {
  static const size_t caps[] = {0, 1000};
  for (size_t ci = 0; ci < sizeof(caps) / sizeof(caps[0]); ci++) {
    for (int noxd = 0; noxd <= 1; noxd++) {
      backend_t b;
      backend_open(&b, noxd, caps[ci]);
      char *want = seq_prefix(b.cap);
      for (size_t i = 0; i < sizeof(out_cases) / sizeof(out_cases[0]); i++)
        run_case(&b, &out_cases[i], want);
      free(want);
      backend_close(&b);
    }
  }
}

int main(void) {
  ASSERT_EQ(nox_library_init(), 0);
  check_default_cap();
  check_max_output();
  check_both_backends();
  nox_library_cleanup();
  printf("noxd output caps: ok\n");
  return 0;
}
