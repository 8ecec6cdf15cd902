"""The web client in a real browser (Debian's Chromium through Playwright) against a real
`nchat serve` on a fresh database: first-run setup, staying signed in across a reload,
signing out and in, the WebSocket under the page's policy; the API docs. Any console
error, page error or CSP violation fails a test (the page's policy is never bypassed)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fixtures.processes import Server, nchat_env, serving, throwaway_database
from tests.web.browser import PASSWORD, Tab, needs_chromium

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = needs_chromium

# In the page: open /api/ws on this origin under the page's connect-src, authenticate with
# the first frame and wait for the server's hello.
OPEN_SOCKET = """
(token) => new Promise((resolve, reject) => {
  const ws = new WebSocket(`${location.origin.replace(/^http/, "ws")}/api/ws`);
  ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token }));
  ws.onmessage = (event) => { ws.close(); resolve(JSON.parse(event.data).type); };
  ws.onerror = () => reject(new Error("the socket failed"));
})
"""


@pytest.fixture(scope="module")
def server(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`nchat serve` on a database of its own, which it migrates: no owner yet. Only the
    setup test changes that; the others pass either way (xdist may run them first)."""
    tmp = tmp_path_factory.mktemp("browser")
    with (
        throwaway_database(server_url) as url,
        serving(nchat_env(tmp / "data", url), tmp / "serve.log") as running,
    ):
        running.wait_healthy()
        yield running


def heading(tab: playwright.Page, name: str) -> None:
    playwright.expect(tab.get_by_role("heading", name=name, level=1)).to_be_visible()


def test_first_run_setup_then_reload_sign_out_and_in(server: Server, page: Tab) -> None:
    tab, problems = page.page, page.problems
    assert not httpx.get(f"{server.url}/api/setup/status", timeout=10).json()["completed"]
    tab.goto(f"{server.url}/")
    heading(tab, "Set up nchat")

    tab.get_by_label("Workspace name").fill("Acme Chat")
    tab.get_by_label("Your name").fill("Ada Owner")
    tab.get_by_label("Username").fill("ada")
    tab.get_by_label("Email").fill("ada@example.com")
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Create owner account").click()
    heading(tab, "Welcome, Ada Owner")
    playwright.expect(tab.get_by_text("@ada").first).to_be_visible()
    # The name just given heads the list and the title at once, not after a reload.
    playwright.expect(tab.locator("#sidebar .brand")).to_have_text("Acme Chat")
    playwright.expect(tab).to_have_title("Acme Chat")
    assert httpx.get(f"{server.url}/api/setup/status", timeout=10).json()["completed"]

    # A reload resumes the session from the stored refresh token; so does a path of the
    # client opened directly (the server answers it with the page).
    tab.reload()
    heading(tab, "Welcome, Ada Owner")
    tab.goto(f"{server.url}/channels/general")
    heading(tab, "Welcome, Ada Owner")

    tab.get_by_role("button", name="Sign out").click()
    heading(tab, "Sign in to Acme Chat")
    # The session is forgotten; the theme, the device's own, stays.
    assert tab.evaluate("localStorage.getItem('nchat.refresh_token')") is None
    tab.reload()
    heading(tab, "Sign in to Acme Chat")

    # A wrong password is said in the form, and the form stays.
    tab.get_by_label("Username or email").fill("ada")
    tab.get_by_label("Password").fill("not the passphrase")
    tab.get_by_role("button", name="Sign in").click()
    playwright.expect(tab.get_by_role("alert")).to_contain_text("password")
    # Chromium reports the refused request itself; that is the only problem allowed.
    refused = f"status of 401 (Unauthorized) ({server.url}/api/auth/signin)"
    assert [p for p in problems if not p.endswith(refused)] == []
    problems.clear()

    tab.get_by_label("Username or email").fill("ada@example.com")
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    heading(tab, "Welcome, Ada Owner")

    # `connect-src 'self'` covers ws: on this origin (CSP Level 3): no explicit ws URL.
    signin = httpx.post(
        f"{server.url}/api/auth/signin", json={"login": "ada", "password": PASSWORD}, timeout=10
    )
    assert signin.status_code == 200, signin.text
    assert tab.evaluate(OPEN_SOCKET, signin.json()["access_token"]) == "hello"
    assert problems == []


def test_light_and_dark_follow_the_system(server: Server, page: Tab) -> None:
    tab, problems = page.page, page.problems
    background = "getComputedStyle(document.body).backgroundColor"
    tab.emulate_media(color_scheme="light")
    tab.goto(f"{server.url}/")
    tab.locator("h1").wait_for()  # the setup or the sign-in form
    light = tab.evaluate(background)
    tab.emulate_media(color_scheme="dark")
    assert tab.evaluate(background) != light
    assert problems == []


def test_the_api_docs_run_on_local_files_under_the_policy(server: Server, page: Tab) -> None:
    tab, problems = page.page, page.problems
    elsewhere: list[str] = []
    tab.on("request", lambda r: None if r.url.startswith(server.url) else elsewhere.append(r.url))
    tab.goto(f"{server.url}/api/docs")
    playwright.expect(tab.locator(".swagger-ui .info .title")).to_contain_text("nchat")
    # Open one operation: Swagger UI renders its parameters, models and examples too.
    tab.locator(".opblock-summary").first.click()
    playwright.expect(tab.locator(".opblock-body").first).to_be_visible()
    assert elsewhere == []
    assert problems == []
