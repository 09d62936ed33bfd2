import pytest

from inventory.roles import STAFF
from tests.factories import UserFactory


@pytest.fixture
def other_staff(db):
    """A second counter: blind recounts need someone else."""
    return UserFactory(username="staff-2", group=STAFF)
