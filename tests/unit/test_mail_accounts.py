"""The mail_accounts role's filters: every mistake named by its field; derived tables right."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from passlib.hash import sha512_crypt

from tests.filter_plugins import load_filters


@pytest.fixture(scope="module")
def plugin() -> ModuleType:
    return load_filters("mail_accounts")


HASH = "{SHA512-CRYPT}$6$abcdefgh$" + "x" * 86


def _accounts(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "domains": [{"name": "example.test"}, {"name": "ca.test", "catch_all": "a@example.test"}],
        "mailboxes": [
            {"address": "a@example.test", "password_hash": HASH, "send_as": ["s@example.test"]},
            {"address": "b@example.test", "password": "from-a-vault"},
        ],
        "aliases": [{"address": "s@example.test", "to": ["a@example.test", "x@elsewhere.test"]}],
    }
    base.update(changes)
    return base


def _errors(plugin: ModuleType, acc: dict[str, Any]) -> list[str]:
    return list(plugin.mail_accounts_errors(acc["domains"], acc["mailboxes"], acc["aliases"]))


def test_good_accounts_have_no_errors(plugin: ModuleType) -> None:
    assert _errors(plugin, _accounts()) == []


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        (
            {"mailboxes": [{"address": "not-an-address", "password_hash": HASH}]},
            "mail_accounts_mailboxes[0].address",
            "not an email address",
        ),
        (
            {"mailboxes": [{"address": "a@other.test", "password_hash": HASH}]},
            "mail_accounts_mailboxes[0].address",
            "not a hosted domain",
        ),
        (
            {"aliases": [{"address": "info@unknown.test", "to": ["a@example.test"]}]},
            "mail_accounts_aliases[0].address",
            "'unknown.test', which is not a hosted domain",
        ),
        (
            {"mailboxes": [{"address": "a@example.test", "password_hash": "hunter2"}]},
            "mail_accounts_mailboxes[0].password_hash",
            "not a hash Dovecot verifies",
        ),
        (
            {"mailboxes": [{"address": "a@example.test", "password_hash": "{MD5-CRYPT}$1$x$y"}]},
            "mail_accounts_mailboxes[0].password_hash",
            "not a hash Dovecot verifies",
        ),
        (
            {"mailboxes": [{"address": "a@example.test"}]},
            "mail_accounts_mailboxes[0]",
            "exactly one of password_hash and password",
        ),
        (
            {"mailboxes": [{"address": "A@example.test", "password_hash": HASH}]},
            "mail_accounts_mailboxes[0].address",
            "lower case",
        ),
        (
            {"mailboxes": [{"address": "a@example.test", "password_hash": HASH, "quota": "lots"}]},
            "mail_accounts_mailboxes[0].quota",
            "not a size",
        ),
        (
            {"aliases": [{"address": "a@example.test", "to": ["b@example.test"]}]},
            "mail_accounts_aliases[0].address",
            "already mail_accounts_mailboxes[0].address",
        ),
        ({"domains": [{"name": "Example..test"}]}, "mail_accounts_domains[0].name", "domain"),
    ],
)
def test_each_mistake_names_its_field(
    plugin: ModuleType, changes: dict[str, Any], field: str, words: str
) -> None:
    errors = _errors(plugin, _accounts(**changes))
    assert any(e.startswith(f"{field}:") and words in e for e in errors), errors


def test_users_hash_vault_passwords_stably_and_keep_given_hashes(plugin: ModuleType) -> None:
    users = plugin.mail_accounts_users(_accounts()["mailboxes"], "1G", "seed")
    assert users[0] == {
        "user": "a@example.test",
        "local": "a",
        "domain": "example.test",
        "hash": HASH,
        "quota": "1G",
    }
    hashed = users[1]["hash"]
    assert hashed.startswith("{SHA512-CRYPT}$6$")
    assert "from-a-vault" not in hashed
    again = plugin.mail_accounts_users(_accounts()["mailboxes"], "1G", "seed")[1]["hash"]
    assert again == hashed  # idempotent: same input, same hash
    other = plugin.mail_accounts_users(_accounts()["mailboxes"], "1G", "other-seed")[1]["hash"]
    assert other != hashed  # but salted per deployment
    assert sha512_crypt.verify("from-a-vault", hashed.removeprefix("{SHA512-CRYPT}"))


SHA512 = "$6$rgsjdQCjZcvXm.bI$" + "a" * 86
BCRYPT = "$2y$05$" + "b" * 53
ARGON2I = "$argon2i$v=19$m=32768,t=4,p=1$c29tZXNhbHRzYWx0$ZmFrZWhhc2hmYWtlaGFzaA"
ARGON2ID = "$argon2id$v=19$m=65536,t=3,p=1$c29tZXNhbHRzYWx0$ZmFrZWhhc2hmYWtlaGFzaA"


@pytest.mark.parametrize(
    ("bare", "scheme"),
    [
        (SHA512, "SHA512-CRYPT"),
        (BCRYPT, "BLF-CRYPT"),
        (ARGON2I, "ARGON2I"),  # a bare $argon2i$ used to pass validation with no scheme
        (ARGON2ID, "ARGON2ID"),
    ],
)
def test_bare_crypt_hash_gets_the_scheme_dovecot_reads(
    plugin: ModuleType, bare: str, scheme: str
) -> None:
    boxes = [{"address": "a@example.test", "password_hash": bare}]
    assert plugin.mail_accounts_errors([{"name": "example.test"}], boxes) == []
    assert plugin.mail_accounts_users(boxes, "1G", "s")[0]["hash"] == f"{{{scheme}}}{bare}"
    prefixed = [{"address": "a@example.test", "password_hash": f"{{{scheme}}}{bare}"}]
    assert plugin.mail_accounts_errors([{"name": "example.test"}], prefixed) == []


@pytest.mark.parametrize(
    "value",
    [
        "$6$salt$hash",  # a truncated SHA512-CRYPT
        "{ARGON2ID}" + ARGON2I,  # scheme and crypt string disagree
        "{SHA512-CRYPT}" + BCRYPT,
        "{ARGON2}" + ARGON2I,  # no such Dovecot scheme
        "$argon2d$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA",  # a variant Dovecot lacks
        "{PLAIN}secret",
    ],
)
def test_hashes_dovecot_would_not_verify_are_refused(plugin: ModuleType, value: str) -> None:
    boxes = [{"address": "a@example.test", "password_hash": value}]
    errors = plugin.mail_accounts_errors([{"name": "example.test"}], boxes)
    assert any(e.startswith("mail_accounts_mailboxes[0].password_hash: not a hash") for e in errors)
    assert value not in " ".join(errors)  # a secret is never echoed


def test_postfix_tables_protect_mailboxes_from_the_catch_all(plugin: ModuleType) -> None:
    acc = _accounts()
    tables = plugin.mail_accounts_postfix_tables(acc["domains"], acc["mailboxes"], acc["aliases"])
    assert tables["domains"] == [["example.test", "OK"], ["ca.test", "OK"]]
    assert ["a@example.test", "example.test/a/"] in tables["mailboxes"]
    aliases = tables["aliases"]
    # identity rows come before the wildcard so real mailboxes are not swallowed
    assert aliases.index(["a@example.test", "a@example.test"]) < aliases.index(
        ["@ca.test", "a@example.test"]
    )
    assert ["s@example.test", "a@example.test, x@elsewhere.test"] in aliases
    senders = dict(map(tuple, tables["senders"]))
    assert senders["s@example.test"] == "a@example.test"
    assert senders["b@example.test"] == "b@example.test"
