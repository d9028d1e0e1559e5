/*
 * download: a sandbox path as a tar.gz streamed to a file or stdout, or
 * unpacked into a directory (the extract_dir sink, or extract.c after the
 * download where the library or backend lacks it).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "noxrc.h"

static struct {
  const char *src;
  const char *output;
  const char *extract;
} o;

static const noxrc_argspec_t download_spec[] = {
    {"src", ARG_STR, &o.src, "PATH", "what to download (default /workspace)"},
    {"output", ARG_STR, &o.output, "FILE",
     "write the tar.gz to FILE ('-': stdout, the default when it is not a "
     "terminal)"},
    {"extract", ARG_STR, &o.extract, "DIR",
     "unpack into DIR, which must not exist or be empty"},
    {NULL, ARG_FLAG, NULL, NULL, NULL}};

static const noxrc_cmdspec_t download_cmd = {
    "download", "ID [--src PATH] [--output FILE.tar.gz | --extract DIR]",
    "Downloads PATH as a gzip tar, streamed to FILE, or unpacked into DIR.",
    download_spec, 0};

static struct {
  int fd;
  int to_stdout;
  char part[4096]; /* FILE.part, or the archive kept for extraction */
  uint64_t bytes;
  uint64_t entries;
  int write_err;
  noxrc_progress_t progress;
} dl = {-1, 0, "", 0, 0, 0, {0}};

static const char *src_path(void) {
  return o.src != NULL ? o.src : "/workspace";
}

static void downloaded_ok(noxrc_t *rc, const char *where) {
  /* The extract_dir sink reports its bytes only through progress. */
  int known = dl.bytes != 0 || o.extract == NULL || dl.part[0] != '\0';
  char size[40] = "";

  if (known) {
    size[0] = ' ';
    size[1] = '(';
    noxrc_format_bytes(size + 2, sizeof(size) - 3, (double)dl.bytes);
    strcat(size, ")");
  }
  if (!dl.to_stdout)
    noxrc_ok("downloaded %s:%s %s %s%s", rc->session, src_path(),
             o.extract != NULL ? "into" : "to", where, size);
  if (noxrc_g.json) {
    noxrc_json_t *j = noxrc_json_begin(1);

    noxrc_json_str(j, "src", src_path());
    if (o.extract != NULL)
      noxrc_json_str(j, "extractDir", o.extract);
    else
      noxrc_json_str(j, "output", where);
    if (known)
      noxrc_json_int(j, "bytes", (long long)dl.bytes);
    else
      noxrc_json_null(j, "bytes");
    noxrc_json_end(j);
  }
  noxrc_finish(rc, 0);
}

static int on_data(nox_req_t *req, const char *buf, size_t len) {
  /* Synchronous writes: the loop has nothing else to do meanwhile. */
  if (noxrc_write_all(dl.fd, buf, len) != 0) {
    dl.write_err = errno;
    return -1;
  }
  dl.bytes += len;
  return 0;
}

static void on_dl_progress(nox_req_t *req, const nox_progress_t *p) {
  dl.bytes = p->bytes;
  dl.entries = p->entries;
  noxrc_progress_update(&dl.progress, p->bytes, p->total);
}

/*
 * Raw bytes: on_data counts them, progress draws (it brings the total,
 * Content-Length, from the first report on).
 */
static void on_raw_progress(nox_req_t *req, const nox_progress_t *p) {
  noxrc_progress_update(&dl.progress, dl.bytes, p->total);
}

static int download_raw(noxrc_t *rc);

