"""The token-authenticated JSON API under /api/: stock reads, movements, transfers, discrepancies.

Every caller is a ``System`` named by ``Authorization: Bearer <token>``. A write names the fact
it writes (on_hand) and is refused, and recorded, when the caller does not own that fact. A read
shows only what the caller's system may see: the facts the ownership table names it owner or
consumer of (a stock read of on_hand by any other system is 403; the discrepancy list holds only
the facts it may read). The endpoints only parse, call ``inventory.selectors`` /
``inventory.services`` and shape the answer; domain errors become JSON through the exception
handlers at the bottom.
"""

import logging
from dataclasses import dataclass
from functools import partial, wraps
from typing import Annotated

from django.apps import apps
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError, connection
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    JsonResponse,
    UnreadablePostError,
)
from ninja import Header, NinjaAPI, Status, Swagger
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.pagination import paginate
from ninja.security import HttpBearer

from inventory import selectors
from inventory.api_schemas import (
    BinStockOut,
    DiscrepancyOut,
    DiscrepancyPages,
    ErrorOut,
    ForbiddenOut,
    InsufficientStockOut,
    InvalidOut,
    MovementIn,
    MovementOut,
    SkuStockOut,
    Text,
    TransferIn,
    TransferOut,
    movement_out,
    transfer_out,
)
from inventory.exceptions import (
    EventIdReused,
    InsufficientStock,
    InvalidMovement,
    InventoryError,
    MovementRefused,
    NotOwner,
)
from inventory.models import Bin, Discrepancy, Fact, Ownership, Sku, System
from inventory.services import (
    authority_enforce,
    on_hand_adjust,
    on_hand_adjust_by_code,
    on_hand_transfer,
)

log = logging.getLogger(__name__)

DATABASE_DOWN = (OperationalError, InterfaceError)


class SystemToken(HttpBearer):
    """``Authorization: Bearer <token>`` of an active System; ``request.auth`` is that System.

    ``remembered=True`` (the movement endpoint) takes the System from this process's memory
    of tokens when it can, without a query, and notes on the request that it is unconfirmed:
    the endpoint's write confirms it in its own statement, and any other answer confirms it
    first (``TokenAPI.on_exception``). See ``inventory.selectors.tokens``.
    """

    def __init__(self, *, remembered: bool = False) -> None:
        super().__init__()
        self.remembered = remembered

    def authenticate(self, request: HttpRequest, token: str) -> System | None:
        token = token.strip()
        if not self.remembered:
            return selectors.system_for_token(token=token)
        if not token:
            return None
        token_hash = System.hash_token(token)
        system, remembered = selectors.system_hint_for_token_hash(token_hash=token_hash)
        request.api_token = ApiToken(hash=token_hash, checked=not remembered)
        return system


@dataclass
class ApiToken:
    """The request's token: its hash, and whether the table was consulted for it in this
    request (read, or checked by the write's own statement)."""

    hash: str
    checked: bool


def _unconfirmed(request: HttpRequest) -> ApiToken | None:
    token = getattr(request, "api_token", None)
    return token if token is not None and not token.checked else None


def _confirm(request: HttpRequest, token: ApiToken) -> System:
    """Read the remembered token from the table: its System now, or 401."""
    system = selectors.system_for_token_hash(token_hash=token.hash)
    token.checked = True
    if system is None:
        raise AuthenticationError()
    request.auth = system
    return system


