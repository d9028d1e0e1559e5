/*
 * What each operation puts on the wire (method, raw target, headers, JSON
 * body) and what it makes of faultd's normal answers. Uploads and downloads
 * are in test_http_files.c.
 */
#include "http_common.h"

#define EXPIRES_AT "2030-01-02T03:04:05Z"
#define EXPIRES_AT_UNIX 1893553445

/* An id with every character that means something in a URL. */
#define NASTY_ID "a b/c?d#e%f"
#define NASTY_ID_ENC "a%20b%2Fc%3Fd%23e%25f"
#define UTF8_ID "sandbox-\xc3\xa9\xe2\x9c\x93"
#define UTF8_ID_ENC "sandbox-%C3%A9%E2%9C%93"

static const char *header(yajl_val e, const char *name) {
  return nox_test_json_str(e, "headers", name);
}

static void check_json_type(yajl_val e) {
  const char *ct = header(e, "content-type");
  ASSERT(ct != NULL);
  ASSERT(strncmp(ct, "application/json", 16) == 0);
}

static yajl_val obj_get(yajl_val obj, const char *key) {
  return ht_json_get(obj, key, NULL);
}

static void check_str(yajl_val obj, const char *key, const char *want) {
  yajl_val v = obj_get(obj, key);
  ASSERT(v != NULL && YAJL_IS_STRING(v));
  ASSERT_STR_EQ(YAJL_GET_STRING(v), want);
}

static void check_int(yajl_val obj, const char *key, long long want) {
  yajl_val v = obj_get(obj, key);
  ASSERT(v != NULL && YAJL_IS_INTEGER(v));
  ASSERT_EQ(YAJL_GET_INTEGER(v), want);
}

static void check_str_array(yajl_val obj, const char *key,
                            const char *const *want) {
  yajl_val v = obj_get(obj, key);
  ASSERT(v != NULL && YAJL_IS_ARRAY(v));
  size_t n = 0;
  while (want[n] != NULL)
    n++;
  ASSERT_EQ(YAJL_GET_ARRAY(v)->len, n);
  for (size_t i = 0; i < n; i++) {
    yajl_val s = YAJL_GET_ARRAY(v)->values[i];
    ASSERT(YAJL_IS_STRING(s));
    ASSERT_STR_EQ(YAJL_GET_STRING(s), want[i]);
  }
}

static void test_health_wire(void) {
  ht_t t;
  ht_op_t op;
  ht_begin(&t);
  ht_op_init(&op, &t);
  ASSERT_EQ(ht_health(&op, ht_client(&t, NULL, NULL)), 0);
  ht_wait(&t);
  HT_EXPECT(&op, 0);
  ASSERT_EQ(op.attempts, 1);
  ASSERT_EQ(op.err.http_status, 200);

  yajl_val log = ht_log();
  ASSERT_EQ(ht_log_len(log), 1);
  yajl_val e = ht_log_one(log, "GET", "/healthz");
  ASSERT_STR_EQ(nox_test_json_str(e, "target", NULL), "/healthz");
  ASSERT_STR_EQ(header(e, "user-agent"), "libnoxrunner/" NOX_VERSION_STRING);
  ASSERT_STR_EQ(header(e, "user-agent"), "libnoxrunner/" NOX_VERSION_STRING);
  ASSERT(header(e, "authorization") == NULL);
  ASSERT_EQ(nox_test_json_int(e, "body_len"), 0);
  yajl_tree_free(log);
  ht_op_free(&op);
  ht_end(&t);
}

static void test_token_and_agent(void) {
  ht_t t;
  ht_op_t ops[3];
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  const char *argv[] = {"true", NULL};
  o.token = "s3cr3t-token";
  o.user_agent = "my-agent/9";
  ht_begin(&t);
  nox_client_t *c = ht_client(&t, NULL, &o);
  for (int i = 0; i < 3; i++)
    ht_op_init(&ops[i], &t);
  ASSERT_EQ(ht_health(&ops[0], c), 0);
  ASSERT_EQ(ht_create(&ops[1], c, "tok", NULL), 0);
  ASSERT_EQ(ht_exec(&ops[2], c, "tok", argv, NULL), 0);
  ht_wait(&t);

  yajl_val log = ht_log();
  ASSERT_EQ(ht_log_len(log), 3);
  for (size_t i = 0; i < 3; i++) {
    HT_EXPECT(&ops[i], 0);
    yajl_val e = ht_log_at(log, i);
    ASSERT_STR_EQ(header(e, "authorization"), "Bearer s3cr3t-token");
    ASSERT_STR_EQ(header(e, "user-agent"), "my-agent/9");
    ht_op_free(&ops[i]);
  }
  yajl_tree_free(log);
  ht_end(&t);
}

