/*
 * The tar module: packing and safe extraction with libarchive. Everything
 * here runs on a transfer's worker thread (stream.h, unpack.c).
 */
#ifndef NOX_TAR_H
#define NOX_TAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <archive.h>

#include "buf.h"
#include "noxrunner.h"

struct archive_entry;

/*
 * Receives archive bytes as they are produced. Returns 0 to go on, or a
 * NOX_E* code to stop the packer with that code.
 */
typedef int (*nox__tar_chunk_cb)(void *data, const void *buf, size_t len);

/*
 * 1 if path is a safe relative archive member name: not empty, not
 * absolute, no ".." component, and naming something (not "." or "a/").
 */
int nox__tar_path_is_safe(const char *path);

/* snprintf into errmsg when it is not NULL. */
void nox__tar_set_error(char *errmsg, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/*
 * A pax-restricted tar writer, gzip-compressed or plain, whose output goes
 * to a chunk callback.
 */
typedef struct {
  struct archive *a;
  nox__tar_chunk_cb cb;
  void *data;
  int err; /* the code cb stopped the writer with, or 0 */
} nox__tar_writer_t;

/* Returns 0, NOX_ENOMEM or NOX_EARCHIVE; on error w needs no free. */
int nox__tar_writer_open(nox__tar_writer_t *w, bool gzip, nox__tar_chunk_cb cb,
                         void *data);
/* The NOX_E* code for the writer's last failure. */
int nox__tar_writer_error(const nox__tar_writer_t *w);
/* Flushes the tar trailer (and the gzip stream). Returns 0 or a NOX_E* code. */
int nox__tar_writer_close(nox__tar_writer_t *w);
void nox__tar_writer_free(nox__tar_writer_t *w);

/* Where members go: DIR (a real path) and a scratch "DIR/NAME" buffer. */
typedef struct {
  const char *dir;
  size_t dirlen;
  char *path;
  size_t pathcap;
  char *errmsg;
  size_t errlen;
} nox__tar_dest_t;

/*
 * Checks one member against the extraction policy and renames it (and a
 * hardlink's target) under DIR. Returns 0, 1 to skip it (it names DIR
 * itself), NOX_EARCHIVE when the policy refuses it (errmsg says why) or
 * NOX_ENOMEM.
 */
int nox__tar_prepare_entry(nox__tar_dest_t *x, struct archive_entry *e);

/*
 * Packs path into a tar, gzip-compressed when gzip is set, whose bytes go to
 * cb(data) in chunks. A
 * directory gives its contents, named relative to it (as `tar -C path -cz
 * .` without the "./"); a regular file gives one member named by its last
 * component. Entries are visited in sorted order, so the same tree packs
 * the same way; symlinks are stored, never followed; sockets, FIFOs and
 * devices are skipped. Only members whose name matches an include pattern
 * (all when include is NULL) and no exclude pattern (fnmatch,
 * NULL-terminated lists) are packed; directories are walked either way.
 * entry_cb (may be NULL) is called once per packed member, data_cb (may be
 * NULL) with the count of file content bytes after each chunk of a file's
 * data is packed. Returns 0,
 * NOX_ENOTFOUND (path is missing), NOX_EIO, NOX_ENOMEM, NOX_EARCHIVE, or
 * the code cb returned.
 */
int nox__tar_pack_filtered(const char *path, char *const *include,
                           char *const *exclude, bool gzip,
                           nox__tar_chunk_cb cb, void (*entry_cb)(void *data),
                           void (*data_cb)(void *data, size_t n), void *data,
                           char *errmsg, size_t errlen);

/*
 * Packs in-memory files as a tar (.gz when gzip is set) into cb; entry_cb
 * and data_cb as for nox__tar_pack_filtered().
 */
int nox__tar_pack_files_to(const nox_file_t *files, size_t n, bool gzip,
                           nox__tar_chunk_cb cb, void (*entry_cb)(void *data),
                           void (*data_cb)(void *data, size_t n), void *data,
                           char *errmsg, size_t errlen);

/*
 * The tap between decompression and the tar reader (lib/tar/tap.c): it
 * keeps each member's header blocks as sent, for the checks libarchive
 * cannot make on names it hands over as C strings.
 */
typedef struct {
  struct archive *raw; /* decompresses: every filter, the "raw" format */
  const char *cur;     /* raw's current block (valid until the next read) */
  size_t cur_len;
  uint64_t cur_off; /* its offset in the uncompressed stream */
  nox__buf_t saved; /* bytes [saved_off, saved_off + saved.len) kept */
  uint64_t saved_off;
  uint64_t keep; /* keep from this offset on, or UINT64_MAX */
  bool eof;
} nox__tar_tap_t;

/*
 * Opens the decompressing reader over read_cb(data). Returns 0, NOX_ENOMEM
 * or NOX_EARCHIVE (errmsg says why); nox__tar_tap_free() it either way.
 */
int nox__tar_tap_open(nox__tar_tap_t *t, archive_read_callback *read_cb,
                      void *data, char *errmsg, size_t errlen);
/* The tar reader's read callback; its client data is the tap. */
la_ssize_t nox__tar_tap_read(struct archive *tar, void *data,
                             const void **buf);
/*
 * Before archive_read_next_header(tar), with the previous member's data
 * read or skipped: keep what the next header is read from.
 */
void nox__tar_tap_mark(nox__tar_tap_t *t, struct archive *tar);
/*
 * After it: *why is NULL when the member's header blocks are sound, or
 * says what is wrong with them (a NUL inside a pax path or linkpath, a
 * pax keyword or a GNU long name), for a refusal. Stops keeping. Returns
 * 0 or NOX_ENOMEM.
 */
int nox__tar_tap_check(nox__tar_tap_t *t, struct archive *tar,
                       const char **why);
void nox__tar_tap_free(nox__tar_tap_t *t);

#endif /* NOX_TAR_H */
