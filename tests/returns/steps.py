"""What staff do on a return, through the services (the views call the same)."""

from inventory.models import OnHand
from returns import services
from returns.models import QuarantineItem
from tests.returns.factories import key


def on_hand(bin, sku) -> int:
    return OnHand.objects.filter(bin=bin, sku=sku).values_list("quantity", flat=True).first() or 0


def held() -> int:
    return sum(QuarantineItem.objects.filter(status="held").values_list("quantity", flat=True))


def scan(rma, code, user=None, quantity=1):
    return services.receipt_unit_scan(
        rma=rma, code=code, scan_key=key(), quantity=quantity, actor=user
    )


def grade(unit, grade_name, bin_code="", user=None):
    return services.receipt_unit_grade(unit=unit, grade=grade_name, bin_code=bin_code, actor=user)


def confirm(rma, user=None, last_box=False, confirm_key=None):
    receipt = rma.receipts.get(status="open")
    return services.receipt_confirm(
        receipt=receipt, confirm_key=confirm_key or key(), actor=user, last_box=last_box
    )
