"""Browser tests: the admin clicked in headless Chromium against a live server.

One Chromium per test session (per xdist worker); each test signs its users in by giving the
browser a session cookie made on the server side, so a role switch costs no login page. Every
step a test names is saved as a screenshot under ``var/browser-screenshots/<test>/NN-step.png``;
the session prints that folder once at the end.

Without Debian's ``chromium`` and ``chromium-driver`` packages the tests are skipped (not
collected) and the run ends with one line saying how to install them; they fail instead when
``BROWSER_TESTS_REQUIRED`` is set, as ``.ci/run`` does.

Every test runs under the site's Content-Security-Policy: the ``browser`` fixture reads
Chromium's console after the test and fails it on any CSP violation reported by a page of this
site (docs/security.md).
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from accounts.access.reauth import SESSION_KEY as REAUTH_SESSION_KEY
from accounts.access.roles import sync_roles
from accounts.models import User
from tests.browser import (
    CHROMEDRIVER,
    CHROMIUM,
    INSTALL_HINT,
    SCREENSHOTS_DIR,
    browser_tests_required,
    chromium_available,
)

WAIT_SECONDS = 10

# Without Chromium the tests here are not collected; tests/conftest.py says so in one line.
collect_ignore_glob = [] if chromium_available() or browser_tests_required() else ["test_*.py"]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the whole session (selenium + Debian's chromedriver)."""
    if not chromium_available():  # only when required: otherwise nothing here is collected
        pytest.fail(INSTALL_HINT.replace("skipped", "required"))
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--window-size=1366,900",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--password-store=basic",
    ):
        options.add_argument(argument)
    # The console (CSP violations among it) for Browser.csp_violations.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


class Browser:
    """The live site as one staff member sees it in Chromium, with a screenshot per step."""

    def __init__(self, driver: Any, base_url: str, shots: Path) -> None:
        self.driver = driver
        self.base_url = base_url
        self.shots = shots
        self.step = 0

    # Navigation ------------------------------------------------------------------------------

    def visit(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def sign_in(self, user: User, *, signed_in_minutes_ago: int = 0) -> None:
        """Sign ``user`` in as a login would (the session the server made, as a cookie);
        whoever was signed in before is signed out. ``signed_in_minutes_ago`` ages the proof of
        identity the login gave (past ``SENSITIVE_ACTION_REAUTH_SECONDS``, sensitive actions ask
        for the password again)."""
        client = Client()
        client.force_login(user)
        if signed_in_minutes_ago:
            session = client.session
            session[REAUTH_SESSION_KEY] = time.time() - 60 * signed_in_minutes_ago
            session.save()
        session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
        # A cookie can only be set for the site the browser is on.
        self.visit("/static/admin/css/base.css")
        self.driver.delete_all_cookies()
        self.driver.add_cookie(
            {"name": settings.SESSION_COOKIE_NAME, "value": session_key, "path": "/"}
        )

    def sign_out(self) -> None:
        self.visit("/static/admin/css/base.css")
        self.driver.delete_all_cookies()

    # Finding and clicking --------------------------------------------------------------------

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def has(self, css: str) -> bool:
        return bool(self.find_all(css))

    def click(self, css: str) -> None:
        """Click the element and wait for the page it leads to (a click that submits nothing
        times out here, which is what a dead button looks like)."""
        self.click_element(self.find(css))

    def click_element(self, element: Any) -> None:
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support.wait import WebDriverWait

        page = self.find("html")
        element.click()

        def left(driver: Any) -> bool:
            # The old page's node is gone. Mid-navigation Chromium may answer "Node with given
            # id does not belong to the document" (a plain WebDriverException) instead of the
            # stale-element error: that too means the old page has gone.
            try:
                page.is_enabled()
            except WebDriverException:
                return True
            return False

        WebDriverWait(self.driver, WAIT_SECONDS).until(left)
        WebDriverWait(self.driver, WAIT_SECONDS).until(
            lambda driver: driver.execute_script("return document.readyState") == "complete"
        )

    def type(self, css: str, text: str) -> None:
        field = self.find(css)
        field.clear()
        field.send_keys(text)

    # What the page says ----------------------------------------------------------------------

    @property
    def path(self) -> str:
        url: str = self.driver.current_url
        return url.removeprefix(self.base_url)

    def text(self, css: str = "body") -> str:
        return str(self.find(css).text)

    def messages(self) -> list[str]:
        return [str(m.text) for m in self.find_all("ul.messagelist li")]

    def console(self) -> list[dict[str, Any]]:
        """Chromium's console entries since the last call (reading them empties the buffer)."""
        return list(self.driver.get_log("browser"))

    def csp_violations(self) -> list[str]:
        """The Content-Security-Policy violations in the console since the last call (Chromium
        reports them as ``security`` entries that name the directive)."""
        return [
            str(entry["message"])
            for entry in self.console()
            if "Content Security Policy" in str(entry.get("message", ""))
        ]

    def shot(self, name: str) -> Path:
        """Save a screenshot of this step as ``NN-name.png``."""
        self.step += 1
        self.shots.mkdir(parents=True, exist_ok=True)
        target = self.shots / f"{self.step:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower())}.png"
        self.driver.save_screenshot(str(target))
        return target


@pytest.fixture
def browser(
    chromium: Any, live_server: Any, transactional_db: None, request: pytest.FixtureRequest
) -> Iterator[Browser]:
    """The live site in the session's Chromium, signed out, with this test's screenshot folder."""
    shots = SCREENSHOTS_DIR / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(shots, ignore_errors=True)
    sync_roles()  # the live server's database is emptied after each test
    page = Browser(chromium, live_server.url, shots)
    page.sign_out()
    page.console()  # what an earlier test left in the buffer is not this test's
    yield page
    violations = page.csp_violations()
    page.sign_out()
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)
