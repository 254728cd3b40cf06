"""DNS as code: the records the mail domains need, as zone files, and a check of what DNS serves.

:func:`build_zones` makes the zones from the mail hosts' resolved settings (harness/hosts.py);
:func:`harness.dns.check.check_dns` compares them with what a resolver serves. The check lives
in its own module so that building zones needs neither dnspython nor cryptography.
"""

from __future__ import annotations

from harness.dns.records import Record, RecordType
from harness.dns.zone import Zone, build_zones, utc_serial

__all__ = ["Record", "RecordType", "Zone", "build_zones", "utc_serial"]
