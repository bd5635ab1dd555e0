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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import bcrypt
import nkeys

from lattice.jetstream import agent_permissions
from lattice.limits import AccountLimits
from lattice.permissions import LeafAllow, leaf_permissions
from lattice.plan import LatticePlan

KEY_ENTROPY_BYTES = 32
T = TypeVar("T")

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


LEAF_ISSUED_AT = 1_796_000_000
"""Every leaf user JWT's ``iat`` (2026-11-29), fixed so the output depends only on the inputs.
Not omitted: when an account with revocations is updated (a reload of the hubs' trust),
nats-server re-checks each connected user with ``jwt.AccountClaims.IsClaimRevoked``, which
counts a claim *without* ``iat`` as revoked, and closes it: retiring one spoke cut every
site's leaf link and every service's connection (found by the change-under-load test).
It stays before :data:`REVOKED_BEFORE`, so a revoked key's JWT is still revoked."""
USER_ISSUED_AT = LEAF_ISSUED_AT + 1
"""A service user's (and the hub-stream agent's) ``iat``, and a leaf's from ``revision`` 1:
after revision 0's leaf issue, so the cut-off that retires it spares them."""
WIDE_ISSUED_AT = 1_700_000_000
"""The ``iat`` of every user JWT of the releases before the leaf lists were narrowed (the
leaf users' could reach the hubs' whole JetStream API). Each account revokes every user it
issued at or before it (``revocations: {"*": ...}``; measured on nats-server 2.15.1: at or
before the cut-off is refused), so a copy of an old, wider ``.creds`` stops working. The
service users were issued then too: their ``.creds`` change once."""


def encode_jwt(issuer: NKey, subject: str, name: str, nats: Mapping[str, Any], issued_at: int | None = None) -> str:
    """Sign a NATS v2 JWT. No ``exp``, and ``iat`` only when given: the output depends only
    on its inputs."""
    claims: dict[str, Any] = {"iss": issuer.public_key, "name": name, "sub": subject}
    if issued_at is not None:
        claims["iat"] = issued_at
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
"""Connections and leaf links stay unbounded: nats-server has no per-user connection limit,
so an account-wide cap would let one stolen site credential take every slot and lock
every other site out (README, Threat model)."""
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
    limits: AccountLimits | None = None,
    signing_keys: Sequence[str] = (),
) -> str:
    """An account signed by the operator; ``revocations`` maps user keys (or ``*``: every
    user) to a cut-off time; ``limits``: its JetStream storage at the hubs (None:
    unlimited); ``signing_keys``: the keys besides its own that may sign its users."""
    claims_limits: dict[str, Any] = {**_UNLIMITED_NATS, **_UNLIMITED_ACCOUNT}
    if jetstream:
        claims_limits.update(_UNLIMITED_JETSTREAM)
        if limits is not None and limits.file_bytes is not None:
            claims_limits["disk_storage"] = limits.file_bytes
        if limits is not None and limits.memory_bytes is not None:
            claims_limits["mem_storage"] = limits.memory_bytes
    nats: dict[str, Any] = {
        "type": "account",
        "version": 2,
        "limits": claims_limits,
        "default_permissions": {"pub": {}, "sub": {}},
    }
    if revocations:
        nats["revocations"] = dict(sorted(revocations.items()))
    if signing_keys:
        nats["signing_keys"] = sorted(signing_keys)
    return encode_jwt(operator, account.public_key, name, nats)


