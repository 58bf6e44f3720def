"""Every use case of one process, as the entrypoints (HTTP routes, the CLI) see them: built by ``api/bootstrap``."""

from __future__ import annotations

from dataclasses import dataclass

from infra.settings import Settings
from services.accounts import Accounts
from services.auth import Authenticator
from services.catalogue import Models
from services.credentials import Credentials
from services.downloads import Downloads
from services.generation import Generations
from services.health import Health
from services.sessions import Sessions
from services.sign_in import SignIn


@dataclass
class Services:
    settings: Settings
    auth: Authenticator
    generations: Generations
    sessions: Sessions
    models: Models
    downloads: Downloads
    credentials: Credentials
    accounts: Accounts
    health: Health
    sign_in: SignIn
