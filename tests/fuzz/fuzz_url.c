/*
 * Request building through the public API: any session id, query value,
 * argv and env either is refused at once or gives a URL whose id segment
 * and query value are fully percent-encoded and decode back to the input,
 * and a JSON body that parses. Input: three NUL-separated strings (id,
 * value, argument).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "http/http.h"

static void never(nox_req_t *req, int status) {
  (void)req;
  (void)status;
}

static void never_exec(nox_req_t *req, int status, const nox_exec_result_t *r) {
  (void)req;
  (void)status;
  (void)r;
}

static int on_data(nox_req_t *req, const char *b, size_t n) {
  (void)req;
  (void)b;
  (void)n;
  return 0;
}

/* Everything after the base URL is printable ASCII without spaces. */
static void check_url(const char *url) {
  for (const unsigned char *p = (const unsigned char *)url; *p; p++)
    if (*p <= 0x20 || *p >= 0x7f || *p == '#')
      abort();
}

/* The id segment decodes back to id. */
static void check_id(const char *url, const char *base, const char *id,
                     const char *suffix) {
  size_t prefix = strlen(base) + strlen("/v1/sandboxes/");
  const char *seg = url + prefix;
  const char *end = suffix[0] ? strstr(seg, suffix) : seg + strlen(seg);
  if (end == NULL || memchr(seg, '/', (size_t)(end - seg)) != NULL)
    abort();
  int n = 0;
  char *dec = curl_easy_unescape(NULL, seg, (int)(end - seg), &n);
  if (dec == NULL || (size_t)n != strlen(id) || memcmp(dec, id, (size_t)n) != 0)
    abort();
  curl_free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size + 3);
  if (buf == NULL)
    return 0;
  memcpy(buf, data, size);
  buf[size] = buf[size + 1] = buf[size + 2] = '\0';
  const char *id = buf;
  const char *value = id + strlen(id) + 1;
  if (value > buf + size)
    value = buf + size;
  const char *arg = value + strlen(value) + 1;
  if (arg > buf + size + 1)
    arg = buf + size + 1;

  static const char base[] = "http://127.0.0.1:9";
  uv_loop_t loop;
  nox_client_t *c;
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.base_url = base;
  if (uv_loop_init(&loop) != 0 || nox_client_new(&c, &loop, &o) != 0)
    abort();

  nox_req_t *r = NULL;
  if (nox_delete(&r, c, id, never, NULL) == 0) {
    nox__xfer_t *x = r->backend_data;
    check_url(x->url);
    check_id(x->url, base, id, "");
    nox_req_cancel(r);
  }
  nox_download_options_t d = NOX_DOWNLOAD_OPTIONS_INIT;
  d.src = value[0] ? value : NULL;
  if (nox_download(&r, c, id, &d, on_data, never, NULL) == 0) {
    nox__xfer_t *x = r->backend_data;
    check_url(x->url);
    check_id(x->url, base, id, "/files/download?src=");
    const char *q = strstr(x->url, "?src=") + 5;
    int n = 0;
    char *dec = curl_easy_unescape(NULL, q, 0, &n);
    if (dec == NULL || strcmp(dec, value[0] ? value : "/workspace") != 0)
      abort();
    curl_free(dec);
    nox_req_cancel(r);
  }
  const char *argv[] = {arg, value, NULL};
  const char *env[] = {"A=1", NULL};
  nox_exec_options_t eo = NOX_EXEC_OPTIONS_INIT;
  eo.env = env;
  eo.workdir = value[0] ? value : NULL;
  if (nox_exec(&r, c, id, argv, &eo, never_exec, NULL) == 0) {
    nox__xfer_t *x = r->backend_data;
    check_url(x->url);
    yajl_val v = yajl_tree_parse(x->json.data, NULL, 0);
    if (v == NULL || !YAJL_IS_OBJECT(v))
      abort();
    const char *path[] = {"cmd", NULL};
    yajl_val cmd = yajl_tree_get(v, path, yajl_t_array);
    if (cmd == NULL || YAJL_GET_ARRAY(cmd)->len != 2)
      abort();
    const char *first = YAJL_GET_STRING(YAJL_GET_ARRAY(cmd)->values[0]);
    if (first == NULL || strcmp(first, arg) != 0)
      abort();
    yajl_tree_free(v);
    nox_req_cancel(r);
  }
  nox_client_close(c, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0)
    abort();
  free(buf);
  return 0;
}
