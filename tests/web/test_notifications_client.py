"""Notifications in the web client, in Chromium against a real `nchat serve` (a short push
delay, push services on private addresses allowed): the settings form round-trips through
the server (a reload shows what was saved; a schedule without times shows the server's
error); muting from the channel's menu marks the channel in the list and is stored; the
service worker is served as a script the page may register. Browser push: headless
Chromium reaches no push service, so the page's PushManager hands out a subscription of
the test's local push service (tests/fixtures/push_service.py); the rest is real: the
permission, the worker's registration, the server's VAPID key, the device registered, a DM
encrypted by the server and decrypted by the push service, the worker showing it, and
"Disable" unregistering the device. A person's second page follows a mute and a settings
change made elsewhere; the page's app badge and the shown notifications follow reads on
another device (the badge calls are recorded: headless Chromium has nothing to badge); a
renewed subscription is registered again, from the worker's `pushsubscriptionchange` (a
synthetic event: no browser here renews one) and at a page's next start."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from nchat.http_edge.headers import API_POLICY
from tests.fixtures.processes import nchat_env, throwaway_database
from tests.fixtures.push_service import PushService, Received, Subscription
from tests.web.a11y import problems
from tests.web.browser import PASSWORD, Tab, needs_chromium
from tests.web.chat import Chat, no_problems, open_channel, sidebar_link

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_chromium, pytest.mark.usefixtures("console_report")]
expect = playwright.expect

PUSH_DELAY_S = 1.0
# A closed socket still counts as "here" this long (realtime/presence.py GRACE_S), and a
# person who is here gets no push.
GRACE_S = 5.0
PREFS = "/api/users/me/notification-preferences"
SUBSCRIBED = "test.subscribed"
# The page's PushManager, minus the push service it cannot reach: subscribing hands out the
# test's subscription (the key it was asked for is kept to compare), and it stays "there"
# across loads until unsubscribed, as a browser's does.
FAKE_PUSH_MANAGER = """
(() => {
  const sub = %s;
  const made = () => ({
    endpoint: sub.endpoint,
    expirationTime: null,
    options: { userVisibleOnly: true, applicationServerKey: null },
    toJSON: () => ({ endpoint: sub.endpoint, expirationTime: null, keys: sub.keys }),
    unsubscribe: async () => {
      localStorage.removeItem("%s");
      return true;
    },
  });
  PushManager.prototype.subscribe = async function (options) {
    localStorage.setItem("%s", JSON.stringify(Array.from(options.applicationServerKey)));
    return made();
  };
  PushManager.prototype.getSubscription = async function () {
    return localStorage.getItem("%s") === null ? null : made();
  };
})();
"""
WORKER = """async () => {
  const registration = await navigator.serviceWorker.getRegistration("/");
  return registration?.active?.scriptURL ?? null;
}"""
SHOWN = """async () => {
  const registration = await navigator.serviceWorker.getRegistration("/");
  return (await registration.getNotifications()).map((n) => ({
    title: n.title, body: n.body, tag: n.tag, data: n.data,
  }));
}"""


@pytest.fixture(scope="module")
def chat(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chat]:
    """This module's server: pushes after a short delay, to push services on this machine."""
    tmp = tmp_path_factory.mktemp("notify-chat")
    settings = {
        "NCHAT_PUSH_DELAY_S": str(PUSH_DELAY_S),
        "NCHAT_PUSH_ALLOW_PRIVATE_ENDPOINTS": "true",
    }
    with throwaway_database(server_url) as url:
        running = Chat(nchat_env(tmp / "data", url, **settings), tmp)
        try:
            yield running
        finally:
            running.close()


