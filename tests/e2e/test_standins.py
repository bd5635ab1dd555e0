"""The stand-in ``random`` and ``tls`` providers (TEST DOUBLES, ``tests/e2e/standins``) under the real
engine: the pinned SDKs ask for plugins ``random`` v4.21.4 and ``tls`` v5.6.2, the engine finds the
stand-ins in ``standins_home`` and runs the resources this program uses through them, the way the
lattice CA and its server certificates are made (``components/certificates.py``).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pulumi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pulumi import automation as auto

from components.certificates import (
    CA_EARLY_RENEWAL_HOURS,
    CA_VALIDITY_HOURS,
    SERVER_EARLY_RENEWAL_HOURS,
    SERVER_USES,
    SERVER_VALIDITY_HOURS,
)
from tests.e2e.conftest import Toolchain, inline_workspace
from tests.e2e.standins import random_provider, tls_provider
from tests.e2e.standins.server import CALL_LOG

pytestmark = pytest.mark.e2e

DNS_NAMES = ["hub-0.example.internal", "localhost"]
UNCHANGED_CALLS = {"Handshake", "GetPluginInfo", "CheckConfig", "DiffConfig", "Configure", "Check", "Diff", "Cancel"}
"""What the engine asks the stand-ins when nothing changes: no Create, Update, Read or Delete."""
IP_ADDRESSES = ["10.0.0.7", "127.0.0.1"]


def test_standins_are_installed(toolchain: Toolchain, standins_home: Path) -> None:
    """The engine lists the stand-ins beside the toolchain's kubernetes provider, at the SDKs' versions."""
    plugins = subprocess.run(
        [str(toolchain.pulumi), "plugin", "ls"],
        env={**toolchain.env, "PULUMI_HOME": str(standins_home)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name, version in (
        ("random", random_provider.VERSION),
        ("tls", tls_provider.VERSION),
        ("kubernetes", None),
    ):
        assert re.search(rf"^{name}\s+resource\s+{re.escape(version or '')}", plugins, re.MULTILINE), plugins


def _cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def _calls(log: Path) -> list[str]:
    """The methods the engine called, in order, from the stand-ins' log, which is emptied for the next step."""
    calls = [json.loads(line)["method"] for line in log.read_text().splitlines()] if log.exists() else []
    log.write_text("")
    return calls


def _changes(summary: auto.UpdateSummary) -> dict[str, int]:
    return {op: n for op, n in (summary.resource_changes or {}).items() if op != "same"}


