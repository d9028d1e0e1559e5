/*
 * include/noxrunner/util.h through the shared library: the strict UTF-8 rule
 * (every case of RFC 3629 at the edges), validation of whole strings, and the
 * U+FFFD copy that every 1- and 2-byte input turns into valid UTF-8; the
 * /workspace path rule on a table of tricky paths.
 */
#include <stdlib.h>
#include <string.h>

#include <noxrunner/util.h>

#include "test.h"

static void check_char_len(void) {
  static const struct {
    const char *s;
    size_t n, want;
  } cases[] = {
      {"a", 1, 1},
      {"\0", 1, 1},
      {"\x7F", 1, 1},
      {"\xC2\x80", 2, 2}, /* U+0080, the first 2-byte one */
      {"\xC3\xA9", 2, 2},
      {"\xE2\x82\xAC", 3, 3},
      {"\xEF\xBF\xBF", 3, 3}, /* U+FFFF */
      {"\xF0\x9F\x98\x80", 4, 4},
      {"\xF4\x8F\xBF\xBF", 4, 4}, /* U+10FFFF */
      {"\xC0\x80", 2, 0},         /* overlong NUL */
      {"\xC1\xBF", 2, 0},         /* overlong */
      {"\xE0\x9F\xBF", 3, 0},     /* overlong */
      {"\xF0\x8F\xBF\xBF", 4, 0}, /* overlong */
      {"\xED\xA0\x80", 3, 0},     /* surrogate */
      {"\xED\xBF\xBF", 3, 0},     /* surrogate */
      {"\xF4\x90\x80\x80", 4, 0}, /* past U+10FFFF */
      {"\xF5\x80\x80\x80", 4, 0},
      {"\x80", 1, 0},         /* lone continuation */
      {"\xE2\x82", 2, 0},     /* cut short */
      {"\xE2\x82\xAC", 2, 0}, /* cut short by len */
      {"\xE2\x28\xA1", 3, 0}, /* bad continuation */
      {"\xF0\x9F\x98\x28", 4, 0},
      {"\xFF", 1, 0},
      {"a", 0, 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    ASSERT_UEQ(nox_utf8_char_len(cases[i].s, cases[i].n), cases[i].want);
  }
}

static void check_valid(void) {
  ASSERT(nox_utf8_valid("", 0));
  ASSERT(nox_utf8_valid(NULL, 0));
  ASSERT(nox_utf8_valid("caf\xC3\xA9 \xE2\x82\xAC", 9));
  ASSERT(nox_utf8_valid("a\0b", 3));
  ASSERT(!nox_utf8_valid("caf\xC3", 4));
  ASSERT(!nox_utf8_valid("x\xED\xA0\x80y", 5));
  ASSERT(!nox_utf8_valid("\xC0\xAF", 2));
}

static void check_sanitize(void) {
  static const char in[] = "a\xC0\x80"
                           "b\xED\xA0\x80"
                           "c\xF0\x9F\x98\x80"
                           "d\xE2\x82";
  static const char want[] = "a\xEF\xBF\xBD\xEF\xBF\xBD"
                             "b\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                             "c\xF0\x9F\x98\x80"
                             "d\xEF\xBF\xBD\xEF\xBF\xBD";
  char *out;
  size_t len;

  ASSERT_EQ(nox_utf8_sanitize(&out, &len, in, sizeof(in) - 1), 0);
  ASSERT_UEQ(len, sizeof(want) - 1);
  ASSERT_STR_EQ(out, want);
  nox_free(out);

  /* Valid input comes back as it is, NULs included; NULL for the length. */
  ASSERT_EQ(nox_utf8_sanitize(&out, NULL, "q\0\xC3\xA9", 4), 0);
  ASSERT_EQ(memcmp(out, "q\0\xC3\xA9", 5), 0);
  nox_free(out);
  ASSERT_EQ(nox_utf8_sanitize(&out, &len, NULL, 0), 0);
  ASSERT_UEQ(len, 0);
  ASSERT_STR_EQ(out, "");
  nox_free(out);

  ASSERT_EQ(nox_utf8_sanitize(NULL, &len, "a", 1), NOX_EINVAL);
  out = (char *)"untouched";
  ASSERT_EQ(nox_utf8_sanitize(&out, &len, NULL, 1), NOX_EINVAL);
  ASSERT(out == NULL);

  /* Whatever two bytes: valid afterwards, and no longer than 3 a byte. */
  for (unsigned a = 0; a < 256; a++) {
    for (unsigned b = 0; b < 256; b++) {
      char buf[2] = {(char)a, (char)b};
      ASSERT_EQ(nox_utf8_sanitize(&out, &len, buf, 2), 0);
      ASSERT(nox_utf8_valid(out, len));
      ASSERT(len >= 2 && len <= 6);
      if (nox_utf8_valid(buf, 2))
        ASSERT_EQ(memcmp(out, buf, 2), 0);
      nox_free(out);
    }
  }
}

static void check_workspace_path(void) {
  static const char *const good[][2] = {
      {"/workspace", "/workspace"},
      {"/workspace/", "/workspace"},
      {"//workspace//x/", "/workspace/x"},
      {"sub", "/workspace/sub"},
      {"sub//dir///", "/workspace/sub/dir"},
      {".", "/workspace"},
      {"./a/../b", "/workspace/b"},
      {"/workspace/a/../../workspace/c", "/workspace/c"},
      {"/../workspace", "/workspace"},
      {"../workspace/d", "/workspace/d"},
      {"/workspace/..x", "/workspace/..x"},
      {"/workspace/.../y", "/workspace/.../y"},
  };
  static const char *const bad[] = {
      "",
      "/",
      "//",
      "/etc",
      "..",
      "../..",
      "/workspace/..",
      "/workspace/../etc",
      "/workspacex",
      "../workspace2",
      "a/../../..",
      "/etc/../workspace/..",
  };
  char *out;

  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    ASSERT_EQ(nox_workspace_path(&out, good[i][0]), 0);
    ASSERT_STR_EQ(out, good[i][1]);
    /* The canonical form is its own. */
    char *again;
    ASSERT_EQ(nox_workspace_path(&again, out), 0);
    ASSERT_STR_EQ(again, out);
    nox_free(again);
    nox_free(out);
  }
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    out = (char *)"untouched";
    ASSERT_EQ(nox_workspace_path(&out, bad[i]), NOX_EINVAL);
    ASSERT(out == NULL);
  }
  ASSERT_EQ(nox_workspace_path(NULL, "/workspace"), NOX_EINVAL);
  ASSERT_EQ(nox_workspace_path(&out, NULL), NOX_EINVAL);

  /* Long names are names: no limit of its own. */
  char long_path[5000];
  memset(long_path, 'n', sizeof(long_path) - 1);
  long_path[sizeof(long_path) - 1] = '\0';
  ASSERT_EQ(nox_workspace_path(&out, long_path), 0);
  ASSERT_UEQ(strlen(out), strlen(NOX_WORKSPACE) + 1 + sizeof(long_path) - 1);
  nox_free(out);
}

int main(void) {
  check_char_len();
  check_valid();
  check_sanitize();
  check_workspace_path();
  return 0;
}