def user_jwt(
    account: NKey,
    user: NKey,
    name: str,
    *,
    connection_types: Sequence[str] = (),
    allow_pub: Sequence[str] = (),
    allow_sub: Sequence[str] = (),
    deny_pub: Sequence[str] = (),
    response_window_ns: int = 0,
    sources: Sequence[str] = (),
    subscriptions: int = -1,
    payload: int = -1,
    bearer: bool = False,
    signer: NKey | None = None,
    issued_at: int = USER_ISSUED_AT,
) -> str:
    """A user of ``account``; empty allow-lists mean no subject restriction.

    ``response_window_ns``: the ``resp`` claim (nats-server's ``allow_responses``): the
    user may publish to the reply subject of each message delivered to it, any number of
    times, for that long. ``sources``: the ``src`` claim, the only networks (CIDRs) it may
    connect from; empty: anywhere. ``subscriptions``, ``payload``: its ``subs`` and
    ``payload`` limits (-1: none). ``bearer``: the JWT alone logs in (no nonce signed).
    ``signer``: one of the account's signing keys signs it instead of the account's own."""
    nats: dict[str, Any] = {"type": "user", "version": 2, **_UNLIMITED_NATS, "subs": subscriptions, "payload": payload}
    if bearer:
        nats["bearer_token"] = True
    nats["pub"] = {"allow": sorted(allow_pub)} if allow_pub else {}
    if deny_pub:
        nats["pub"]["deny"] = sorted(deny_pub)
    nats["sub"] = {"allow": sorted(allow_sub)} if allow_sub else {}
    if response_window_ns:
        nats["resp"] = {"max": -1, "ttl": response_window_ns}
    if sources:
        nats["src"] = sorted(sources)
    if connection_types:
        nats["allowed_connection_types"] = sorted(connection_types)
    if signer is not None:
        nats["issuer_account"] = account.public_key
    return encode_jwt(signer or account, user.public_key, name, nats, issued_at=issued_at)


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
    nothing else (the program stores each as its own ``random.RandomPassword``).
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
    agent_jwt: str = field(default="", repr=False)
    """The hub-stream agent's bearer JWT (a secret: it alone logs in); empty without hubStreams."""

    def secret_values(self) -> tuple[str, ...]:
        """Every secret string, for hygiene checks that scan configs, logs and outputs."""
        values = [self.service_creds, *self.leaf_creds.values(), *self.lattice_service_creds.values()]
        values += [self.agent_jwt] if self.agent_jwt else []
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
    limits: AccountLimits | None = None,
    revision: int = 0,
) -> HubTrust:
    """The operator, SYS and one account per lattice (``accounts``: lattice -> entropy,
    ``lattice`` among them), each with its revocations (lattice -> user key -> cut-off)
    besides every earlier issue (:func:`earlier_issues_before`), ``limits`` (each lattice's
    account gets the same) and the leaf signers of ``revision`` (:func:`leaf_signers`)."""
    revoked = revoked or {}
    operator = nkey_from_entropy("operator", operator_entropy)
    system = nkey_from_entropy("account", system_entropy)
    keys = {name: nkey_from_entropy("account", e) for name, e in accounts.items()}
    account_jwts = {system.public_key: account_jwt(operator, system, "SYS", jetstream=False)}
    for name, account in keys.items():
        account_jwts[account.public_key] = account_jwt(
            operator,
            account,
            name,
            jetstream=True,
            revocations={"*": earlier_issues_before(revision), **revoked.get(name, {})},
            limits=limits,
            signing_keys=[k.public_key for k in leaf_signers(accounts[name], revision)],
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
    sources: Sequence[str] = (),
    limits: AccountLimits | None = None,
    revision: int = 0,
) -> str:
    """``.creds`` of a spoke's leaf user, signed for ``revision`` (:func:`leaf_signer`):
    leaf connections only, over
    the one transport the spoke uses (``LEAFNODE`` or ``LEAFNODE_WS``; nats-server tells
    them apart), carrying only the subjects of ``allow`` (None: every subject), from
    ``sources`` only (the site's egress CIDRs; empty: from anywhere), with ``limits``' cap
    on its subscriptions and payload (None: none)."""
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
        sources=sources,
        subscriptions=limits.site_subscriptions if limits else -1,
        payload=limits.site_payload if limits else -1,
        signer=leaf_signer(account_entropy, revision),
        issued_at=leaf_issued_at(revision),
    )
    return format_creds(jwt, user.seed)


def signing_key(account_entropy: bytes, revision: int) -> NKey:
    """The account's leaf signing key of ``revision`` (1 and up), derived from its entropy."""
    return nkey_from_entropy("account", _derive(account_entropy, f"leaf-signer.{revision}"))


def leaf_signer(account_entropy: bytes, revision: int) -> NKey | None:
    """What signs an account's leaf users at ``leafPermissions.revision``: at 0 the account
    itself (as every earlier release did, so a hub still on the earlier trust takes the new
    ``.creds``), from 1 on that revision's signing key. None: the account."""
    return signing_key(account_entropy, revision) if revision else None


def leaf_signers(account_entropy: bytes, revision: int) -> list[NKey]:
    """The signing keys an account names at ``revision``: its own revision's and the next's.
    Naming the next ahead lets a revision's new ``.creds`` in at hubs still on the earlier
    trust (spokes move first, no link goes down); the hubs' new trust then names the
    revision's and the one after, so the earlier revision's ``.creds`` stop working
    (measured: a user signed by a key its account no longer names is refused)."""
    return [signing_key(account_entropy, r) for r in (revision, revision + 1) if r]


def leaf_issued_at(revision: int) -> int:
    """A leaf JWT's ``iat``: revision 0's is :data:`LEAF_ISSUED_AT`; a later revision's comes
    after the cut-off that retires revision 0 (:func:`earlier_issues_before`)."""
    return LEAF_ISSUED_AT if revision == 0 else USER_ISSUED_AT


