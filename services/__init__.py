"""The use cases: every thing a caller can ask of the gateway, with its dependencies passed in.

Entrypoints (the HTTP routes, the OpenAI-compatible adapter, the CLI) parse a request, call one use case here and
shape its answer; they hold no logic of their own. ``api/bootstrap.py`` builds these objects once per process.
"""
