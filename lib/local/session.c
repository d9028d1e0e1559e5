/*
 * Sandboxes on disk: naming, the metadata file, and the lock that keeps
 * processes sharing a root from racing on create, delete and reap. Runs on
 * worker threads only.
 *
 * Names: an id whose encoding (unreserved bytes kept, the rest %XX) fits is
 * stored as "sb-" + that encoding, which is reversible, so two ids never
 * share it. Longer ids use a readable prefix, "~" (always escaped in the
 * short form, so the two forms never meet) and a 64-bit hash of the whole
 * id; the full id in meta.json is checked on every open, so even a hash
 * collision is refused instead of sharing a sandbox.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "local/local.h"
#include "text.h"

#define NAME_PREFIX "sb-"
#define TRASH_PREFIX ".trash-"
#define META_FILE "meta.json"
#define MAX_SHORT_NAME 150
#define LONG_NAME_KEEP 100
#define META_MAX_BYTES ((size_t)64 * 1024)

/* Percent-encodes every byte but [A-Za-z0-9._-]. */
static char *encode(const char *s) {
  char *out = malloc(strlen(s) * 3 + 1);
  if (out != NULL)
    nox__percent_encode(out, s, "._-");
  return out;
}

char *nox__local_dirname(const char *id) {
  char *enc = encode(id), *name;
  size_t keep;

  if (enc == NULL)
    return NULL;
  if (strlen(enc) <= MAX_SHORT_NAME) {
    name = malloc(sizeof(NAME_PREFIX) + strlen(enc));
    if (name != NULL)
      sprintf(name, NAME_PREFIX "%s", enc);
    free(enc);
    return name;
  }
  uint64_t h = nox__fnv1a(NOX__FNV1A_INIT, id);
  keep = LONG_NAME_KEEP;
  /* Cut before an escape rather than through it, for readability. */
  if (enc[keep - 1] == '%')
    keep -= 1;
  else if (enc[keep - 2] == '%')
    keep -= 2;
  name = malloc(sizeof(NAME_PREFIX) + keep + 1 + 16);
  if (name != NULL)
    sprintf(name, NAME_PREFIX "%.*s~%016llx", (int)keep, enc,
            (unsigned long long)h);
  free(enc);
  return name;
}

void nox__local_meta_free(nox__local_meta_t *m) {
  free(m->id);
  free(m->image);
  free(m->cpu_limit);
  free(m->memory_limit);
  free(m->storage_limit);
  memset(m, 0, sizeof(*m));
}

/*
 * a/b, malloc'd, or NULL when out of memory. Neither may be NULL (every
 * caller passes the client's root, which open_root() made with realpath(),
 * or a name it checked). asprintf() sizes the buffer itself: no length is
 * computed by hand, and no path through strlen(NULL) exists for a compiler
 * to warn about (GCC 12 did, with UBSan's recoverable checks).
 */
static char *join(const char *a, const char *b) {
  char *p;

  if (asprintf(&p, "%s/%s", a, b) < 0)
    return NULL;
  return p;
}

/* ---- the metadata file -------------------------------------------------- */

static int gen_str(yajl_gen g, const char *key, const char *val) {
  if (val == NULL)
    return 0;
  return yajl_gen_string(g, (const unsigned char *)key, strlen(key)) ||
         yajl_gen_string(g, (const unsigned char *)val, strlen(val));
}

static int gen_int(yajl_gen g, const char *key, long long val) {
  return yajl_gen_string(g, (const unsigned char *)key, strlen(key)) ||
         yajl_gen_integer(g, val);
}

