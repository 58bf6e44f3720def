"""The thread pool that the asynchronous code calls blocking work through (the eventsourcing library, SQL)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class Threads:
    """One pool per process; ``await threads.run(fn, *args, **kwargs)`` runs ``fn`` there."""

    def __init__(self, max_workers: int = 32, name: str = "pluggably") -> None:
        self.executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        call = functools.partial(fn, **kwargs) if kwargs else fn
        return await asyncio.get_running_loop().run_in_executor(self.executor, call, *args)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