@pytest.mark.timeout(900)
def test_random_and_tls_through_the_standins(toolchain: Toolchain, standins_home: Path, tmp_path: Path) -> None:
    """up, outputs checked with ``cryptography``, an unchanged preview, a replaced RandomBytes, an
    in-place and a renewing certificate change, destroy."""
    import pulumi_random
    import pulumi_tls

    settings: dict[str, Any] = {"length": 32, "server_early_renewal_hours": SERVER_EARLY_RENEWAL_HOURS}

    def program() -> None:
        entropy = pulumi_random.RandomBytes("entropy", length=settings["length"])
        ca_key = pulumi_tls.PrivateKey("ca", algorithm="ECDSA", ecdsa_curve="P256")
        ca = pulumi_tls.SelfSignedCert(
            "ca",
            private_key_pem=ca_key.private_key_pem,
            is_ca_certificate=True,
            subject=pulumi_tls.SelfSignedCertSubjectArgs(common_name="e2e CA", organization="wasmcloud-lattice"),
            validity_period_hours=CA_VALIDITY_HOURS,
            early_renewal_hours=CA_EARLY_RENEWAL_HOURS,
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
        )
        key = pulumi_tls.PrivateKey("server", algorithm="ECDSA", ecdsa_curve="P256")
        request = pulumi_tls.CertRequest(
            "server",
            private_key_pem=key.private_key_pem,
            subject=pulumi_tls.CertRequestSubjectArgs(common_name="hub-0", organization="wasmcloud-lattice"),
            dns_names=DNS_NAMES,
            ip_addresses=IP_ADDRESSES,
        )
        cert = pulumi_tls.LocallySignedCert(
            "server",
            cert_request_pem=request.cert_request_pem,
            ca_cert_pem=ca.cert_pem,
            ca_private_key_pem=ca_key.private_key_pem,
            validity_period_hours=SERVER_VALIDITY_HOURS,
            early_renewal_hours=settings["server_early_renewal_hours"],
            allowed_uses=SERVER_USES,
        )
        pulumi.export("entropyBase64", entropy.base64)
        pulumi.export("entropyHex", entropy.hex)
        pulumi.export("entropyId", entropy.id)
        pulumi.export("caCert", ca.cert_pem)
        pulumi.export("caValidity", [ca.validity_start_time, ca.validity_end_time])
        pulumi.export("serverKey", key.private_key_pem)
        pulumi.export("serverPublicKey", key.public_key_pem)
        pulumi.export("serverCert", cert.cert_pem)
        pulumi.export("serverReadyForRenewal", cert.ready_for_renewal)

    log = tmp_path / "standin-calls.jsonl"
    project = "standins"
    opts = inline_workspace(toolchain, tmp_path, project, pulumi_home=standins_home, env={CALL_LOG: str(log)})
    stack = auto.create_or_select_stack("e2e", project_name=project, program=program, opts=opts)
    try:
        up = stack.up(color="never")
        assert up.summary.result == "succeeded"
        assert _changes(up.summary) == {"create": 7}  # the stack and six resources
        counts = Counter(_calls(log))
        # one plugin per package; `up` through the Automation API skips its preview (--skip-preview)
        assert counts["Handshake"] == 2 and counts["Create"] == 6 and "GetSchema" not in counts, counts
        out = {k: v.value for k, v in up.outputs.items()}
        secrets = {k for k, v in up.outputs.items() if v.secret}

        # RandomBytes: length real random bytes, secret outputs (the SDK's additional_secret_outputs)
        entropy = base64.b64decode(out["entropyBase64"])
        assert len(entropy) == 32 and entropy.hex() == out["entropyHex"]
        assert {"entropyBase64", "entropyHex", "serverKey"} <= secrets
        # the id is the base64 value, in clear, as pulumi-random makes it (its computeRandomBytesID)
        assert out["entropyId"] == out["entropyBase64"] and "entropyId" not in secrets

        # the CA: self-signed, a CA, valid for CA_VALIDITY_HOURS from now
        ca = _cert(out["caCert"])
        ca.verify_directly_issued_by(ca)
        assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert ca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "wasmcloud-lattice"
        assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
        start, end = (datetime.datetime.fromisoformat(t) for t in out["caValidity"])
        assert end - start == datetime.timedelta(hours=CA_VALIDITY_HOURS)
        assert abs(datetime.datetime.now(datetime.UTC) - start) < datetime.timedelta(minutes=10)

        # the server certificate: issued by the CA, for the requested names, to the server's key
        server = _cert(out["serverCert"])
        server.verify_directly_issued_by(ca)
        sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sans.get_values_for_type(x509.DNSName) == DNS_NAMES
        assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(i) for i in IP_ADDRESSES]
        usages = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
        key = serialization.load_pem_private_key(out["serverKey"].encode(), password=None)
        assert server.public_key() == key.public_key()
        public_pem = server.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert out["serverPublicKey"] == public_pem.decode()
        assert out["serverReadyForRenewal"] is False

        # secrets are ciphertext in the state file (export_stack would decrypt them)
        state = (tmp_path / "state" / ".pulumi" / "stacks" / project / "e2e.json").read_text()
        assert out["serverKey"].splitlines()[1] not in state
        assert out["entropyHex"] not in state

        # unchanged: nothing to do, and the stand-ins only checked and diffed
        preview = stack.preview(expect_no_changes=True, color="never")
        assert set(preview.change_summary) == {"same"}
        assert set(_calls(log)) <= UNCHANGED_CALLS

        # a new length replaces the RandomBytes only (create before delete)
        settings["length"] = 48
        up = stack.up(color="never")
        assert _changes(up.summary) == {"replace": 1}
        assert len(base64.b64decode(up.outputs["entropyBase64"].value)) == 48
        assert up.outputs["caCert"].value == out["caCert"] and up.outputs["serverCert"].value == out["serverCert"]
        calls = _calls(log)
        assert calls.count("Delete") == 1 and calls.index("Create") < calls.index("Delete"), calls

        # earlyRenewalHours is updated in place; past the renewal point the certificate is replaced
        settings["server_early_renewal_hours"] = 2 * SERVER_EARLY_RENEWAL_HOURS
        up = stack.up(color="never")
        assert _changes(up.summary) == {"update": 1}
        assert up.outputs["serverCert"].value == out["serverCert"]
        assert _calls(log).count("Update") == 1
        settings["server_early_renewal_hours"] = SERVER_VALIDITY_HOURS
        preview = stack.preview(color="never", diff=True)
        assert {k: v for k, v in preview.change_summary.items() if k != "same"} == {"replace": 1}, preview.stdout
        assert "readyForRenewal" in preview.stdout

        destroy = stack.destroy(color="never")
        assert destroy.summary.result == "succeeded"
        assert _calls(log).count("Delete") == 6
    finally:
        stack.workspace.remove_stack("e2e", force=True)
