"""Helpers shared by the tests: broker processes, free ports, clients, wire frames, a TCP proxy.

Imported as ``tests.support.<module>``: the repository root is on pytest's ``pythonpath`` and
test files are imported in importlib mode, so no test relies on its own directory being on
``sys.path``.
"""
