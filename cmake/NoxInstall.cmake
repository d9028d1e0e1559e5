# Installation: the libraries, the public headers, noxrunner.pc, the CMake
# package (find_package(noxrunner CONFIG) -> noxrunner::noxrunner), and the
# tools with their man pages. Included from the top-level CMakeLists.txt
# after the tools, so it installs only the tools that were built.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(NOX_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/noxrunner)

install(TARGETS noxrunner EXPORT noxrunnerTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime
    NAMELINK_COMPONENT dev
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# A separate export set: the static library's interface needs libcurl, yajl
# and libarchive, which users of the shared library need not have.
install(TARGETS noxrunner_static EXPORT noxrunnerStaticTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES include/noxrunner.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
install(DIRECTORY include/noxrunner
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev
  FILES_MATCHING PATTERN "*.h")

install(EXPORT noxrunnerTargets NAMESPACE noxrunner::
  DESTINATION ${NOX_CMAKE_DIR} COMPONENT dev)
install(EXPORT noxrunnerStaticTargets NAMESPACE noxrunner::
  DESTINATION ${NOX_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(cmake/noxrunnerConfig.cmake.in
  ${PROJECT_BINARY_DIR}/noxrunnerConfig.cmake
  INSTALL_DESTINATION ${NOX_CMAKE_DIR})
# The ABI promise: 0.x releases break it at every minor version, later ones
# only at a major version (the SONAME follows the major version).
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(_nox_compat SameMinorVersion)
else()
  set(_nox_compat SameMajorVersion)
endif()
write_basic_package_version_file(${PROJECT_BINARY_DIR}/noxrunnerConfigVersion.cmake
  COMPATIBILITY ${_nox_compat})
install(FILES ${PROJECT_BINARY_DIR}/noxrunnerConfig.cmake
  ${PROJECT_BINARY_DIR}/noxrunnerConfigVersion.cmake
  DESTINATION ${NOX_CMAKE_DIR} COMPONENT dev)

# The .pc file finds its prefix from its own location, so the installed tree
# can be moved (and `cmake --install --prefix` needs no reconfigure).
file(RELATIVE_PATH NOX_PC_TO_PREFIX
  /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
string(REGEX REPLACE "/$" "" NOX_PC_TO_PREFIX "${NOX_PC_TO_PREFIX}")
configure_file(cmake/noxrunner.pc.in ${PROJECT_BINARY_DIR}/noxrunner.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/noxrunner.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

# Tools find the library beside them wherever the tree is installed.
file(RELATIVE_PATH _nox_bin_to_lib
  /prefix/${CMAKE_INSTALL_BINDIR} /prefix/${CMAKE_INSTALL_LIBDIR})
set(_nox_tools noxrc:1 noxd:8 nox-bench:1)
foreach(_t ${_nox_tools})
  string(REPLACE ":" ";" _t "${_t}")
  list(GET _t 0 _tool)
  list(GET _t 1 _section)
  if(TARGET ${_tool})
    set_target_properties(${_tool} PROPERTIES
      INSTALL_RPATH "$ORIGIN/${_nox_bin_to_lib}")
    install(TARGETS ${_tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
      COMPONENT tools)
    install(FILES man/${_tool}.${_section}
      DESTINATION ${CMAKE_INSTALL_MANDIR}/man${_section} COMPONENT tools)
  endif()
endforeach()
