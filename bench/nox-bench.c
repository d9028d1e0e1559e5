/*
 * nox-bench: drives a NoxRunner backend through libnoxrunner's async API on
 * one uv loop and reports throughput, latency distribution and the client's
 * own cost. See bench/README.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"

static const char usage_text[] =
    "usage: nox-bench [--base-url URL|local:] [--scenario NAME]\n"
    "                 [--concurrency C | --rate R] [--requests N | --duration "
    "S]\n"
    "                 [--sandboxes M] [--cmd 'shell string'] [--size BYTES]\n"
    "                 [--max-connections K] [--http2] [--token T]\n"
    "                 [--id-prefix P] [--json FILE] [--svg FILE]\n"
    "                 [--allow-errors]\n"
    "scenarios: health exec create-delete lifecycle upload download\n"
    "exit status: 0 when every request succeeded, 1 when any failed (an exec\n"
    "exiting non-zero counts) or the run stopped, 2 for bad usage;\n"
    "--allow-errors exits 0 even when requests failed\n";

static void usage(FILE *f) {
  fputs(usage_text, f);
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || *s == '-')
    return -1;
  *out = v;
  return 0;
}

static int parse_u32(const char *s, uint32_t *out, uint32_t min) {
  uint64_t v;
  if (parse_u64(s, &v) != 0 || v < min || v > UINT32_MAX)
    return -1;
  *out = (uint32_t)v;
  return 0;
}

static int parse_pos_double(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !(v > 0) || !isfinite(v))
    return -1;
  *out = v;
  return 0;
}

static int parse_args(bench_cfg_t *cfg, int argc, char **argv) {
  enum {
    O_BASE = 256,
    O_SCEN,
    O_CONC,
    O_RATE,
    O_REQS,
    O_DUR,
    O_SBX,
    O_CMD,
    O_SIZE,
    O_MAXC,
    O_H2,
    O_TOKEN,
    O_JSON,
    O_SVG,
    O_PREFIX,
    O_ALLOW_ERRORS,
    O_HELP
  };
  static const struct option longopts[] = {
      {"base-url", required_argument, NULL, O_BASE},
      {"scenario", required_argument, NULL, O_SCEN},
      {"concurrency", required_argument, NULL, O_CONC},
      {"rate", required_argument, NULL, O_RATE},
      {"requests", required_argument, NULL, O_REQS},
      {"duration", required_argument, NULL, O_DUR},
      {"sandboxes", required_argument, NULL, O_SBX},
      {"cmd", required_argument, NULL, O_CMD},
      {"size", required_argument, NULL, O_SIZE},
      {"max-connections", required_argument, NULL, O_MAXC},
      {"http2", no_argument, NULL, O_H2},
      {"token", required_argument, NULL, O_TOKEN},
      {"json", required_argument, NULL, O_JSON},
      {"svg", required_argument, NULL, O_SVG},
      {"id-prefix", required_argument, NULL, O_PREFIX},
      {"allow-errors", no_argument, NULL, O_ALLOW_ERRORS},
      {"help", no_argument, NULL, O_HELP},
      {NULL, 0, NULL, 0}};
  bool have_conc = false, have_reqs = false;
  uint64_t size;
  int c;

  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    int bad = 0;
    switch (c) {
    case O_BASE:
      cfg->base_url = optarg;
      break;
    case O_SCEN:
      cfg->scenario = optarg;
      break;
    case O_CONC:
      bad = parse_u32(optarg, &cfg->concurrency, 1);
      have_conc = true;
      break;
    case O_RATE:
      bad = parse_pos_double(optarg, &cfg->rate);
      break;
    case O_REQS:
      bad = parse_u64(optarg, &cfg->requests) || cfg->requests == 0;
      have_reqs = true;
      break;
    case O_DUR:
      bad = parse_pos_double(optarg, &cfg->duration_s);
      break;
    case O_SBX:
      bad = parse_u32(optarg, &cfg->sandboxes, 1);
      break;
    case O_CMD:
      cfg->cmd = optarg;
      break;
    case O_SIZE:
      bad = parse_u64(optarg, &size) || size > ((uint64_t)1 << 32);
      cfg->size = (size_t)size;
      break;
    case O_MAXC:
      bad = parse_u32(optarg, &cfg->max_connections, 1);
      break;
    case O_H2:
      cfg->http2 = true;
      break;
    case O_TOKEN:
      cfg->token = optarg;
      break;
    case O_JSON:
      cfg->json_path = optarg;
      break;
    case O_SVG:
      cfg->svg_path = optarg;
      break;
    case O_PREFIX:
      cfg->id_prefix = optarg;
      break;
    case O_ALLOW_ERRORS:
      cfg->allow_errors = true;
      break;
    case O_HELP:
      usage(stdout);
      exit(0);
    default:
      return -1;
    }
    if (bad) {
      fprintf(stderr, "nox-bench: bad value for %s: %s\n", argv[optind - 1],
              optarg);
      return -1;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "nox-bench: unexpected argument: %s\n", argv[optind]);
    return -1;
  }
  if (have_conc && cfg->rate > 0) {
    fprintf(stderr, "nox-bench: --concurrency and --rate exclude each other\n");
    return -1;
  }
  if (have_reqs && cfg->duration_s > 0) {
    fprintf(stderr,
            "nox-bench: --requests and --duration exclude each other\n");
    return -1;
  }
  if (*cfg->id_prefix == '\0' || strlen(cfg->id_prefix) > 48) {
    fprintf(stderr, "nox-bench: --id-prefix must be 1 to 48 bytes\n");
    return -1;
  }
  return 0;
}

/* ---- the client's own cost ---------------------------------------------- */

