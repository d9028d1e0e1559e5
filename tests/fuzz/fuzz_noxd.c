/*
 * noxd's request parsing and answer generation: any exec or create body is
 * either refused with a message or parsed into sane arguments; any path is
 * either refused or mapped inside /workspace; any command output becomes
 * valid JSON. Input: byte 0 picks the target, the rest is the payload.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "noxd.h"

static void check_json(char *out, size_t len) {
  char *z = malloc(len + 1);
  if (z == NULL)
    abort();
  memcpy(z, out, len);
  z[len] = '\0';
  yajl_val v = yajl_tree_parse(z, NULL, 0); /* validates UTF-8 */
  if (v == NULL || !YAJL_IS_OBJECT(v))
    abort();
  yajl_tree_free(v);
  free(z);
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  const char *body = (const char *)data + 1;
  size_t len = size - 1;
  char err[256] = "";
  switch (data[0] % 4) {
  case 0: {
    noxd_exec_args_t a;
    memset(&a, 0, sizeof(a));
    if (noxd_parse_exec(body, len, &a, err, sizeof(err)) == 0) {
      if (a.argv == NULL || a.argv[0] == NULL || a.timeout_seconds == 0)
        abort();
      noxd_exec_args_free(&a);
    } else if (err[0] == '\0') {
      abort(); /* a refusal always says why */
    }
    break;
  }
  case 1: {
    noxd_create_args_t a;
    memset(&a, 0, sizeof(a));
    if (noxd_parse_create(body, len, &a, err, sizeof(err)) == 0)
      noxd_create_args_free(&a);
    else if (err[0] == '\0')
      abort();
    break;
  }
  case 2: {
    char *path = malloc(len + 1), *out = NULL;
    if (path == NULL)
      abort();
    memcpy(path, body, len);
    path[len] = '\0';
    if (noxd_sandbox_path("workdir", path, &out, err, sizeof(err)) == 0) {
      if (strncmp(out, "/workspace", 10) != 0 ||
          (out[10] != '\0' && out[10] != '/') || strstr(out, "/../") ||
          strstr(out, "/./"))
        abort();
      free(out);
    }
    free(path);
    break;
  }
  default: {
    nox_exec_result_t r;
    char *out;
    size_t olen;
    memset(&r, 0, sizeof(r));
    r.out = body;
    r.out_len = len / 2;
    r.err = body + len / 2;
    r.err_len = len - len / 2;
    if (noxd_json_exec_result(&r, &out, &olen) == 0)
      check_json(out, olen);
    break;
  }
  }
  return 0;
}
