/*
 * The progress display's text: pure functions of the counts and the time,
 * kept apart from the drawing (output.c) so that a unit test can check
 * them (tests/unit/test_noxrc_progress.c).
 */
#include <stdio.h>
#include <string.h>

#include "noxrc.h"

void noxrc_format_bytes(char *buf, size_t cap, double bytes) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  size_t u = 0;

  while (bytes >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
    bytes /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(buf, cap, "%.0f %s", bytes, units[u]);
  else
    snprintf(buf, cap, "%.1f %s", bytes, units[u]);
}

void noxrc_format_eta(char *buf, size_t cap, double secs) {
  unsigned long s;

  if (!(secs >= 0) || secs > 359999) { /* unknown, or past 99:59:59 */
    snprintf(buf, cap, "--:--");
    return;
  }
  s = (unsigned long)(secs + 0.5);
  if (s >= 3600)
    snprintf(buf, cap, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
  else
    snprintf(buf, cap, "%lu:%02lu", s / 60, s % 60);
}

unsigned noxrc_progress_percent(uint64_t bytes, uint64_t total) {
  if (total == 0 || bytes >= total)
    return 100;
  /* Rounded down: 100 only when all of it is there. */
  return (unsigned)((double)bytes * 100.0 / (double)total);
}

void noxrc_progress_format(char *buf, size_t cap, const char *label,
                           uint64_t bytes, uint64_t total, double secs) {
  double rate = secs > 0 ? (double)bytes / secs : 0;
  char done[32], all[32], speed[32], eta[32], bar[NOXRC_BAR_WIDTH + 1];

  noxrc_format_bytes(done, sizeof(done), (double)bytes);
  noxrc_format_bytes(speed, sizeof(speed), rate);
  if (total == 0) {
    snprintf(buf, cap, "%s %s  %s/s", label, done, speed);
    return;
  }
  /* More than announced (a file grew while packed): the total was low. */
  if (bytes > total)
    total = bytes;
  unsigned pct = noxrc_progress_percent(bytes, total);
  size_t fill = bytes == total
                    ? NOXRC_BAR_WIDTH
                    : (size_t)((double)NOXRC_BAR_WIDTH * (double)bytes /
                               (double)total);
  memset(bar, '#', fill);
  memset(bar + fill, '.', NOXRC_BAR_WIDTH - fill);
  bar[NOXRC_BAR_WIDTH] = '\0';
  noxrc_format_bytes(all, sizeof(all), (double)total);
  if (bytes == total)
    snprintf(eta, sizeof(eta), "0:00");
  else
    noxrc_format_eta(eta, sizeof(eta),
                     rate > 0 ? (double)(total - bytes) / rate : -1);
  snprintf(buf, cap, "%s [%s] %3u%%  %s / %s  %s/s  ETA %s", label, bar, pct,
           done, all, speed, eta);
}
