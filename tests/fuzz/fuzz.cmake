# Fuzz targets (libFuzzer API). With -DNOX_BUILD_FUZZERS=ON (clang only) they
# are libFuzzer binaries and the library is built with coverage
# instrumentation; run them with scripts/fuzz.sh. In every other build they
# are linked with driver.c and replay their seed corpus as ordinary tests, so
# every input ever saved (seeds and crash reproducers) stays a regression test.
option(NOX_BUILD_FUZZERS "Build the libFuzzer targets (needs clang)" OFF)

set(_fz ${CMAKE_CURRENT_LIST_DIR})
if(NOX_BUILD_FUZZERS)
  target_compile_options(noxrunner_objs PRIVATE -fsanitize=fuzzer-no-link)
endif()

foreach(_t json url noxd extract)
  set(_srcs ${_fz}/fuzz_${_t}.c)
  if(_t STREQUAL "noxd")
    if(NOT TARGET PkgConfig::MHD)
      continue()
    endif()
    list(APPEND _srcs ${PROJECT_SOURCE_DIR}/tools/noxd/json.c)
  endif()
  if(NOT NOX_BUILD_FUZZERS)
    list(APPEND _srcs ${_fz}/driver.c)
  endif()
  add_executable(fuzz_${_t} ${_srcs})
  set_target_properties(fuzz_${_t} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/fuzz)
  target_compile_definitions(fuzz_${_t} PRIVATE _GNU_SOURCE)
  target_include_directories(fuzz_${_t} PRIVATE ${PROJECT_SOURCE_DIR}/lib ${PROJECT_SOURCE_DIR}/tools/noxd)
  target_link_libraries(fuzz_${_t} PRIVATE noxrunner_static PkgConfig::YAJL)
  if(_t STREQUAL "noxd")
    target_link_libraries(fuzz_${_t} PRIVATE PkgConfig::MHD)
  endif()
  if(NOX_BUILD_FUZZERS)
    target_compile_options(fuzz_${_t} PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz_${_t} PRIVATE -fsanitize=fuzzer)
  else()
    add_test(NAME fuzz_${_t}_corpus COMMAND fuzz_${_t} ${_fz}/corpus/${_t})
    set_tests_properties(fuzz_${_t}_corpus PROPERTIES LABELS fuzz TIMEOUT 120)
  endif()
endforeach()
