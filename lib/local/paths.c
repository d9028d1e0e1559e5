/*
 * Sandbox paths: "/workspace/..." as the caller names them, mapped to host
 * paths that provably stay inside the sandbox's workspace. Runs on worker
 * threads only.
 *
 * ".." is resolved on the name first, so "/workspace/../etc" is refused
 * without the kernel ever seeing it. Then the host path is walked one
 * component at a time, each resolved with realpath() and checked to be
 * inside the workspace before the next is looked at or created; a symlink
 * that leads out is refused, never followed into the host.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local/local.h"

static int inside(const char *path, const char *ws, size_t wslen) {
  return strncmp(path, ws, wslen) == 0 &&
         (path[wslen] == '\0' || path[wslen] == '/');
}

/*
 * Splits path into its components after /workspace, resolving "." and ".."
 * by name. Returns the number of components, or -1 when path is not
 * /workspace or below.
 */
static int split(char *path, char **comps, int max) {
  int n = 0;
  char *save = NULL, *c;

  if (path[0] != '/')
    return -1;
  for (c = strtok_r(path, "/", &save); c != NULL;
       c = strtok_r(NULL, "/", &save)) {
    if (strcmp(c, ".") == 0)
      continue;
    if (strcmp(c, "..") == 0) {
      if (--n < 1)
        return -1; /* climbs to or above / */
      continue;
    }
    if (n == max)
      return -1;
    comps[n++] = c;
  }
  if (n < 1 || strcmp(comps[0], "workspace") != 0)
    return -1;
  return n;
}

int nox__local_map_path(const char *workspace, const char *path, int flags,
                        char **host, char **inner, char *msg, size_t len) {
  enum { MAX_DEPTH = 512 };
  char **comps = NULL, *copy = strdup(path), *cur = NULL, *cand = NULL, *ws;
  size_t wslen;
  struct stat st;
  int n, i, r;

  *host = *inner = NULL;
  ws = realpath(workspace, NULL);
  comps = malloc(MAX_DEPTH * sizeof(*comps));
  if (copy == NULL || ws == NULL || comps == NULL) {
    r = ws == NULL && copy != NULL && comps != NULL ? NOX_EIO : NOX_ENOMEM;
    goto done;
  }
  wslen = strlen(ws);
  n = split(copy, comps, MAX_DEPTH);
  if (n < 0) {
    snprintf(msg, len, "path \"%.200s\" is outside " NOX__LOCAL_WORKSPACE,
             path);
    r = NOX_EINVAL;
    goto done;
  }
  cur = strdup(ws);
  if (cur == NULL) {
    r = NOX_ENOMEM;
    goto done;
  }
  for (i = 1; i < n; i++) {
    free(cand);
    cand = malloc(strlen(cur) + strlen(comps[i]) + 2);
    if (cand == NULL) {
      r = NOX_ENOMEM;
      goto done;
    }
    sprintf(cand, "%s/%s", cur, comps[i]);
    if (lstat(cand, &st) != 0 && errno == ENOENT && (flags & NOX__PATH_MKDIR) &&
        mkdir(cand, 0755) != 0 && errno != EEXIST) {
      snprintf(msg, len, "cannot create \"%.200s\": %s", path, strerror(errno));
      r = NOX_EIO;
      goto done;
    }
    free(cur);
    cur = realpath(cand, NULL);
    if (cur == NULL) {
      snprintf(msg, len, "\"%.200s\": %s", path, strerror(errno));
      r = errno == ENOENT || errno == ENOTDIR ? NOX_ENOTFOUND : NOX_EIO;
      goto done;
    }
    if (!inside(cur, ws, wslen)) {
      snprintf(msg, len,
               "path \"%.200s\" resolves outside " NOX__LOCAL_WORKSPACE, path);
      r = NOX_EINVAL;
      goto done;
    }
  }
  if ((flags & NOX__PATH_MKDIR) &&
      (stat(cur, &st) != 0 || !S_ISDIR(st.st_mode))) {
    snprintf(msg, len, "\"%.200s\" is not a directory", path);
    r = NOX_EINVAL;
    goto done;
  }
  *inner = malloc(sizeof(NOX__LOCAL_WORKSPACE) + strlen(cur) - wslen);
  if (*inner == NULL) {
    r = NOX_ENOMEM;
    goto done;
  }
  sprintf(*inner, NOX__LOCAL_WORKSPACE "%s", cur + wslen);
  *host = cur;
  cur = NULL;
  r = 0;

done:
  free(comps);
  free(copy);
  free(cur);
  free(cand);
  free(ws);
  return r;
}

/* nftw() passes no user pointer; each worker thread counts its own. */
static _Thread_local int rm_fixed;

static int rm_entry(const char *path, const struct stat *st, int type,
                    struct FTW *ftw) {
  /*
   * A command may leave directories we cannot list or write. Open them up
   * and count it: another pass then removes what they hold.
   */
  if (type == FTW_DNR) {
    if (chmod(path, 0700) == 0)
      rm_fixed++;
  } else if (type == FTW_DP) {
    if (rmdir(path) != 0 && errno != ENOENT && chmod(path, 0700) == 0)
      rm_fixed++;
  } else {
    unlink(path); /* on failure the parent's FTW_DP visit opens it up */
  }
  return 0;
}

int nox__local_rmtree(const char *path) {
  struct stat st;
  int pass;

  for (pass = 0; pass < 64; pass++) {
    rm_fixed = 0;
    nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    if (lstat(path, &st) != 0)
      return 0;
    if (rm_fixed == 0)
      break; /* no progress possible */
  }
  return NOX_EIO;
}
