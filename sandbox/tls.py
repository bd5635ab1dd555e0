"""A private CA per sandbox lattice (``cryptography``): the program does the same with
pulumi-tls. Certificates name exactly the hosts the renderer says peers dial."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lattice.addressing import Addressing, CertificateHosts, certificate_hosts
from lattice.natsconf import ServerTls
from lattice.plan import LatticePlan, needs_ca, presents_certificate

VALIDITY = datetime.timedelta(days=2)


@dataclass(frozen=True)
class Certificate:
    cert_pem: str
    key_pem: str = field(repr=False)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
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
        self._name = _name(f"{name} sandbox CA")
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
        now = datetime.datetime.now(datetime.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName(d) for d in hosts.dns_names]
                    + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in hosts.ip_addresses]
                ),
                critical=False,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        return Certificate(cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key))


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
