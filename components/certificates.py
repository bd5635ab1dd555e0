"""The lattice's private CA and its servers' certificates, with pulumi-tls.

The sandbox does the same with ``cryptography`` (:mod:`sandbox.tls`); both name exactly the
hosts :func:`lattice.addressing.certificate_hosts` derives from the addressing that the
configs are rendered from, so a certificate covers every address a peer dials.

Keys and certificates live in Pulumi state: a second ``pulumi up`` changes nothing; a
certificate inside its renewal window is replaced on the next run, and the new one
reaches the node through its secret channel like a revocation does.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_tls as tls

from components.base import ChildOpts, LatticeComponent, secret
from lattice.addressing import CertificateHosts
from lattice.natsconf import ServerTls

TYPE = "wasmcloud-lattice:index:LatticeCA"
CA_VALIDITY_HOURS = 10 * 365 * 24
CA_EARLY_RENEWAL_HOURS = 365 * 24
SERVER_VALIDITY_HOURS = 365 * 24
SERVER_EARLY_RENEWAL_HOURS = 30 * 24
SERVER_USES = ["digital_signature", "key_encipherment", "server_auth", "client_auth"]
"""serverAuth for every listener; clientAuth because a route or gateway presents the same
certificate when it dials its peer, and the peer verifies it (``verify: true``)."""


def _private_key(name: str, opts: pulumi.ResourceOptions) -> tls.PrivateKey:
    return tls.PrivateKey(name, algorithm="ECDSA", ecdsa_curve="P256", opts=opts)


@dataclass(frozen=True)
class CaMaterial:
    """What a component needs to issue server certificates from the lattice CA."""

    cert_pem: pulumi.Input[str]
    key_pem: pulumi.Input[str]
    """A secret."""


class LatticeCA(LatticeComponent):
    """One private CA per lattice (ECDSA P-256, ten years, renewed a year ahead)."""

    cert_pem: pulumi.Output[str]
    """The CA certificate (public): every server of the lattice and every client trusts it."""

    def __init__(self, name: str, lattice: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        key = _private_key(f"{name}-key", self.child())
        self._key_pem = secret(key.private_key_pem)
        cert = tls.SelfSignedCert(
            f"{name}-cert",
            private_key_pem=self._key_pem,
            is_ca_certificate=True,
            subject=tls.SelfSignedCertSubjectArgs(
                common_name=f"{lattice} lattice CA", organization="wasmcloud-lattice"
            ),
            validity_period_hours=CA_VALIDITY_HOURS,
            early_renewal_hours=CA_EARLY_RENEWAL_HOURS,
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
            opts=self.child(),
        )
        self.cert_pem = cert.cert_pem
        self.register_outputs({"certPem": self.cert_pem})

    @property
    def material(self) -> CaMaterial:
        return CaMaterial(cert_pem=self.cert_pem, key_pem=self._key_pem)


def server_certificate(
    prefix: str, common_name: str, hosts: pulumi.Output[CertificateHosts], ca: CaMaterial, opts: ChildOpts
) -> pulumi.Output[ServerTls]:
    """A key pair for one server (or one Kubernetes hub, whose pods share it), signed by
    the lattice CA, for exactly ``hosts``; children named ``<prefix>-tls``."""
    key = _private_key(f"{prefix}-tls", opts())
    key_pem = secret(key.private_key_pem)
    request = tls.CertRequest(
        f"{prefix}-tls",
        private_key_pem=key_pem,
        subject=tls.CertRequestSubjectArgs(common_name=common_name, organization="wasmcloud-lattice"),
        dns_names=hosts.apply(lambda h: list(h.dns_names)),
        ip_addresses=hosts.apply(lambda h: list(h.ip_addresses)),
        opts=opts(),
    )
    cert = tls.LocallySignedCert(
        f"{prefix}-tls",
        cert_request_pem=request.cert_request_pem,
        ca_cert_pem=ca.cert_pem,
        ca_private_key_pem=secret(ca.key_pem),
        validity_period_hours=SERVER_VALIDITY_HOURS,
        early_renewal_hours=SERVER_EARLY_RENEWAL_HOURS,
        allowed_uses=SERVER_USES,
        opts=opts(),
    )
    return secret(
        pulumi.Output.all(ca.cert_pem, cert.cert_pem, key_pem).apply(
            lambda v: ServerTls(ca_pem=v[0], cert_pem=v[1], key_pem=v[2])
        )
    )