def _api_view(view):
    """Mark one of ninja's views as not needing a session login, refuse a repeated query
    parameter, and answer 405 in JSON.

    ``LoginRequiredMiddleware`` would redirect a token client to the login page; the token
    is this API's authentication. Ninja offers no hook for it (vitalik/django-ninja#1461),
    so the url patterns' callbacks are wrapped here.
    """

    @wraps(view)
    def api_view(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if repeated := sorted(k for k, values in request.GET.lists() if len(values) > 1):
            # Every query parameter is one value; ninja would silently take the last.
            return JsonResponse(
                {
                    "detail": f"{repeated[0]}: give this query parameter once.",
                    "code": "invalid",
                    "field": repeated[0],
                    "errors": [{"field": repeated[0], "message": "Give it once."}],
                },
                status=422,
            )
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            return JsonResponse(
                {
                    "detail": f"{request.method} is not allowed here; use {allowed}.",
                    "code": "method_not_allowed",
                },
                status=405,
                headers={"Allow": allowed},
            )
        return response

    return login_not_required(api_view)


class TokenAPI(NinjaAPI):
    """A NinjaAPI whose url patterns are exempt from the session login (see ``_api_view``),
    and whose answers other than a confirmed success never rest on a remembered token."""

    @property
    def urls(self):
        patterns, app_name, namespace = super().urls
        for pattern in patterns:
            pattern.callback = _api_view(pattern.callback)
        return patterns, app_name, namespace

    def on_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse:
        # A request authenticated from memory and refused before its write confirmed the
        # token (its body invalid, say) is answered as a request with that token is: the
        # token is read from the table first, so a revoked one still answers 401.
        if (token := _unconfirmed(request)) and not isinstance(exc, DATABASE_DOWN):
            try:
                _confirm(request, token)
            except AuthenticationError as refused:
                exc = refused
            except DATABASE_DOWN as down:
                exc = down
        return super().on_exception(request, exc)


class OfflineSwagger(Swagger):
    """Swagger UI from ninja's bundled static files, never from a CDN.

    Ninja uses its bundled files only when "ninja" is in INSTALLED_APPS and otherwise falls
    back to cdn.jsdelivr.net; without the app this page says so instead of going online.
    """

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs) -> HttpResponse:
        if not apps.is_installed("ninja"):
            return JsonResponse(
                {
                    "detail": "The interactive docs are served from ninja's bundled files, "
                    'which need "ninja" in INSTALLED_APPS. The schema is at openapi.json.',
                    "code": "docs_unavailable",
                },
                status=503,
            )
        return super().render_page(request, api, **kwargs)


api = TokenAPI(
    title="OneFact API",
    version="1",
    description="The shelf's on-hand, its ledger and the discrepancies, for owner and "
    "consumer systems. Authenticate with `Authorization: Bearer <system token>`.",
    urls_namespace="api",
    auth=SystemToken(),
    docs=OfflineSwagger(),
)

IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=200)]
# Every status an operation can answer is in its schema with its JSON shape. A request the
# schema allows is refused for what the data says (404 no such SKU or bin, 403, 409); a 422
# is a request the schema forbids, or one of the few the shelf's rules refuse and a schema
# cannot say (an inactive SKU or bin, a transfer within one bin).
UNAVAILABLE = {503: ErrorOut}
READ_ERRORS = {401: ErrorOut, 403: ForbiddenOut, 404: ErrorOut, 422: InvalidOut, **UNAVAILABLE}
WRITE_ERRORS = {
    400: ErrorOut,
    401: ErrorOut,
    403: ForbiddenOut,
    404: InvalidOut,
    409: InsufficientStockOut | ErrorOut,
    413: ErrorOut,
    422: InvalidOut,
    **UNAVAILABLE,
}


class InvalidField(Exception):
    """One field of a request names something that may not be used."""

    status = 422

    def __init__(self, *, field: str, message: str, code: str = "invalid") -> None:
        self.field = field
        self.code = code
        super().__init__(message)


class UnknownField(InvalidField):
    """One field of a request names a SKU or bin that does not exist: 404, as for a read."""

    status = 404


class NotReader(Exception):
    """The caller's system neither owns nor consumes the fact the endpoint shows."""

    def __init__(self, *, fact: str, system: System) -> None:
        self.fact = fact
        ownership = Ownership.objects.select_related("owner").filter(fact=fact).first()
        owner = ownership.owner.name if ownership and ownership.owner else "nobody"
        consumers = sorted(c.name for c in ownership.consumers.all()) if ownership else []
        super().__init__(
            f"{system.name} may not read {fact}: only its owner ({owner}) and its consumers "
            f"({', '.join(consumers) or 'none'}) may. An admin can add {system.name} as a "
            "consumer in the ownership table."
        )