/* Writes sbdir/meta.json atomically (a temporary file, then rename). */
static int meta_write(const char *sbdir, const nox__local_meta_t *m) {
  yajl_gen g = yajl_gen_alloc(NULL);
  const unsigned char *buf;
  size_t len;
  char *tmp = join(sbdir, META_FILE ".tmp"), *dst = join(sbdir, META_FILE);
  char *image = m->image ? encode(m->image) : NULL;
  int fd, r = NOX_EIO;

  if (g == NULL || tmp == NULL || dst == NULL ||
      (m->image != NULL && image == NULL)) {
    r = NOX_ENOMEM;
    goto done;
  }
  /* Limits are checked quantities and the id is stored encoded: ASCII only. */
  if (yajl_gen_map_open(g) || gen_str(g, "id", m->id) ||
      gen_int(g, "createdAt", m->created_at) ||
      gen_int(g, "expiresAt", m->expires_at) ||
      gen_int(g, "ttlSeconds", m->ttl_seconds) || gen_str(g, "image", image) ||
      gen_str(g, "cpuLimit", m->cpu_limit) ||
      gen_str(g, "memoryLimit", m->memory_limit) ||
      gen_str(g, "ephemeralStorageLimit", m->storage_limit) ||
      yajl_gen_map_close(g) || yajl_gen_get_buf(g, &buf, &len))
    goto done;
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    goto done;
  if (write(fd, buf, len) != (ssize_t)len) {
    close(fd);
    unlink(tmp);
    goto done;
  }
  if (close(fd) != 0 || rename(tmp, dst) != 0) {
    unlink(tmp);
    goto done;
  }
  r = 0;

done:
  if (g != NULL)
    yajl_gen_free(g);
  free(image);
  free(tmp);
  free(dst);
  return r;
}

/*
 * A copy of a string field: 0 and *out set (NULL when absent), or
 * NOX_ENOMEM. Absent and out-of-memory must stay apart: callers treat
 * unreadable metadata as a broken sandbox, and a failed allocation must
 * never make a live sandbox look broken.
 */
static int dup_field(yajl_val root, const char *key, char **out) {
  const char *path[] = {key, NULL};
  yajl_val v = yajl_tree_get(root, path, yajl_t_string);

  *out = NULL;
  if (v == NULL)
    return 0;
  *out = strdup(v->u.string);
  return *out ? 0 : NOX_ENOMEM;
}

static int int_field(yajl_val root, const char *key, long long *out) {
  const char *path[] = {key, NULL};
  yajl_val v = yajl_tree_get(root, path, yajl_t_number);

  if (v == NULL || !YAJL_IS_INTEGER(v))
    return -1;
  *out = YAJL_GET_INTEGER(v);
  return 0;
}

/* Returns 0, NOX_ENOTFOUND (no sandbox here) or NOX_EIO (unreadable). */
static int meta_read(const char *sbdir, nox__local_meta_t *m) {
  char *path = join(sbdir, META_FILE), *text = NULL;
  yajl_val root = NULL;
  long long created, expires, ttl;
  ssize_t n;
  int fd, r = NOX_EIO;

  memset(m, 0, sizeof(*m));
  if (path == NULL)
    return NOX_ENOMEM;
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  free(path);
  if (fd < 0)
    return errno == ENOENT || errno == ENOTDIR ? NOX_ENOTFOUND : NOX_EIO;
  text = malloc(META_MAX_BYTES + 1);
  if (text == NULL) {
    close(fd);
    return NOX_ENOMEM;
  }
  n = read(fd, text, META_MAX_BYTES);
  close(fd);
  if (n <= 0)
    goto done;
  text[n] = '\0';
  char ybuf[128] = "";
  root = yajl_tree_parse(text, ybuf, sizeof(ybuf));
  if (root == NULL) {
    if (strstr(ybuf, "memory") != NULL)
      r = NOX_ENOMEM;
    goto done;
  }
  if (int_field(root, "createdAt", &created) != 0 ||
      int_field(root, "expiresAt", &expires) != 0 ||
      int_field(root, "ttlSeconds", &ttl) != 0 || ttl < 0 ||
      ttl > UINT32_MAX)
    goto done;
  if (dup_field(root, "id", &m->id) != 0 ||
      dup_field(root, "image", &m->image) != 0 ||
      dup_field(root, "cpuLimit", &m->cpu_limit) != 0 ||
      dup_field(root, "memoryLimit", &m->memory_limit) != 0 ||
      dup_field(root, "ephemeralStorageLimit", &m->storage_limit) != 0) {
    r = NOX_ENOMEM;
    goto done;
  }
  if (m->id == NULL)
    goto done; /* no id: not ours to trust */
  m->created_at = created;
  m->expires_at = expires;
  m->ttl_seconds = (uint32_t)ttl;
  r = 0;

done:
  if (r != 0)
    nox__local_meta_free(m);
  yajl_tree_free(root);
  free(text);
  return r;
}

