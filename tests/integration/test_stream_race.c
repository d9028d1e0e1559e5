/*
 * Concurrent uploads into one destination of one sandbox, through the local
 * backend and through noxd: eight uploads of overlapping trees (the same
 * names, each upload with its own contents, sizes, modes and symlink
 * targets) run at once, several rounds over the same destination. Every
 * upload must succeed, and afterwards every file must be exactly one
 * upload's version of it (content, size and mode together), every symlink
 * one upload's target, with no stray temporary file left beside them.
 * Downloads of the sandbox running meanwhile succeed too, though the tree
 * changes under them (temporary files come and go, files are renamed over).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "noxd_util.h"
#include "stream_util.h"

#define UPLOADS 8
#define ROUNDS 4
#define NDIRS 12
#define NPER 16
/* libarchive's temporary name for it would pass NAME_MAX. */
#define LONG_NAME_LEN 252

static noxd_test_t noxd;

static unsigned file_mode(int k, int i) {
  static const unsigned modes[] = {0644, 0600, 0755, 0640, 0700};
  return modes[(k + i) % 5];
}

/* Upload k's content of common file i (its length varies with k). */
static size_t file_data(int k, int i, char *buf, size_t cap) {
  size_t len = 0;
  for (int r = 0; r <= k; r++)
    len += (size_t)snprintf(buf + len, cap - len, "upload %d file %d\n", k, i);
  return len;
}

static void build_tree(const char *src, int k) {
  char rel[64], data[512];
  for (int i = 0; i < NDIRS * NPER; i++) {
    snprintf(rel, sizeof(rel), "common/d%02d/f%03d", i % NDIRS, i);
    st_write(src, rel, data, file_data(k, i, data, sizeof(data)),
             file_mode(k, i));
  }
  char longrel[300] = "common/";
  memset(longrel + 7, 'L', LONG_NAME_LEN);
  snprintf(data, sizeof(data), "upload %d long", k);
  st_write(src, longrel, data, strlen(data), 0600);
  for (int i = 0; i < 4; i++) {
    snprintf(rel, sizeof(rel), "only%d/g%d", k, i);
    snprintf(data, sizeof(data), "%d.%d", k, i);
    st_write(src, rel, data, strlen(data), 0644);
  }
  char path[4200], target[64];
  snprintf(path, sizeof(path), "%s/common/link", src);
  snprintf(target, sizeof(target), "d%02d/f%03d", k, k);
  ASSERT_EQ(symlink(target, path), 0);
  /* One link per directory, to this upload's own file of it. */
  for (int d = 0; d < NDIRS; d++) {
    snprintf(path, sizeof(path), "%s/common/d%02d/ln", src, d);
    snprintf(target, sizeof(target), "f%03d", d + NDIRS * k);
    ASSERT_EQ(symlink(target, path), 0);
  }
  snprintf(path, sizeof(path), "%s/common/empty", src);
  ASSERT_EQ(mkdir(path, 0700), 0);
  ASSERT_EQ(chmod(path, k % 2 ? 0755 : 0750), 0);
}

/* Each name in dest is one upload's version of it; nothing else is. */
static void check_dest(const char *dest) {
  char path[4200], want[512];
  struct stat st;
  for (int i = 0; i < NDIRS * NPER; i++) {
    snprintf(path, sizeof(path), "%s/common/d%02d/f%03d", dest, i % NDIRS, i);
    size_t len;
    char *got = st_read(path, &len);
    ASSERT(got != NULL);
    int k = -1;
    ASSERT_EQ(sscanf(got, "upload %d", &k), 1);
    ASSERT(k >= 0 && k < UPLOADS);
    size_t wlen = file_data(k, i, want, sizeof(want));
    ASSERT_EQ(len, wlen);
    ASSERT_MEM_EQ(got, want, len);
    ASSERT_EQ(lstat(path, &st), 0);
    ASSERT_EQ(st.st_mode & 07777, file_mode(k, i));
    free(got);
  }
  snprintf(path, sizeof(path), "%s/common/link", dest);
  char target[64];
  ssize_t n = readlink(path, target, sizeof(target) - 1);
  ASSERT(n > 0);
  target[n] = '\0';
  int k = -1, k2 = -1;
  ASSERT_EQ(sscanf(target, "d%d/f%d", &k, &k2), 2);
  ASSERT(k >= 0 && k < UPLOADS && k == k2);
  for (int d = 0; d < NDIRS; d++) {
    snprintf(path, sizeof(path), "%s/common/d%02d/ln", dest, d);
    n = readlink(path, target, sizeof(target) - 1);
    ASSERT(n > 0);
    target[n] = '\0';
    int i = -1;
    ASSERT_EQ(sscanf(target, "f%d", &i), 1);
    ASSERT(i >= d && (i - d) % NDIRS == 0 && (i - d) / NDIRS < UPLOADS);
  }
  char longrel[300] = "common/";
  memset(longrel + 7, 'L', LONG_NAME_LEN);
  snprintf(path, sizeof(path), "%s/%s", dest, longrel);
  size_t llen;
  char *lgot = st_read(path, &llen);
  ASSERT(lgot != NULL);
  ASSERT_EQ(sscanf(lgot, "upload %d long", &k), 1);
  ASSERT(k >= 0 && k < UPLOADS);
  free(lgot);
  snprintf(path, sizeof(path), "%s/common/empty", dest);
  ASSERT_EQ(lstat(path, &st), 0);
  ASSERT(S_ISDIR(st.st_mode));
  ASSERT((st.st_mode & 07777) == 0755 || (st.st_mode & 07777) == 0750);
  for (k = 0; k < UPLOADS; k++)
    for (int i = 0; i < 4; i++) {
      snprintf(path, sizeof(path), "%s/only%d/g%d", dest, k, i);
      size_t len;
      char *got = st_read(path, &len);
      ASSERT(got != NULL);
      snprintf(want, sizeof(want), "%d.%d", k, i);
      ASSERT_STR_EQ(got, want);
      free(got);
    }
  /* Files, dirs and their links, link, empty dir, long name; 5 per upload. */
  ASSERT_EQ(st_count(dest), 1 + 2 * NDIRS + NDIRS * NPER + 3 + UPLOADS * 5);
}

