/*
 * Safe extraction: any bytes, as a tar or tar.gz, are either refused with a
 * code and a message or unpacked, and never write outside the destination.
 * Each input is unpacked into DIR/dest under a private directory DIR that
 * also holds a canary file; afterwards DIR must hold exactly "dest" and the
 * canary, unchanged, and nothing under DIR/dest may be a device or FIFO.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local/local.h"
#include "tar/tar.h"

static char root[64];

static void remove_root(void) {
  rmdir(root);
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
  }
  snprintf(dest, sizeof(dest), "%s/dest", root);
  snprintf(canary, sizeof(canary), "%s/canary", root);
  FILE *f = fopen(canary, "w");
  if (f == NULL || fputs("canary\n", f) < 0 || fclose(f) != 0)
    abort();
  if (mkdir(dest, 0700) != 0)
    abort();

  nox__tar_limits_t limits = {1000, 1 << 20};
  int r = nox__tar_extract_mem(data, size, dest, &limits, msg, sizeof(msg));
  if (r != 0 && msg[0] == '\0')
    abort(); /* a refusal always says why */

  /* Nothing beside dest: DIR holds exactly dest and the canary. */
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
  if (n != 2 || f == NULL || fgets(buf, sizeof(buf), f) == NULL ||
      strcmp(buf, "canary\n") != 0)
    abort();
  fclose(f);
  check_tree(dest);
  nox__local_rmtree(dest);
  unlink(canary);
  return 0;
}