def _may_read(request: HttpRequest, fact: str) -> None:
    """Refuse (403) a caller whose system neither owns nor consumes ``fact``."""
    if not selectors.system_may_read(system=request.auth, fact=fact):
        raise NotReader(fact=fact, system=request.auth)


# Stock reads -------------------------------------------------------------------------------


def _get_or_404(rows: QuerySet[Sku] | QuerySet[Bin], *, code: str, label: str):
    found = rows.filter(code=code).first() if "\x00" not in code else None
    if found is None:
        raise Http404(f"No {label} {code!r}.")
    return found


@api.get("/skus/{code}/stock", response={200: SkuStockOut, **READ_ERRORS}, url_name="sku-stock")
def sku_stock(request: HttpRequest, code: str):
    """On-hand of one SKU, in total, per warehouse and per bin: for on_hand's owner and
    consumers."""
    _may_read(request, Fact.ON_HAND)
    sku = _get_or_404(Sku.objects.all(), code=code, label="SKU")
    availability = selectors.availability_for_sku(sku=sku)
    balances = list(selectors.on_hand_for_sku(sku=sku))
    return {
        "sku": sku.code,
        "title": sku.title,
        "active": sku.active,
        "on_hand": availability.on_hand,
        "committed": availability.committed,
        "available": availability.available,
        "warehouses": [
            {"warehouse": w.code, "on_hand": w.on_hand}
            for w in selectors.on_hand_split_by_warehouse(balances)
        ],
        "bins": [
            {
                "bin": b.bin.code,
                "warehouse": b.bin.warehouse.code,
                "zone": b.bin.zone,
                "quantity": b.quantity,
            }
            for b in balances
        ],
    }


@api.get("/bins/{code}/stock", response={200: BinStockOut, **READ_ERRORS}, url_name="bin-stock")
def bin_stock(request: HttpRequest, code: str):
    """On-hand of every SKU in one bin: for on_hand's owner and consumers."""
    _may_read(request, Fact.ON_HAND)
    bin = _get_or_404(Bin.objects.select_related("warehouse"), code=code, label="bin")
    balances = selectors.on_hand_for_bin(bin=bin)
    return {
        "bin": bin.code,
        "warehouse": bin.warehouse.code,
        "zone": bin.zone,
        "active": bin.active,
        "skus": [{"sku": b.sku.code, "quantity": b.quantity} for b in balances],
    }


# Writes ------------------------------------------------------------------------------------


def _lookup(model: type[Sku] | type[Bin], *, code: str, field: str):
    found = model.objects.filter(code=code).first()
    if found is None:
        label = "SKU" if model is Sku else "bin"
        raise UnknownField(
            field=field, message=f"No {label} {code!r}.", code=f"unknown_{label.lower()}"
        )
    return found


@api.post(
    "/movements",
    response={200: MovementOut, 201: MovementOut, **WRITE_ERRORS},
    url_name="movement-create",
    auth=SystemToken(remembered=True),
)
def movement_create(request: HttpRequest, payload: MovementIn, idempotency_key: IdempotencyKey):
    """Apply one movement to one bin. A replay of the same key answers 200 with the first."""
    fields = dict(
        delta=payload.quantity,
        kind=payload.kind,
        source_event_id=idempotency_key,
        reference=payload.reference,
        note=payload.note,
    )
    plain = _movement_in_one_statement(request, payload, fields)
    if plain.move is not None:
        return Status(201, movement_out(plain.move, replayed=False))
    # Not the plain case: the token, the ownership, the codes and the rules, one by one,
    # each refusal as the API has always answered it.
    system = request.auth if plain.authorised else _confirm(request, request.api_token)
    if not plain.authorised:
        authority_enforce(fact=Fact.ON_HAND, system=system, payload=payload.model_dump())
    # The write path answers a replay (or a concurrent request with the same key that won
    # the race) with the first request's row, having changed nothing.
    move = on_hand_adjust(
        sku=plain.sku or _lookup(Sku, code=payload.sku, field="sku"),
        bin=plain.bin or _lookup(Bin, code=payload.bin, field="bin"),
        source_system=system,
        one_statement_tried=plain.tried,
        **fields,
    )
    return Status(200 if move.replayed else 201, movement_out(move, replayed=move.replayed))


