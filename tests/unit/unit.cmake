nox_add_test(test_json_split SOURCES unit/test_json_split.c INTERNAL LABELS unit)
nox_add_test(test_util SOURCES unit/test_util.c INTERNAL LABELS unit)
# Admission FIFO and caps (lib/admission.c) on hand-made requests.
nox_add_test(test_admission SOURCES unit/test_admission.c INTERNAL LABELS unit)
# The registry's journal: encode, decode, refused lines, reaping.
nox_add_test(test_journal SOURCES unit/test_journal.c INTERNAL
  LABELS unit sandbox)
# Which HTTP failures are retried, and the backoff schedule.
nox_add_test(test_retry SOURCES unit/test_retry.c INTERNAL LABELS unit http)
