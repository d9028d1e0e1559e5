/*
 * nox-soak: a long closed-loop run of small execs against one backend,
 * sampling the process's RSS and open file descriptors as it goes, to show
 * that neither grows: the report compares the first and last 10 % of the
 * run. Bounded by count (--requests) and by time (--max-seconds).
 *
 *   nox-soak URL [--requests N] [--concurrency C] [--max-seconds S] [--cmd CMD]
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <noxrunner.h>
#include <uv.h>

#define SAMPLES 100

typedef struct soak {
  uv_loop_t loop;
  nox_client_t *client;
  long requests, started, done, errors;
  int concurrency;
  uint64_t deadline_ns;
  const char *cmd;
  long rss_kib[SAMPLES];
  int fds[SAMPLES];
  int nsamples;
  bool stopping;
} soak_t;

static long rss_kib(void) {
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f != NULL) {
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
      resident = 0;
    fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int open_fds(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL)
    n += de->d_name[0] != '.';
  if (d)
    closedir(d);
  return n - 1; /* the directory itself */
}

static void start_one(soak_t *s);

static void on_exec(nox_req_t *req, int status, const nox_exec_result_t *r) {
  soak_t *s = nox_req_data(req);
  (void)r;
  s->done++;
  if (status != 0 && s->errors++ < 5)
    fprintf(stderr, "exec: %s: %s\n", nox_err_name(status),
            nox_req_error(req)->message);
  long step = s->requests / SAMPLES;
  if (step > 0 && s->done % step == 0 && s->nsamples < SAMPLES) {
    s->rss_kib[s->nsamples] = rss_kib();
    s->fds[s->nsamples] = open_fds();
    s->nsamples++;
  }
  if (uv_hrtime() > s->deadline_ns)
    s->stopping = true;
  start_one(s);
}

static void start_one(soak_t *s) {
  if (s->stopping || s->started >= s->requests)
    return;
  const char *argv[] = {"sh", "-c", s->cmd, NULL};
  s->started++;
  if (nox_exec(NULL, s->client, "soak", argv, NULL, on_exec, s) != 0) {
    fprintf(stderr, "nox_exec refused\n");
    exit(1);
  }
}

/* The sandbox exists before the first exec (an unknown one is a 404). */
static void on_create(nox_req_t *req, int status,
                      const nox_sandbox_info_t *info) {
  soak_t *s = nox_req_data(req);
  (void)info;
  if (status != 0) {
    fprintf(stderr, "create: %s: %s\n", nox_err_name(status),
            nox_req_error(req)->message);
    s->errors++;
    return;
  }
  for (int i = 0; i < s->concurrency; i++)
    start_one(s);
}

static void average(const soak_t *s, int from, int to, double *rss,
                    double *fds) {
  *rss = *fds = 0;
  for (int i = from; i < to; i++) {
    *rss += (double)s->rss_kib[i];
    *fds += s->fds[i];
  }
  *rss /= to - from;
  *fds /= to - from;
}

int main(int argc, char **argv) {
  soak_t s;
  memset(&s, 0, sizeof(s));
  if (argc < 2) {
    fprintf(stderr, "usage: %s URL [--requests N] [--concurrency C] "
                    "[--max-seconds S] [--cmd CMD]\n", argv[0]);
    return 2;
  }
  const char *url = argv[1];
  long max_seconds = 600;
  s.requests = 100000;
  s.concurrency = 64;
  s.cmd = "true";
  for (int i = 2; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--requests") == 0)
      s.requests = atol(argv[i + 1]);
    else if (strcmp(argv[i], "--concurrency") == 0)
      s.concurrency = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--max-seconds") == 0)
      max_seconds = atol(argv[i + 1]);
    else if (strcmp(argv[i], "--cmd") == 0)
      s.cmd = argv[i + 1];
    else {
      fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (s.requests < SAMPLES || s.concurrency < 1) {
    fprintf(stderr, "need --requests >= %d and --concurrency >= 1\n", SAMPLES);
    return 2;
  }
  nox_library_init();
  uv_loop_init(&s.loop);
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.base_url = url;
  if (nox_client_new(&s.client, &s.loop, &o) != 0) {
    fprintf(stderr, "bad URL %s\n", url);
    return 2;
  }
  uint64_t t0 = uv_hrtime();
  s.deadline_ns = t0 + (uint64_t)max_seconds * 1000000000ull;
  if (nox_create(NULL, s.client, "soak", NULL, on_create, &s) != 0) {
    fprintf(stderr, "nox_create refused\n");
    return 1;
  }
  uv_run(&s.loop, UV_RUN_DEFAULT);
  double secs = (double)(uv_hrtime() - t0) / 1e9;
  nox_client_close(s.client, NULL, NULL);
  uv_run(&s.loop, UV_RUN_DEFAULT);
  int loop_ok = uv_loop_close(&s.loop) == 0;
  nox_library_cleanup();

  if (s.nsamples < 20) {
    printf("too few samples (%d): run longer\n", s.nsamples);
    return 1;
  }
  int tenth = s.nsamples / 10;
  double rss_a, fds_a, rss_b, fds_b;
  average(&s, 0, tenth, &rss_a, &fds_a);
  average(&s, s.nsamples - tenth, s.nsamples, &rss_b, &fds_b);
  printf("{\"url\": \"%s\", \"requests\": %ld, \"errors\": %ld, "
         "\"concurrency\": %d, \"seconds\": %.1f, \"rps\": %.0f, "
         "\"rss_kib_first10\": %.0f, \"rss_kib_last10\": %.0f, "
         "\"fds_first10\": %.1f, \"fds_last10\": %.1f, \"loop_closed\": %s}\n",
         url, s.done, s.errors, s.concurrency, secs, (double)s.done / secs,
         rss_a, rss_b, fds_a, fds_b, loop_ok ? "true" : "false");
  return s.errors == 0 && loop_ok ? 0 : 1;
}
