/*
 * What noxrc prints: ✓/⚠/✗ lines (coloured on a terminal unless NO_COLOR),
 * errors that say what to try, JSON objects made with yajl_gen, and the
 * transfer progress bar.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>

#include <noxrunner/util.h>

#include "noxrc.h"

static int color_out;
static int color_err;
static int err_tty;

void noxrc_output_init(void) {
  const char *no = getenv("NO_COLOR");
  int plain = no != NULL && no[0] != '\0';

  err_tty = isatty(STDERR_FILENO);
  color_out = !plain && isatty(STDOUT_FILENO);
  color_err = !plain && err_tty;
}

int noxrc_stderr_tty(void) {
  return err_tty;
}

const char *noxrc_color(const char *code) {
  return color_out ? code : "";
}

static void line(FILE *f, int color, const char *sgr, const char *mark,
                 const char *fmt, va_list ap) {
  if (color)
    fprintf(f, "\033[%sm%s\033[0m ", sgr, mark);
  else
    fprintf(f, "%s ", mark);
  vfprintf(f, fmt, ap);
  fputc('\n', f);
  fflush(f);
}

void noxrc_ok(const char *fmt, ...) {
  va_list ap;

  if (noxrc_g.quiet || noxrc_g.json)
    return;
  va_start(ap, fmt);
  line(stdout, color_out, "32", "✓", fmt, ap);
  va_end(ap);
}

void noxrc_warn(const char *fmt, ...) {
  va_list ap;

  if (noxrc_g.quiet)
    return;
  va_start(ap, fmt);
  line(stderr, color_err, "33", "⚠", fmt, ap);
  va_end(ap);
}

void noxrc_fail(const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  line(stderr, color_err, "31", "✗", fmt, ap);
  va_end(ap);
}

void noxrc_verbose(const char *fmt, ...) {
  va_list ap;

  if (!noxrc_g.verbose)
    return;
  va_start(ap, fmt);
  fputs("noxrc: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

int noxrc_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;

  fprintf(stderr, "noxrc%s%s: ", cmd != NULL ? " " : "",
          cmd != NULL ? cmd : "");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (see 'noxrc%s%s --help')\n", cmd != NULL ? " " : "",
          cmd != NULL ? cmd : "");
  return NOXRC_EXIT_USAGE;
}

/* What the user can do about an error; NULL when there is nothing to say. */
static const char *hint(int status) {
  switch (status) {
  case NOX_ECONNECT:
    return "is a backend running? try --base-url local:";
  case NOX_ERESOLVE:
    return "check the host in --base-url";
  case NOX_ENOTFOUND:
    return "check the session ID, or create it: noxrc create ID";
  case NOX_EAUTH:
    return "pass --token or set NOXRUNNER_TOKEN";
  case NOX_EPROTO:
    return "is --base-url a NoxRunner backend?";
  case NOX_ETIMEDOUT:
    return "raise --timeout (or --timeout-seconds for exec)";
  case NOX_EUNAVAIL:
    return "the sandbox may still be starting: retry, or create with --wait";
  case NOX_ETLS:
    return "check the certificate, or use http:// for a local backend";
  case NOX_EUNSUPPORTED:
    return "use http://, https://, local: or local:///DIR";
  case NOX_ETOOBIG:
    return "the answer is larger than the client accepts";
  default:
    return NULL;
  }
}

