/* Small helpers on strings (see text.h). */
#include <string.h>

#include "text.h"

size_t nox__percent_encode(char *out, const char *s, const char *keep) {
  static const char hex[] = "0123456789ABCDEF";
  char *w = out;
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
        (*p >= '0' && *p <= '9') || strchr(keep, *p) != NULL) {
      *w++ = (char)*p;
    } else {
      *w++ = '%';
      *w++ = hex[*p >> 4];
      *w++ = hex[*p & 15];
    }
  }
  *w = '\0';
  return (size_t)(w - out);
}

uint64_t nox__fnv1a(uint64_t h, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
    h = (h ^ *p) * 0x100000001b3ull;
  return h;
}
