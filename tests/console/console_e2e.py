#!/usr/bin/env python3
"""The web console in a real browser: Playwright (sync API) drives Debian's Chromium against a
running `trove serve`, like a person would, step by step, with a full-page screenshot after
each step in --shots.

    console_e2e.py --url http://127.0.0.1:PORT --admin-key trove_... --shots DIR

tests/e2e/console.rs starts the server and runs this script; scripts/test.sh installs
Chromium (apt) and Playwright (./.venv). Setup that is not the point of a step (a reader
service account, its grant and key) goes through the HTTP API with the admin key.

Exits 0 when every step passed; on the first failure it saves failure.png in --shots, says
which step failed and why, and exits 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urljoin, urlparse

from playwright.sync_api import (
    Browser,
    BrowserContext,
    Dialog,
    Page,
    Response,
    expect,
    sync_playwright,
)

CHROMIUM = "/usr/bin/chromium"
# Needed on the test machines: no sandbox (containers), no GPU, and nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
assert len(EICAR) == 68, "the EICAR test string is 68 bytes"

REPO = "files"
BIG_PACKAGE, BIG_VERSION, BIG_FILENAME = "big-file", "1.0.0", "big-file.bin"
BIG_SIZE = 20 * 1024 * 1024
EICAR_PACKAGE, EICAR_VERSION, EICAR_FILENAME = "eicar", "1.0.0", "eicar.com"

DEFAULT_TIMEOUT_MS = 15_000
NAVIGATION_TIMEOUT_MS = 30_000
UPLOAD_TIMEOUT_S = 120
REVOCATION_TIMEOUT_S = 15
AUDIT_TIMEOUT_S = 10


class Failure(Exception):
    """A step's expectation that did not hold."""


def check(condition: Any, message: str) -> None:
    if not condition:
        raise Failure(message)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Api:
    """The HTTP API, for setup: JSON in and out, no proxy, no redirects followed."""

    def __init__(self, base: str, key: str) -> None:
        self.base = base
        self.key = key

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        # Loopback only: no proxy from the environment may stand in between.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect())

    def call(
        self, method: str, path: str, body: Any = None, key: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {key or self.key}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=30) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            value = json.loads(raw) if raw else None
        except ValueError:
            value = raw.decode("utf-8", "replace")
        return status, value

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, value = self.call(method, path, body)
        check(200 <= status < 300, f"API {method} {path} answered {status}: {value}")
        return value


