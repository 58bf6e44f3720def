"""Model downloads from the Hugging Face hub, beside their worker: the hub client (search, plan, transfer), the
models directory, and the download worker that runs ``DownloadJob`` work from the bus."""

from __future__ import annotations

import threading
from typing import Any

from domain.errors import ProviderNotConfigured


class Hub:
    """The one hub client of a process, made on first use: ``huggingface_hub`` is imported only then, and a host
    without the ``hub`` extra answers every use with a clear error."""

    def __init__(self, settings: Any, **options: Any) -> None:
        self.settings, self.options = settings, options
        self._client: Any = None
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    from downloads.hub import HubClient
                except ImportError:
                    raise ProviderNotConfigured(
                        "Model downloads need huggingface_hub: install pluggably[hub].", code="hub_not_installed"
                    ) from None
                self._client = HubClient.from_settings(self.settings, **self.options)
            return self._client
