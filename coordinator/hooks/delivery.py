"""One HTTP POST of a signed delivery (blocking; the hook service runs it on a thread)."""
from __future__ import annotations

import hashlib
import hmac
import urllib.error
import urllib.request

from llmesh import __version__

SIGNATURE_HEADER = "X-Llmesh-Signature"


def signature(secret: str, body: bytes) -> str:
    """What receivers compare against X-Llmesh-Signature (with hmac.compare_digest)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(url: str, body: bytes, *, event: str, delivery_id: str, secret: str, timeout_s: float) -> tuple[int, str]:
    """(HTTP status or 0, error text or ''); a 2xx is success."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": f"llmesh-hooks/{__version__}",
        "X-Llmesh-Event": event, "X-Llmesh-Delivery": delivery_id, SIGNATURE_HEADER: signature(secret, body)})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as reply:
            return reply.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return 0, str(getattr(exc, "reason", exc))[:300]
