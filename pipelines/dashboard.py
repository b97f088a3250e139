"""``finops dashboard``: serve the Streamlit app of dashboard/ on a warehouse's marts.

The app is started as its own process (``python -m streamlit run dashboard/app.py``), told
the warehouse through ``FINOPS_WAREHOUSE``, bound to 127.0.0.1 unless asked otherwise: it has
no login of its own.

Notes:
    The app's files live in the repository's dashboard/ folder, beside pipelines/; an
    installed wheel does not carry them yet (the package ships pipelines/ and queries/ only),
    so the command runs from a source checkout or an editable install.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from pipelines.errors import ConfigError, FinopsError, WarehouseError
from pipelines.models import DATABASE_FILE
from pipelines.review import Review

logger = logging.getLogger(__name__)

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def streamlit_command(host: str, port: int) -> list[str]:
    """The command line that serves the app; headless, without usage statistics."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--theme.base",
        "light",
    ]


def check_address(host: str, port: int) -> None:
    """Refuse a host and port the server could not listen on, before the marts are read.

    Streamlit would find out only once started, and say so with a long traceback
    (OverflowError for the port, socket.gaierror for the host). The addresses are bound the
    way Streamlit's server (tornado) binds them, every address the host resolves to, then let go.

    Raises:
        ConfigError: the port is not 1-65535, the host does not resolve, or an address is not
            this machine's or is taken.
    """
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port}: expected 1-65535")
    try:
        addresses = socket.getaddrinfo(
            host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        )
    except (socket.gaierror, UnicodeError) as error:
        reason = error.strerror if isinstance(error, socket.gaierror) else error
        raise ConfigError(f"--host {host!r}: cannot be resolved ({reason})") from None

    with ExitStack() as bound:
        for family, kind, protocol, _, address in dict.fromkeys(addresses):
            listener = bound.enter_context(socket.socket(family, kind, protocol))
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                listener.bind(address)
            except OSError as error:
                where = host if address[0] == host else f"{host} ({address[0]})"
                raise ConfigError(
                    f"--host {where} --port {port}: cannot listen there ({error.strerror or error})"
                ) from None


def serve(warehouse: Path, *, host: str = "127.0.0.1", port: int = 8501) -> int:
    """Run the dashboard until interrupted; the server's exit code.

    Raises:
        WarehouseError: the warehouse has no finops.duckdb (run `finops build`).
        FinopsError: the app's files are not beside this package.
        ConfigError: the host or port cannot be listened on (see :func:`check_address`).
    """
    database = Path(warehouse) / DATABASE_FILE
    if not database.is_file():
        raise WarehouseError(f"{database}: not found; run `finops build` first")
    if not APP.is_file():
        raise FinopsError(
            f"{APP}: the dashboard's files are missing; run from a source checkout "
            "(pip install -e .)"
        )
    check_address(host, port)

    # Each mart is a scan of the line items; do them once here, not on a person's first page.
    started = time.monotonic()
    marts = Review(warehouse).warm()
    logger.info("read %d marts in %.1f s: %s", len(marts), time.monotonic() - started, marts)
    environment = {**os.environ, "FINOPS_WAREHOUSE": str(Path(warehouse).resolve())}
    process = subprocess.Popen(streamlit_command(host, port), env=environment)
    # A service manager stops us with SIGTERM (systemd, docker stop, kill): the server must go
    # with us, not linger as an orphan on the port.
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return process.wait()
    except (KeyboardInterrupt, _Stopped):
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Stopped(Exception):
    """The dashboard was asked to stop by a signal."""


def _stop(signum: int, _frame: object) -> None:
    raise _Stopped(signum)