int noxrc_report_error(noxrc_t *rc, const char *what, nox_req_t *req,
                       int status) {
  const nox_error_t *e = req != NULL ? nox_req_error(req) : NULL;
  /* Refused at once: the client says which argument broke which rule. */
  if (req == NULL && rc->client != NULL) {
    e = nox_client_last_error(rc->client);
    if (e != NULL && e->code != status)
      e = NULL;
  }
  const char *detail = e != NULL && e->message[0] != '\0' ? e->message : NULL;
  const char *h = hint(status);
  char why[512];

  if (rc->interrupted || status == NOX_ECANCELED) {
    if (!noxrc_g.json)
      noxrc_fail("%s: interrupted", what);
  } else {
    if (status == NOX_ECONNECT) {
      /* curl's own wording is long; CURLE_COULDNT_CONNECT says it all. */
      snprintf(why, sizeof(why), "cannot connect to %s: %s", noxrc_base_url(),
               e == NULL || e->curl_code == 7 || detail == NULL
                   ? "connection refused"
                   : detail);
      if (detail != NULL)
        noxrc_verbose("%s", detail);
    } else if (detail != NULL && e->http_status != 0) {
      snprintf(why, sizeof(why), "%s: %s (HTTP %ld: %s)", what,
               nox_strerror(status), e->http_status, detail);
    } else if (detail != NULL) {
      snprintf(why, sizeof(why), "%s: %s (%s)", what, nox_strerror(status),
               detail);
    } else {
      snprintf(why, sizeof(why), "%s: %s", what, nox_strerror(status));
    }
    if (h != NULL)
      noxrc_fail("%s — %s", why, h);
    else
      noxrc_fail("%s", why);
  }
  if (noxrc_g.json) {
    noxrc_json_t *j = noxrc_json_begin(0);

    if (rc->cmd != NULL && strcmp(rc->cmd, "health") == 0)
      noxrc_json_bool(j, "healthy", 0);

    noxrc_json_str(j, "error", nox_err_name(status));
    noxrc_json_str(j, "message",
                   detail != NULL ? detail : nox_strerror(status));
    noxrc_json_str(j, "operation", what);
    if (e != NULL && e->http_status != 0)
      noxrc_json_int(j, "httpStatus", e->http_status);
    if (h != NULL)
      noxrc_json_str(j, "hint", h);
    noxrc_json_end(j);
  }
  return rc->interrupted || status == NOX_ECANCELED ? NOXRC_EXIT_INTERRUPTED
                                                    : NOXRC_EXIT_FAILED;
}

