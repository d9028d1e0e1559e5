# examples/fanout with 1,000 sandboxes on a fresh local:// root, commands run
# without bubblewrap (isolation none: bwrap's start-up per command would
# dominate). Passes when every job succeeded, every sandbox was deleted by
# the close, and no sandbox directory is left in the root.
set(_root ${PROJECT_BINARY_DIR}/example-roots/fanout)
add_test(NAME example_fanout
  COMMAND ${CMAKE_COMMAND} -E env --unset=NOXRUNNER_BASE_URL
    NOXRUNNER_ISOLATION=none
    sh -c "rm -rf '${_root}' && mkdir -p '${_root}' && \"$0\" 'local://${_root}' 1000 && if ls '${_root}' | grep -q '^sb-'; then echo 'sandbox directories left behind' >&2; exit 1; fi"
    $<TARGET_FILE:fanout>
  WORKING_DIRECTORY ${PROJECT_BINARY_DIR})
set_tests_properties(example_fanout PROPERTIES TIMEOUT 300 LABELS "examples;sandbox")
