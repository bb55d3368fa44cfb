"""The e2e harness's fixtures (a real ``hcx serve`` per test), reused."""

from tests.e2e.conftest import keyed_server, no_server_outlives_its_test, server, start_server

__all__ = ["keyed_server", "no_server_outlives_its_test", "server", "start_server"]
