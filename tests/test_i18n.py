"""The staff pages in Spanish: the catalogue is complete and current, each staff page renders
in Spanish with no message of the catalogue left in English, and the language is the user's
choice, else the browser's, else English."""

import re
import shutil
from html.parser import HTMLParser
from io import StringIO
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation
from django.utils.translation import trans_real

from driftwalks.services import count_task_open, count_tasks_assign
from inventory.models import Job, UserPreference
from inventory.services import user_preference_set
from tests.conftest import needs
from tests.driftwalks.factories import move, open_task
from tests.factories import BinFactory, SkuFactory
from tests.replenishment.factories import PurchaseOrderFactory, PurchaseOrderLineFactory
from tests.returns.factories import ReturnAuthorisationFactory, ReturnLineFactory

CATALOGUE = Path(settings.BASE_DIR) / "config" / "locale" / "es" / "LC_MESSAGES" / "django.po"
# The same extraction as `make messages`.
IGNORE = [".venv/*", "node_modules/*", "tests/*", "staticfiles/*"]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


@pytest.fixture(scope="module", autouse=True)
def _compiled_catalogue():
    """Compile as `make test` does, and drop any catalogue this process loaded before."""
    call_command("compile_catalogues", stdout=StringIO())
    trans_real._translations.clear()
    trans_real._default = None
    yield
    translation.activate(settings.LANGUAGE_CODE)


def _entries() -> list[polib.POEntry]:
    return [entry for entry in polib.pofile(str(CATALOGUE)) if not entry.obsolete]


# --- the catalogue -------------------------------------------------------------------------


def test_catalogue_every_message_is_translated_and_keeps_its_placeholders():
    for entry in _entries():
        assert "fuzzy" not in entry.flags, entry.msgid
        translations = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        assert all(translations), f"not translated: {entry.msgid!r}"
        wanted = set(PLACEHOLDER.findall(entry.msgid))
        for text in translations:
            assert set(PLACEHOLDER.findall(text)) <= wanted | set(
                PLACEHOLDER.findall(entry.msgid_plural or "")
            ), entry.msgid
            assert wanted <= set(PLACEHOLDER.findall(text)) or entry.msgid_plural, entry.msgid


def test_catalogue_is_current_with_the_code_and_templates(tmp_path, settings, monkeypatch):
    """Extract the messages again (into a copy) and compare: nothing new, nothing stale."""
    needs(
        shutil.which("xgettext") is not None and shutil.which("msgmerge") is not None,
        "needs GNU gettext (xgettext, msgmerge) to extract the messages: apt-get install gettext",
    )
    copy = tmp_path / "es" / "LC_MESSAGES"
    copy.mkdir(parents=True)
    shutil.copy(CATALOGUE, copy / "django.po")
    settings.LOCALE_PATHS = [tmp_path]
    monkeypatch.chdir(settings.BASE_DIR)
    call_command("makemessages", locale=["es"], no_location=True, no_wrap=True, no_obsolete=True,
                 ignore_patterns=IGNORE, stdout=StringIO())  # fmt: skip
    extracted = polib.pofile(str(copy / "django.po"))
    committed = {(e.msgctxt, e.msgid) for e in _entries()}
    current = {(e.msgctxt, e.msgid) for e in extracted if not e.obsolete}
    assert sorted(current - committed, key=str) == [], "new messages: run `make messages`"
    assert sorted(committed - current, key=str) == [], "stale messages: run `make messages`"
    untranslated = [e.msgid for e in extracted if not e.obsolete and not e.translated()]
    assert untranslated == []


def test_compile_catalogues_writes_the_mo_only_when_it_changes():
    mo = CATALOGUE.with_suffix(".mo")
    out = StringIO()
    call_command("compile_catalogues", stdout=out)
    assert mo.exists() and out.getvalue() == ""
    assert polib.mofile(str(mo)).find("Log in").msgstr == "Iniciar sesión"


# --- the language of a request -------------------------------------------------------------


