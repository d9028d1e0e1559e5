# Hostile archives on every extraction path (setuid/setgid bits, NUL in pax
# names), run as the current user and, when that is root, again as nobody:
# an unprivileged extraction must strip and count the same way.
nox_add_test(test_extract_hostile
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_extract_hostile.c
          ${CMAKE_CURRENT_SOURCE_DIR}/integration/stream_util.c
          ${CMAKE_CURRENT_SOURCE_DIR}/integration/http_common.c
          ${CMAKE_CURRENT_SOURCE_DIR}/integration/noxd_util.c
  LABELS stream local integration security
  TIMEOUT 300)
if(TARGET noxd)
  target_compile_definitions(test_extract_hostile PRIVATE NOX_HAVE_NOXD=1)
endif()
add_test(NAME test_extract_hostile_nobody
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/integration/as_nobody.sh
          $<TARGET_FILE:test_extract_hostile>)
set_tests_properties(test_extract_hostile_nobody PROPERTIES
  TIMEOUT 300 SKIP_RETURN_CODE 77
  LABELS "stream;local;integration;security")
