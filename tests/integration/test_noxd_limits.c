/*
 * noxd's limits: past --max-execs an exec gets 503 with Retry-After (and the
 * library reports NOX_EUNAVAIL without retrying it); past --max-sandboxes
 * making a new sandbox (by create, or with --auto-create by an exec) gets
 * 503 with Retry-After while existing ones work on; a client dripping its
 * request headers or its JSON body a byte at a time is cut off while other
 * clients are served; noxd stays up throughout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <noxrunner.h>
#include <uv.h>

#include "noxd_util.h"
#include "test.h"

/* ---- the exec cap ------------------------------------------------------ */

static int ok, unavailable;

static void on_exec(nox_req_t *req, int status, const nox_exec_result_t *r) {
  (void)r;
  if (status == 0) {
    ok++;
  } else {
    ASSERT_EQ(status, NOX_EUNAVAIL);
    ASSERT_EQ(nox_req_error(req)->http_status, 503);
    ASSERT(strstr(nox_req_error(req)->message, "too many commands") != NULL);
    ASSERT_EQ(nox_req_attempts(req), 1); /* an exec is not retried on 503 */
    unavailable++;
  }
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud) {
  if (strncasecmp(buf, "Retry-After: 1", 14) == 0)
    *(int *)ud = 1;
  return size * n;
}

static size_t discard(char *buf, size_t size, size_t n, void *ud) {
  (void)buf;
  (void)ud;
  return size * n;
}

typedef struct {
  char *data;
  size_t len;
} buf_collect_t;

static size_t collect(char *buf, size_t size, size_t n, void *ud) {
  buf_collect_t *b = ud;
  char *p = realloc(b->data, b->len + size * n + 1);
  ASSERT(p != NULL);
  memcpy(p + b->len, buf, size * n);
  b->data = p;
  b->len += size * n;
  p[b->len] = '\0';
  return size * n;
}

/* Keeps the Retry-After header line, if any. */
static size_t keep_retry_after(char *buf, size_t size, size_t n, void *ud) {
  if (size * n < 64 && strncasecmp(buf, "Retry-After:", 12) == 0) {
    memcpy(ud, buf, size * n);
    ((char *)ud)[size * n] = '\0';
  }
  return size * n;
}

static void on_sleeper(nox_req_t *req, int status, const nox_exec_result_t *r) {
  (void)req;
  (void)r;
  ASSERT_EQ(status, 0);
  (*(int *)nox_req_data(req))++;
}

/* How many "up.*" files the holders have left in dir. */
static int count_up(const char *dir) {
  char p[4200];
  int n = 0;
  for (int i = 0; i < 2; i++) {
    snprintf(p, sizeof(p), "%s/up.%d", dir, i);
    n += access(p, F_OK) == 0;
  }
  return n;
}