def test_login_page_follows_the_browser_language(client, db):
    spanish = client.get("/accounts/login/", headers={"accept-language": "es-MX,es;q=0.9"})
    assert '<html lang="es">' in spanish.text and "Iniciar sesión" in spanish.text
    assert spanish["Content-Language"] == "es"
    english = client.get("/accounts/login/", headers={"accept-language": "de-DE"})
    assert '<html lang="en">' in english.text and "Log in" in english.text


def test_user_choice_wins_over_the_browser(client, staff_user):
    client.force_login(staff_user)
    assert '<html lang="es">' in client.get("/", headers={"accept-language": "es"}).text
    user_preference_set(user=staff_user, language="en")
    assert '<html lang="en">' in client.get("/", headers={"accept-language": "es"}).text
    user_preference_set(user=staff_user, language="es")
    home = client.get("/", headers={"accept-language": "en"})
    assert '<html lang="es">' in home.text and "Almacén" in home.text


def test_profile_page_saves_the_language(client, staff_user):
    client.force_login(staff_user)
    assert 'value="es"' in client.get("/accounts/profile/").text
    response = client.post("/accounts/profile/", {"language": "es"}, follow=True)
    assert UserPreference.objects.get(user=staff_user).language == "es"
    assert "Tus preferencias se guardaron." in response.text
    client.post("/accounts/profile/", {"language": ""})
    assert UserPreference.objects.get(user=staff_user).language == ""
    refused = client.post("/accounts/profile/", {"language": "xx"})
    assert refused.status_code == 200 and "xx" in refused.text
    assert UserPreference.objects.get(user=staff_user).language == ""


def test_the_preference_costs_no_query(
    client, staff_user, django_assert_num_queries, django_assert_max_num_queries
):
    client.force_login(staff_user)
    client.get("/")
    with django_assert_max_num_queries(100) as without:
        client.get("/")
    user_preference_set(user=staff_user, language="es")
    with django_assert_num_queries(len(without.captured_queries)):
        assert '<html lang="es">' in client.get("/").text


def test_user_preference_set_refuses_an_unknown_language(staff_user):
    with pytest.raises(ValueError):
        user_preference_set(user=staff_user, language="xx")


# --- every staff page in Spanish -----------------------------------------------------------


class _VisibleText(HTMLParser):
    """The text a reader sees or hears: text nodes and the labelling attributes."""

    ATTRIBUTES = ("placeholder", "aria-label", "title", "alt")

    def __init__(self):
        super().__init__()
        self.pieces: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._hidden += 1
        for name, value in attrs:
            if name in self.ATTRIBUTES and value:
                self.pieces.append(value)
        if tag == "input" and dict(attrs).get("type") in ("submit", "button"):
            self.pieces.append(dict(attrs).get("value") or "")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.pieces.append(" ".join(data.split()))


def visible_text(html: str) -> list[str]:
    parser = _VisibleText()
    parser.feed(html)
    return parser.pieces


def _untranslated_patterns() -> list[tuple[str, re.Pattern]]:
    """For each message whose Spanish differs, a pattern of its English as it would show."""
    patterns = []
    for entry in _entries():
        spanish = entry.msgstr_plural.get(0) if entry.msgid_plural else entry.msgstr
        for english in filter(None, (entry.msgid, entry.msgid_plural)):
            if spanish == english or "<" in english or "\n" in english:
                continue
            parts = PLACEHOLDER.split(english)[::2]
            # A short message's placeholders are codes and numbers: one word each.
            short = len(PLACEHOLDER.sub("", english).split()) <= 2
            body = (r"\S+" if short else ".+?").join(re.escape(part) for part in parts)
            patterns.append((english, re.compile(body)))
    return patterns


def english_left(html: str) -> list[str]:
    """Catalogue messages shown in English. A message of one or two words, not counting its
    placeholders, must be a whole text node (so "Bin" is not found inside a SKU's title, nor
    "%(sku)s in %(bin)s" in any sentence with "in"); longer ones are found anywhere."""
    found = []
    texts = visible_text(html)
    for english, pattern in _untranslated_patterns():
        whole = len(PLACEHOLDER.sub("", english).split()) <= 2
        for text in texts:
            if pattern.fullmatch(text) if whole else pattern.search(text):
                found.append(f"{english!r} in {text!r}")
                break
    return found