static void on_downloaded(nox_req_t *req, int status) {
  noxrc_t *rc = nox_req_data(req);
  const char *dest = o.output != NULL ? o.output : "-";

  rc->current = NULL;
  noxrc_progress_done(&dl.progress, status == 0);
  if (dl.fd >= 0 && !dl.to_stdout && close(dl.fd) != 0 && status == 0)
    dl.write_err = errno;
  dl.fd = -1;
  if (status == NOX_EUSER && dl.write_err != 0) {
    noxrc_fail("download: cannot write %s: %s", dl.part[0] ? dl.part : "stdout",
               strerror(dl.write_err));
    status = NOX_EIO;
  } else if (status != 0) {
    noxrc_report_error(rc, "download", req, status);
  }
  if (status != 0) {
    if (dl.part[0] != '\0')
      unlink(dl.part);
    noxrc_finish(rc,
                 rc->interrupted ? NOXRC_EXIT_INTERRUPTED : NOXRC_EXIT_FAILED);
    return;
  }
  if (o.extract != NULL) {
    const nox_transfer_report_t *t = nox_req_transfer(req);
    if (t != NULL && t->refused != 0)
      noxrc_warn("skipped %llu unsafe entr%s (absolute, '..', outside links "
                 "or special files), the first '%s'",
                 (unsigned long long)t->refused, t->refused == 1 ? "y" : "ies",
                 t->first_refused);
    if (t != NULL && t->stripped != 0)
      noxrc_warn("removed the setuid/setgid bits of %llu entr%s",
                 (unsigned long long)t->stripped,
                 t->stripped == 1 ? "y" : "ies");
    downloaded_ok(rc, o.extract);
    return;
  }
  if (!dl.to_stdout && rename(dl.part, dest) != 0) {
    noxrc_fail("download: cannot rename %s to %s: %s", dl.part, dest,
               strerror(errno));
    unlink(dl.part);
    noxrc_finish(rc, NOXRC_EXIT_FAILED);
    return;
  }
  downloaded_ok(rc, dest);
}

/* A directory that --extract may fill: absent, or empty. */
static int extract_target_ok(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int empty = 1;

  if (d == NULL)
    return errno == ENOENT;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      empty = 0;
  closedir(d);
  return empty;
}

/* Opens where the raw archive goes: FILE.part or stdout. */
static int open_sink(void) {
  if (o.output == NULL || strcmp(o.output, "-") == 0) {
    dl.fd = STDOUT_FILENO;
    dl.to_stdout = 1;
    return 0;
  } else {
    snprintf(dl.part, sizeof(dl.part), "%s.part", o.output);
    dl.fd = open(dl.part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  }
  if (dl.fd < 0) {
    noxrc_fail("download: cannot create %s: %s", dl.part, strerror(errno));
    dl.part[0] = '\0';
    return NOXRC_EXIT_FAILED;
  }
  return 0;
}

/*
 * Starts a download whose raw bytes go to open_sink(): --output or stdout.
 * Returns 0 or an exit code (reported).
 */
static int download_raw(noxrc_t *rc) {
  nox_download_options_t d = NOX_DOWNLOAD_OPTIONS_INIT;
  int err = open_sink();

  if (err != 0)
    return err;
  d.src = o.src;
  d.progress = on_raw_progress;
  noxrc_progress_init(&dl.progress, "download", 0);
  err = nox_download(&rc->current, rc->client, rc->session, &d, on_data,
                     on_downloaded, rc);
  if (err != 0) {
    if (!dl.to_stdout) {
      close(dl.fd);
      unlink(dl.part);
    }
    dl.fd = -1;
    return noxrc_report_error(rc, "download", NULL, err);
  }
  return 0;
}

int noxrc_cmd_download(noxrc_t *rc, int argc, char **argv) {
  nox_download_options_t d = NOX_DOWNLOAD_OPTIONS_INIT;
  noxrc_strv_t pos = {NULL, 0};
  int err = noxrc_args_parse(&download_cmd, argc, argv, &pos);

  if (err == 0)
    err = noxrc_args_ids("download", &pos, 1);
  if (err == 0 && o.output != NULL && o.extract != NULL)
    err = noxrc_usage_error("download", "give --output or --extract, not both");
  else if (err == 0 && o.extract != NULL && !extract_target_ok(o.extract))
    err = noxrc_usage_error(
        "download", "--extract '%s' must not exist or be empty", o.extract);
  else if (err == 0 && o.extract == NULL && o.output == NULL &&
           (isatty(STDOUT_FILENO) || noxrc_g.json))
    err = noxrc_usage_error("download", "where to? give --output FILE.tar.gz "
                                        "or --extract DIR");
  err = noxrc_connect_session(rc, err, &pos);
  if (err != 0)
    return err;
  if (o.extract == NULL) {
    err = download_raw(rc);
    return err != 0 ? err : NOXRC_RUNNING;
  }
  /* The streaming sink unpacks as bytes arrive, off the loop thread. */
  d.src = o.src;
  d.extract_dir = o.extract;
  d.progress = on_dl_progress;
  noxrc_progress_init(&dl.progress, "download", 0);
  err = nox_download(&rc->current, rc->client, rc->session, &d, NULL,
                     on_downloaded, rc);
  if (err != 0)
    err = noxrc_report_error(rc, "download", NULL, err);
  return err != 0 ? err : NOXRC_RUNNING;
}
