/*
 * Helpers for the local backend's tests: a private root per test, and
 * run-to-completion wrappers over the async API. Each wrapper runs the loop
 * until its own callback fired, so every wait is bounded by the request's
 * own deadline.
 */
#ifndef NOX_TEST_LOCAL_UTIL_H
#define NOX_TEST_LOCAL_UTIL_H

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "noxrunner.h"
#include "test.h"

/* The outcome of one request. */
typedef struct {
  int done;
  int status;
  int exit_code;
  char *out, *err; /* exec: malloc()ed copies, NUL-terminated */
  size_t out_len, err_len;
  int out_truncated, err_truncated; /* exec: as the result said */
  char msg[256];
  char pod[256];
  char expires[64];
  int64_t expires_unix;
  char *data; /* download: the bytes delivered */
  size_t data_len;
} lt_res_t;

static inline void lt_res_free(lt_res_t *r) {
  free(r->out);
  free(r->err);
  free(r->data);
  memset(r, 0, sizeof(*r));
}

static inline void lt_note(lt_res_t *r, nox_req_t *req, int status) {
  r->done = 1;
  r->status = status;
  snprintf(r->msg, sizeof(r->msg), "%s", nox_req_error(req)->message);
}

static inline void lt_on_done(nox_req_t *req, int status) {
  lt_note(nox_req_data(req), req, status);
}

static inline void lt_on_create(nox_req_t *req, int status,
                                const nox_sandbox_info_t *info) {
  lt_res_t *r = nox_req_data(req);
  lt_note(r, req, status);
  if (info != NULL) {
    snprintf(r->pod, sizeof(r->pod), "%s", info->pod_name);
    snprintf(r->expires, sizeof(r->expires), "%s", info->expires_at);
    r->expires_unix = info->expires_at_unix;
  }
}

static inline void lt_on_exec(nox_req_t *req, int status,
                              const nox_exec_result_t *res) {
  lt_res_t *r = nox_req_data(req);
  lt_note(r, req, status);
  if (res == NULL)
    return;
  r->exit_code = res->exit_code;
  r->out = malloc(res->out_len + 1);
  r->err = malloc(res->err_len + 1);
  ASSERT(r->out != NULL && r->err != NULL);
  memcpy(r->out, res->out, res->out_len);
  memcpy(r->err, res->err, res->err_len);
  r->out[res->out_len] = '\0';
  r->err[res->err_len] = '\0';
  r->out_len = res->out_len;
  r->err_len = res->err_len;
  r->out_truncated = res->out_truncated;
  r->err_truncated = res->err_truncated;
}

static inline int lt_on_data(nox_req_t *req, const char *buf, size_t len) {
  lt_res_t *r = nox_req_data(req);
  r->data = realloc(r->data, r->data_len + len);
  ASSERT(r->data != NULL);
  memcpy(r->data + r->data_len, buf, len);
  r->data_len += len;
  return 0;
}

static inline void lt_wait(uv_loop_t *loop, lt_res_t *r) {
  while (!r->done)
    uv_run(loop, UV_RUN_ONCE);
}

/* Runs the loop for ms milliseconds (timers, work and all). */
static inline void lt_on_sleep(uv_timer_t *t) {
  *(int *)t->data = 1;
}

static inline void lt_sleep(uv_loop_t *loop, uint64_t ms) {
  uv_timer_t t;
  int fired = 0;
  uv_timer_init(loop, &t);
  t.data = &fired;
  uv_timer_start(&t, lt_on_sleep, ms, 0);
  while (!fired)
    uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
}

static inline int lt_create(nox_client_t *c, const char *id, uint32_t ttl,
                            lt_res_t *r) {
  nox_create_options_t o = NOX_CREATE_OPTIONS_INIT;
  if (ttl)
    o.ttl_seconds = ttl;
  memset(r, 0, sizeof(*r));
  ASSERT_EQ(nox_create(NULL, c, id, &o, lt_on_create, r), 0);
  lt_wait(nox_client_loop(c), r);
  return r->status;
}

