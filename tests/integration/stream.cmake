# Streaming uploads and downloads (lib/tar/stream.c, lib/http/stream.c)
# against faultd's "files" fault, with the hostile archive corpus made at run
# time by stream_corpus.py.
nox_add_test(test_stream
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_stream.c
          ${CMAKE_CURRENT_SOURCE_DIR}/integration/stream_util.c
          ${CMAKE_CURRENT_SOURCE_DIR}/integration/http_common.c
  LABELS stream integration
  TIMEOUT 900)
nox_add_test(test_stream_local
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_stream_local.c
          ${CMAKE_CURRENT_SOURCE_DIR}/integration/stream_util.c
          ${CMAKE_CURRENT_SOURCE_DIR}/integration/http_common.c
  LABELS stream local integration
  TIMEOUT 300)
if(TARGET noxd)
  nox_add_test(test_stream_noxd
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_stream_noxd.c
            ${CMAKE_CURRENT_SOURCE_DIR}/integration/stream_util.c
            ${CMAKE_CURRENT_SOURCE_DIR}/integration/http_common.c
            ${CMAKE_CURRENT_SOURCE_DIR}/integration/noxd_util.c
    LABELS stream noxd integration
    TIMEOUT 300)
endif()
