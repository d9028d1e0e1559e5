nox_add_test(test_http2 SOURCES integration/test_http2.c LABELS http)
set_tests_properties(test_http2 PROPERTIES SKIP_RETURN_CODE 77)
