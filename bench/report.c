/*
 * The report: a table on stdout, the same figures as JSON (yajl_gen), and
 * a latency-by-percentile plot as a standalone SVG.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "bench.h"

static const double quantiles[] = {0.5, 0.9, 0.99, 0.999};
static const char *const quantile_keys[] = {"p50_ms", "p90_ms", "p99_ms",
                                            "p999_ms"};
#define NQ (sizeof(quantiles) / sizeof(quantiles[0]))

static double wall_s(const bench_t *b) {
  return (double)(b->t1_ns - b->t0_ns) / 1e9;
}

static double ms(uint64_t ns) {
  return (double)ns / 1e6;
}

uint64_t bench_total_ops(const bench_t *b) {
  uint64_t n = 0;
  for (int i = 0; i < OP__COUNT; i++)
    n += b->ops[i].count;
  return n;
}

uint64_t bench_total_errors(const bench_t *b) {
  uint64_t n = 0;
  for (int i = 0; i < OP__COUNT; i++)
    n += b->ops[i].errors;
  return n;
}

static const char *slot_name(unsigned slot) {
  return slot == ERR_EXIT_SLOT ? "EXIT_NONZERO" : nox_err_name(-(int)slot);
}

static double cpu_us_per_op(const bench_t *b) {
  uint64_t n = bench_total_ops(b);
  return n ? (b->cpu_user + b->cpu_sys) * 1e6 / (double)n : 0.0;
}

void report_text(const bench_t *b, FILE *f) {
  double wall = wall_s(b);
  fprintf(f, "nox-bench: %s on %s, ", b->cfg.scenario, b->cfg.base_url);
  if (b->cfg.rate > 0)
    fprintf(f, "open loop at %.1f/s", b->cfg.rate);
  else
    fprintf(f, "closed loop, concurrency %u", b->cfg.concurrency);
  fprintf(f, ", %u connections%s\n", b->cfg.max_connections,
          b->cfg.http2 ? " (HTTP/2)" : "");
  fprintf(f, "%" PRIu64 " iterations, %" PRIu64 " requests in %.3f s\n\n",
          b->finished, bench_total_ops(b), wall);
  fprintf(f, "%-9s %9s %7s %10s %9s %9s %9s %9s %9s %10s\n", "op", "count",
          "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
          "MB/s");
  for (int i = 0; i < OP__COUNT; i++) {
    const op_stats_t *st = &b->ops[i];
    if (st->count == 0)
      continue;
    fprintf(f, "%-9s %9" PRIu64 " %7" PRIu64 " %10.1f", bench_op_names[i],
            st->count, st->errors, (double)st->count / wall);
    for (size_t q = 0; q < NQ; q++)
      fprintf(f, " %9.3f", ms(hist_quantile(&st->hist, quantiles[q])));
    fprintf(f, " %9.3f", ms(st->hist.max));
    if (st->bytes)
      fprintf(f, " %10.2f", (double)st->bytes / wall / 1e6);
    fputc('\n', f);
  }
  for (int i = 0; i < OP__COUNT; i++) {
    for (unsigned s = 0; s < ERR_SLOTS; s++) {
      if (b->ops[i].by_code[s])
        fprintf(f, "errors: %s %s %" PRIu64 "\n", bench_op_names[i],
                slot_name(s), b->ops[i].by_code[s]);
    }
    if (b->ops[i].first_error[0] != '\0')
      fprintf(f, "first %s error: %s\n", bench_op_names[i],
              b->ops[i].first_error);
  }
  uint64_t failed = bench_total_errors(b);
  if (failed != 0)
    fprintf(f, "\nFAILED: %" PRIu64 " of %" PRIu64 " requests failed%s\n",
            failed, bench_total_ops(b),
            b->cfg.allow_errors ? " (allowed by --allow-errors)" : "");
  else
    fprintf(f, "\nall %" PRIu64 " requests succeeded\n", bench_total_ops(b));
  fprintf(f,
          "\nclient: cpu %.3f s (user %.3f, sys %.3f), %.1f us/request, "
          "peak RSS %ld KiB, longest loop iteration %.3f ms\n",
          b->cpu_user + b->cpu_sys, b->cpu_user, b->cpu_sys, cpu_us_per_op(b),
          b->peak_rss_kib, ms(b->max_lag_ns));
}

/* ---- JSON -----------------------------------------------------------------
 */

