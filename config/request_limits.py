"""Bodies a parser cannot survive: JSON nested past Python's recursion limit is a 400, never a 500."""

from django.http import HttpRequest, HttpResponse

from config.api_errors import error_response

NESTED_TOO_DEEPLY = "The JSON body is nested too deeply."


class NestedJsonMiddleware:
    """Answer a JSON body that made its parser recurse too deep (DRF's, allauth's) with a 400.

    Placed below ApiErrorMiddleware, so that its `process_exception` runs first.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RecursionError) and "json" in (request.content_type or ""):
            return error_response(400, code="parse_error", message=NESTED_TOO_DEEPLY)
        return None
