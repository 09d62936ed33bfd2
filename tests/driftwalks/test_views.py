"""Drift-walk pages: blind counting, the next bin, managers' pages, roles and query counts."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from driftwalks.models import Count, CountTask
from driftwalks.services import count_tasks_assign
from inventory.models import OnHand, StockMovement
from tests.driftwalks.factories import CountTaskFactory, count, move, open_task
from tests.factories import BinFactory, SkuFactory

Kind = StockMovement.Kind
pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}

# Random tokens (CSRF, the sheet's submission key) are not renderings of a quantity.
_TOKENS = re.compile(
    r'(name="csrfmiddlewaretoken" value="[^"]*"|"x-csrftoken": "[^"]*"|name="key" value="[^"]*")'
)


def _renderings(n: int) -> re.Pattern:
    """``n`` written any way a page might: 7391, 7,391, 7.391, 7 391, 7'391, 7_391, 7391.0…"""
    digits = str(n)
    head, tail = digits[: len(digits) - 3], digits[len(digits) - 3 :]
    separated = rf"{head}[,.\s\u00a0\u202f'_]?{tail}" if head else digits
    return re.compile(rf"(?<![0-9A-Za-z]){separated}(?:[.,]0+)?(?![0-9])")


def _assert_blind(body: str, *numbers: int) -> None:
    cleaned = _TOKENS.sub("", body)
    for n in numbers:
        match = _renderings(n).search(cleaned)
        where = "" if match is None else cleaned[max(0, match.start() - 80) : match.end() + 80]
        assert match is None, f"{n} appears in the counting page: …{where}…"


def test_renderings_pattern_finds_each_way_of_writing_a_number():
    for text in ["7391", "7,391", "7 391", "7\u202f391", "x>7.391<", "(7391.0)", "=7391 "]:
        assert _renderings(7391).search(text), text
    for text in ["17391", "73910", "t7391", "7392"]:
        assert not _renderings(7391).search(text), text


@pytest.fixture
def blind_walk(staff_user):
    """Two bins on the walk whose record holds distinctive numbers, plus a stray SKU."""
    first, second = BinFactory(code="K-01", walk_order=1), BinFactory(code="K-02", walk_order=2)
    mug, cap = SkuFactory(code="MUG-7", title="Mug"), SkuFactory(code="CAP-7", title="Cap")
    stray = SkuFactory(code="STRAY-7", title="Stray")
    move(first, mug, 7391)
    move(first, stray, 86427)  # on record in the bin, but not on the sheet
    move(second, cap, 5813)
    move(BinFactory(code="K-09"), mug, 4402)  # the SKU elsewhere: its total is 11793
    tasks = [open_task(first, mug), open_task(second, cap)]
    count_tasks_assign(task_ids=[t.pk for t in tasks], assignee=staff_user, actor=staff_user)
    numbers = (7391, 86427, 5813, 4402, 7391 + 4402, 7391 + 86427)
    pks = {t.pk for t in tasks} | {mug.pk, cap.pk, stray.pk, first.pk, second.pk}
    assert not pks & set(numbers)  # so a pk can never look like a leak
    return first, second, tasks, numbers


