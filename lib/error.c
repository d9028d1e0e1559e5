/* The error table's functions, generated from NOX_ERRNO_MAP. */
#include "internal.h"

const char *nox_strerror(int err) {
  switch (err) {
  case 0:
    return "success";
#define NOX__STRERROR_GEN(name, value, msg)                                    \
  case NOX_##name:                                                             \
    return msg;
    NOX_ERRNO_MAP(NOX__STRERROR_GEN)
#undef NOX__STRERROR_GEN
  default:
    return "unknown error";
  }
}

const char *nox_err_name(int err) {
  switch (err) {
  case 0:
    return "NOX_OK";
#define NOX__ERRNAME_GEN(name, value, msg)                                     \
  case NOX_##name:                                                             \
    return "NOX_" #name;
    NOX_ERRNO_MAP(NOX__ERRNAME_GEN)
#undef NOX__ERRNAME_GEN
  default:
    return "NOX_UNKNOWN";
  }
}

unsigned nox_version(void) {
  return NOX_VERSION_HEX;
}

const char *nox_version_string(void) {
  return NOX_VERSION_STRING;
}
