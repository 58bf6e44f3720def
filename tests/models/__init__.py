"""Tiny random-weight models that tests and benches build at run time (no weights can be downloaded).

Import the builders from :mod:`tests.models.builders`; each writes a model into a folder and returns its path.
"""