class Run:
    """One run: the browser, the contexts it opened, and what pages reported."""

    def __init__(self, args: argparse.Namespace, browser: Browser, workdir: Path) -> None:
        self.base = args.url.rstrip("/")
        self.admin_key = args.admin_key
        self.shots = Path(args.shots)
        self.browser = browser
        self.workdir = workdir
        self.api = Api(self.base, self.admin_key)
        self.page: Page | None = None  # the page a failure screenshot shows
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        self.dialogs: list[str] = []
        self.rates_seen: list[str] = []
        # Shared between steps.
        self.admin: Page | None = None
        self.reader: Page | None = None
        self.reader_key_id = ""
        self.big_file: Path | None = None
        self.big_sha = ""
        self.version_path = f"/console/r/{REPO}/p/{BIG_PACKAGE}/v/{BIG_VERSION}"

    # --- helpers -------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.base + path

    def path_of(self, page: Page) -> str:
        return urlparse(page.url).path

    def new_page(self, **context_options: Any) -> Page:
        options: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
        options.update(context_options)
        context: BrowserContext = self.browser.new_context(**options)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        page = context.new_page()
        page.on("pageerror", lambda e: self.page_errors.append(f"{page.url}: {e}"))
        page.on(
            "console",
            lambda m: self.console_errors.append(f"{page.url}: {m.text}")
            if m.type == "error"
            else None,
        )
        page.on("dialog", self.accept_dialog)
        self.page = page
        return page

    def accept_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.accept()

    def goto(self, page: Page, path: str) -> Response:
        self.page = page
        resp = page.goto(self.url(path))
        check(resp is not None, f"no response for {path}")
        assert resp is not None
        return resp

    def shot(self, page: Page, name: str) -> None:
        page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def no_script_errors(self) -> None:
        """Uncaught exceptions and CSP violations mean a page's script is broken."""
        check(not self.page_errors, f"uncaught script errors: {self.page_errors}")
        csp = [m for m in self.console_errors if "Content Security Policy" in m]
        check(not csp, f"Content-Security-Policy violations: {csp}")

    def assert_security_headers(self, resp: Response, what: str) -> None:
        headers = resp.all_headers()
        csp = headers.get("content-security-policy", "")
        check(csp, f"{what}: no Content-Security-Policy header (headers: {headers})")
        check("frame-ancestors 'none'" in csp, f"{what}: CSP lacks frame-ancestors 'none': {csp!r}")
        check("script-src 'self'" in csp, f"{what}: CSP lacks script-src 'self': {csp!r}")
        nosniff = headers.get("x-content-type-options", "")
        check(
            nosniff.strip().lower() == "nosniff",
            f"{what}: X-Content-Type-Options is {nosniff!r}, not nosniff",
        )

    def submit_sign_in(self, page: Page, key: str) -> None:
        """Fills and submits the sign-in form; returns once the answer's page has loaded."""
        page.locator("form#sign-in input#api-key").fill(key)
        with page.expect_navigation():
            page.locator("form#sign-in").get_by_role("button", name="Sign in").click()

    def expect_signed_in(self, page: Page, who: str) -> None:
        """The page is the Repositories page a successful sign-in lands on."""
        if self.path_of(page) != "/console/":
            errors = page.locator(".error").all_inner_texts()
            raise Failure(f"signing in as {who} landed on {page.url}; errors shown: {errors}")
        self.expect_h1(page, "Repositories")

    def sign_in(self, page: Page, key: str, who: str) -> None:
        """Signs in through the form; lands on the Repositories page."""
        resp = self.goto(page, "/console/sign-in")
        check(resp.status == 200, f"/console/sign-in answered {resp.status}")
        self.submit_sign_in(page, key)
        self.expect_signed_in(page, who)

    def expect_h1(self, page: Page, text: str) -> None:
        """An h1 that says `text` first (a badge may follow it, as in "files generic")."""
        name = re.compile(rf"^\s*{re.escape(text)}(\s|$)")
        expect(page.get_by_role("heading", level=1, name=name)).to_have_count(1)

    def nav_link(self, page: Page, name: str):
        return page.locator("header.site nav").get_by_role("link", name=name, exact=True)

    def wait_upload_status(self, page: Page, done: Callable[[str], bool], what: str) -> str:
        """Polls p#upload-status until `done(text)`; fails early on an unexpected end state."""
        status = page.locator("p#upload-status")
        rate = page.locator("#upload-rate")
        self.rates_seen = []
        deadline = time.monotonic() + UPLOAD_TIMEOUT_S
        text = ""
        while True:
            if rate.count() == 1:
                shown = (rate.text_content() or "").strip()
                if shown and shown not in self.rates_seen:
                    self.rates_seen.append(shown)
            text = (status.text_content() or "").strip()
            if done(text):
                return text
            if text.endswith("published") or "rejected" in text.lower():
                raise Failure(f"{what}: upload ended as {text!r}")
            check(
                time.monotonic() < deadline,
                f"{what}: #upload-status still {text!r} after {UPLOAD_TIMEOUT_S} s",
            )
            self.no_script_errors()
            page.wait_for_timeout(250)

    def reader_setup(self) -> str:
        """A service account with the reader role on REPO and a key for it (API)."""
        account = self.api.ok("POST", "/v1/service-accounts", {"name": "console-reader"})
        check(isinstance(account, dict) and account.get("id"), f"service account: {account}")
        self.api.ok(
            "POST",
            "/v1/grants",
            {"principal": account["id"], "role": "reader", "scope": {"repository": REPO}},
        )
        key = self.api.ok("POST", "/v1/api-keys", {"owner": account["id"], "name": "reader"})
        check(isinstance(key, dict) and key.get("key") and key.get("id"), f"api key: {key}")
        self.reader_key_id = key["id"]
        return key["key"]

    # --- the steps -----------------------------------------------------------------------

    def step_sign_in(self) -> str:
        page = self.new_page()
        self.admin = page

        # B/ → /console/ → /console/sign-in, each a 303.
        resp = self.goto(page, "/")
        check(
            self.path_of(page) == "/console/sign-in",
            f"opening {self.base}/ without a session landed on {page.url}, not /console/sign-in",
        )
        hops = []
        request = resp.request.redirected_from
        while request is not None:
            hop = request.response()
            hops.append((request.url, hop.status if hop else None))
            request = request.redirected_from
        hops.reverse()
        check(hops, f"{self.base}/ was not redirected (final response {resp.status})")
        check(hops[0][0].rstrip("/") == self.base, f"first hop is {hops[0][0]}")
        for url, status in hops:
            check(status == 303, f"{url} redirected with {status}, not 303 (chain {hops})")
        check(resp.status == 200, f"sign-in page answered {resp.status}")
        self.assert_security_headers(resp, "sign-in page")

        key_input = page.locator("form#sign-in input#api-key")
        expect(key_input).to_have_attribute("type", "password")
        expect(page.get_by_label("API key", exact=True)).to_have_attribute("id", "api-key")

        # A wrong key is refused, on the sign-in page.
        self.submit_sign_in(page, "trove_not-a-key-0000000000000000000000")
        expect(page.locator(".error").filter(has_text="not accepted").first).to_be_visible()
        check(
            self.path_of(page) == "/console/sign-in",
            f"after a wrong key the browser is on {page.url}",
        )
        check(
            not [c for c in page.context.cookies() if c["name"] == "trove_session"],
            "a wrong key left a trove_session cookie",
        )

        # The admin key signs in: Repositories, empty.
        self.submit_sign_in(page, self.admin_key)
        self.expect_signed_in(page, "the admin")
        expect(page.locator(".empty").first).to_be_visible()
        check(page.locator("table#repositories a").count() == 0, "a new server lists repositories")

        # The session: HttpOnly, SameSite=Strict, out of reach of scripts.
        cookies = [c for c in page.context.cookies() if c["name"] == "trove_session"]
        check(len(cookies) == 1, f"expected one trove_session cookie, got {cookies}")
        cookie = cookies[0]
        check(cookie["value"], "trove_session is empty")
        check(cookie["httpOnly"], f"trove_session is not HttpOnly: {cookie}")
        check(cookie["sameSite"] == "Strict", f"trove_session is SameSite={cookie['sameSite']}")
        script_cookies = page.evaluate("document.cookie")
        check(
            "trove_session" not in script_cookies and cookie["value"] not in script_cookies,
            f"document.cookie shows the session: {script_cookies!r}",
        )

        # The header, and the security headers of a signed-in page.
        for name in ("Repositories", "Search", "API keys", "Admin"):
            expect(self.nav_link(page, name)).to_have_count(1)
        expect(page.locator("form.sign-out").get_by_role("button", name="Sign out")).to_have_count(1)
        resp = self.goto(page, "/console/")
        check(resp.status == 200, f"/console/ answered {resp.status} when signed in")
        self.assert_security_headers(resp, "/console/ signed in")
        expect(page.locator(".empty").first).to_be_visible()

        self.no_script_errors()
        self.shot(page, "01-sign-in")
        return "redirected to sign-in (303s), wrong key refused, admin signed in, cookie HttpOnly+Strict"

    def step_repositories(self) -> str:
        page = self.page = self.admin
        assert page is not None
        self.goto(page, "/console/")
        form = page.locator("form#create-repository")
        expect(form).to_be_visible()
        options = page.locator("form#create-repository select#repo-format option").evaluate_all(
            "os => os.map(o => [o.value, o.textContent.trim()])"
        )
        offered = {v for pair in options for v in pair}
        for fmt in ("generic", "pypi", "npm", "cargo"):
            check(fmt in offered, f"select#repo-format does not offer {fmt}: {options}")

        form.locator("input#repo-name").fill(REPO)
        form.locator("select#repo-format").select_option("generic")
        form.get_by_role("button", name="Create repository").click()
        link = page.locator(f'table#repositories a[href="/console/r/{REPO}"]')
        expect(link).to_have_count(1)
        expect(link).to_be_visible()
        self.expect_h1(page, "Repositories")

        self.no_script_errors()
        self.shot(page, "02-repositories")
        return f"created repository {REPO!r} (generic) through the form; it is listed"

    def step_upload(self) -> str:
        page = self.page = self.admin
        assert page is not None
        link = page.locator(f'table#repositories a[href="/console/r/{REPO}"]')
        link.click()
        page.wait_for_url(self.url(f"/console/r/{REPO}"))
        self.expect_h1(page, REPO)
        check(
            page.locator("table#packages").count() + page.locator(".empty").count() >= 1,
            "the repository page has neither table#packages nor .empty",
        )
        expect(page.locator("table#packages a")).to_have_count(0)

        # Setup snippets for a generic repository: curl and trove push, naming the repository.
        snippets = page.locator("section#setup pre.snippet").all_text_contents()
        check(snippets, "section#setup has no pre.snippet")
        check(
            any("curl" in s and REPO in s for s in snippets),
            f"no curl snippet mentioning {REPO!r}: {snippets}",
        )
        check(
            any("trove push" in s and REPO in s for s in snippets),
            f"no `trove push` snippet mentioning {REPO!r}: {snippets}",
        )

        upload = page.locator(f'section#upload[data-repo="{REPO}"]')
        expect(upload).to_have_count(1)
        for selector in (
            "input#file[type=file]",
            "#drop-zone",
            "input#package",
            "input#version",
            "button#upload-button",
            "progress#upload-progress",
            "#upload-rate",
            "p#upload-status",
            "a#upload-result",
        ):
            expect(upload.locator(selector)).to_have_count(1)
        expect(upload.locator("progress#upload-progress")).to_have_attribute("max", "100")
        expect(upload.locator("a#upload-result")).to_be_hidden()

        # 20 MiB of random bytes, from a file on disk.
        big = self.workdir / BIG_FILENAME
        big.write_bytes(os.urandom(BIG_SIZE))
        self.big_file, self.big_sha = big, sha256_file(big)

        upload.locator("input#file").set_input_files(str(big))
        upload.locator("input#package").fill(BIG_PACKAGE)
        upload.locator("input#version").fill(BIG_VERSION)
        started = time.monotonic()
        upload.locator("button#upload-button").click()
        status = self.wait_upload_status(
            page, lambda t: t.endswith("published"), f"upload of {BIG_FILENAME}"
        )
        took = time.monotonic() - started

        progress = page.locator("progress#upload-progress").evaluate("p => p.value")
        check(progress == 100, f"#upload-progress is {progress} once published, not 100")
        rate = (page.locator("#upload-rate").text_content() or "").strip()
        check(
            "/s" in rate,
            f"#upload-rate shows {rate!r} once published, no rate per second "
            f"(shown during the upload: {self.rates_seen[-5:]})",
        )
        result = page.locator("a#upload-result")
        expect(result).to_be_visible()
        href = result.get_attribute("href") or ""
        check(
            urlparse(urljoin(page.url, href)).path == self.version_path,
            f"#upload-result links to {href!r}, not {self.version_path}",
        )

        self.no_script_errors()
        self.shot(page, "03-upload")
        return f"uploaded {BIG_SIZE >> 20} MiB in {took:.1f} s: {status!r}, rate {rate!r}"

    def step_version(self) -> str:
        page = self.page = self.admin
        assert page is not None and self.big_file is not None
        page.locator("a#upload-result").click()
        page.wait_for_url(self.url(self.version_path))

        rows = page.locator("table#files tr:has(td)")
        expect(rows).to_have_count(1)
        row = rows.first
        expect(row).to_contain_text(BIG_FILENAME)
        expect(row.locator("code", has_text=self.big_sha)).to_have_count(1)
        expect(row.locator("button.copy")).to_have_attribute("data-copy", self.big_sha)
        download = row.locator("a.download")
        expect(download).to_have_count(1)
        href = download.get_attribute("href") or ""
        check(
            urlparse(urljoin(page.url, href)).path.startswith("/console/download/"),
            f"a.download links to {href!r}, not under /console/download/",
        )
        target = urljoin(page.url, href)

        # The session cookie opens the download: a redirect to a presigned URL, then the bytes.
        first = page.request.get(target, max_redirects=0)
        check(
            300 <= first.status < 400 and first.headers.get("location"),
            f"GET {href} answered {first.status}, not a redirect to the bytes",
        )
        body = page.request.get(target, timeout=120_000)
        check(body.ok, f"following {href} ended with {body.status}")
        data = body.body()
        check(len(data) == BIG_SIZE, f"downloaded {len(data)} bytes, uploaded {BIG_SIZE}")
        check(sha256_hex(data) == self.big_sha, "the downloaded bytes differ from the upload")

        self.no_script_errors()
        self.shot(page, "04-version")
        return f"version page shows sha256 {self.big_sha[:12]}…, download matches ({len(data)} bytes)"

    def step_eicar(self) -> str:
        page = self.page = self.admin
        assert page is not None
        self.goto(page, f"/console/r/{REPO}")
        expect(page.locator(f'table#packages a[href="/console/r/{REPO}/p/{BIG_PACKAGE}"]')).to_have_count(1)

        upload = page.locator(f'section#upload[data-repo="{REPO}"]')
        upload.locator("input#file").set_input_files(
            files=[{"name": EICAR_FILENAME, "mimeType": "application/octet-stream", "buffer": EICAR}]
        )
        upload.locator("input#package").fill(EICAR_PACKAGE)
        upload.locator("input#version").fill(EICAR_VERSION)
        upload.locator("button#upload-button").click()
        status = self.wait_upload_status(
            page, lambda t: t.startswith("rejected:"), f"upload of {EICAR_FILENAME}"
        )
        check("EICAR" in status, f"the rejection does not name the EICAR rule: {status!r}")
        expect(page.locator("a#upload-result")).to_be_hidden()

        self.no_script_errors()
        self.shot(page, "05-eicar")
        return f"EICAR upload refused: {status!r}"

    def step_keys(self) -> str:
        page = self.page = self.admin
        assert page is not None
        self.goto(page, "/console/keys")
        expect(page.locator("table#keys")).to_be_visible()
        form = page.locator("form#create-key")
        form.locator("input#key-name").fill("laptop")
        # A key is made with a key: the session's token alone may not outlive itself.
        form.locator("input#confirm-key").fill("not-a-key")
        form.get_by_role("button", name="Create key").click()
        expect(page.locator(".error")).to_contain_text("not a live key of yours")
        expect(page.locator("#new-key")).to_have_count(0)
        form = page.locator("form#create-key")
        form.locator("input#key-name").fill("laptop")
        form.locator("input#confirm-key").fill(self.admin_key)
        form.get_by_role("button", name="Create key").click()

        secret_code = page.locator("#new-key code")
        expect(secret_code).to_have_count(1)
        secret = (secret_code.text_content() or "").strip()
        check(len(secret) >= 20, f"#new-key code shows {secret!r}, not a key")
        expect(page.locator("#new-key button.copy")).to_have_count(1)
        status, _ = self.api.call("GET", "/v1/repositories", key=secret)
        check(status == 200, f"the key the console showed does not work on the API ({status})")
        self.shot(page, "06-keys")

        # Shown once: a fresh GET of the page no longer has it.
        self.goto(page, "/console/keys")
        check(secret not in page.content(), "the new key's secret is still in the page's HTML")
        laptop = page.locator("table#keys tr", has_text="laptop")
        expect(laptop).to_have_count(1)

        # Revoke it from the table: the form asks first (data-confirm), the dialog is accepted.
        revoke = laptop.locator("form.revoke")
        expect(revoke).to_have_count(1)
        check(revoke.get_attribute("data-confirm") is not None, "form.revoke has no data-confirm")
        dialogs_before = len(self.dialogs)
        revoke.get_by_role("button", name="Revoke").click()
        page.wait_for_load_state()
        check(len(self.dialogs) > dialogs_before, "Revoke did not ask for confirmation")
        self.goto(page, "/console/keys")
        laptop = page.locator("table#keys tr", has_text="laptop")
        check(
            laptop.count() == 0
            or ("revoked" in (laptop.first.text_content() or "").lower()
                and laptop.first.locator("form.revoke").count() == 0),
            "the revoked key is still listed as active",
        )
        deadline = time.monotonic() + REVOCATION_TIMEOUT_S
        while True:
            status, _ = self.api.call("GET", "/v1/repositories", key=secret)
            if status in (401, 403):
                break
            check(
                time.monotonic() < deadline,
                f"the revoked key still answers {status} after {REVOCATION_TIMEOUT_S} s",
            )
            time.sleep(0.5)

        self.no_script_errors()
        return "key 'laptop' created, secret shown once and working, gone on reload, revoked"

    def step_reader(self) -> str:
        reader_key = self.reader_setup()
        page = self.new_page()
        self.reader = page
        self.sign_in(page, reader_key, "the reader")
        expect(page.locator(f'table#repositories a[href="/console/r/{REPO}"]')).to_have_count(1)
        expect(self.nav_link(page, "Admin")).to_have_count(0)
        expect(self.nav_link(page, "Repositories")).to_have_count(1)

        resp = self.goto(page, "/console/admin")
        check(resp.status in (403, 404), f"/console/admin answered {resp.status} to a reader")

        self.goto(page, f"/console/r/{REPO}")
        self.expect_h1(page, REPO)
        expect(page.locator(f'table#packages a[href="/console/r/{REPO}/p/{BIG_PACKAGE}"]')).to_have_count(1)
        expect(page.locator("section#setup pre.snippet").first).to_be_visible()
        expect(page.locator("section#upload")).to_have_count(0)

        self.no_script_errors()
        self.shot(page, "07-reader")
        return f"reader sees {REPO!r} without upload or Admin; /console/admin answers {resp.status}"

    def step_revoked(self) -> str:
        page = self.page = self.reader
        assert page is not None
        self.goto(page, "/console/")
        check(self.path_of(page) == "/console/", f"the reader is not signed in: {page.url}")

        self.api.ok("DELETE", f"/v1/api-keys/{self.reader_key_id}")
        revoked_at = time.monotonic()
        while True:
            self.goto(page, "/console/")
            if self.path_of(page) == "/console/sign-in":
                break
            check(
                time.monotonic() - revoked_at < REVOCATION_TIMEOUT_S,
                f"{REVOCATION_TIMEOUT_S} s after its key was revoked the reader still sees {page.url}",
            )
            page.wait_for_timeout(1000)
        took = time.monotonic() - revoked_at
        expect(page.locator("form#sign-in")).to_be_visible()

        self.no_script_errors()
        self.shot(page, "08-revoked")
        return f"the reader's session ended {took:.1f} s after its key was revoked"

    def step_mobile(self) -> str:
        page = self.new_page(viewport={"width": 360, "height": 740}, color_scheme="dark")
        self.sign_in(page, self.admin_key, "the admin")

        def page_width() -> int:
            return page.evaluate("document.documentElement.scrollWidth")

        self.goto(page, self.version_path)
        expect(page.locator("table#files tr:has(td)")).to_have_count(1)
        version_width = page_width()
        self.shot(page, "09-mobile")
        check(
            version_width <= 361,
            f"the version page is {version_width} px wide on a 360 px screen",
        )

        self.goto(page, "/console/")
        expect(page.locator(f'table#repositories a[href="/console/r/{REPO}"]')).to_have_count(1)
        width = page_width()
        check(width <= 361, f"the repositories page is {width} px wide on a 360 px screen")

        self.no_script_errors()
        page.context.close()
        return f"360×740 dark: version page {version_width} px, repositories {width} px wide"

    def step_keyboard(self) -> str:
        page = self.new_page()
        self.goto(page, "/console/sign-in")
        presses = 0
        while page.evaluate("document.activeElement && document.activeElement.id") != "api-key":
            check(presses < 5, "5 presses of Tab did not reach #api-key")
            page.keyboard.press("Tab")
            presses += 1
        page.keyboard.type(self.admin_key)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        self.expect_signed_in(page, "the admin, by keyboard")
        self.shot(page, "10-keyboard")

        # Signing out ends the session.
        page.locator("form.sign-out").get_by_role("button", name="Sign out").click()
        page.wait_for_load_state()
        self.goto(page, "/console/")
        check(self.path_of(page) == "/console/sign-in", f"after signing out /console/ is {page.url}")

        self.no_script_errors()
        page.context.close()
        return f"signed in with the keyboard only ({presses} Tab), then signed out"

    def step_audit(self) -> str:
        page = self.page = self.admin
        assert page is not None
        resp = self.goto(page, "/console/admin")
        check(resp.status == 200, f"/console/admin answered {resp.status} to the admin")
        # Each link by where it leads, however its href is written.
        links = page.locator("a[href]").evaluate_all(
            "as => as.map(a => [a.getAttribute('href'), new URL(a.href).pathname])"
        )
        leads = {path.rstrip("/"): href for href, path in links}
        for section in ("users", "groups", "grants", "audit", "webhooks", "reports"):
            check(
                f"/console/admin/{section}" in leads,
                f"/console/admin has no link to /console/admin/{section}: {sorted(leads)}",
            )
        page.locator(f"a[href={json.dumps(leads['/console/admin/audit'])}]").first.click()
        page.wait_for_url(self.url("/console/admin/audit"))

        deadline = time.monotonic() + AUDIT_TIMEOUT_S
        while True:
            rows = page.locator("table#audit tr", has_text="upload.reject").filter(
                has_text="EICAR"
            )
            if rows.count() >= 1:
                break
            check(
                time.monotonic() < deadline,
                "no upload.reject row naming EICAR in table#audit",
            )
            page.wait_for_timeout(1000)
            self.goto(page, "/console/admin/audit")
        row_text = " ".join(rows.first.inner_text().split())

        self.no_script_errors()
        self.shot(page, "11-audit")
        return f"audit shows: {row_text[:200]}"


