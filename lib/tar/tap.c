/*
 * The tap between decompression and the tar reader, which lets the
 * extraction policy see each member's header blocks as they were sent.
 *
 * libarchive hands a member's names over as C strings, so a pax "path" or
 * "linkpath" value with an embedded NUL arrives cut at the NUL ("good\0evil"
 * reads as "good"; 3.6 drops the malformed pax header and uses the ustar
 * name, 3.7 keeps the part before the NUL), and its API has no length or
 * flag that would tell. A name that reads differently to different tools is
 * exactly what an attacker wants, so such a member is refused, which needs
 * the raw bytes: one libarchive reader (filters and the "raw" format) only
 * decompresses, and the tar reader reads from it through tap_read(), which
 * keeps the bytes from where the next header starts until the header has
 * been read. libarchive itself says where that is (the header position and
 * the reader's offset afterwards), so this code never finds its way through
 * the tar stream on its own; it only reads the pax records and GNU long
 * names inside a range that libarchive has already parsed as one member's
 * headers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>

#include "tar/tar.h"

#define BLOCK 512
/* Header blocks of one member kept at most (libarchive 3.6 caps a pax
 * header at 1 MiB). */
#define KEEP_MAX ((size_t)16 << 20)
#define NOT_KEEPING UINT64_MAX

/*
 * Keeps bytes [from, upto) of the stream in t->saved, dropping those before
 * from; upto is at most the end of the current block. Returns 0, NOX_ENOMEM
 * or NOX_ETOOBIG.
 */
static int keep_bytes(nox__tar_tap_t *t, uint64_t from, uint64_t upto) {
  nox__buf_t *b = &t->saved;
  uint64_t end = t->saved_off + b->len;
  if (from >= end) {
    t->saved_off = from;
    b->len = 0;
    end = from;
  } else if (from > t->saved_off) {
    size_t drop = (size_t)(from - t->saved_off);
    memmove(b->data, b->data + drop, b->len - drop);
    b->len -= drop;
    t->saved_off = from;
  }
  if (upto <= end)
    return 0;
  /* Everything before the current block was kept when it was current. */
  if (end < t->cur_off)
    return NOX_EARCHIVE;
  size_t n = (size_t)(upto - end);
  if (b->len + n > KEEP_MAX)
    return NOX_ETOOBIG;
  return nox__buf_append(b, t->cur + (end - t->cur_off), n);
}

int nox__tar_tap_open(nox__tar_tap_t *t, archive_read_callback *read_cb,
                      void *data, char *errmsg, size_t errlen) {
  struct archive_entry *e;
  memset(t, 0, sizeof(*t));
  t->keep = NOT_KEEPING;
  t->raw = archive_read_new();
  if (t->raw == NULL)
    return NOX_ENOMEM;
  /* Any compression; "empty" so that an empty body is an empty archive. */
  archive_read_support_filter_all(t->raw);
  archive_read_support_format_raw(t->raw);
  archive_read_support_format_empty(t->raw);
  int r = archive_read_open(t->raw, data, NULL, read_cb, NULL);
  if (r == ARCHIVE_OK)
    r = archive_read_next_header(t->raw, &e);
  if (r == ARCHIVE_EOF) {
    t->eof = true;
  } else if (r < ARCHIVE_WARN) {
    nox__tar_set_error(errmsg, errlen, "not a readable archive: %s",
                       archive_error_string(t->raw));
    return archive_errno(t->raw) == ENOMEM ? NOX_ENOMEM : NOX_EARCHIVE;
  }
  return 0;
}

la_ssize_t nox__tar_tap_read(struct archive *tar, void *data,
                             const void **buf) {
  nox__tar_tap_t *t = data;
  la_int64_t pos = archive_filter_bytes(tar, 0);
  uint64_t from = pos < 0 ? 0 : (uint64_t)pos;
  const void *p = NULL;
  size_t n = 0;
  la_int64_t off;
  int r;

  /* What the tar reader has not consumed yet, and a header being read. */
  if (t->keep < from)
    from = t->keep;
  r = keep_bytes(t, from, t->cur_off + t->cur_len);
  if (r != 0) {
    archive_set_error(tar, r == NOX_ENOMEM ? ENOMEM : EINVAL,
                      r == NOX_ETOOBIG ? "a member's headers are too large"
                                       : "cannot keep a member's headers");
    return -1;
  }
  t->cur_off += t->cur_len;
  t->cur = NULL;
  t->cur_len = 0;
  if (t->eof)
    return 0;
  do
    r = archive_read_data_block(t->raw, &p, &n, &off);
  while (r >= ARCHIVE_WARN && r != ARCHIVE_EOF && n == 0);
  if (r == ARCHIVE_EOF) {
    t->eof = true;
    return 0;
  }
  if (r < ARCHIVE_WARN) {
    archive_set_error(tar, archive_errno(t->raw), "%s",
                      archive_error_string(t->raw));
    return -1;
  }
  t->cur = p;
  t->cur_len = n;
  *buf = p;
  return (la_ssize_t)n;
}

