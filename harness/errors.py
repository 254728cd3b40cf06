"""The one error hierarchy of the harness.

Every error a user can cause or mend carries what was wrong (with the offending value) and how to
mend it; the CLI prints it as one line and exits non-zero, never with a traceback.
"""

from __future__ import annotations

__all__ = [
    "BenchError",
    "BenchFailedError",
    "BuildError",
    "ChaosError",
    "DeliveryError",
    "DkimError",
    "DnsError",
    "EngineUnavailableError",
    "FleetError",
    "FuzzError",
    "InventoryError",
    "LabError",
    "LabNotUpError",
    "MailstackError",
    "MetricsError",
    "MirrorError",
    "PreflightError",
    "SoakError",
    "TopologyError",
    "VerifyError",
]


class MailstackError(Exception):
    """Base of every error the harness raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class TopologyError(MailstackError, ValueError):
    """A topology file is malformed; ``field`` names the offending path (``hosts[1].distro``)."""

    exit_code = 2

    def __init__(self, source: str, field: str, message: str, *, hint: str | None = None) -> None:
        self.source = source
        self.field = field
        super().__init__(f"{source}: {field}: {message}", hint=hint)


class EngineUnavailableError(MailstackError, RuntimeError):
    """No Docker engine answers and none can be started here."""

    exit_code = 3


class MirrorError(MailstackError, LookupError):
    """No Debian mirror could be found to build images from."""

    exit_code = 3


class BuildError(MailstackError, RuntimeError):
    """An image build step failed; the message names the step and the log to read."""

    exit_code = 4


class LabError(MailstackError, RuntimeError):
    """A lab operation failed or was asked of a lab in the wrong state."""

    exit_code = 5


class LabNotUpError(LabError):
    """A command needs the lab ``lab`` and it is not up; the hint says how to bring it up."""

    def __init__(self, lab: str, *, hint: str | None = None) -> None:
        self.lab = lab
        super().__init__(f"lab {lab!r} is not up", hint=hint)


class InventoryError(MailstackError, ValueError):
    """An inventory that does not exist, does not parse, or names no host to act on."""

    exit_code = 2


class DnsError(MailstackError, ValueError):
    """DNS records cannot be made from the inventory (or checked); the message names the host,
    the variable and how to mend it."""

    exit_code = 2


class VerifyError(MailstackError, RuntimeError):
    """The verify suite could not run (as opposed to a check that failed)."""

    exit_code = 6


class DkimError(MailstackError, ValueError):
    """A DKIM rotation step cannot be taken: the keys are not in the state it needs, or the
    file that lists them cannot be found or edited."""

    exit_code = 2


class DeliveryError(MailstackError, RuntimeError):
    """A message a server accepted did not arrive where it was sent (or was refused)."""


class ChaosError(MailstackError, RuntimeError):
    """A fault could not be put in place or taken away (names the host and the step)."""

    exit_code = 6


class SoakError(MailstackError, RuntimeError):
    """A soak run lost a message, gave one up, did not drain or let a daemon's memory grow past
    its limit; or it was given options it cannot run (names the option and how to mend it)."""

    exit_code = 6


class FleetError(MailstackError, RuntimeError):
    """A fleet scenario lost a message, its rolling update or its fault failed, or the lab is
    not a fleet (names the host, the step or the option, and how to mend it)."""

    exit_code = 6


class FuzzError(MailstackError, RuntimeError):
    """A fuzz run found a crash, a dead service, an uncompleted message delivered or memory
    that grew without bound; or it was given bad limits."""

    exit_code = 6


class MetricsError(MailstackError, RuntimeError):
    """A metrics server (Prometheus' HTTP API) could not be asked or gave no usable answer; the
    message names the URL asked and what went wrong."""

    exit_code = 6

    def __init__(self, url: str, problem: str, *, hint: str | None = None) -> None:
        self.url = url
        self.problem = problem
        super().__init__(f"{url}: {problem}", hint=hint)


class PreflightError(MailstackError, ValueError):
    """A preflight was asked about something the inventory does not send (names the option)."""

    exit_code = 2


class BenchError(MailstackError, ValueError):
    """A bench run was asked for something it cannot do; the message names the option."""

    exit_code = 2


class BenchFailedError(MailstackError, RuntimeError):
    """A bench run finished but missed its bar (too few accepted, buckets that do not add up)."""

    exit_code = 1
