# The blocking API (lib/sync.c) against the fault-injecting server.
nox_add_test(test_sync SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sync.c LABELS sync integration)
