# HTTP-backend integration tests against faultd (tests/integration/faultd.py),
# through the public API only. Each executable starts its own faultd.
foreach(_t wire files faults lifecycle retry load)
  set(_src ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_http_${_t}.c)
  if(EXISTS ${_src})
    nox_add_test(test_http_${_t}
      SOURCES ${_src} ${CMAKE_CURRENT_SOURCE_DIR}/integration/http_common.c
      LABELS http integration
      TIMEOUT 90)
  endif()
endforeach()
# The files test lists uploaded archives with libarchive.
target_link_libraries(test_http_files PRIVATE PkgConfig::ARCHIVE)
nox_add_test(test_http_cancel_race SOURCES integration/test_http_cancel_race.c
  LABELS http integration)
