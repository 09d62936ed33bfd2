"""Refuse a request that carries a control character, before any view or query sees it.

The rule is ``inventory.cleaning``'s: the path and every query parameter (name and value)
are plain text; a form body may also hold tab, newline and carriage return. The JSON
bodies of ``/api/`` and ``/webhooks/`` are left to the API's schemas and the adapters, which
read the body whole (and verify its signature) first. A refused request changes nothing
and answers 400: JSON ``{"detail": …}`` under ``/api/`` and ``/webhooks/`` (machine
clients), the 400 page elsewhere.
"""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render

from inventory.cleaning import control_character_in, describe_character

JSON_PREFIXES = ("/api/", "/webhooks/")


def refusal_for(request: HttpRequest) -> str | None:
    """Why the request is refused, or None."""
    if char := control_character_in(request.path):
        return f"The address holds {describe_character(char)}."
    for name, values in request.GET.lists():
        for text in (name, *values):
            if char := control_character_in(text):
                return f"The query parameter {name[:50]!r} holds {describe_character(char)}."
    if request.method == "POST" and not request.path.startswith(JSON_PREFIXES):
        try:
            fields = list(request.POST.lists())
        except MultiPartParserError:
            return "The form body could not be read."
        for name, values in fields:
            if char := control_character_in(name):
                return f"A form field's name holds {describe_character(char)}."
            for text in values:
                if char := control_character_in(text, multiline=True):
                    return f"The form field {name[:50]!r} holds {describe_character(char)}."
    return None


class RefuseControlCharactersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (reason := refusal_for(request)) is None:
            return self.get_response(request)
        if request.path.startswith(JSON_PREFIXES):
            return JsonResponse({"detail": reason}, status=400)
        return render(request, "400.html", {"reason": reason}, status=400)
