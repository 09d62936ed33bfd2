import pytest

from inventory.roles import STAFF
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """These tests never log in with a password; hashing it the slow way costs seconds."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def other_staff(db):
    """A second counter: blind recounts need someone else."""
    return UserFactory(username="staff-2", group=STAFF)