def person(chat: Chat, prefix: str) -> dict[str, Any]:
    """A new member with a token of their own (their devices and settings are theirs)."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    body = {
        "username": name,
        "email": f"{name}@example.com",
        "display_name": prefix.title(),
        "password": PASSWORD,
    }
    made = dict(chat.post("/api/users", chat.ada, body))
    made["token"] = chat.post("/api/auth/signin", None, {"login": name, "password": PASSWORD})[
        "access_token"
    ]
    return made


def open_settings(tab: Tab) -> Any:
    tab.page.get_by_role("button", name="Profile and settings").click()
    dialog = tab.page.get_by_role("dialog", name="Profile and settings")
    expect(dialog).to_be_visible()
    return dialog


def section(dialog: Any, title: str) -> Any:
    return dialog.get_by_role("region", name=title)


def with_push(tab: Tab, chat: Chat, sub: Subscription) -> None:
    """Notifications allowed for the server's origin, and the test's push service."""
    context = tab.page.context
    context.grant_permissions(["notifications"], origin=chat.url)
    keys = json.dumps(sub.json())
    context.add_init_script(FAKE_PUSH_MANAGER % (keys, SUBSCRIBED, SUBSCRIBED, SUBSCRIBED))


def eventually(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "it did not happen in time"
        time.sleep(0.1)


def wait_for_push(service: PushService, sub: Subscription, timeout: float = 20.0) -> Received:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = service.for_sub(sub)
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no push arrived; refused: {service.refused}")


def worker_registration_id(tab: Tab, scope: str) -> tuple[Any, str]:
    """A DevTools session on the tab and the id of the worker registration of `scope`."""
    cdp = tab.page.context.new_cdp_session(tab.page)
    found: list[str] = []

    def updated(event: dict[str, Any]) -> None:
        for registration in event["registrations"]:
            if registration["scopeURL"] == scope:
                found.append(registration["registrationId"])

    cdp.on("ServiceWorker.workerRegistrationUpdated", updated)
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 10
    while not found and time.monotonic() < deadline:
        tab.page.wait_for_timeout(50)
    assert found, "the worker's registration was not reported"
    return cdp, found[0]


# -- tests ---------------------------------------------------------------------------------


def test_the_service_worker_is_a_script_served_from_the_root(chat: Chat) -> None:
    r = httpx.get(f"{chat.url}/sw.js", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["x-content-type-options"] == "nosniff"
    # It loads and fetches nothing: the API's policy, which allows nothing, is its own.
    assert r.headers["content-security-policy"] == API_POLICY.decode()
    assert 'addEventListener("push"' in r.text
    again = httpx.get(f"{chat.url}/sw.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


def test_notification_settings_round_trip(chat: Chat, browser: Any, screenshot: Any) -> None:
    dina = person(chat, "dina")
    tab = chat.tab(browser, dina["username"], timezone_id="Asia/Tokyo")
    tab.page.goto(chat.url)
    dialog = open_settings(tab)
    notifications = section(dialog, "Notifications")
    # What the server starts with; the schedule's zone is the browser's until one is saved.
    expect(
        notifications.get_by_role("radio", name=re.compile("^Direct messages, mentions"))
    ).to_be_checked()
    expect(notifications.get_by_role("radio", name=re.compile("^Who wrote, where"))).to_be_checked()
    expect(notifications.get_by_label(re.compile("^Email me"))).to_be_checked()
    expect(notifications.get_by_label("Time zone")).to_have_value("Asia/Tokyo")
    assert problems(tab) == []

    notifications.get_by_role("radio", name="All new messages").check()
    notifications.get_by_role("radio", name=re.compile("^Who wrote and where")).check()
    notifications.get_by_label(re.compile("^Email me")).uncheck()
    notifications.get_by_label(re.compile("^Every day")).check()
    notifications.get_by_label("Start", exact=True).fill("22:30")
    notifications.get_by_label("End", exact=True).fill("07:00")
    notifications.get_by_label("Time zone").select_option("Europe/Paris")
    notifications.get_by_role("button", name="Save notifications").click()
    expect(notifications.get_by_role("status").filter(has_text="saved")).to_be_visible()
    assert chat.get(PREFS, dina["token"]) == {
        "level": "all",
        "push_content": "sender",
        "email": False,
        "dnd": {
            "enabled": True,
            "start": "22:30:00",
            "end": "07:00:00",
            "timezone": "Europe/Paris",
        },
    }
    screenshot(tab, "settings-notifications")

    # A reload shows what the server has.
    tab.page.reload()
    dialog = open_settings(tab)
    notifications = section(dialog, "Notifications")
    expect(notifications.get_by_role("radio", name="All new messages")).to_be_checked()
    expect(
        notifications.get_by_role("radio", name=re.compile("^Who wrote and where"))
    ).to_be_checked()
    expect(notifications.get_by_label(re.compile("^Email me"))).not_to_be_checked()
    expect(notifications.get_by_label(re.compile("^Every day"))).to_be_checked()
    expect(notifications.get_by_label("Start", exact=True)).to_have_value("22:30")
    expect(notifications.get_by_label("End", exact=True)).to_have_value("07:00")
    expect(notifications.get_by_label("Time zone")).to_have_value("Europe/Paris")

    # A schedule without a start: the server refuses it, and says why at the schedule.
    notifications.get_by_label("Start", exact=True).fill("")
    notifications.get_by_role("button", name="Save notifications").click()
    error = notifications.locator(".dnd .field-error")
    expect(error).to_contain_text("needs start and end")
    expect(notifications.get_by_label("Start", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    assert chat.get(PREFS, dina["token"])["dnd"]["start"] == "22:30:00"
    no_problems(tab, allow=re.compile(r"status of 422 .*notification-preferences"))


def test_mute_from_the_channel_menu(chat: Chat, browser: Any, screenshot: Any) -> None:
    emil = person(chat, "emil")
    room = chat.channel("mutable", members=(emil["token"],))
    prefs = f"/api/channels/{room['id']}/notification-preferences"
    tab = chat.tab(browser, emil["username"])
    open_channel(tab, chat, room["id"])
    link = sidebar_link(tab, room["name"])
    expect(link).to_be_visible()
    expect(link.locator(".muted-mark")).to_have_count(0)

    menu_button = tab.page.get_by_role("button", name="Channel options", exact=True)
    menu_button.click()
    menu = tab.page.get_by_role("menu", name="Channel options")
    expect(menu.get_by_role("menuitemradio", name="Notify as in my settings")).to_have_attribute(
        "aria-checked", "true"
    )
    assert problems(tab) == []
    screenshot(tab, "channel-menu")
    menu.get_by_role("menuitem", name="Mute channel").click()
    expect(link.locator(".muted-mark")).to_be_visible()
    expect(link).to_contain_text("muted")  # said, not only drawn
    assert chat.get(prefs, emil["token"]) == {
        "channel_id": room["id"],
        "level": "default",
        "muted": True,
    }
    screenshot(tab, "channel-muted")

    tab.page.get_by_role("button", name="Channel options (muted)").click()
    menu = tab.page.get_by_role("menu", name="Channel options (muted)")
    menu.get_by_role("menuitemradio", name="Notify about nothing").click()
    eventually(lambda: chat.get(prefs, emil["token"])["level"] == "nothing")

    # After a reload the mark comes from the server; unmuting takes it away.
    tab.page.reload()
    expect(link.locator(".muted-mark")).to_be_visible()
    tab.page.get_by_role("button", name="Channel options (muted)").click()
    menu = tab.page.get_by_role("menu", name="Channel options (muted)")
    expect(menu.get_by_role("menuitemradio", name="Notify about nothing")).to_have_attribute(
        "aria-checked", "true"
    )
    menu.get_by_role("menuitem", name="Unmute channel").click()
    expect(link.locator(".muted-mark")).to_have_count(0)
    assert chat.get(prefs, emil["token"])["muted"] is False
    no_problems(tab)


def test_browser_notifications_on_and_off(
    chat: Chat, browser: Any, push_service: PushService, screenshot: Any
) -> None:
    fay = person(chat, "fay")
    sub = push_service.subscribe()
    tab = chat.tab(browser, fay["username"])
    with_push(tab, chat, sub)
    page = tab.page
    page.goto(chat.url)
    dialog = open_settings(tab)
    here = section(dialog, "Notifications in this browser")
    devices = section(dialog, "Devices that get notifications")
    expect(here.get_by_role("status")).to_have_text("Off in this browser.")
    expect(devices).to_contain_text("None")

    here.get_by_role("button", name="Enable browser notifications").click()
    expect(here.get_by_role("status")).to_contain_text("On:")
    expect(devices.locator("li")).to_have_count(1)
    expect(devices.locator("li")).to_contain_text("This browser")
    [device] = chat.get("/api/push/devices", fay["token"])["devices"]
    assert device["platform"] == "webpush"
    assert device["endpoint"] == sub.endpoint
    assert device["device_id"] == page.evaluate("localStorage.getItem('nchat.push_device')")
    assert device["device_id"].startswith("web-")
    # Subscribed with the server's key; the worker is registered (the page's policy let it).
    key = chat.get("/api/push/vapid-public-key", fay["token"])["public_key"]
    asked = page.evaluate(f"JSON.parse(localStorage.getItem('{SUBSCRIBED}'))")
    assert bytes(asked) == base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert page.evaluate(WORKER) == f"{chat.url}/sw.js"
    screenshot(tab, "settings-push-on")

    # Away from nchat (no socket: a push is owed), a DM from Ada reaches the push service.
    page.goto("about:blank")
    time.sleep(GRACE_S + 1)
    dm = chat.post("/api/channels/direct", chat.ada, {"user_ids": [fay["id"]]})
    sent = chat.send(chat.ada, dm["id"], "Are you coming to the **review**?")
    push = wait_for_push(push_service, sub)
    assert push.payload["title"] == "Ada Owner"
    assert push.payload["body"] == "Are you coming to the **review**?"
    assert push.payload["data"]["url"].endswith(f"#/c/{dm['id']}/m/{sent['id']}")

    # The worker shows what the push service received, as the browser would hand it over.
    page.goto(chat.url)
    expect(page.get_by_role("button", name="Profile and settings")).to_be_visible()
    cdp, registration = worker_registration_id(tab, f"{chat.url}/")
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": chat.url, "registrationId": registration, "data": json.dumps(push.payload)},
    )
    deadline = time.monotonic() + 10
    shown: list[dict[str, Any]] = []
    while not shown and time.monotonic() < deadline:
        shown = page.evaluate(SHOWN)
    assert shown == [
        {
            "title": "Ada Owner",
            "body": "Are you coming to the **review**?",
            "tag": push.payload["tag"],
            "data": push.payload["data"],
        }
    ]

    # Disable: the device is gone from the server and the subscription ended.
    dialog = open_settings(tab)
    here = section(dialog, "Notifications in this browser")
    expect(here.get_by_role("status")).to_contain_text("On:")
    here.get_by_role("button", name="Disable browser notifications").click()
    expect(here.get_by_role("status")).to_have_text("Off in this browser.")
    expect(section(dialog, "Devices that get notifications")).to_contain_text("None")
    assert chat.get("/api/push/devices", fay["token"])["devices"] == []
    assert page.evaluate(f"localStorage.getItem('{SUBSCRIBED}')") is None
    no_problems(tab)


# -- other devices, the app badge, renewed subscriptions -------------------------------------

# The page's badge calls, recorded: headless Chromium has no app icon to badge, so what is
# checked is what the page asks for, not what a shelf would show.
RECORD_BADGE = """
(() => {
  const calls = [];
  Object.defineProperty(window, "badgeCalls", { value: calls });
  Object.defineProperty(navigator, "setAppBadge", { value: async (n) => { calls.push(n); } });
  Object.defineProperty(navigator, "clearAppBadge", { value: async () => { calls.push(0); } });
})();
"""
# A PushManager whose subscription the test can renew, as a browser does: `test.current` is
# the browser's subscription (absent: none), `test.available` what subscribing hands out.
RENEWABLE_PUSH_MANAGER = """
(() => {
  const made = (sub) => ({
    endpoint: sub.endpoint,
    expirationTime: null,
    options: { userVisibleOnly: true, applicationServerKey: null },
    toJSON: () => ({ endpoint: sub.endpoint, expirationTime: null, keys: sub.keys }),
    unsubscribe: async () => {
      localStorage.removeItem("test.current");
      return true;
    },
  });
  const current = () => JSON.parse(localStorage.getItem("test.current") ?? "null");
  PushManager.prototype.subscribe = async function () {
    localStorage.setItem("test.current", localStorage.getItem("test.available") ?? '%s');
    return made(current());
  };
  PushManager.prototype.getSubscription = async function () {
    const sub = current();
    return sub && made(sub);
  };
})();
"""
# In the worker: a browser that renewed the subscription and left none, a PushManager that
# records the key it is asked to subscribe with, and the event a browser would fire (a
# synthetic one: its waitUntil is the test's, as only a browser's own event may extend).
RENEW_IN_WORKER = """async (key) => {
  const asked = [];
  PushManager.prototype.getSubscription = async () => null;
  PushManager.prototype.subscribe = async (options) => {
    asked.push(Array.from(new Uint8Array(options.applicationServerKey)));
    return { endpoint: "renewed" };
  };
  const event = new ExtendableEvent("pushsubscriptionchange");
  let pending = null;
  Object.defineProperty(event, "waitUntil", { value: (p) => { pending = p; } });
  Object.defineProperty(event, "oldSubscription", {
    value: { options: { applicationServerKey: new Uint8Array(key).buffer } },
  });
  Object.defineProperty(event, "newSubscription", { value: null });
  self.dispatchEvent(event);
  await pending;
  return asked;
}"""
REGISTER_WORKER = """async () => {
  await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  await navigator.serviceWorker.ready;
}"""


def key_bytes(key: str) -> list[int]:
    return list(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)))


def service_worker(tab: Tab, url: str) -> Any:
    """Playwright's handle on the running worker (Chromium reports it to the context)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [w for w in tab.page.context.service_workers if w.url == url]
        if found:
            return found[0]
        tab.page.wait_for_timeout(50)  # lets Playwright take in the worker's report
    raise AssertionError("the service worker was not reported")


