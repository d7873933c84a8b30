"""Implementations of the application's ports, one sub-package per technology."""
