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
import subprocess
import sys
import threading
import time
from pathlib import Path

from pipelines.errors import FinopsError, WarehouseError
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


def serve(warehouse: Path, *, host: str = "127.0.0.1", port: int = 8501) -> int:
    """Run the dashboard until interrupted; the server's exit code.

    Raises:
        WarehouseError: the warehouse has no finops.duckdb (run `finops build`).
        FinopsError: the app's files are not beside this package.
    """
    database = Path(warehouse) / DATABASE_FILE
    if not database.is_file():
        raise WarehouseError(f"{database}: not found; run `finops build` first")
    if not APP.is_file():
        raise FinopsError(
            f"{APP}: the dashboard's files are missing; run from a source checkout "
            "(pip install -e .)"
        )
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