static void test_exec_cap(void) {
  noxd_test_t t;
  const char *extra[] = {"--max-execs", "2", NULL};
  ASSERT_EQ(noxd_test_start(&t, "none", extra), 0);
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.base_url = t.srv.url;
  nox_client_t *c;
  ASSERT_EQ(nox_client_new(&c, &loop, &o), 0);
  char url[300];
  snprintf(url, sizeof(url), "%s/v1/sandboxes/cap", t.srv.url);
  ASSERT_EQ(noxd_http("PUT", url, NULL, NULL, NULL), 200);

  /*
   * Two commands hold both slots until the test lets them go: each marks
   * that it runs, then waits for "release" (unisolated, so the host paths
   * are theirs too). No timing is assumed.
   */
  char dir[] = "/tmp/nox-cap-XXXXXX", hold[2][4400], release[4200];
  ASSERT(mkdtemp(dir) != NULL);
  snprintf(release, sizeof(release), "%s/release", dir);
  const char *holder[2][4];
  for (int i = 0; i < 2; i++) {
    snprintf(hold[i], sizeof(hold[i]),
             "touch %s/up.%d; while [ ! -e %s ]; do sleep 0.05; done", dir, i,
             release);
    holder[i][0] = "sh";
    holder[i][1] = "-c";
    holder[i][2] = hold[i];
    holder[i][3] = NULL;
  }
  int sleepers = 0;
  nox_exec_options_t eo = NOX_EXEC_OPTIONS_INIT;
  eo.timeout_seconds = 600;
  ASSERT_EQ(nox_exec(NULL, c, "cap", holder[0], &eo, on_sleeper, &sleepers), 0);
  ASSERT_EQ(nox_exec(NULL, c, "cap", holder[1], &eo, on_sleeper, &sleepers), 0);
  uint64_t guard = uv_hrtime() + 120000000000ull; /* a hang guard only */
  while (count_up(dir) < 2) {
    ASSERT(uv_hrtime() < guard);
    uv_run(&loop, UV_RUN_NOWAIT);
    usleep(10000);
  }

  /* ...so a third is turned away, with Retry-After on the wire... */
  static const char *const echo[] = {"echo", "x", NULL};
  ASSERT_EQ(nox_exec(NULL, c, "cap", echo, NULL, on_exec, NULL), 0);
  snprintf(url, sizeof(url), "%s/v1/sandboxes/cap/exec", t.srv.url);
  CURL *e = curl_easy_init();
  int retry_after = 0;
  long code = 0;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, "{\"cmd\":[\"true\"]}");
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &retry_after);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
  ASSERT_EQ(curl_easy_perform(e), CURLE_OK);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(e);
  ASSERT_EQ(code, 503);
  ASSERT_EQ(retry_after, 1);

  /* ...and once they are done the slots are free again. */
  while (ok + unavailable < 1)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(sleepers, 0);
  FILE *f = fopen(release, "w");
  ASSERT(f != NULL && fclose(f) == 0);
  while (sleepers < 2)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(unavailable, 1);
  ASSERT_EQ(nox_exec(NULL, c, "cap", echo, NULL, on_exec, NULL), 0);
  while (ok < 1)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(ok, 1);

  ASSERT_EQ(nox_client_close(c, NULL, NULL), 0);
  ASSERT_LOOP_CLOSES(&loop);
  ASSERT(noxd_test_alive(&t));
  ASSERT_EQ(noxd_test_stop(&t), 0);
  for (int i = 0; i < 2; i++) {
    snprintf(hold[i], sizeof(hold[i]), "%s/up.%d", dir, i);
    unlink(hold[i]);
  }
  unlink(release);
  rmdir(dir);
}

/* ---- the sandbox cap --------------------------------------------------- */

/* One request; the status, and the Retry-After value (0 when absent). */
static long request(const char *method, const char *url, const char *body,
                    int *retry_after, char *msg, size_t msglen) {
  static const char prefix[] = "Retry-After:";
  char hdr[64] = "";
  char *resp = NULL;
  CURL *e = curl_easy_init();
  long code = -1;
  buf_collect_t b = {NULL, 0};

  ASSERT(e != NULL);
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  if (body != NULL)
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, keep_retry_after);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, hdr);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
  ASSERT_EQ(curl_easy_perform(e), CURLE_OK);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(e);
  resp = b.data;
  *retry_after = strncasecmp(hdr, prefix, sizeof(prefix) - 1) == 0
                     ? atoi(hdr + sizeof(prefix) - 1)
                     : 0;
  msg[0] = '\0';
  if (resp != NULL)
    noxd_error_message(resp, msg, msglen);
  free(resp);
  return code;
}

static void on_capped_create(nox_req_t *req, int status,
                             const nox_sandbox_info_t *info) {
  (void)info;
  ASSERT_EQ(status, NOX_EUNAVAIL);
  ASSERT_EQ(nox_req_error(req)->http_status, 503);
  ASSERT(strstr(nox_req_error(req)->message, "too many sandboxes") != NULL);
  *(int *)nox_req_data(req) = 1;
}

