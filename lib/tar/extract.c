/*
 * The safe-extraction policy, applied to each member before the disk writer
 * sees it (lib/tar/unpack.c).
 *
 * libarchive's disk writer resolves names against the process's working
 * directory, which a library cannot change (it is shared by every thread),
 * so each member is renamed to "DIR/NAME" before it is written. That is why
 * ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS cannot be passed: every rewritten
 * name is absolute. The archive's own names are checked here instead, before
 * the rewrite (no absolute names, no ".."), and the disk writer still
 * refuses ".." and any symlink on the way to a member, including symlinks
 * already in DIR; DIR itself must be a real path (no symlinks in it).
 * Device nodes, FIFOs and sockets are refused; so are hardlinks whose
 * target leaves DIR, and symlinks whose target does.
 */
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "tar/tar.h"

/*
 * Normalises a member name in place: drops "." and empty components (so
 * "./a//b/" is "a/b"). Returns 0, or -1 when the name is absolute or has a
 * ".." component. An empty result names DIR itself.
 */
static int clean_name(char *name) {
  char *r = name, *w = name;
  size_t n;

  if (*name == '/')
    return -1;
  while (*r != '\0') {
    n = strcspn(r, "/");
    if (n == 2 && r[0] == '.' && r[1] == '.')
      return -1;
    if (n > 0 && !(n == 1 && r[0] == '.')) {
      if (w != name)
        *w++ = '/';
      memmove(w, r, n);
      w += n;
    }
    r += n;
    while (*r == '/')
      r++;
  }
  *w = '\0';
  return 0;
}

/*
 * A symlink at NAME (cleaned) may point only inside DIR. Its target is
 * resolved from NAME's directory, which holds no symlink (the disk writer
 * refuses them), so leading ".." components are exact; a ".." after another
 * component could climb out of a symlinked directory, so it is refused.
 */
static int symlink_target_ok(const char *name, const char *target) {
  long depth = 0;
  int descended = 0;
  const char *p;
  size_t n;

  if (target == NULL || *target == '\0' || *target == '/')
    return 0;
  for (p = name; *p != '\0'; p++)
    if (*p == '/')
      depth++;
  for (p = target; *p != '\0';) {
    n = strcspn(p, "/");
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      if (descended || --depth < 0)
        return 0;
    } else if (n > 0 && !(n == 1 && p[0] == '.')) {
      descended = 1;
    }
    p += n;
    while (*p == '/')
      p++;
  }
  return 1;
}

/* Points x->path at DIR "/" name. Returns 0 or NOX_ENOMEM. */
static int join(nox__tar_dest_t *x, const char *name) {
  size_t need = x->dirlen + 1 + strlen(name) + 1;
  char *p;

  if (need > x->pathcap) {
    p = realloc(x->path, need);
    if (p == NULL)
      return NOX_ENOMEM;
    x->path = p;
    x->pathcap = need;
  }
  memcpy(x->path, x->dir, x->dirlen);
  x->path[x->dirlen] = '/';
  memcpy(x->path + x->dirlen + 1, name, strlen(name) + 1);
  return 0;
}

/*
 * Checks one member and renames it (and a hardlink's target) under DIR.
 * Returns 0, 1 to skip the member (it names DIR itself), or a NOX_E* code.
 */
int nox__tar_prepare_entry(nox__tar_dest_t *x, struct archive_entry *e) {
  const char *orig = archive_entry_pathname(e);
  const char *link = archive_entry_hardlink(e);
  char *name = NULL, *target = NULL;
  mode_t type = archive_entry_filetype(e);
  int r;

  if (orig == NULL) {
    nox__tar_set_error(x->errmsg, x->errlen,
                       "refused a member without a "
                       "usable name");
    return NOX_EARCHIVE;
  }
  name = strdup(orig);
  if (name == NULL)
    return NOX_ENOMEM;
  if (clean_name(name) != 0) {
    nox__tar_set_error(x->errmsg, x->errlen,
                       "refused \"%s\": absolute or \"..\" path", orig);
    r = NOX_EARCHIVE;
    goto done;
  }
  if (link != NULL) {
    target = strdup(link);
    if (target == NULL) {
      r = NOX_ENOMEM;
      goto done;
    }
    if (clean_name(target) != 0 || *target == '\0') {
      nox__tar_set_error(x->errmsg, x->errlen,
                         "refused \"%s\": hardlink to \"%s\" outside the "
                         "destination",
                         orig, link);
      r = NOX_EARCHIVE;
      goto done;
    }
  } else if (type == AE_IFLNK) {
    if (!symlink_target_ok(name, archive_entry_symlink(e))) {
      nox__tar_set_error(
          x->errmsg, x->errlen,
          "refused \"%s\": symlink to \"%s\" leaves the "
          "destination",
          orig, archive_entry_symlink(e) ? archive_entry_symlink(e) : "");
      r = NOX_EARCHIVE;
      goto done;
    }
  } else if (type != AE_IFREG && type != AE_IFDIR) {
    nox__tar_set_error(x->errmsg, x->errlen,
                       "refused \"%s\": devices, FIFOs and sockets are not "
                       "extracted",
                       orig);
    r = NOX_EARCHIVE;
    goto done;
  }
  if (*name == '\0') {
    r = type == AE_IFDIR && link == NULL ? 1 : NOX_EARCHIVE;
    if (r != 1)
      nox__tar_set_error(x->errmsg, x->errlen,
                         "refused \"%s\": names the destination itself", orig);
    goto done;
  }
  if (target != NULL) {
    r = join(x, target);
    if (r != 0)
      goto done;
    archive_entry_copy_hardlink(e, x->path);
  }
  r = join(x, name);
  if (r != 0)
    goto done;
  archive_entry_copy_pathname(e, x->path);
  /* Owners are never restored; drop them so no lookup happens either. */
  archive_entry_set_uid(e, 0);
  archive_entry_set_gid(e, 0);
  archive_entry_copy_uname(e, NULL);
  archive_entry_copy_gname(e, NULL);

done:
  free(name);
  free(target);
  return r;
}