STEPS = [
    ("01-sign-in", Run.step_sign_in),
    ("02-repositories", Run.step_repositories),
    ("03-upload", Run.step_upload),
    ("04-version", Run.step_version),
    ("05-eicar", Run.step_eicar),
    ("06-keys", Run.step_keys),
    ("07-reader", Run.step_reader),
    ("08-revoked", Run.step_revoked),
    ("09-mobile", Run.step_mobile),
    ("10-keyboard", Run.step_keyboard),
    ("11-audit", Run.step_audit),
]


def report_failure(run: Run, name: str, error: BaseException) -> None:
    print(f"FAIL {name}: {type(error).__name__}: {error}", flush=True)
    page = run.page
    if page is not None and not page.is_closed():
        try:
            page.screenshot(path=str(run.shots / "failure.png"), full_page=True)
            print(f"  page: {page.url} (screenshot: {run.shots / 'failure.png'})")
            text = " ".join(page.locator("body").inner_text(timeout=2000).split())
            print(f"  page text: {text[:1500]}")
        except Exception as e:  # the page may be gone with the browser
            print(f"  no failure screenshot: {e}")
    if run.page_errors:
        print(f"  script errors: {run.page_errors}")
    if run.console_errors:
        print(f"  console errors: {run.console_errors[-20:]}")
    if run.dialogs:
        print(f"  dialogs: {run.dialogs}")
    here = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == __file__]
    for frame in here[1:]:  # the first is the loop in main
        print(f"  at {Path(frame.filename).name}:{frame.lineno} in {frame.name}: {frame.line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="base URL of a running trove serve")
    parser.add_argument("--admin-key", required=True, help="an API key of a tenant admin")
    parser.add_argument("--shots", required=True, help="folder for the screenshots")
    args = parser.parse_args()
    Path(args.shots).mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="trove-console-e2e-") as tmp, sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
        except Exception as error:
            print(f"FAIL cannot launch {CHROMIUM} (scripts/test.sh installs it): {error}")
            return 1
        run = Run(args, browser, Path(tmp))
        try:
            for name, step in STEPS:
                started = time.monotonic()
                try:
                    summary = step(run)
                except Exception as error:
                    report_failure(run, name, error)
                    return 1
                print(f"ok   {name} ({time.monotonic() - started:.1f} s): {summary}", flush=True)
        finally:
            browser.close()
    print(f"all {len(STEPS)} console steps passed; screenshots in {args.shots}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