/*
 * Times are whole seconds, so a sandbox lives until the second after its
 * expiry has passed: never shorter than its ttl, at most a second longer.
 */
static bool expired(const nox__local_meta_t *m, int64_t now) {
  return m->expires_at < now;
}

/* ---- locking and removal ------------------------------------------------ */

static int lock_root(const char *root) {
  char *path = join(root, ".lock");
  int fd;

  if (path == NULL)
    return -1;
  fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  free(path);
  if (fd < 0)
    return -1;
  while (flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      close(fd);
      return -1;
    }
  }
  return fd;
}

static void unlock_root(int fd) {
  close(fd); /* drops the flock */
}

/*
 * Moves a sandbox out of the way under the lock, so the slow removal can
 * happen after it is released. Returns the trash path or NULL.
 */
static char *to_trash(const char *root, const char *name) {
  char *src = join(root, name);
  char *dst = NULL;

  if (src == NULL ||
      asprintf(&dst, "%s/" TRASH_PREFIX "%ld-%llx-%s", root, (long)getpid(),
               (unsigned long long)uv_hrtime(), name) < 0) {
    dst = NULL;
    goto fail;
  }
  if (rename(src, dst) != 0)
    goto fail;
  free(src);
  return dst;

fail:
  free(src);
  free(dst);
  return NULL;
}

static void empty_trash(char *trash) {
  if (trash != NULL)
    nox__local_rmtree(trash);
  free(trash);
}

/* ---- operations --------------------------------------------------------- */

/*
 * Live sandboxes under root, stopping at limit: directories whose metadata
 * reads and has not expired. Runs under the lock, so no process can add
 * one meanwhile. Returns the count, or -1 when an allocation failed.
 */
static long count_live(const char *root, int64_t now, long limit) {
  nox__local_meta_t m;
  struct dirent *de;
  char *sbdir;
  long n = 0;
  DIR *d = opendir(root);
  int r;

  while (d != NULL && n < limit && (de = readdir(d)) != NULL) {
    if (strncmp(de->d_name, NAME_PREFIX, sizeof(NAME_PREFIX) - 1) != 0)
      continue;
    sbdir = join(root, de->d_name);
    if (sbdir == NULL) {
      n = -1;
      break;
    }
    r = meta_read(sbdir, &m);
    free(sbdir);
    if (r == NOX_ENOMEM) {
      n = -1;
      break;
    }
    if (r == 0 && !expired(&m, now))
      n++;
    nox__local_meta_free(&m);
  }
  if (d != NULL)
    closedir(d);
  return n;
}

static int copy_limit(char **dst, const char *src) {
  if (src == NULL)
    return 0;
  free(*dst);
  *dst = strdup(src);
  return *dst ? 0 : NOX_ENOMEM;
}

