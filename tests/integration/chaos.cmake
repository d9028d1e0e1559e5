# Chaos: backend restart mid-run, Retry-After, resolve failure, loop lag.
if(TARGET noxd)
  nox_add_test(test_chaos SOURCES integration/test_chaos.c integration/noxd_util.c
    LABELS chaos TIMEOUT 300)
  add_dependencies(test_chaos noxd)
endif()
