"""Certificates and keys for the mesh: the CA, agent and server certificates, CSRs,
pins, and fetching a CA by its pin.

All key material is written 0600 and atomically (no half-written key ever lands).
"""
from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from llmesh.common.errors import FailedPrecondition, InvalidArgument, PermissionDenied, Unavailable
from llmesh.common.files import atomic_write

AGENT_URI_PREFIX = "llmesh://agent/"
_ENCODING_DER = getattr(ssl, "ENCODING_DER", None) or __import__("_ssl").ENCODING_DER


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_cert(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise InvalidArgument(f"not a PEM certificate: {exc}") from None


def load_key(pem: bytes):
    return serialization.load_pem_private_key(pem, password=None)


def fingerprint(cert: x509.Certificate) -> str:
    """The pin of a certificate: sha256 of its DER bytes, hex."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def write_private(path: Path, data: bytes) -> None:
    """Write a secret 0600, atomically."""
    atomic_write(path, data, mode=0o600)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def make_ca(common_name: str = "llmesh mesh CA", days: int = 3650):
    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(minutes=5))
            .not_valid_after(_now() + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_csr(key, common_name: str) -> bytes:
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


def issue(ca_key, ca_cert, public_key, common_name: str, *, sans: list[x509.GeneralName],
          ttl: datetime.timedelta, server: bool, client: bool) -> x509.Certificate:
    # A little slack for clocks that disagree, small against short lifetimes.
    not_after = _now() + ttl
    not_before = min(_now() - min(datetime.timedelta(minutes=1), abs(ttl) / 10),
                     not_after - datetime.timedelta(seconds=1))
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
               .issuer_name(ca_cert.subject).public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before)
               .not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def server_sans(names: list[str]) -> list[x509.GeneralName]:
    sans: list[x509.GeneralName] = []
    for name in dict.fromkeys(n for n in names if n):
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name.strip("[]"))))
        except ValueError:
            sans.append(x509.DNSName(name))
    return sans


def agent_uri(agent_id: str) -> str:
    return AGENT_URI_PREFIX + agent_id


def agent_id_of(cert: x509.Certificate) -> str | None:
    """The agent id a mesh client certificate speaks for, from its URI SAN."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in sans.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(AGENT_URI_PREFIX):
            return uri[len(AGENT_URI_PREFIX):]
    return None


def expires_at(cert: x509.Certificate) -> float:
    return cert.not_valid_after_utc.timestamp()


def issued_at(cert: x509.Certificate) -> float:
    return cert.not_valid_before_utc.timestamp()


@dataclass(frozen=True)
class Identity:
    """A key and certificate chain plus the CA that anchors the mesh."""

    key_pem: bytes
    cert_pem: bytes
    ca_pem: bytes

    def cert(self) -> x509.Certificate:
        return load_cert(self.cert_pem)


def fetch_ca(address: str, pin: str, timeout: float = 10.0) -> bytes:
    """Get the mesh CA from a coordinator we do not trust yet, and accept it only if
    its sha256 matches the pin from a join or user token."""
    host, _, port = address.rpartition(":")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # trust comes from the pin below, not from this handshake
    context.set_alpn_protocols(["h2"])
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=host.strip("[]")) as tls:
                chain_of = getattr(tls, "get_unverified_chain", None) or tls._sslobj.get_unverified_chain
                chain = [x509.load_der_x509_certificate(c.public_bytes(_ENCODING_DER)) for c in chain_of()]
    except (OSError, ssl.SSLError) as exc:
        raise Unavailable(f"coordinator at {address} is not reachable: {exc}") from None
    for cert in chain:
        if fingerprint(cert) == pin:
            try:
                chain[0].verify_directly_issued_by(cert)
            except (ValueError, TypeError, InvalidSignature):
                raise PermissionDenied(f"coordinator at {address} presented a certificate its CA did not sign")
            return cert_pem(cert)
    got = fingerprint(chain[-1])[:16] if chain else "nothing"
    raise PermissionDenied(f"the coordinator's CA does not match the token's pin "
                           f"(expected sha256 {pin[:16]}…, got {got}…): wrong token or wrong coordinator")


def parse_token(token: str, prefix: str) -> tuple[str, str]:
    """Split a `<prefix><ca-sha256>::<secret>` token into (pin, secret)."""
    token = token.strip()
    body = token[len(prefix):] if token.startswith(prefix) else ""
    pin, sep, secret = body.partition("::")
    if not sep or len(pin) != 64 or not secret or any(c not in "0123456789abcdef" for c in pin):
        raise InvalidArgument(f"malformed token: expected {prefix}<ca-sha256>::<secret>")
    return pin, secret


def secret_hash(secret: str) -> str:
    """Tokens are 256-bit random secrets: one sha256 is enough to store them safely."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_not_expired(cert: x509.Certificate, what: str) -> None:
    if expires_at(cert) <= _now().timestamp():
        raise FailedPrecondition(f"{what} expired at {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")


def load_identity(context: ssl.SSLContext, identity: "Identity", scratch_dir: str | Path | None = None) -> None:
    """Give CONTEXT this identity's key pair. The ssl module loads keys from files only: a 0600
    temporary file (mkstemp) that lives for this call."""
    fd, path = tempfile.mkstemp(prefix="llmesh-tls-", suffix=".pem", dir=scratch_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(identity.key_pem + b"\n" + identity.cert_pem)
        context.load_cert_chain(path)
    finally:
        os.unlink(path)
