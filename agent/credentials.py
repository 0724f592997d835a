"""The agent's mesh identity: its key and certificate, the CA, and where its link goes.

Joining spends a one-time token (which pins the CA) on a certificate; renewal
replaces the key and certificate before they expire, without a restart.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import grpc

from llmesh.common import channels, tls
from llmesh.common.errors import FailedPrecondition, from_rpc_error
from llmesh.common.files import atomic_write
from llmesh.v1 import security_pb2, security_pb2_grpc

KEY_FILE, CERT_FILE, CA_FILE, LINK_FILE = "agent.key", "agent.pem", "ca.pem", "link.json"
RENEW_WHEN_LEFT = 1 / 3  # renew once two thirds of a certificate's life have passed


class AgentCredentials:
    def __init__(self, home: Path):
        self.home = home

    def load(self) -> tls.Identity | None:
        paths = [self.home / name for name in (KEY_FILE, CERT_FILE, CA_FILE)]
        if not all(p.exists() for p in paths):
            return None
        key, cert, ca = (p.read_bytes() for p in paths)
        return tls.Identity(key, cert, ca)

    def link_address(self) -> str:
        try:
            return json.loads((self.home / LINK_FILE).read_text())["link_address"]
        except (OSError, ValueError, KeyError) as exc:
            raise FailedPrecondition(f"{self.home / LINK_FILE} is unreadable ({exc}); join the mesh again") from None

    def save_link_address(self, link_address: str) -> None:
        atomic_write(self.home / LINK_FILE, json.dumps({"link_address": link_address}), mode=0o600)

    def save(self, key_pem: bytes, cert_pem: bytes, ca_pem: bytes | None = None, link_address: str = "") -> tls.Identity:
        """Write the new identity; the certificate last, so a crash never pairs a new cert with an old key."""
        if ca_pem is not None:
            tls.write_private(self.home / CA_FILE, ca_pem)
        if link_address:
            self.save_link_address(link_address)
        tls.write_private(self.home / KEY_FILE, key_pem)
        tls.write_private(self.home / CERT_FILE, cert_pem)
        return self.load()

    @staticmethod
    def new_request(agent_id: str) -> tuple[bytes, bytes]:
        """A fresh key and a CSR for it."""
        key = tls.new_key()
        return tls.key_pem(key), tls.make_csr(key, f"agent {agent_id}")

    def join(self, api_address: str, token: str, agent_id: str, name: str, timeout_s: float = 20.0) -> tls.Identity:
        """Trade a join token for a certificate. The CA is fetched from the coordinator and
        accepted only if it matches the token's pin."""
        pin, _ = tls.parse_token(token, "K10")
        ca_pem = tls.fetch_ca(api_address, pin, timeout_s)
        key_pem, csr_pem = self.new_request(agent_id)
        with channels.client_channel(api_address, ca_pem) as channel:
            try:
                reply = security_pb2_grpc.BootstrapStub(channel).Join(
                    security_pb2.JoinRequest(token=token, agent_id=agent_id, name=name, csr_pem=csr_pem),
                    timeout=timeout_s)
            except grpc.RpcError as exc:
                raise from_rpc_error(exc) from None
        return self.save(key_pem, reply.cert_pem, reply.ca_pem,
                         _reachable_link(reply.link_address, api_address))


def renewal_due(identity: tls.Identity, now: float | None = None) -> bool:
    cert = identity.cert()
    start, end = tls.issued_at(cert), tls.expires_at(cert)
    return (now or time.time()) >= end - (end - start) * RENEW_WHEN_LEFT


def _reachable_link(link_address: str, api_address: str) -> str:
    """A coordinator listening on all interfaces reports 0.0.0.0: dial the host we used for the API."""
    host, _, port = link_address.rpartition(":")
    if host in ("0.0.0.0", "::", "[::]", ""):
        host = api_address.rpartition(":")[0]
    return f"{host}:{port}"
