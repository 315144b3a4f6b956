"""Conditional GET for API views: each successful read carries an ETag; If-None-Match on it gets a 304."""

import hashlib

from rest_framework.request import Request
from rest_framework.response import Response


class ETagMixin:
    """For API views: tag 200 answers to GET by a hash of their body."""

    def finalize_response(self, request: Request, response: Response, *args, **kwargs) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method != "GET" or response.status_code != 200:
            return response
        response.render()
        etag = f'"{hashlib.blake2b(response.content, digest_size=16).hexdigest()}"'
        if etag in _listed(request.headers.get("If-None-Match", "")):
            not_modified = Response(status=304)
            not_modified["ETag"] = etag
            return super().finalize_response(request, not_modified, *args, **kwargs)
        response["ETag"] = etag
        return response


def _listed(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
