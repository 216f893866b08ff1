"""Command line: python -m voxsim --port 8081 --devices 40 --seed 1 --state-file var/voxsim.json ..."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType

from voxsim.server import start


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m voxsim", description="Simulator of the Voxel hAPI.")
    env = os.environ.get
    parser.add_argument("--host", default=env("VOXSIM_HOST", "127.0.0.1"), help="address to bind (VOXSIM_HOST)")
    parser.add_argument("--port", type=int, default=int(env("VOXSIM_PORT", "8081")), help="port (VOXSIM_PORT)")
    parser.add_argument("--devices", type=int, default=40, help="devices to generate, split among the customers")
    parser.add_argument("--seed", type=int, default=1, help="seed for the generated world and every random choice")
    parser.add_argument("--state-file", help="JSON file the state is saved to after each change and loaded from")
    parser.add_argument("--reimage-seconds", type=float, default=60.0, help="how long a reimage takes")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="fraction of reimages that fail (0.0-1.0)")
    parser.add_argument("--skew-seconds", type=float, default=900.0, help="allowed timestamp skew")
    parser.add_argument("--hostile", action="store_true", help="seed labels and descriptions with HTML and <script>")
    parser.add_argument("--staff-key", default=env("VOXSIM_STAFF_KEY", "staff-key"), help="(VOXSIM_STAFF_KEY)")
    parser.add_argument(
        "--staff-secret", default=env("VOXSIM_STAFF_SECRET", "staff-secret"), help="(VOXSIM_STAFF_SECRET)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run voxsim until SIGINT or SIGTERM."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s voxsim %(message)s", stream=sys.stderr)
    stopping = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        server = start(
            args.host,
            args.port,
            devices=args.devices,
            seed=args.seed,
            reimage_seconds=args.reimage_seconds,
            fail_rate=args.fail_rate,
            skew_seconds=args.skew_seconds,
            state_file=args.state_file,
            hostile=args.hostile,
            staff_key=args.staff_key,
            staff_secret=args.staff_secret,
        )
    except (OSError, ValueError) as error:
        logging.getLogger("voxsim").error("cannot start: %s", error)
        return 1
    logging.getLogger("voxsim").info("listening on %s (%d devices)", server.api_url, len(server.sim.world.devices))
    # A timed wait keeps the main thread responsive to signals.
    while not stopping.wait(0.5):
        pass
    server.stop()
    logging.getLogger("voxsim").info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
