# The local backend (lib/local/) through the public API: real processes,
# real directories, bubblewrap when this machine can run it.
set(_nox_local_dir ${CMAKE_CURRENT_LIST_DIR})
foreach(_t basic)
  nox_add_test(test_local_${_t}
    SOURCES ${_nox_local_dir}/test_local_${_t}.c
    LABELS local integration)
endforeach()