static void test_sandbox_cap(void) {
  noxd_test_t t;
  /* --auto-create: an exec of an unknown id makes a sandbox, and counts. */
  const char *extra[] = {"--max-sandboxes", "2", "--auto-create", NULL};
  char url[300], msg[256];
  int ra;

  ASSERT_EQ(noxd_test_start(&t, "none", extra), 0);
#define SB(id, tail)                                                           \
  (snprintf(url, sizeof(url), "%s/v1/sandboxes/" id "%s", t.srv.url, tail), url)
  ASSERT_EQ(request("PUT", SB("a", ""), "{}", &ra, msg, sizeof(msg)), 200);
  ASSERT_EQ(request("PUT", SB("b", ""), "{}", &ra, msg, sizeof(msg)), 200);

  /* A third sandbox, by create or by an exec's auto-create: 503. */
  ASSERT_EQ(request("PUT", SB("c", ""), "{}", &ra, msg, sizeof(msg)), 503);
  ASSERT_EQ(ra, 5);
  ASSERT(strstr(msg, "too many sandboxes (the limit is 2)") != NULL);
  ASSERT_EQ(request("POST", SB("c", "/exec"), "{\"cmd\":[\"true\"]}", &ra, msg,
                    sizeof(msg)),
            503);
  ASSERT_EQ(ra, 5);

  /* Existing sandboxes are unaffected: create again, exec, touch. */
  ASSERT_EQ(
      request("PUT", SB("a", ""), "{\"ttlSeconds\":60}", &ra, msg, sizeof(msg)),
      200);
  ASSERT_EQ(ra, 0);
  ASSERT_EQ(request("POST", SB("b", "/exec"), "{\"cmd\":[\"true\"]}", &ra, msg,
                    sizeof(msg)),
            200);
  ASSERT_EQ(request("POST", SB("b", "/touch"), NULL, &ra, msg, sizeof(msg)),
            200);

  /* The library sees NOX_EUNAVAIL with the server's message. */
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.base_url = t.srv.url;
  o.max_retries = NOX_RETRIES_NONE;
  nox_client_t *c;
  ASSERT_EQ(nox_client_new(&c, &loop, &o), 0);
  int done = 0;
  ASSERT_EQ(nox_create(NULL, c, "d", NULL, on_capped_create, &done), 0);
  while (!done)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(nox_client_close(c, NULL, NULL), 0);
  ASSERT_LOOP_CLOSES(&loop);

  /* A delete frees the slot at once. */
  ASSERT_EQ(request("DELETE", SB("b", ""), NULL, &ra, msg, sizeof(msg)), 204);
  ASSERT_EQ(request("PUT", SB("c", ""), "{}", &ra, msg, sizeof(msg)), 200);
#undef SB
  ASSERT(noxd_test_alive(&t));
  ASSERT_EQ(noxd_test_stop(&t), 0);
}

/* ---- slow clients ------------------------------------------------------ */

static int connect_to(int port) {
  struct sockaddr_in sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT(fd >= 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  return fd;
}

/*
 * Sends text one byte every 200 ms until noxd closes the connection, while
 * checking that /healthz keeps answering on other connections. Returns the
 * seconds it took to be cut off (bounded by 30 s: never cut is a failure).
 */
static double drip_until_cut(const noxd_test_t *t, const char *at_once,
                             const char *text) {
  int fd = connect_to(t->srv.port);
  ASSERT_EQ(send(fd, at_once, strlen(at_once), MSG_NOSIGNAL),
            (ssize_t)strlen(at_once));
  char url[300];
  snprintf(url, sizeof(url), "%s/healthz", t->srv.url);
  uint64_t t0 = uv_hrtime();
  size_t i = 0, len = strlen(text);
  for (int step = 0; step < 150; step++) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 200) > 0) {
      char buf[512];
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) {
        close(fd);
        return (double)(uv_hrtime() - t0) / 1e9;
      }
      /* noxd answered something: only a close counts here */
    }
    char ch = i < len ? text[i++] : 'x';
    if (send(fd, &ch, 1, MSG_NOSIGNAL) < 0) {
      close(fd);
      return (double)(uv_hrtime() - t0) / 1e9;
    }
    if (step % 5 == 0)
      ASSERT_EQ(nox_test_http("GET", url, NULL), 200); /* others unaffected */
  }
  close(fd);
  ASSERT(!"noxd never cut the slow client off");
  return -1;
}

static void test_slow_clients(void) {
  noxd_test_t t;
  const char *extra[] = {"--header-timeout", "1", "--body-timeout", "1", NULL};
  ASSERT_EQ(noxd_test_start(&t, "none", extra), 0);

  double s =
      drip_until_cut(&t, "", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  printf("  headers at 5 bytes/s: cut after %.1f s\n", s);
  /* Headers at once, then the body a byte at a time. */
  s = drip_until_cut(&t,
                     "POST /v1/sandboxes/slow/exec HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: 1000\r\n\r\n",
                     "{\"cmd\":[\"true\"");
  printf("  a JSON body at 5 bytes/s: cut after %.1f s\n", s);

  ASSERT(noxd_test_alive(&t));
  char url[300];
  snprintf(url, sizeof(url), "%s/healthz", t.srv.url);
  ASSERT_EQ(nox_test_http("GET", url, NULL), 200);
  ASSERT_EQ(noxd_test_stop(&t), 0);
}

int main(void) {
  ASSERT_EQ(nox_library_init(), 0);
  printf("[ RUN ] exec_cap\n");
  test_exec_cap();
  printf("[ RUN ] sandbox_cap\n");
  test_sandbox_cap();
  printf("[ RUN ] slow_clients\n");
  test_slow_clients();
  nox_library_cleanup();
  return 0;
}
