"""The one error family of ddblake.

Every error the library raises derives from :class:`DdbLakeError`. Each carries a
message that says what went wrong and a ``hint`` that says what to do next; the CLI
prints both and exits with the class's ``exit_code``.
"""

from __future__ import annotations

from dataclasses import dataclass


class DdbLakeError(Exception):
    """Root of every ddblake error."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


class UsageError(DdbLakeError):
    """Bad arguments or configuration, found before any work started."""

    exit_code = 2


class ItemValidationError(DdbLakeError):
    """An item breaks one of DynamoDB's documented limits."""

    exit_code = 3

    def __init__(self, path: str, rule: str, message: str) -> None:
        super().__init__(f"{path}: {message} [{rule}]")
        self.path = path
        self.rule = rule


class ManifestError(DdbLakeError):
    """A manifest is malformed, of an unknown version, or fails its self-checksum."""

    exit_code = 4


class UnsafeNameError(ManifestError):
    """A name read from the lake (a manifest's part path, table name or id) would make a key
    outside its place; the document naming it is refused, never used."""


class CorruptDataError(DdbLakeError):
    """A part's bytes or rows do not match what the manifest recorded."""

    exit_code = 4


class MissingDataError(DdbLakeError):
    """A part or manifest the lake should hold is absent."""

    exit_code = 5


class ArchivedError(DdbLakeError):
    """The data sits in a cold storage class and must be thawed first."""

    exit_code = 6


class StorageError(DdbLakeError):
    """The lake's storage cannot be read or written."""

    exit_code = 7


class AlreadyExistsError(StorageError):
    """A create-if-absent write found the object already there (a commit conflict)."""


class NotFoundError(DdbLakeError):
    """A snapshot, table or object that was asked for does not exist."""

    exit_code = 5


class AwsError(DdbLakeError):
    """AWS refused a request in a way retrying will not fix."""

    exit_code = 8


class CredentialsError(AwsError):
    """No usable AWS credentials, or they expired."""


class RetriesExceeded(DdbLakeError):
    """Retries ran out; ``remaining`` says how much work was not done."""

    exit_code = 9

    def __init__(self, message: str, *, last_error: BaseException | None = None,
                 remaining: int = 0, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.last_error = last_error
        self.remaining = remaining


class BusyError(DdbLakeError):
    """Another run holds the job (an export or restore being resumed): wait for it to end,
    or for its lock to lapse when it died."""

    exit_code = 10


class SandboxError(DdbLakeError):
    """User SQL tried to reach outside the lake or change the sandbox."""

    exit_code = 2


@dataclass(frozen=True)
class PortableError:
    """A DdbLakeError crossing a process boundary with its class, message and hint intact
    (an exception with keyword-only fields does not survive pickling on its own)."""

    cls: type[DdbLakeError]
    message: str
    hint: str | None

    @classmethod
    def of(cls, error: DdbLakeError) -> PortableError:
        return cls(type(error), error.message, error.hint)

    def rebuild(self) -> DdbLakeError:
        error = self.cls.__new__(self.cls)
        Exception.__init__(error, self.message)
        error.message, error.hint = self.message, self.hint
        return error