static inline int lt_simple(int (*fn)(nox_req_t **, nox_client_t *,
                                      const char *, nox_req_cb, void *),
                            nox_client_t *c, const char *id) {
  lt_res_t r;
  memset(&r, 0, sizeof(r));
  ASSERT_EQ(fn(NULL, c, id, lt_on_done, &r), 0);
  lt_wait(nox_client_loop(c), &r);
  return r.status;
}

static inline int lt_exec_opts(nox_client_t *c, const char *id,
                               const char *const argv[],
                               const nox_exec_options_t *o, lt_res_t *r) {
  memset(r, 0, sizeof(*r));
  ASSERT_EQ(nox_exec(NULL, c, id, argv, o, lt_on_exec, r), 0);
  lt_wait(nox_client_loop(c), r);
  return r->status;
}

/* sh -c script in /workspace; status 0 asserted, result in r. */
static inline void lt_sh(nox_client_t *c, const char *id, const char *script,
                         lt_res_t *r) {
  const char *argv[] = {"sh", "-c", script, NULL};
  int st = lt_exec_opts(c, id, argv, NULL, r);
  if (st != 0)
    fprintf(stderr, "exec failed: %s: %s\n", nox_err_name(st), r->msg);
  ASSERT_EQ(st, 0);
}

static inline int lt_upload(nox_client_t *c, const char *id, const char *dest,
                            const nox_file_t *files, size_t n,
                            const void *archive, size_t len, lt_res_t *r) {
  nox_upload_options_t o = NOX_UPLOAD_OPTIONS_INIT;
  o.dest = dest;
  o.files = files;
  o.nfiles = n;
  o.archive = archive;
  o.archive_len = len;
  memset(r, 0, sizeof(*r));
  ASSERT_EQ(nox_upload(NULL, c, id, &o, lt_on_done, r), 0);
  lt_wait(nox_client_loop(c), r);
  return r->status;
}

static inline int lt_download(nox_client_t *c, const char *id, const char *src,
                              lt_res_t *r) {
  nox_download_options_t o = NOX_DOWNLOAD_OPTIONS_INIT;
  o.src = src;
  memset(r, 0, sizeof(*r));
  ASSERT_EQ(nox_download(NULL, c, id, &o, lt_on_data, lt_on_done, r), 0);
  lt_wait(nox_client_loop(c), r);
  return r->status;
}

static inline void lt_on_closed(void *data) {
  *(int *)data = 1;
}

static inline void lt_close(nox_client_t *c) {
  uv_loop_t *loop = nox_client_loop(c);
  int closed = 0;
  ASSERT_EQ(nox_client_close(c, lt_on_closed, &closed), 0);
  while (!closed)
    uv_run(loop, UV_RUN_ONCE);
}

/* A client on root ("local:///root") with options o (base_url is set). */
static inline nox_client_t *lt_client_with(uv_loop_t *loop, const char *root,
                                           nox_client_options_t *o) {
  char url[600];
  nox_client_t *c = NULL;
  ASSERT_LT(snprintf(url, sizeof(url), "local://%s", root), (int)sizeof(url));
  o->base_url = url;
  ASSERT_EQ(nox_client_new(&c, loop, o), 0);
  o->base_url = NULL;
  return c;
}

/* A client on root ("local:///root") with the given isolation. */
static inline nox_client_t *lt_client(uv_loop_t *loop, const char *root,
                                      int isolation) {
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.isolation = isolation;
  return lt_client_with(loop, root, &o);
}

/* A fresh directory for one test's sandboxes: /tmp/nox-local-XXXXXX. */
static inline char *lt_mkroot(void) {
  char *p = strdup("/tmp/nox-local-XXXXXX");
  ASSERT(p != NULL && mkdtemp(p) != NULL);
  return p;
}

static inline int lt_rm_entry(const char *path, const struct stat *st, int type,
                              struct FTW *ftw) {
  (void)st;
  (void)ftw;
  return type == FTW_DP ? rmdir(path) : unlink(path);
}

