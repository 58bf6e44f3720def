"""Python client for the Pluggably LLM API gateway.

::

    from llm_api_client import PluggablyClient, GenerateInput, GenerateRequest

    client = PluggablyClient("http://localhost:8080", "your-key")
    response = client.generate(GenerateRequest(modality="text", input=GenerateInput(prompt="Hello")))
    print(response.output.text)

``AsyncPluggablyClient`` has the same methods, awaited. Errors are subclasses of :class:`APIError`.
"""

from ._async_client import AsyncPluggablyClient, AsyncSearchPager, AsyncSessionHandle
from ._base import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, __version__
from ._client import PluggablyClient, SearchPager, SessionHandle
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GenerationError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from ._models import (
    ApiKey,
    Artifact,
    Credential,
    DoneEvent,
    ErrorEvent,
    ErrorObject,
    GenerateInput,
    GenerateOutput,
    GenerateRequest,
    GenerateResponse,
    Generation,
    HistoryEvent,
    Job,
    Me,
    Message,
    Model,
    NewApiKey,
    NewUser,
    ProgressEvent,
    Provider,
    SearchPage,
    SearchResult,
    Session,
    SessionDetail,
    SessionHistory,
    SessionMessage,
    SessionUser,
    SignedIn,
    StreamEvent,
    TokenEvent,
    Usage,
    UsageReport,
    UsageRow,
    User,
)
from ._streaming import AsyncStream, Stream

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "APIConnectionError",
    # errors
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "ApiKey",
    "Artifact",
    "AsyncPluggablyClient",
    "AsyncSearchPager",
    "AsyncSessionHandle",
    "AsyncStream",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "Credential",
    "DoneEvent",
    "ErrorEvent",
    "ErrorObject",
    "GenerateInput",
    "GenerateOutput",
    "GenerateRequest",
    "GenerateResponse",
    "Generation",
    "GenerationError",
    "HistoryEvent",
    "InternalServerError",
    "Job",
    "Me",
    # models
    "Message",
    "Model",
    "NewApiKey",
    "NewUser",
    "NotFoundError",
    "PermissionDeniedError",
    # clients
    "PluggablyClient",
    "ProgressEvent",
    "Provider",
    "RateLimitError",
    "SearchPage",
    "SearchPager",
    "SearchResult",
    "Session",
    "SessionDetail",
    "SessionHandle",
    "SessionHistory",
    "SessionMessage",
    "SessionUser",
    "SignedIn",
    "Stream",
    "StreamEvent",
    "TokenEvent",
    "UnprocessableEntityError",
    "Usage",
    "UsageReport",
    "UsageRow",
    "User",
    "__version__",
]
