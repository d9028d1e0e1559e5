nox_add_test(test_json_split SOURCES unit/test_json_split.c INTERNAL LABELS unit)
nox_add_test(test_util SOURCES unit/test_util.c INTERNAL LABELS unit)
