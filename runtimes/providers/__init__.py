"""Adapters to commercial providers (OpenAI, Anthropic, Google Gemini, Azure OpenAI, xAI).

Each module exports ``create(settings) -> Runtime``, the target of its ``pluggably.runtimes`` entry point. The HTTP
plumbing they share (retries, error mapping, SSE) is in :mod:`runtimes.providers.http`.
"""
