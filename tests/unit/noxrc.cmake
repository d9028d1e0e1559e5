# noxrc's progress text (tools/noxrc/progress.c), compiled in, no server.
if(TARGET noxrc)
  nox_add_test(test_noxrc_progress
    SOURCES unit/test_noxrc_progress.c
      ${PROJECT_SOURCE_DIR}/tools/noxrc/progress.c
    LABELS unit noxrc)
  target_include_directories(test_noxrc_progress PRIVATE
    ${PROJECT_SOURCE_DIR}/tools/noxrc)
endif()
