#include "noxd_util.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <yajl/yajl_tree.h>

int noxd_test_start(noxd_test_t *t, const char *isolation,
                    const char *const *extra) {
  return noxd_test_start_in(t, "/tmp", isolation, extra);
}

int noxd_test_start_in(noxd_test_t *t, const char *parent,
                       const char *isolation, const char *const *extra) {
  const char *argv[32];
  size_t n = 0;

  memset(t, 0, sizeof(*t));
  if ((size_t)snprintf(t->root, sizeof(t->root), "%s/noxd-test-XXXXXX",
                       parent) >= sizeof(t->root) ||
      mkdtemp(t->root) == NULL)
    return -1;
  argv[n++] = NOX_BINARY_DIR "/bin/noxd";
  argv[n++] = "--listen";
  argv[n++] = "127.0.0.1:0";
  argv[n++] = "--root";
  argv[n++] = t->root;
  argv[n++] = "--isolation";
  argv[n++] = isolation;
  for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 31; i++)
    argv[n++] = extra[i];
  argv[n] = NULL;
  return nox_test_server_start(&t->srv, argv);
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

int noxd_test_stop(noxd_test_t *t) {
  int status = nox_test_server_stop(&t->srv);
  nftw(t->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  return status;
}

bool noxd_test_alive(const noxd_test_t *t) {
  int st;
  return waitpid(t->srv.pid, &st, WNOHANG) == 0;
}

typedef struct {
  char *data;
  size_t len;
} buf_t;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  buf_t *b = ud;
  size_t len = size * n;
  char *q = realloc(b->data, b->len + len + 1);
  if (q == NULL)
    return 0;
  memcpy(q + b->len, p, len);
  b->data = q;
  b->len += len;
  b->data[b->len] = '\0';
  return len;
}

typedef struct {
  const char *p;
  size_t left;
} src_t;

static size_t on_read(char *p, size_t size, size_t n, void *ud) {
  src_t *s = ud;
  size_t len = size * n;
  /* Small pieces, so that a chunked body really comes in several chunks. */
  if (len > 1000)
    len = 1000;
  if (len > s->left)
    len = s->left;
  memcpy(p, s->p, len);
  s->p += len;
  s->left -= len;
  return len;
}

long noxd_http(const char *method, const char *url,
               const noxd_http_opts_t *opts, char **resp, size_t *resp_len) {
  static const noxd_http_opts_t none = {NULL, NULL, 0, false};
  CURL *e = curl_easy_init();
  struct curl_slist *hl = NULL;
  buf_t b = {NULL, 0};
  src_t src;
  long status = -1;

  if (e == NULL)
    return -1;
  if (opts == NULL)
    opts = &none;
  for (size_t i = 0; opts->headers != NULL && opts->headers[i] != NULL; i++)
    hl = curl_slist_append(hl, opts->headers[i]);
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
  if (strcmp(method, "HEAD") == 0)
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  if (opts->body != NULL && opts->chunked) {
    src.p = opts->body;
    src.left = opts->len;
    hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, &src);
  } else if (opts->body != NULL) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, opts->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)opts->len);
  }
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
  if (curl_easy_perform(e) == CURLE_OK)
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(e);
  curl_slist_free_all(hl);
  if (resp != NULL)
    *resp = b.data;
  else
    free(b.data);
  if (resp_len != NULL)
    *resp_len = b.len;
  return status;
}

bool noxd_error_message(const char *body, char *buf, size_t len) {
  char err[128];
  yajl_val v, msg;
  const char *path[] = {"error", NULL};
  bool ok = false;

  if (body == NULL)
    return false;
  v = yajl_tree_parse(body, err, sizeof(err));
  if (v == NULL)
    return false;
  msg = yajl_tree_get(v, path, yajl_t_string);
  if (YAJL_IS_OBJECT(v) && msg != NULL && msg->u.string[0] != '\0') {
    snprintf(buf, len, "%s", msg->u.string);
    ok = true;
  }
  yajl_tree_free(v);
  return ok;
}

const unsigned char noxd_test_tgz[121] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xed,
    0xd0, 0x31, 0x0a, 0x80, 0x30, 0x10, 0x44, 0xd1, 0xad, 0x3d, 0x45,
    0x4e, 0x20, 0x9b, 0x44, 0x73, 0x1f, 0x0b, 0xc5, 0x42, 0x08, 0x68,
    0x04, 0x8f, 0xaf, 0xa6, 0xb4, 0x50, 0x2c, 0x82, 0x08, 0xff, 0x35,
    0x53, 0x4c, 0x33, 0xcc, 0x50, 0xa7, 0x2d, 0x49, 0x59, 0x7a, 0x08,
    0x4d, 0x93, 0xf3, 0x70, 0xcd, 0xb3, 0x15, 0xdb, 0x7a, 0x75, 0xce,
    0x6a, 0x08, 0x4e, 0xd4, 0x6a, 0xeb, 0xbd, 0x18, 0x2d, 0xbc, 0x2b,
    0x5b, 0x97, 0xd4, 0xcd, 0xc6, 0xc8, 0x1c, 0xe3, 0xed, 0x0f, 0x4f,
    0xfd, 0x4f, 0x8d, 0xfd, 0x34, 0xc5, 0xea, 0xeb, 0x15, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x80, 0xb7, 0x76, 0x45, 0x28, 0x0a, 0xdd, 0x00, 0x28, 0x00, 0x00};
