/*
 * noxd's JSON and path helpers on their own: request parsing, sandbox path
 * mapping, and the U+FFFD replacement that keeps answers valid JSON whatever
 * bytes a command prints (every 1- and 2-byte input, and random longer ones;
 * the UTF-8 rule itself is tested in test_public_util.c).
 */
#include <stdlib.h>
#include <string.h>

#include <noxrunner/util.h>
#include <yajl/yajl_tree.h>

#include "noxd.h"
#include "test.h"

/* Generates an exec answer for out and returns its parsed "stdout". */
static yajl_val gen_stdout(const char *out, size_t len, yajl_val *root) {
  nox_exec_result_t r = {0, 5, out, len, "", 0, 0, 0};
  const char *path[] = {"stdout", NULL};
  char *json, err[128];
  size_t jlen;
  yajl_val v;

  ASSERT_EQ(noxd_json_exec_result(&r, &json, &jlen), 0);
  ASSERT_EQ(strlen(json), jlen);
  *root = yajl_tree_parse(json, err, sizeof(err)); /* validates UTF-8 */
  if (*root == NULL)
    fprintf(stderr, "invalid JSON (%s): %s\n", err, json);
  ASSERT(*root != NULL);
  free(json);
  v = yajl_tree_get(*root, path, yajl_t_string);
  ASSERT(v != NULL);
  return v;
}

static void all_valid(const char *s) {
  ASSERT(nox_utf8_valid(s, strlen(s)));
}

static void check_replacement(void) {
  /* An overlong, a surrogate, a valid 4-byte one, one cut short. */
  static const char in[] =
      "a\xC0\x80-b\xED\xA0\x80-c\xF0\x9F\x98\x80-d\xE2\x82";
  unsigned char buf[8];
  unsigned rng = 12345;
  yajl_val root, v;
  char *want;

  /* Each byte that starts no valid sequence is one U+FFFD, as util.h says. */
  ASSERT_EQ(nox_utf8_sanitize(&want, NULL, in, sizeof(in) - 1), 0);
  ASSERT(strstr(want, "c\xF0\x9F\x98\x80-d\xEF\xBF\xBD\xEF\xBF\xBD") != NULL);
  v = gen_stdout(in, sizeof(in) - 1, &root);
  ASSERT_STR_EQ(v->u.string, want);
  yajl_tree_free(root);
  nox_free(want);

  /* Control characters are escaped, quotes and backslashes too. */
  v = gen_stdout("q\"\\\t\x01z", 6, &root);
  ASSERT_STR_EQ(v->u.string, "q\"\\\t\x01z");
  yajl_tree_free(root);

  for (unsigned a = 1; a < 256; a++) {
    for (unsigned b = 1; b < 256; b++) {
      buf[0] = (unsigned char)a;
      buf[1] = (unsigned char)b;
      v = gen_stdout((const char *)buf, 2, &root);
      all_valid(v->u.string);
      yajl_tree_free(root);
    }
  }
  for (int i = 0; i < 20000; i++) {
    size_t n = 1 + (rng >> 8) % sizeof(buf);
    for (size_t j = 0; j < n; j++) {
      rng = rng * 1103515245u + 12345u;
      buf[j] = (unsigned char)((rng >> 16) | 1); /* no NUL: C strings below */
    }
    rng = rng * 1103515245u + 12345u;
    v = gen_stdout((const char *)buf, n, &root);
    all_valid(v->u.string);
    yajl_tree_free(root);
  }
}

/* The rule is the library's (test_public_util.c); the messages are noxd's. */
static void check_paths(void) {
  char err[256], *out;

  ASSERT_EQ(noxd_sandbox_path("p", "sub/../x/", &out, err, sizeof(err)), 0);
  ASSERT_STR_EQ(out, "/workspace/x");
  nox_free(out);
  ASSERT_EQ(
      noxd_sandbox_path("dest", "/workspace/../etc", &out, err, sizeof(err)),
      -1);
  ASSERT(out == NULL);
  ASSERT_STR_EQ(err, "dest \"/workspace/../etc\" is outside the sandbox "
                     "(/workspace)");
  ASSERT_EQ(noxd_sandbox_path("src", "", &out, err, sizeof(err)), -1);
  ASSERT(out == NULL);
  ASSERT_STR_EQ(err, "src must not be empty");
}