static void test_create_wire(void) {
  ht_t t;
  ht_op_t full, dflt, some;
  nox_create_options_t o = NOX_CREATE_OPTIONS_INIT;
  nox_create_options_t only = NOX_CREATE_OPTIONS_INIT;
  o.ttl_seconds = 60;
  o.image = "registry/img:1";
  o.cpu_limit = "500m";
  o.memory_limit = "512Mi";
  o.ephemeral_storage_limit = "1Gi";
  only.memory_limit = "64Mi";
  ht_begin(&t);
  nox_client_t *c = ht_client(&t, NULL, NULL);
  ht_op_init(&full, &t);
  ht_op_init(&dflt, &t);
  ht_op_init(&some, &t);
  ASSERT_EQ(ht_create(&full, c, "full", &o), 0);
  ASSERT_EQ(ht_create(&dflt, c, "dflt", NULL), 0);
  ASSERT_EQ(ht_create(&some, c, "some", &only), 0);
  ht_wait(&t);

  HT_EXPECT(&full, 0);
  ASSERT_STR_EQ(full.pod_name, "pod-full");
  ASSERT_STR_EQ(full.expires_at, EXPIRES_AT);
  ASSERT_EQ(full.expires_at_unix, EXPIRES_AT_UNIX);
  HT_EXPECT(&dflt, 0);
  ASSERT_STR_EQ(dflt.pod_name, "pod-dflt");
  HT_EXPECT(&some, 0);

  yajl_val log = ht_log();
  yajl_val e = ht_log_one(log, "PUT", "/v1/sandboxes/full");
  ht_check_target(e, "/v1/sandboxes/full");
  check_json_type(e);
  yajl_val b = ht_log_json(e);
  ASSERT(YAJL_IS_OBJECT(b));
  ASSERT_EQ(YAJL_GET_OBJECT(b)->len, 5);
  check_int(b, "ttlSeconds", 60);
  check_str(b, "image", "registry/img:1");
  check_str(b, "cpuLimit", "500m");
  check_str(b, "memoryLimit", "512Mi");
  check_str(b, "ephemeralStorageLimit", "1Gi");
  yajl_tree_free(b);

  e = ht_log_one(log, "PUT", "/v1/sandboxes/dflt");
  check_json_type(e);
  b = ht_log_json(e);
  ASSERT_EQ(YAJL_GET_OBJECT(b)->len, 1);
  check_int(b, "ttlSeconds", 900);
  yajl_tree_free(b);

  e = ht_log_one(log, "PUT", "/v1/sandboxes/some");
  b = ht_log_json(e);
  ASSERT_EQ(YAJL_GET_OBJECT(b)->len, 2);
  check_int(b, "ttlSeconds", 900);
  check_str(b, "memoryLimit", "64Mi");
  ASSERT(obj_get(b, "image") == NULL);
  yajl_tree_free(b);
  yajl_tree_free(log);

  ht_op_free(&full);
  ht_op_free(&dflt);
  ht_op_free(&some);
  ht_end(&t);
}

static void test_exec_wire(void) {
  ht_t t;
  ht_op_t full, dflt;
  const char *argv[] = {
      "echo", "hello world", "\xc3\xa9\xe2\x9c\x93", "q\"b\\s", "", NULL};
  const char *env[] = {"A=1", "B=x=y", "EMPTY=", NULL};
  nox_exec_options_t o = NOX_EXEC_OPTIONS_INIT;
  o.workdir = "/tmp/w d";
  o.env = env;
  o.timeout_seconds = 5;
  ht_begin(&t);
  nox_client_t *c = ht_client(&t, NULL, NULL);
  ht_op_init(&full, &t);
  ht_op_init(&dflt, &t);
  ASSERT_EQ(ht_exec(&full, c, "ex", argv, &o), 0);
  ASSERT_EQ(ht_exec(&dflt, c, "ex2", argv, NULL), 0);
  ht_wait(&t);

  const char *want = "echo hello world \xc3\xa9\xe2\x9c\x93 q\"b\\s ";
  HT_EXPECT(&full, 0);
  ASSERT_EQ(full.exit_code, 0);
  ASSERT_EQ(full.duration_ms, 7);
  ASSERT_STR_EQ(full.out, want);
  ASSERT_EQ(full.out_len, strlen(want));
  ASSERT_EQ(full.err_len, 0);
  HT_EXPECT(&dflt, 0);
  ASSERT_STR_EQ(dflt.out, want);

  yajl_val log = ht_log();
  yajl_val e = ht_log_one(log, "POST", "/v1/sandboxes/ex/exec");
  ht_check_target(e, "/v1/sandboxes/ex/exec");
  check_json_type(e);
  yajl_val b = ht_log_json(e);
  check_str_array(b, "cmd", argv);
  check_str(b, "workdir", "/tmp/w d");
  check_int(b, "timeoutSeconds", 5);
  yajl_val ev = obj_get(b, "env");
  ASSERT(ev != NULL && YAJL_IS_OBJECT(ev));
  ASSERT_EQ(YAJL_GET_OBJECT(ev)->len, 3);
  check_str(ev, "A", "1");
  check_str(ev, "B", "x=y");
  check_str(ev, "EMPTY", "");
  yajl_tree_free(b);

  e = ht_log_one(log, "POST", "/v1/sandboxes/ex2/exec");
  b = ht_log_json(e);
  check_str_array(b, "cmd", argv);
  check_str(b, "workdir", "/workspace");
  check_int(b, "timeoutSeconds", 30);
  ev = obj_get(b, "env");
  ASSERT(ev == NULL || (YAJL_IS_OBJECT(ev) && YAJL_GET_OBJECT(ev)->len == 0));
  yajl_tree_free(b);
  yajl_tree_free(log);

  ht_op_free(&full);
  ht_op_free(&dflt);
  ht_end(&t);
}