def test_counting_page_and_every_htmx_response_never_show_the_expected_number(
    client, staff_user, blind_walk
):
    first, second, (mug_task, cap_task), numbers = blind_walk
    client.force_login(staff_user)
    bodies = []
    walk = client.get("/walks/")
    bodies.append(walk.content.decode())
    page = client.get(f"/walks/bins/{first.code}/count/")
    assert page.status_code == 200
    bodies.append(page.content.decode())
    assert "MUG-7" in bodies[-1] and 'inputmode="numeric"' in bodies[-1]
    bodies.append(client.get(f"/walks/bins/{first.code}/count/", headers=HTMX).content.decode())
    found = client.get(f"/walks/bins/{first.code}/count/found/", {"code": "stray-7"}, headers=HTMX)
    bodies.append(found.content.decode())
    assert "STRAY-7" in bodies[-1]
    bad = client.get(f"/walks/bins/{first.code}/count/found/", {"code": "NOPE"}, headers=HTMX)
    bodies.append(bad.content.decode())
    key = re.search(r'name="key" value="([^"]+)"', bodies[1]).group(1)
    wrong = client.post(
        f"/walks/bins/{first.code}/count/submit/",
        {"key": key, "task": mug_task.pk, f"t{mug_task.pk}": "-3"},
        headers=HTMX,
    )
    bodies.append(wrong.content.decode())
    assert "greater than or equal to 0" in bodies[-1]
    done = client.post(
        f"/walks/bins/{first.code}/count/submit/",
        {
            "key": key,
            "task": mug_task.pk,
            f"t{mug_task.pk}": "7391",
            "found_sku": "STRAY-7",
            "found_qty": "86427",
        },
        headers=HTMX,
    )
    body = done.content.decode()
    assert "Bin K-02" in body and "CAP-7" in body  # the next bin of the walk
    # The counter's own numbers were typed, not shown: drop the echo before checking.
    bodies.append(body)
    for body in bodies:
        _assert_blind(body, *numbers)
    assert Count.objects.filter(task=mug_task, expected=7391, variance=0).exists()


def test_count_submit_shows_the_next_bin_and_pushes_its_url(client, staff_user, blind_walk):
    first, second, (mug_task, _), _ = blind_walk
    client.force_login(staff_user)
    response = client.post(
        f"/walks/bins/{first.code}/count/submit/",
        {"key": "k-1", "task": mug_task.pk, f"t{mug_task.pk}": "7391"},
        headers=HTMX,
    )
    assert response.headers["HX-Push-Url"] == f"/walks/bins/{second.code}/count/"
    assert "Bin K-01: 1 SKU counted." in response.content.decode()
    # The same sheet again (a double tap): nothing more is written.
    again = client.post(
        f"/walks/bins/{first.code}/count/submit/",
        {"key": "k-1", "task": mug_task.pk, f"t{mug_task.pk}": "7391"},
        headers=HTMX,
    )
    assert again.status_code == 200 and Count.objects.count() == 1


def test_count_submit_without_htmx_redirects_to_the_next_bin_then_the_walk(
    client, staff_user, blind_walk
):
    first, second, (mug_task, cap_task), _ = blind_walk
    client.force_login(staff_user)
    response = client.post(
        f"/walks/bins/{first.code}/count/submit/",
        {"key": "k-1", "task": mug_task.pk, f"t{mug_task.pk}": "7391"},
    )
    assert response.url == f"/walks/bins/{second.code}/count/"
    response = client.post(
        f"/walks/bins/{second.code}/count/submit/",
        {"key": "k-2", "task": cap_task.pk, f"t{cap_task.pk}": "5813"},
    )
    assert response.url == "/walks/"
    assert "No bins on your walk" in client.get("/walks/").content.decode()


def test_count_submit_bad_input_is_shown_at_the_field_and_changes_nothing(
    client, staff_user, stocked_bin, sku
):
    task = open_task(stocked_bin, sku)
    client.force_login(staff_user)
    url = f"/walks/bins/{stocked_bin.code}/count/submit/"
    for value, message in [
        ("", "Enter what you counted"),
        ("abc", "Enter a whole number"),
        ("2000000", "less than or equal to 1000000"),
    ]:
        body = client.post(
            url, {"key": "k", "task": task.pk, f"t{task.pk}": value}, headers=HTMX
        ).content.decode()
        assert message in body
    body = client.post(
        url,
        {"key": "k", "task": task.pk, f"t{task.pk}": "9", "found_sku": "NOPE", "found_qty": "1"},
        headers=HTMX,
    ).content.decode()
    assert "No SKU NOPE in the catalog." in body and "Fix the lines marked below" in body
    body = client.post(url, {"key": ""}, headers=HTMX).content.decode()
    assert "This field is required" in body or "Nothing to count" in body
    assert not Count.objects.exists() and OnHand.objects.get().quantity == 10


