"""The coordinator's dashboard from a client: a one-time login link, bought with an API token."""
from __future__ import annotations

import json
import ssl
from urllib.parse import urlencode

from llmesh.common.errors import FailedPrecondition, Unauthenticated, Unavailable


def login_link(http_address: str, token: str, ca_pem: bytes, timeout_s: float = 30.0, view: str = "") -> str:
    """https://HTTP_ADDRESS/login?code=…: spent by its first use, and expiring within minutes."""
    import urllib.error  # with http.client and email: ~10 ms of every meshctl start-up otherwise
    import urllib.request

    context = ssl.create_default_context(cadata=ca_pem.decode())
    request = urllib.request.Request(f"https://{http_address}/api/login-code", data=b"", method="POST",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=timeout_s) as reply:
            body = json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise Unauthenticated("the coordinator's dashboard did not accept this API token") from None
        if exc.code == 404:
            raise FailedPrecondition(f"{http_address} serves no dashboard (an older coordinator?)") from None
        raise Unavailable(f"the dashboard at {http_address} answered {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unavailable(f"the coordinator's HTTPS address {http_address} is not reachable: {reason}") from None
    extra = "&" + urlencode({"view": view}) if view else ""
    return f"https://{http_address}{body['path']}{extra}"
