# Immediate failures and their detail (nox_client_last_error(),
# nox_sync_last_error()) through the async API, the blocking wrapper and the
# fleet layer; and the two backends' agreement on bad inputs (local: and
# noxd over HTTP, from one table).
nox_add_test(test_immediate_errors
  SOURCES integration/test_immediate_errors.c LABELS errors integration)
if(TARGET noxd)
  nox_add_test(test_backend_agreement
    SOURCES integration/test_backend_agreement.c integration/noxd_util.c
    LABELS errors noxd integration TIMEOUT 180)
  add_dependencies(test_backend_agreement noxd)
endif()
