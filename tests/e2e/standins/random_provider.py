"""Stand-in for pulumi-random v4.21.4: ``random:index/randomBytes:RandomBytes`` only."""

from __future__ import annotations

import base64
import secrets

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

PROVIDER = StandinProvider(name="random", version=VERSION, kinds={RANDOM_BYTES.token: RANDOM_BYTES})
