"""``llamacpp``: GGUF text models through llama-cpp-python, with the chat template embedded in the model."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from pydantic import Field

from runtimes.base import GenerationRequest, Result, TextDelta, Usage
from runtimes.local import Emit, LocalRuntime, ModelPool
from runtimes.options import LocalStop, Options, Temperature, TopP


class GGUFTextOptions(Options):
    temperature: Temperature = None
    max_tokens: int | None = Field(None, ge=1, le=32768)
    top_p: TopP = None
    stop: LocalStop = None
    seed: int | None = Field(None, ge=0, le=2**32 - 2)


class GGUFTextRuntime(LocalRuntime):
    """What the GGUF text runtimes (``llamacpp``, ``ctransformers``) share: one text API, one default model."""

    options = {"text": GGUFTextOptions}
    stream_window = 64
    default_setting = "local_text_model_path"


class LlamaCppRuntime(GGUFTextRuntime):
    name = "llamacpp"

    def __init__(
        self, settings: Any, pool: ModelPool | None = None, *, n_ctx: int = 4096, n_threads: int | None = None
    ) -> None:
        super().__init__(settings, pool)
        self.n_ctx = n_ctx
        self.n_threads = n_threads

    def estimate_mb(self, path: Path) -> float:
        return path.stat().st_size / 2**20 * 1.1 + self.n_ctx / 64  # weights, plus a rough KV cache and buffers

    def load(self, path: Path) -> Any:
        from llama_cpp import Llama

        return Llama(model_path=str(path), n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False)

    def generate(
        self, model: Any, request: GenerationRequest, params: dict[str, Any], emit: Emit, cancelled: threading.Event
    ) -> None:
        import numpy as np
        from llama_cpp import LogitsProcessorList

        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        eos = model.token_eos()
        sampled = 0

        def each_token(input_ids: Any, scores: Any) -> Any:
            """Runs before every sample, called from C (so it must not raise): counts, and ends a cancelled run."""
            nonlocal sampled
            if cancelled.is_set() and eos != -1:
                scores[:] = -np.inf
                scores[eos] = 0.0  # the end token is the only choice left
                return scores
            sampled += 1
            self.counters["tokens"] += 1
            return scores

        text: list[str] = []
        finish_reason = "stop"
        stream = model.create_chat_completion(
            messages=messages,
            stream=True,
            logits_processor=LogitsProcessorList([each_token]),
            temperature=params.get("temperature", 0.8),
            top_p=params.get("top_p", 0.95),
            top_k=40,
            max_tokens=params.get("max_tokens"),
            stop=params.get("stop"),
            seed=params.get("seed"),
        )
        for chunk in stream:
            if cancelled.is_set():
                break
            choice = chunk["choices"][0]
            piece = choice["delta"].get("content")
            if piece:
                text.append(piece)
                emit(TextDelta(piece))  # raises once the request is cancelled
            finish_reason = choice.get("finish_reason") or finish_reason
        if cancelled.is_set():
            return
        # Sampled tokens include the end-of-generation token when the model stopped by itself.
        ended_by_model = finish_reason == "stop" and not params.get("stop")
        usage = Usage(
            input_tokens=self._prompt_tokens(model, messages),
            output_tokens=max(sampled - (1 if ended_by_model else 0), 0),
        )
        emit(Result(text="".join(text), usage=usage, finish_reason=finish_reason))

    @staticmethod
    def _prompt_tokens(model: Any, messages: list[dict[str, str]]) -> int:
        """Tokens of the prompt as the chat template renders it (what llama-cpp-python's handler feeds)."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = model.metadata.get("tokenizer.chat_template")
        if template:
            # The same bos/eos texts llama-cpp-python gives the template when it builds its own handler.
            bos = model._model.token_get_text(model.token_bos()) if model.token_bos() != -1 else ""
            eos = model._model.token_get_text(model.token_eos()) if model.token_eos() != -1 else ""
            rendered = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)(messages=messages)
            return len(model.tokenize(rendered.prompt.encode(), add_bos=not rendered.added_special, special=True))
        plain = "\n".join(f"{m['role']}: {m['content']}" for m in messages)
        return len(model.tokenize(plain.encode(), add_bos=True, special=True))


def create(settings: Any, pool: ModelPool | None = None) -> LlamaCppRuntime:
    return LlamaCppRuntime(settings, pool)
