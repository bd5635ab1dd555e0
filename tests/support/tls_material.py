"""What pulumi-tls computes, with ``cryptography``: keys, certificate requests and certificates
built the way the provider (terraform-provider-tls, ``internal/provider/common_cert.go`` and
``common_key.go``) builds them with Go's ``crypto/x509``: the same extensions, the same subject
order, the same signature hash per key, the same output fields.

Two test doubles use it: the Pulumi mocks (``tests/support/mocks.py``: keys derived from the
resource name, fixed dates, RFC 6979 deterministic ECDSA signatures, so answers compare across
runs) and the e2e stand-in provider (``tests/e2e/standins/``: fresh keys, random serials, the
current time). Inputs and outputs use the provider's camelCase property names.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P224": ec.SECP224R1,
    "P256": ec.SECP256R1,
    "P384": ec.SECP384R1,
    "P521": ec.SECP521R1,
}

KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "cert_signing",
    "crl_signing",
    "encipher_only",
    "decipher_only",
)
"""``allowedUses`` that set a bit of the KeyUsage extension (``cert_signing`` is ``keyCertSign``)."""

EXTENDED_KEY_USAGES: dict[str, ObjectIdentifier] = {
    "any_extended": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ipsec_end_system": ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsec_tunnel": ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec_user": ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp_signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "microsoft_server_gated_crypto": ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape_server_gated_crypto": ObjectIdentifier("2.16.840.1.113730.4.1"),
    "microsoft_commercial_code_signing": ObjectIdentifier("1.3.6.1.4.1.311.2.1.22"),
    "microsoft_kernel_code_signing": ObjectIdentifier("1.3.6.1.4.1.311.61.1.1"),
}

ALLOWED_USES = frozenset(KEY_USAGES) | frozenset(EXTENDED_KEY_USAGES)

_SUBJECT_FIELDS: tuple[tuple[str, ObjectIdentifier], ...] = (
    ("country", NameOID.COUNTRY_NAME),
    ("province", NameOID.STATE_OR_PROVINCE_NAME),
    ("locality", NameOID.LOCALITY_NAME),
    ("streetAddresses", NameOID.STREET_ADDRESS),
    ("postalCode", NameOID.POSTAL_CODE),
    ("organization", NameOID.ORGANIZATION_NAME),
    ("organizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("commonName", NameOID.COMMON_NAME),
    ("serialNumber", NameOID.SERIAL_NUMBER),
    ("emailAddress", NameOID.EMAIL_ADDRESS),
)
"""The order of Go's ``pkix.Name.ToRDNSequence`` (the e-mail address is one of its ``ExtraNames``)."""


class TlsInputError(ValueError):
    """Inputs the provider refuses, with the message it would give."""


# --- keys ---------------------------------------------------------------------------------


def generate_private_key(algorithm: str, ecdsa_curve: str = "P224", rsa_bits: int = 2048) -> PrivateKey:
    """A fresh key, as ``tls.PrivateKey`` makes one (its defaults: P224, 2048 bits)."""
    if algorithm == "ECDSA":
        if ecdsa_curve not in CURVES:
            raise TlsInputError(f"invalid ECDSA curve {ecdsa_curve!r}; supported values are: {sorted(CURVES)}")
        return ec.generate_private_key(CURVES[ecdsa_curve]())
    if algorithm == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    if algorithm == "ED25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise TlsInputError(f"Key Algorithm {algorithm!r} is not supported")


