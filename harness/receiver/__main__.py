"""``python3 -m receiver --config FILE`` (in a container) or ``python -m harness.receiver``.

Runs until SIGTERM or SIGINT. ``--check`` validates the configuration and exits;
``--print-profile NAME`` prints a shipped profile as the JSON a config file inlines.
A configuration mistake is one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from .catalogue import shipped_profile
from .config import Config, load_config
from .errors import ReceiverError
from .server import Receiver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="receiver", description="A provider-like SMTP receiver for the mail lab."
    )
    parser.add_argument("--config", type=Path, help="the JSON configuration file")
    parser.add_argument("--check", action="store_true", help="validate the config and exit")
    parser.add_argument("--print-profile", metavar="NAME", help="print a shipped profile as JSON")
    parser.add_argument("--verbose", action="store_true", help="log every SMTP command")
    args = parser.parse_args(argv)
    try:
        if args.print_profile:
            print(json.dumps(shipped_profile(args.print_profile).as_dict(), indent=2))
            return 0
        if args.config is None:
            parser.error("--config FILE is required")
        config = load_config(args.config)
        if args.check:
            print(f"{args.config}: ok (profile {config.profile.name})")
            return 0
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(asctime)s %(name)s %(levelname)s %(message)s",
        )
        asyncio.run(_serve(config))
    except ReceiverError as exc:
        print(f"receiver: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # the port is taken, the journal directory is read-only, ...
        print(f"receiver: error: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(config: Config) -> None:
    receiver = Receiver(config)
    await receiver.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"receiver: {config.hostname} listening on {config.listen_host}:{receiver.port}"
        f" (profile {config.profile.name}, journal {config.journal})",
        file=sys.stderr,
        flush=True,
    )
    await stop.wait()
    await receiver.stop()


if __name__ == "__main__":
    sys.exit(main())
