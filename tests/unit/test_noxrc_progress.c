/*
 * noxrc's progress text (tools/noxrc/progress.c): the percentage rounds
 * down and reaches 100 only at the end, the ETA's formats, a frame with a
 * total (bar, percent, ETA) and one without (bytes and rate only).
 */
#include <stdio.h>
#include <string.h>

#include "noxrc.h"
#include "test.h"

static void test_percent(void) {
  ASSERT_EQ(noxrc_progress_percent(0, 1000), 0);
  ASSERT_EQ(noxrc_progress_percent(250, 1000), 25);
  ASSERT_EQ(noxrc_progress_percent(999, 1000), 99);
  ASSERT_EQ(noxrc_progress_percent(9999, 10000), 99);
  ASSERT_EQ(noxrc_progress_percent(1000, 1000), 100);
  ASSERT_EQ(noxrc_progress_percent(1001, 1000), 100);
  /* Large counts keep their precision. */
  ASSERT_EQ(noxrc_progress_percent(UINT64_C(1) << 40, UINT64_C(1) << 41), 50);
}

static void test_eta(void) {
  char b[32];

  noxrc_format_eta(b, sizeof(b), 0);
  ASSERT_STR_EQ(b, "0:00");
  noxrc_format_eta(b, sizeof(b), 7.4);
  ASSERT_STR_EQ(b, "0:07");
  noxrc_format_eta(b, sizeof(b), 59.6);
  ASSERT_STR_EQ(b, "1:00");
  noxrc_format_eta(b, sizeof(b), 754);
  ASSERT_STR_EQ(b, "12:34");
  noxrc_format_eta(b, sizeof(b), 3600);
  ASSERT_STR_EQ(b, "1:00:00");
  noxrc_format_eta(b, sizeof(b), 3 * 3600 + 25 * 60 + 9);
  ASSERT_STR_EQ(b, "3:25:09");
  /* Unknown (no rate yet) and absurd. */
  noxrc_format_eta(b, sizeof(b), -1);
  ASSERT_STR_EQ(b, "--:--");
  noxrc_format_eta(b, sizeof(b), 1e12);
  ASSERT_STR_EQ(b, "--:--");
}

static void test_frames(void) {
  char b[256];

  /* A quarter in 1 s: 1 MiB/s, 3 s to go. */
  noxrc_progress_format(b, sizeof(b), "upload", 1048576, 4194304, 1.0);
  ASSERT_STR_EQ(b, "upload [#####...............]  25%  1.0 MiB / 4.0 MiB  "
                   "1.0 MiB/s  ETA 0:03");
  /* Nearly there: still 99%, the bar not yet full. */
  noxrc_progress_format(b, sizeof(b), "upload", 4194303, 4194304, 4.0);
  ASSERT(strstr(b, " 99%") != NULL);
  ASSERT(strstr(b, "[###################.]") != NULL);
  /* The end: 100%, a full bar, nothing left to wait for. */
  noxrc_progress_format(b, sizeof(b), "upload", 4194304, 4194304, 4.0);
  ASSERT_STR_EQ(b, "upload [####################] 100%  4.0 MiB / 4.0 MiB  "
                   "1.0 MiB/s  ETA 0:00");
  /* More than the total (a file grew): 100%, the count as total. */
  noxrc_progress_format(b, sizeof(b), "upload", 5000, 4000, 1.0);
  ASSERT_STR_EQ(b, "upload [####################] 100%  4.9 KiB / 4.9 KiB  "
                   "4.9 KiB/s  ETA 0:00");
  /* Nothing yet, no time yet: 0%, no rate, no ETA. */
  noxrc_progress_format(b, sizeof(b), "download", 0, 2048, 0);
  ASSERT_STR_EQ(b, "download [....................]   0%  0 B / 2.0 KiB  "
                   "0 B/s  ETA --:--");
  /* No total: bytes and rate, no bar, no percent, no ETA. */
  noxrc_progress_format(b, sizeof(b), "download", 3 * 1048576, 0, 2.0);
  ASSERT_STR_EQ(b, "download 3.0 MiB  1.5 MiB/s");
  ASSERT(strchr(b, '%') == NULL && strstr(b, "ETA") == NULL);
}

int main(void) {
  test_percent();
  test_eta();
  test_frames();
  printf("noxrc progress text: ok\n");
  return 0;
}