static inline void lt_rmroot(char *root) {
  nftw(root, lt_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(root);
}

/* How many sandbox directories ("sb-*") root holds. */
static inline int lt_count_sandboxes(const char *root) {
  DIR *d = opendir(root);
  struct dirent *de;
  int n = 0;
  ASSERT(d != NULL);
  while ((de = readdir(d)) != NULL)
    if (strncmp(de->d_name, "sb-", 3) == 0)
      n++;
  closedir(d);
  return n;
}

/* 1 when bwrap works here: a client that demands it can be made. */
static inline int lt_have_bwrap(uv_loop_t *loop, const char *root) {
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  char url[512];
  nox_client_t *c = NULL;
  int r;
  snprintf(url, sizeof(url), "local://%s", root);
  o.base_url = url;
  o.isolation = NOX_ISOLATION_BWRAP;
  r = nox_client_new(&c, loop, &o);
  if (r == 0)
    lt_close(c);
  ASSERT(r == 0 || r == NOX_EISOLATION);
  return r == 0;
}

/* 1 if some process on the host has token in its command line. */
static inline int lt_host_has_process(const char *token) {
  DIR *d = opendir("/proc");
  struct dirent *de;
  char path[300], buf[4096];
  int found = 0;
  ASSERT(d != NULL);
  while (!found && (de = readdir(d)) != NULL) {
    if (de->d_name[0] < '0' || de->d_name[0] > '9')
      continue;
    snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
      continue;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i++)
      if (buf[i] == '\0')
        buf[i] = ' ';
    buf[n] = '\0';
    found = strstr(buf, token) != NULL;
  }
  closedir(d);
  return found;
}

/* Waits up to 3 s (the kernel reaps asynchronously) for token to vanish. */
static inline int lt_gone(uv_loop_t *loop, const char *token) {
  for (int i = 0; i < 60; i++) {
    if (!lt_host_has_process(token))
      return 1;
    lt_sleep(loop, 50);
  }
  return 0;
}

/*
 * Appends one ustar member to a growing plain tar (type '0' file, '1'
 * hardlink, '2' symlink, '5' directory, '6' FIFO), for archives no
 * well-behaved packer would make. Finish with lt_tar_end().
 */
typedef struct {
  char *data;
  size_t len;
} lt_tar_t;

static inline void lt_tar_add(lt_tar_t *t, const char *name, char type,
                              const char *link, const char *body) {
  size_t blen = body ? strlen(body) : 0;
  size_t padded = (blen + 511) / 512 * 512;
  unsigned char *h;
  unsigned sum = 0;
  size_t i;
  t->data = realloc(t->data, t->len + 512 + padded);
  ASSERT(t->data != NULL);
  h = (unsigned char *)t->data + t->len;
  memset(h, 0, 512 + padded);
  ASSERT(strlen(name) < 100 && (link == NULL || strlen(link) < 100));
  memcpy(h, name, strlen(name));
  memcpy(h + 100, "0000644", 7);
  memcpy(h + 108, "0000000", 7);
  memcpy(h + 116, "0000000", 7);
  snprintf((char *)h + 124, 12, "%011o", (unsigned)blen);
  memcpy(h + 136, "00000000000", 11);
  h[156] = (unsigned char)type;
  if (link)
    memcpy(h + 157, link, strlen(link));
  memcpy(h + 257, "ustar", 6);
  memcpy(h + 263, "00", 2);
  memset(h + 148, ' ', 8);
  for (i = 0; i < 512; i++)
    sum += h[i];
  snprintf((char *)h + 148, 8, "%06o", sum);
  h[155] = ' ';
  if (blen)
    memcpy(h + 512, body, blen);
  t->len += 512 + padded;
}

static inline void lt_tar_end(lt_tar_t *t) {
  t->data = realloc(t->data, t->len + 1024);
  ASSERT(t->data != NULL);
  memset(t->data + t->len, 0, 1024);
  t->len += 1024;
}

#endif /* NOX_TEST_LOCAL_UTIL_H */
