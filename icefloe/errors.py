"""icefloe's errors.

Errors are data: each class's docstring is its default message, and each carries the exit
code the CLI uses and a ``retryable`` flag that task retry conditions read. A subclass exists
only where a caller reacts differently. Only the CLI turns errors into exit codes.
"""

from __future__ import annotations


class IcefloeError(Exception):
    """icefloe could not finish the operation."""

    exit_code: int = 1
    retryable: bool = False

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class UsageError(IcefloeError):
    """The request does not make sense as given."""

    exit_code = 2


class ConfigInvalid(UsageError):
    """The configuration is not valid."""


class InputNotFound(UsageError):
    """A file or folder named on the command line or in the configuration does not exist."""


class InputUnreadable(UsageError):
    """A file could not be read."""


class NotEnoughSpace(IcefloeError):
    """There is not enough free space for the output."""

    exit_code = 10  # a failed operation, not a usage mistake: the same command works with room


class TooLarge(UsageError):
    """The input is larger than the target can hold."""


class CatalogError(IcefloeError):
    """The catalog could not be read or written."""

    exit_code = 3


class Transient(IcefloeError):
    """A temporary failure: the operation can be retried."""

    exit_code = 4
    retryable = True


class ServiceError(IcefloeError):
    """The storage service refused the request."""

    exit_code = 5


class CredentialsMissing(ServiceError):
    """No usable AWS credentials were found."""


class ContainerMissing(ServiceError):
    """The vault or bucket does not exist."""


class BackendUnsupported(ServiceError):
    """This account cannot use the Glacier vault API; set coldstore.backend = "s3"."""


class ChecksumMismatch(IcefloeError):
    """A checksum did not match: the data differs from what was expected."""

    exit_code = 6


class FileChanged(IcefloeError):
    """A file changed while icefloe was reading it."""

    exit_code = 6


class GateNotMet(IcefloeError):
    """A safety gate is not met, so nothing was changed."""

    exit_code = 7


class ExternalToolError(IcefloeError):
    """An external program failed."""

    exit_code = 8


class ExternalToolMissing(UsageError):
    """A required external program is not installed."""


class PasswordError(UsageError):
    """The archive password is missing or wrong."""


class DeviceError(IcefloeError):
    """The disc device is not usable."""

    exit_code = 8


class MirrorFailed(IcefloeError):
    """The mirror run failed."""

    exit_code = 9


class MirrorRefused(UsageError):
    """The mirror was refused to protect the existing copy."""


class StageFailed(IcefloeError):
    """A stage of a run failed; it carries the stage's own error, exit code included."""

    def __init__(self, run_name: str, stage: str | None, error: BaseException) -> None:
        reason = getattr(error, "message", None) or str(error) or type(error).__name__
        where = f" at {stage}" if stage else ""
        super().__init__(f"{run_name} failed{where}: {reason}")
        self.run_name, self.stage, self.error = run_name, stage, error
        if isinstance(error, IcefloeError):
            self.exit_code, self.retryable = error.exit_code, error.retryable

    def __reduce__(self) -> tuple[object, ...]:
        # A failed run's result is this error, pickled: rebuild it from what made it.
        return (type(self), (self.run_name, self.stage, self.error))
