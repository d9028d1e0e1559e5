# nox-soak: long runs that show flat RSS and fd counts (bench/RESULTS.md).
# A short run is a smoke test here; the long runs are in bench/soak.sh.
add_executable(nox-soak ${CMAKE_CURRENT_LIST_DIR}/soak.c)
target_link_libraries(nox-soak PRIVATE noxrunner PkgConfig::UV)
set_target_properties(nox-soak PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
add_test(NAME soak_smoke_local
  COMMAND sh -c "rm -rf '${PROJECT_BINARY_DIR}/soak-root' && mkdir -p '${PROJECT_BINARY_DIR}/soak-root' && \"$0\" 'local://${PROJECT_BINARY_DIR}/soak-root' --requests 500 --concurrency 16 --max-seconds 120"
    $<TARGET_FILE:nox-soak>)
set_tests_properties(soak_smoke_local PROPERTIES LABELS soak TIMEOUT 180)
