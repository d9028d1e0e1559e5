/*
 * noxd and unknown sandboxes, over raw HTTP: exec, upload, download and
 * touch of an id that was never made, or was deleted, answer 404 with a
 * JSON {"error": "..."} naming the id, and no sandbox appears under the
 * root. With --auto-create (compatibility with the Python client's local
 * mode) an exec of an unknown id answers 200, having made the sandbox,
 * which then exists; upload, download and touch still answer 404.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "local_util.h"
#include "noxd_util.h"
#include "test.h"

static const char exec_body[] =
    "{\"cmd\":[\"sh\",\"-c\",\"echo made > made.txt; echo ran\"]}";

/* METHOD /v1/sandboxes/ID[tail]; returns the status, *body to free(). */
static long call(const noxd_test_t *t, const char *method, const char *id,
                 const char *tail, const void *body, size_t len, char **resp) {
  noxd_http_opts_t o = {NULL, body, len, false};
  char url[1024];

  snprintf(url, sizeof(url), "%s/v1/sandboxes/%s%s", t->srv.url, id, tail);
  return noxd_http(method, url, body != NULL ? &o : NULL, resp, NULL);
}

/* A 404 whose JSON error says which sandbox is missing. */
static void expect_404(const noxd_test_t *t, const char *method, const char *id,
                       const char *tail, const void *body, size_t len) {
  char *resp = NULL, msg[512], want[300];
  long got = call(t, method, id, tail, body, len, &resp);

  snprintf(want, sizeof(want), "no sandbox \"%s\"", id);
  if (got != 404 || !noxd_error_message(resp, msg, sizeof(msg)) ||
      strstr(msg, want) == NULL) {
    fprintf(stderr, "%s %s%s: got %ld, body %.300s; want 404 saying %s\n",
            method, id, tail, got, resp ? resp : "(none)", want);
    ASSERT(0);
  }
  free(resp);
}

/* Everything but create and delete on id: 404, and nothing is made. */
static void expect_unknown(const noxd_test_t *t, const char *id,
                           int with_exec) {
  int before = lt_count_sandboxes(t->root);

  if (with_exec)
    expect_404(t, "POST", id, "/exec", exec_body, strlen(exec_body));
  expect_404(t, "POST", id, "/files/upload", noxd_test_tgz,
             sizeof(noxd_test_tgz));
  expect_404(t, "POST", id, "/files/upload?dest=%2Fworkspace%2Fsub",
             noxd_test_tgz, sizeof(noxd_test_tgz));
  expect_404(t, "GET", id, "/files/download", NULL, 0);
  expect_404(t, "GET", id, "/files/download?src=%2Fworkspace", NULL, 0);
  expect_404(t, "POST", id, "/touch", NULL, 0);
  ASSERT_EQ(lt_count_sandboxes(t->root), before);
  ASSERT(noxd_test_alive(t));
}

static void check_strict(void) {
  noxd_test_t t;
  char *resp = NULL;

  ASSERT_EQ(noxd_test_start(&t, "none", NULL), 0);
  expect_unknown(&t, "never-made", 1);
  ASSERT_EQ(lt_count_sandboxes(t.root), 0);

  /* Made, used, deleted: gone for exec too. */
  ASSERT_EQ(call(&t, "PUT", "gone", "", "{}", 2, NULL), 200);
  ASSERT_EQ(
      call(&t, "POST", "gone", "/exec", exec_body, strlen(exec_body), &resp),
      200);
  ASSERT(strstr(resp, "\"stdout\":\"ran\\n\"") != NULL);
  free(resp);
  ASSERT_EQ(lt_count_sandboxes(t.root), 1);
  ASSERT_EQ(call(&t, "DELETE", "gone", "", NULL, 0, NULL), 204);
  expect_unknown(&t, "gone", 1);
  ASSERT_EQ(lt_count_sandboxes(t.root), 0);
  ASSERT_EQ(call(&t, "DELETE", "gone", "", NULL, 0, NULL), 404);
  ASSERT_EQ(noxd_test_stop(&t), 0);
}

static void check_auto_create(void) {
  static const char *const extra[] = {"--auto-create", NULL};
  noxd_test_t t;
  char *resp = NULL;

  ASSERT_EQ(noxd_test_start(&t, "none", extra), 0);
  /* Only exec makes a sandbox: the rest still answer 404. */
  expect_unknown(&t, "not-by-upload", 0);
  ASSERT_EQ(lt_count_sandboxes(t.root), 0);

  ASSERT_EQ(
      call(&t, "POST", "by-exec", "/exec", exec_body, strlen(exec_body), &resp),
      200);
  ASSERT(strstr(resp, "\"exitCode\":0") != NULL);
  ASSERT(strstr(resp, "\"stdout\":\"ran\\n\"") != NULL);
  free(resp);
  ASSERT_EQ(lt_count_sandboxes(t.root), 1);
  /* It exists now, with its files: touch, download and delete work. */
  ASSERT_EQ(call(&t, "POST", "by-exec", "/touch", NULL, 0, NULL), 200);
  ASSERT_EQ(call(&t, "GET", "by-exec", "/files/download?src=%2Fworkspace", NULL,
                 0, &resp),
            200);
  free(resp);
  ASSERT_EQ(call(&t, "DELETE", "by-exec", "", NULL, 0, NULL), 204);
  ASSERT_EQ(lt_count_sandboxes(t.root), 0);
  ASSERT_EQ(noxd_test_stop(&t), 0);
}

int main(void) {
  ASSERT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), 0);
  check_strict();
  check_auto_create();
  curl_global_cleanup();
  return 0;
}
