"""NATS decentralized auth material (operator, accounts, users), minted as pure functions.

Why pure: the sandbox and the Pulumi program must produce the same keys from the same
stored entropy, so nothing here reads the clock, the disk or a random source. Entropy
comes in (32 bytes per key); nkeys, JWTs and ``.creds`` text come out.

JWTs are written here rather than with PyPI ``nats-jwt`` because that package writes the
wrong JetStream limit keys; the claim layout follows nats-io/jwt v2.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import bcrypt
import nkeys

from lattice.permissions import LeafAllow, leaf_permissions
from lattice.plan import LatticePlan

KEY_ENTROPY_BYTES = 32

_PREFIXES = {
    "operator": nkeys.PREFIX_BYTE_OPERATOR,
    "account": nkeys.PREFIX_BYTE_ACCOUNT,
    "user": nkeys.PREFIX_BYTE_USER,
}


class CredentialError(ValueError):
    """Entropy or claims that cannot produce valid NATS credentials."""


@dataclass(frozen=True)
class NKey:
    """One nkey: the seed is the secret, the public key is what configs and JWTs name."""

    kind: str
    seed: str = field(repr=False)
    public_key: str

    def sign(self, data: bytes) -> bytes:
        return bytes(nkeys.from_seed(self.seed.encode()).sign(data))


def nkey_from_entropy(kind: str, entropy: bytes) -> NKey:
    """Turn 32 bytes of stored entropy into an nkey of ``kind`` (operator, account, user)."""
    if kind not in _PREFIXES:
        raise CredentialError(f"unknown nkey kind {kind!r}")
    if len(entropy) != KEY_ENTROPY_BYTES:
        raise CredentialError(f"{kind} key entropy must be {KEY_ENTROPY_BYTES} bytes, got {len(entropy)}")
    seed = nkeys.encode_seed(entropy, _PREFIXES[kind])
    public = nkeys.from_seed(seed).public_key
    return NKey(kind=kind, seed=seed.decode(), public_key=public.decode())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _canonical(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def encode_jwt(issuer: NKey, subject: str, name: str, nats: Mapping[str, Any]) -> str:
    """Sign a NATS v2 JWT. No ``iat``/``exp``: the output depends only on its inputs."""
    claims: dict[str, Any] = {"iss": issuer.public_key, "name": name, "sub": subject}
    claims["nats"] = dict(nats)
    digest = hashlib.new("sha512_256", _canonical(claims)).digest()
    claims["jti"] = base64.b32encode(digest).decode().rstrip("=")
    header = _b64url(_canonical({"alg": "ed25519-nkey", "typ": "JWT"}))
    body = _b64url(_canonical(claims))
    signing_input = f"{header}.{body}".encode()
    return f"{header}.{body}.{_b64url(issuer.sign(signing_input))}"


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """Read (not verify) a JWT's claims; for tests and diagnostics."""
    body = token.split(".")[1]
    padded = body + "=" * (-len(body) % 4)
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return claims


