/*
 * A 100,000-file tree on disk, up and back down through both backends: the
 * directory source packs it, the extract_dir sink unpacks it into a fresh
 * directory, and the two trees must match entry for entry (names, types,
 * modes, sizes, contents, mtimes of files, symlink targets). The files are
 * tiny, so this is inode work: walking, creating, stat'ing and setting
 * modes and times 100,000 times, each way, through the local backend and
 * through a noxd started here.
 *
 * The trees (source, sandboxes, outputs) live on /dev/shm when it is a
 * tmpfs with room: on this CI's virtual disk, creating and removing
 * 100,000 files costs minutes and varies several-fold with the neighbours'
 * load, which would measure the disk, not the library (tar -xzf of such a
 * tree took 2.2 s on tmpfs and 7 to 14 s on that disk; this whole test
 * about 45 s on tmpfs and 6 minutes on the disk). Elsewhere they fall back
 * to $TMPDIR or /tmp, which the ctest timeout allows for.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "noxd_util.h"
#include "stream_util.h"

#define NFILES 100000
#define NTOP 100
#define NSUB 10
/* Five copies of the tree at most at once, each well under 512 MiB. */
#define SHM_NEEDED ((uint64_t)3 << 30)

static double secs_since(uint64_t t0) {
  return (double)(uv_hrtime() - t0) / 1e9;
}

static const char *pick_base(void) {
  struct statfs fs;
  struct statvfs vfs;
  if (statfs("/dev/shm", &fs) == 0 && fs.f_type == TMPFS_MAGIC &&
      statvfs("/dev/shm", &vfs) == 0 &&
      (uint64_t)vfs.f_bavail * vfs.f_frsize >= SHM_NEEDED &&
      access("/dev/shm", W_OK) == 0)
    return "/dev/shm";
  const char *tmp = getenv("TMPDIR");
  return tmp != NULL && tmp[0] == '/' ? tmp : "/tmp";
}

static void mkdir_mode(const char *root, const char *rel, unsigned mode) {
  char path[4200];
  snprintf(path, sizeof(path), "%s/%s", root, rel);
  ASSERT_EQ(mkdir(path, 0700), 0);
  ASSERT_EQ(chmod(path, mode), 0);
}

/*
 * NTOP x NSUB directories of 100 files each, of 0 to 4 bytes and one of
 * five modes (chosen independently of the size); empty directories, one
 * nested; symlinks to a file, to a directory and to nothing.
 */
static void build_tree(const char *src) {
  static const unsigned dir_modes[] = {0755, 0750, 0700};
  static const unsigned file_modes[] = {0644, 0600, 0755, 0444, 0640};
  char rel[64], path[4200];
  for (int t = 0; t < NTOP; t++) {
    snprintf(rel, sizeof(rel), "d%02d", t);
    mkdir_mode(src, rel, 0755);
    for (int s = 0; s < NSUB; s++) {
      snprintf(rel, sizeof(rel), "d%02d/s%d", t, s);
      mkdir_mode(src, rel, dir_modes[(t + s) % 3]);
    }
  }
  for (int i = 0; i < NFILES; i++) {
    snprintf(path, sizeof(path), "%s/d%02d/s%d/f%05d", src, i % NTOP,
             (i / NTOP) % NSUB, i);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ASSERT(fd >= 0);
    char data[4] = {(char)i, (char)(i >> 8), (char)(i >> 16), 'z'};
    size_t len = (size_t)i % 5;
    ASSERT_EQ(write(fd, data, len), (ssize_t)len);
    ASSERT_EQ(fchmod(fd, file_modes[(i / 7) % 5]), 0);
    ASSERT_EQ(close(fd), 0);
  }
  mkdir_mode(src, "empty", 0755);
  mkdir_mode(src, "d07/s3/empty", 0700);
  mkdir_mode(src, "deep", 0755);
  mkdir_mode(src, "deep/er", 0750);
  mkdir_mode(src, "deep/er/est", 0755);
  snprintf(path, sizeof(path), "%s/to-file", src);
  ASSERT_EQ(symlink("d00/s0/f00000", path), 0);
  snprintf(path, sizeof(path), "%s/d01/to-dir", src);
  ASSERT_EQ(symlink("s1", path), 0);
  snprintf(path, sizeof(path), "%s/d02/s2/dangling", src);
  ASSERT_EQ(symlink("../nowhere", path), 0);
}

/* Equal snapshots, or the first line that differs (not 6 MB of both). */
static void expect_same(const char *got, const char *want) {
  if (strcmp(got, want) == 0)
    return;
  size_t i = 0, line = 0;
  while (got[i] == want[i]) {
    if (got[i] == '\n')
      line = i + 1;
    i++;
  }
  fprintf(stderr, "trees differ at:\n  got  %.200s\n  want %.200s\n",
          got + line, want + line);
  abort();
}

