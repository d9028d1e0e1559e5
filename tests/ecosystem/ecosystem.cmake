# How the library fits the C ecosystem: its ABI, its installed package, its
# manual pages and its API reference.

# The shared library exports the NOX_EXTERN functions and nothing else.
file(GLOB _nox_public_headers ${PROJECT_SOURCE_DIR}/include/noxrunner.h
  ${PROJECT_SOURCE_DIR}/include/noxrunner/*.h)
add_test(NAME abi_exports
  COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/check_exports.py
    $<TARGET_FILE:noxrunner> $<TARGET_FILE:noxrunner_static>
    ${_nox_public_headers})
set_tests_properties(abi_exports PROPERTIES LABELS "abi" TIMEOUT 60)

# The layering of docs/architecture.md: no file includes or calls a layer
# above its own (today's known violations are allowlisted, and the list may
# only shrink); the self-test runs the checker on a made-up tree.
add_test(NAME layers
  COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/check_layers.py
    --root ${PROJECT_SOURCE_DIR})
add_test(NAME layers_selftest
  COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/check_layers.py --self-test)
set_tests_properties(layers layers_selftest PROPERTIES
  LABELS "layers;docs" TIMEOUT 60)

# Every page renders, whether or not its tool is built: they are text.
file(GLOB _nox_man_pages ${PROJECT_SOURCE_DIR}/man/*.[1-8])
add_test(NAME man_pages
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/check_man.sh ${_nox_man_pages})
set_tests_properties(man_pages PROPERTIES LABELS "docs" TIMEOUT 60)

# The docs target's Doxygen run, as a test: any warning fails it.
if(TARGET docs)
  add_test(NAME docs_doxygen COMMAND ${DOXYGEN_EXECUTABLE} ${NOX_DOXYFILE}
    WORKING_DIRECTORY ${PROJECT_BINARY_DIR})
  set_tests_properties(docs_doxygen PROPERTIES LABELS "docs" TIMEOUT 300)

  # Every exported function of every public header is in the reference
  # (Doxygen's XML) with a description.
  find_program(NOX_PYTHON3 python3)
  if(NOX_PYTHON3)
    add_test(NAME docs_reference
      COMMAND ${NOX_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_reference.py
        ${DOXYGEN_EXECUTABLE} ${NOX_DOXYFILE}
        ${PROJECT_BINARY_DIR}/docs-reference-check ${_nox_public_headers})
    set_tests_properties(docs_reference PROPERTIES LABELS "docs" TIMEOUT 300)
  endif()
endif()

# Install into a temporary prefix; build and run a consumer against it with
# find_package and with pkg-config.
if(TARGET noxd)
  set(_nox_consumer_flags "")
  if(NOX_SANITIZE)
    set(_nox_consumer_flags
      "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer")
  endif()
  add_test(NAME install_consumer
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/consumer_test.sh
      ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR} ${CMAKE_C_COMPILER}
      "${_nox_consumer_flags}")
  set_tests_properties(install_consumer PROPERTIES LABELS "install" TIMEOUT 900)
endif()

# The embedding example serves concurrent HTTP requests on the library's loop.
if(TARGET embed_server)
  add_test(NAME example_embed_server
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/embed_server_test.sh
      $<TARGET_FILE:embed_server>)
  set_tests_properties(example_embed_server PROPERTIES
    LABELS "examples" TIMEOUT 600)
endif()