def earlier_issues_before(revision: int) -> int:
    """The account-wide cut-off: the earlier releases' wide JWTs (:data:`WIDE_ISSUED_AT`),
    and from revision 1 on also revision 0's leaf JWTs, which the account itself signed
    (a revision's own signing key cannot retire those)."""
    return WIDE_ISSUED_AT if revision == 0 else LEAF_ISSUED_AT


AGENT_PURPOSE = "jetstream-sync"


def agent_user(account_entropy: bytes) -> NKey:
    """The hub-stream agent's user key, derived from its account's entropy (it needs no
    stored key of its own: whoever has the account's entropy can sign any user anyway)."""
    return nkey_from_entropy("user", _derive(account_entropy, AGENT_PURPOSE))


def agent_jwt(plan: LatticePlan, account_entropy: bytes) -> str:
    """A bearer JWT for the agent that keeps the hub streams (:mod:`lattice.jetstream`):
    client connections only, exactly the API calls the declared streams need. A bearer
    token, so the agent signs nothing and runs with the Python standard library alone."""
    account = nkey_from_entropy("account", account_entropy)
    allowed = agent_permissions(plan)
    return user_jwt(
        account,
        agent_user(account_entropy),
        f"{plan.lattice}-jetstream-sync",
        connection_types=["STANDARD"],
        allow_pub=allowed.publish,
        deny_pub=allowed.deny_publish,
        allow_sub=allowed.subscribe,
        bearer=True,
    )


REVOKED_BEFORE = 4102444800
"""Cut-off for a revoked key (2100-01-01): every JWT it could carry was issued before it."""


def _rotations(plan: LatticePlan) -> dict[str, int]:
    rotations = {s.name: s.key_rotation for s in plan.spokes}
    rotations.update({r.name: r.key_rotation for r in plan.retired_spokes})
    return rotations


def _extra_lattices(plan: LatticePlan) -> tuple[str, ...]:
    return tuple(lat for lat in plan.lattices if lat != plan.lattice)


def _own_key_spokes(plan: LatticePlan) -> list[str]:
    """Spokes with keys of ours: all but those of an external hub (whose ``.creds`` come
    from that hub's operator)."""
    return [s.name for s in plan.spokes if not plan.dials_external_hub(s.name)]


def plan_key_names(plan: LatticePlan) -> tuple[str, ...]:
    """Every entropy a plan needs: every key generation of active spokes, and of retired
    ones (kept to revoke them), and an account and service user per further lattice."""
    retired = [r.name for r in plan.retired_spokes]
    return entropy_names([*_own_key_spokes(plan), *retired], _rotations(plan), _extra_lattices(plan))


def revoked_key_names(plan: LatticePlan) -> dict[str, tuple[str, ...]]:
    """Lattice -> keys its account revokes: every rotated-out generation of an active
    spoke, and every generation of a retired one."""
    out: dict[str, list[str]] = {lat: [] for lat in plan.all_lattices}
    for name in _own_key_spokes(plan):
        generations = spoke_key_names(name, plan.spoke(name).key_rotation)
        out.setdefault(plan.lattice_of(name), []).extend(generations[:-1])
    for retired in plan.retired_spokes:
        out.setdefault(retired.lattice, []).extend(spoke_key_names(retired.name, retired.key_rotation))
    return {lat: tuple(keys) for lat, keys in out.items()}


def revocations(key_names: Sequence[str], entropy: Mapping[str, bytes]) -> dict[str, int]:
    """Leaf-user public keys of ``key_names`` -> cut-off, for an account JWT."""
    return {nkey_from_entropy("user", entropy[k]).public_key: REVOKED_BEFORE for k in key_names}


# --- recipes: each credential from exactly the keys it derives from ------------------------


@dataclass(frozen=True)
class Recipe(Generic[T]):
    """One credential: the entropy it derives from (by key name, in order) and how.

    :func:`assemble` applies every recipe to stored entropy at once (the sandbox, the
    tests); ``LatticeKeys`` applies each to its own entropy outputs, so a spoke's secret
    depends on its own key and its account's, never on the whole lattice's.
    """

    keys: tuple[str, ...]
    make: Callable[[Sequence[bytes]], T]

    def __call__(self, entropy: Mapping[str, bytes]) -> T:
        return self.make([entropy[k] for k in self.keys])


def _account_key_name(plan: LatticePlan, lattice: str) -> str:
    return account_key(lattice, lattice == plan.lattice)


def trust_recipe(plan: LatticePlan) -> Recipe[HubTrust]:
    """The hubs' operator, SYS and one account per lattice, with every revocation."""
    lattices = plan.all_lattices
    revoked = revoked_key_names(plan)
    flat = [k for lat in lattices for k in revoked.get(lat, ())]

    def make(values: Sequence[bytes]) -> HubTrust:
        operator, system = values[0], values[1]
        accounts = dict(zip(lattices, values[2 : 2 + len(lattices)], strict=True))
        entropy = dict(zip(flat, values[2 + len(lattices) :], strict=True))
        revoked_users = {lat: revocations(revoked.get(lat, ()), entropy) for lat in lattices}
        return hub_trust(
            plan.lattice,
            operator,
            system,
            accounts,
            revoked=revoked_users,
            limits=plan.limits,
            revision=plan.leaf_revision,
        )

    keys = (OPERATOR_KEY, SYSTEM_ACCOUNT_KEY, *(_account_key_name(plan, lat) for lat in lattices), *flat)
    return Recipe(keys, make)


