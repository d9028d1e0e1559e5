# The examples run as tests, each on a fresh local:// root, as a user would
# run them after the quick start.
foreach(_ex quickstart sync_example)
  if(NOT TARGET ${_ex})
    continue()
  endif()
  set(_root ${PROJECT_BINARY_DIR}/example-roots/${_ex})
  add_test(NAME example_${_ex}
    COMMAND ${CMAKE_COMMAND} -E env --unset=NOXRUNNER_BASE_URL
      sh -c "rm -rf '${_root}' && mkdir -p '${_root}' && \"$0\" 'local://${_root}'"
      $<TARGET_FILE:${_ex}>
    WORKING_DIRECTORY ${PROJECT_BINARY_DIR})
  set_tests_properties(example_${_ex} PROPERTIES TIMEOUT 120 LABELS examples)
endforeach()
