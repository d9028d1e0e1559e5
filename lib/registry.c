/*
 * The registry of sandbox handles, the journal, and batches of releases
 * (release-all, the client's close, and reaping a crashed process's
 * journal). A batch runs at most max_deletes releases at once; each release
 * retries its own delete.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry.h"
#include "text.h"

#define DEFAULT_MAX_DELETES 16u
#define DEFAULT_DELETE_ATTEMPTS 3u
#define DEFAULT_DELETE_BACKOFF_MS 200u

typedef struct nox__batch {
  nox_client_t *client;
  nox__list_t todo; /* handles waiting for a slot (bnode) */
  size_t running, max;
  size_t released, failed, cap;
  char **failed_ids;
  int *failed_status;
  bool for_close;
  char *reap_path; /* reap: the journal to rewrite at the end */
  nox_release_all_cb cb;
  void *data;
  uv_timer_t timer; /* reports an empty batch from the loop */
} nox__batch_t;

static void apply_defaults(nox_registry_options_t *o) {
  if (o->max_deletes == 0)
    o->max_deletes = DEFAULT_MAX_DELETES;
  if (o->delete_attempts == 0)
    o->delete_attempts = DEFAULT_DELETE_ATTEMPTS;
  if (o->delete_backoff_ms == 0)
    o->delete_backoff_ms = DEFAULT_DELETE_BACKOFF_MS;
}

struct nox__registry *nox__registry_get(nox_client_t *c) {
  if (c->registry != NULL)
    return c->registry;
  struct nox__registry *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return NULL;
  nox__list_init(&r->handles);
  r->opts.version = NOX_REGISTRY_OPTIONS_VERSION;
  apply_defaults(&r->opts);
  r->journal_fd = -1;
  c->registry = r;
  return r;
}

void nox__registry_free(nox_client_t *c) {
  struct nox__registry *r = c->registry;
  if (r == NULL)
    return;
  if (r->journal_fd >= 0)
    close(r->journal_fd);
  free(r->journal_path);
  free(r);
  c->registry = NULL;
}

size_t nox__registry_count(const nox_client_t *c) {
  return c->registry ? c->registry->count : 0;
}

static int registry_configure(nox_client_t *c,
                              const nox_registry_options_t *o) {
  static const char fn[] = "nox_registry_configure";
  if (o == NULL)
    return nox__api_fail(c, NOX_EINVAL, "%s: opts is NULL", fn);
  if (o->version != NOX_REGISTRY_OPTIONS_VERSION)
    return nox__api_fail(c, NOX_EINVAL,
                         "%s: opts->version is %u, not %d: initialise opts "
                         "with NOX_REGISTRY_OPTIONS_INIT",
                         fn, o->version, NOX_REGISTRY_OPTIONS_VERSION);
  struct nox__registry *r = nox__registry_get(c);
  if (r == NULL)
    return NOX_ENOMEM;
  if (r->used || r->journal_fd >= 0)
    return nox__api_fail(c, NOX_EALREADY,
                         "%s: too late: configure the registry once, before "
                         "the first nox_sandbox_new()",
                         fn);
  if (o->journal_path != NULL) {
    char *path = strdup(o->journal_path);
    if (path == NULL)
      return NOX_ENOMEM;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
      nox__api_fail(c, NOX_EIO, "%s: cannot open the journal %.*s: %s", fn,
                    160, path, strerror(errno));
      free(path);
      return NOX_EIO;
    }
    r->journal_path = path;
    r->journal_fd = fd;
  }
  r->opts = *o;
  r->opts.journal_path = r->journal_path;
  apply_defaults(&r->opts);
  return 0;
}

int nox_registry_configure(nox_client_t *c, const nox_registry_options_t *o) {
  if (c == NULL)
    return NOX_EINVAL;
  nox__api_enter(c);
  return nox__api_leave(c, "nox_registry_configure", registry_configure(c, o));
}

/* ---- journal ------------------------------------------------------------ */

static bool plain(unsigned char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
         ch == '~';
}

