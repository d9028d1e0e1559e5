/*
 * The registry's journal (lib/registry.c): nox__journal_write() encodes
 * records into a real file, nox__journal_parse() decodes them back, lines
 * the writer cannot have made are refused with NOX_EINVAL and ids over
 * NOX__MAX_SESSION_ID with NOX_ETOOBIG; then nox_journal_reap() reads a
 * hand-written journal of good, bad and overlong lines and makes handles
 * for exactly the sandboxes created and not deleted, in order, and rewrites
 * the journal to what it could not delete.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "registry.h"
#include "test.h"

static char dir[] = "/tmp/nox-journal-XXXXXX";

static char *path_in(const char *name) {
  static char p[4][256];
  static int k;
  char *s = p[k++ % 4];
  snprintf(s, 256, "%s/%s", dir, name);
  return s;
}

static bool plain(unsigned char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
         ch == '~';
}

/* The line holds only what the writer emits: plain bytes and %XX. */
static void check_encoded(const char *line) {
  static const char hex[] = "0123456789ABCDEF";
  for (const char *p = line + 2; *p; p++) {
    if (*p == '%') {
      ASSERT(p[1] && strchr(hex, p[1]) && p[2] && strchr(hex, p[2]));
      p += 2;
    } else {
      ASSERT(plain((unsigned char)*p));
    }
  }
}

