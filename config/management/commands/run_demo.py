"""Runs the demo: gunicorn, the django-q2 task cluster and the sweeper cluster as supervised
child processes.

Each child gets its own process group, so the terminal's Ctrl-C reaches only this command, which
then stops both children (SIGTERM, then SIGKILL after a grace period) and exits cleanly.

With ``DEMO_CARRIER=melhor_envio`` this process also serves the fake Melhor Envio API on
loopback (a thread, with its courier), points the children at it through their environment, and
once they answer seeds a few orders it labels (``config/demo_carrier.py``); the fake stops with
the children.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from config.demo_carrier import (
    DELIVERED_AFTER_SECONDS,
    DEMO_CARRIERS,
    MELHOR_ENVIO,
    POSTED_AFTER_SECONDS,
    forget_carrier_tokens,
)
from config.fake_providers.melhor_envio import DEMO_CLIENT_ID, app_env, serve_fake_melhor_envio

ROLES = ("support", "sales", "finance", "ops", "admin")
STOP_GRACE_SECONDS = 10.0
POLL_SECONDS = 0.2


class Command(BaseCommand):
    help = "Run the demo: gunicorn web server and task cluster, until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument(
            "--startup-timeout",
            type=float,
            default=60.0,
            help="Seconds to wait for /health/ to answer.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self._stop_signal: int | None = None
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        carrier = str(getattr(settings, "DEMO_CARRIER", "sandbox"))
        if carrier not in DEMO_CARRIERS:
            raise CommandError(f"DEMO_CARRIER must be one of {', '.join(DEMO_CARRIERS)}.")
        with contextlib.ExitStack() as fakes:
            self._run(options, carrier, fakes)
        self._say("Stopped.")

    def _run(self, options: dict[str, Any], carrier: str, fakes: contextlib.ExitStack) -> None:
        if carrier == MELHOR_ENVIO:
            forget_carrier_tokens()
        connections.close_all()

        host: str = options["host"]
        port: int = options["port"]
        local_host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104  # nosec B104  # compares the bind host to pick the URL the demo calls itself on
        base_url = f"http://{local_host}:{port}"
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE}
        # The sandbox providers send their webhooks back to this very server.
        env.setdefault("SANDBOX_WEBHOOK_TARGET", base_url)
        if carrier == MELHOR_ENVIO:
            env.update(self._start_fake_carrier(base_url, fakes))
        web_cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            # gthread workers and a read timeout, so slow clients cannot hold every worker.
            "--config",
            str(settings.BASE_DIR / "gunicorn.conf.py"),
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(options["workers"]),
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "5",
            "--no-control-socket",
        ]
        tasks_cmd = [sys.executable, "manage.py", "qcluster"]
        # The sweepers run from their own queue, ahead of any backlog (config/settings/tasks.py).
        sweeper_env = {**env, "Q_CLUSTER_NAME": settings.Q_SWEEPER_CLUSTER}

        children: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for name, cmd, child_env in (
                ("web", web_cmd, env),
                ("tasks", tasks_cmd, env),
                ("sweepers", tasks_cmd, sweeper_env),
            ):
                children[name] = subprocess.Popen(  # noqa: S603
                    cmd,
                    cwd=settings.BASE_DIR,
                    env=child_env,
                    stdin=subprocess.DEVNULL,
                    process_group=0,
                )
                self._say(f"{name} pid {children[name].pid}")
            self._wait_healthy(f"{base_url}/health/", children, options["startup_timeout"])
            if carrier == MELHOR_ENVIO and self._stop_signal is None:
                self._seed_carrier_orders(env)
            if self._stop_signal is None:
                self._banner(base_url)
            while self._stop_signal is None:
                self._check_children(children)
                time.sleep(POLL_SECONDS)
        finally:
            self._stop(children)

    def _start_fake_carrier(self, base_url: str, fakes: contextlib.ExitStack) -> dict[str, str]:
        """Serve the fake Melhor Envio with a secret and refresh token of this run's own, its
        courier posting webhooks to our server; answers the children's environment for it."""
        client_secret = secrets.token_urlsafe(32)
        refresh_token = f"def50200{secrets.token_hex(24)}"
        fake = fakes.enter_context(
            serve_fake_melhor_envio(
                client_id=DEMO_CLIENT_ID,
                client_secret=client_secret,
                refresh_tokens={refresh_token},
                webhook_url=f"{base_url}/webhooks/melhor-envio/",
            )
        )
        fakes.enter_context(
            fake.courier(posted_after=POSTED_AFTER_SECONDS, delivered_after=DELIVERED_AFTER_SECONDS)
        )
        self._say(f"fake Melhor Envio API at {fake.url}")
        return app_env(api_base=fake.url, client_secret=client_secret, refresh_token=refresh_token)

    def _seed_carrier_orders(self, env: dict[str, str]) -> None:
        """A few paid orders the fake Melhor Envio labels (through the task cluster), in a
        child with the children's environment; its report goes to our output."""
        result = subprocess.run(
            [sys.executable, "manage.py", "seed_demo_carrier"],
            cwd=settings.BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            process_group=0,
        )
        self._say(result.stdout.rstrip())
        if result.returncode != 0:
            raise CommandError(f"seed_demo_carrier failed:\n{result.stderr[-2000:]}")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop_signal = signum

    def _say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    def _check_children(self, children: dict[str, subprocess.Popen[bytes]]) -> None:
        for name, child in children.items():
            code = child.poll()
            if code is not None:
                raise CommandError(f"The {name} process (pid {child.pid}) exited with code {code}.")

    def _wait_healthy(
        self, url: str, children: dict[str, subprocess.Popen[bytes]], timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no answer"
        while self._stop_signal is None:
            self._check_children(children)
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  # nosec B310  # http URL this command built for its own local server
                    if response.status == 200:
                        return
                    last_error = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                last_error = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                last_error = str(exc)
            if time.monotonic() > deadline:
                raise CommandError(f"{url} did not answer within {timeout:.0f}s ({last_error}).")
            time.sleep(POLL_SECONDS)

    def _banner(self, base_url: str) -> None:
        lines = [
            "",
            "Switchboard demo is running.",
            f"  Admin:  {base_url}/admin/",
            f"  Health: {base_url}/health/",
            "  Demo logins (username / password):",
            *(f"    {role:<8} / {settings.DEMO_PASSWORD}" for role in ROLES),
            "Press Ctrl-C to stop.",
            "",
        ]
        self._say("\n".join(lines))

    def _stop(self, children: dict[str, subprocess.Popen[bytes]]) -> None:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, child in children.items():
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"The {name} process did not stop in time; killing it.")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()
