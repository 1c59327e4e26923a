"""The errors the emulator answers with, in the JSON shape of Google APIs ({"error": {code, message, status}})."""
from __future__ import annotations

from typing import Any

STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          408: "DEADLINE_EXCEEDED", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
          501: "UNIMPLEMENTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


class ApiError(Exception):
    """A failed request: the HTTP status, the message and the details Google's API would give."""

    def __init__(self, code: int, message: str, status: str | None = None, details: list[dict] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS.get(code, "UNKNOWN")
        self.details = details

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def invalid(message: str, field: str | None = None) -> ApiError:
    """400 INVALID_ARGUMENT; with `field`, a BadRequest detail naming it, as the API adds for payload errors."""
    details = None
    if field is not None:
        details = [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": field, "description": message}]}]
    return ApiError(400, message, details=details)


def not_found() -> ApiError:
    return ApiError(404, "Requested entity was not found.")
