"""Filters every mail role shares: read the files a role writes in one round trip, and tell
which of them differ from what the role would write."""

from __future__ import annotations

import hashlib
from typing import Any

#: The mode, owner and group every rendered configuration file gets unless a task says else.
_DEFAULT_ATTRS = "644:root:root"


#: Prints "<path> <mode>:<owner>:<group> <sha1 of content>" for each argument that is a file.
_DIGESTS = (
    'for f in "$@"; do [ -f "$f" ] || continue; '
    'printf \'%s %s %s\\n\' "$f" "$(stat -c \'%a:%U:%G\' "$f")" '
    '"$(sha1sum < "$f" | cut -d\' \' -f1)"; done'
)


def mail_common_digest_argv(paths: Any) -> list[str]:
    """The command (argv, no shell quoting to get wrong) that prints each of ``paths`` as it
    is on the host: "<path> <mode>:<owner>:<group> <sha1>"; a missing file prints nothing, so
    it differs."""
    return ["sh", "-c", _DIGESTS, "sh", *(str(p) for p in paths)]


def mail_common_file_differs(
    on_host: Any, path: str, content: str, attrs: str = _DEFAULT_ATTRS
) -> bool:
    """Whether ``path`` on the host (``on_host``: the digest command's output lines) lacks
    ``content`` with mode, owner and group ``attrs`` ("644:root:root")."""
    digest = hashlib.sha1(content.encode(), usedforsecurity=False).hexdigest()
    return f"{path} {attrs} {digest}" not in set(on_host or [])


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "mail_common_digest_argv": mail_common_digest_argv,
            "mail_common_file_differs": mail_common_file_differs,
        }
