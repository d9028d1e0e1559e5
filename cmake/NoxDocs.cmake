# `cmake --build build --target docs` writes the API reference to
# build/docs/html from the public headers' comments. Any Doxygen warning
# fails it: an undocumented or wrongly documented declaration is a bug.
find_package(Doxygen QUIET)
if(DOXYGEN_FOUND)
  set(NOX_DOXYFILE ${PROJECT_BINARY_DIR}/Doxyfile)
  configure_file(${PROJECT_SOURCE_DIR}/docs/Doxyfile.in ${NOX_DOXYFILE} @ONLY)
  add_custom_target(docs
    COMMAND ${DOXYGEN_EXECUTABLE} ${NOX_DOXYFILE}
    WORKING_DIRECTORY ${PROJECT_BINARY_DIR}
    COMMENT "API reference in ${PROJECT_BINARY_DIR}/docs/html"
    VERBATIM)
endif()
