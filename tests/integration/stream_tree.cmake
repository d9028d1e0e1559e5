# Streaming transfers of real trees on disk, through both backends: a
# 100,000-file round trip, and concurrent uploads into one destination.
if(TARGET noxd)
  set(_tree_util ${CMAKE_CURRENT_SOURCE_DIR}/integration/stream_util.c
                 ${CMAKE_CURRENT_SOURCE_DIR}/integration/http_common.c
                 ${CMAKE_CURRENT_SOURCE_DIR}/integration/noxd_util.c)
  # 45 to 75 s on tmpfs (the sanitizer build included); about 6 minutes if
  # it falls back onto this CI's disk, which the timeout allows for.
  nox_add_test(test_stream_many
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_stream_many.c
            ${_tree_util}
    LABELS stream slow integration
    TIMEOUT 1200)
  nox_add_test(test_stream_race
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_stream_race.c
            ${_tree_util}
    LABELS stream local noxd integration
    TIMEOUT 300)
endif()