static void cpu_now(double *user, double *sys, long *maxrss) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
  *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  *maxrss = ru.ru_maxrss;
}

/*
 * The longest loop iteration: the wall time between two prepare callbacks
 * (once per iteration, just before polling) minus the time the loop spent
 * blocked in the poll, which libuv measures with UV_METRICS_IDLE_TIME.
 */
static void on_lag_prepare(uv_prepare_t *h) {
  bench_t *b = h->data;
  uint64_t now = uv_hrtime();
  uint64_t idle = uv_metrics_idle_time(b->loop);
  if (b->lag_last_ns != 0) {
    uint64_t span = now - b->lag_last_ns;
    uint64_t blocked = idle - b->lag_last_idle_ns;
    uint64_t busy = span > blocked ? span - blocked : 0;
    if (busy > b->max_lag_ns)
      b->max_lag_ns = busy;
  }
  b->lag_last_ns = now;
  b->lag_last_idle_ns = idle;
}

/* ---- progress ------------------------------------------------------------ */

static void on_progress(uv_timer_t *t) {
  bench_t *b = t->data;
  double el = (double)(uv_hrtime() - b->t0_ns) / 1e9;
  fprintf(stderr,
          "\r%7.1fs  done %-10" PRIu64 " %9.0f/s  in flight %-7" PRIu64
          " errors %" PRIu64 "   ",
          el, b->finished, el > 0 ? (double)b->finished / el : 0.0, b->inflight,
          bench_total_errors(b));
  fflush(stderr);
}

/* ---- driving the iterations ---------------------------------------------- */

static uint64_t open_loop_total(const bench_t *b) {
  if (b->cfg.duration_s > 0)
    return (uint64_t)(b->cfg.rate * b->cfg.duration_s);
  return b->cfg.requests;
}

static bool may_issue(bench_t *b) {
  if (b->fatal != 0 || b->stop_issuing)
    return false;
  if (b->cfg.rate > 0)
    return b->issued < open_loop_total(b);
  if (b->cfg.duration_s > 0)
    return uv_hrtime() < b->deadline_ns;
  return b->issued < b->cfg.requests;
}

static void issue(bench_t *b, job_t *j, uint64_t intended) {
  j->b = b;
  j->iter = b->issued++;
  j->intended_ns = intended;
  /* Closed loop: the job's own index. Open loop: far more slots than
   * iterations in flight under any sane rate. */
  j->slot =
      b->cfg.rate > 0 ? (unsigned)(j->iter % 65536) : (unsigned)(j - b->jobs);
  b->inflight++;
  scenario_job_start(j);
}

static void end_timing(bench_t *b);

