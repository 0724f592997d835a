"""The mesh CA: made on first start, kept in the coordinator's data dir (keys 0600)."""
from __future__ import annotations

import datetime
import socket
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from llmesh.common import tls
from llmesh.common.channels import PEER_TLS_NAME
from llmesh.common.errors import InvalidArgument

DEFAULT_AGENT_CERT_TTL_S = 30 * 24 * 3600


class MeshCA:
    def __init__(self, directory: Path):
        self.directory = directory
        key_path, cert_path = directory / "ca.key", directory / "ca.pem"
        if key_path.exists() and cert_path.exists():
            self.key = tls.load_key(key_path.read_bytes())
            self.cert = tls.load_cert(cert_path.read_bytes())
        else:
            self.key, self.cert = tls.make_ca()
            tls.write_private(key_path, tls.key_pem(self.key))
            tls.write_private(cert_path, tls.cert_pem(self.cert))
        self.pem = tls.cert_pem(self.cert)
        self.pin = tls.fingerprint(self.cert)

    def server_identity(self, advertise: list[str], listen_hosts: list[str]) -> tls.Identity:
        """A fresh server certificate for this start, naming every way agents reach us.
        The chain includes the CA, so a client holding only a pin can fetch it."""
        names = ["localhost", "127.0.0.1", "::1", socket.gethostname()]
        names += [h for h in listen_hosts if h not in ("0.0.0.0", "::", "[::]", "")]
        names += [a.rpartition(":")[0] if ":" in a and not a.startswith("[") else a for a in advertise]
        key = tls.new_key()
        cert = tls.issue(self.key, self.cert, key.public_key(), "llmesh coordinator",
                         sans=tls.server_sans(names), ttl=datetime.timedelta(days=365), server=True, client=False)
        tls.write_private(self.directory / "server.key", tls.key_pem(key))
        return tls.Identity(tls.key_pem(key), tls.cert_pem(cert) + self.pem, self.pem)

    def sign_agent(self, csr_pem: bytes, agent_id: str, ttl_s: float) -> x509.Certificate:
        """A client+server certificate for an agent: it dials the coordinator and serves peers."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as exc:
            raise InvalidArgument(f"malformed certificate request: {exc}") from None
        if not csr.is_signature_valid:
            raise InvalidArgument("certificate request signature does not verify")
        return tls.issue(self.key, self.cert, csr.public_key(), f"agent {agent_id}",
                         sans=[x509.UniformResourceIdentifier(tls.agent_uri(agent_id)),
                               x509.DNSName(PEER_TLS_NAME)],
                         ttl=datetime.timedelta(seconds=ttl_s), server=True, client=True)

    def issued_this(self, cert: x509.Certificate) -> bool:
        try:
            cert.verify_directly_issued_by(self.cert)
            return True
        except (ValueError, TypeError, InvalidSignature):
            return False
