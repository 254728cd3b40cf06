"""A provider-like SMTP receiver: Gmail/Yahoo/Microsoft-style throttling, greylisting and
SPF/DKIM/DMARC checks, with a journal of every answer and a store of every accepted message.

Self-contained on purpose: it imports only the standard library, aiosmtpd, dkimpy (``dkim``),
pyspf (``spf``) and dnspython (``dns``), never another ``harness`` module, so this directory can
be copied alone into a Debian 12 or 13 lab container and run there with the system python3 and
Debian's python3-aiosmtpd, python3-dkim, python3-spf and python3-dnspython::

    python3 -m receiver --config /etc/receiver/receiver.json     # in a container
    python -m harness.receiver --config receiver.json             # on the host

README.md beside this file documents the configuration, the profiles and the journal.
"""

from __future__ import annotations

from .config import Config, config_from_mapping, load_config
from .errors import ConfigError, ProfileError, ReceiverError
from .lookup import DnspythonResolver, DnsTempError, Resolver, StaticResolver
from .message import TOKEN_HEADER
from .profile import Profile, profile_from_mapping
from .replies import Reply
from .server import Receiver

__all__ = [
    "TOKEN_HEADER",
    "Config",
    "ConfigError",
    "DnsTempError",
    "DnspythonResolver",
    "Profile",
    "ProfileError",
    "Receiver",
    "ReceiverError",
    "Reply",
    "Resolver",
    "StaticResolver",
    "config_from_mapping",
    "load_config",
    "profile_from_mapping",
]
