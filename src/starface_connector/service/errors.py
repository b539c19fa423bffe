"""The service's own failures; adapters raise these (or subclasses) across the boundary."""

from __future__ import annotations


class ServiceError(Exception):
    """Base class; ``str(error)`` is one clear line for a person."""

    def __init__(self, message: str) -> None:
        # Collapse whitespace so multi-line causes (tracebacks, HTML bodies) stay one line.
        self.message = " ".join(str(message).split())
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class PbxError(ServiceError):
    """Reading the PBX failed."""


class PbxUnreachable(PbxError):
    """The PBX could not be reached or stayed unavailable after all retries, or the URL is bad."""


class PbxAuthError(PbxError):
    """The PBX rejected the credentials or the session token."""


class PbxProtocolError(PbxError):
    """The PBX answered with a status code or body its REST specification does not allow."""


class ImportBusy(ServiceError):
    """Another import is running; imports never overlap."""


class ImportRefused(ServiceError):
    """The import would do something too dangerous to do unasked (e.g. delete everyone)."""


class StoreError(ServiceError):
    """The database did not do what was asked (the storage adapter says which way)."""


class StoreUnavailable(StoreError):
    """The database cannot be reached, timed out, or has no connection free: nothing was
    applied; retry later."""


class OutcomeUnknown(StoreError):
    """The connection broke while committing: the write may or may not have been stored."""


class ValueRefused(StoreError):
    """The database refused a value (too long, not encodable, out of range)."""