_UNLIMITED_NATS = {"subs": -1, "data": -1, "payload": -1}
_UNLIMITED_ACCOUNT = {"imports": -1, "exports": -1, "wildcards": True, "conn": -1, "leaf": -1}
_UNLIMITED_JETSTREAM = {"mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}


def operator_jwt(operator: NKey, name: str, system_account: str) -> str:
    nats = {"type": "operator", "version": 2, "system_account": system_account}
    return encode_jwt(operator, operator.public_key, name, nats)


def account_jwt(
    operator: NKey,
    account: NKey,
    name: str,
    *,
    jetstream: bool,
    revocations: Mapping[str, int] | None = None,
) -> str:
    """An account signed by the operator; ``revocations`` maps user keys to a cut-off time."""
    limits: dict[str, Any] = {**_UNLIMITED_NATS, **_UNLIMITED_ACCOUNT}
    if jetstream:
        limits.update(_UNLIMITED_JETSTREAM)
    nats: dict[str, Any] = {
        "type": "account",
        "version": 2,
        "limits": limits,
        "default_permissions": {"pub": {}, "sub": {}},
    }
    if revocations:
        nats["revocations"] = dict(sorted(revocations.items()))
    return encode_jwt(operator, account.public_key, name, nats)


def user_jwt(
    account: NKey,
    user: NKey,
    name: str,
    *,
    connection_types: Sequence[str] = (),
    allow_pub: Sequence[str] = (),
    allow_sub: Sequence[str] = (),
) -> str:
    """A user of ``account``; empty allow-lists mean no subject restriction."""
    nats: dict[str, Any] = {"type": "user", "version": 2, **_UNLIMITED_NATS}
    nats["pub"] = {"allow": sorted(allow_pub)} if allow_pub else {}
    nats["sub"] = {"allow": sorted(allow_sub)} if allow_sub else {}
    if connection_types:
        nats["allowed_connection_types"] = sorted(connection_types)
    return encode_jwt(account, user.public_key, name, nats)


def format_creds(jwt: str, seed: str) -> str:
    """The standard ``.creds`` file text that nats-server and every NATS client read."""
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"{jwt}\n"
        "------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{seed}\n"
        "------END USER NKEY SEED------\n\n"
        "*************************************************************\n"
    )


# --- the whole lattice -------------------------------------------------------------------

OPERATOR_KEY = "operator"
SYSTEM_ACCOUNT_KEY = "account-system"
LATTICE_ACCOUNT_KEY = "account-lattice"
SERVICE_USER_KEY = "user-service"


def account_key(lattice: str, primary: bool = True) -> str:
    """Entropy name of a lattice's account: the stack's own keeps the plain name, others
    add theirs after a ``.`` (never part of a name, so no two names collide)."""
    return LATTICE_ACCOUNT_KEY if primary else f"{LATTICE_ACCOUNT_KEY}.{lattice}"


def service_key(lattice: str, primary: bool = True) -> str:
    return SERVICE_USER_KEY if primary else f"{SERVICE_USER_KEY}.{lattice}"


def leaf_user_key(spoke: str, rotation: int = 0) -> str:
    """Entropy name of a spoke's leaf key; each rotation is a new one (``.`` cannot occur
    in a spoke name, so ``leaf-a.1`` never collides with a spoke called ``a-1``)."""
    return f"leaf-{spoke}" if rotation == 0 else f"leaf-{spoke}.{rotation}"


def spoke_key_names(spoke: str, rotation: int = 0) -> tuple[str, ...]:
    """Every generation of a spoke's leaf key up to ``rotation``: the last is in use, the
    earlier ones are kept to stay revoked."""
    return tuple(leaf_user_key(spoke, r) for r in range(rotation + 1))


def entropy_names(
    spokes: Sequence[str], rotations: Mapping[str, int] | None = None, lattices: Sequence[str] = ()
) -> tuple[str, ...]:
    """Every key a lattice needs, by name: one 32-byte entropy value each. ``lattices``
    are the further lattices on the same hubs: an account and a service user each.

    Per-spoke keys are separate entries so adding or rotating one spoke's key touches
    nothing else (the program stores each as its own ``random.RandomBytes``).
    """
    rotations = rotations or {}
    fixed = (OPERATOR_KEY, SYSTEM_ACCOUNT_KEY, LATTICE_ACCOUNT_KEY, SERVICE_USER_KEY)
    more = tuple(k for lat in lattices for k in (account_key(lat, False), service_key(lat, False)))
    return fixed + more + tuple(k for s in spokes for k in spoke_key_names(s, rotations.get(s, 0)))


@dataclass(frozen=True)
class HubTrust:
    """What every hub server's config carries: all public, no secret."""

    operator_jwt: str
    system_account: str
    lattice_account: str
    """The stack's own lattice's account public key."""
    account_jwts: Mapping[str, str]
    """Account public key -> account JWT (preloaded into the hubs' memory resolver)."""
    accounts: Mapping[str, str] = field(default_factory=dict)
    """Lattice name -> its account public key (every lattice on these hubs)."""