def test_mute_and_settings_follow_on_the_persons_other_page(chat: Chat, browser: Any) -> None:
    ivo = person(chat, "ivo")
    room = chat.channel("followed", members=(ivo["token"],))
    laptop = chat.tab(browser, ivo["username"])
    phone = chat.tab(browser, ivo["username"])
    open_channel(laptop, chat, room["id"])
    open_channel(phone, chat, room["id"])
    on_phone = sidebar_link(phone, room["name"])
    expect(on_phone.locator(".muted-mark")).to_have_count(0)

    # Muted on the laptop: the phone's list and menu say so without a reload.
    laptop.page.get_by_role("button", name="Channel options", exact=True).click()
    menu = laptop.page.get_by_role("menu", name="Channel options")
    menu.get_by_role("menuitem", name="Mute channel").click()
    expect(on_phone.locator(".muted-mark")).to_be_visible()
    expect(phone.page.get_by_role("button", name="Channel options (muted)")).to_be_visible()

    # The phone's Settings show a level saved elsewhere (here through the API).
    dialog = open_settings(phone)
    notifications = section(dialog, "Notifications")
    expect(
        notifications.get_by_role("radio", name=re.compile("^Direct messages, mentions"))
    ).to_be_checked()
    r = httpx.put(
        f"{chat.url}{PREFS}",
        headers={"Authorization": f"Bearer {ivo['token']}"},
        json={"level": "all", "email": False},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    expect(notifications.get_by_role("radio", name="All new messages")).to_be_checked()
    expect(notifications.get_by_label(re.compile("^Email me"))).not_to_be_checked()

    # Unmuted on the phone: the laptop follows.
    phone.page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    phone.page.get_by_role("button", name="Channel options (muted)").click()
    menu = phone.page.get_by_role("menu", name="Channel options (muted)")
    menu.get_by_role("menuitem", name="Unmute channel").click()
    expect(sidebar_link(laptop, room["name"]).locator(".muted-mark")).to_have_count(0)
    no_problems(laptop, phone)


def test_the_badge_and_shown_notifications_follow_reads_elsewhere(chat: Chat, browser: Any) -> None:
    gil = person(chat, "gil")
    lobby = chat.channel("lobby", members=(gil["token"],))
    room = chat.channel("badged", members=(gil["token"],))
    tab = chat.tab(browser, gil["username"])
    tab.page.context.grant_permissions(["notifications"], origin=chat.url)
    tab.page.context.add_init_script(RECORD_BADGE)
    open_channel(tab, chat, lobby["id"])
    tab.page.evaluate(REGISTER_WORKER)

    def calls() -> list[int]:
        return list(tab.page.evaluate("[...window.badgeCalls]"))

    eventually(lambda: calls()[-1:] == [0])  # nothing unread: cleared

    mention = chat.send(chat.ada, room["id"], f"@{gil['username']} look at this")
    dm = chat.post("/api/channels/direct", chat.ada, {"user_ids": [gil["id"]]})
    direct = chat.send(chat.ada, dm["id"], "and this")
    eventually(lambda: calls()[-1:] == [2])

    # What the worker showed for the two (as the server's pushes would be).
    cdp, registration = worker_registration_id(tab, f"{chat.url}/")
    for channel, message in ((room, mention), (dm, direct)):
        payload = {
            "title": "Ada Owner",
            "body": message["text"],
            "badge": 2,
            "tag": message["id"],
            "data": {"type": "message", "channel_id": channel["id"], "message_id": message["id"]},
        }
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": chat.url, "registrationId": registration, "data": json.dumps(payload)},
        )

    def shown_tags() -> list[str]:
        return sorted(n["tag"] for n in tab.page.evaluate(SHOWN))

    eventually(lambda: shown_tags() == sorted([mention["id"], direct["id"]]))

    # Read on another device: the badge counts one, the channel's notification closes.
    chat.post(f"/api/channels/{room['id']}/read", gil["token"], {"message_id": mention["id"]})
    eventually(lambda: calls()[-1:] == [1])
    eventually(lambda: shown_tags() == [direct["id"]])
    chat.post(f"/api/channels/{dm['id']}/read", gil["token"], {"message_id": direct["id"]})
    eventually(lambda: calls()[-1:] == [0])
    eventually(lambda: shown_tags() == [])
    no_problems(tab)