static uint64_t intended_of(const bench_t *b, uint64_t i) {
  return b->t0_ns + (uint64_t)((double)i * 1e9 / b->cfg.rate);
}

static void on_tick(uv_timer_t *t) {
  bench_t *b = t->data;
  uint64_t now = uv_hrtime();
  while (may_issue(b) && intended_of(b, b->issued) <= now) {
    job_t *j = calloc(1, sizeof(*j));
    if (j == NULL) {
      b->fatal = NOX_ENOMEM;
      break;
    }
    issue(b, j, intended_of(b, b->issued));
  }
  if (may_issue(b)) {
    uint64_t next = intended_of(b, b->issued);
    uint64_t ms = next > now ? (next - now + 999999) / 1000000 : 0;
    uv_timer_start(&b->tick, on_tick, ms, 0);
  } else if (b->inflight == 0) {
    end_timing(b);
  }
}

void bench_job_done(job_t *j) {
  bench_t *b = j->b;
  b->finished++;
  b->inflight--;
  if (b->cfg.rate > 0) {
    free(j);
    if (b->inflight == 0 && !may_issue(b) &&
        !uv_is_active((uv_handle_t *)&b->tick))
      end_timing(b);
    return;
  }
  if (may_issue(b)) {
    issue(b, j, uv_hrtime());
    return;
  }
  if (b->inflight == 0)
    end_timing(b);
}

static void on_teardown_done(bench_t *b);

static void end_timing(bench_t *b) {
  long rss;
  b->t1_ns = uv_hrtime();
  cpu_now(&b->cpu_user, &b->cpu_sys, &rss);
  b->cpu_user -= b->cpu_user0;
  b->cpu_sys -= b->cpu_sys0;
  uv_timer_stop(&b->tick);
  if (b->show_progress) {
    on_progress(&b->progress);
    fputc('\n', stderr);
    uv_timer_stop(&b->progress);
  }
  uv_prepare_stop(&b->lag);
  scenario_teardown(b, on_teardown_done);
}

static void on_setup_done(bench_t *b);

static void close_handles(void *data) {
  bench_t *b = data;
  b->client = NULL;
  uv_close((uv_handle_t *)&b->tick, NULL);
  uv_close((uv_handle_t *)&b->progress, NULL);
  uv_close((uv_handle_t *)&b->lag, NULL);
}

static void on_teardown_done(bench_t *b) {
  if (b->setup_err != 0) {
    fprintf(stderr, "nox-bench: deleting the sandboxes: %s\n",
            nox_strerror(b->setup_err));
    b->teardown_err = b->setup_err;
  }
  nox_client_close(b->client, close_handles, b);
}

static void on_setup_done(bench_t *b) {
  if (b->setup_err != 0) {
    fprintf(stderr, "nox-bench: setting up %u sandboxes: %s\n",
            b->cfg.sandboxes, nox_strerror(b->setup_err));
    b->fatal = b->setup_err;
    b->setup_err = 0;
    scenario_teardown(b, on_teardown_done);
    return;
  }
  long rss;
  cpu_now(&b->cpu_user0, &b->cpu_sys0, &rss);
  b->t0_ns = uv_hrtime();
  b->deadline_ns = b->t0_ns + (uint64_t)(b->cfg.duration_s * 1e9);
  uv_prepare_start(&b->lag, on_lag_prepare);
  if (b->show_progress)
    uv_timer_start(&b->progress, on_progress, 1000, 1000);
  if (b->cfg.rate > 0) {
    on_tick(&b->tick);
    return;
  }
  for (uint32_t i = 0; i < b->cfg.concurrency && may_issue(b); i++)
    issue(b, &b->jobs[i], uv_hrtime());
  if (b->inflight == 0)
    end_timing(b);
}

static int make_client(bench_t *b) {
  nox_client_options_t o = NOX_CLIENT_OPTIONS_INIT;
  o.base_url = b->cfg.base_url;
  o.token = b->cfg.token;
  o.max_retries = NOX_RETRIES_NONE;
  o.http_version = b->cfg.http2 ? NOX_HTTP_2 : NOX_HTTP_1_1;
  o.max_connections = b->cfg.max_connections;
  if (o.max_connections == 0)
    o.max_connections = b->cfg.rate > 0             ? 256
                        : b->cfg.concurrency < 1024 ? b->cfg.concurrency
                                                    : 1024;
  b->cfg.max_connections = o.max_connections;
  return nox_client_new(&b->client, b->loop, &o);
}

