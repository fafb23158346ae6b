"""Fakes of outside services, at their transport layer, for the tests."""
