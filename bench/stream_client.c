/*
 * The library's side of bench/stream.sh: one streaming transfer, timed.
 *
 *   stream_client download BASE_URL ID SRC DIR   (extract into DIR)
 *   stream_client upload   BASE_URL ID DIR DEST  (pack DIR, send)
 *
 * Prints "bytes=N entries=N seconds=S" and exits 0 on success.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "noxrunner.h"

static int g_status = 1;
static nox_transfer_report_t g_rep;

static void on_done(nox_req_t *req, int status) {
  g_status = status;
  g_rep = *nox_req_transfer(req);
  if (status != 0)
    fprintf(stderr, "stream_client: %s: %s\n", nox_err_name(status),
            nox_req_error(req)->message);
  nox_client_close(nox_req_client(req), NULL, NULL);
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s download|upload BASE_URL ID PATH1 PATH2\n",
            argv[0]);
    return 2;
  }
  uv_loop_t loop;
  nox_client_t *c;
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.base_url = argv[2];
  o.request_timeout_ms = 120000;
  if (nox_library_init() != 0 || uv_loop_init(&loop) != 0 ||
      nox_client_new(&c, &loop, &o) != 0)
    return 1;
  uint64_t t0 = uv_hrtime();
  int rc;
  if (strcmp(argv[1], "download") == 0) {
    nox_download_options_t d = NOX_DOWNLOAD_OPTIONS_INIT;
    d.src = argv[4];
    d.extract_dir = argv[5];
    rc = nox_download(NULL, c, argv[3], &d, NULL, on_done, NULL);
  } else {
    nox_upload_options_t u = NOX_UPLOAD_OPTIONS_INIT;
    u.dir = argv[4];
    u.dest = argv[5];
    rc = nox_upload(NULL, c, argv[3], &u, on_done, NULL);
  }
  if (rc != 0) {
    fprintf(stderr, "stream_client: %s\n", nox_err_name(rc));
    return 1;
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  double secs = (double)(uv_hrtime() - t0) / 1e9;
  printf("bytes=%llu entries=%llu seconds=%.3f\n",
         (unsigned long long)g_rep.bytes, (unsigned long long)g_rep.entries,
         secs);
  uv_loop_close(&loop);
  nox_library_cleanup();
  return g_status == 0 ? 0 : 1;
}