@pytest.fixture
def spanish_staff(client, staff_user):
    user_preference_set(user=staff_user, language="es")
    client.force_login(staff_user)
    return staff_user


@pytest.fixture
def floor(stocked_bin, sku, spanish_staff, storefront):
    """A return on its way, a delivery expected, a bin to count on the staff user's walk and
    a SKU to find: what a morning on the floor looks like."""
    rma = ReturnAuthorisationFactory(number="R-D-1001", order_ref="D-1001")
    ReturnLineFactory(rma=rma, line_ref="1", sku=sku, expected=2, reason="too small")
    po = PurchaseOrderFactory(number="PO-00042", status="sent")
    PurchaseOrderLineFactory(po=po, sku=sku, ordered=10)
    other = BinFactory(code="B-02", zone="B", walk_order=2)
    move(other, sku, 3)
    task = open_task(other, sku)
    count_tasks_assign(task_ids=[task.pk], assignee=spanish_staff, actor=spanish_staff)
    lost = SkuFactory(code="LOST-1", title="Lost lamp")
    find, _created = count_task_open(bin=None, sku=lost, cause="opening_count", reason="astray")
    count_tasks_assign(task_ids=[find.pk], assignee=spanish_staff, actor=spanish_staff)
    job = Job.objects.create(
        kind="import_bins", title="bins.csv", status="running", total=4, done=1,
        created_by=spanish_staff,
    )  # fmt: skip
    return {"rma": rma, "po": po, "bin": other, "find": find, "job": job}


STAFF_PAGES = [
    ("home", 200, lambda f: reverse("home")),
    ("skus", 200, lambda f: reverse("inventory:sku-list")),
    ("job", 200, lambda f: reverse("inventory:job-detail", args=[f["job"].pk])),
    ("labels", 200, lambda f: reverse("inventory:labels-print")),
    (
        "delivery labels",
        200,
        lambda f: reverse("replenishment:purchase-order-labels", args=[f["po"].number]),
    ),
    ("return labels", 200, lambda f: reverse("returns:return-labels", args=[f["rma"].pk])),
    ("sku", 200, lambda f: reverse("inventory:sku-detail", args=["SKU-1"])),
    ("bin", 200, lambda f: reverse("inventory:bin-detail", args=["A-14"])),
    ("bin to count", 200, lambda f: reverse("inventory:bin-detail", args=["B-02"])),
    ("returns", 200, lambda f: reverse("returns:receive-find")),
    ("return search", 200, lambda f: reverse("returns:receive-find") + "?q=NOPE-1"),
    ("receipt", 200, lambda f: reverse("returns:receipt", args=[f["rma"].pk])),
    ("walk", 200, lambda f: reverse("driftwalks:walk-mine")),
    ("count sheet", 200, lambda f: reverse("driftwalks:count-sheet", args=[f["bin"].code])),
    ("find task", 200, lambda f: reverse("driftwalks:find-task", args=[f["find"].pk])),
    ("deliveries", 200, lambda f: reverse("replenishment:receive-start")),
    ("unknown delivery", 404, lambda f: reverse("replenishment:receive-start") + "?po=PO-NOPE"),
    ("receive", 200, lambda f: reverse("replenishment:receive", args=[f["po"].number])),
    ("profile", 200, lambda f: reverse("profile")),
    ("400", 400, lambda f: "/skus/?q=a%01b"),
    ("403", 403, lambda f: reverse("inventory:dashboard")),
    ("404", 404, lambda f: "/skus/NOPE-404/"),
]


@pytest.mark.parametrize(
    ("name", "status", "url"), STAFF_PAGES, ids=[name for name, _status, _url in STAFF_PAGES]
)
def test_staff_page_in_spanish_leaves_no_catalogue_message_in_english(
    client, floor, name, status, url
):
    response = client.get(url(floor), headers={"accept-language": "en"})
    assert response.status_code == status
    assert '<html lang="es">' in response.text
    assert english_left(response.text) == []


