# Allocation-failure walk: the library's allocations fail one by one.
nox_add_test(test_alloc_fail SOURCES integration/test_alloc_fail.c INTERNAL
  LABELS alloc TIMEOUT 600)
target_link_options(test_alloc_fail PRIVATE
  -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc -Wl,--wrap=strdup)
