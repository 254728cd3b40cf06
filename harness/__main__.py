"""``python -m harness`` is the ``mailstack`` command."""

from harness.cli import main

main()
