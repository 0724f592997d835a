"""The dashboard against a real coordinator: over HTTP (login, sessions, CSRF, roles, paging,
one-time links) and in a real browser (Debian's chromium, headless, over the DevTools protocol)
with two agents, a throttled pull whose progress moves, and a llama.cpp deployment.

LLMESH_DASHBOARD_SCREENSHOTS=docs saves the browser test's screenshots there (the README's)."""
import json
import os
import ssl
import time
import urllib.error
import urllib.request
from http import cookies
from pathlib import Path

import nvml_fake
import pytest
from browser import Browser, find_chromium, spki_hash
from factories import write_big_safetensors
from harness import free_port, version_of
from tokenizers_for_tests import make_runnable_llama

MIB = 1024 * 1024
GIB = 1024 * MIB
GPUS = [dict(name="NVIDIA GeForce RTX 5060 Ti", uuid="GPU-5060", memory_total=16 * GIB, memory_used=5 * GIB,
             utilization=37, temperature=58, power_mw=95_000)]


class Client:
    """urllib with a cookie of its own and no redirects followed: each answer as it came."""

    def __init__(self, mesh):
        self.base = f"https://{mesh.endpoint['http_address']}"
        ca = json.loads((mesh.base / "coord-home" / "credentials.json").read_text())["ca_pem"]
        context = ssl.create_default_context(cadata=ca)

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        self.opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=context))
        self.session = ""
        self.csrf = ""

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        if self.session:
            headers["Cookie"] = f"llmesh_session={self.session}"
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=60) as reply:
                return reply.status, reply.headers, reply.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read().decode()

    def login(self, token: str):
        status, headers, body = self.request("POST", "/login", f"token={token}".encode(),
                                             {"Content-Type": "application/x-www-form-urlencoded"})
        if status == 303:
            self.take_cookie(headers)
            self.csrf = self.json("/api/me")[1]["csrf"]
        return status, headers, body

    def take_cookie(self, headers) -> str:
        raw = headers["Set-Cookie"]
        jar = cookies.SimpleCookie()
        jar.load(raw)
        self.session = jar["llmesh_session"].value
        return raw

    def json(self, path: str):
        status, _, body = self.request("GET", path)
        return status, json.loads(body) if body.startswith("{") else body

    def post(self, path: str, data: dict, csrf: str | None = None):
        headers = {"Content-Type": "application/json"}
        if csrf is not None:
            headers["X-CSRF-Token"] = csrf
        status, _, body = self.request("POST", path, json.dumps(data).encode(), headers)
        return status, json.loads(body)


def admin_token(mesh) -> str:
    return json.loads((mesh.base / "coord-home" / "credentials.json").read_text())["token"]


