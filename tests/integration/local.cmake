# The local backend (lib/local/) through the public API: real processes,
# real directories, bubblewrap when this machine can run it.
set(_nox_local_dir ${CMAKE_CURRENT_LIST_DIR})
foreach(_t basic persist ids env timeout workdir ttl isolation warning cancel
           limits cgroup unknown)
  nox_add_test(test_local_${_t}
    SOURCES ${_nox_local_dir}/test_local_${_t}.c
    LABELS local integration)
endforeach()
# Exits 77 only when bubblewrap cannot run on this machine.
set_tests_properties(test_local_isolation PROPERTIES SKIP_RETURN_CODE 77)
# Exits 77 only when no pids cgroup can be made here (e.g. not root).
set_tests_properties(test_local_cgroup PROPERTIES SKIP_RETURN_CODE 77)
