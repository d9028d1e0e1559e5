/*
 * What each operation puts on the wire (method, raw target, query, headers,
 * body) and what it makes of faultd's normal answers.
 */
#include "http_common.h"

#include <archive.h>
#include <archive_entry.h>

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

static const char *query(yajl_val e, const char *name) {
  return nox_test_json_str(e, "query", name);
}

/* The raw target of e split at '?': checks the path part, returns the query. */
static const char *check_target(yajl_val e, const char *want_path) {
  const char *target = nox_test_json_str(e, "target", NULL);
  ASSERT(target != NULL);
  const char *q = strchr(target, '?');
  size_t plen = q != NULL ? (size_t)(q - target) : strlen(target);
  char *path = strndup(target, plen);
  if (!ht_pct_equal(path, want_path)) {
    fprintf(stderr, "target %s, want path %s\n", target, want_path);
    ASSERT(0);
  }
  free(path);
  return q != NULL ? q + 1 : "";
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
  ASSERT_STR_EQ(header(e, "user-agent"), "libnoxrunner/0.1.0");
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
  check_target(e, "/v1/sandboxes/full");
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
  check_target(e, "/v1/sandboxes/ex/exec");
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
    check_target(ht_log_one(log, want[i].method, path), encpath);
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

typedef struct {
  char name[256];
  char data[512];
  size_t len;
  unsigned perm;
} tar_file_t;

/* Lists a tar or tar.gz held in memory with libarchive. */
static size_t list_archive(const char *buf, size_t len, tar_file_t *files,
                           size_t max) {
  struct archive *a = archive_read_new();
  struct archive_entry *ent;
  size_t n = 0;
  ASSERT(a != NULL);
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  ASSERT_EQ(archive_read_open_memory(a, buf, len), ARCHIVE_OK);
  int r;
  while ((r = archive_read_next_header(a, &ent)) == ARCHIVE_OK) {
    if (archive_entry_filetype(ent) == AE_IFDIR)
      continue;
    ASSERT_EQ(archive_entry_filetype(ent), AE_IFREG);
    ASSERT_LT(n, max);
    const char *name = archive_entry_pathname(ent);
    if (strncmp(name, "./", 2) == 0)
      name += 2;
    snprintf(files[n].name, sizeof(files[n].name), "%s", name);
    files[n].perm = archive_entry_perm(ent);
    la_ssize_t got = archive_read_data(a, files[n].data, sizeof(files[n].data));
    ASSERT_GE(got, 0);
    files[n].len = (size_t)got;
    ASSERT_EQ(archive_entry_size(ent), got);
    n++;
  }
  ASSERT_EQ(r, ARCHIVE_EOF);
  ASSERT_EQ(archive_read_free(a), ARCHIVE_OK);
  return n;
}

static const tar_file_t *find_file(const tar_file_t *f, size_t n,
                                   const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(f[i].name, name) == 0)
      return &f[i];
  fprintf(stderr, "%s is not in the uploaded archive\n", name);
  ASSERT(0);
  return NULL;
}

static void test_upload_files_wire(void) {
  ht_t t;
  ht_op_t op;
  char bin[256];
  for (int i = 0; i < 256; i++)
    bin[i] = (char)i;
  const nox_file_t files[] = {{"dir/a.txt", "hello\n", 6, 0600},
                              {"b.bin", bin, sizeof(bin), 0},
                              {"empty", NULL, 0, 0755}};
  const char *dest = "/data dir/a&b=c#d+e%";
  nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
  o.dest = dest;
  o.files = files;
  o.nfiles = 3;
  ht_begin(&t);
  ht_op_init(&op, &t);
  ASSERT_EQ(ht_upload(&op, ht_client(&t, NULL, NULL), "up", &o), 0);
  ht_wait(&t);
  HT_EXPECT(&op, 0);

  yajl_val log = ht_log();
  yajl_val e = ht_log_one(log, "POST", "/v1/sandboxes/up/files/upload");
  const char *q = check_target(e, "/v1/sandboxes/up/files/upload");
  ASSERT(strncmp(q, "dest=", 5) == 0);
  ASSERT(strpbrk(q, " #&+") == NULL);
  ASSERT_STR_EQ(query(e, "dest"), dest);
  ASSERT_STR_EQ(header(e, "content-type"), "application/x-tar");

  size_t len;
  char *body = ht_log_body(e, &len);
  ASSERT_GT(len, 2);
  ASSERT_EQ((unsigned char)body[0], 0x1f);
  ASSERT_EQ((unsigned char)body[1], 0x8b);
  tar_file_t got[8];
  size_t n = list_archive(body, len, got, 8);
  ASSERT_EQ(n, 3);
  const tar_file_t *f = find_file(got, n, "dir/a.txt");
  ASSERT_EQ(f->len, 6);
  ASSERT_MEM_EQ(f->data, "hello\n", 6);
  ASSERT_EQ(f->perm, 0600);
  f = find_file(got, n, "b.bin");
  ASSERT_EQ(f->len, 256);
  ASSERT_MEM_EQ(f->data, bin, 256);
  ASSERT_EQ(f->perm, 0644);
  f = find_file(got, n, "empty");
  ASSERT_EQ(f->len, 0);
  ASSERT_EQ(f->perm, 0755);
  free(body);
  yajl_tree_free(log);
  ht_op_free(&op);
  ht_end(&t);
}

