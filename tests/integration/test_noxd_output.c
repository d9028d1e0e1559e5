/*
 * Output caps over noxd: a command printing past --max-output gets the
 * first bytes exactly, nothing appended, and "stdoutTruncated": true in the
 * answer (read raw and through the library's HTTP backend); output exactly
 * at the cap is not truncated. The default cap is 1 MiB.
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

int main(void) {
  ASSERT_EQ(nox_library_init(), 0);
  check_default_cap();
  check_max_output();
  nox_library_cleanup();
  printf("noxd output caps: ok\n");
  return 0;
}
