/* Process-wide setup that the application asks for explicitly. */
#include <curl/curl.h>

#include "internal.h"

int nox_library_init(void) {
  return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0
                                                           : NOX_EINTERNAL;
}

void nox_library_cleanup(void) {
  curl_global_cleanup();
}
