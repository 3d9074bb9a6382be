"""The server compatibility matrix. A package, so that its conftest is `compat.conftest` and not
the `conftest` module other tests import helpers from."""
