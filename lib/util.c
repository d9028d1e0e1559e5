/* Small helpers shared by the core and the backends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

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
bool nox__utf8_valid(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < len) {
    unsigned c = s[i];
    size_t n;
    unsigned cp, min;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (len - i <= n)
      return false;
    for (size_t k = 1; k <= n; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}
