/*
 * noxd against bad input, over raw HTTP: every malformed or out-of-range
 * request gets the right status and a JSON {"error": "..."} body, and the
 * server is still up and healthy after each one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "noxd_util.h"
#include "test.h"

#define MAX_BODY 65536

typedef struct {
  const char *method;
  const char *path;
  const char *body; /* NULL: no body */
  size_t len;       /* 0: strlen(body) */
  long status;
} bad_t;

#define EXEC "/v1/sandboxes/bad1/exec"
#define PUT "/v1/sandboxes/bad1"

static const bad_t bad[] = {
    /* Malformed JSON and wrong shapes. */
    {"PUT", PUT, "{bad", 0, 400},
    {"PUT", PUT, "[1,2]", 0, 400},
    {"PUT", PUT, "\"ttlSeconds\"", 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"true\"]} trailing", 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"true\"]", 0, 400},
    {"POST", EXEC, "", 0, 400},
    {"POST", EXEC, NULL, 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"a\xff\"]}", 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"a\\u0000b\"]}", 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"a\0\"]}", 14, 400},
    /* ttlSeconds. */
    {"PUT", PUT, "{\"ttlSeconds\":\"900\"}", 0, 400},
    {"PUT", PUT, "{\"ttlSeconds\":-5}", 0, 400},
    {"PUT", PUT, "{\"ttlSeconds\":0}", 0, 400},
    {"PUT", PUT, "{\"ttlSeconds\":604801}", 0, 400},
    {"PUT", PUT, "{\"ttlSeconds\":99999999999999999999999}", 0, 400},
    {"PUT", PUT, "{\"ttlSeconds\":1.5}", 0, 400},
    {"PUT", PUT, "{\"ttlSeconds\":true}", 0, 400},
    {"PUT", PUT, "{\"image\":5}", 0, 400},
    {"PUT", PUT, "{\"memoryLimit\":[\"1Gi\"]}", 0, 400},
    /* cmd. */
    {"POST", EXEC, "{}", 0, 400},
    {"POST", EXEC, "{\"cmd\":[]}", 0, 400},
    {"POST", EXEC, "{\"cmd\":\"ls\"}", 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"ls\",1]}", 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"ls\",null]}", 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"\"]}", 0, 400},
    {"POST", EXEC, "{\"cmd\":{\"0\":\"ls\"}}", 0, 400},
    /* timeoutSeconds. */
    {"POST", EXEC, "{\"cmd\":[\"true\"],\"timeoutSeconds\":-1}", 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"true\"],\"timeoutSeconds\":0}", 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"true\"],\"timeoutSeconds\":86401}", 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"true\"],\"timeoutSeconds\":1e12}", 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"true\"],\"timeoutSeconds\":\"30\"}", 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"true\"],\"timeoutSeconds\":2.5}", 0, 400},
    /* env. */
    {"POST", EXEC, "{\"cmd\":[\"true\"],\"env\":{\"A\":1}}", 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"true\"],\"env\":[\"A=1\"]}", 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"true\"],\"env\":{\"\":\"x\"}}", 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"true\"],\"env\":{\"A=B\":\"x\"}}", 0, 400},
    /* workdir outside the sandbox. */
    {"POST", EXEC, "{\"cmd\":[\"true\"],\"workdir\":5}", 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"true\"],\"workdir\":\"\"}", 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"true\"],\"workdir\":\"/etc\"}", 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"true\"],\"workdir\":\"/workspace/../etc\"}", 0,
     400},
    {"POST", EXEC, "{\"cmd\":[\"true\"],\"workdir\":\"../x\"}", 0, 400},
    {"POST", EXEC, "{\"cmd\":[\"true\"],\"workdir\":\"/workspacex\"}", 0, 400},
    /* Uploads: bad archives, dest outside the sandbox. */
    {"POST", "/v1/sandboxes/bad1/files/upload", "this is not a tar archive", 0,
     400},
    {"POST", "/v1/sandboxes/bad1/files/upload", "", 0, 400},
    {"POST", "/v1/sandboxes/bad1/files/upload?dest=/etc", "x", 0, 400},
    {"POST",
     "/v1/sandboxes/bad1/files/upload?dest=%2Fworkspace%2F..%2F..%2Fetc", "x",
     0, 400},
    {"POST", "/v1/sandboxes/bad1/files/upload?dest=..", "x", 0, 400},
    {"POST", "/v1/sandboxes/bad1/files/upload?dest=%2Fworkspace%00x", "x", 0,
     400},
    /* Downloads: src outside the sandbox. */
    {"GET", "/v1/sandboxes/bad1/files/download?src=/etc", NULL, 0, 400},
    {"GET", "/v1/sandboxes/bad1/files/download?src=%2Fworkspace%2F..", NULL, 0,
     400},
    {"GET", "/v1/sandboxes/bad1/files/download?src=../../root", NULL, 0, 400},
    /* Ids. */
    {"POST", "/v1/sandboxes//exec", "{\"cmd\":[\"true\"]}", 0, 400},
    {"PUT", "/v1/sandboxes/a%00b", "{}", 0, 400},
    /* Unknown routes. */
    {"GET", "/", NULL, 0, 404},
    {"GET", "/nope", NULL, 0, 404},
    {"GET", "/healthz/", NULL, 0, 404},
    {"GET", "/v1/sandboxes", NULL, 0, 404},
    {"GET", "/v1/sandboxes/x/bogus", NULL, 0, 404},
    {"GET", "/v1/sandboxes/x/files", NULL, 0, 404},
    {"PUT", "/v2/sandboxes/x", "{}", 0, 404},
    {"POST", "/v1/sandboxes/x/exec/more", "{}", 0, 404},
    /* Wrong methods. */
    {"POST", "/healthz", "", 0, 405},
    {"GET", "/v1/sandboxes/x", NULL, 0, 405},
    {"POST", "/v1/sandboxes/x", "{}", 0, 405},
    {"GET", EXEC, NULL, 0, 405},
    {"DELETE", EXEC, NULL, 0, 405},
    {"GET", "/v1/sandboxes/x/touch", NULL, 0, 405},
    {"PUT", "/v1/sandboxes/x/files/upload", "x", 0, 405},
    {"POST", "/v1/sandboxes/x/files/download", "", 0, 405},
    /* Unknown sandboxes. */
    {"POST", "/v1/sandboxes/never-made/touch", NULL, 0, 404},
    {"DELETE", "/v1/sandboxes/never-made", NULL, 0, 404},
    {"GET", "/v1/sandboxes/never-made/files/download", NULL, 0, 404},
};