int noxrc_write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;

  while (len > 0) {
    ssize_t n = write(fd, p, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* ---- JSON ------------------------------------------------------------ */

struct noxrc_json_s {
  yajl_gen g;
};

static void key(noxrc_json_t *j, const char *k) {
  yajl_gen_string(j->g, (const unsigned char *)k, strlen(k));
}

noxrc_json_t *noxrc_json_begin(int ok) {
  noxrc_json_t *j = malloc(sizeof(*j));

  if (j == NULL || (j->g = yajl_gen_alloc(NULL)) == NULL) {
    fprintf(stderr, "noxrc: out of memory\n");
    exit(NOXRC_EXIT_FAILED);
  }
  yajl_gen_map_open(j->g);
  noxrc_json_bool(j, "ok", ok);
  return j;
}

void noxrc_json_str(noxrc_json_t *j, const char *k, const char *val) {
  key(j, k);
  if (val == NULL)
    yajl_gen_null(j->g);
  else
    noxrc_json_bytes_plain(j, val, strlen(val));
}

/* yajl_gen takes valid UTF-8 only: a command prints arbitrary bytes. */
void noxrc_json_bytes_plain(noxrc_json_t *j, const char *buf, size_t len) {
  if (nox_utf8_valid(buf, len)) {
    yajl_gen_string(j->g, (const unsigned char *)buf, len);
    return;
  }
  char *clean;
  size_t n;
  if (nox_utf8_sanitize(&clean, &n, buf, len) != 0) {
    fprintf(stderr, "noxrc: out of memory\n");
    exit(NOXRC_EXIT_FAILED);
  }
  yajl_gen_string(j->g, (const unsigned char *)clean, n);
  nox_free(clean);
}

static char *base64(const char *buf, size_t len, size_t *olen) {
  static const char tab[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const unsigned char *p = (const unsigned char *)buf;
  char *out = malloc((len + 2) / 3 * 4 + 1);
  size_t i, o = 0;

  if (out == NULL)
    return NULL;
  for (i = 0; i + 2 < len; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

    out[o++] = tab[v >> 18];
    out[o++] = tab[(v >> 12) & 63];
    out[o++] = tab[(v >> 6) & 63];
    out[o++] = tab[v & 63];
  }
  if (i < len) {
    uint32_t v = (uint32_t)p[i] << 16;

    if (i + 1 < len)
      v |= (uint32_t)p[i + 1] << 8;
    out[o++] = tab[v >> 18];
    out[o++] = tab[(v >> 12) & 63];
    out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
  *olen = o;
  return out;
}

void noxrc_json_bytes(noxrc_json_t *j, const char *k, const char *buf,
                      size_t len) {
  char b64key[64];
  size_t n;
  char *b64 = base64(buf, len, &n);

  if (b64 == NULL) {
    fprintf(stderr, "noxrc: out of memory\n");
    exit(NOXRC_EXIT_FAILED);
  }
  key(j, k);
  noxrc_json_bytes_plain(j, buf, len);
  snprintf(b64key, sizeof(b64key), "%sBase64", k);
  key(j, b64key);
  yajl_gen_string(j->g, (const unsigned char *)b64, n);
  free(b64);
}

void noxrc_json_int(noxrc_json_t *j, const char *k, long long val) {
  key(j, k);
  yajl_gen_integer(j->g, val);
}

void noxrc_json_bool(noxrc_json_t *j, const char *k, int val) {
  key(j, k);
  yajl_gen_bool(j->g, val);
}

void noxrc_json_null(noxrc_json_t *j, const char *k) {
  key(j, k);
  yajl_gen_null(j->g);
}

void noxrc_json_end(noxrc_json_t *j) {
  yajl_gen_map_close(j->g);
  const unsigned char *out;
  size_t len;
  yajl_gen_get_buf(j->g, &out, &len);
  fwrite(out, 1, len, stdout);
  fputc('\n', stdout);
  fflush(stdout);
  yajl_gen_free(j->g);
  free(j);
}

/* ---- progress -------------------------------------------------------- */

/* A terminal redraws one line; --progress elsewhere writes one per frame. */
static int progress_on(void) {
  return (err_tty || noxrc_g.progress) && !noxrc_g.quiet && !noxrc_g.json;
}

void noxrc_progress_init(noxrc_progress_t *p, const char *label,
                         uint64_t total) {
  memset(p, 0, sizeof(*p));
  p->label = label;
  p->total = total;
  p->start_ns = uv_hrtime();
}

static void draw(noxrc_progress_t *p, uint64_t now) {
  char line[256];
  noxrc_progress_format(line, sizeof(line), p->label, p->bytes, p->total,
                        (double)(now - p->start_ns) / 1e9);
  if (err_tty)
    fprintf(stderr, "\r\033[K%s", line);
  else
    fprintf(stderr, "%s\n", line);
  fflush(stderr);
  p->shown = 1;
  p->drawn = p->bytes;
}

void noxrc_progress_update(noxrc_progress_t *p, uint64_t bytes,
                           uint64_t total) {
  uint64_t now = uv_hrtime();

  p->bytes = bytes;
  if (total != 0)
    p->total = total;
  if (!progress_on() || (p->shown && now - p->last_ns < 100 * 1000 * 1000))
    return;
  /*
   * Nothing new, or all counted but not yet done (an upload's last bytes
   * still in the pipe, a download still extracting): no frame, so 100%
   * comes once, from noxrc_progress_done().
   */
  if ((p->shown && bytes == p->drawn) || (p->total != 0 && bytes >= p->total))
    return;
  p->last_ns = now;
  draw(p, now);
}

void noxrc_progress_done(noxrc_progress_t *p, int ok) {
  if (!progress_on())
    return;
  if (ok && p->total != 0) {
    /* The last frame shows it all there: 100%, whatever the last report. */
    if (p->bytes < p->total)
      p->bytes = p->total;
    if (!p->shown || p->drawn != p->total)
      draw(p, uv_hrtime());
    if (err_tty)
      fputc('\n', stderr);
  } else if (p->shown && err_tty) {
    fputs("\r\033[K", stderr);
  } else if (ok && !err_tty && (!p->shown || p->drawn != p->bytes)) {
    draw(p, uv_hrtime()); /* --progress: the final count, even if fast */
  }
  fflush(stderr);
}