static void gstr(yajl_gen g, const char *s) {
  yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gnum(yajl_gen g, const char *key, double v) {
  gstr(g, key);
  /* Three decimals are plenty; yajl_gen_double would print 20 digits. */
  char num[64];
  int n = snprintf(num, sizeof(num), "%.3f", v);
  yajl_gen_number(g, num, (size_t)n);
}

static void gint(yajl_gen g, const char *key, long long v) {
  gstr(g, key);
  yajl_gen_integer(g, v);
}

int report_json(const bench_t *b, const char *path) {
  yajl_gen g = yajl_gen_alloc(NULL);
  if (g == NULL)
    return -1;
  yajl_gen_config(g, yajl_gen_beautify, 1);
  double wall = wall_s(b);

  yajl_gen_map_open(g);
  gstr(g, "scenario");
  gstr(g, b->cfg.scenario);
  gstr(g, "base_url");
  gstr(g, b->cfg.base_url);
  gstr(g, "mode");
  gstr(g, b->cfg.rate > 0 ? "open" : "closed");
  gint(g, "concurrency", b->cfg.concurrency);
  gnum(g, "rate", b->cfg.rate);
  gint(g, "max_connections", b->cfg.max_connections);
  gstr(g, "http2");
  yajl_gen_bool(g, b->cfg.http2);
  bool shared = !b->per_iteration_sandbox && b->steps[0] != OP_HEALTH;
  gint(g, "sandboxes", shared ? b->cfg.sandboxes : 0);
  gint(g, "iterations", (long long)b->finished);
  gint(g, "requests", (long long)bench_total_ops(b));
  gint(g, "errors", (long long)bench_total_errors(b));
  gnum(g, "wall_s", wall);
  gnum(g, "rps", (double)bench_total_ops(b) / wall);
  gnum(g, "cpu_s", b->cpu_user + b->cpu_sys);
  gnum(g, "cpu_user_s", b->cpu_user);
  gnum(g, "cpu_sys_s", b->cpu_sys);
  gnum(g, "cpu_us_per_request", cpu_us_per_op(b));
  gint(g, "peak_rss_kib", b->peak_rss_kib);
  gnum(g, "max_loop_lag_ms", ms(b->max_lag_ns));

  gstr(g, "ops");
  yajl_gen_map_open(g);
  for (unsigned s = 0; s < b->nsteps; s++) {
    int i = b->steps[s];
    const op_stats_t *st = &b->ops[i];
    gstr(g, bench_op_names[i]);
    yajl_gen_map_open(g);
    gint(g, "count", (long long)st->count);
    gint(g, "errors", (long long)st->errors);
    gstr(g, "errors_by_code");
    yajl_gen_map_open(g);
    for (unsigned e = 0; e < ERR_SLOTS; e++) {
      if (st->by_code[e])
        gint(g, slot_name(e), (long long)st->by_code[e]);
    }
    yajl_gen_map_close(g);
    gstr(g, "first_error");
    gstr(g, st->first_error);
    gnum(g, "rps", (double)st->count / wall);
    for (size_t q = 0; q < NQ; q++)
      gnum(g, quantile_keys[q], ms(hist_quantile(&st->hist, quantiles[q])));
    gnum(g, "max_ms", ms(st->hist.max));
    gnum(g, "mean_ms",
         st->count ? st->hist.sum / 1e6 / (double)st->count : 0.0);
    gint(g, "bytes", (long long)st->bytes);
    gnum(g, "bytes_per_s", (double)st->bytes / wall);
    yajl_gen_map_close(g);
  }
  yajl_gen_map_close(g);
  yajl_gen_map_close(g);

  const unsigned char *out;
  size_t len;
  int rc = -1;
  if (yajl_gen_get_buf(g, &out, &len) == yajl_gen_status_ok) {
    FILE *f = fopen(path, "w");
    if (f != NULL) {
      rc = fwrite(out, 1, len, f) == len ? 0 : -1;
      if (fclose(f) != 0)
        rc = -1;
    }
  }
  if (rc != 0)
    fprintf(stderr, "nox-bench: cannot write %s\n", path);
  yajl_gen_free(g);
  return rc;
}

/* ---- SVG ------------------------------------------------------------------
 */

/*
 * x: the percentile as "nines", log10(1 / (1 - p)), so 90%, 99%, 99.9% are
 * equally spaced; y: latency on a log10 scale, whole decades.
 */
enum { W = 820, H = 500, ML = 70, MR = 150, MT = 40, MB = 50 };

static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c",
                                     "#ff7f0e", "#9467bd", "#8c564b"};

