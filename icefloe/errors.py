"""icefloe's errors, every one of them.

Errors are data: each class's docstring is its default message, and each carries the exit
code the CLI uses and a ``retryable`` flag that task retry conditions read, both given in the
class statement (``class GateNotMet(IcefloeError, exit_code=7)``). A subclass exists only
where a caller reacts differently. Only the CLI turns errors into exit codes.
"""

from __future__ import annotations

from typing import Any


class IcefloeError(Exception):
    """icefloe could not finish the operation."""

    exit_code: int = 1
    retryable: bool = False

    def __init_subclass__(cls, *, exit_code: int | None = None, retryable: bool | None = None,
                          **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if exit_code is not None:
            cls.exit_code = exit_code
        if retryable is not None:
            cls.retryable = retryable

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


# -- exit code 2: the request, the configuration or the input is wrong -----------------------

class UsageError(IcefloeError, exit_code=2):
    """The request does not make sense as given."""


class ConfigInvalid(UsageError):
    """The configuration is not valid."""


class InputNotFound(UsageError):
    """A file or folder named on the command line or in the configuration does not exist."""


class MissingVolume(InputNotFound):
    """A volume of the archive is missing."""

    def __init__(self, name: str, message: str | None = None) -> None:
        super().__init__(message or f"volume {name} is missing")
        self.volume = name


class InputUnreadable(UsageError):
    """A file could not be read."""


class TooLarge(UsageError):
    """The input is larger than the target can hold."""


class ExternalToolMissing(UsageError):
    """A required external program is not installed."""


class PasswordError(UsageError):
    """The archive password is missing or wrong."""


class MirrorRefused(UsageError):
    """The mirror was refused to protect the existing copy."""


# -- a failed operation, by what failed ---------------------------------------------------------

class CatalogError(IcefloeError, exit_code=3):
    """The catalog could not be read or written."""


class Transient(IcefloeError, exit_code=4, retryable=True):
    """A temporary failure: the operation can be retried."""


class CorruptDownload(Transient):
    """The bytes received do not match the checksum the service sent; fetching again."""


class PrefectUnavailable(Transient):
    """Prefect's API server could not be reached."""


class JobNotReady(IcefloeError, exit_code=4):
    """The job has not finished yet; its output can be fetched once it has."""


class ServiceError(IcefloeError, exit_code=5):
    """The storage service refused the request."""


class CredentialsMissing(ServiceError):
    """No usable AWS credentials were found."""


class ContainerMissing(ServiceError):
    """The vault or bucket does not exist."""


class BackendUnsupported(ServiceError):
    """This account cannot use the Glacier vault API; set coldstore.backend = "s3"."""


class RemoteNotFound(ServiceError):
    """The upload, job, archive or object is not (or no longer) on the service."""


class NotifyFailed(ServiceError):
    """A notification channel did not take the message."""


class ChecksumMismatch(IcefloeError, exit_code=6):
    """A checksum did not match: the data differs from what was expected."""


class BurnMismatch(ChecksumMismatch):
    """The burned disc reads back differently from the image."""

    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        self.result = result  # the BurnResult: both SHA-256s, the device


class FileChanged(IcefloeError, exit_code=6):
    """A file changed while icefloe was reading it."""


class GateNotMet(IcefloeError, exit_code=7):
    """A safety gate is not met, so nothing was changed."""


class ClearIncomplete(IcefloeError, exit_code=7):
    """A clear was rolled back but some files could not be put back; see the trash folder."""


class ExternalToolError(IcefloeError, exit_code=8):
    """An external program failed."""


class DeviceError(IcefloeError, exit_code=8):
    """The disc device is not usable."""


class NoMedium(DeviceError):
    """There is no writable disc in the drive."""


class MediumTooSmall(DeviceError):
    """The disc in the drive is too small for the image."""


# Nothing was written yet; a desktop auto-mount probe lets go soon.
class DeviceBusy(DeviceError, retryable=True):
    """Another program holds the drive."""


class MirrorFailed(IcefloeError, exit_code=9):
    """The mirror run failed."""


# A failed operation, not a usage mistake: the same command works with room.
class NotEnoughSpace(IcefloeError, exit_code=10):
    """There is not enough free space for the output."""


class ChecksFailed(IcefloeError):
    """Some checks of the set failed."""


# -- exit code 75 (EX_TEMPFAIL, sysexits.h): not a failure, try again later ------------------

class RetrievalPending(IcefloeError, exit_code=75):
    """Retrievals are still running; run the same command again once they have finished."""


class PartitionBusy(IcefloeError, exit_code=75):
    """Another run holds this partition; try again when it has finished (or use --wait)."""


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


# -- signals the restore reader raises and catches itself; never shown to a person -----------

class PlaceTaken(Exception):
    """The place is taken by something else (a different file, a folder, a file in the way)."""


class HeaderUnsupported(Exception):
    """A header this reader does not decode; py7zr may."""


class HeaderEncrypted(Exception):
    """The header is encrypted and no password was given."""
