"""Webhooks against a real coordinator: a local receiver gets signed deliveries of alias moves; a
receiver that answers 500 gets retries, then the failure is in `meshctl hooks log`."""
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from factories import make_hf_model
from harness import wait_for


class Receiver:
    """A local HTTP endpoint that records each POST and answers with the status set for its path."""

    def __init__(self):
        self.received: list[dict] = []
        self.status = {"/good": 200, "/bad": 500}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(receiver.status.get(self.path, 404))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def at(self, path: str) -> list[dict]:
        return [r for r in self.received if r["path"] == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def fails(mesh, *args, env=None) -> str:
    result = mesh.meshctl(*args, check=False, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr, (args, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_signed_deliveries_retries_and_the_log(mesh, tmp_path, receiver):
    mesh.start_coordinator(extra=["--hook-attempts", "3", "--hook-backoff", "0.1"])
    root = tmp_path / "models"
    make_hf_model(root / "svc-a", seed=1)
    make_hf_model(root / "svc-b", seed=2)
    mesh.start_agent("trainer", [root])
    mesh.wait_host("trainer")
    mesh.wait_models(lambda rows: {"svc-a", "svc-b"} <= {r["name"] for r in rows})
    for path in ("svc-a", "svc-b"):
        mesh.meshctl("models", "register", str(root / path), "--host", "trainer", "--name", "svc")

    good = mesh.json("hooks", "add", f"{receiver.url}/good", "--on", "alias.moved", "--secret", "s3cret")
    assert good["secret"] == "s3cret" and good["events"] == ["alias.moved"]
    bad = mesh.json("hooks", "add", f"{receiver.url}/bad", "--on", "alias.moved,version.registered")
    assert len(bad["secret"]) >= 32  # made by the coordinator, shown once
    listed = mesh.json("hooks", "list")
    assert {h["id"] for h in listed} == {good["id"], bad["id"]} and all("secret" not in h for h in listed)

    mesh.meshctl("models", "alias", "set", "svc:1", "prod")
    mesh.meshctl("models", "alias", "set", "svc:2", "prod")

    deliveries = wait_for(lambda: len(receiver.at("/good")) >= 2 and receiver.at("/good"), 30,
                          "two deliveries to the good receiver", logs=mesh.logs())
    for request in deliveries:
        headers, body = request["headers"], request["body"]
        expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Llmesh-Signature"], expected)
        assert headers["X-Llmesh-Event"] == "alias.moved"
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body)["id"] == headers["X-Llmesh-Delivery"]
    moves = [json.loads(r["body"]) for r in deliveries]
    assert [(m["model"], m["alias"], m["from_version"], m["to_version"]) for m in moves] == [
        ("svc", "prod", None, 1), ("svc", "prod", 1, 2)]
    assert moves[1]["event"] == "alias.moved" and moves[1]["resource"] == "svc@prod"
    forged = hmac.new(b"another secret", deliveries[0]["body"], hashlib.sha256).hexdigest()
    assert deliveries[0]["headers"]["X-Llmesh-Signature"] != f"sha256={forged}"

    # The failing receiver: each delivery tried 3 times (same delivery id), then logged as failed.
    def failed_in_log():
        rows = [a for a in mesh.json("hooks", "log", "--hook", bad["id"]) if a["event"] == "alias.moved"]
        return len([a for a in rows if a["outcome"] == "failed"]) == 2 and rows
    log = wait_for(failed_in_log, 60, "the failing hook's deliveries to give up", logs=mesh.logs())
    for delivery_id in {a["delivery_id"] for a in log}:
        attempts = sorted((a["attempt"], a["outcome"], a["http_status"]) for a in log if a["delivery_id"] == delivery_id)
        assert attempts == [(1, "retrying", 500), (2, "retrying", 500), (3, "failed", 500)]
        assert len([r for r in receiver.at("/bad") if r["headers"]["X-Llmesh-Delivery"] == delivery_id]) == 3
    # Registrations made before the hook existed are not delivered to it.
    assert {r["headers"]["X-Llmesh-Event"] for r in receiver.at("/bad")} == {"alias.moved"}
    human = mesh.meshctl("hooks", "log").stdout
    assert "failed" in human and "delivered" in human

    mesh.meshctl("hooks", "rm", bad["id"])
    assert [h["id"] for h in mesh.json("hooks", "list")] == [good["id"]]
    assert "unknown hook" in fails(mesh, "hooks", "rm", bad["id"])


def test_only_admins_manage_hooks_and_bad_input_is_one_line(mesh, receiver):
    mesh.start_coordinator()
    operator = mesh.meshctl("user", "add", "ops", "--role", "operator").stdout.strip()
    refused = fails(mesh, "hooks", "add", f"{receiver.url}/good", "--on", "alias.moved",
                    env={"LLMESH_TOKEN": operator})
    assert "needs admin" in refused
    listed = mesh.meshctl("hooks", "list", "--json", env={"LLMESH_TOKEN": operator}).stdout
    assert json.loads(listed) == []  # operators may look
    assert "invalid hook URL" in fails(mesh, "hooks", "add", "ftp://example.com/x", "--on", "alias.moved")
    assert "unknown event 'alias.flew'" in fails(mesh, "hooks", "add", f"{receiver.url}/good", "--on", "alias.flew")
    # A log asked for a hook that does not exist says so, rather than "no deliveries".
    assert "unknown hook 'nope'" in fails(mesh, "hooks", "log", "--hook", "nope")
    quiet = mesh.json("hooks", "add", f"{receiver.url}/good", "--on", "alias.moved")
    assert mesh.json("hooks", "log", "--hook", quiet["id"]) == []  # a hook with no deliveries yet
