/*
 * Safe extraction, through the path downloads take (the extract_dir sink: a
 * pool worker unpacks from the stream's pipe into a temporary sibling that
 * is renamed onto the destination only on success): any bytes, as a tar or
 * tar.gz, are either refused with a code and a message or unpacked, and
 * never write outside the destination. Each input goes to DIR/dest under a
 * private directory DIR that also holds a canary file; afterwards DIR holds
 * the canary, unchanged, and "dest" only on success (no temporary
 * directory left), and nothing under DIR/dest is a device, FIFO or socket,
 * or is setuid or setgid. Names cut at a NUL are checked by
 * test_extract_hostile, not here: a mutated "nulpath" seed whose pax record
 * is malformed is ignored by libarchive, which then rightly writes the ustar
 * name ("good", "lnk"), so a name alone cannot tell a defect from that.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local/local.h"
#include "tar/stream.h"
#include "tar/tar.h"

static char root[64];
static nox__pool_t *pool;

static void remove_root(void) {
  rmdir(root);
  nox__pool_free(pool);
}

static void on_wake(nox__stream_t *s) {
  (void)s; /* the loop below polls the outcome */
}

/* Unpacks data into dest as a download's extract_dir would. */
static int extract(const uint8_t *data, size_t size, const char *dest,
                   char *msg, size_t msglen) {
  uv_loop_t loop;
  int status = 0, owner;
  if (uv_loop_init(&loop) != 0)
    abort();
  nox__stream_t *s = nox__stream_new(&loop, NOX__STREAM_EXTRACT, size + 1,
                                     on_wake, &owner);
  if (s == NULL || (s->dir = strdup(dest)) == NULL)
    abort();
  s->limits.max_entries = 1000;
  s->limits.max_bytes = 1 << 20;
  if (nox__stream_start(s, pool) != 0)
    abort();
  /* The pipe holds it all; a worker that already gave up refuses it. */
  if (size > 0)
    (void)nox__stream_push(s, data, size);
  nox__stream_finish(s);
  nox_transfer_report_t rep;
  while (!nox__stream_snapshot(s, &rep, &status, msg, msglen))
    uv_run(&loop, UV_RUN_ONCE);
  nox__stream_release(s);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0)
    abort();
  return status;
}

static void check_tree(const char *path) {
  DIR *d = opendir(path);
  struct dirent *de;
  if (d == NULL)
    return;
  while ((de = readdir(d)) != NULL) {
    char p[4096];
    struct stat st;
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
    if (lstat(p, &st) != 0)
      continue;
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode) ||
        S_ISSOCK(st.st_mode))
      abort(); /* special files are never made */
    if (st.st_mode & (S_ISUID | S_ISGID))
      abort(); /* nor anything setuid or setgid */
    if (S_ISDIR(st.st_mode))
      check_tree(p);
  }
  closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char dest[128], canary[128], msg[256];
  if (root[0] == '\0') {
    snprintf(root, sizeof(root), "/tmp/nox-fuzz-extract-XXXXXX");
    if (mkdtemp(root) == NULL)
      abort();
    atexit(remove_root);
    if ((pool = nox__pool_new(1)) == NULL)
      abort();
  }
  snprintf(dest, sizeof(dest), "%s/dest", root);
  snprintf(canary, sizeof(canary), "%s/canary", root);
  FILE *f = fopen(canary, "w");
  if (f == NULL || fputs("canary\n", f) < 0 || fclose(f) != 0)
    abort();
  msg[0] = '\0';
  int r = extract(data, size, dest, msg, sizeof(msg));
  if (r != 0 && msg[0] == '\0')
    abort(); /* a refusal always says why */

  /* Nothing beside dest: DIR holds the canary, and dest on success only. */
  DIR *d = opendir(root);
  struct dirent *de;
  int n = 0;
  while (d && (de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (strcmp(de->d_name, "dest") != 0 && strcmp(de->d_name, "canary") != 0)
      abort();
    n++;
  }
  if (d)
    closedir(d);
  char buf[16] = "";
  f = fopen(canary, "r");
  if (n != (r == 0 ? 2 : 1) || f == NULL || fgets(buf, sizeof(buf), f) == NULL ||
      strcmp(buf, "canary\n") != 0)
    abort();
  fclose(f);
  check_tree(dest);
  nox__local_rmtree(dest);
  unlink(canary);
  return 0;
}
