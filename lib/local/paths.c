/*
 * Sandbox paths: "/workspace/..." as the caller names them, mapped to host
 * paths that provably stay inside the sandbox's workspace. Runs on worker
 * threads only.
 *
 * ".." is resolved on the name first, with the rule of
 * nox_workspace_path() (noxd's too), so "/workspace/../etc" is refused
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
#include "noxrunner/util.h"

static int inside(const char *path, const char *ws, size_t wslen) {
  return strncmp(path, ws, wslen) == 0 &&
         (path[wslen] == '\0' || path[wslen] == '/');
}

enum { MAX_DEPTH = 512 };

/*
 * Splits path, the caller's name for it, into the components below
 * /workspace: its canonical form by nox_workspace_path(), the rule noxd
 * applies too, cut at the slashes. Returns their number (0 for /workspace
 * itself) with *canon, to be freed, holding them; NOX_EINVAL with a message
 * when path is outside /workspace or deeper than MAX_DEPTH, or NOX_ENOMEM.
 */
static int split(const char *path, char **canon, char **comps, char *msg,
                 size_t len) {
  int r = nox_workspace_path(canon, path);
  if (r == NOX_EINVAL)
    snprintf(msg, len, "path \"%.200s\" is outside " NOX__LOCAL_WORKSPACE,
             path);
  if (r != 0)
    return r;
  int n = 0;
  char *save = NULL;
  for (char *c = strtok_r(*canon + strlen(NOX__LOCAL_WORKSPACE), "/", &save);
       c != NULL; c = strtok_r(NULL, "/", &save)) {
    if (n == MAX_DEPTH) {
      snprintf(msg, len, "path \"%.200s\" has more than %d components", path,
               MAX_DEPTH);
      return NOX_EINVAL;
    }
    comps[n++] = c;
  }
  return n;
}

/* The code for realpath()'s errno e on a name the caller gave. */
static int path_error(int e) {
  if (e == ENOENT || e == ENOTDIR)
    return NOX_ENOTFOUND;
  /* A component or the whole over the system's limits: a bad name. */
  return e == ENAMETOOLONG ? NOX_EINVAL : NOX_EIO;
}

/*
 * Resolves comps one by one below ws (a real path), creating missing
 * directories when flags say so. Returns 0 with *cur the real path of the
 * last one, inside ws, or an error with a message.
 */
static int walk(const char *ws, char **comps, int n, int flags,
                const char *path, char **cur, char *msg, size_t len) {
  size_t wslen = strlen(ws);
  *cur = strdup(ws);
  if (*cur == NULL)
    return NOX_ENOMEM;
  for (int i = 0; i < n; i++) {
    char *cand = malloc(strlen(*cur) + strlen(comps[i]) + 2);
    if (cand == NULL)
      return NOX_ENOMEM;
    sprintf(cand, "%s/%s", *cur, comps[i]);
    struct stat st;
    if (lstat(cand, &st) != 0 && errno == ENOENT && (flags & NOX__PATH_MKDIR) &&
        mkdir(cand, 0755) != 0 && errno != EEXIST) {
      int r = errno == ENAMETOOLONG ? NOX_EINVAL : NOX_EIO;
      snprintf(msg, len, "cannot create \"%.200s\": %s", path, strerror(errno));
      free(cand);
      return r;
    }
    free(*cur);
    *cur = realpath(cand, NULL);
    int e = errno;
    free(cand);
    if (*cur == NULL) {
      snprintf(msg, len, "\"%.200s\": %s", path, strerror(e));
      return path_error(e);
    }
    if (!inside(*cur, ws, wslen)) {
      snprintf(msg, len,
               "path \"%.200s\" resolves outside " NOX__LOCAL_WORKSPACE, path);
      return NOX_EINVAL;
    }
  }
  struct stat st;
  if ((flags & NOX__PATH_MKDIR) &&
      (stat(*cur, &st) != 0 || !S_ISDIR(st.st_mode))) {
    snprintf(msg, len, "\"%.200s\" is not a directory", path);
    return NOX_EINVAL;
  }
  return 0;
}

int nox__local_map_path(const char *workspace, const char *path, int flags,
                        char **host, char **inner, char *msg, size_t len) {
  *host = *inner = NULL;
  char *ws = realpath(workspace, NULL), *canon = NULL, *cur = NULL;
  char **comps = malloc(MAX_DEPTH * sizeof(*comps));
  int r;
  if (ws == NULL || comps == NULL) {
    r = ws == NULL && comps != NULL ? NOX_EIO : NOX_ENOMEM;
    goto done;
  }
  int n = split(path, &canon, comps, msg, len);
  if (n < 0) {
    r = n;
    goto done;
  }
  r = walk(ws, comps, n, flags, path, &cur, msg, len);
  if (r != 0)
    goto done;
  size_t wslen = strlen(ws);
  *inner = malloc(sizeof(NOX__LOCAL_WORKSPACE) + strlen(cur) - wslen);
  if (*inner == NULL) {
    r = NOX_ENOMEM;
    goto done;
  }
  sprintf(*inner, NOX__LOCAL_WORKSPACE "%s", cur + wslen);
  *host = cur;
  cur = NULL;

done:
  free(comps);
  free(canon);
  free(cur);
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
