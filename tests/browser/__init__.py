"""Browser tests: the admin clicked in headless Chromium (see conftest.py)."""

import os
from pathlib import Path

# Where the browser tests save a screenshot of each step: <this folder>/<test name>/NN-step.png.
SCREENSHOTS_DIR = Path(__file__).resolve().parents[2] / "var" / "browser-screenshots"
CHROMIUM = os.environ.get("BROWSER_TESTS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("BROWSER_TESTS_CHROMEDRIVER", "/usr/bin/chromedriver")
INSTALL_HINT = (
    f"browser tests skipped: headless Chromium not found ({CHROMIUM}, {CHROMEDRIVER}): "
    "apt-get install chromium chromium-driver"
)


def chromium_available() -> bool:
    return all(os.access(path, os.X_OK) for path in (CHROMIUM, CHROMEDRIVER))


def browser_tests_required() -> bool:
    """CI (``.ci/run``) sets ``BROWSER_TESTS_REQUIRED``: a missing Chromium fails the run."""
    return bool(os.environ.get("BROWSER_TESTS_REQUIRED"))