/* Records written by the library come back as they went in. */
static void test_round_trip(void) {
  char all[256], max_plain[NOX__MAX_SESSION_ID + 1],
      max_hex[NOX__MAX_SESSION_ID + 1], over[NOX__MAX_SESSION_ID + 2];
  for (int i = 1; i < 256; i++)
    all[i - 1] = (char)i; /* every byte but NUL */
  all[255] = '\0';
  memset(max_plain, 'a', NOX__MAX_SESSION_ID);
  max_plain[NOX__MAX_SESSION_ID] = '\0';
  memset(max_hex, 0xff, NOX__MAX_SESSION_ID); /* the longest line there is */
  max_hex[NOX__MAX_SESSION_ID] = '\0';
  memset(over, 'b', NOX__MAX_SESSION_ID + 1);
  over[NOX__MAX_SESSION_ID + 1] = '\0';
  const char *ids[] = {"plain-id_1.2~",
                       "with space",
                       "slash/and%percent",
                       "caf\xc3\xa9",
                       "line\nbreak",
                       "C D",
                       all,
                       max_plain,
                       max_hex};
  const char kinds[] = {'C', 'C', 'D', 'C', 'D', 'C', 'C', 'D', 'C'};
  size_t n = sizeof(ids) / sizeof(ids[0]);

  struct nox__registry r;
  memset(&r, 0, sizeof(r));
  const char *jp = path_in("round.journal");
  r.journal_fd = open(jp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT(r.journal_fd >= 0);
  for (size_t i = 0; i < n; i++)
    ASSERT_EQ(nox__journal_write(&r, kinds[i], ids[i]), 0);
  /* Too long for an id: refused, and nothing of it is written. */
  struct stat st, st2;
  ASSERT_EQ(fstat(r.journal_fd, &st), 0);
  ASSERT_EQ(nox__journal_write(&r, 'C', over), NOX_EINVAL);
  ASSERT_EQ(fstat(r.journal_fd, &st2), 0);
  ASSERT_EQ(st2.st_size, st.st_size);
  r.opts.journal_fsync = 1; /* the same line, synced */
  ASSERT_EQ(nox__journal_write(&r, 'D', "synced"), 0);
  ASSERT_EQ(close(r.journal_fd), 0);
  /* Without a journal, writing is a no-op that succeeds. */
  r.journal_fd = -1;
  ASSERT_EQ(nox__journal_write(&r, 'C', "x"), 0);
  ASSERT_EQ(nox__journal_write(NULL, 'C', "x"), 0);

  FILE *f = fopen(jp, "re");
  ASSERT(f != NULL);
  char line[4 * NOX__MAX_SESSION_ID];
  for (size_t i = 0; i <= n; i++) {
    ASSERT(fgets(line, sizeof(line), f) != NULL);
    size_t len = strlen(line);
    ASSERT(len > 0 && line[len - 1] == '\n'); /* one line per record */
    line[len - 1] = '\0';
    ASSERT(strchr(line, '\n') == NULL);
    check_encoded(line);
    char kind = 0;
    const char *id = NULL;
    ASSERT_EQ(nox__journal_parse(line, &kind, &id), 0);
    ASSERT_EQ(kind, i < n ? kinds[i] : 'D');
    ASSERT_STR_EQ(id, i < n ? ids[i] : "synced");
  }
  ASSERT(fgets(line, sizeof(line), f) == NULL);
  fclose(f);
  ASSERT_EQ(unlink(jp), 0);
}

/* Lines the writer cannot have made are no records. */
static void test_refused(void) {
  static const struct {
    const char *line;
    int err;
  } cases[] = {
      {"", NOX_EINVAL},
      {"C", NOX_EINVAL},
      {"C ", NOX_EINVAL},   /* no id */
      {"Cid", NOX_EINVAL},  /* no separator */
      {"c id", NOX_EINVAL}, /* kinds are C and D only */
      {"X id", NOX_EINVAL}, /* an unknown kind */
      {"CD id", NOX_EINVAL},
      {" C id", NOX_EINVAL},
      {"C id extra", NOX_EINVAL}, /* an unknown field */
      {"C id ttl=30", NOX_EINVAL},
      {"C  id", NOX_EINVAL},
      {"C id\r", NOX_EINVAL}, /* a CRLF line */
      {"C id\t", NOX_EINVAL},
      {"C caf\xc3\xa9", NOX_EINVAL}, /* raw bytes the writer escapes */
      {"C bad%", NOX_EINVAL},        /* escapes cut short */
      {"C bad%4", NOX_EINVAL},
      {"C bad%zz", NOX_EINVAL},
      {"C bad%4g", NOX_EINVAL},
      {"C %00", NOX_EINVAL}, /* an id holds no NUL byte */
      {"C a%00b", NOX_EINVAL},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char line[64], kind = 'z';
    const char *id = "untouched";
    snprintf(line, sizeof(line), "%s", cases[i].line);
    ASSERT_EQ(nox__journal_parse(line, &kind, &id), cases[i].err);
    ASSERT_EQ(kind, 'z');
    ASSERT_STR_EQ(id, "untouched");
  }

  /* Escapes in either case decode; the writer's are upper case. */
  char ok[] = "D ok%2fx%2Fy%7e", kind;
  const char *id;
  ASSERT_EQ(nox__journal_parse(ok, &kind, &id), 0);
  ASSERT_EQ(kind, 'D');
  ASSERT_STR_EQ(id, "ok/x/y~");

  /* An id of NOX__MAX_SESSION_ID bytes is one; a byte more is too long. */
  static char big[3 * (NOX__MAX_SESSION_ID + 1) + 3];
  for (int hex = 0; hex < 2; hex++) {
    for (size_t len = NOX__MAX_SESSION_ID; len <= NOX__MAX_SESSION_ID + 1;
         len++) {
      size_t k = 0;
      big[k++] = 'C';
      big[k++] = ' ';
      for (size_t i = 0; i < len; i++) {
        if (hex) {
          memcpy(big + k, "%41", 3);
          k += 3;
        } else {
          big[k++] = 'A';
        }
      }
      big[k] = '\0';
      int want = len > NOX__MAX_SESSION_ID ? NOX_ETOOBIG : 0;
      ASSERT_EQ(nox__journal_parse(big, &kind, &id), want);
      if (want == 0)
        ASSERT_UEQ(strlen(id), len);
    }
  }
}

typedef struct {
  int calls;
  size_t released, failed;
  char failed_id[64];
  int failed_status;
} reaped_t;

static void on_reaped(nox_client_t *c, const nox_release_report_t *rep,
                      void *data) {
  reaped_t *r = data;
  (void)c;
  r->calls++;
  r->released = rep->released;
  r->failed = rep->failed;
  if (rep->failed > 0) {
    snprintf(r->failed_id, sizeof(r->failed_id), "%s", rep->failed_ids[0]);
    r->failed_status = rep->failed_status[0];
  }
}

/* A journal of good, bad and overlong lines, as a crash may leave one. */
static void write_journal(const char *p) {
  FILE *f = fopen(p, "we");
  ASSERT(f != NULL);
  fputs("C alpha\n", f);
  fputs("C be%20ta\n", f);
  fputs("garbage\n", f);
  fputs("X gamma\n", f);
  fputs("C gamma extra\n", f);
  fputs("C %00\n", f);
  fputs("C bad%2\n", f);
  fputs("D alpha\n", f);
  fputs("D never-created\n", f);
  /*
   * Longer than any record, and cut where a reader's line buffer ends: the
   * head would read as an id too long, the tail as a record by itself.
   */
  fputs("C ", f);
  for (int i = 0; i < 3 * (int)NOX__MAX_SESSION_ID + 5; i++)
    fputc('x', f);
  fputs("C evil\n", f);
  fputs("C ", f); /* an id of a byte too many, within the line buffer */
  for (int i = 0; i <= (int)NOX__MAX_SESSION_ID; i++)
    fputc('y', f);
  fputc('\n', f);
  fputs("C gamma\n", f);
  fputs("C gamma\n", f); /* created twice: one sandbox */
  fputs("C delta", f);   /* the last line, its newline lost */
  ASSERT_EQ(fclose(f), 0);
}

/* The ids of the client's handles, in registry order, "," between. */
static void handle_ids(nox_client_t *c, char *out, size_t len) {
  struct nox__registry *r = c->registry;
  size_t k = 0;
  out[0] = '\0';
  ASSERT(r != NULL);
  for (nox__list_t *it = r->handles.next; it != &r->handles; it = it->next) {
    nox_sandbox_t *sb = nox__list_entry(it, nox_sandbox_t, node);
    int w = snprintf(out + k, len - k, "%s%s", k ? "," : "", sb->id);
    ASSERT(w > 0 && (size_t)w < len - k);
    k += (size_t)w;
  }
}

/*
 * Reaping on the local backend: the unknown sandboxes are gone already
 * (404), so all count as deleted and the journal is removed.
 */
static void test_reap_local(uv_loop_t *loop) {
  char url[300], ids[256];
  const char *jp = path_in("local.journal");
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  nox_client_t *c;
  reaped_t rep;
  memset(&rep, 0, sizeof(rep));

  ASSERT_EQ(mkdir(path_in("root"), 0700), 0);
  snprintf(url, sizeof(url), "local://%s", path_in("root"));
  o.base_url = url;
  ASSERT_EQ(nox_client_new(&c, loop, &o), 0);
  write_journal(jp);
  ASSERT_EQ(nox_journal_reap(c, jp, on_reaped, &rep), 0);
  handle_ids(c, ids, sizeof(ids));
  ASSERT_STR_EQ(ids, "be ta,gamma,delta");
  uv_run(loop, UV_RUN_DEFAULT);
  ASSERT_EQ(rep.calls, 1);
  ASSERT_UEQ(rep.released, 3);
  ASSERT_UEQ(rep.failed, 0);
  ASSERT_EQ(access(jp, F_OK), -1);
  ASSERT_EQ(nox_client_close(c, NULL, NULL), 0);
  uv_run(loop, UV_RUN_DEFAULT);
}

/*
 * Reaping against a port nothing listens on: every delete fails, and the
 * journal is rewritten with the writer's encoding to hold exactly those.
 */
static void test_reap_rewrite(uv_loop_t *loop) {
  char url[64], line[64];
  const char *jp = path_in("http.journal");
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  nox_registry_options_t ro = NOX_REGISTRY_OPTIONS_INIT;
  nox_client_t *c;
  reaped_t rep;
  memset(&rep, 0, sizeof(rep));

  snprintf(url, sizeof(url), "http://127.0.0.1:%d", nox_test_unused_port());
  o.base_url = url;
  o.max_retries = NOX_RETRIES_NONE;
  ASSERT_EQ(nox_client_new(&c, loop, &o), 0);
  ro.delete_attempts = 1;
  ro.max_deletes = 1;
  ASSERT_EQ(nox_registry_configure(c, &ro), 0);
  write_journal(jp);
  ASSERT_EQ(nox_journal_reap(c, jp, on_reaped, &rep), 0);
  uv_run(loop, UV_RUN_DEFAULT);
  ASSERT_EQ(rep.calls, 1);
  ASSERT_UEQ(rep.released, 0);
  ASSERT_UEQ(rep.failed, 3);
  ASSERT_STR_EQ(rep.failed_id, "be ta");
  ASSERT_EQ(rep.failed_status, NOX_ECONNECT);

  FILE *f = fopen(jp, "re");
  ASSERT(f != NULL);
  static const char *const want[] = {"C be%20ta\n", "C gamma\n", "C delta\n"};
  for (int i = 0; i < 3; i++) {
    ASSERT(fgets(line, sizeof(line), f) != NULL);
    ASSERT_STR_EQ(line, want[i]);
  }
  ASSERT(fgets(line, sizeof(line), f) == NULL);
  fclose(f);
  ASSERT_EQ(unlink(jp), 0);
  ASSERT_EQ(nox_client_close(c, NULL, NULL), 0);
  uv_run(loop, UV_RUN_DEFAULT);
}

int main(void) {
  uv_loop_t loop;
  char cmd[300];
  ASSERT_EQ(nox_library_init(), 0);
  ASSERT(mkdtemp(dir) != NULL);
  ASSERT_EQ(uv_loop_init(&loop), 0);
  test_round_trip();
  test_refused();
  test_reap_local(&loop);
  test_reap_rewrite(&loop);
  ASSERT_LOOP_CLOSES(&loop);
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  ASSERT_EQ(system(cmd), 0);
  nox_library_cleanup();
  return 0;
}