int nox__local_session_open(nox__local_job_t *job, nox__sess_mode_t mode) {
  const char *root = job->local->root;
  char *name = nox__local_dirname(job->session_id);
  char *enc = encode(job->session_id);
  char *sbdir = NULL, *ws = NULL, *trash = NULL;
  nox__local_meta_t *m = &job->meta;
  int64_t now = (int64_t)time(NULL);
  uint32_t ttl, max = job->local->client->opts.local_max_sandboxes;
  int fd = -1, r, exists;

  if (name == NULL || enc == NULL || (sbdir = join(root, name)) == NULL ||
      (ws = join(sbdir, "workspace")) == NULL) {
    r = NOX_ENOMEM;
    goto done;
  }
  fd = lock_root(root);
  if (fd < 0) {
    snprintf(job->msg, sizeof(job->msg), "cannot lock %s: %s", root,
             strerror(errno));
    r = NOX_EIO;
    goto done;
  }

  r = meta_read(sbdir, m);
  if (r == NOX_ENOMEM)
    goto done;
  exists = r == 0;
  if (exists && strcmp(m->id, enc) != 0) {
    snprintf(job->msg, sizeof(job->msg),
             "session id collides with another sandbox's directory %s", name);
    r = NOX_EIO;
    goto done;
  }
  /* Expired, or left half-made by a crash: gone as far as callers know. */
  if (!exists || expired(m, now)) {
    nox__local_meta_free(m);
    if (access(sbdir, F_OK) == 0 && (trash = to_trash(root, name)) != NULL)
      nox__local_cgroup_drop(job->local, name);
    exists = 0;
  }

  if (!exists && mode != NOX__SESS_CREATE && mode != NOX__SESS_ENSURE) {
    snprintf(job->msg, sizeof(job->msg), "no sandbox \"%.200s\"",
             job->session_id);
    r = NOX_ENOTFOUND;
    goto done;
  }
  if (!exists && max > 0) {
    long live = count_live(root, now, (long)max);
    if (live < 0) {
      r = NOX_ENOMEM;
      goto done;
    }
    if (live >= (long)max) {
      snprintf(job->msg, sizeof(job->msg),
               "too many sandboxes (the limit is %u); delete one or retry "
               "when one expires",
               (unsigned)max);
      r = NOX_EUNAVAIL;
      goto done;
    }
  }
  if (!exists) {
    if (mkdir(sbdir, 0700) != 0 || mkdir(ws, 0755) != 0) {
      snprintf(job->msg, sizeof(job->msg), "cannot create %s: %s", sbdir,
               strerror(errno));
      r = NOX_EIO;
      goto done;
    }
    m->id = enc;
    enc = NULL;
    m->created_at = now;
    m->ttl_seconds = NOX__DEFAULT_TTL_SECONDS;
  }
  if (mode == NOX__SESS_CREATE) {
    m->ttl_seconds = job->params.ttl_seconds;
    if (copy_limit(&m->image, job->params.image) != 0 ||
        copy_limit(&m->cpu_limit, job->params.cpu_limit) != 0 ||
        copy_limit(&m->memory_limit, job->params.memory_limit) != 0 ||
        copy_limit(&m->storage_limit, job->params.storage_limit) != 0) {
      r = NOX_ENOMEM;
      goto done;
    }
  }
  ttl = m->ttl_seconds;
  if (!exists || mode == NOX__SESS_CREATE || mode == NOX__SESS_TOUCH) {
    m->expires_at = now + ttl;
    r = meta_write(sbdir, m);
    if (r != 0) {
      snprintf(job->msg, sizeof(job->msg), "cannot write %s/" META_FILE, sbdir);
      goto done;
    }
  }
  job->sandbox = name;
  job->workspace = ws;
  name = ws = NULL;
  r = 0;

done:
  if (fd >= 0)
    unlock_root(fd);
  empty_trash(trash);
  free(name);
  free(enc);
  free(sbdir);
  free(ws);
  return r;
}

