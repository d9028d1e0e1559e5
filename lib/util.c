/* Small helpers shared by the core and the backends. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "noxrunner/util.h"

char *nox__strdup(const char *s) {
  return s ? strdup(s) : NULL;
}

void nox_free(void *ptr) {
  free(ptr);
}

/*
 * Accepts the RFC 3339 shapes backends send: YYYY-MM-DDTHH:MM:SS, optional
 * fraction, then Z, +hh:mm, -hh:mm or nothing (taken as UTC).
 */
int64_t nox__parse_iso8601(const char *s) {
  int y, mo, d, h, mi, sec, n = 0;
  if (s == NULL ||
      sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
             &n) != 6 ||
      n == 0)
    return -1;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
    return -1;
  const char *p = s + n;
  if (*p == '.' || *p == ',') {
    p++;
    while (*p >= '0' && *p <= '9')
      p++;
  }
  long offset = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om, m = 0;
    if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m == 0)
      return -1;
    offset = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
    p += 1 + m;
  }
  if (*p != '\0')
    return -1;
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return (int64_t)timegm(&tm) - offset;
}

/*
 * Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past
 * U+10FFFF. yajl's own check lets those through, and a backend may not.
 */
size_t nox_utf8_char_len(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  if (len == 0)
    return 0;
  if (s[0] < 0x80)
    return 1;
  size_t need;
  if (s[0] >= 0xC2 && s[0] <= 0xDF)
    need = 2;
  else if (s[0] >= 0xE0 && s[0] <= 0xEF)
    need = 3;
  else if (s[0] >= 0xF0 && s[0] <= 0xF4)
    need = 4;
  else
    return 0; /* a continuation byte, an overlong C0/C1, or past U+10FFFF */
  if (len < need)
    return 0;
  /* The second byte's range rules out the other overlongs and surrogates. */
  unsigned char lo = 0x80, hi = 0xBF;
  if (s[0] == 0xE0)
    lo = 0xA0;
  else if (s[0] == 0xED)
    hi = 0x9F;
  else if (s[0] == 0xF0)
    lo = 0x90;
  else if (s[0] == 0xF4)
    hi = 0x8F;
  if (s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < need; i++)
    if ((s[i] & 0xC0) != 0x80)
      return 0;
  return need;
}

int nox_utf8_valid(const char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    size_t n = nox_utf8_char_len(s + i, len - i);
    if (n == 0)
      return 0;
    i += n;
  }
  return 1;
}

int nox_utf8_sanitize(char **out, size_t *out_len, const char *s, size_t len) {
  static const char repl[] = "\xEF\xBF\xBD"; /* U+FFFD */
  if (out == NULL)
    return NOX_EINVAL;
  *out = NULL;
  if (s == NULL && len != 0)
    return NOX_EINVAL;
  if (len > (SIZE_MAX - 1) / 3)
    return NOX_ENOMEM;
  char *w = malloc(len * 3 + 1);
  if (w == NULL)
    return NOX_ENOMEM;
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    size_t n = nox_utf8_char_len(s + i, len - i);
    if (n == 0) {
      memcpy(w + o, repl, 3);
      o += 3;
      i++;
    } else {
      memcpy(w + o, s + i, n);
      o += n;
      i += n;
    }
  }
  w[o] = '\0';
  *out = w;
  if (out_len != NULL)
    *out_len = o;
  return 0;
}

int nox_workspace_path(char **out, const char *path) {
  static const char ws[] = NOX_WORKSPACE;
  const size_t wl = sizeof(ws) - 1;
  if (out == NULL)
    return NOX_EINVAL;
  *out = NULL;
  if (path == NULL || path[0] == '\0')
    return NOX_EINVAL;
  /* Never longer than "/workspace/" and the path. */
  size_t n = strlen(path);
  char *res = malloc(wl + n + 2);
  if (res == NULL)
    return NOX_ENOMEM;
  size_t len = 0;
  if (path[0] != '/') {
    memcpy(res, ws, wl);
    len = wl;
  }
  for (const char *p = path, *end; *p != '\0'; p = end) {
    while (*p == '/')
      p++;
    for (end = p; *end != '\0' && *end != '/';)
      end++;
    size_t sl = (size_t)(end - p);
    if (sl == 0 || (sl == 1 && p[0] == '.'))
      continue;
    if (sl == 2 && p[0] == '.' && p[1] == '.') {
      while (len > 0 && res[len - 1] != '/')
        len--;
      if (len > 0)
        len--; /* the slash */
      continue;
    }
    res[len++] = '/';
    memcpy(res + len, p, sl);
    len += sl;
  }
  res[len] = '\0';
  if (strncmp(res, ws, wl) != 0 || (res[wl] != '\0' && res[wl] != '/')) {
    free(res);
    return NOX_EINVAL;
  }
  *out = res;
  return 0;
}
