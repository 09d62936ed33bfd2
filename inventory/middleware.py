"""Refuse a request that carries a control character, before any view or query sees it.

The rule is ``inventory.cleaning``'s: the path and every query parameter (name and value)
are plain text; a form body may also hold tab, newline and carriage return. A refused
request changes nothing and answers 400: the 400 page, or JSON ``{"detail": …}`` under
``/webhooks/`` (storefronts), whose JSON bodies are left to the adapters, which read the
body whole (and verify its signature) first.

``/api/`` is not checked here: the JSON API validates its own path, query and body against
its OpenAPI schema and answers what the schema documents (404 for a code no row can have,
422 naming the field), which a 400 from here would contradict.
"""

from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.utils import translation

from inventory.cleaning import control_character_in, describe_character

API_PREFIX = "/api/"
JSON_PREFIX = "/webhooks/"


def refusal_for(request: HttpRequest) -> str | None:
    """Why the request is refused, or None."""
    if request.path.startswith(API_PREFIX):
        return None
    if char := control_character_in(request.path):
        return f"The address holds {describe_character(char)}."
    for name, values in request.GET.lists():
        for text in (name, *values):
            if char := control_character_in(text):
                return f"The query parameter {name[:50]!r} holds {describe_character(char)}."
    if request.method == "POST" and not request.path.startswith(JSON_PREFIX):
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
        if request.path.startswith(JSON_PREFIX):
            return JsonResponse({"detail": reason}, status=400)
        return render(request, "400.html", {"reason": reason}, status=400)


class UserLanguageMiddleware:
    """The language a signed-in user chose in their profile wins over the browser's.

    ``LocaleMiddleware`` has already activated the browser's (Accept-Language, else
    English); this runs after authentication and replaces it with the user's own choice,
    when they made one. The preference comes with the user (``inventory.auth_backends``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if language := preferred_language(request.user):
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)


def preferred_language(user) -> str:
    """The user's chosen language code, or "" to follow the browser."""
    if not user.is_authenticated:
        return ""
    try:
        return user.preference.language
    except ObjectDoesNotExist:
        return ""
