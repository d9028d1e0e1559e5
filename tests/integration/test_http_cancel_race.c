/*
 * Cancelling transfers that curl is still connecting, then starting new ones
 * from their callbacks in the same loop turn. libcurl 7.88 closes such
 * sockets without its close-socket callback; the engine must never leave a
 * watcher on the closed fd (libuv aborts on epoll_ctl EBADF) nor mix up the
 * fd number when it comes back. Against a refused port and a slow server.
 */
#include <stdio.h>
#include <string.h>

#include <noxrunner.h>
#include <uv.h>

#include "harness.h"
#include "test.h"

#define N 24
#define CANCELED 16

static nox_client_t *client;
static int done, deletes_done;
static char ids[N][16];

static void on_delete(nox_req_t *req, int status) {
  (void)req;
  (void)status;
  deletes_done++;
}

static void on_create(nox_req_t *req, int status,
                      const nox_sandbox_info_t *info) {
  (void)info;
  (void)status;
  done++;
  /* A new request from inside the callback, in the same turn. */
  ASSERT_EQ(nox_delete(NULL, client, nox_req_data(req), on_delete, NULL), 0);
}

static void run(const char *url, int want_ok) {
  uv_loop_t loop;
  nox_req_t *reqs[N];
  ASSERT_EQ(uv_loop_init(&loop), 0);
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.base_url = url;
  o.max_retries = NOX_RETRIES_NONE;
  ASSERT_EQ(nox_client_new(&client, &loop, &o), 0);
  done = deletes_done = 0;
  for (int i = 0; i < N; i++) {
    snprintf(ids[i], sizeof(ids[i]), "race-%d", i);
    ASSERT_EQ(nox_create(&reqs[i], client, ids[i], NULL, on_create, ids[i]),
              0);
  }
  uv_run(&loop, UV_RUN_NOWAIT); /* the connects are under way */
  for (int i = 0; i < CANCELED; i++)
    ASSERT(nox_req_cancel(reqs[i]) == 0 ||
           nox_req_cancel(reqs[i]) == NOX_EALREADY);
  while (deletes_done < N)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(done, N);
  (void)want_ok;
  ASSERT_EQ(nox_client_close(client, NULL, NULL), 0);
  ASSERT_LOOP_CLOSES(&loop);
}

int main(void) {
  ASSERT_EQ(nox_library_init(), 0);
  char refused[64];
  snprintf(refused, sizeof(refused), "http://127.0.0.1:%d",
           nox_test_unused_port());
  for (int round = 0; round < 20; round++)
    run(refused, 0);
  nox_test_server_t fd;
  ASSERT_EQ(nox_test_faultd_start(&fd), 0);
  char slow[512];
  snprintf(slow, sizeof(slow), "%s/f/delay50", fd.url);
  for (int round = 0; round < 10; round++)
    run(slow, 1);
  nox_test_server_stop(&fd);
  nox_library_cleanup();
  printf("30 rounds of %d creates, %d canceled mid-connect: no stale watcher\n",
         N, CANCELED);
  return 0;
}
