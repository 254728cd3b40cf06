"""The verify suite's fixtures: one set of checks per mail host of the inventory."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("harness.verify.suite.helpers")

from testinfra.host import Host  # noqa: E402

from harness.remote import inventory_host  # noqa: E402
from harness.verify.exchange import peers_of  # noqa: E402
from harness.verify.targets import Accounts, Target, load_targets  # noqa: E402

_TARGETS = pytest.StashKey[list[Target]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--inventory", required=True, help="Ansible inventory of the mail hosts")
    parser.addoption("--limit", default=None, help="Only these hosts (Ansible pattern)")


def pytest_configure(config: pytest.Config) -> None:
    # `mailstack verify` has read the targets already; run alone, the suite reads them itself.
    given = [
        p.mailstack_targets
        for p in config.pluginmanager.get_plugins()
        if hasattr(p, "mailstack_targets")
    ]
    config.stash[_TARGETS] = (
        given[0]
        if given
        else load_targets(config.getoption("--inventory"), limit=config.getoption("--limit"))
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    targets = metafunc.config.stash[_TARGETS]
    # @pytest.mark.offers("smtp", ...): a check of those services runs on the hosts that offer
    # any of them (a fleet's tiers: no IMAP check on an MX), not skipped on the others.
    marker = metafunc.definition.get_closest_marker("offers")
    if marker is not None:
        targets = [t for t in targets if t.services & set(marker.args)]
    if "peer" in metafunc.fixturenames:
        # (sender, receiver): every host with each other host its mail leaves by MX for; a
        # host with none gets one case that skips, saying so.
        none: list[Target | None] = [None]
        pairs = [
            pytest.param(t, p, id=f"{t.name}->{p.name if p else 'none'}")
            for t in targets
            for p in [*peers_of(t, targets)] or none
        ]
        metafunc.parametrize(("target", "peer"), pairs, scope="session")
    elif "target" in metafunc.fixturenames:
        metafunc.parametrize("target", targets, ids=[t.name for t in targets], scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A check that no host offers the services of (an --limit to MX hosts: no IMAP check)
    is left out, not reported skipped with pytest's empty parameter set."""
    empty = [
        item
        for item in items
        if any(
            str(m.kwargs.get("reason", "")).startswith("got empty parameter set")
            for m in item.iter_markers("skip")
        )
    ]
    if empty:
        config.hook.pytest_deselected(items=empty)
        items[:] = [item for item in items if item not in empty]


@pytest.fixture(scope="session")
def host(target: Target) -> Host:
    """testinfra's view of the host, over the inventory's own connection."""
    return inventory_host(target.name, target.inventory)


@pytest.fixture
def accounts(target: Target) -> Accounts:
    acc = target.accounts
    if not (acc.mailbox and acc.password):
        pytest.skip("set mailstack_verify.mailbox and .password in the inventory")
    return acc