def test_count_submit_refused_by_the_service_explains_and_keeps_the_sheet(
    client, staff_user, other_staff, stocked_bin, sku
):
    task = open_task(stocked_bin, sku)
    count(task, 10, other_staff)  # someone else counted it meanwhile
    client.force_login(staff_user)
    body = client.post(
        f"/walks/bins/{stocked_bin.code}/count/submit/",
        {"key": "k", "task": task.pk, f"t{task.pk}": "9"},
        headers=HTMX,
    ).content.decode()
    assert "Nothing was recorded" in body and "already counted" in body
    assert Count.objects.count() == 1


def test_found_line_refuses_unknown_and_duplicate_codes(client, staff_user, stocked_bin, sku):
    open_task(stocked_bin, sku)
    client.force_login(staff_user)
    url = f"/walks/bins/{stocked_bin.code}/count/found/"
    response = client.get(url, {"code": "NOPE"}, headers=HTMX)
    assert response.headers["HX-Retarget"] == "#found-error"
    assert "No SKU NOPE in the catalog." in response.content.decode()
    on_sheet = client.get(url, {"code": "sku-1"}, headers=HTMX).content.decode()
    assert "SKU-1 is already on this sheet." in on_sheet
    SkuFactory(code="SKU-2")
    twice = client.get(url, {"code": "SKU-2", "found_sku": "SKU-2"}, headers=HTMX)
    assert "already on this sheet" in twice.content.decode()


def test_count_go_opens_the_scanned_bins_sheet(client, staff_user, stocked_bin):
    client.force_login(staff_user)
    assert client.get("/walks/go/", {"code": "a-14"}).url == "/walks/bins/A-14/count/"
    missing = client.get("/walks/go/", {"code": "Q-1"}, follow=True)
    assert "No bin Q-1." in missing.content.decode()


def test_walk_start_pulls_tasks_onto_my_walk(client, staff_user, stocked_bin, sku):
    open_task(stocked_bin, sku)
    client.force_login(staff_user)
    assert "Start my walk" in client.get("/walks/").content.decode()
    body = client.post("/walks/start/", follow=True).content.decode()
    assert "1 count task added to your walk." in body
    assert 'data-testid="next-bin">A-14<' in body


@pytest.mark.parametrize(
    "url",
    ["/walks/tasks/", "/walks/approvals/", "/walks/accuracy/", "/walks/tasks/1/"],
)
def test_managers_pages_are_refused_to_staff(client, staff_user, url):
    client.force_login(staff_user)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize(
    "url", ["/walks/tasks/new/", "/walks/tasks/assign/", "/walks/approvals/1/decide/"]
)
def test_managers_actions_are_refused_to_staff(client, staff_user, url):
    client.force_login(staff_user)
    assert client.post(url, {}).status_code == 403


def test_pages_need_a_login(client):
    assert client.get("/walks/").status_code == 302


def test_manager_opens_a_count_by_hand(client, manager_user, stocked_bin, sku):
    client.force_login(manager_user)
    due = timezone.localdate().isoformat()
    response = client.post(
        "/walks/tasks/new/", {"bin": "a-14", "sku": "", "priority": 1, "due_on": due}
    )
    assert response.status_code == 302
    task = CountTask.objects.get()
    assert (task.bin, task.sku, task.cause, task.priority) == (stocked_bin, sku, "manual", 1)
    past = (timezone.localdate() - timedelta(days=1)).isoformat()
    body = client.post(
        "/walks/tasks/new/", {"bin": "Q-9", "sku": "NOPE", "priority": 2, "due_on": past}
    ).content.decode()
    assert "No bin Q-9." in body and "No SKU NOPE in the catalog." in body
    assert "The due date cannot be in the past." in body
    empty = BinFactory(code="E-01")
    body = client.post(
        "/walks/tasks/new/", {"bin": empty.code, "priority": 2, "due_on": due}
    ).content.decode()
    assert "holds nothing on record: name the SKU to count" in body
    assert CountTask.objects.count() == 1


