"""Camera scanning on a phone: Chromium's fake camera films a printed Code 128 bin label,
the vendored zxing-wasm reader decodes it (Debian's Chromium has no BarcodeDetector) and
the bin is scanned into its count sheet as a keyboard-wedge scanner would. Without a
camera there is no camera button. ONEFACT_SCREENSHOTS=1 keeps the phone screenshot in
docs/screenshots for the README."""

import os
import shutil
from pathlib import Path

import pytest
from barcode import Code128
from barcode.writer import ImageWriter
from PIL import Image
from playwright.sync_api import expect

from driftwalks.services import count_task_open, count_tasks_assign
from inventory.models import StockMovement, System
from inventory.roles import STAFF
from inventory.services import on_hand_adjust
from replenishment.models import Receipt
from tests.browser.conftest import CHROMIUM_ARGS, PHONE, log_in
from tests.factories import BinFactory, SkuFactory, UserFactory
from tests.replenishment.factories import PurchaseOrderFactory, PurchaseOrderLineFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WIDTH, HEIGHT = 640, 480


def label_video(path: Path, code: str, *, frames: int = 10) -> Path:
    """A Y4M (YUV4MPEG2, I420) clip of a white page with a Code 128 label of ``code``."""
    label = Code128(code, writer=ImageWriter()).render(
        {"module_width": 0.35, "module_height": 12, "quiet_zone": 4, "font_size": 8, "dpi": 150}
    )
    label.thumbnail((WIDTH - 40, HEIGHT - 40))
    frame = Image.new("RGB", (WIDTH, HEIGHT), "white")
    frame.paste(label, ((WIDTH - label.width) // 2, (HEIGHT - label.height) // 2))
    y, cb, cr = frame.convert("YCbCr").split()
    half = (WIDTH // 2, HEIGHT // 2)
    planes = y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + planes)
    return path


@pytest.fixture
def walker(live_server):
    """A staff member with bin K-07 on their walk."""
    user = UserFactory(username="walker", group=STAFF)
    bin = BinFactory(code="K-07", zone="K", walk_order=7)
    sku = SkuFactory(code="MUG-7", title="Blue mug")
    on_hand_adjust(
        bin=bin,
        sku=sku,
        delta=4,
        kind=StockMovement.Kind.RECEIVE,
        source_system=System.objects.get(name="shelf"),
        source_event_id="camera-1",
    )
    task = count_task_open(bin=bin, sku=sku, cause="manual", reason="camera test")[0]
    count_tasks_assign(task_ids=[task.pk], assignee=user, actor=user)
    return user


@pytest.fixture
def camera_phone(browser, chromium_path):
    """Opens a phone page in a separate Chromium with a fake camera: filming ``video`` if
    given, else Chromium's own moving test pattern (no barcode in it)."""
    opened = []

    def open_phone(video: Path | None = None, *, allowed: bool = True):
        args = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream"]
        if allowed:  # the permission prompt says yes; without it, headless Chromium says no
            args.append("--use-fake-ui-for-media-stream")
        if video:
            args.append(f"--use-file-for-fake-video-capture={video}")
        camera_browser = browser.browser_type.launch(
            executable_path=chromium_path, headless=True, args=args
        )
        opened.append(camera_browser)
        context = camera_browser.new_context(
            viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=1
        )
        context.set_default_timeout(20_000)
        return context.new_page()

    yield open_phone
    for camera_browser in opened:
        camera_browser.close()


def test_the_camera_scans_a_bin_label_into_its_count_sheet(
    live_server, camera_phone, walker, tmp_path
):
    page = camera_phone(label_video(tmp_path / "bin-label.y4m", "K-07"))
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    wasm = []  # the reader's .wasm: from our static files, as application/wasm
    page.on(
        "response",
        lambda r: wasm.append((r.url, r.headers.get("content-type"))) if ".wasm" in r.url else None,
    )
    log_in(page, live_server, "walker", "pw-for-tests-only")
    page.goto(f"{live_server.url}/walks/")
    page.wait_for_selector("html[data-scan-camera=on]")
    assert not page.evaluate("'BarcodeDetector' in window")  # the vendored reader is used

    button = page.locator("#bin-code + [data-testid=scan-camera]")
    assert button.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    shot = tmp_path / "camera-button-phone.png"
    page.screenshot(path=str(shot))
    assert 0 < shot.stat().st_size < 300_000
    if os.environ.get("ONEFACT_SCREENSHOTS") == "1":
        shutil.copy(shot, SCREENSHOTS / shot.name)

    button.click()
    assert page.get_by_test_id("scan-camera-dialog").is_visible()
    # The page moves on as after a wedge scan: Enter in the bin box opens the bin's sheet.
    page.wait_for_url("**/walks/bins/K-07/count/")
    assert page.get_by_test_id("count-bin").inner_text().startswith("Bin K-07")
    assert "MUG-7" in page.locator("#count-form").inner_text()
    assert wasm == [
        (f"{live_server.url}/static/vendor/zxing-wasm/reader/zxing_reader.wasm", "application/wasm")
    ]
    assert not errors

    # The count sheet's own scan field has a camera button too.
    page.wait_for_selector("html[data-scan-camera=on]")
    assert page.locator("#found-code + [data-testid=scan-camera]").is_visible()


def test_the_camera_closes_without_scanning(live_server, camera_phone, walker):
    page = camera_phone()
    log_in(page, live_server, "walker", "pw-for-tests-only")
    page.goto(f"{live_server.url}/")
    page.wait_for_selector("html[data-scan-camera=on]")
    page.locator("#find-q + [data-testid=scan-camera]").click()
    dialog = page.get_by_test_id("scan-camera-dialog")
    assert dialog.is_visible()
    page.get_by_test_id("scan-camera-close").click()
    expect(dialog).to_be_hidden()  # waits: under load the close can land a frame later
    page.wait_for_function(
        "() => !document.querySelector('dialog.scan-camera-dialog video').srcObject"
    )
    assert page.url == f"{live_server.url}/"


def test_without_a_camera_no_button_shows(live_server, page, walker):
    log_in(page, live_server, "walker", "pw-for-tests-only")
    page.goto(f"{live_server.url}/walks/")
    page.wait_for_selector("html[data-scan-camera=off]")
    assert page.locator("#bin-code[data-scan]").count() == 1
    assert page.get_by_test_id("scan-camera").count() == 0
    # Keyboard-wedge scanners are unchanged: type the code, press Enter.
    page.fill("#bin-code", "K-07")
    page.keyboard.press("Enter")
    page.wait_for_url("**/walks/bins/K-07/count/")


def test_a_camera_scan_on_po_receiving_moves_on_to_the_count_like_a_scanner(
    live_server, camera_phone, tmp_path
):
    """The receiving form takes a scanner's Enter to move to the next field: so does the
    camera's scan, and nothing is received until the last field."""
    UserFactory(username="dock", group=STAFF)
    BinFactory(code="A-14")
    po = PurchaseOrderFactory(number="PO-00007", status="sent")
    PurchaseOrderLineFactory(po=po, sku=SkuFactory(code="MUG-1", title="Blue mug"), ordered=12)
    page = camera_phone(label_video(tmp_path / "sku-label.y4m", "MUG-1"))
    log_in(page, live_server, "dock", "pw-for-tests-only")
    page.goto(f"{live_server.url}/replenishment/receive/PO-00007/")
    page.wait_for_selector("html[data-scan-camera=on]")
    assert page.locator("#id_units + [data-testid=scan-camera]").count() == 0  # not a scan field

    page.locator("#id_sku + [data-testid=scan-camera]").click()
    page.wait_for_function("document.activeElement && document.activeElement.id === 'id_units'")
    assert page.input_value("#id_sku") == "MUG-1"
    assert not page.get_by_test_id("scan-camera-dialog").is_visible()
    assert not Receipt.objects.exists()

    page.keyboard.type("7")
    page.keyboard.press("Enter")
    page.keyboard.type("A-14")
    page.keyboard.press("Enter")
    page.get_by_test_id("receipt-done").wait_for()
    assert Receipt.objects.get().units == 7
    # htmx swapped in a fresh form: its scan fields have their camera buttons again.
    page.locator("#id_sku + [data-testid=scan-camera]").wait_for()


def test_a_refused_camera_says_so_plainly(live_server, camera_phone, walker):
    page = camera_phone(allowed=False)
    log_in(page, live_server, "walker", "pw-for-tests-only")
    page.goto(f"{live_server.url}/walks/")
    page.wait_for_selector("html[data-scan-camera=on]")
    page.locator("#bin-code + [data-testid=scan-camera]").click()
    status = page.get_by_test_id("scan-camera-dialog").get_by_role("status")
    page.wait_for_function(
        "() => document.querySelector('.scan-camera-status').textContent.includes('blocked')"
    )
    assert status.inner_text().startswith("Camera access is blocked.")
    page.get_by_test_id("scan-camera-close").click()
    assert page.url == f"{live_server.url}/walks/"