def key_algorithm(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "ECDSA"
    return "ED25519"


def load_private_key(pem: str) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except ValueError as err:
        raise TlsInputError(f"Failed to parse private key PEM: {err}") from err
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise TlsInputError(f"unsupported private key type: {type(key).__name__}")
    return key


def _pem(key: PrivateKey, fmt: serialization.PrivateFormat) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def private_key_outputs(key: PrivateKey) -> dict[str, str]:
    """``tls.PrivateKey``'s computed outputs: PEM (PKCS#1 for RSA, SEC 1 for ECDSA, PKCS#8 for
    ED25519), PKCS#8, OpenSSH (empty where OpenSSH has no such key: P224), the public key as PEM
    and authorized_keys line, and its SSH fingerprints."""
    pem_format = serialization.PrivateFormat.PKCS8
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        pem_format = serialization.PrivateFormat.TraditionalOpenSSL
    outputs = {
        "privateKeyPem": _pem(key, pem_format),
        "privateKeyPemPkcs8": _pem(key, serialization.PrivateFormat.PKCS8),
        "privateKeyOpenssh": "",
        "publicKeyPem": key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        "publicKeyOpenssh": "",
        "publicKeyFingerprintMd5": "",
        "publicKeyFingerprintSha256": "",
    }
    try:
        authorized = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    except ValueError:  # P224: no OpenSSH form, the provider leaves these empty
        return outputs
    blob = base64.b64decode(authorized.split()[1])
    md5 = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    outputs.update(
        privateKeyOpenssh=_pem(key, serialization.PrivateFormat.OpenSSH),
        publicKeyOpenssh=authorized.decode() + "\n",
        publicKeyFingerprintMd5=":".join(md5[i : i + 2] for i in range(0, len(md5), 2)),
        publicKeyFingerprintSha256="SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("="),
    )
    return outputs


def private_key_id(key: PrivateKey) -> str:
    """The provider's resource id: SHA-1 of the public key's DER (``hashForState``)."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha1(der, usedforsecurity=False).hexdigest()


# --- certificates -------------------------------------------------------------------------


def subject_name(subject: Mapping[str, Any] | None) -> x509.Name:
    """A ``subject`` block as Go orders it; a list (street addresses) is one multi-valued RDN."""
    rdns = []
    for field, oid in _SUBJECT_FIELDS:
        value = (subject or {}).get(field)
        values = [value] if isinstance(value, str) else list(value or [])
        if values:
            rdns.append(x509.RelativeDistinguishedName([x509.NameAttribute(oid, v) for v in values]))
    return x509.Name(rdns)


def _general_names(inputs: Mapping[str, Any]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in inputs.get("dnsNames") or []]
    for ip in inputs.get("ipAddresses") or []:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError as err:
            raise TlsInputError(f"Invalid IP address: Failed to parse {ip!r}") from err
    names += [x509.UniformResourceIdentifier(u) for u in inputs.get("uris") or []]
    return names


def _hash_for(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None:
    """Go's default signature hash for the signing key (``signingParamsForKey``)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = key.curve.key_size
        return hashes.SHA512() if size > 384 else hashes.SHA384() if size > 256 else hashes.SHA256()
    return hashes.SHA256()


def _subject_key_id(public_key: PublicKey) -> x509.SubjectKeyIdentifier:
    """SHA-1 of the key as ``generateSubjectKeyID`` marshals it (for ED25519: an ASN.1 OCTET STRING)."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return x509.SubjectKeyIdentifier(hashlib.sha1(b"\x04\x20" + raw, usedforsecurity=False).digest())
    return x509.SubjectKeyIdentifier.from_public_key(public_key)


def _sign_kwargs(key: PrivateKey, deterministic: bool) -> dict[str, Any]:
    return {"ecdsa_deterministic": True} if deterministic and isinstance(key, ec.EllipticCurvePrivateKey) else {}


def random_serial() -> int:
    """Like the provider: uniform below 2^128 (and positive, as RFC 5280 asks)."""
    return secrets.randbelow(2**128 - 1) + 1


def _timestamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def _create_certificate(
    inputs: Mapping[str, Any],
    subject: x509.Name,
    names: Sequence[x509.GeneralName],
    public_key: PublicKey,
    issuer: x509.Certificate | None,
    signer: PrivateKey,
    *,
    now: datetime.datetime,
    serial: int,
    deterministic: bool,
) -> tuple[str, dict[str, Any]]:
    """``createCertificate``: validity, serial, allowed uses, CA bit and key identifiers; the id is
    the serial number."""
    uses = list(inputs.get("allowedUses") or [])
    unknown = sorted(set(uses) - ALLOWED_USES)
    if unknown:
        raise TlsInputError(f"unsupported allowedUses {unknown}")
    is_ca = bool(inputs.get("isCaCertificate"))
    if is_ca and not list(subject):
        raise TlsInputError("Must contain at least one Distinguished Name when creating Certificate Authority (CA)")
    max_path = inputs.get("maxPathLength")
    path_length = int(max_path) if is_ca and max_path is not None and int(max_path) > 0 else None
    not_after = now + datetime.timedelta(hours=int(inputs["validityPeriodHours"]))

    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(now)
        .not_valid_after(not_after)
    )
    if any(u in KEY_USAGES for u in uses):
        flags = {u: u in uses for u in KEY_USAGES}
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=flags["digital_signature"],
                content_commitment=flags["content_commitment"],
                key_encipherment=flags["key_encipherment"],
                data_encipherment=flags["data_encipherment"],
                key_agreement=flags["key_agreement"],
                key_cert_sign=flags["cert_signing"],
                crl_sign=flags["crl_signing"],
                encipher_only=flags["encipher_only"],
                decipher_only=flags["decipher_only"],
            ),
            critical=True,
        )
    extended = [EXTENDED_KEY_USAGES[u] for u in uses if u in EXTENDED_KEY_USAGES]
    if extended:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
    builder = builder.add_extension(x509.BasicConstraints(ca=is_ca, path_length=path_length), critical=True)
    ski = _subject_key_id(public_key)
    if is_ca or inputs.get("setSubjectKeyId"):
        builder = builder.add_extension(ski, critical=False)
    if issuer is None and inputs.get("setAuthorityKeyId"):
        builder = builder.add_extension(x509.AuthorityKeyIdentifier(ski.digest, None, None), critical=False)
    elif issuer is not None:
        # Go's CreateCertificate copies the issuer's subject key id into what it signs
        try:
            issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            builder = builder.add_extension(x509.AuthorityKeyIdentifier(issuer_ski.digest, None, None), critical=False)
        except x509.ExtensionNotFound:
            pass
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=not list(subject))

    cert = builder.sign(signer, _hash_for(signer), **_sign_kwargs(signer, deterministic))
    return str(serial), {
        "certPem": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "validityStartTime": _timestamp(now),
        "validityEndTime": _timestamp(not_after),
        "readyForRenewal": False,
    }


def self_signed_certificate(
    inputs: Mapping[str, Any], *, now: datetime.datetime, serial: int, deterministic: bool = False
) -> tuple[str, dict[str, Any]]:
    """``tls.SelfSignedCert``'s id and computed outputs for its inputs."""
    key = load_private_key(inputs["privateKeyPem"])
    cert_id, outputs = _create_certificate(
        inputs,
        subject_name(inputs.get("subject")),
        _general_names(inputs),
        key.public_key(),
        None,
        key,
        now=now,
        serial=serial,
        deterministic=deterministic,
    )
    return cert_id, {**outputs, "keyAlgorithm": key_algorithm(key)}


def certificate_request(inputs: Mapping[str, Any], *, deterministic: bool = False) -> tuple[str, dict[str, Any]]:
    """``tls.CertRequest``'s id (SHA-1 of the request's DER) and computed outputs."""
    key = load_private_key(inputs["privateKeyPem"])
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject_name(inputs.get("subject")))
    names = _general_names(inputs)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    csr = builder.sign(key, _hash_for(key), **_sign_kwargs(key, deterministic))
    der = csr.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der, usedforsecurity=False).hexdigest(), {
        "certRequestPem": csr.public_bytes(serialization.Encoding.PEM).decode(),
        "keyAlgorithm": key_algorithm(key),
    }