int nox__journal_write(struct nox__registry *r, char kind, const char *id) {
  if (r == NULL || r->journal_fd < 0)
    return 0;
  /* An id is at most 1024 bytes, 3 per byte encoded, plus "K " and "\n". */
  char line[3 * NOX__MAX_SESSION_ID + 4];
  size_t n = 0;
  if (strlen(id) > NOX__MAX_SESSION_ID)
    return NOX_EINVAL;
  line[n++] = kind;
  line[n++] = ' ';
  n += nox__percent_encode(line + n, id, "-_.~"); /* keeps what plain() does */
  line[n++] = '\n';
  /* One write(2) on an O_APPEND descriptor: a line is never torn apart. */
  ssize_t w;
  do
    w = write(r->journal_fd, line, n);
  while (w < 0 && errno == EINTR);
  if (w != (ssize_t)n)
    return NOX_EIO;
  if (r->opts.journal_fsync && fsync(r->journal_fd) != 0)
    return NOX_EIO;
  return 0;
}

static int unhex(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  return -1;
}

/*
 * Decodes a journal id in place: 0, NOX_EINVAL when it is not what
 * nox__journal_write() makes (a byte it would have escaped, a bad or NUL
 * escape, nothing), NOX_ETOOBIG when longer than an id may be.
 */
static int decode(char *s) {
  char *w = s;
  for (char *p = s; *p; p++) {
    if (*p != '%') {
      if (!plain((unsigned char)*p))
        return NOX_EINVAL;
      *w++ = *p;
      continue;
    }
    int hi = unhex(p[1]), lo = hi < 0 ? -1 : unhex(p[2]);
    if (lo < 0 || (hi | lo) == 0)
      return NOX_EINVAL;
    *w++ = (char)(hi << 4 | lo);
    p += 2;
  }
  *w = '\0';
  if (w == s)
    return NOX_EINVAL;
  return (size_t)(w - s) > NOX__MAX_SESSION_ID ? NOX_ETOOBIG : 0;
}

int nox__journal_parse(char *line, char *kind, const char **id) {
  if (strlen(line) < 3 || (line[0] != 'C' && line[0] != 'D') || line[1] != ' ')
    return NOX_EINVAL;
  int err = decode(line + 2);
  if (err != 0)
    return err;
  *kind = line[0];
  *id = line + 2;
  return 0;
}

/* ---- batches ------------------------------------------------------------ */

static void on_batch_timer_closed(uv_handle_t *h) {
  nox__batch_t *b = h->data;
  for (size_t i = 0; i < b->failed; i++)
    free(b->failed_ids[i]);
  free(b->failed_ids);
  free(b->failed_status);
  free(b->reap_path);
  free(b);
}

