"""The local control plane's certificates and kubeconfig (no binaries needed): the API server must be
reachable as 127.0.0.1 and localhost, and the admin must be in system:masters, or every call fails."""

from __future__ import annotations

import base64
import ipaddress
import json
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sandbox.kube import SERVICE_IP, kubeconfig_text, make_pki


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_serving_cert_names_loopback_and_the_in_cluster_service(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    serving, ca = _cert(pki.serving_cert), _cert(pki.ca_cert)
    serving.verify_directly_issued_by(ca)
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "kubernetes.default.svc"} <= set(sans.get_values_for_type(x509.DNSName))
    ips = set(sans.get_values_for_type(x509.IPAddress))
    assert {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address(SERVICE_IP)} <= ips
    usage = serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_admin_is_a_client_in_system_masters(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    admin = _cert(pki.admin_cert)
    admin.verify_directly_issued_by(_cert(pki.ca_cert))
    orgs = [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["system:masters"]
    usage = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert all(p.stat().st_mode & 0o077 == 0 for p in tmp_path.iterdir())  # keys readable by us only


def test_kubeconfig_carries_the_certificates_inline(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    config = json.loads(kubeconfig_text("https://127.0.0.1:21000", pki))
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    assert cluster["server"] == "https://127.0.0.1:21000"
    assert base64.b64decode(cluster["certificate-authority-data"]) == pki.ca_cert.read_bytes()
    assert base64.b64decode(user["client-certificate-data"]) == pki.admin_cert.read_bytes()
    assert base64.b64decode(user["client-key-data"]) == pki.admin_key.read_bytes()
    assert config["current-context"] == config["contexts"][0]["name"]
