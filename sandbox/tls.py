"""A private CA per sandbox lattice (``cryptography``): the program does the same with
pulumi-tls. Certificates name exactly the hosts the renderer says peers dial. The local
Kubernetes control plane (:mod:`sandbox.kube`) issues its certificates from one too."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lattice.addressing import Addressing, CertificateHosts, certificate_hosts
from lattice.natsconf import ServerTls
from lattice.plan import LatticePlan, needs_ca, presents_certificate

VALIDITY = datetime.timedelta(days=2)


@dataclass(frozen=True)
class Certificate:
    cert_pem: str
    key_pem: str = field(repr=False)


def subject_name(common_name: str, organization: str | None = None) -> x509.Name:
    """``O=<organization>, CN=<common_name>`` (Kubernetes reads a client's groups from O)."""
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    """A private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


LOOPBACK_HOSTS = CertificateHosts(dns_names=("localhost",), ip_addresses=("127.0.0.1",))


class PrivateCA:
    """Issues certificates for serverAuth and clientAuth (routes and gateways use the same
    certificate both ways), with the SANs asked for."""

    def __init__(self, name: str):
        now = datetime.datetime.now(datetime.UTC)
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = subject_name(f"{name} sandbox CA")
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(self._name)
            .issuer_name(self._name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )

    @property
    def cert_pem(self) -> str:
        return self._cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, common_name: str, hosts: CertificateHosts = LOOPBACK_HOSTS) -> Certificate:
        """A certificate for both ends of a link (a NATS server dials and is dialed)."""
        usages = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)
        return self.sign(subject_name(common_name), usages, hosts)

    def sign(
        self, subject: x509.Name, usages: Sequence[x509.ObjectIdentifier], hosts: CertificateHosts | None
    ) -> Certificate:
        """A new P-256 key and its end-entity certificate (not a CA) for the given uses and, when
        ``hosts`` is given, the names and addresses it is valid for."""
        now = datetime.datetime.now(datetime.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        )
        if hosts is not None:
            names: list[x509.GeneralName] = [x509.DNSName(d) for d in hosts.dns_names]
            names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in hosts.ip_addresses]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return Certificate(cert.public_bytes(serialization.Encoding.PEM).decode(), pem_key(key))


def lattice_tls(plan: LatticePlan, addressing: Addressing, ca: PrivateCA) -> dict[str, ServerTls]:
    """Every server's TLS material: a key pair for those that listen beyond their machine,
    the CA certificate for all that dial or are dialed."""
    out: dict[str, ServerTls] = {}
    for server in plan.servers:
        if presents_certificate(server):
            cert = ca.issue(server.name, certificate_hosts(plan, server.name, addressing))
            out[server.name] = ServerTls(ca_pem=ca.cert_pem, cert_pem=cert.cert_pem, key_pem=cert.key_pem)
        elif needs_ca(plan, server):
            out[server.name] = ServerTls(ca_pem=ca.cert_pem)
    return out