def test_manager_assigns_tasks_and_is_told_when_it_cannot(
    client, manager_user, staff_user, stocked_bin, sku
):
    task = open_task(stocked_bin, sku)
    client.force_login(manager_user)
    response = client.post("/walks/tasks/assign/", {"tasks": [task.pk], "assignee": staff_user.pk})
    assert response.status_code == 302
    assert CountTask.objects.get().assignee == staff_user
    count(task, 1, staff_user)  # past tolerance: recount needed
    body = client.post(
        "/walks/tasks/assign/", {"tasks": [task.pk], "assignee": staff_user.pk}
    ).content.decode()
    assert "Nothing was assigned" in body and "the recount needs someone else" in body
    body = client.post("/walks/tasks/assign/", {"assignee": staff_user.pk}).content.decode()
    assert "Tick at least one task." in body


def test_task_list_filters_by_status_zone_and_overdue(client, manager_user, sku):
    late = CountTaskFactory(
        sku=sku,
        bin=BinFactory(code="A-01", zone="A"),
        due_on=timezone.localdate() - timedelta(days=2),
    )
    CountTaskFactory(sku=sku, bin=BinFactory(code="B-01", zone="B"))
    client.force_login(manager_user)
    body = client.get("/walks/tasks/", {"overdue": "1"}).content.decode()
    assert f'data-task="{late.pk}"' in body and "B-01" not in body.split("task-table")[-1]
    body = client.get("/walks/tasks/", {"zone": "B"}, headers=HTMX).content.decode()
    assert "B-01" in body and "A-01" not in body and "<html" not in body


def test_task_detail_tells_why_and_what_was_counted(
    client, manager_user, staff_user, stocked_bin, sku
):
    task = open_task(stocked_bin, sku, cause="reconciliation")
    count(task, 9, staff_user)
    client.force_login(manager_user)
    body = client.get(f"/walks/tasks/{task.pk}/").content.decode()
    assert "Storefront gap" in body and "Correction applied" in body
    assert client.get("/walks/tasks/999999/").status_code == 404


@pytest.fixture
def waiting(bin, sku, staff_user, other_staff):
    move(bin, sku, 50)
    task = open_task(bin, sku)
    count(task, 30, staff_user)
    count(task, 30, other_staff)
    return task


def test_approval_queue_decides_with_a_reason(client, manager_user, waiting, bin, sku):
    client.force_login(manager_user)
    body = client.get("/walks/approvals/").content.decode()
    assert "-20" in body and "SKU-1 in A-14" in body
    url = f"/walks/approvals/{waiting.pk}/decide/"
    body = client.post(url, {"decision": "approve", "reason": ""}, headers=HTMX).content.decode()
    assert "Give the reason for your decision." in body
    assert OnHand.objects.get(bin=bin, sku=sku).quantity == 50
    body = client.post(
        url, {"decision": "reject", "reason": "Miscount"}, headers=HTMX
    ).content.decode()
    assert 'data-testid="decided"' in body and "Miscount" in body
    assert OnHand.objects.get(bin=bin, sku=sku).quantity == 50
    waiting.refresh_from_db()
    assert waiting.status == CountTask.Status.CANCELLED
    body = client.post(url, {"decision": "approve", "reason": "x"}, headers=HTMX).content.decode()
    assert "Miscount" in body  # already decided: the decision stands


def test_accuracy_page_shows_tables_and_an_svg_chart(client, manager_user, staff_user, sku):
    bin = BinFactory(zone="Q")
    move(bin, sku, 10)
    count(open_task(bin, sku), 9, staff_user)
    client.force_login(manager_user)
    body = client.get("/walks/accuracy/", {"days": "30"}).content.decode()
    assert "<svg" in body and "<script" not in body.split("</header>")[1]
    assert 'data-testid="ira-total">100.0%' in body


def test_home_pages_link_each_role_to_its_pages(client, staff_user, manager_user):
    client.force_login(staff_user)
    body = client.get("/").content.decode()
    assert 'data-testid="link-walk"' in body and 'data-testid="link-count-tasks"' not in body
    client.force_login(manager_user)
    body = client.get("/").content.decode()
    for name in ("link-walk", "link-count-tasks", "link-approvals", "link-accuracy"):
        assert f'data-testid="{name}"' in body