void nox__tar_tap_mark(nox__tar_tap_t *t, struct archive *tar) {
  la_int64_t pos = archive_filter_bytes(tar, 0);
  t->keep = pos < 0 ? 0 : (uint64_t)pos;
}

/* A ustar numeric field: octal, or base-256 when the high bit is set. */
static uint64_t number(const unsigned char *f, size_t n) {
  uint64_t v = 0;
  size_t i = 0;
  if (f[0] & 0x80) {
    v = f[0] & 0x3f;
    for (i = 1; i < n; i++)
      v = (v << 8) | f[i];
    return v;
  }
  while (i < n && (f[i] == ' ' || f[i] == '\0'))
    i++;
  for (; i < n && f[i] >= '0' && f[i] <= '7'; i++)
    v = (v << 3) | (uint64_t)(f[i] - '0');
  return v;
}

static bool has_nul(const unsigned char *p, size_t n) {
  return n > 0 && memchr(p, '\0', n) != NULL;
}

static bool is_key(const unsigned char *k, size_t n, const char *want) {
  return n == strlen(want) && memcmp(k, want, n) == 0;
}

/*
 * The records "LEN key=value\n" of a pax header. Returns what is wrong, or
 * NULL. A malformed record ends the walk: libarchive then applies none of
 * the header's names either.
 */
static const char *pax_check(const unsigned char *b, size_t n) {
  size_t off = 0;
  while (off < n) {
    size_t len = 0, i = off;
    while (i < n && b[i] >= '0' && b[i] <= '9' && len <= n) {
      len = len * 10 + (size_t)(b[i] - '0');
      i++;
    }
    if (i >= n || b[i] != ' ' || len == 0 || len > n - off ||
        i + 1 >= off + len || b[off + len - 1] != '\n')
      return NULL;
    const unsigned char *key = b + i + 1, *end = b + off + len - 1;
    const unsigned char *eq = memchr(key, '=', (size_t)(end - key));
    if (eq == NULL)
      return NULL;
    size_t klen = (size_t)(eq - key), vlen = (size_t)(end - eq - 1);
    if (has_nul(key, klen))
      return "a NUL byte in a pax keyword";
    if (is_key(key, klen, "path") && has_nul(eq + 1, vlen))
      return "a NUL byte in its pax path";
    if (is_key(key, klen, "linkpath") && has_nul(eq + 1, vlen))
      return "a NUL byte in its pax linkpath";
    if (is_key(key, klen, "GNU.sparse.name") && has_nul(eq + 1, vlen))
      return "a NUL byte in its pax GNU.sparse.name";
    off += len;
  }
  return NULL;
}

/* The extension headers at the start of one member's header blocks. */
static const char *headers_check(const unsigned char *p, size_t n) {
  size_t off = 0;
  static const unsigned char zero[BLOCK];
  while (n - off >= BLOCK) {
    const unsigned char *h = p + off;
    if (memcmp(h, zero, BLOCK) == 0) {
      off += BLOCK;
      continue;
    }
    /* The member's own header ends the extensions (blocks after it, such
     * as old GNU sparse maps, are not headers). */
    unsigned char type = h[156];
    if (strchr("xXgLKAV", type) == NULL || type == '\0')
      return NULL;
    uint64_t size = number(h + 124, 12);
    if (size > n - off - BLOCK)
      return NULL;
    const unsigned char *body = h + BLOCK;
    const char *bad = NULL;
    if (type == 'x' || type == 'X') {
      bad = pax_check(body, (size_t)size);
    } else if (type == 'L' || type == 'K') {
      /* A GNU long name is NUL-terminated (padding NULs may follow). */
      size_t len = (size_t)size;
      while (len > 0 && body[len - 1] == '\0')
        len--;
      if (has_nul(body, len))
        bad = type == 'L' ? "a NUL byte in its GNU long name"
                          : "a NUL byte in its GNU long link name";
    }
    if (bad != NULL)
      return bad;
    off += BLOCK + (size_t)((size + BLOCK - 1) & ~(uint64_t)(BLOCK - 1));
  }
  return NULL;
}

int nox__tar_tap_check(nox__tar_tap_t *t, struct archive *tar,
                       const char **why) {
  la_int64_t hs = archive_read_header_position(tar);
  la_int64_t he = archive_filter_bytes(tar, 0);
  int r;
  *why = NULL;
  t->keep = NOT_KEEPING;
  if (hs < 0 || he < hs || (uint64_t)hs < t->saved_off) {
    *why = "its headers could not be checked";
    return 0;
  }
  r = keep_bytes(t, t->saved_off, (uint64_t)he);
  if (r == NOX_ENOMEM)
    return r;
  if (r != 0 || (uint64_t)he > t->saved_off + t->saved.len) {
    *why = "its headers could not be checked";
    return 0;
  }
  *why = headers_check((const unsigned char *)t->saved.data +
                           ((uint64_t)hs - t->saved_off),
                       (size_t)(he - hs));
  return 0;
}

void nox__tar_tap_free(nox__tar_tap_t *t) {
  if (t->raw != NULL)
    archive_read_free(t->raw);
  nox__buf_reset(&t->saved);
  memset(t, 0, sizeof(*t));
}
