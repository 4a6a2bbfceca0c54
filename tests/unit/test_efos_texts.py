"""Every hint code of docs/efos-rp-api.md has its own message, in Swedish and English."""

from __future__ import annotations

import pytest

from satosa_efos.web.efos_texts import GENERIC, HINTS, hint_message

PENDING = ["outstandingTransaction", "noClient", "started", "userSign"]
FAILED = ["expiredTransaction", "certificateErr", "userCancel", "cancelled", "startFailed"]


@pytest.mark.parametrize(("status", "hint"), [("pending", h) for h in PENDING]
                         + [("failed", h) for h in FAILED])  # fmt: skip
def test_each_hint_code_has_its_own_message_in_both_languages(status, hint):
    swedish, english = hint_message(status, hint, "sv"), hint_message(status, hint, "en")
    assert swedish == HINTS[hint]["sv"] and english == HINTS[hint]["en"]
    assert swedish != english
    assert swedish not in (GENERIC["pending"]["sv"], GENERIC["failed"]["sv"])


def test_messages_differ_between_hint_codes():
    texts = [hint_message("pending", h, "sv") for h in PENDING]
    texts += [hint_message("failed", h, "sv") for h in FAILED]
    assert len(set(texts)) == len(texts)


def test_unknown_hint_code_gets_the_generic_message_of_its_status():
    assert hint_message("pending", "somethingNew", "sv") == GENERIC["pending"]["sv"]
    assert hint_message("failed", "somethingNew", "en") == GENERIC["failed"]["en"]


def test_complete_says_the_user_is_being_logged_in():
    assert hint_message("complete", None, "sv").startswith("Klart")
