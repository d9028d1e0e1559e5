# lib/tar: packing and safe extraction on real archives and directories.
nox_add_test(test_tar_local SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tar_local.c
  INTERNAL LABELS unit tar local)