static void healthy(const noxd_test_t *t) {
  char url[512];
  char *body = NULL;

  ASSERT(noxd_test_alive(t));
  snprintf(url, sizeof(url), "%s/healthz", t->srv.url);
  ASSERT_EQ(noxd_http("GET", url, NULL, &body, NULL), 200);
  ASSERT_STR_EQ(body, "OK");
  free(body);
}

/* Sends one request and checks its status and JSON error body. */
static void expect_error(const noxd_test_t *t, const char *method,
                         const char *path, const noxd_http_opts_t *o,
                         long status) {
  char url[4096], msg[512];
  char *body = NULL;
  long got;

  snprintf(url, sizeof(url), "%s%s", t->srv.url, path);
  got = noxd_http(method, url, o, &body, NULL);
  if (got != status || !noxd_error_message(body, msg, sizeof(msg))) {
    fprintf(stderr, "%s %.200s: got %ld, want %ld, body %.300s\n", method, path,
            got, status, body ? body : "(none)");
    ASSERT(0);
  }
  free(body);
  healthy(t);
}

static void table(const noxd_test_t *t) {
  char url[512];

  /* The sandbox exists, so that only the input is wrong. */
  snprintf(url, sizeof(url), "%s%s", t->srv.url, PUT);
  ASSERT_EQ(noxd_http("PUT", url, NULL, NULL, NULL), 200);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    const bad_t *b = &bad[i];
    noxd_http_opts_t o = {NULL, b->body, 0, false};
    if (b->body != NULL)
      o.len = b->len ? b->len : strlen(b->body);
    expect_error(t, b->method, b->path, &o, b->status);
  }
}

static void long_id(const noxd_test_t *t) {
  char path[1200];
  noxd_http_opts_t o = {NULL, "{}", 2, false};

  strcpy(path, "/v1/sandboxes/");
  memset(path + strlen(path), 'a', 1025);
  path[14 + 1025] = '\0';
  expect_error(t, "PUT", path, &o, 400);
}

/* Over --max-body, with and without a Content-Length, with and without
 * "Expect: 100-continue": always a 413 that reaches the client. */
static void too_big(const noxd_test_t *t) {
  static const char *const no_expect[] = {"Expect:", NULL};
  static const char *const expect[] = {"Expect: 100-continue", NULL};
  size_t sizes[] = {MAX_BODY + 1, 4 * MAX_BODY, 64 * MAX_BODY};
  char *big = malloc(64 * MAX_BODY);

  ASSERT(big != NULL);
  memset(big, ' ', 64 * MAX_BODY);
  big[0] = '{';
  for (size_t i = 0; i < 3; i++) {
    big[sizes[i] - 1] = '}';
    for (int chunked = 0; chunked < 2; chunked++) {
      noxd_http_opts_t o = {no_expect, big, sizes[i], chunked};
      expect_error(t, "POST", EXEC, &o, 413);
      o.headers = expect;
      expect_error(t, "PUT", PUT, &o, 413);
    }
    big[sizes[i] - 1] = ' ';
  }
  free(big);
}