def test_logins_roles_csrf_and_pages_over_http(mesh, tmp_path):
    mesh.start_coordinator(extra=["--http-listen", f"127.0.0.1:{free_port()}"])
    models = [{"name": f"bulk-{i:03d}", "backend": "ollama", "roles": ["chat"]} for i in range(120)]
    (tmp_path / "model_registry.json").write_text(json.dumps({"models": models}))
    mesh.meshctl("registry", "import", str(tmp_path / "model_registry.json"))
    viewer_token = mesh.meshctl("user", "add", "vera", "--role", "viewer").stdout.strip()
    web = Client(mesh)

    # Not logged in: the page sends you to the login form; the JSON says 401.
    status, headers, _ = web.request("GET", "/")
    assert status == 303 and headers["Location"] == "/login"
    status, _, page = web.request("GET", "/login")
    assert status == 200 and 'name="token"' in page and "<script" not in page
    assert web.json("/api/hosts")[0] == 401
    # A wrong token gets the login page again, saying so.
    for wrong in ("garbage", "L10" + "0" * 64 + "::not-a-token"):
        status, _, page = web.login(wrong)
        assert status == 401 and 'id="login-error"' in page and 'name="token"' in page
    assert not web.session

    # The admin logs in: a session cookie the page's scripts cannot read, sent to this site only.
    status, headers, _ = web.login(admin_token(mesh))
    assert status == 303 and headers["Location"] == "/"
    assert {"HttpOnly", "Secure", "SameSite=Strict", "Path=/"} <= {p.strip() for p in headers["Set-Cookie"].split(";")}
    assert web.request("GET", "/")[0] == 200
    status, me = web.json("/api/me")
    assert status == 200 and me["role"] == "admin" and me["can"] == {"cancel_job": True, "audit": True}
    for asset in ("/static/app.js", "/static/style.css"):
        assert web.request("GET", asset)[0] == 200

    # Pages of 50, found with the catalog's query language.
    first = web.json("/api/models")[1]
    assert len(first["items"]) == 50 and first["more"] and first["items"][0]["ref"] == "bulk-000:1"
    last = web.json("/api/models?offset=100")[1]
    assert [v["ref"] for v in last["items"]] == [f"bulk-{i:03d}:1" for i in range(100, 120)] and not last["more"]
    found = web.json("/api/models?q=" + urllib.request.quote("name = 'bulk-007' OR name = 'bulk-042'"))[1]
    assert [v["ref"] for v in found["items"]] == ["bulk-007:1", "bulk-042:1"]
    status, bad = web.json("/api/models?q=" + urllib.request.quote("name =="))
    assert status == 400 and bad["error"]
    assert web.json("/api/models?limit=100000")[0] == 400
    events = web.json("/api/events?q=registry")[1]
    assert events["items"] and all("registry" in (e["action"] + e["resource"] + e["actor"]) for e in events["items"])
    assert web.json("/api/audit")[0] == 200

    # Writes need the session's CSRF token, then the role; an unknown job is a plain 404.
    assert web.post("/api/cancel_job", {"job": "nope"})[0] == 403
    assert web.post("/api/cancel_job", {"job": "nope"}, csrf="wrong")[0] == 403
    status, body = web.post("/api/cancel_job", {"job": "nope"}, csrf=web.csrf)
    assert status == 404, body

    # A viewer reads, and is refused the write and the audit log (their roles are the CLI's).
    viewer = Client(mesh)
    assert viewer.login(viewer_token)[0] == 303
    assert viewer.json("/api/me")[1]["can"] == {"cancel_job": False, "audit": False}
    assert viewer.json("/api/hosts")[0] == 200
    assert viewer.json("/api/audit")[0] == 403
    status, body = viewer.post("/api/cancel_job", {"job": "nope"}, csrf=viewer.csrf)
    assert status == 403 and "operator" in body["error"]

    # The audit view is `meshctl audit`: its rows through the same call, filtered as it filters (not
    # the events view's rows: those take no actor, action or since).
    assert mesh.meshctl("user", "add", "eve", "--role", "viewer", env={"LLMESH_TOKEN": viewer_token}, check=False).returncode == 1
    cli = mesh.json("audit", "--limit", "1000")
    page = web.json("/api/audit?limit=200")[1]
    assert [e["id"] for e in page["items"]] == [e["id"] for e in cli[:200]] and page["items"][0] == cli[0]
    assert {e["actor"] for e in cli} >= {"vera", cli[-1]["actor"]} and len({e["actor"] for e in cli}) > 1
    only_vera = web.json("/api/audit?actor=vera")[1]["items"]
    assert only_vera == mesh.json("audit", "--actor", "vera")
    assert [(e["action"], e["result"], e["role"]) for e in only_vera] == [("rpc.refused", "denied", "viewer")]
    users = web.json("/api/audit?action=user")[1]["items"]  # an action, or a family of them
    assert users == [e for e in cli if e["action"].startswith("user.")] and users
    assert web.json("/api/audit?action=user.add")[1]["items"] == [e for e in cli if e["action"] == "user.add"]
    assert web.json("/api/audit?since=1h")[1]["items"] == cli[:50]
    assert web.json("/api/audit?limit=1&offset=1")[1]["items"] == cli[1:2]
    for bad_since in ("lately", "-1h"):  # the CLI's one duration syntax: a negative one is a mistake
        status, bad = web.json("/api/audit?since=" + urllib.request.quote(bad_since))
        assert status == 400 and f"invalid duration '{bad_since}'" in bad["error"]

    # A one-time login link (meshctl dashboard): good once, then the login page.
    printed = mesh.meshctl("dashboard", "--print", env={"LLMESH_TOKEN": viewer_token}).stdout.strip()
    assert printed.startswith(web.base + "/login?code=")
    link = Client(mesh)
    status, headers, page = link.request("GET", printed[len(link.base):])
    assert status == 200 and 'http-equiv="refresh"' in page
    link.take_cookie(headers)
    assert link.json("/api/me")[1]["name"] == "vera"
    again = Client(mesh)
    status, _, page = again.request("GET", printed[len(again.base):])
    assert status == 401 and 'id="login-error"' in page and "Set-Cookie" not in str(_)
    as_json = json.loads(mesh.meshctl("dashboard", "--json", "--view", "jobs").stdout)
    assert as_json["url"].endswith("&view=jobs")
    bad = mesh.meshctl("dashboard", "--print", env={"LLMESH_TOKEN": "L10" + "0" * 64 + "::x"}, check=False)
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr

    # Logging out ends the session on the server, not only in the browser.
    status, _, _ = viewer.request("POST", "/logout", f"csrf={viewer.csrf}".encode(),
                                  {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303
    assert viewer.json("/api/me")[0] == 401
    # A user who is removed loses their sessions too.
    mesh.meshctl("user", "rm", "vera")
    assert link.json("/api/me")[0] == 401


# -- in a real browser ---------------------------------------------------------------------------

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (the Makefile's "
                                    "system-packages step installs it on Debian as root)")


def shots_dir(tmp_path: Path) -> Path:
    target = os.environ.get("LLMESH_DASHBOARD_SCREENSHOTS")
    path = Path(target).resolve() if target else tmp_path / "shots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@needs_chromium
def test_the_dashboard_in_chromium(mesh, tmp_path):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is a test dependency (pyproject [test])")
    mesh.start_coordinator(extra=["--http-listen", f"127.0.0.1:{free_port()}", "--piece-size", str(MIB)])
    alpha, beta = tmp_path / "alpha", tmp_path / "beta"
    make_runnable_llama(alpha / "tiny-llama", seed=1)
    write_big_safetensors(alpha / "big" / "model.safetensors", 32 * MIB, seed=5)
    (alpha / "big" / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    beta.mkdir()
    # alpha sends slowly (every stream throttled), so the pull below is still moving while we look;
    # it has a GPU where a C compiler can build the NVML stand-in (tests/nvml_stub).
    alpha_env, has_gpu = {"LLMESH_TEST_THROTTLE_BPS": str(256 * 1024)}, nvml_fake.find_c_compiler() is not None
    if has_gpu:
        gpu_env = nvml_fake.fake_nvml_env(nvml_fake.build_fake_nvml(tmp_path, GPUS), {})
        alpha_env.update({k: gpu_env[k] for k in ("LD_LIBRARY_PATH", "FAKE_NVML_CONFIG")})
    mesh.start_agent("alpha", [alpha], env=alpha_env)
    mesh.start_agent("beta", [beta])
    mesh.wait_host("alpha")
    mesh.wait_host("beta")
    mesh.wait_models(lambda rows: version_of(rows, "tiny-llama") and version_of(rows, "big"))
    deployed = json.loads(mesh.meshctl("models", "deploy", "tiny-llama", "llamacpp", "--on", "alpha",
                                       "--quant", "Q8_0", "--json", timeout=900).stdout)
    job = json.loads(mesh.meshctl("models", "pull", "big", "--to", "beta", "--detach", "--json").stdout)
    viewer_token = mesh.meshctl("user", "add", "vera", "--role", "viewer").stdout.strip()
    base = f"https://{mesh.endpoint['http_address']}"
    shots = shots_dir(tmp_path)

    browser = Browser(CHROMIUM, tmp_path / "profile", spki_hash(mesh.endpoint["http_address"]),
                      tmp_path / "chromium.log")
    try:
        # A wrong token: the login page again, saying why.
        browser.goto(base + "/")
        browser.wait("!!document.getElementById('login-form')", what="the login form")
        browser.js("document.getElementById('token').value = 'L10nope::nope';"
                   "document.getElementById('login-form').submit()")
        browser.wait("!!document.getElementById('login-error')", what="the login error")
        browser.screenshot(shots / "dashboard-login.png")

        # The admin's token: both hosts online, with their hardware.
        browser.js(f"document.getElementById('token').value = {json.dumps(admin_token(mesh))};"
                   "document.getElementById('login-form').submit()")
        browser.wait("document.querySelectorAll('tr[data-host][data-status=online]').length === 2",
                     what="both hosts online")
        assert "llmesh_session" not in browser.js("document.cookie")  # HttpOnly
        assert browser.js("document.getElementById('who').dataset.role") == "admin"
        if has_gpu:  # per GPU: memory, utilisation and temperature charts, a point per poll
            charts = "[data-gpu=\"alpha/0\"] svg polyline"
            browser.wait(f"document.querySelectorAll('{charts}').length === 3", what="alpha's GPU charts")
            browser.wait(f"document.querySelector('{charts}').getAttribute('points').split(' ').length > 3",
                         what="a GPU chart with a few readings")
            assert "util 37%" in browser.js("document.querySelector('[data-gpu=\"alpha/0\"]').textContent")
        time.sleep(6)  # a few more polls: the charts have more to draw  # a few polls: the charts have points to draw
        browser.screenshot(shots / "dashboard-hosts.png")

        # Jobs: the pull's progress moves between polls.
        browser.goto(base + "/#jobs")
        row = f"document.querySelector('tr[data-job=\"{job['id']}\"]')"
        first = int(browser.wait(f"{row} && Number({row}.dataset.done) > 0 && {row}.dataset.done",
                                 120, "the pull's progress"))
        later = int(browser.wait(f"{row} && Number({row}.dataset.done) > {first} && {row}.dataset.done",
                                 120, "the pull's progress moving"))
        assert later > first
        assert browser.js(f"{row}.querySelector('button[data-action=cancel_job]') !== null")  # admins may
        browser.screenshot(shots / "dashboard-jobs.png")

        # Models x hosts: big on alpha (and arriving on beta); the GGUF deployed on alpha.
        browser.goto(base + "/#models")
        browser.wait(f"!!document.querySelector('[data-cell=\"{deployed['ref']}@alpha\"] .deployed')",
                     what="the deployed GGUF in the matrix")
        assert browser.js("document.querySelector('[data-cell=\"big:1@alpha\"] .pill').textContent") == "verified"
        browser.screenshot(shots / "dashboard-models.png")

        browser.goto(base + "/#deployments")
        cells = browser.wait("(r => r && [...r.cells].map(c => c.textContent))"
                             "(document.querySelector('tr[data-deployment][data-host=alpha]'))", what="the deployment")
        assert deployed["ref"] in cells and "llamacpp" in cells and deployed["endpoint"] in cells, cells
        assert any(c.startswith("running") for c in cells), cells
        browser.screenshot(shots / "dashboard-deployments.png")

        browser.goto(base + f"/#lineage/{deployed['ref']}")
        browser.wait("!!document.querySelector('li[data-parent^=\"tiny-llama:\"]')", what="the GGUF's parent")
        browser.screenshot(shots / "dashboard-lineage.png")

        browser.goto(base + "/#events")
        browser.wait("document.querySelectorAll('tr[data-event]').length > 0", what="events")
        browser.screenshot(shots / "dashboard-events.png")

        # The audit log, an admin's view: `meshctl audit`'s rows (who asked in what role, from where,
        # refusals included), filtered by actor, action and since.
        browser.goto(base + "/#audit")
        browser.wait("document.body.dataset.view === 'audit' && document.querySelectorAll('tr[data-audit]').length > 0"
                     " && !document.getElementById('audit-filters').hidden", what="the audit log")
        browser.screenshot(shots / "dashboard-audit.png")
        browser.js("const f = document.getElementById('action'); f.value = 'user'; f.dispatchEvent(new Event('input'))")
        browser.wait("[...document.querySelectorAll('tr[data-audit]')].map(r => r.cells[3].textContent).join() === "
                     f"{json.dumps(','.join(e['action'] for e in mesh.json('audit') if e['action'].startswith('user.')))}",
                     what="the audit log filtered to the user.* actions")

        # Log out: back to the login form, and the old session is gone.
        browser.js("document.getElementById('logout').submit()")
        browser.wait("!!document.getElementById('login-form')", what="the login form after logging out")
        assert browser.js("fetch('/api/me').then(r => r.status)") == 401

        # A viewer, through a one-time link: reads, sees no write, and a forged write gets 403.
        link = mesh.meshctl("dashboard", "--print", "--view", "jobs", env={"LLMESH_TOKEN": viewer_token}).stdout.strip()
        browser.goto(link)
        browser.wait(f"document.body.dataset.view === 'jobs' && !!{row}", what="the jobs view as a viewer")
        assert browser.js("document.getElementById('who').dataset.role") == "viewer"
        assert browser.js("document.querySelectorAll('[data-action]').length") == 0
        assert browser.js("document.getElementById('audit-tab').hidden") is True
        status = browser.js(
            "fetch('/api/me').then(r => r.json()).then(me => fetch('/api/cancel_job', {method: 'POST', "
            "headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf}, "
            f"body: JSON.stringify({{job: '{job['id']}'}})}})).then(r => r.status)")
        assert status == 403
        assert mesh.json("jobs", "show", job["id"])["state"] != "cancelled"
        # The same link again: spent, so the login page.
        browser.goto(link)
        browser.wait("!!document.getElementById('login-error')", what="the spent link refused")
    finally:
        browser.close()