# --- a fixed number of queries, whatever the data size -------------------------------------


@pytest.mark.parametrize("n", [2, 60])
def test_walk_and_counting_page_run_a_fixed_number_of_queries(
    client, staff_user, n, django_assert_max_num_queries
):
    bins = [BinFactory(walk_order=i) for i in range(n)]
    skus = [SkuFactory() for _ in range(n)]
    tasks = [CountTaskFactory(bin=bins[0], sku=s) for s in skus]
    tasks += [CountTaskFactory(bin=b, sku=skus[0]) for b in bins[1:]]
    CountTask.objects.update(assignee=staff_user)
    client.force_login(staff_user)
    with django_assert_max_num_queries(8):
        assert client.get("/walks/").status_code == 200
    with django_assert_max_num_queries(7):
        assert client.get(f"/walks/bins/{bins[0].code}/count/").status_code == 200
    data = {"key": f"k-{n}", "task": [t.pk for t in tasks[:n]]}
    data |= {f"t{t.pk}": "0" for t in tasks[:n]}
    with django_assert_max_num_queries(20 + 12 * n):  # per line: lock, count, close (bounded)
        assert client.post(f"/walks/bins/{bins[0].code}/count/submit/", data).status_code == 302
    assert Count.objects.count() == n


@pytest.mark.parametrize("n", [3, 80])
def test_managers_pages_run_a_fixed_number_of_queries(
    client, manager_user, staff_user, other_staff, n, django_assert_max_num_queries
):
    sku = SkuFactory()
    for _ in range(n):
        CountTaskFactory(sku=sku)
    for _ in range(max(n // 3, 1)):
        bin = BinFactory()
        move(bin, sku, 40)
        task = open_task(bin, sku)
        count(task, 20, staff_user)
        count(task, 20, other_staff)
    client.force_login(manager_user)
    with django_assert_max_num_queries(12):
        assert client.get("/walks/tasks/").status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get("/walks/approvals/").status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get("/walks/accuracy/").status_code == 200
    task = CountTask.objects.filter(counts__isnull=False).first()
    with django_assert_max_num_queries(10):
        assert client.get(f"/walks/tasks/{task.pk}/").status_code == 200


def test_a_stale_sheet_is_refused_whole(client, staff_user, stocked_bin, sku):
    task = open_task(stocked_bin, sku)
    elsewhere = open_task(BinFactory(code="Z-01"), sku)
    client.force_login(staff_user)
    body = client.post(
        f"/walks/bins/{stocked_bin.code}/count/submit/",
        {"key": "k", "task": [task.pk, elsewhere.pk], f"t{task.pk}": "10", f"t{elsewhere.pk}": "1"},
        headers=HTMX,
    ).content.decode()
    assert "This sheet is out of date" in body and not Count.objects.exists()


def test_manager_closes_a_task_without_a_count_only_with_a_reason(
    client, manager_user, stocked_bin, sku
):
    task = open_task(stocked_bin, sku)
    client.force_login(manager_user)
    body = client.post(f"/walks/tasks/{task.pk}/cancel/", {"reason": ""}).content.decode()
    assert "Give the reason for closing it without a count." in body
    response = client.post(f"/walks/tasks/{task.pk}/cancel/", {"reason": "Bin removed"})
    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.status, task.decision_reason) == ("cancelled", "Bin removed")


def test_task_assign_only_returns_to_a_page_of_this_site(client, manager_user, staff_user, sku):
    task = open_task(BinFactory(), sku)
    client.force_login(manager_user)
    data = {"tasks": [task.pk], "assignee": staff_user.pk, "next": "https://evil.example/"}
    assert client.post("/walks/tasks/assign/", data).url == "/walks/tasks/"
    data["next"] = "/walks/tasks/?zone=T"
    assert client.post("/walks/tasks/assign/", data).url == "/walks/tasks/?zone=T"
