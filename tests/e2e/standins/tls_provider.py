"""Stand-in for pulumi-tls v5.6.2: ``PrivateKey``, ``SelfSignedCert``, ``CertRequest`` and
``LocallySignedCert``, computed by :mod:`tests.support.tls_material` (the mocks' code) with fresh
keys, random serials and the current time."""

from __future__ import annotations

import datetime
from collections.abc import Callable

from tests.e2e.standins.server import InputError, Properties, ResourceKind, StandinProvider
from tests.support import tls_material

VERSION = "5.6.2"
CERT_OUTPUTS = ("certPem", "validityStartTime", "validityEndTime", "readyForRenewal")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _refusing(create: Callable[[Properties], tuple[str, Properties]]) -> Callable[[Properties], tuple[str, Properties]]:
    """What the provider refuses (a bad PEM, a key that is not the CA's) as an input error."""

    def checked(inputs: Properties) -> tuple[str, Properties]:
        try:
            return create(inputs)
        except tls_material.TlsInputError as err:
            raise InputError(str(err)) from err

    return checked


def _create_private_key(inputs: Properties) -> tuple[str, Properties]:
    key = tls_material.generate_private_key(inputs["algorithm"], inputs["ecdsaCurve"], int(inputs["rsaBits"]))
    return tls_material.private_key_id(key), dict(tls_material.private_key_outputs(key))


def _validate_private_key(inputs: Properties) -> list[tuple[str, str]]:
    if inputs.get("algorithm", "ECDSA") not in ("RSA", "ECDSA", "ED25519"):
        return [("algorithm", "algorithm must be one of RSA, ECDSA, ED25519")]
    if inputs.get("ecdsaCurve", "P224") not in tls_material.CURVES:
        return [("ecdsaCurve", f"ecdsaCurve must be one of {sorted(tls_material.CURVES)}")]
    return []


def _validate_certificate(inputs: Properties) -> list[tuple[str, str]]:
    failures = []
    unknown = set(inputs.get("allowedUses") or []) - tls_material.ALLOWED_USES
    if unknown:
        failures.append(("allowedUses", f"unsupported uses {sorted(unknown)}"))
    for hours in ("validityPeriodHours", "earlyRenewalHours"):
        if hours in inputs and inputs[hours] < 0:
            failures.append((hours, f"{hours} must be at least 0"))
    return failures


def _due_for_renewal(state: Properties) -> bool:
    """The provider's ModifyPlan: past the early-renewal point, the next update replaces it."""
    return "validityEndTime" in state and tls_material.ready_for_renewal(state, _now())


CERT_DEFAULTS = {"earlyRenewalHours": 0, "isCaCertificate": False, "setSubjectKeyId": False}

PRIVATE_KEY = ResourceKind(
    token="tls:index/privateKey:PrivateKey",
    create=_refusing(_create_private_key),
    computed=(
        "privateKeyPem",
        "privateKeyPemPkcs8",
        "privateKeyOpenssh",
        "publicKeyPem",
        "publicKeyOpenssh",
        "publicKeyFingerprintMd5",
        "publicKeyFingerprintSha256",
    ),
    required=("algorithm",),
    defaults={"ecdsaCurve": "P224", "rsaBits": 2048},
    validate=_validate_private_key,
)

SELF_SIGNED_CERT = ResourceKind(
    token="tls:index/selfSignedCert:SelfSignedCert",
    create=_refusing(
        lambda inputs: tls_material.self_signed_certificate(inputs, now=_now(), serial=tls_material.random_serial())
    ),
    computed=(*CERT_OUTPUTS, "keyAlgorithm"),
    required=("privateKeyPem", "validityPeriodHours", "allowedUses"),
    defaults={**CERT_DEFAULTS, "setAuthorityKeyId": False},
    validate=_validate_certificate,
    update_in_place=frozenset({"earlyRenewalHours"}),
    due_for_renewal=_due_for_renewal,
)

CERT_REQUEST = ResourceKind(
    token="tls:index/certRequest:CertRequest",
    create=_refusing(lambda inputs: tls_material.certificate_request(inputs)),
    computed=("certRequestPem", "keyAlgorithm"),
    required=("privateKeyPem",),
)

LOCALLY_SIGNED_CERT = ResourceKind(
    token="tls:index/locallySignedCert:LocallySignedCert",
    create=_refusing(
        lambda inputs: tls_material.locally_signed_certificate(inputs, now=_now(), serial=tls_material.random_serial())
    ),
    computed=(*CERT_OUTPUTS, "caKeyAlgorithm"),
    required=("certRequestPem", "caCertPem", "caPrivateKeyPem", "validityPeriodHours", "allowedUses"),
    defaults=CERT_DEFAULTS,
    validate=_validate_certificate,
    update_in_place=frozenset({"earlyRenewalHours"}),
    due_for_renewal=_due_for_renewal,
)

PROVIDER = StandinProvider(
    name="tls",
    version=VERSION,
    kinds={k.token: k for k in (PRIVATE_KEY, SELF_SIGNED_CERT, CERT_REQUEST, LOCALLY_SIGNED_CERT)},
)