int nox__local_session_delete(nox__local_job_t *job) {
  const char *root = job->local->root;
  char *name = nox__local_dirname(job->session_id);
  char *enc = encode(job->session_id);
  char *sbdir = NULL, *trash = NULL;
  nox__local_meta_t m;
  bool ours, live;
  int fd = -1, r;

  if (name == NULL || enc == NULL || (sbdir = join(root, name)) == NULL) {
    r = NOX_ENOMEM;
    goto done;
  }
  fd = lock_root(root);
  if (fd < 0) {
    snprintf(job->msg, sizeof(job->msg), "cannot lock %s", root);
    r = NOX_EIO;
    goto done;
  }
  r = meta_read(sbdir, &m);
  if (r == NOX_ENOMEM)
    goto done;
  ours = r == 0 && strcmp(m.id, enc) == 0;
  live = ours && !expired(&m, (int64_t)time(NULL));
  /* An expired sandbox is gone for callers, but its files go now too. */
  if (ours || r == NOX_EIO) {
    trash = to_trash(root, name);
    /* Under the lock: no command of a sandbox made again is touched. */
    if (trash != NULL)
      nox__local_cgroup_drop(job->local, name);
    if (trash == NULL && live) {
      snprintf(job->msg, sizeof(job->msg), "cannot remove %s: %s", sbdir,
               strerror(errno));
      nox__local_meta_free(&m);
      r = NOX_EIO;
      goto done;
    }
  }
  r = live ? 0 : NOX_ENOTFOUND;
  if (!live)
    snprintf(job->msg, sizeof(job->msg), "no sandbox \"%.200s\"",
             job->session_id);
  nox__local_meta_free(&m);

done:
  if (fd >= 0)
    unlock_root(fd);
  empty_trash(trash);
  free(name);
  free(enc);
  free(sbdir);
  return r;
}

static int push_name(char ***v, size_t *n, const char *name) {
  char **t = realloc(*v, (*n + 2) * sizeof(**v));

  if (t == NULL)
    return -1;
  *v = t;
  if ((t[*n] = strdup(name)) == NULL)
    return -1;
  t[++*n] = NULL;
  return 0;
}

void nox__local_session_reap(nox__local_job_t *job) {
  const char *root = job->local->root;
  int64_t now = (int64_t)time(NULL);
  char **trash = NULL, **reaped = NULL, *sbdir, *t;
  size_t ntrash = 0, nreaped = 0, i;
  nox__local_meta_t m;
  struct dirent *de;
  DIR *d;
  int fd, r;

  fd = lock_root(root);
  if (fd < 0)
    return;
  d = opendir(root);
  while (d != NULL && (de = readdir(d)) != NULL) {
    if (strncmp(de->d_name, TRASH_PREFIX, sizeof(TRASH_PREFIX) - 1) == 0) {
      /* Left by a crash, or being emptied by another process: both fine. */
      t = join(root, de->d_name);
      r = t == NULL || push_name(&trash, &ntrash, t) != 0;
      free(t);
      if (r)
        break;
      continue;
    }
    if (strncmp(de->d_name, NAME_PREFIX, sizeof(NAME_PREFIX) - 1) != 0)
      continue;
    sbdir = join(root, de->d_name);
    if (sbdir == NULL)
      break;
    r = meta_read(sbdir, &m);
    free(sbdir);
    if (r == NOX_ENOMEM)
      break;
    /*
     * Only what is known to have expired goes; metadata that cannot be
     * read now (I/O trouble, a concurrent writer) is left for next time.
     */
    if (r != 0 || !expired(&m, now)) {
      nox__local_meta_free(&m);
      continue;
    }
    nox__local_meta_free(&m);
    t = to_trash(root, de->d_name);
    if (t == NULL)
      continue;
    nox__local_cgroup_drop(job->local, de->d_name);
    r = push_name(&trash, &ntrash, t) |
        push_name(&reaped, &nreaped, de->d_name);
    free(t);
    if (r != 0)
      break;
  }
  if (d != NULL)
    closedir(d);
  job->reaped_ns = uv_hrtime();
  unlock_root(fd);
  for (i = 0; i < ntrash; i++) {
    nox__local_rmtree(trash[i]);
    free(trash[i]);
  }
  free(trash);
  job->reaped = reaped;
}