static void test_exec_shell_wire(void) {
  ht_t t;
  ht_op_t ops[3];
  const char *script = "cd /tmp && echo \"$HOME\" | wc -c";
  const char *shells[] = {NULL, "sh", "bash"};
  const char *ids[] = {"sh-null", "sh-sh", "sh-bash"};
  ht_begin(&t);
  nox_client_t *c = ht_client(&t, NULL, NULL);
  for (int i = 0; i < 3; i++) {
    ht_op_init(&ops[i], &t);
    ASSERT_EQ(ht_exec_shell(&ops[i], c, ids[i], shells[i], script, NULL), 0);
  }
  ht_wait(&t);

  yajl_val log = ht_log();
  for (int i = 0; i < 3; i++) {
    const char *sh = shells[i] != NULL ? shells[i] : "sh";
    const char *cmd[] = {sh, "-c", script, NULL};
    char path[64], want[128];
    snprintf(path, sizeof(path), "/v1/sandboxes/%s/exec", ids[i]);
    snprintf(want, sizeof(want), "%s -c %s", sh, script);
    HT_EXPECT(&ops[i], 0);
    ASSERT_STR_EQ(ops[i].out, want);
    yajl_val b = ht_log_json(ht_log_one(log, "POST", path));
    check_str_array(b, "cmd", cmd);
    yajl_tree_free(b);
    ht_op_free(&ops[i]);
  }
  yajl_tree_free(log);
  ht_end(&t);
}

/* Every operation, on an id that needs encoding. */
static void check_all_ops_encode(const char *id, const char *enc) {
  ht_t t;
  ht_op_t ops[6];
  const char *argv[] = {"echo", "x", NULL};
  nox_file_t file = {"f.txt", "data", 4, 0};
  nox_upload_options_t up = NOX_UPLOAD_OPTIONS_INIT;
  up.files = &file;
  up.nfiles = 1;
  ht_begin(&t);
  nox_client_t *c = ht_client(&t, NULL, NULL);
  for (int i = 0; i < 6; i++)
    ht_op_init(&ops[i], &t);
  ASSERT_EQ(ht_create(&ops[0], c, id, NULL), 0);
  ASSERT_EQ(ht_touch(&ops[1], c, id), 0);
  ASSERT_EQ(ht_exec(&ops[2], c, id, argv, NULL), 0);
  ASSERT_EQ(ht_upload(&ops[3], c, id, &up), 0);
  ASSERT_EQ(ht_download(&ops[4], c, id, NULL), 0);
  ht_wait(&t);
  /* Delete last, so the log order does not matter for the others. */
  ASSERT_EQ(ht_delete(&ops[5], c, id), 0);
  ht_wait(&t);
  for (int i = 0; i < 6; i++)
    HT_EXPECT(&ops[i], 0);

  char pod[1200];
  snprintf(pod, sizeof(pod), "pod-%s", id);
  ASSERT_STR_EQ(ops[0].pod_name, pod);

  static const struct {
    const char *method, *suffix;
  } want[] = {{"PUT", ""},
              {"POST", "/touch"},
              {"POST", "/exec"},
              {"POST", "/files/upload"},
              {"GET", "/files/download"},
              {"DELETE", ""}};
  yajl_val log = ht_log();
  ASSERT_EQ(ht_log_len(log), 6);
  for (int i = 0; i < 6; i++) {
    char path[1200], encpath[3300];
    snprintf(path, sizeof(path), "/v1/sandboxes/%s%s", id, want[i].suffix);
    snprintf(encpath, sizeof(encpath), "/v1/sandboxes/%s%s", enc,
             want[i].suffix);
    ht_check_target(ht_log_one(log, want[i].method, path), encpath);
    ht_op_free(&ops[i]);
  }
  yajl_tree_free(log);
  ht_end(&t);
}

