"""The API's memory of tokens: in each process, token hash → the System that held it.

Why a guess and not a cache: every web process has its own, and nothing tells one process
that another (the admin, a shell, another worker) revoked a token, deactivated or renamed a
system or gave on-hand to another owner; a shared version number to check would cost the
round trip this saves. So what is remembered never decides anything alone:

- the movement endpoint hands it to ``on_hand_adjust_by_code``, whose one statement checks,
  in the same snapshot as the write, that the system still holds this token hash, is active,
  has the name remembered and owns on-hand; if not, nothing is written and the request is
  answered from the table (``system_for_token_hash``), which also replaces or forgets what
  is remembered;
- any other answer to a request authenticated from memory (a refusal before or after that
  statement) first reads the token from the table (``inventory.api``).

A change made anywhere is therefore seen by the very next request in every process: there
is no invalidation to get wrong. Only systems whose token was accepted are remembered, a
few per process; the memory is cleared when it holds more than ``HINTS_MAX``.
"""

import copy

from inventory.models import System

HINTS_MAX = 100
_hints: dict[str, System] = {}


def system_for_token_hash(*, token_hash: str) -> System | None:
    """The active System holding this token hash, read from the table now; what is
    remembered for the hash is replaced by it (or forgotten)."""
    system = (
        System.objects.filter(token_hash=token_hash, active=True).first() if token_hash else None
    )
    if system is None:
        _hints.pop(token_hash, None)
    else:
        if len(_hints) >= HINTS_MAX:
            _hints.clear()
        _hints[token_hash] = system
    return copy.copy(system)


def system_hint_for_token_hash(*, token_hash: str) -> tuple[System | None, bool]:
    """(the System, True) as this process last saw it holding the token, without a query;
    else (``system_for_token_hash``, False). A remembered one is a guess: see above."""
    if (system := _hints.get(token_hash)) is not None:
        return copy.copy(system), True
    return system_for_token_hash(token_hash=token_hash), False
