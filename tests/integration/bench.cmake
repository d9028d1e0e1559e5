# nox-bench: every scenario against noxd and the local backend, small N,
# checking the JSON report's shape and that the counts add up.
if(TARGET nox-bench AND TARGET noxd)
  find_program(NOX_PYTHON3 python3)
  if(NOX_PYTHON3)
    foreach(_backend noxd local)
      add_test(NAME test_bench_${_backend}
        COMMAND ${NOX_PYTHON3}
          ${CMAKE_CURRENT_SOURCE_DIR}/integration/bench_smoke.py
          $<TARGET_FILE:nox-bench> $<TARGET_FILE:noxd> ${_backend})
      set_tests_properties(test_bench_${_backend} PROPERTIES
        LABELS bench TIMEOUT 300)
    endforeach()
  endif()
endif()
