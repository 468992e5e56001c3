"""Errors of the scheduler; both sit under the roots in :mod:`loomwork.errors`."""

from __future__ import annotations

from loomwork.errors import ConflictError, DefinitionError


class JobConfigError(DefinitionError):
    """A job file or ``config`` is wrong; names the job, the file and the field to fix."""

    def __init__(self, message: str, *, job: str | None, source: str | None, field: str) -> None:
        super().__init__(message)
        self.job = job
        self.source = source
        self.field = field


class JobAlreadyRunningError(ConflictError):
    """A manual run was refused: the job still runs and its overlap policy is ``skip``."""

    retryable = True

    def __init__(self, job: str) -> None:
        super().__init__(
            f"scheduled job {job!r} is still running and its overlap policy is 'skip'; "
            "wait for the current run to finish, or set overlap='allow' in its config"
        )
        self.job = job
