"""Domain errors: what went wrong, in the core's words. The API maps each class
to a gRPC status in one table (coordinator/api/errors.py)."""

from __future__ import annotations


class CoordinatorError(Exception):
    """Base of the errors a caller can act on."""


class InvalidArgument(CoordinatorError):
    """The request is malformed."""


class NotFound(CoordinatorError):
    """What the request names does not exist."""


class FailedPrecondition(CoordinatorError):
    """Not in a state that allows it; also a stale lease: the caller's execution must stop."""


class ResourceExhausted(CoordinatorError):
    """Over a size or count limit."""


class Unauthenticated(CoordinatorError):
    """No credentials, or credentials nobody issued (unknown, revoked, expired token).
    The message never says what exists, and never repeats the secret."""


class PermissionDenied(CoordinatorError):
    """The caller is known but its role does not allow the call."""


class Unavailable(CoordinatorError):
    """Cannot serve it now; retry later."""


class StoreUnavailable(Unavailable):
    """The database cannot be reached or refused the operation; retry later."""


class AlreadyExists(CoordinatorError):
    """What the request would create exists already (and is not the same thing);
    `existing_id` names it when that helps the caller."""

    def __init__(self, message: str, existing_id: str = "") -> None:
        super().__init__(message)
        self.existing_id = existing_id
