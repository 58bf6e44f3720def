"""The write side: one method per command. Each loads, makes one domain call and saves."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from domain.catalog import CatalogModel
from domain.downloads import ACTIVE, COMPLETED, DownloadJob
from domain.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from domain.generations import Generation
from domain.sessions import ChatSession
from domain.users import User
from infra.passwords import ApiKeys, Passwords

T = TypeVar("T")


def retry_on_conflict(method: Callable[..., T]) -> Callable[..., T]:
    """Concurrent writers to one aggregate: reload and try again (optimistic concurrency)."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        for attempt in range(5):
            try:
                return method(*args, **kwargs)
            except IntegrityError:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    return wrapper


def as_uuid(value: str | UUID, what: str) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"No {what} {value!r}.") from None


class Gateway(Application[UUID]):
    """The application service of the gateway: users, keys, sessions and generations."""

    name = "pluggably"

    def __init__(self, env: dict[str, str], *, passwords: Passwords, api_keys: ApiKeys) -> None:
        super().__init__(env=env)
        self.passwords = passwords
        self.api_keys = api_keys
        self.after_save: Callable[[], None] | None = None  # wakes this process's projector and relay

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        recordings = super().save(*objs, **kwargs)
        if self.after_save is not None:
            self.after_save()
        return recordings

    # Loading.
    def _get(self, cls: type[T], aggregate_id: str | UUID, what: str) -> T:
        try:
            aggregate: Any = self.repository.get(as_uuid(aggregate_id, what))
        except AggregateNotFoundError:
            raise NotFound(f"No {what} {aggregate_id}.") from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"No {what} {aggregate_id}.")
        return aggregate

    def get_user(self, user_id: str | UUID) -> User:
        return self._get(User, user_id, "user")

    def get_session(
        self, session_id: str | UUID, owner_id: str | None = None, *, include_deleted: bool = False
    ) -> ChatSession:
        session = self._get(ChatSession, session_id, "session")
        if (session.deleted and not include_deleted) or (owner_id is not None and session.owner_id != owner_id):
            raise NotFound(f"No session {session_id}.")
        return session

    def get_generation(self, generation_id: str | UUID, owner_id: str | None = None) -> Generation:
        generation = self._get(Generation, generation_id, "generation")
        if owner_id is not None and generation.owner_id != owner_id:
            raise NotFound(f"No generation {generation_id}.")
        return generation

    # Users and keys.
    def register_user(self, username: str, password: str, is_admin: bool = False) -> tuple[User, str, str]:
        """A new user with a first API key, in one atomic save; answers ``(user, key_id, plaintext key)``."""
        if User.create_id(username) in self.repository:
            raise Conflict(f"The username {username!r} is taken.", param="username")
        user = User(username=username, password_hash=self.passwords.hash(password), is_admin=is_admin)
        key_id, plaintext = self.api_keys.new()
        user.issue_api_key(key_id, "default", self.api_keys.hash(plaintext), ["*"], None)
        self.save(user)
        return user, key_id, plaintext

    @retry_on_conflict
    def issue_api_key(
        self,
        user_id: str | UUID,
        name: str = "default",
        scopes: list[str] | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[str, str]:
        user = self.get_user(user_id)
        key_id, plaintext = self.api_keys.new()
        user.issue_api_key(key_id, name, self.api_keys.hash(plaintext), scopes or ["*"], expires_at)
        self.save(user)
        return key_id, plaintext

    @retry_on_conflict
    def revoke_api_key(self, user_id: str | UUID, key_id: str) -> None:
        user = self.get_user(user_id)
        user.revoke_api_key(key_id)
        self.save(user)

    @retry_on_conflict
    def disable_user(self, user_id: str | UUID, by: str | None = None) -> User:
        """Lock a user out: every key they hold stops working (``User.Disabled``). Idempotent. ``by``: the admin
        asking, who may not lock themselves out."""
        user = self.get_user(user_id)
        if by is not None and str(user.id) == by:
            raise Conflict("Admins cannot disable themselves: ask another admin.", param="user_id")
        if not user.disabled:
            user.disable()
            self.save(user)
        return user

    @retry_on_conflict
    def set_provider_credential(
        self,
        user_id: str | UUID,
        provider: str,
        ciphertext: str,
        last4: str,
        endpoint: str | None,
        api_version: str | None,
    ) -> None:
        user = self.get_user(user_id)
        user.set_provider_credential(provider, ciphertext, last4, endpoint, api_version)
        self.save(user)

    @retry_on_conflict
    def remove_provider_credential(self, user_id: str | UUID, provider: str) -> None:
        user = self.get_user(user_id)
        user.remove_provider_credential(provider)
        self.save(user)

    # Sessions.
    def create_session(self, owner_id: str, title: str | None, model: str | None) -> ChatSession:
        session = ChatSession(owner_id=owner_id, title=title or "New chat", model=model)
        self.save(session)
        return session

    @retry_on_conflict
    def rename_session(self, owner_id: str, session_id: str, title: str) -> ChatSession:
        session = self.get_session(session_id, owner_id)
        session.rename(title)
        self.save(session)
        return session

    @retry_on_conflict
    def delete_session(self, owner_id: str, session_id: str) -> None:
        session = self.get_session(session_id, owner_id)
        session.delete()
        self.save(session)

    # Generations.
    @retry_on_conflict
    def request_generation(
        self,
        *,
        owner_id: str,
        key_id: str | None,
        session_id: str | None,
        modality: str,
        targets: list[dict[str, str]],
        messages: list[dict[str, str]],
        parameters: dict[str, Any],
        stream: bool,
    ) -> Generation:
        """Record the request; in a session the user's message is appended in the same atomic save."""
        if not messages:
            raise InvalidRequest("Give input.prompt or input.messages.", param="input")
        session = None
        context: list[dict[str, str]] = []
        if session_id is not None:
            session = self.get_session(session_id, owner_id)
            context = [{"role": m["role"], "content": m["content"]} for m in session.messages]
        generation = Generation(
            owner_id=owner_id,
            key_id=key_id,
            session_id=session_id,
            modality=modality,
            targets=targets,
            messages=context + messages,
            parameters=parameters,
            stream=stream,
        )
        if session is not None:
            for message in messages:
                session.append_message(message["role"], message["content"], str(generation.id))
        self.save(generation, session)
        return generation

    @retry_on_conflict
    def start_generation(
        self, generation_id: str, worker: str, delivery: str | None = None, resume: bool = False
    ) -> Generation | None:
        """Mark the generation started by the work message ``delivery``; ``None`` when that message may not start
        it (``WorkItem.may_start``)."""
        generation = self.get_generation(generation_id)
        if not generation.may_start(delivery, resume):
            return None
        generation.start(worker, delivery)
        self.save(generation)
        return generation

    @retry_on_conflict
    def complete_generation(self, generation_id: str, **result: Any) -> Generation | None:
        generation = self.get_generation(generation_id)
        if generation.is_terminal:
            return None
        generation.complete(**result)
        session = None
        if generation.session_id is not None and generation.modality == "text":
            session = self.get_session(generation.session_id)
            session.append_message("assistant", result["output"].get("text", ""), str(generation.id))
        self.save(generation, session)
        return generation

    @retry_on_conflict
    def fail_generation(self, generation_id: str, **failure: Any) -> Generation | None:
        generation = self.get_generation(generation_id)
        if generation.is_terminal:
            return None
        generation.fail(**failure)
        self.save(generation)
        return generation

    @retry_on_conflict
    def cancel_generation(self, generation_id: str, owner_id: str | None = None) -> Generation:
        generation = self.get_generation(generation_id, owner_id)
        if generation.cancel():
            self.save(generation)
        return generation

    # Model downloads and the catalogue of local models.
    def get_download(self, job_id: str | UUID, viewer_id: str | None = None) -> DownloadJob:
        """``viewer_id`` None: any job (admins, workers); else one the user requested or joined."""
        job = self._get(DownloadJob, job_id, "job")
        if viewer_id is not None and not job.visible_to(viewer_id):
            raise NotFound(f"No job {job_id}.")
        return job

    def _catalog_model(self, model_id: str) -> CatalogModel | None:
        """The ``CatalogModel`` of ``local:<name>``, removed or not; None when it was never registered."""
        try:
            model: Any = self.repository.get(CatalogModel.create_id(model_id))
        except AggregateNotFoundError:
            return None
        return model if isinstance(model, CatalogModel) else None

    def find_model(self, model_id: str) -> CatalogModel | None:
        """The registered local model ``local:<name>``; None when unknown or removed."""
        model = self._catalog_model(model_id)
        return model if model is not None and not model.removed else None

    def _register(self, spec: dict[str, Any], model: CatalogModel | None) -> CatalogModel:
        """``model`` (the known ``CatalogModel`` of that id, if any) registered again, or a new one; unsaved."""
        if model is None:
            return CatalogModel(**spec)
        model.register_again(**spec)
        return model

    @retry_on_conflict
    def register_local_model(self, **spec: Any) -> CatalogModel:
        """Register a model configured on this host (``LLM_API_LOCAL_*``); a no-op when already registered there."""
        known = self._catalog_model(spec["model_id"])
        wanted = (spec["location"], spec["runtime"])
        if known is not None and not known.removed and (known.location, known.runtime) == wanted:
            return known
        model = self._register(spec, known)
        self.save(model)
        return model

    def local_models(self) -> list[CatalogModel]:
        """Every registered local model, from the event store (for the CLI, which runs no projector)."""
        from eventsourcing.utils import get_topic

        ids: list[UUID] = []
        start = 1
        while notifications := self.recorder.select_notifications(
            start, 500, topics=[get_topic(CatalogModel.Registered)]
        ):
            ids += [as_uuid(n.originator_id, "model") for n in notifications]
            start = notifications[-1].id + 1
        models: list[CatalogModel] = [self.repository.get(model_id) for model_id in dict.fromkeys(ids)]
        return sorted((m for m in models if not m.removed), key=lambda m: m.model_id)

    def current_download(self, model_id: str) -> tuple[DownloadJob | None, int]:
        """The latest download job of ``model_id`` and the generation number the next one would take.

        Job ids are ``DownloadJob.create_id(model_id, n)`` for n = 1, 2, ...: walking them from the event store
        (not a read model) is exact, and two requests racing to create job n collide on the event store's
        version check, so at most one job per model is ever queued or running.
        """
        latest: DownloadJob | None = None
        generation = 1
        while (job_id := DownloadJob.create_id(model_id, generation)) in self.repository:
            latest = self.repository.get(job_id)
            generation += 1
        return latest, generation

    def reusable_download(self, model_id: str, source_id: str) -> DownloadJob | None:
        """A job that answers a new request for ``model_id``: one still queued or running, or the completed one
        of a model that is still in the catalogue. The same id from another repository is a conflict."""
        latest, _ = self.current_download(model_id)
        if latest is None:
            return None
        if latest.status in ACTIVE or (latest.status == COMPLETED and self.find_model(model_id) is not None):
            if latest.source.get("id") != source_id:
                raise Conflict(
                    f"{model_id} is taken by a download of {latest.source.get('id')}; choose another "
                    f"model.id (or remove that model first).",
                    param="model.id",
                    code="model_exists",
                )
            return latest
        return None

    @retry_on_conflict
    def join_download(self, model_id: str, source_id: str, user_id: str) -> DownloadJob | None:
        """The reusable job of ``model_id`` (see ``reusable_download``), which ``user_id`` may follow from now on."""
        job = self.reusable_download(model_id, source_id)
        if job is not None and job.join(user_id):
            self.save(job)
        return job

    @retry_on_conflict
    def request_download(
        self,
        *,
        owner_id: str,
        model_id: str,
        model: dict[str, Any],
        source: dict[str, Any],
        options: dict[str, Any],
        plan: dict[str, Any],
    ) -> tuple[DownloadJob, bool]:
        """Record a download job; answers ``(job, created)``: the running (or completed) job of the same model is
        returned instead of a second one."""
        existing = self.join_download(model_id, source["id"], owner_id)
        if existing is not None:
            return existing, False
        _, generation = self.current_download(model_id)
        job = DownloadJob(
            model_id=model_id,
            generation=generation,
            owner_id=owner_id,
            model=model,
            source=source,
            options=options,
            plan=plan,
        )
        self.save(job)
        return job, True

    @retry_on_conflict
    def start_download(
        self, job_id: str, worker: str, delivery: str | None = None, resume: bool = False
    ) -> DownloadJob | None:
        """Mark the job started by the work message ``delivery``; ``None`` when that message may not start it
        (``WorkItem.may_start``)."""
        job = self.get_download(job_id)
        if not job.may_start(delivery, resume):
            return None
        job.start(worker, delivery)
        self.save(job)
        return job

    @retry_on_conflict
    def record_download_progress(
        self, job_id: str, bytes_done: int, bytes_total: int, current_file: str
    ) -> DownloadJob | None:
        job = self.get_download(job_id)
        if job.is_terminal:
            return None
        job.progress(bytes_done, bytes_total, current_file)
        self.save(job)
        return job

    @retry_on_conflict
    def complete_download(
        self,
        job_id: str,
        *,
        files: list[dict[str, Any]],
        size_bytes: int,
        sha256: str | None,
        path: str,
        runtime: str,
        location: str,
    ) -> DownloadJob | None:
        """Record the completion and register the model in the catalogue, in one atomic save."""
        job = self.get_download(job_id)
        if job.is_terminal:
            return None
        job.complete(files, size_bytes, sha256, path)
        spec = {
            "model_id": job.model_id,
            "name": job.model["name"],
            "version": job.model["version"],
            "modality": job.model["modality"],
            "runtime": runtime,
            "location": location,
            "size_bytes": size_bytes,
            "source": {**job.source, "revision": job.plan.get("commit_sha")},
        }
        self.save(job, self._register(spec, self._catalog_model(job.model_id)))
        return job

    @retry_on_conflict
    def fail_download(self, job_id: str, code: str, message: str) -> DownloadJob | None:
        job = self.get_download(job_id)
        if job.is_terminal:
            return None
        job.fail(code, message)
        self.save(job)
        return job

    @retry_on_conflict
    def cancel_download(self, job_id: str, owner_id: str | None = None) -> DownloadJob:
        """The user's cancel: a queued job is cancelled at once, a running one is asked to stop. Only its owner
        (or an admin: ``owner_id`` None) may cancel it; the users who joined it may only follow it."""
        job = self.get_download(job_id, owner_id)
        if owner_id is not None and job.owner_id != owner_id:
            raise PermissionDenied("Only the user who requested this download, or an admin, can cancel it.")
        if job.request_cancel():
            self.save(job)
        return job

    @retry_on_conflict
    def download_cancelled(self, job_id: str, reason: str = "cancelled by the user") -> DownloadJob:
        """The worker stopped the job and removed its partial files."""
        job = self.get_download(job_id)
        if job.cancel(reason):
            self.save(job)
        return job

    def model_removed(self, model_id: str) -> bool:
        """Whether ``local:<name>`` was registered once and is removed now."""
        model = self._catalog_model(model_id)
        return model is not None and model.removed

    @retry_on_conflict
    def remove_model(self, model_id: str) -> CatalogModel:
        """Take a downloaded model out of the catalogue (``CatalogModel.Removed``); the download workers delete
        its files when they hear of it. A model configured by a host's ``LLM_API_LOCAL_*`` settings is refused:
        that host would register it again at its next start."""
        model = self.find_model(model_id)
        if model is None:
            raise NotFound(f"No local model {model_id}.", param="model")
        if model.source.get("type") == "setting":
            raise Conflict(
                f"{model_id} is configured by the LLM_API_LOCAL_* settings: change the setting to remove it.",
                param="model",
                code="model_configured",
            )
        model.remove()
        self.save(model)
        return model

    # The audit trail, straight from the event store.
    def stored_events(self, aggregate_id: str | UUID, as_of: datetime | None = None) -> list[Any]:
        events: list[Any] = list(self.events.get(as_uuid(aggregate_id, "aggregate")))
        if as_of is not None:
            events = [e for e in events if e.timestamp <= as_of]
        return events

    def session_as_of(self, owner_id: str, session_id: str, as_of: datetime) -> ChatSession:
        """The session as it was at ``as_of``: a session deleted since can still be audited."""
        session = self.get_session(session_id, owner_id, include_deleted=True)
        events = self.stored_events(session_id, as_of)
        past = self.repository.get(session.id, version=events[-1].originator_version) if events else None
        if past is None or past.deleted:
            raise NotFound(f"Session {session_id} did not exist at {as_of.isoformat()}.")
        return past