def locally_signed_certificate(
    inputs: Mapping[str, Any], *, now: datetime.datetime, serial: int, deterministic: bool = False
) -> tuple[str, dict[str, Any]]:
    """``tls.LocallySignedCert``'s id and computed outputs: the request's subject, names and key,
    signed by the CA key, issued by the CA certificate."""
    try:
        csr = x509.load_pem_x509_csr(inputs["certRequestPem"].encode())
        ca = x509.load_pem_x509_certificate(inputs["caCertPem"].encode())
    except ValueError as err:
        raise TlsInputError(f"Failed to parse PEM: {err}") from err
    ca_key = load_private_key(inputs["caPrivateKeyPem"])
    if ca.public_key() != ca_key.public_key():
        raise TlsInputError("x509: provided PrivateKey doesn't match parent's PublicKey")
    try:
        names: list[x509.GeneralName] = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        names = []
    public_key = csr.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise TlsInputError(f"unsupported public key type: {type(public_key).__name__}")
    cert_id, outputs = _create_certificate(
        inputs, csr.subject, names, public_key, ca, ca_key, now=now, serial=serial, deterministic=deterministic
    )
    return cert_id, {**outputs, "caKeyAlgorithm": key_algorithm(ca_key)}


def ready_for_renewal(state: Mapping[str, Any], now: datetime.datetime) -> bool:
    """Past ``validityEndTime`` minus ``earlyRenewalHours``: the provider then plans a replacement."""
    end = datetime.datetime.fromisoformat(state["validityEndTime"])
    return now >= end - datetime.timedelta(hours=int(state.get("earlyRenewalHours") or 0))