static int discard(nox_req_t *req, const char *buf, size_t len) {
  (void)req;
  (void)buf;
  (void)len;
  return 0;
}

static void on_done(nox_req_t *req, int status) {
  int *st = nox_req_data(req);
  *st = status;
}

static void on_created(nox_req_t *req, int status,
                       const nox_sandbox_info_t *info) {
  (void)info;
  on_done(req, status);
}

/*
 * ROUNDS rounds of UPLOADS concurrent uploads of srcs into one destination;
 * after each, the destination is downloaded into out and checked.
 */
static void race(const char *url, char *const *srcs, const char *root) {
  ht_t t;
  memset(&t, 0, sizeof(t));
  ASSERT_EQ(uv_loop_init(&t.loop), 0);
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.base_url = url;
  o.isolation = NOX_ISOLATION_NONE;
  o.max_retries = NOX_RETRIES_NONE;
  o.tar_workers = UPLOADS;
  ASSERT_EQ(nox_client_new(&t.client, &t.loop, &o), 0);
  t.clients = 1;
  int st = 1;
  ASSERT_EQ(nox_create(NULL, t.client, "race", NULL, on_created, &st), 0);
  while (st == 1)
    uv_run(&t.loop, UV_RUN_ONCE);
  ASSERT_EQ(st, 0);

  for (int round = 0; round < ROUNDS; round++) {
    st_xfer_t up[UPLOADS];
    for (int k = 0; k < UPLOADS; k++) {
      /* Rotate the start order so a different upload starts last. */
      int j = (k + round * 3) % UPLOADS;
      st_xfer_init(&up[j], &t);
      nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
      uo.dir = srcs[j];
      uo.dest = "/workspace/shared";
      ASSERT_EQ(
          nox_upload(&up[j].req, t.client, "race", &uo, st_on_done, &up[j]), 0);
      t.pending++;
    }
    /* Downloads while they run see some mix, but must not fail. */
    st_xfer_t mid[2];
    for (int k = 0; k < 2; k++) {
      st_xfer_init(&mid[k], &t);
      nox_download_options_t d = NOX_DOWNLOAD_OPTIONS_INIT;
      d.src = "/workspace";
      ASSERT_EQ(nox_download(&mid[k].req, t.client, "race", &d, discard,
                             st_on_done, &mid[k]),
                0);
      t.pending++;
    }
    ht_wait(&t);
    for (int k = 0; k < UPLOADS; k++)
      ST_EXPECT(&up[k], 0);
    for (int k = 0; k < 2; k++)
      ST_EXPECT(&mid[k], 0);

    char out[4200];
    snprintf(out, sizeof(out), "%s/out%d", root, round);
    st_xfer_t down;
    st_download_dir(&t, &down, t.client, "race", "/workspace/shared", out);
    ST_EXPECT(&down, 0);
    check_dest(out);
    st_rmtree(out);
  }
  ht_end(&t);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  ASSERT_EQ(nox_library_init(), 0);
  char *root = st_mkdtemp("race");
  char *srcs[UPLOADS];
  for (int k = 0; k < UPLOADS; k++) {
    char path[4200];
    snprintf(path, sizeof(path), "%s/src%d", root, k);
    ASSERT_EQ(mkdir(path, 0755), 0);
    build_tree(path, k);
    srcs[k] = strdup(path);
    ASSERT(srcs[k] != NULL);
  }

  printf("[ RUN  ] local\n");
  char sandboxes[4200], url[4300];
  snprintf(sandboxes, sizeof(sandboxes), "%s/sandboxes", root);
  ASSERT_EQ(mkdir(sandboxes, 0700), 0);
  snprintf(url, sizeof(url), "local://%s", sandboxes);
  race(url, srcs, root);

  printf("[ RUN  ] noxd\n");
  ASSERT_EQ(noxd_test_start(&noxd, "none", NULL), 0);
  race(noxd.srv.url, srcs, root);
  ASSERT(noxd_test_alive(&noxd));
  ASSERT_EQ(noxd_test_stop(&noxd), 0);

  for (int k = 0; k < UPLOADS; k++)
    free(srcs[k]);
  st_rmtree(root);
  free(root);
  nox_library_cleanup();
  return 0;
}