static void test_session_id_encoding(void) {
  check_all_ops_encode(NASTY_ID, NASTY_ID_ENC);
  check_all_ops_encode(UTF8_ID, UTF8_ID_ENC);
}

/* The longest id allowed goes through, and one byte more does not. */
static void test_session_id_max_len(void) {
  ht_t t;
  ht_op_t op;
  char id[1026];
  memset(id, 'k', 1025);
  id[1024] = '\0';
  ht_begin(&t);
  nox_client_t *c = ht_client(&t, NULL, NULL);
  ht_op_init(&op, &t);
  ASSERT_EQ(ht_create(&op, c, id, NULL), 0);
  ht_wait(&t);
  HT_EXPECT(&op, 0);
  ASSERT_EQ(strlen(op.pod_name), 4 + 1024);
  ht_op_free(&op);

  id[1024] = 'k';
  id[1025] = '\0';
  ht_op_init(&op, &t);
  ASSERT_EQ(ht_create(&op, c, id, NULL), NOX_EINVAL);
  yajl_val log = ht_log();
  ASSERT_EQ(ht_log_len(log), 1);
  yajl_tree_free(log);
  ht_end(&t);
}

/* touch: 200 and 204 succeed; delete: 204 and 200 succeed, 404 does not. */
static void test_touch_delete(void) {
  ht_t t;
  ht_op_t op[5];
  ht_begin(&t);
  nox_client_t *plain = ht_client(&t, NULL, NULL);
  nox_client_t *c204 = ht_client(&t, "s204x*", NULL);
  nox_client_t *c200 = ht_client(&t, "empty", NULL);
  nox_client_t *c404 = ht_client(&t, "s404x*", NULL);
  for (int i = 0; i < 5; i++)
    ht_op_init(&op[i], &t);
  ASSERT_EQ(ht_touch(&op[0], plain, "td"), 0);
  ASSERT_EQ(ht_touch(&op[1], c204, "td"), 0);
  ASSERT_EQ(ht_delete(&op[2], plain, "td"), 0);
  ASSERT_EQ(ht_delete(&op[3], c200, "td"), 0);
  ASSERT_EQ(ht_delete(&op[4], c404, "td"), 0);
  ht_wait(&t);

  HT_EXPECT(&op[0], 0);
  ASSERT_EQ(op[0].err.http_status, 200);
  HT_EXPECT(&op[1], 0);
  ASSERT_EQ(op[1].err.http_status, 204);
  HT_EXPECT(&op[2], 0);
  ASSERT_EQ(op[2].err.http_status, 204);
  HT_EXPECT(&op[3], 0);
  ASSERT_EQ(op[3].err.http_status, 200);
  HT_EXPECT(&op[4], NOX_ENOTFOUND);
  ASSERT_EQ(op[4].err.http_status, 404);
  ASSERT_STR_EQ(op[4].err.message, "injected 404");

  yajl_val log = ht_log();
  ASSERT_EQ(ht_log_count(log, "POST", "/v1/sandboxes/td/touch"), 2);
  ASSERT_EQ(ht_log_count(log, "DELETE", "/v1/sandboxes/td"), 3);
  for (size_t i = 0; i < ht_log_len(log); i++)
    ASSERT_EQ(nox_test_json_int(ht_log_at(log, i), "body_len"), 0);
  yajl_tree_free(log);
  for (int i = 0; i < 5; i++)
    ht_op_free(&op[i]);
  ht_close(&t, c204);
  ht_close(&t, c200);
  ht_close(&t, c404);
  ht_end(&t);
}

int main(int argc, char **argv) {
  static const ht_case_t cases[] = {
      {"health_wire", test_health_wire},
      {"token_and_agent", test_token_and_agent},
      {"create_wire", test_create_wire},
      {"exec_wire", test_exec_wire},
      {"exec_shell_wire", test_exec_shell_wire},
      {"session_id_encoding", test_session_id_encoding},
      {"session_id_max_len", test_session_id_max_len},
      {"touch_delete", test_touch_delete},
  };
  return HT_RUN(cases);
}