def _movement_in_one_statement(request: HttpRequest, payload: MovementIn, fields: dict):
    """The movement in one round trip (``on_hand_adjust_by_code``), the request's only one
    when its token was remembered.

    Django's health check (``CONN_HEALTH_CHECKS``) would first ping the persistent
    connection with a ``SELECT 1``: a round trip per request. Here the statement is its own
    check: it runs without the ping, and if the connection turns out dead (the server
    restarted, or dropped it while idle) it is closed and the statement runs once more on a
    new one. Running it twice is safe: a statement that committed before its connection died
    is, the second time, a replay of its key (the first row, nothing changed).
    """
    token = request.api_token
    write = partial(
        on_hand_adjust_by_code,
        sku_code=payload.sku,
        bin_code=payload.bin,
        source_system=request.auth,
        token_hash=token.hash,
        **fields,
    )
    if token.checked or connection.vendor != "postgresql" or connection.in_atomic_block:
        plain = write()  # a query of this request has checked the connection already
    else:
        reused = connection.connection is not None
        connection.health_check_done = True
        try:
            plain = write()
        except DATABASE_DOWN:
            if not reused or connection.is_usable():
                raise  # a new connection failed, or the server is there: another error
            connection.close()
            plain = write()
    token.checked = token.checked or plain.authorised
    return plain


# The transfer's names for the fields the shelf's movement rules refuse.
TRANSFER_FIELDS = {"bin": "to_bin"}


@api.post(
    "/transfers",
    response={200: TransferOut, 201: TransferOut, **WRITE_ERRORS},
    url_name="transfer-create",
)
def transfer_create(request: HttpRequest, payload: TransferIn, idempotency_key: IdempotencyKey):
    """Move units between two bins: both legs or nothing. A replay answers 200."""
    system = request.auth
    authority_enforce(fact=Fact.ON_HAND, system=system, payload=payload.model_dump())
    try:
        legs = on_hand_transfer(
            from_bin=_lookup(Bin, code=payload.from_bin, field="from_bin"),
            to_bin=_lookup(Bin, code=payload.to_bin, field="to_bin"),
            sku=_lookup(Sku, code=payload.sku, field="sku"),
            quantity=payload.quantity,
            source_system=system,
            source_event_id=idempotency_key,
            reference=payload.reference,
            note=payload.note,
        )
    except MovementRefused as refused:
        refused.field = TRANSFER_FIELDS.get(refused.field, refused.field)
        raise
    replayed = legs[0].replayed
    return Status(200 if replayed else 201, transfer_out(legs, replayed=replayed))


# Discrepancies -----------------------------------------------------------------------------


@api.get(
    "/discrepancies",
    response={200: list[DiscrepancyOut], 401: ErrorOut, 422: InvalidOut, **UNAVAILABLE},
    url_name="discrepancy-list",
)
@paginate(DiscrepancyPages)
def discrepancy_list(
    request: HttpRequest,
    status: Discrepancy.Status | None = None,
    sku: Text | None = None,
    kind: Discrepancy.Kind | None = None,
):
    """Newest first, 50 a page; two queries a page whatever the data size. Only discrepancies
    about facts the caller's system owns or consumes (a subquery, not another round trip)."""
    return selectors.discrepancies_for_list(
        status=status or "", kind=kind or "", sku_code=sku or ""
    ).filter(fact__in=selectors.facts_readable_by(system=request.auth))


# Errors: every one is JSON with a "detail" saying what is wrong and a "code" ------------------


def _error(request: HttpRequest, status: int, code: str, detail: str, **extra) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "code": code, **extra}, status=status)