int main(int argc, char **argv) {
  static bench_t bench;
  bench_t *b = &bench;
  uv_loop_t loop;
  int rc = 0;

  b->cfg.base_url = "http://127.0.0.1:8080";
  b->cfg.scenario = "exec";
  b->cfg.concurrency = 64;
  b->cfg.requests = 1000;
  b->cfg.sandboxes = 1;
  b->cfg.size = 4096;
  b->cfg.id_prefix = "nb";
  b->pid = (long)getpid();
  if (parse_args(&b->cfg, argc, argv) != 0) {
    usage(stderr);
    return 2;
  }
  if (scenario_select(b) != 0) {
    fprintf(stderr, "nox-bench: unknown scenario: %s\n", b->cfg.scenario);
    usage(stderr);
    return 2;
  }
  if (b->cfg.rate > 0)
    b->cfg.concurrency = 0;
  for (int i = 0; i < OP__COUNT; i++)
    hist_init(&b->ops[i].hist);
  b->payload = malloc(b->cfg.size ? b->cfg.size : 1);
  b->jobs =
      calloc(b->cfg.concurrency ? b->cfg.concurrency : 1, sizeof(*b->jobs));
  if (b->payload == NULL || b->jobs == NULL || scenario_ids(b) != 0) {
    fprintf(stderr, "nox-bench: out of memory\n");
    return 1;
  }
  /* Text-like and varied, so gzip neither explodes nor vanishes it. */
  for (size_t i = 0; i < b->cfg.size; i++)
    b->payload[i] = (char)('a' + (i * 7 + i / 13) % 26);

  if (uv_loop_init(&loop) != 0 ||
      uv_loop_configure(&loop, UV_METRICS_IDLE_TIME) != 0) {
    fprintf(stderr, "nox-bench: cannot make the loop\n");
    return 1;
  }
  b->loop = &loop;
  uv_timer_init(&loop, &b->tick);
  uv_timer_init(&loop, &b->progress);
  uv_prepare_init(&loop, &b->lag);
  b->tick.data = b->progress.data = b->lag.data = b;
  b->show_progress = isatty(STDERR_FILENO) != 0;

  if (nox_library_init() != 0) {
    fprintf(stderr, "nox-bench: cannot initialise libcurl\n");
    return 1;
  }
  int err = make_client(b);
  if (err != 0) {
    fprintf(stderr, "nox-bench: %s: %s\n", b->cfg.base_url, nox_strerror(err));
    close_handles(b);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    nox_library_cleanup();
    return 2;
  }
  scenario_setup(b, on_setup_done);
  uv_run(&loop, UV_RUN_DEFAULT);

  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  b->peak_rss_kib = ru.ru_maxrss;
  if (b->fatal != 0) {
    fprintf(stderr, "nox-bench: stopped: %s\n", nox_strerror(b->fatal));
    rc = 1;
  }
  if (b->t1_ns != 0) {
    report_text(b, stdout);
    /* A benchmark whose requests failed measured nothing worth a 0. */
    uint64_t failed = bench_total_errors(b);
    if (b->teardown_err != 0 && !b->cfg.allow_errors)
      rc = 1;
    if (failed != 0 && !b->cfg.allow_errors) {
      fprintf(stderr,
              "nox-bench: %" PRIu64 " of %" PRIu64
              " requests failed: exit 1 (--allow-errors to exit 0)\n",
              failed, bench_total_ops(b));
      rc = 1;
    }
    if (b->cfg.json_path != NULL && report_json(b, b->cfg.json_path) != 0)
      rc = 1;
    if (b->cfg.svg_path != NULL && report_svg(b, b->cfg.svg_path) != 0)
      rc = 1;
  }
  if (uv_loop_close(&loop) != 0) {
    fprintf(stderr, "nox-bench: the loop still had handles\n");
    rc = 1;
  }
  nox_library_cleanup();
  free(b->payload);
  free(b->jobs);
  free(b->ids);
  return rc;
}