/* Rewrites a reaped journal to hold only what could not be deleted. */
static void rewrite_journal(nox__batch_t *b) {
  if (b->failed == 0) {
    unlink(b->reap_path);
    return;
  }
  struct nox__registry tmp;
  memset(&tmp, 0, sizeof(tmp));
  size_t len = strlen(b->reap_path);
  char *tpath = malloc(len + 5);
  if (tpath == NULL)
    return;
  memcpy(tpath, b->reap_path, len);
  memcpy(tpath + len, ".tmp", 5);
  tmp.journal_fd = open(tpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (tmp.journal_fd >= 0) {
    bool ok = true;
    for (size_t i = 0; ok && i < b->failed; i++)
      ok = nox__journal_write(&tmp, 'C', b->failed_ids[i]) == 0;
    ok = fsync(tmp.journal_fd) == 0 && ok;
    close(tmp.journal_fd);
    if (!ok || rename(tpath, b->reap_path) != 0)
      unlink(tpath);
  }
  free(tpath);
}

static void batch_end(nox__batch_t *b) {
  nox_client_t *c = b->client;
  struct nox__registry *r = c->registry;
  nox_release_report_t rep;
  if (b->reap_path != NULL)
    rewrite_journal(b);
  rep.released = b->released;
  rep.failed = b->failed;
  rep.failed_ids = (const char *const *)b->failed_ids;
  rep.failed_status = b->failed_status;
  r->batches--;
  if (b->cb != NULL)
    b->cb(c, &rep, b->data);
  if (b->for_close) {
    if (r->count == 0)
      nox__client_close_resume(c);
    else
      r->close_waiting = true; /* user releases still running */
  }
  uv_close((uv_handle_t *)&b->timer, on_batch_timer_closed);
}

static void on_batch_timer(uv_timer_t *t) {
  batch_end(t->data);
}

static void pump(nox__batch_t *b) {
  nox__list_t *n;
  while (b->running < b->max && (n = nox__list_pop_front(&b->todo))) {
    nox_sandbox_t *sb = nox__list_entry(n, nox_sandbox_t, bnode);
    b->running++;
    nox__sandbox_release_start(sb);
  }
}

void nox__registry_handle_done(nox_sandbox_t *sb, int status) {
  nox_client_t *c = sb->client;
  struct nox__registry *r = c->registry;
  nox__batch_t *b = sb->batch;
  if (b != NULL) {
    sb->batch = NULL;
    b->running--;
    if (status == 0) {
      b->released++;
    } else if (b->failed < b->cap) {
      char *id = strdup(sb->id);
      if (id != NULL) {
        b->failed_ids[b->failed] = id;
        b->failed_status[b->failed++] = status;
      }
    }
    pump(b);
    if (b->running == 0 && nox__list_empty(&b->todo))
      batch_end(b);
  }
  if (r->close_waiting && r->count == 0) {
    r->close_waiting = false;
    nox__client_close_resume(c);
  }
}

/*
 * Starts a batch over the handles picked by pick (every handle of the
 * registry not yet releasing, or the ones a reap made).
 */
static int batch_start(nox_client_t *c, bool for_close, char *reap_path,
                       bool (*pick)(nox_sandbox_t *sb), nox_release_all_cb cb,
                       void *data) {
  struct nox__registry *r = nox__registry_get(c);
  nox__batch_t *b = r ? calloc(1, sizeof(*b)) : NULL;
  size_t n = 0;
  nox__list_t *it;
  if (b == NULL)
    return NOX_ENOMEM;
  for (it = r->handles.next; it != &r->handles; it = it->next)
    n += pick(nox__list_entry(it, nox_sandbox_t, node));
  if (n > 0 && ((b->failed_ids = calloc(n, sizeof(char *))) == NULL ||
                (b->failed_status = calloc(n, sizeof(int))) == NULL)) {
    free(b->failed_ids);
    free(b);
    return NOX_ENOMEM;
  }
  b->client = c;
  b->cap = n;
  b->max = r->opts.max_deletes;
  b->for_close = for_close;
  b->reap_path = reap_path;
  b->cb = cb;
  b->data = data;
  nox__list_init(&b->todo);
  uv_timer_init(c->loop, &b->timer);
  b->timer.data = b;
  r->batches++;
  for (it = r->handles.next; it != &r->handles; it = it->next) {
    nox_sandbox_t *sb = nox__list_entry(it, nox_sandbox_t, node);
    if (!pick(sb))
      continue;
    sb->batch = b;
    nox__list_push_back(&b->todo, &sb->bnode);
  }
  if (nox__list_empty(&b->todo))
    uv_timer_start(&b->timer, on_batch_timer, 0, 0);
  else
    pump(b);
  return 0;
}

static bool pick_unreleased(nox_sandbox_t *sb) {
  return !sb->releasing && sb->batch == NULL;
}

int nox_sandbox_release_all(nox_client_t *c, nox_release_all_cb cb,
                            void *data) {
  if (c == NULL)
    return NOX_EINVAL;
  nox__api_enter(c);
  if (c->closing)
    return nox__api_fail(c, NOX_ECLOSING,
                         "nox_sandbox_release_all: the client is closing "
                         "(its close releases the handles)");
  return nox__api_leave(c, "nox_sandbox_release_all",
                        batch_start(c, false, NULL, pick_unreleased, cb, data));
}

bool nox__registry_close(nox_client_t *c) {
  struct nox__registry *r = c->registry;
  if (r == NULL || r->count == 0)
    return false;
  if (batch_start(c, true, NULL, pick_unreleased, r->opts.on_close,
                  r->opts.on_close_data) != 0) {
    /* Out of memory: release them all at once and wait for the last. */
    for (nox__list_t *it = r->handles.next; it != &r->handles; it = it->next) {
      nox_sandbox_t *sb = nox__list_entry(it, nox_sandbox_t, node);
      if (!sb->releasing)
        nox__sandbox_release_start(sb);
    }
    r->close_waiting = true;
  }
  return true;
}

/* ---- reaping a journal -------------------------------------------------- */

typedef struct {
  char **ids;
  size_t n, cap;
} idset_t;

static void idset_free(idset_t *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->ids[i]);
  free(s->ids);
}

