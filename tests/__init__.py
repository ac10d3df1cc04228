"""The test suite (see the README's Development section)."""

import pytest

# The helpers in tests/support assert too: pytest rewrites their asserts like the tests' own, so
# that a failure there shows the values compared.
pytest.register_assert_rewrite("tests.support")
