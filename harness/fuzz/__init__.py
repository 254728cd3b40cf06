"""`harness.fuzz`: a grammar-aware fuzzer for the SMTP (25, 587, 465) and IMAP (143, 993) servers.

Each case is one connection: a plan of steps drawn from a grammar over the protocol's state
machine (``smtp_grammar``, ``imap_grammar``), mutated at the token and byte level (``mutate``),
then played by a driver that reads every reply with a timeout and keeps the books: which step
kinds ran, how the connection ended, which message tokens went out and which the server took
(``smtp_driver``, ``imap_driver``). ``run`` plays cases until the count or the time is up and
checks between them that the server still greets a fresh connection.
"""

from __future__ import annotations

from harness.fuzz.report import FuzzReport
from harness.fuzz.run import fuzz, run_fuzz
from harness.fuzz.target import FuzzLimits, FuzzTarget

__all__ = ["FuzzLimits", "FuzzReport", "FuzzTarget", "fuzz", "run_fuzz"]