static void on_done(nox_req_t *req, int status) {
  int *st = nox_req_data(req);
  if (status != 0)
    fprintf(stderr, "status %s: %s\n", nox_err_name(status),
            nox_req_error(req)->message);
  *st = status;
}

static void on_created(nox_req_t *req, int status,
                       const nox_sandbox_info_t *info) {
  (void)info;
  on_done(req, status);
}

/* Up, down into out, compare; the tree's entry count is n. */
static void round_trip(const char *url, const char *src, const char *out,
                       const char *want, size_t n) {
  ht_t t;
  memset(&t, 0, sizeof(t));
  ASSERT_EQ(uv_loop_init(&t.loop), 0);
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.base_url = url;
  o.isolation = NOX_ISOLATION_NONE;
  o.max_retries = NOX_RETRIES_NONE;
  /* A stall, not a deadline: generous for a loaded sanitizer build. */
  o.request_timeout_ms = 300000;
  ASSERT_EQ(nox_client_new(&t.client, &t.loop, &o), 0);
  t.clients = 1;

  int st = 1;
  ASSERT_EQ(nox_create(NULL, t.client, "many", NULL, on_created, &st), 0);
  while (st == 1)
    uv_run(&t.loop, UV_RUN_ONCE);
  ASSERT_EQ(st, 0);

  uint64_t t0 = uv_hrtime();
  st_xfer_t up;
  st_xfer_init(&up, &t);
  nox_upload_options_t uo = NOX_UPLOAD_OPTIONS_INIT;
  uo.dir = src;
  uo.dest = "/workspace/tree";
  ASSERT_EQ(nox_upload(&up.req, t.client, "many", &uo, st_on_done, &up), 0);
  t.pending++;
  ht_wait(&t);
  ST_EXPECT(&up, 0);
  ASSERT_EQ(up.rep.entries, n);
  printf("  upload   %6.2f s, %llu bytes\n", secs_since(t0),
         (unsigned long long)up.rep.bytes);

  t0 = uv_hrtime();
  st_xfer_t down;
  st_download_dir(&t, &down, t.client, "many", "/workspace/tree", out);
  ST_EXPECT(&down, 0);
  ASSERT_EQ(down.rep.entries, n);
  ASSERT_EQ(down.rep.refused, 0);
  printf("  download %6.2f s\n", secs_since(t0));

  t0 = uv_hrtime();
  char *got = st_snapshot(out, NULL, true);
  expect_same(got, want);
  free(got);
  printf("  compare  %6.2f s\n", secs_since(t0));
  ht_end(&t);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  ASSERT_EQ(nox_library_init(), 0);
  const char *base = pick_base();
  printf("trees under %s\n", base);
  char tmpl[4200];
  snprintf(tmpl, sizeof(tmpl), "%s/nox-many-XXXXXX", base);
  ASSERT(mkdtemp(tmpl) != NULL);
  char src[4300], out[4300], sandboxes[4300], url[4400];
  snprintf(src, sizeof(src), "%s/src", tmpl);
  ASSERT_EQ(mkdir(src, 0755), 0);

  uint64_t t0 = uv_hrtime();
  build_tree(src);
  char *want = st_snapshot(src, NULL, true);
  size_t n = st_count(src);
  ASSERT_EQ(n, NFILES + NTOP + NTOP * NSUB + 5 + 3);
  printf("built %zu entries in %.2f s\n", n, secs_since(t0));

  printf("[ RUN  ] local\n");
  snprintf(sandboxes, sizeof(sandboxes), "%s/sandboxes", tmpl);
  ASSERT_EQ(mkdir(sandboxes, 0700), 0);
  snprintf(url, sizeof(url), "local://%s", sandboxes);
  snprintf(out, sizeof(out), "%s/out-local", tmpl);
  round_trip(url, src, out, want, n);
  /* Room for the next copies on a tmpfs. */
  st_rmtree(out);
  st_rmtree(sandboxes);

  printf("[ RUN  ] noxd\n");
  static const char *const extra[] = {"--max-body", "65536", NULL};
  noxd_test_t noxd;
  ASSERT_EQ(noxd_test_start_in(&noxd, tmpl, "none", extra), 0);
  snprintf(out, sizeof(out), "%s/out-noxd", tmpl);
  round_trip(noxd.srv.url, src, out, want, n);
  ASSERT(noxd_test_alive(&noxd));
  ASSERT_EQ(noxd_test_stop(&noxd), 0);

  free(want);
  t0 = uv_hrtime();
  st_rmtree(tmpl);
  ASSERT(!st_exists(tmpl));
  printf("removed in %.2f s\n", secs_since(t0));
  nox_library_cleanup();
  return 0;
}
