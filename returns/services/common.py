"""What every part of returns's services shares."""

import logging

from returns.models import (
    ReceiptUnit,
    ReturnOutcome,
)

log = logging.getLogger(__name__)

Grade = ReceiptUnit.Grade
Disposition = ReturnOutcome.Disposition
MAX_QUANTITY = 1000  # units in one scan or one typed line
SHELF = "shelf"
GRADE_DISPOSITION = {
    Grade.SELLABLE: Disposition.RESTOCKED,
    Grade.DAMAGED: Disposition.PROCESSING_REQUIRED,
    Grade.MISSING: Disposition.MISSING,
}