@dataclass(frozen=True)
class ChildLogin:
    """How a spoke logs in to a mid-tier spoke (config mode has no JWT resolver)."""

    user: str
    password: str = field(repr=False)
    password_hash: str
    """bcrypt hash: the only form the mid-tier spoke's config holds."""


@dataclass(frozen=True)
class LatticeAuth:
    trust: HubTrust
    leaf_creds: Mapping[str, str] = field(repr=False)
    """Spoke -> ``.creds`` text of its own leaf user (secret), for spokes on a hub."""
    service_creds: str = field(repr=False)
    """``.creds`` of the cloud-side service user at the hubs (secret), stack's own lattice."""
    child_logins: Mapping[str, ChildLogin] = field(repr=False)
    """Spoke -> its login at its mid-tier upstream, for spokes whose upstream is a spoke."""
    lattice_service_creds: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Lattice -> its service user's ``.creds`` (every lattice, the stack's own included)."""

    def secret_values(self) -> tuple[str, ...]:
        """Every secret string, for hygiene checks that scan configs, logs and outputs."""
        values = [self.service_creds, *self.leaf_creds.values(), *self.lattice_service_creds.values()]
        values += [login.password for login in self.child_logins.values()]
        return tuple(values)


def _derive(entropy: bytes, purpose: str, size: int = 32) -> bytes:
    return hmac.new(entropy, purpose.encode(), hashlib.sha256).digest()[:size]


_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
BCRYPT_COST = 6
"""Low on purpose: a work factor slows guessing of human passwords, and these are 256
random bits that no guessing reaches. At 11 (``mkpasswd``'s default) each hash took
~100 ms, the largest single cost of a program run with many devices (``make bench``)."""


def _bcrypt_salt(entropy: bytes) -> bytes:
    raw = _derive(entropy, "bcrypt-salt", 22)
    chars = [_BCRYPT_ALPHABET[b % 64] for b in raw[:21]]
    chars.append(_BCRYPT_ALPHABET[(raw[21] % 4) * 16])  # last char carries 2 bits only
    return f"$2b${BCRYPT_COST:02d}${''.join(chars)}".encode()


def child_login(spoke: str, entropy: bytes) -> ChildLogin:
    """A deterministic password and its bcrypt hash, derived from the spoke's leaf entropy."""
    password = base64.b32encode(_derive(entropy, "upstream-password")).decode().rstrip("=")
    hashed = bcrypt.hashpw(password.encode(), _bcrypt_salt(entropy)).decode()
    return ChildLogin(user=spoke, password=password, password_hash=hashed)


def mint_lattice_auth(
    lattice: str,
    hub_spokes: Sequence[str],
    spoke_spokes: Sequence[str],
    entropy: Mapping[str, bytes],
    *,
    revoked_users: Mapping[str, int] | None = None,
    websocket_spokes: Collection[str] = (),
    permissions: Mapping[str, LeafAllow] | None = None,
    rotations: Mapping[str, int] | None = None,
    more_lattices: Sequence[str] = (),
    spoke_lattices: Mapping[str, str] | None = None,
    more_revoked: Mapping[str, Mapping[str, int]] | None = None,
) -> LatticeAuth:
    """All credentials of a lattice from stored entropy.

    ``hub_spokes`` dial a hub and get a leaf user JWT signed by their lattice's account,
    so adding one changes no hub config. ``spoke_spokes`` dial a mid-tier spoke and get a
    password login whose bcrypt hash only that mid-tier spoke's config holds.
    ``revoked_users`` (user public key -> cut-off unix time) lands in the account JWT.
    ``websocket_spokes`` dial over WebSocket: their users allow ``LEAFNODE_WS`` instead.
    ``permissions`` (spoke -> allow-lists) restrict what a hub spoke's link carries;
    ``rotations`` (spoke -> generation) pick which of its keys is in use.
    ``more_lattices`` share the hubs, each an account of its own; ``spoke_lattices``
    (spoke -> lattice, default ``lattice``) and ``more_revoked`` (lattice -> revocations)
    place spokes and revocations in them.
    """
    rotations = rotations or {}
    permissions = permissions or {}
    spoke_lattices = spoke_lattices or {}
    needed = entropy_names([*hub_spokes, *spoke_spokes], rotations, more_lattices)
    missing = [n for n in needed if n not in entropy]
    if missing:
        raise CredentialError("missing key entropy for: " + ", ".join(missing))

    def key(spoke: str) -> bytes:
        return entropy[leaf_user_key(spoke, rotations.get(spoke, 0))]

    names = (lattice, *more_lattices)
    accounts = {name: entropy[account_key(name, name == lattice)] for name in names}
    revoked = {lattice: dict(revoked_users or {}), **{k: dict(v) for k, v in (more_revoked or {}).items()}}
    trust = hub_trust(lattice, entropy[OPERATOR_KEY], entropy[SYSTEM_ACCOUNT_KEY], accounts, revoked=revoked)
    services = {
        name: service_user_creds(name, accounts[name], entropy[service_key(name, name == lattice)]) for name in names
    }
    leaf_creds = {
        s: leaf_user_creds(
            s,
            accounts[spoke_lattices.get(s, lattice)],
            key(s),
            websocket=s in websocket_spokes,
            allow=permissions.get(s),
        )
        for s in hub_spokes
    }
    logins = {s: child_login(s, key(s)) for s in spoke_spokes}
    return LatticeAuth(
        trust=trust,
        leaf_creds=leaf_creds,
        service_creds=services[lattice],
        child_logins=logins,
        lattice_service_creds=services,
    )


# One function per credential, each from only the entropy it derives from, so the program
# can make each secret depend on exactly its keys (a spoke's creds on its own key and its
# account's, not on every key of the lattice).


def hub_trust(
    lattice: str,
    operator_entropy: bytes,
    system_entropy: bytes,
    accounts: Mapping[str, bytes],
    *,
    revoked: Mapping[str, Mapping[str, int]] | None = None,
) -> HubTrust:
    """The operator, SYS and one account per lattice (``accounts``: lattice -> entropy,
    ``lattice`` among them), each with its revocations (lattice -> user key -> cut-off)."""
    revoked = revoked or {}
    operator = nkey_from_entropy("operator", operator_entropy)
    system = nkey_from_entropy("account", system_entropy)
    keys = {name: nkey_from_entropy("account", e) for name, e in accounts.items()}
    account_jwts = {system.public_key: account_jwt(operator, system, "SYS", jetstream=False)}
    for name, account in keys.items():
        account_jwts[account.public_key] = account_jwt(
            operator, account, name, jetstream=True, revocations=revoked.get(name) or None
        )
    return HubTrust(
        operator_jwt=operator_jwt(operator, f"{lattice}-operator", system.public_key),
        system_account=system.public_key,
        lattice_account=keys[lattice].public_key,
        account_jwts=account_jwts,
        accounts={name: k.public_key for name, k in keys.items()},
    )


def service_user_creds(lattice: str, account_entropy: bytes, service_entropy: bytes) -> str:
    """``.creds`` of the cloud-side service user of a lattice's account."""
    account = nkey_from_entropy("account", account_entropy)
    service = nkey_from_entropy("user", service_entropy)
    jwt = user_jwt(account, service, f"{lattice}-service", connection_types=["STANDARD"])
    return format_creds(jwt, service.seed)


def leaf_user_creds(
    spoke: str,
    account_entropy: bytes,
    leaf_entropy: bytes,
    *,
    websocket: bool = False,
    allow: LeafAllow | None = None,
) -> str:
    """``.creds`` of a spoke's leaf user, signed by the account: leaf connections only, over
    the one transport the spoke uses (``LEAFNODE`` or ``LEAFNODE_WS``; nats-server tells
    them apart), carrying only the subjects of ``allow`` (None: every subject)."""
    account = nkey_from_entropy("account", account_entropy)
    user = nkey_from_entropy("user", leaf_entropy)
    kind = "LEAFNODE_WS" if websocket else "LEAFNODE"
    jwt = user_jwt(
        account,
        user,
        f"leaf-{spoke}",
        connection_types=[kind],
        allow_pub=allow.publish if allow else (),
        allow_sub=allow.subscribe if allow else (),
    )
    return format_creds(jwt, user.seed)


REVOKED_BEFORE = 4102444800
"""Cut-off for a revoked key (2100-01-01): every JWT it could carry was issued before it."""


def _rotations(plan: LatticePlan) -> dict[str, int]:
    rotations = {s.name: s.key_rotation for s in plan.spokes}
    rotations.update(zip(plan.retired_spokes, plan.retired_rotations, strict=True))
    return rotations


def _extra_lattices(plan: LatticePlan) -> tuple[str, ...]:
    return tuple(lat for lat in plan.lattices if lat != plan.lattice)


def plan_key_names(plan: LatticePlan) -> tuple[str, ...]:
    """Every entropy a plan needs: every key generation of active spokes, and of retired
    ones (kept to revoke them), and an account and service user per further lattice. A
    spoke of an external hub has none: its ``.creds`` come from that hub's operator."""
    external = {h.name for h in plan.hubs if h.external_urls}
    spokes = [s.name for s in plan.spokes if s.upstream not in external]
    return entropy_names([*spokes, *plan.retired_spokes], _rotations(plan), _extra_lattices(plan))


def revoked_key_names(plan: LatticePlan) -> dict[str, tuple[str, ...]]:
    """Lattice -> keys its account revokes: every rotated-out generation of an active
    spoke, and every generation of a retired one."""
    external = {h.name for h in plan.hubs if h.external_urls}
    out: dict[str, list[str]] = {lat: [] for lat in plan.all_lattices}
    for s in plan.spokes:
        if s.upstream not in external:
            out.setdefault(plan.lattice_of(s.name), []).extend(spoke_key_names(s.name, s.key_rotation)[:-1])
    lattices = plan.retired_lattices or (plan.lattice,) * len(plan.retired_spokes)
    for name, rotation, lat in zip(plan.retired_spokes, plan.retired_rotations, lattices, strict=True):
        out.setdefault(lat, []).extend(spoke_key_names(name, rotation))
    return {lat: tuple(keys) for lat, keys in out.items()}


def revocations(key_names: Sequence[str], entropy: Mapping[str, bytes]) -> dict[str, int]:
    """Leaf-user public keys of ``key_names`` -> cut-off, for an account JWT."""
    return {nkey_from_entropy("user", entropy[k]).public_key: REVOKED_BEFORE for k in key_names}


def lattice_auth_for_plan(plan: LatticePlan, entropy: Mapping[str, bytes]) -> LatticeAuth:
    """:func:`mint_lattice_auth` for a plan: its spokes split by upstream, old keys revoked."""
    external = {h.name for h in plan.hubs if h.external_urls}
    hub_spokes = [s.name for s in plan.spokes if s.upstream_is_hub and s.upstream not in external]
    spoke_spokes = [s.name for s in plan.spokes if not s.upstream_is_hub]
    missing = [n for n in plan_key_names(plan) if n not in entropy]
    if missing:
        raise CredentialError("missing key entropy for: " + ", ".join(missing))
    websocket = [s.name for s in plan.spokes if s.leaf_transport == "websocket"]
    revoked = {lat: revocations(keys, entropy) for lat, keys in revoked_key_names(plan).items()}
    return mint_lattice_auth(
        plan.lattice,
        hub_spokes,
        spoke_spokes,
        entropy,
        revoked_users=revoked.pop(plan.lattice, {}),
        websocket_spokes=websocket,
        permissions={s: leaf_permissions(plan, s) for s in hub_spokes},
        rotations=_rotations(plan),
        more_lattices=_extra_lattices(plan),
        spoke_lattices={s.name: s.lattice for s in plan.spokes if s.lattice},
        more_revoked=revoked,
    )
