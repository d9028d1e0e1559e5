/*
 * The error table, ISO-8601 and Retry-After parsing, the byte buffer, and
 * the string helpers (percent-encoding, FNV-1a).
 */
#include <string.h>
#include <time.h>

#include "http/http.h"
#include "text.h"
#include "test.h"

static void test_errors(void) {
  ASSERT_STR_EQ(nox_err_name(0), "NOX_OK");
  ASSERT_STR_EQ(nox_strerror(0), "success");
  ASSERT_STR_EQ(nox_err_name(NOX_ENOTFOUND), "NOX_ENOTFOUND");
  ASSERT_STR_EQ(nox_err_name(12345), "NOX_UNKNOWN");
  ASSERT_STR_EQ(nox_strerror(-12345), "unknown error");
  /* Every code has a distinct name and a message. */
  int codes[] = {
#define X(name, value, msg) NOX_##name,
      NOX_ERRNO_MAP(X)
#undef X
  };
  size_t n = sizeof(codes) / sizeof(codes[0]);
  for (size_t i = 0; i < n; i++) {
    ASSERT_LT(codes[i], 0);
    ASSERT(strncmp(nox_err_name(codes[i]), "NOX_E", 5) == 0);
    ASSERT(strcmp(nox_strerror(codes[i]), "unknown error") != 0);
    for (size_t j = 0; j < i; j++) {
      ASSERT_NE(codes[i], codes[j]);
      ASSERT(strcmp(nox_err_name(codes[i]), nox_err_name(codes[j])) != 0);
    }
  }
  ASSERT_EQ(nox_version(), NOX_VERSION_HEX);
  ASSERT_STR_EQ(nox_version_string(), NOX_VERSION_STRING);
}

static void test_iso8601(void) {
  ASSERT_EQ(nox__parse_iso8601("1970-01-01T00:00:00Z"), 0);
  ASSERT_EQ(nox__parse_iso8601("2030-01-02T03:04:05Z"), 1893553445);
  ASSERT_EQ(nox__parse_iso8601("2030-01-02T03:04:05.123456Z"), 1893553445);
  ASSERT_EQ(nox__parse_iso8601("2030-01-02T05:04:05+02:00"), 1893553445);
  ASSERT_EQ(nox__parse_iso8601("2030-01-02T01:04:05-02:00"), 1893553445);
  ASSERT_EQ(nox__parse_iso8601("2030-01-02T03:04:05"), 1893553445);
  ASSERT_EQ(nox__parse_iso8601(""), -1);
  ASSERT_EQ(nox__parse_iso8601(NULL), -1);
  ASSERT_EQ(nox__parse_iso8601("yesterday"), -1);
  ASSERT_EQ(nox__parse_iso8601("2030-13-02T03:04:05Z"), -1);
  ASSERT_EQ(nox__parse_iso8601("2030-01-02T03:04:05Zjunk"), -1);
}

static void test_retry_after(void) {
  ASSERT_EQ(nox__http_parse_retry_after(" 3\r\n"), 3000);
  ASSERT_EQ(nox__http_parse_retry_after("0"), 0);
  ASSERT_EQ(nox__http_parse_retry_after("soon"), -1);
  ASSERT_EQ(nox__http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), 0);
  char date[64];
  time_t later = time(NULL) + 120;
  strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime(&later));
  long ms = nox__http_parse_retry_after(date);
  ASSERT_GE(ms, 110000);
  ASSERT_LE(ms, 121000);
}

static void test_buf(void) {
  nox__buf_t b = {0};
  for (int i = 0; i < 1000; i++)
    ASSERT_EQ(nox__buf_append(&b, "ab\0", 3), 0);
  ASSERT_UEQ(b.len, 3000);
  ASSERT_EQ(b.data[b.len], '\0');
  ASSERT_EQ(b.data[2], '\0');
  ASSERT_EQ(nox__buf_append(&b, NULL, 0), 0);
  nox__buf_reset(&b);
  ASSERT(b.data == NULL && b.len == 0);
}

static void test_error_message(void) {
  char m[64];
  /* True only for a JSON object that carries the message (the 400 rule). */
  ASSERT(nox__json_error_message("{\"error\":\"sandbox gone\"}", 24, m,
                                 sizeof(m), NULL, 0));
  ASSERT_STR_EQ(m, "sandbox gone");
  ASSERT(nox__json_error_message("{\"detail\":\"bad ttl\"}", 20, m,
                                 sizeof(m), NULL, 0));
  ASSERT_STR_EQ(m, "bad ttl");
  ASSERT(!nox__json_error_message("plain\ttext\n", 11, m, sizeof(m), NULL, 0));
  ASSERT_STR_EQ(m, "plain text");
  ASSERT(!nox__json_error_message("{\"error\":5}", 11, m, sizeof(m), NULL, 0));
  ASSERT(!nox__json_error_message("[\"error\"]", 9, m, sizeof(m), NULL, 0));
  ASSERT(!nox__json_error_message("", 0, m, sizeof(m), NULL, 0));
  ASSERT_STR_EQ(m, "");
  /* noxd names the library error; "code" alone is no message. */
  char code[32];
  ASSERT(nox__json_error_message("{\"error\":\"bad tar\",\"code\":"
                                 "\"NOX_EARCHIVE\"}",
                                 41, m, sizeof(m), code, sizeof(code)));
  ASSERT_STR_EQ(m, "bad tar");
  ASSERT_STR_EQ(code, "NOX_EARCHIVE");
  ASSERT(nox__json_error_message("{\"error\":\"x\"}", 13, m, sizeof(m), code,
                                 sizeof(code)));
  ASSERT_STR_EQ(code, "");
  ASSERT(!nox__json_error_message("{\"code\":\"NOX_EINVAL\"}", 21, m,
                                  sizeof(m), code, sizeof(code)));
}

static void test_text(void) {
  char out[64];
  ASSERT_UEQ(nox__percent_encode(out, "a Z/9~._-%\xff", "._-"), 21);
  ASSERT_STR_EQ(out, "a%20Z%2F9%7E._-%25%FF");
  ASSERT_UEQ(nox__percent_encode(out, "~", "-_.~"), 1);
  ASSERT_STR_EQ(out, "~");
  ASSERT_UEQ(nox__percent_encode(out, "", ""), 0);
  ASSERT_STR_EQ(out, "");
  /* The published FNV-1a 64 values; a hash carries on over pieces. */
  ASSERT_UEQ(nox__fnv1a(NOX__FNV1A_INIT, ""), 0xcbf29ce484222325ull);
  ASSERT_UEQ(nox__fnv1a(NOX__FNV1A_INIT, "a"), 0xaf63dc4c8601ec8cull);
  ASSERT_UEQ(nox__fnv1a(NOX__FNV1A_INIT, "foobar"), 0x85944171f73967e8ull);
  ASSERT_UEQ(nox__fnv1a(nox__fnv1a(NOX__FNV1A_INIT, "foo"), "bar"),
             0x85944171f73967e8ull);
}

int main(void) {
  test_errors();
  test_iso8601();
  test_retry_after();
  test_buf();
  test_text();
  test_error_message();
  return 0;
}
