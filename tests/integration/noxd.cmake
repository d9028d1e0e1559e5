# noxd: the reference server, tested over raw HTTP, through the library's
# HTTP backend, under load, at shutdown, and with a Python client's calls.
if(TARGET noxd)
  set(_noxd_util integration/noxd_util.c)

  # noxd's JSON and path helpers, compiled in, without a server.
  nox_add_test(test_noxd_json
    SOURCES unit/test_noxd_json.c ${PROJECT_SOURCE_DIR}/tools/noxd/json.c
    LABELS noxd)
  target_include_directories(test_noxd_json PRIVATE ${PROJECT_SOURCE_DIR}/tools/noxd)
  target_link_libraries(test_noxd_json PRIVATE PkgConfig::MHD)

  nox_add_test(test_noxd_bad_requests
    SOURCES integration/test_noxd_bad_requests.c ${_noxd_util} LABELS noxd)
  nox_add_test(test_noxd_e2e
    SOURCES integration/test_noxd_e2e.c ${_noxd_util} LABELS noxd)
  nox_add_test(test_noxd_concurrency
    SOURCES integration/test_noxd_concurrency.c ${_noxd_util} LABELS noxd)
  nox_add_test(test_noxd_sigterm
    SOURCES integration/test_noxd_sigterm.c ${_noxd_util} LABELS noxd)
  nox_add_test(test_noxd_limits
    SOURCES integration/test_noxd_limits.c ${_noxd_util} LABELS noxd)
  nox_add_test(test_noxd_output
    SOURCES integration/test_noxd_output.c ${_noxd_util} LABELS noxd)
  target_link_libraries(test_noxd_output PRIVATE PkgConfig::YAJL)
  nox_add_test(test_noxd_disconnect
    SOURCES integration/test_noxd_disconnect.c ${_noxd_util} LABELS noxd)
  nox_add_test(test_noxd_unknown
    SOURCES integration/test_noxd_unknown.c ${_noxd_util} LABELS noxd)
  nox_add_test(test_noxd_forkbomb
    SOURCES integration/test_noxd_forkbomb.c ${_noxd_util} LABELS noxd)
  # Exits 77 only when noxd can make no pids cgroup here (e.g. not root).
  set_tests_properties(test_noxd_forkbomb PROPERTIES SKIP_RETURN_CODE 77)
  foreach(_t test_noxd_bad_requests test_noxd_e2e test_noxd_concurrency
             test_noxd_sigterm test_noxd_limits test_noxd_forkbomb
             test_noxd_output test_noxd_disconnect
             test_noxd_unknown)
    add_dependencies(${_t} noxd)
  endforeach()

  # The same end-to-end and shutdown runs with bubblewrap isolation, where
  # bwrap works (it does as root in CI; elsewhere auto falls back to none).
  add_test(NAME test_noxd_e2e_auto COMMAND test_noxd_e2e auto)
  add_test(NAME test_noxd_sigterm_auto COMMAND test_noxd_sigterm auto)
  set_tests_properties(test_noxd_e2e_auto test_noxd_sigterm_auto
    PROPERTIES LABELS noxd TIMEOUT 120)

  find_program(NOX_PYTHON3 python3)
  if(NOX_PYTHON3)
    add_test(NAME test_noxd_python_client
      COMMAND ${NOX_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/noxd_python_client.py
        $<TARGET_FILE:noxd>)
    set_tests_properties(test_noxd_python_client PROPERTIES LABELS noxd TIMEOUT 120)
    # --isolation bwrap without bubblewrap: NOX_EISOLATION, a clear message.
    add_test(NAME test_noxd_isolation_cli
      COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/noxd_isolation_cli.sh
        $<TARGET_FILE:noxd>)
    set_tests_properties(test_noxd_isolation_cli PROPERTIES LABELS noxd TIMEOUT 120)
    # Ctrl-C on `noxrc exec` kills the command noxd runs for it.
    if(TARGET noxrc)
      add_test(NAME test_noxd_disconnect_cli
        COMMAND ${NOX_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/noxd_disconnect_cli.py
          $<TARGET_FILE:noxrc> $<TARGET_FILE:noxd>)
      set_tests_properties(test_noxd_disconnect_cli PROPERTIES LABELS noxd TIMEOUT 120)
    endif()
  endif()
endif()
