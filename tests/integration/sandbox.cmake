# Sandbox handles, leases, admission control, fan-out, registry and journal
# (include/noxrunner/sandbox.h). Each test runs against the local backend
# (no argument) and, where noxd is built, against noxd through the HTTP backend.
set(_sandbox_tests test_sandbox_lease test_sandbox_admission
  test_sandbox_fanout test_sandbox_registry test_sandbox_journal)
foreach(_t ${_sandbox_tests})
  nox_add_test(${_t}
    SOURCES integration/${_t}.c integration/noxd_util.c LABELS sandbox)
  set_tests_properties(${_t} PROPERTIES TIMEOUT 180)
  if(TARGET noxd)
    add_dependencies(${_t} noxd)
    add_test(NAME ${_t}_noxd COMMAND ${_t} noxd)
    set_tests_properties(${_t}_noxd PROPERTIES LABELS sandbox TIMEOUT 180)
  endif()
endforeach()

# Admission limits counted on the server side, and loss seen by an exec, with faultd.
nox_add_test(test_sandbox_faultd
  SOURCES integration/test_sandbox_faultd.c LABELS sandbox)
