"""The project's one exception tree.

Every error that the pipeline expects to meet in normal operation derives from
``NewsletterError``. The faces (CLI, web, scheduler) catch ``NewsletterError``
and show its message; anything else is a bug and is allowed to surface.

Third-party errors are translated in exactly one place each (``raise ... from``),
so callers never have to know which library failed.

    NewsletterError
    ├── SettingsError            a setting is missing or has an invalid value
    ├── ContentError             one or more content files are invalid
    │                            (carries every ContentProblem at once)
    ├── ContentConflictError     a content file changed on disk since it was opened
    ├── AssemblyError            assembly could not build an issue
    │   └── NothingToSendError   nothing new worth sending for a list/date
    ├── FeedError                a feed or web page cannot be fetched or read
    ├── RenderError              Jinja/MJML failed, or a render check failed
    ├── StorageError             the database could not do what was asked
    │   ├── SchemaError          schema missing or behind: run `newsletter db upgrade`
    │   ├── NotFoundError        a list, subscriber or issue does not exist
    │   ├── ConflictError        a compare-and-set lost, or a unique value exists
    │   └── DatabaseUnavailableError  the connection failed or was lost: may work again
    ├── AudienceError            subscriber data is unusable
    │   ├── AddressError         an email address is invalid
    │   ├── PersonNameError      a name is too long or holds control characters, < or >
    │   ├── ImportFileError      a CSV file cannot be read at all
    │   ├── PreferenceError      a preference-centre choice is invalid (a past date)
    │   ├── TimezoneError        a time zone name or local time of day is not usable
    │   └── TokenError           a token is forged, altered or expired
    │       └── TokenExpiredError
    ├── DeliveryError            sending failed
    │   ├── SendRejectedError    the provider refused one request (400/403/413)
    │   ├── SendAuthError        the provider refused our key (401): stop the send
    │   ├── SendRetryableError   429/5xx/connection: may be retried
    │   │   └── SendGaveUpError  still refused when the retry budget ran out
    │   └── SendOutcomeUnknownError  sent, but no answer came back
    ├── IssueStateError          an issue is not in a state that allows the action
    │   └── NotDueError          sending now would reach inboxes before the issue's time
    ├── FieldError               a request's fields are invalid (carries every
    │                            FieldProblem, each naming its field, for forms)
    ├── SchedulerError           the scheduler cannot start or act
    ├── WebhookError             an event webhook request is unsigned or malformed
    └── AccessError              a console user may not do this
        ├── LoginError           wrong email or password (never says which)
        └── LoginThrottledError  too many login attempts: wait and retry
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class NewsletterError(Exception):
    """Root of every error the pipeline expects and reports to a person."""


class SettingsError(NewsletterError):
    """A setting is missing or has an invalid value (message names the variable)."""


@dataclass(frozen=True)
class ContentProblem:
    """One problem in one content file; ``line`` is set when the parser gives one."""

    path: Path
    message: str
    field: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = str(self.path)
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            return f"{where}: {self.field}: {self.message}"
        return f"{where}: {self.message}"


class ContentError(NewsletterError):
    """The content library has problems; all of them are reported at once."""

    def __init__(self, problems: list[ContentProblem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{count} content {noun}:\n{lines}")


class ContentConflictError(NewsletterError):
    """A content file changed (or appeared) on disk since the editor opened it."""

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(message)


class AssemblyError(NewsletterError):
    """Assembly could not produce an issue."""


class NothingToSendError(AssemblyError):
    """There is nothing new worth sending for this list on this date."""


class FeedError(NewsletterError):
    """A feed or web page to import cannot be fetched or read (message names the URL)."""


class RenderError(NewsletterError):
    """Rendering failed, or a rendered issue failed one of its checks."""


class StorageError(NewsletterError):
    """The database could not do what was asked."""


class SchemaError(StorageError):
    """The schema is missing or behind the code."""


class NotFoundError(StorageError):
    """A list, subscriber or issue does not exist."""


class ConflictError(StorageError):
    """A compare-and-set lost its race, or a unique value already exists."""


class DatabaseUnavailableError(StorageError):
    """The connection failed or was lost mid-transaction; a fresh one may succeed."""


class AudienceError(NewsletterError):
    """Subscriber data is unusable."""


class AddressError(AudienceError):
    """An email address is invalid."""


class PersonNameError(AudienceError):
    """A person's name is too long or holds characters a name never needs."""


class TimezoneError(AudienceError):
    """A time zone name (IANA) or a local time of day (``HH:MM``) is not usable."""


class ImportFileError(AudienceError):
    """A subscriber file cannot be read at all (nothing was imported)."""


class PreferenceError(AudienceError):
    """A preference-centre choice cannot be applied (the message says what to change)."""


class TokenError(AudienceError):
    """A token is forged, altered or otherwise invalid."""


class TokenExpiredError(TokenError):
    """A token was genuine but is too old."""


class DeliveryError(NewsletterError):
    """Sending failed."""


class SendRejectedError(DeliveryError):
    """The provider refused one request; the batch fails, the send goes on."""

    def __init__(self, message: str, status: int | None = None, field: str | None = None) -> None:
        self.status = status
        self.field = field
        super().__init__(message)


class SendAuthError(DeliveryError):
    """The provider refused the API key (401): the whole send must stop."""


class SendRetryableError(DeliveryError):
    """A 429, a 5xx or a connection failure: the request may be tried again."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class SendGaveUpError(SendRetryableError):
    """Every try was refused (429/5xx) until the send window closed, or the run stopped.

    Nothing was accepted, so the batch may be sent again by a later resume.
    """

    def __init__(self, message: str, *, stopped: bool = False) -> None:
        self.stopped = stopped
        super().__init__(message)


class SendOutcomeUnknownError(DeliveryError):
    """The request went out but no answer came back; resending could duplicate."""


class IssueStateError(NewsletterError):
    """An issue is not in a state that allows the requested action."""


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field of a request (a CLI option or a form field of the same name)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class FieldError(NewsletterError):
    """A request is invalid; every problem is reported at once, each naming its field."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))

    def for_field(self, field: str) -> list[str]:
        """The messages about ``field``, for showing next to that form field."""
        return [p.message for p in self.problems if p.field == field]


class NotDueError(IssueStateError):
    """Sending now would reach inboxes before the issue's delivery time (``--now`` forces)."""


class SchedulerError(NewsletterError):
    """The scheduler cannot start or act."""


class WebhookError(NewsletterError):
    """An event webhook request is unsigned, badly signed or malformed."""


class AccessError(NewsletterError):
    """A console user is unknown, disabled, or lacks the role for an action."""


class LoginError(AccessError):
    """The email or the password is wrong; deliberately never says which."""


class LoginThrottledError(AccessError):
    """Too many login attempts for this account or address; ``retry_after`` in seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message)
