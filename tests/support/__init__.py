"""Helpers shared by the unit and integration tests (on pytest's pythonpath)."""
