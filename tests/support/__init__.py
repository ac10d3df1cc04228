"""Helpers shared by the test modules; fixtures and factories live in ``tests/conftest.py``.

No test module imports from another: what two of them need is here, under a name that says
what it is.
"""

PUBLIC_ORIGIN = "http://testserver"  # the first public origin of the in-process apps
PASSWORD = "correct horse battery"  # every test user's password, unless a test says otherwise