/* The ids created and not deleted, in the order of their creation. */
static int load_journal(FILE *f, idset_t *s) {
  char line[3 * NOX__MAX_SESSION_ID + 8];
  bool longer = false; /* inside a line longer than any record */
  while (fgets(line, sizeof(line), f) != NULL) {
    size_t len = strlen(line);
    bool rest = longer;
    longer = !(len > 0 && line[len - 1] == '\n') && !feof(f);
    if (len > 0 && line[len - 1] == '\n')
      line[--len] = '\0';
    /* The pieces of an overlong line are no records, whatever they say. */
    if (rest || longer)
      continue;
    char kind;
    const char *id;
    /* A line torn by the crash, or garbage: skip it. */
    if (nox__journal_parse(line, &kind, &id) != 0)
      continue;
    size_t i = 0;
    while (i < s->n && strcmp(s->ids[i], id) != 0)
      i++;
    if (kind == 'D' && i < s->n) {
      free(s->ids[i]);
      memmove(&s->ids[i], &s->ids[i + 1], (s->n - i - 1) * sizeof(char *));
      s->n--;
    } else if (kind == 'C' && i == s->n) {
      if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        char **v = realloc(s->ids, cap * sizeof(char *));
        if (v == NULL)
          return NOX_ENOMEM;
        s->ids = v;
        s->cap = cap;
      }
      if ((s->ids[s->n] = strdup(id)) == NULL)
        return NOX_ENOMEM;
      s->n++;
    }
  }
  return ferror(f) ? NOX_EIO : 0;
}

static bool pick_reaped(nox_sandbox_t *sb) {
  return sb->batch == (void *)sb->client->registry;
}

static int journal_reap(nox_client_t *c, const char *path,
                        nox_release_all_cb cb, void *data) {
  static const char fn[] = "nox_journal_reap";
  if (path == NULL)
    return nox__api_fail(c, NOX_EINVAL, "%s: path is NULL", fn);
  if (cb == NULL)
    return nox__api_fail(c, NOX_EINVAL, "%s: cb is NULL", fn);
  if (c->closing)
    return nox__api_fail(c, NOX_ECLOSING, "%s: the client is closing", fn);
  struct nox__registry *r = nox__registry_get(c);
  if (r == NULL)
    return NOX_ENOMEM;
  if (r->journal_path != NULL && strcmp(r->journal_path, path) == 0)
    return nox__api_fail(c, NOX_EINVAL,
                         "%s: %.*s is this client's own journal: reap the "
                         "journal of a process that is gone",
                         fn, 160, path);
  idset_t s = {NULL, 0, 0};
  int err = 0;
  FILE *f = fopen(path, "re");
  if (f != NULL) {
    err = load_journal(f, &s);
    fclose(f);
  } else if (errno != ENOENT) {
    err = nox__api_fail(c, NOX_EIO, "%s: cannot read the journal %.*s: %s",
                        fn, 160, path, strerror(errno));
  }
  char *rpath = err == 0 ? strdup(path) : NULL;
  if (err == 0 && rpath == NULL)
    err = NOX_ENOMEM;
  /* The handles are marked with the registry itself until the batch starts. */
  for (size_t i = 0; err == 0 && i < s.n; i++) {
    nox_sandbox_t *sb = nox__sandbox_alloc(c, s.ids[i]);
    if (sb == NULL) {
      err = NOX_ENOMEM;
      break;
    }
    sb->created = true;
    sb->batch = (void *)r;
  }
  idset_free(&s);
  if (err == 0)
    err = batch_start(c, false, rpath, pick_reaped, cb, data);
  if (err != 0) {
    free(rpath);
    /* Nothing was sent yet: drop the handles made above. */
    nox__list_t *it = r->handles.next;
    while (it != &r->handles) {
      nox_sandbox_t *sb = nox__list_entry(it, nox_sandbox_t, node);
      it = it->next;
      if (pick_reaped(sb)) {
        sb->batch = NULL;
        nox__sandbox_discard(sb);
      }
    }
  }
  return err;
}

int nox_journal_reap(nox_client_t *c, const char *path, nox_release_all_cb cb,
                     void *data) {
  if (c == NULL)
    return NOX_EINVAL;
  nox__api_enter(c);
  return nox__api_leave(c, "nox_journal_reap",
                        journal_reap(c, path, cb, data));
}
