/*
 * Uploads and downloads on the wire: the gzip tar the library packs (listed
 * back with libarchive), ready archives sent byte for byte, percent-encoded
 * dest and src, bytes streamed to on_data.
 */
#include "http_common.h"

#include <archive.h>
#include <archive_entry.h>

static const char *header(yajl_val e, const char *name) {
  return nox_test_json_str(e, "headers", name);
}

static const char *query(yajl_val e, const char *name) {
  return nox_test_json_str(e, "query", name);
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
  const char *q = ht_check_target(e, "/v1/sandboxes/up/files/upload");
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
  const char *q = ht_check_target(e, "/v1/sandboxes/dl/files/download");
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

int main(int argc, char **argv) {
  static const ht_case_t cases[] = {
      {"upload_files_wire", test_upload_files_wire},
      {"upload_archive_wire", test_upload_archive_wire},
      {"download_wire", test_download_wire},
  };
  return HT_RUN(cases);
}
