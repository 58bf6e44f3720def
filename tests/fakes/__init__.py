"""Fakes of the outside world that speak its real wire formats over real HTTP on 127.0.0.1.

Provider fakes (``openai_fake.OpenAIFake`` — also Azure paths and ``XAIFake`` —, ``anthropic_fake.AnthropicFake``,
``google_fake.GoogleFake``) share ``provider_base``; each also runs as ``python -m tests.fakes.<name> --port 0
--api-key K`` and prints its base URL as the first stdout line.
"""