def _invalid(
    request: HttpRequest, code: str, errors: list[dict], *, status: int = 422
) -> HttpResponse:
    detail = "; ".join(
        f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors
    )
    return _error(request, status, code, detail, field=errors[0]["field"], errors=errors)


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = _error(
        request,
        401,
        "unauthorized",
        "Send Authorization: Bearer <token> with the token of an active system.",
    )
    response["WWW-Authenticate"] = 'Bearer realm="onefact"'
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    detail = str(exc)
    if exc.status_code == 400 and detail.startswith("Cannot parse request body"):
        detail = "The request body is not valid JSON."
    return _error(
        request, exc.status_code, "bad_request" if exc.status_code == 400 else "error", detail
    )


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    # Django refuses to read a body over DATA_UPLOAD_MAX_MEMORY_SIZE and would answer its
    # HTML 400; an API client gets JSON saying what to do instead.
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return _error(
        request,
        413,
        "body_too_large",
        f"The request body is over the limit of {limit} bytes; a movement or a transfer "
        "is a few hundred.",
    )


@api.exception_handler(UnreadablePostError)
def _unreadable(request: HttpRequest, exc: UnreadablePostError) -> HttpResponse:
    return _error(request, 400, "bad_request", "The request body could not be read.")


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "not_found", str(exc) or "Not found.")


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = []
    for error in exc.errors:
        # loc is (source, param name, *path): ("body", "payload", "quantity"), ("header", …)
        source, *path = error["loc"]
        if source == "body":
            path = path[1:]
        errors.append({"field": ".".join(str(p) for p in path) or None, "message": error["msg"]})
    return _invalid(request, "invalid", errors)


@api.exception_handler(InvalidField)
def _invalid_field(request: HttpRequest, exc: InvalidField) -> HttpResponse:
    errors = [{"field": exc.field, "message": str(exc)}]
    return _invalid(request, exc.code, errors, status=exc.status)


@api.exception_handler(InventoryError)
def _inventory_error(request: HttpRequest, exc: InventoryError) -> HttpResponse:
    # InvalidMovement and any future domain error: the request cannot be applied as sent.
    code = "invalid_movement" if isinstance(exc, InvalidMovement) else "invalid"
    return _invalid(request, code, [{"field": None, "message": str(exc)}])


@api.exception_handler(InsufficientStock)
def _insufficient_stock(request: HttpRequest, exc: InsufficientStock) -> HttpResponse:
    return _error(request, 409, "insufficient_stock", str(exc), short_by=exc.short_by)


@api.exception_handler(NotOwner)
def _not_owner(request: HttpRequest, exc: NotOwner) -> HttpResponse:
    return _error(request, 403, "not_owner", str(exc), fact=exc.fact)


@api.exception_handler(NotReader)
def _not_reader(request: HttpRequest, exc: NotReader) -> HttpResponse:
    return _error(request, 403, "not_reader", str(exc), fact=exc.fact)


@api.exception_handler(MovementRefused)
def _movement_refused(request: HttpRequest, exc: MovementRefused) -> HttpResponse:
    # One of the shelf's rules (an inactive bin or SKU, units not whole and non-zero).
    return _invalid(request, exc.code, [{"field": exc.field, "message": str(exc)}])


@api.exception_handler(EventIdReused)
def _idempotency_conflict(request: HttpRequest, exc: EventIdReused) -> HttpResponse:
    detail = (
        f"Idempotency-Key {exc.event_id!r} was already used for a different request "
        f"(movement #{exc.movement.pk}: {exc.movement}); send a new key for a new movement."
    )
    return _error(request, 409, "idempotency_key_reused", detail)


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def _database_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    # The server is restarting or unreachable, or dropped the connection mid-request (the
    # server rolls back what it had not committed). Django would answer an HTML 500; the
    # client needs to know that retrying with its key is safe.
    log.warning("API request not completed, the database is unavailable: %s", exc)
    response = _error(
        request,
        503,
        "database_unavailable",
        "The database could not complete the request (it is restarting, unreachable or "
        "busy). Retry in a few seconds with the same Idempotency-Key: a movement is never "
        "applied twice.",
    )
    response["Retry-After"] = "2"
    return response