def test_staff_page_check_finds_english_left(client, floor, spanish_staff):
    """The check itself: the same page in English is caught."""
    user_preference_set(user=spanish_staff, language="en")
    response = client.get(reverse("driftwalks:walk-mine"))
    assert '<html lang="en">' in response.text
    assert any("'My walk'" in found for found in english_left(response.text))


def test_staff_messages_after_a_post_are_spanish(client, floor):
    po = floor["po"]
    response = client.post(
        reverse("replenishment:receipt-create", args=[po.number]),
        {"sku": "SKU-1", "units": "4", "bin": "A-14", "key": "b" * 32},
        follow=True,
    )
    assert "Recibido 4 × SKU-1 en A-14: ya entraron 4 de 10." in response.text
    refused = client.post(
        reverse("replenishment:receipt-create", args=[po.number]),
        {"sku": "NOPE-9", "units": "1", "bin": "A-14", "key": "c" * 32},
    )
    assert "No hay SKU NOPE-9 en el catálogo" in refused.text
    assert english_left(refused.text) == []


@pytest.mark.parametrize(
    "url",
    ["/accounts/login/", "/accounts/password_reset/", "/accounts/password_reset/done/",
     "/accounts/reset/done/", "/accounts/reset/MQ/bad-token/"],
)  # fmt: skip
def test_login_and_reset_pages_in_spanish_for_a_spanish_browser(client, db, settings, url):
    settings.ONEFACT_PASSWORD_RESET = True
    response = client.get(url, headers={"accept-language": "es-MX,es;q=0.9,en;q=0.5"})
    assert response.status_code == 200
    assert '<html lang="es">' in response.text
    assert english_left(response.text) == []


def test_locked_out_page_in_spanish(client, db, settings):
    settings.AXES_FAILURE_LIMIT = 1
    data = {"username": "nobody", "password": "wrong"}
    headers = {"accept-language": "es"}
    client.post("/accounts/login/", data, headers=headers)
    response = client.post("/accounts/login/", data, headers=headers)
    assert "Demasiados inicios de sesión fallidos" in response.text
    assert english_left(response.text) == []


# --- manager and admin pages: marked for translation too ----------------------------------

MANAGER_PAGES = [
    ("dashboard", lambda f: reverse("inventory:dashboard")),
    ("discrepancies", lambda f: reverse("inventory:discrepancy-list")),
    ("authority", lambda f: reverse("inventory:authority-audit")),
    ("inbox failed", lambda f: reverse("inventory:inbox-failed")),
    ("storefronts", lambda f: reverse("inventory:storefront-list")),
    ("storefront", lambda f: reverse("inventory:storefront-detail", args=["storefront"])),
    ("count tasks", lambda f: reverse("driftwalks:task-list")),
    ("count task", lambda f: reverse("driftwalks:task-detail", args=[f["find"].pk])),
    ("approvals", lambda f: reverse("driftwalks:approval-list")),
    ("accuracy", lambda f: reverse("driftwalks:accuracy")),
    ("count import", lambda f: reverse("driftwalks:count-import")),
    ("stock-take", lambda f: reverse("driftwalks:opening-stock-take", args=["storefront"])),
    ("returns overview", lambda f: reverse("returns:overview")),
    ("returns quarantine", lambda f: reverse("returns:overview-section", args=["quarantine"])),
    ("phone return", lambda f: reverse("returns:return-new")),
    ("suggestions", lambda f: reverse("replenishment:suggestion-list")),
    ("purchase orders", lambda f: reverse("replenishment:purchase-order-list")),
    ("purchase order", lambda f: reverse("replenishment:purchase-order-detail", args=["PO-00042"])),
    ("sku import", lambda f: reverse("inventory:sku-import")),
    ("bin import", lambda f: reverse("inventory:bin-import")),
]


@pytest.mark.parametrize(("name", "url"), MANAGER_PAGES, ids=[name for name, _url in MANAGER_PAGES])
def test_manager_page_in_spanish_leaves_no_catalogue_message_in_english(
    client, floor, admin_user, name, url
):
    user_preference_set(user=admin_user, language="es")
    client.force_login(admin_user)
    response = client.get(url(floor))
    assert response.status_code == 200
    assert '<html lang="es">' in response.text
    assert english_left(response.text) == []
