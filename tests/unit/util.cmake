# The public utilities (include/noxrunner/util.h), through the shared library.
nox_add_test(test_public_util SOURCES unit/test_public_util.c LABELS unit)