static void check_parse(void) {
  const char *full = "{\"cmd\":[\"sh\",\"-c\",\"x\"],\"env\":{\"A\":\"1\","
                     "\"B\":\"x=y\"},\"workdir\":\"w\",\"timeoutSeconds\":7,"
                     "\"extra\":[{}]}";
  const char *bare = "{\"cmd\":[\"true\"]}";
  const char *week = "{\"ttlSeconds\":604800,\"image\":\"i\"}";
  noxd_exec_args_t e;
  noxd_create_args_t c;
  char err[256];

  ASSERT_EQ(noxd_parse_exec(full, strlen(full), &e, err, sizeof(err)), 0);
  ASSERT_STR_EQ(e.argv[0], "sh");
  ASSERT_STR_EQ(e.argv[2], "x");
  ASSERT(e.argv[3] == NULL);
  ASSERT_STR_EQ(e.env[0], "A=1");
  ASSERT_STR_EQ(e.env[1], "B=x=y");
  ASSERT(e.env[2] == NULL);
  ASSERT_STR_EQ(e.workdir, "/workspace/w");
  ASSERT_EQ(e.timeout_seconds, 7);
  noxd_exec_args_free(&e);

  ASSERT_EQ(noxd_parse_exec(bare, strlen(bare), &e, err, sizeof(err)), 0);
  ASSERT(e.env == NULL);
  ASSERT_STR_EQ(e.workdir, "/workspace");
  ASSERT_EQ(e.timeout_seconds, 30);
  noxd_exec_args_free(&e);

  ASSERT_EQ(noxd_parse_exec("{\"cmd\":[]}", 10, &e, err, sizeof(err)), -1);
  ASSERT_STR_EQ(err, "cmd must not be empty");
  ASSERT_EQ(noxd_parse_exec("{\"cmd\"", 6, &e, err, sizeof(err)), -1);
  ASSERT(strncmp(err, "malformed JSON", 14) == 0);
  ASSERT(strchr(err, '\n') == NULL);

  ASSERT_EQ(noxd_parse_create("", 0, &c, err, sizeof(err)), 0);
  ASSERT_EQ(c.ttl_seconds, 900);
  noxd_create_args_free(&c);
  ASSERT_EQ(noxd_parse_create(week, strlen(week), &c, err, sizeof(err)), 0);
  ASSERT_EQ(c.ttl_seconds, 604800);
  ASSERT_STR_EQ(c.image, "i");
  ASSERT(c.cpu_limit == NULL);
  noxd_create_args_free(&c);
  ASSERT_EQ(noxd_parse_create("{\"ttlSeconds\":0}", 16, &c, err, sizeof(err)),
            -1);
  ASSERT(strstr(err, "ttlSeconds") != NULL);
}

/* The truncation flags are JSON booleans, false unless the library set them. */
static void check_truncated_flags(void) {
  static const int flags[][2] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}};
  for (size_t i = 0; i < 4; i++) {
    nox_exec_result_t r = {0, 5, "o", 1, "e", 1, flags[i][0], flags[i][1]};
    const char *po[] = {"stdoutTruncated", NULL};
    const char *pe[] = {"stderrTruncated", NULL};
    char *json;
    size_t jlen;
    ASSERT_EQ(noxd_json_exec_result(&r, &json, &jlen), 0);
    yajl_val root = yajl_tree_parse(json, NULL, 0);
    ASSERT(root != NULL);
    yajl_val o = yajl_tree_get(root, po, yajl_t_any);
    yajl_val e = yajl_tree_get(root, pe, yajl_t_any);
    ASSERT(o != NULL && e != NULL);
    ASSERT(flags[i][0] ? YAJL_IS_TRUE(o) : YAJL_IS_FALSE(o));
    ASSERT(flags[i][1] ? YAJL_IS_TRUE(e) : YAJL_IS_FALSE(e));
    yajl_tree_free(root);
    free(json);
  }
}

int main(void) {
  check_truncated_flags();
  check_replacement();
  check_paths();
  check_parse();
  return 0;
}
