/*
 * Test support: server processes on loopback and their control endpoints.
 */
#define _GNU_SOURCE /* pipe2 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define START_DEADLINE_MS 60000u
#define STOP_GRACE_MS 30000u
#define CONTROL_TIMEOUT_MS 30000L

unsigned long long nox_test_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (unsigned long long)ts.tv_sec * 1000u +
         (unsigned long long)ts.tv_nsec / 1000000u;
}

/*
 * Reads the child's stdout after its first line until EOF, so that a
 * chatty server never blocks on a full pipe. EOF comes when the server
 * exits.
 */
static void *drain_thread(void *arg) {
  int fd = (int)(intptr_t)arg;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0 || (n < 0 && errno == EINTR))
      continue;
    break;
  }
  close(fd);
  return NULL;
}

/* Reads up to the first '\n' by the deadline. Returns 0 or -1. */
static int read_first_line(int fd, char *line, size_t cap) {
  unsigned long long deadline = nox_test_now_ms() + START_DEADLINE_MS;
  size_t len = 0;
  for (;;) {
    unsigned long long now = nox_test_now_ms();
    if (now >= deadline)
      return -1;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, (int)(deadline - now));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    /* One byte at a time: what follows the line belongs to the drainer. */
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    if (c == '\n') {
      line[len] = '\0';
      return 0;
    }
    if (len + 1 < cap)
      line[len++] = c;
  }
}

static int parse_listen_line(nox_test_server_t *s, const char *line) {
  const char *url = strstr(line, "http://");
  if (url == NULL)
    return -1;
  size_t n = strcspn(url, " \t\r");
  if (n >= sizeof(s->url))
    return -1;
  memcpy(s->url, url, n);
  s->url[n] = '\0';
  const char *colon = strrchr(s->url, ':');
  if (colon == NULL || colon < s->url + strlen("http://"))
    return -1;
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end != '\0' && *end != '/')
    return -1;
  if (port <= 0 || port > 65535)
    return -1;
  s->port = (int)port;
  return 0;
}

int nox_test_server_start(nox_test_server_t *s, const char *const argv[]) {
  int fds[2];
  char line[512];

  memset(s, 0, sizeof(*s));
  if (pipe2(fds, O_CLOEXEC) != 0)
    return -1;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    /*
     * A test that aborts on a failed ASSERT never reaches its stop call;
     * the parent-death signal keeps its servers from outliving it.
     */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(127);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      dup2(devnull, STDIN_FILENO);
    dup2(fds[1], STDOUT_FILENO);
    execvp(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(fds[1]);
  s->pid = pid;

  if (read_first_line(fds[0], line, sizeof(line)) != 0 ||
      parse_listen_line(s, line) != 0) {
    fprintf(stderr, "harness: %s did not announce its port\n", argv[0]);
    close(fds[0]);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    memset(s, 0, sizeof(*s));
    return -1;
  }

  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int r = pthread_create(&t, &attr, drain_thread, (void *)(intptr_t)fds[0]);
  pthread_attr_destroy(&attr);
  if (r != 0) {
    close(fds[0]);
    nox_test_server_stop(s);
    return -1;
  }
  return 0;
}

int nox_test_faultd_start(nox_test_server_t *s) {
  const char *const argv[] = {"python3",
                              NOX_SOURCE_DIR "/tests/integration/faultd.py",
                              "--port", "0", NULL};
  return nox_test_server_start(s, argv);
}

int nox_test_server_stop(nox_test_server_t *s) {
  int status = -1;
  if (s->pid <= 0)
    return -1;
  kill(s->pid, SIGTERM);
  unsigned long long deadline = nox_test_now_ms() + STOP_GRACE_MS;
  for (;;) {
    pid_t r = waitpid(s->pid, &status, WNOHANG);
    if (r == s->pid)
      break;
    if (r < 0 && errno != EINTR) {
      status = -1;
      break;
    }
    if (nox_test_now_ms() >= deadline) {
      kill(s->pid, SIGKILL);
      while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
        ;
      break;
    }
    struct timespec pause = {0, 10 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  s->pid = 0;
  return status;
}

typedef struct {
  char *data;
  size_t len;
} membuf_t;

static size_t membuf_write(char *p, size_t size, size_t n, void *userdata) {
  membuf_t *b = userdata;
  size_t add = size * n;
  char *d = realloc(b->data, b->len + add + 1);
  if (d == NULL)
    return 0;
  memcpy(d + b->len, p, add);
  b->data = d;
  b->len += add;
  b->data[b->len] = '\0';
  return add;
}

long nox_test_http(const char *method, const char *url, char **body) {
  membuf_t b = {NULL, 0};
  long status = -1;
  CURL *h = curl_easy_init();
  if (h == NULL)
    return -1;
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, CONTROL_TIMEOUT_MS);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, membuf_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
  if (strcmp(method, "GET") == 0) {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (strcmp(method, "POST") == 0) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
  } else {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  }
  if (curl_easy_perform(h) == CURLE_OK)
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(h);
  if (status >= 0 && body != NULL) {
    if (b.data == NULL)
      b.data = calloc(1, 1);
    *body = b.data;
    if (b.data == NULL)
      status = -1;
  } else {
    free(b.data);
  }
  return status;
}

static yajl_val get_json(const nox_test_server_t *s, const char *path) {
  char url[512];
  char *body = NULL;
  char err[256];
  snprintf(url, sizeof(url), "%s%s", s->url, path);
  if (nox_test_http("GET", url, &body) != 200) {
    free(body);
    return NULL;
  }
  yajl_val v = yajl_tree_parse(body, err, sizeof(err));
  if (v == NULL)
    fprintf(stderr, "harness: %s: %s\n", path, err);
  free(body);
  return v;
}

int nox_test_faultd_reset(const nox_test_server_t *s) {
  char url[512];
  snprintf(url, sizeof(url), "%s/_reset", s->url);
  return nox_test_http("POST", url, NULL) == 200 ? 0 : -1;
}

yajl_val nox_test_faultd_log(const nox_test_server_t *s) {
  yajl_val v = get_json(s, "/_log");
  if (v != NULL && !YAJL_IS_ARRAY(v)) {
    yajl_tree_free(v);
    return NULL;
  }
  return v;
}

long nox_test_faultd_stat(const nox_test_server_t *s, const char *field) {
  yajl_val v = get_json(s, "/_stats");
  if (v == NULL)
    return -1;
  long r = (long)nox_test_json_int(v, field);
  yajl_tree_free(v);
  return r;
}

const char *nox_test_json_str(yajl_val v, const char *key1, const char *key2) {
  const char *path[] = {key1, key2, NULL};
  yajl_val s = yajl_tree_get(v, path, yajl_t_string);
  return s != NULL ? YAJL_GET_STRING(s) : NULL;
}

long long nox_test_json_int(yajl_val v, const char *key) {
  const char *path[] = {key, NULL};
  yajl_val n = yajl_tree_get(v, path, yajl_t_number);
  if (n == NULL || !YAJL_IS_INTEGER(n))
    return -1;
  return YAJL_GET_INTEGER(n);
}

int nox_test_unused_port(void) {
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int port = -1;
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
      getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
    port = ntohs(sa.sin_port);
  close(fd);
  return port;
}
