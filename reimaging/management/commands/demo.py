"""Run the whole demo: Redis, voxsim, the Celery worker and beat, and the web server; Ctrl-C stops them all."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from voxweb.processes import Child, free_port, port_is_open, python_command, redis_command, wait_for_port


def _raise_interrupt(*_: Any) -> None:
    """SIGTERM and SIGHUP stop the demo the same way Ctrl-C does."""
    raise KeyboardInterrupt


class Command(BaseCommand):
    """demo: the supervisor behind `make demo`."""

    help = "Start Redis, voxsim, the Celery worker and beat, and uvicorn; seed demo data; stop all on Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--voxsim-port", type=int, default=int(os.environ.get("VOXSIM_PORT", "8081")))
        parser.add_argument("--devices", type=int, default=int(os.environ.get("VOXSIM_DEVICES", "40")))
        parser.add_argument("--reimage-seconds", type=float, default=60.0)

    def handle(self, *args: Any, **options: Any) -> None:
        var = Path(settings.VAR_DIR)
        logs = var / "log"
        logs.mkdir(parents=True, exist_ok=True)
        port = options["port"]
        if port_is_open(port):
            raise CommandError(f"Port {port} is already in use: stop what runs there or set PORT=<another port>.")
        voxsim_port = options["voxsim_port"]
        if port_is_open(voxsim_port):
            voxsim_port = free_port()
        redis_port = free_port()  # its own port, so a Redis already running is never touched
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        api_url = f"http://127.0.0.1:{voxsim_port}/version/1.0/"

        env = dict(os.environ)
        env.update(
            REDIS_URL=redis_url,
            VOXEL_API_URL=api_url,
            REIMAGE_POLL_INTERVAL=env.get("REIMAGE_POLL_INTERVAL", "2"),
            PYTHONUNBUFFERED="1",
        )
        children = [
            Child("redis", redis_command(redis_port), env=env, log=logs / "redis.log"),
            Child(
                "voxsim",
                python_command(
                    "-m", "voxsim",
                    "--port", str(voxsim_port),
                    "--devices", str(options["devices"]),
                    "--state-file", str(var / "voxsim-state.json"),
                    "--reimage-seconds", str(options["reimage_seconds"]),
                    "--fail-rate", os.environ.get("VOXSIM_FAIL_RATE", "0.1"),
                ),
                env=env,
                log=logs / "voxsim.log",
            ),
        ]  # fmt: skip
        started: list[Child] = []
        stopping = False

        def stop_all(*_: Any) -> None:
            nonlocal stopping
            if stopping:
                return
            stopping = True
            self.stdout.write("\nStopping the demo...")
            for child in reversed(started):
                child.stop()
            self.stdout.write("Stopped every process.")

        # Installed explicitly: a shell that starts us in the background leaves SIGINT ignored, and then Python
        # would never raise KeyboardInterrupt; closing the terminal (SIGHUP) stops everything too.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _raise_interrupt)
        try:
            for child in children:
                started.append(child.start())
            wait_for_port(redis_port, proc=children[0].proc)
            wait_for_port(voxsim_port, proc=children[1].proc)

            call_command("migrate", interactive=False, verbosity=0)
            call_command("seed_demo", api_url=api_url, redis_url=redis_url)

            workers = [
                Child(
                    "worker",
                    python_command("-m", "celery", "-A", "voxweb", "worker", "-l", "INFO", "--concurrency", "2"),
                    env=env,
                    log=logs / "worker.log",
                ),
                Child(
                    "beat",
                    python_command(
                        "-m", "celery", "-A", "voxweb", "beat", "--loglevel", "INFO",
                        "--schedule", str(var / "celerybeat-schedule"),
                    ),
                    env=env,
                    log=logs / "beat.log",
                ),
                Child(
                    "web",
                    python_command(
                        "-m", "uvicorn", "voxweb.asgi:application",
                        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                        "--timeout-graceful-shutdown", "3",
                    ),
                    env=env,
                ),
            ]  # fmt: skip
            for child in workers:
                started.append(child.start())
            wait_for_port(port, proc=workers[-1].proc, timeout=30)
            password_note = "DEMO_PASSWORD" if os.environ.get("DEMO_PASSWORD") else "voxweb-demo"
            self.stdout.write(
                self.style.SUCCESS(f"\nvoxweb is running at http://127.0.0.1:{port}/\n")
                + f"  Log in as admin, operator or viewer; password: {password_note}\n"
                + f"  voxsim (the simulated hAPI) at {api_url}, Redis at {redis_url}\n"
                + f"  Logs of the worker, beat, voxsim and Redis in {logs}/\n"
                + "  Press Ctrl-C to stop everything.\n"
            )
            while True:
                for child in started:
                    if not child.alive:
                        raise CommandError(
                            f"The {child.name} process stopped unexpectedly; see {logs}/{child.name}.log"
                        )
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            stop_all()
