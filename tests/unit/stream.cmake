# The streaming pipe and unpacking worker, fed in chunks of 1..64 bytes.
nox_add_test(test_stream_chunks
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_stream_chunks.c
  INTERNAL LABELS unit stream)
target_link_libraries(test_stream_chunks PRIVATE PkgConfig::ARCHIVE)
