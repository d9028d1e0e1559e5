# noxrc: the built binary driven as a subprocess against noxd, the local
# backend and faultd, with the interactive shell on a pseudo-terminal.
if(TARGET noxrc AND TARGET noxd)
  find_program(NOX_PYTHON3 python3)
  if(NOX_PYTHON3)
    add_test(NAME test_noxrc_cli
      COMMAND ${NOX_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/noxrc_cli.py
        $<TARGET_FILE:noxrc> $<TARGET_FILE:noxd>
        ${CMAKE_CURRENT_SOURCE_DIR}/integration/faultd.py)
    set_tests_properties(test_noxrc_cli PROPERTIES LABELS noxrc TIMEOUT 600)
  endif()
endif()
