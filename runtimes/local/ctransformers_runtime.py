"""``ctransformers``: GGUF text models through ctransformers, in a child process.

ctransformers 0.2.27 is unmaintained and segfaults on some models (a gpt2/BPE vocabulary, for one), so it never
runs in the worker: each loaded model lives in a child process (``python -m runtimes.local.ctransformers_runtime``)
that speaks JSON lines. The child streams one message per token and waits for ``next`` or ``stop`` before the
next one, so a cancel stops it within one token. A crash ends the child only: the request fails with
``RuntimeFailure`` and the next request starts a fresh child.

Protocol (parent -> child on stdin; child -> parent on the stdout it had at start; its C libraries' output goes
to stderr):
  {"op": "load", "path", "context_length"}   -> {"ok": true} | {"error", "kind"}
  {"op": "generate", "prompt", "params"}   -> {"token": text}* (each answered by {"op": "next"|"stop"}),
                                                then {"done": {text, tail, input_tokens, output_tokens,
                                                finish_reason}} (tail: text held back from the tokens)
                                                | {"error", "kind"}
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from domain.errors import InvalidRequest, RuntimeFailure
from runtimes.base import GenerationRequest, Result, TextDelta, Usage
from runtimes.local import Emit, ModelPool
from runtimes.local.llamacpp import GGUFTextRuntime

_ROOT = Path(__file__).resolve().parents[2]


class _Child:
    """One child process holding one loaded model."""

    def __init__(self, path: Path, context_length: int) -> None:
        self.path = path
        self.context_length = context_length
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])),
            PYTHONUNBUFFERED="1",
        )
        self._stderr.clear()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runtimes.local.ctransformers_runtime"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        threading.Thread(target=self._drain_stderr, args=(self.proc,), daemon=True, name="ctransformers-stderr").start()
        self.send({"op": "load", "path": str(self.path), "context_length": self.context_length})
        self.receive("loading")

    def _drain_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self._stderr.append(line.decode(errors="replace").rstrip())

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # it died: the next receive says how

    def receive(self, doing: str) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise self._crashed(doing)
        message = json.loads(line)
        if "error" in message:
            cls = InvalidRequest if message.get("kind") == "invalid" else RuntimeFailure
            raise cls(f"ctransformers: {message['error']}")
        return message

    def _crashed(self, doing: str) -> RuntimeFailure:
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        tail = " | ".join(line for line in list(self._stderr)[-3:] if line.strip())
        return RuntimeFailure(
            f"the ctransformers process crashed ({how}) while {doing} {self.path.name}"
            + (f": {tail}" if tail else "")
            + "; this model may not be supported by ctransformers (try llamacpp)",
            provider="ctransformers",
        )

    def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            if self.proc.stdin:
                self.proc.stdin.close()  # the child exits at end of input
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream and not stream.closed:
                stream.close()


class CTransformersRuntime(GGUFTextRuntime):
    name = "ctransformers"

    def __init__(self, settings: Any, pool: ModelPool | None = None, *, context_length: int = 2048) -> None:
        super().__init__(settings, pool)
        self.context_length = context_length

    def estimate_mb(self, path: Path) -> float:
        return path.stat().st_size / 2**20 * 1.1 + 64  # weights, plus the child's interpreter

    def load(self, path: Path) -> _Child:
        child = _Child(path, self.context_length)
        try:
            child.start()
        except BaseException:
            child.close()
            raise
        return child

    def unload(self, model: _Child) -> None:
        model.close()

    def generate(
        self, model: _Child, request: GenerationRequest, params: dict[str, Any], emit: Emit, cancelled: threading.Event
    ) -> None:
        if not model.alive:  # crashed on an earlier request: start afresh
            model.close()
            model.start()
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        model.send({"op": "generate", "prompt": _render_prompt(messages), "params": params})
        while True:
            message = model.receive("generating with")
            if "done" in message:
                break
            self.counters["tokens"] += 1
            stop = cancelled.is_set()
            if not stop and message["token"]:
                try:
                    emit(TextDelta(message["token"]))
                except BaseException:  # the consumer has gone: stop the child, keep the pipe in step
                    stop = True
            model.send({"op": "stop" if stop else "next"})
        if cancelled.is_set():
            return
        done = message["done"]
        if done["tail"]:  # text held back while it could have grown into a stop sequence
            emit(TextDelta(done["tail"]))
        emit(
            Result(
                text=done["text"],
                finish_reason=done["finish_reason"],
                usage=Usage(input_tokens=done["input_tokens"], output_tokens=done["output_tokens"]),
            )
        )


def create(settings: Any, pool: ModelPool | None = None) -> CTransformersRuntime:
    return CTransformersRuntime(settings, pool)


# ------------------------------------------------------------------------------------------ the child process


def _render_prompt(messages: list[dict[str, str]]) -> str:
    """A plain transcript. Not the GGUF's chat template: ctransformers tokenizes special tokens (``</s>``,
    ``<|user|>``) as literal text, so the template's markers would reach the model as garbage; with the tiny test
    model such byte-token runs even make ctransformers read out of bounds and crash."""
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"


def _child_main() -> None:  # pragma: no cover - runs in the child process
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever the C libraries print goes to stderr, never into the protocol
    sys.stdout = sys.stderr
    commands = sys.stdin

    def send(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")

    llm, path = None, ""
    for line in commands:
        command = json.loads(line)
        op = command.get("op")
        if op == "load":
            from ctransformers import AutoModelForCausalLM

            path = command["path"]
            if not os.path.isfile(path):  # never let ctransformers take a missing path for a hub id
                send({"error": f"model file not found: {path}", "kind": "missing"})
                continue
            try:
                llm = AutoModelForCausalLM.from_pretrained(
                    path, model_type="llama", local_files_only=True, context_length=command["context_length"]
                )
            except Exception as exc:
                send({"error": f"could not load {path}: {exc}", "kind": "load"})
                continue
            send({"ok": True})
        elif op == "generate" and llm is not None:
            _child_generate(llm, path, command, send, commands)
        else:
            send({"error": f"unexpected command {op!r}", "kind": "protocol"})


def _child_generate(llm: Any, path: str, command: dict[str, Any], send: Any, commands: Any) -> None:
    import codecs

    params = command["params"]
    prompt = llm.tokenize(command["prompt"])
    room = llm.context_length - len(prompt)
    if room <= 0:
        send(
            {"error": f"the prompt ({len(prompt)} tokens) fills the context ({llm.context_length})", "kind": "invalid"}
        )
        return
    max_tokens = min(params.get("max_tokens") or room, room)
    stops: list[str] = params.get("stop") or []
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text, sent, count, finish = "", 0, 0, "stop"
    tokens = llm.generate(
        prompt,
        temperature=params.get("temperature", 0.8),
        top_p=params.get("top_p", 0.95),
        top_k=40,
        seed=params.get("seed", -1),
        reset=True,
    )
    for token in tokens:
        count += 1
        text += decoder.decode(llm.detokenize([token], decode=False))
        hit = min((i for i in (text.find(s, max(sent - len(s), 0)) for s in stops) if i >= 0), default=-1)
        if hit >= 0:
            text = text[:hit]
        # Hold back a tail that could still grow into a stop sequence.
        hold = max((k for s in stops for k in range(len(s) - 1, 0, -1) if text.endswith(s[:k])), default=0)
        safe = len(text) if hit >= 0 else len(text) - hold
        send({"token": text[sent:safe] if safe > sent else ""})
        sent = max(sent, safe)
        if json.loads(commands.readline() or '{"op": "stop"}')["op"] == "stop" or hit >= 0:
            break
        if count >= max_tokens:
            finish = "length"
            break
    tokens.close()
    send(
        {
            "done": {
                "text": text,
                "tail": text[sent:],
                "input_tokens": len(prompt),
                "output_tokens": count,
                "finish_reason": finish,
            }
        }
    )


if __name__ == "__main__":
    _child_main()