static double nines(double p, double cap) {
  double x = p >= 1.0 ? cap : -log10(1.0 - p);
  return x > cap ? cap : x;
}

int report_svg(const bench_t *b, const char *path) {
  FILE *f = fopen(path, "w");
  if (f == NULL) {
    fprintf(stderr, "nox-bench: cannot write %s\n", path);
    return -1;
  }
  uint64_t lo = UINT64_MAX, hi = 0, most = 0;
  for (int i = 0; i < OP__COUNT; i++) {
    const hist_t *h = &b->ops[i].hist;
    if (h->count == 0)
      continue;
    lo = h->min < lo ? h->min : lo;
    hi = h->max > hi ? h->max : hi;
    most = h->count > most ? h->count : most;
  }
  if (most == 0) {
    lo = 1000;
    hi = 1000000;
    most = 1;
  }
  double ylo = floor(log10(ms(lo > 0 ? lo : 1)));
  double yhi = ceil(log10(ms(hi > 0 ? hi : 1)));
  if (yhi <= ylo)
    yhi = ylo + 1;
  /* One more nine than the count supports, at least 99.9%. */
  double xcap = ceil(log10((double)most));
  if (xcap < 3)
    xcap = 3;
  double pw = W - ML - MR, ph = H - MT - MB;
#define PX(x) (ML + (x) / xcap * pw)
#define PY(y) (MT + ph - ((y)-ylo) / (yhi - ylo) * ph)

  fprintf(f,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
          "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
          "font-size=\"12\">\n"
          "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
          W, H, W, H);
  fprintf(f,
          "<text x=\"%d\" y=\"22\" font-size=\"15\">nox-bench %s: latency by "
          "percentile (%s %u, %" PRIu64 " requests)</text>\n",
          ML, b->cfg.scenario, b->cfg.rate > 0 ? "rate" : "concurrency",
          b->cfg.rate > 0 ? (unsigned)b->cfg.rate : b->cfg.concurrency,
          bench_total_ops(b));
  for (int d = 0; d <= (int)xcap; d++) {
    static const char *const labels[] = {
        "0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"};
    double x = PX(d);
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" "
            "stroke=\"#ddd\"/>\n<text x=\"%.1f\" y=\"%.1f\" "
            "text-anchor=\"middle\">%s</text>\n",
            x, MT, x, MT + ph, x, MT + ph + 18, d < 7 ? labels[d] : "");
  }
  for (int d = (int)ylo; d <= (int)yhi; d++) {
    double y = PY(d);
    fprintf(f,
            "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
            "stroke=\"#ddd\"/>\n<text x=\"%d\" y=\"%.1f\" "
            "text-anchor=\"end\">%g ms</text>\n",
            ML, y, ML + pw, y, ML - 6, y + 4, pow(10, d));
  }
  fprintf(f,
          "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">percentile</text>\n"
          "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%.1f\" "
          "fill=\"none\" stroke=\"#888\"/>\n",
          ML + pw / 2, H - 8, ML, MT, pw, ph);

  int n = 0;
  for (int i = 0; i < OP__COUNT; i++) {
    const hist_t *h = &b->ops[i].hist;
    if (h->count == 0)
      continue;
    const char *color = colors[n % 6];
    fprintf(f,
            "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
            "points=\"",
            color);
    size_t pos = 0;
    uint64_t v, below = 0, prev = 0;
    while (hist_next(h, &pos, &v, &below)) {
      double y = PY(log10(ms(v > 0 ? v : 1)));
      /* A step: the value holds from the previous rank to this one. */
      fprintf(f, "%.1f,%.1f %.1f,%.1f ",
              PX(nines((double)prev / (double)h->count, xcap)), y,
              PX(nines((double)below / (double)h->count, xcap)), y);
      prev = below;
    }
    fprintf(f, "\"/>\n");
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" "
            "stroke-width=\"3\"/><text x=\"%.1f\" y=\"%d\">%s</text>\n",
            ML + pw + 12, MT + 10 + n * 20, ML + pw + 36, MT + 10 + n * 20,
            color, ML + pw + 42, MT + 14 + n * 20, bench_op_names[i]);
    n++;
  }
  fprintf(f, "</svg>\n");
#undef PX
#undef PY
  return fclose(f) == 0 ? 0 : -1;
}