/* A valid request among the bad ones: unknown fields are ignored. */
static void unknown_fields(const noxd_test_t *t) {
  char url[512];
  const char *json = "{\"ttlSeconds\":60,\"future\":{\"a\":[1,2.5,null]}}";
  noxd_http_opts_t o = {NULL, json, strlen(json), false};
  char *body = NULL;

  snprintf(url, sizeof(url), "%s/v1/sandboxes/fine", t->srv.url);
  ASSERT_EQ(noxd_http("PUT", url, &o, &body, NULL), 200);
  ASSERT(strstr(body, "\"podName\"") != NULL);
  ASSERT(strstr(body, "\"expiresAt\"") != NULL);
  free(body);
}

static void tokens(void) {
  static const char *const extra[] = {"--token", "s3cret", NULL};
  static const char *const good[] = {"Authorization: Bearer s3cret", NULL};
  static const char *const lower[] = {"authorization: bearer s3cret", NULL};
  static const char *const wrong[] = {"Authorization: Bearer s3cre", NULL};
  static const char *const longer[] = {"Authorization: Bearer s3crett", NULL};
  static const char *const basic[] = {"Authorization: Basic s3cret", NULL};
  const char *json = "{\"ttlSeconds\":60}";
  noxd_http_opts_t o = {NULL, json, strlen(json), false};
  noxd_test_t t;
  char url[512];

  ASSERT_EQ(noxd_test_start(&t, "none", extra), 0);
  healthy(&t); /* /healthz needs no token */
  expect_error(&t, "PUT", "/v1/sandboxes/tok", &o, 401);
  o.headers = wrong;
  expect_error(&t, "PUT", "/v1/sandboxes/tok", &o, 401);
  o.headers = longer;
  expect_error(&t, "PUT", "/v1/sandboxes/tok", &o, 401);
  o.headers = basic;
  expect_error(&t, "PUT", "/v1/sandboxes/tok", &o, 401);
  o.headers = NULL;
  expect_error(&t, "GET", "/nope", &o, 401);
  expect_error(&t, "POST", "/v1/sandboxes/tok/exec", &o, 401);
  expect_error(&t, "DELETE", "/v1/sandboxes/tok", &o, 401);

  o.headers = good;
  expect_error(&t, "GET", "/nope", &o, 404);
  snprintf(url, sizeof(url), "%s/v1/sandboxes/tok", t.srv.url);
  ASSERT_EQ(noxd_http("PUT", url, &o, NULL, NULL), 200);
  o.headers = lower;
  ASSERT_EQ(noxd_http("PUT", url, &o, NULL, NULL), 200);
  ASSERT_EQ(noxd_test_stop(&t), 0);
}

/*
 * Bounded mutation runs: byte-flipped create bodies and archives. Each answer
 * is a success or a 400 with a JSON error, and the server stays up. No exec
 * bodies: a mutated cmd could name any program.
 */
static void mutations(const noxd_test_t *t) {
  static const char create[] =
      "{\"ttlSeconds\":60,\"image\":\"img\",\"cpuLimit\":\"1\","
      "\"memoryLimit\":\"1Gi\",\"ephemeralStorageLimit\":\"2Gi\"}";
  char buf[sizeof(create) + sizeof(noxd_test_tgz)], url[512], msg[512];
  unsigned rng = 2024;

  for (int i = 0; i < 300; i++) {
    bool archive = i % 3 == 2;
    const char *src = archive ? (const char *)noxd_test_tgz : create;
    size_t n = archive ? sizeof(noxd_test_tgz) : sizeof(create) - 1;
    noxd_http_opts_t o = {NULL, buf, n, false};
    char *body = NULL;
    long status;

    memcpy(buf, src, n);
    for (int k = 0; k < 1 + i % 4; k++) {
      rng = rng * 1103515245u + 12345u;
      buf[(rng >> 8) % n] = (char)(rng >> 20);
    }
    snprintf(url, sizeof(url), "%s%s", t->srv.url,
             archive ? "/v1/sandboxes/bad1/files/upload" : PUT);
    status = noxd_http(archive ? "POST" : "PUT", url, &o, &body, NULL);
    if (status != 200 &&
        (status != 400 || !noxd_error_message(body, msg, sizeof(msg)))) {
      fprintf(stderr, "mutation %d: status %ld body %.300s\n", i, status,
              body ? body : "(none)");
      ASSERT(0);
    }
    free(body);
    ASSERT(noxd_test_alive(t));
  }
  healthy(t);
}

int main(void) {
  static const char *const extra[] = {"--max-body", "65536", NULL};
  noxd_test_t t;

  ASSERT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), 0);
  ASSERT_EQ(noxd_test_start(&t, "none", extra), 0);
  healthy(&t);
  table(&t);
  long_id(&t);
  too_big(&t);
  unknown_fields(&t);
  mutations(&t);
  /* A clean SIGTERM exit: status 0. */
  ASSERT_EQ(noxd_test_stop(&t), 0);
  tokens();
  curl_global_cleanup();
  return 0;
}
