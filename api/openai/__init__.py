"""``/openai/v1/...``: the OpenAI-compatible surface, a thin adapter over the same use cases as ``/v1``.

``protocol.py`` holds OpenAI's request and answer shapes and their translation to and from ours; ``routes.py``
parses, calls the use case (``services.generation``, ``services.catalogue``) and answers. Another compatible
surface (Anthropic's) is the same two modules in a folder of its own.
"""