def test_a_renewed_subscription_is_registered_again(
    chat: Chat, browser: Any, push_service: PushService
) -> None:
    hal = person(chat, "hal")
    first, renewed, later = (push_service.subscribe() for _ in range(3))
    tab = chat.tab(browser, hal["username"])
    context = tab.page.context
    context.grant_permissions(["notifications"], origin=chat.url)
    context.add_init_script(RENEWABLE_PUSH_MANAGER % json.dumps(first.json()))
    page = tab.page
    page.goto(chat.url)
    dialog = open_settings(tab)
    here = section(dialog, "Notifications in this browser")
    here.get_by_role("button", name="Enable browser notifications").click()
    expect(here.get_by_role("status")).to_contain_text("On:")

    def endpoints() -> list[str]:
        return [d["endpoint"] for d in chat.get("/api/push/devices", hal["token"])["devices"]]

    assert endpoints() == [first.endpoint]

    # The browser renews the subscription while the page is open: the worker subscribes
    # again with the same server key and tells the page, which registers the new one in
    # place of the old.
    page.evaluate("(sub) => localStorage.setItem('test.current', sub)", json.dumps(renewed.json()))
    worker = service_worker(tab, f"{chat.url}/sw.js")
    key = chat.get("/api/push/vapid-public-key", hal["token"])["public_key"]
    assert worker.evaluate(RENEW_IN_WORKER, key_bytes(key)) == [key_bytes(key)]
    eventually(lambda: endpoints() == [renewed.endpoint])

    # Renewed while no page was open: the next start finds it.
    page.evaluate("(sub) => localStorage.setItem('test.current', sub)", json.dumps(later.json()))
    page.goto("about:blank")
    page.goto(chat.url)
    eventually(lambda: endpoints() == [later.endpoint])

    # Removed from another device: the next start forgets it here rather than bring it back.
    device = page.evaluate("localStorage.getItem('nchat.push_device')")
    r = httpx.delete(
        f"{chat.url}/api/push/unregister",
        params={"device_id": device},
        headers={"Authorization": f"Bearer {hal['token']}"},
        timeout=10,
    )
    assert r.status_code == 204, r.text
    page.reload()
    eventually(lambda: page.evaluate("localStorage.getItem('nchat.push_registered')") is None)
    assert endpoints() == []
    no_problems(tab)