/* A ready-made plain tar goes out byte for byte. */
static void test_upload_archive_wire(void) {
  ht_t t;
  ht_op_t op;
  char tarbuf[10240];
  size_t tarlen = 0;
  struct archive *a = archive_write_new();
  ASSERT_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
  ASSERT_EQ(archive_write_open_memory(a, tarbuf, sizeof(tarbuf), &tarlen),
            ARCHIVE_OK);
  struct archive_entry *ent = archive_entry_new();
  archive_entry_set_pathname(ent, "x.txt");
  archive_entry_set_filetype(ent, AE_IFREG);
  archive_entry_set_perm(ent, 0644);
  archive_entry_set_size(ent, 3);
  ASSERT_EQ(archive_write_header(a, ent), ARCHIVE_OK);
  ASSERT_EQ(archive_write_data(a, "xyz", 3), 3);
  archive_entry_free(ent);
  ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
  ASSERT_EQ(archive_write_free(a), ARCHIVE_OK);
  ASSERT_GT(tarlen, 512);

  nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
  o.archive = tarbuf;
  o.archive_len = tarlen;
  ht_begin(&t);
  ht_op_init(&op, &t);
  ASSERT_EQ(ht_upload(&op, ht_client(&t, NULL, NULL), "arc", &o), 0);
  memset(tarbuf, 0, sizeof(tarbuf)); /* the library made its own copy */
  ht_wait(&t);
  HT_EXPECT(&op, 0);

  yajl_val log = ht_log();
  yajl_val e = ht_log_one(log, "POST", "/v1/sandboxes/arc/files/upload");
  ASSERT_STR_EQ(query(e, "dest"), "/workspace");
  ASSERT_STR_EQ(header(e, "content-type"), "application/x-tar");
  size_t len;
  char *body = ht_log_body(e, &len);
  ASSERT_EQ(len, tarlen);
  tar_file_t got[2];
  ASSERT_EQ(list_archive(body, len, got, 2), 1);
  ASSERT_STR_EQ(got[0].name, "x.txt");
  ASSERT_MEM_EQ(got[0].data, "xyz", 3);
  free(body);
  yajl_tree_free(log);
  ht_op_free(&op);
  ht_end(&t);
}

static void check_pattern(const char *data, size_t len, size_t want) {
  ASSERT_EQ(len, want);
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)data[i] != i % 251) {
      fprintf(stderr, "download byte %zu is %u\n", i, (unsigned char)data[i]);
      ASSERT(0);
    }
}

static void test_download_wire(void) {
  ht_t t;
  ht_op_t src, dflt, big;
  nox_download_options_t o = NOX_DOWNLOAD_OPTIONS_INIT;
  o.src = "/out dir/\xc3\xbc&x=1#y";
  ht_begin(&t);
  nox_client_t *c = ht_client(&t, NULL, NULL);
  nox_client_t *cbig = ht_client(&t, "dl300000", NULL);
  ht_op_init(&src, &t);
  ht_op_init(&dflt, &t);
  ht_op_init(&big, &t);
  ASSERT_EQ(ht_download(&src, c, "dl", &o), 0);
  ASSERT_EQ(ht_download(&dflt, c, "dl2", NULL), 0);
  ASSERT_EQ(ht_download(&big, cbig, "dl3", NULL), 0);
  ht_wait(&t);

  HT_EXPECT(&src, 0);
  ASSERT_GE(src.data_calls, 1);
  check_pattern(src.data, src.data_len, 4096);
  HT_EXPECT(&dflt, 0);
  check_pattern(dflt.data, dflt.data_len, 4096);
  HT_EXPECT(&big, 0);
  ASSERT_GT(big.data_calls, 1);
  check_pattern(big.data, big.data_len, 300000);

  yajl_val log = ht_log();
  yajl_val e = ht_log_one(log, "GET", "/v1/sandboxes/dl/files/download");
  const char *q = check_target(e, "/v1/sandboxes/dl/files/download");
  ASSERT(strncmp(q, "src=", 4) == 0);
  ASSERT(strpbrk(q, " #&+") == NULL);
  ASSERT_STR_EQ(query(e, "src"), o.src);
  e = ht_log_one(log, "GET", "/v1/sandboxes/dl2/files/download");
  ASSERT_STR_EQ(query(e, "src"), "/workspace");
  ASSERT_EQ(nox_test_json_int(e, "body_len"), 0);
  yajl_tree_free(log);

  ht_op_free(&src);
  ht_op_free(&dflt);
  ht_op_free(&big);
  ht_close(&t, cbig);
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
      {"upload_files_wire", test_upload_files_wire},
      {"upload_archive_wire", test_upload_archive_wire},
      {"download_wire", test_download_wire},
      {"touch_delete", test_touch_delete},
  };
  return HT_RUN(cases);
}
