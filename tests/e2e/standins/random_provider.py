"""Stand-in for pulumi-random v4.21.4: ``RandomBytes`` and ``RandomPassword`` only."""

from __future__ import annotations

import base64
import secrets
import string

import bcrypt

from tests.e2e.standins.server import Properties, ResourceKind, StandinProvider

VERSION = "4.21.4"


def _validate(inputs: Properties) -> list[tuple[str, str]]:
    length = inputs.get("length")
    if length is not None and (not isinstance(length, int | float) or length != int(length) or length < 1):
        shown = f"{length:g}" if isinstance(length, int | float) else repr(length)
        return [("length", f"value must be a whole number of at least 1, got: {shown}")]
    keepers = inputs.get("keepers")
    if keepers is not None and not isinstance(keepers, dict):
        return [("keepers", "keepers must be a map of strings")]
    return []


def _create(inputs: Properties) -> tuple[str, Properties]:
    data = secrets.token_bytes(int(inputs["length"]))
    encoded = base64.b64encode(data).decode()
    # The id is the base64 value, as pulumi-random makes it (computeRandomBytesID in its
    # provider/resources.go): a resource id is never a secret, so the state holds it in clear.
    return encoded, {"base64": encoded, "hex": data.hex()}


RANDOM_BYTES = ResourceKind(
    token="random:index/randomBytes:RandomBytes",
    create=_create,
    computed=("base64", "hex"),
    required=("length",),
    validate=_validate,
)

PASSWORD_CLASSES = {
    "upper": string.ascii_uppercase,
    "lower": string.ascii_lowercase,
    "numeric": string.digits,
    "special": "!@#$%&*()-_=+[]{}<>:?",
}
"""terraform-provider-random's character classes (its default special characters)."""


def _validate_password(inputs: Properties) -> list[tuple[str, str]]:
    problems = _validate(inputs)
    length = inputs.get("length")
    minimums = sum(int(inputs.get(f"min{c.capitalize()}", 0) or 0) for c in PASSWORD_CLASSES)
    if isinstance(length, int | float) and length < minimums:
        problems.append(("length", f"length ({length:g}) must be at least the sum of the minimums ({minimums})"))
    return problems


def _create_password(inputs: Properties) -> tuple[str, Properties]:
    alphabet = "".join(chars for name, chars in PASSWORD_CLASSES.items() if inputs.get(name, True))
    result = "".join(secrets.choice(alphabet) for _ in range(int(inputs["length"])))
    bcrypt_hash = bcrypt.hashpw(result.encode(), bcrypt.gensalt(rounds=10)).decode()
    # pulumi-random's id for a password is "none": the value lives only in `result`, a secret
    return "none", {"result": result, "bcryptHash": bcrypt_hash}


RANDOM_PASSWORD = ResourceKind(
    token="random:index/randomPassword:RandomPassword",
    create=_create_password,
    computed=("result", "bcryptHash"),
    required=("length",),
    defaults={"special": True, "upper": True, "lower": True, "numeric": True},
    validate=_validate_password,
)

PROVIDER = StandinProvider(
    name="random",
    version=VERSION,
    kinds={RANDOM_BYTES.token: RANDOM_BYTES, RANDOM_PASSWORD.token: RANDOM_PASSWORD},
)
