"""OpenAPI schema post-processing: the error responses every operation may give, in the error shape."""

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every 4xx and 5xx under /api/ answers in this shape.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
                "request_id": {"type": "string"},
            },
            "required": ["code", "message", "details", "request_id"],
        }
    },
    "required": ["error"],
}
ERROR_DESCRIPTIONS = {
    "400": "The request is not valid.",
    "401": "Not signed in, or the credentials are not valid.",
    "403": "Not allowed with these credentials.",
    "404": "No such object (or staged upload) for this user.",
    "409": "Conflicts with the current state.",
    "413": "The request body is too large.",
    "415": "The body's media type is not accepted.",
    "422": "An Idempotency-Key reused for a different request.",
    "429": "Too many requests; `Retry-After` says when to try again.",
}
WRITE_METHODS = {"post", "put", "patch", "delete"}


def _error_codes(path: str, method: str, operation: dict) -> list[str]:
    codes = ["400", "401", "403", "404", "429"]
    if method in WRITE_METHODS:
        codes += ["409", "422"]
    if "requestBody" in operation:
        codes += ["413", "415"]
    return codes


def document_error_responses(result: dict, generator, request, public) -> dict:
    """Declare the error responses of each operation, all sharing the `Error` component."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code in _error_codes(path, method, operation):
                responses.setdefault(code, {"description": ERROR_DESCRIPTIONS[code], "content": reference})
    return result
