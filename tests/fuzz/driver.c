/*
 * Runs a fuzz target over files and directories named on the command line,
 * for builds without libFuzzer: every corpus entry becomes a regression test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return -1;
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len == cap) {
      cap = cap ? cap * 2 : 4096;
      uint8_t *b = realloc(buf, cap);
      if (b == NULL)
        abort();
      buf = b;
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    if (n == 0)
      break;
    len += n;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(buf, len);
  free(buf);
  return 0;
}

int main(int argc, char **argv) {
  int n = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0)
      return 1;
    if (!S_ISDIR(st.st_mode)) {
      if (run_file(argv[i]) == 0)
        n++;
      continue;
    }
    DIR *d = opendir(argv[i]);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
      char p[4096];
      if (de->d_name[0] == '.')
        continue;
      snprintf(p, sizeof(p), "%s/%s", argv[i], de->d_name);
      if (run_file(p) == 0)
        n++;
    }
    if (d)
      closedir(d);
  }
  printf("%d inputs ran\n", n);
  return n > 0 ? 0 : 1;
}