def service_creds_recipe(plan: LatticePlan, lattice: str) -> Recipe[str]:
    """``.creds`` of a lattice's cloud-side service user."""
    keys = (_account_key_name(plan, lattice), service_key(lattice, lattice == plan.lattice))
    return Recipe(keys, lambda v: service_user_creds(lattice, v[0], v[1]))


def _current_leaf_key(plan: LatticePlan, spoke: str) -> str:
    return leaf_user_key(spoke, plan.spoke(spoke).key_rotation)


def leaf_creds_recipe(plan: LatticePlan, spoke: str, sources: Sequence[str] = ()) -> Recipe[str]:
    """``.creds`` of a spoke that dials a hub: its current key, in its lattice's account,
    over its one transport, with its subject allow-lists, usable from ``sources`` only
    (its egress CIDRs where known; see :func:`leaf_sources`)."""
    websocket = plan.spoke(spoke).leaf_transport == "websocket"
    allow = leaf_permissions(plan, spoke)
    revision = plan.leaf_revision
    keys = (_account_key_name(plan, plan.lattice_of(spoke)), _current_leaf_key(plan, spoke))
    return Recipe(
        keys,
        lambda v: leaf_user_creds(
            spoke, v[0], v[1], websocket=websocket, allow=allow, sources=sources, limits=plan.limits, revision=revision
        ),
    )


def agent_recipe(plan: LatticePlan) -> Recipe[str]:
    """The hub-stream agent's bearer JWT, in the stack's own lattice's account."""
    return Recipe((_account_key_name(plan, plan.lattice),), lambda v: agent_jwt(plan, v[0]))


def binds_source(plan: LatticePlan, spoke: str) -> bool:
    """Whether a spoke's leaf user carries its egress CIDRs as ``src``: it dials a hub of
    ours on AWS, whose network load balancer (instance targets) hands nats-server the
    spoke's own address. A Kubernetes hub's leaf Service (``externalTrafficPolicy:
    Cluster``) replaces it with a node's, so there only the balancer's source ranges
    bind a site. Where the address is unknown (a Kubernetes spoke without
    ``egressCidrs``), the caller's sources are empty and nothing binds."""
    planned = plan.spoke(spoke)
    if not planned.upstream_is_hub or plan.dials_external_hub(spoke):
        return False
    return plan.hub(planned.upstream).platform == "aws"


def child_login_recipe(plan: LatticePlan, spoke: str) -> Recipe[ChildLogin]:
    """The login of a spoke that dials a mid-tier spoke, from its current key."""
    return Recipe((_current_leaf_key(plan, spoke),), lambda v: child_login(spoke, v[0]))


def assemble(
    plan: LatticePlan, entropy: Mapping[str, bytes], sources: Mapping[str, Sequence[str]] | None = None
) -> LatticeAuth:
    """Every credential of a plan from stored entropy (key name -> 32 bytes); ``sources``:
    spoke -> the CIDRs its leaf user may connect from (spokes that :func:`binds_source`).

    A spoke that dials a hub gets a leaf user JWT signed by its lattice's account, so
    adding one changes no hub config; a spoke that dials a mid-tier spoke gets a password
    login whose bcrypt hash only that mid-tier spoke's config holds. A spoke of an
    external hub gets nothing: its ``.creds`` come from a secret config value.
    """
    missing = [n for n in plan_key_names(plan) if n not in entropy]
    if missing:
        raise CredentialError("missing key entropy for: " + ", ".join(missing))
    services = {lat: service_creds_recipe(plan, lat)(entropy) for lat in plan.all_lattices}
    hub_spokes = [s for s in _own_key_spokes(plan) if plan.spoke(s).upstream_is_hub]
    spoke_spokes = [s.name for s in plan.spokes if not s.upstream_is_hub]
    return LatticeAuth(
        trust=trust_recipe(plan)(entropy),
        leaf_creds={s: leaf_creds_recipe(plan, s, (sources or {}).get(s, ()))(entropy) for s in hub_spokes},
        service_creds=services[plan.lattice],
        child_logins={s: child_login_recipe(plan, s)(entropy) for s in spoke_spokes},
        lattice_service_creds=services,
        agent_jwt=agent_recipe(plan)(entropy) if plan.hub_streams else "",
    )
