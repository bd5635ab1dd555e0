"""Credentials: deterministic from entropy, standard formats, signatures that verify."""

from __future__ import annotations

import base64
import re

import bcrypt
import nkeys
import pytest
from nacl.signing import VerifyKey

from lattice.credentials import (
    REVOKED_BEFORE,
    CredentialError,
    assemble,
    decode_jwt_claims,
    nkey_from_entropy,
)
from lattice.plan import plan_lattice
from tests.support.helpers import fixed_entropy, load_stack, plan_entropy, spec_from

CREDS = re.compile(
    r"-----BEGIN NATS USER JWT-----\n(?P<jwt>[\w.-]+)\n------END NATS USER JWT------\n\n.*"
    r"-----BEGIN USER NKEY SEED-----\n(?P<seed>SU[A-Z2-7]+)\n------END USER NKEY SEED------\n",
    re.S,
)


def _verify(token: str) -> None:
    """Check the ed25519 signature against the issuer's public nkey (raises if forged)."""
    header, body, sig = token.split(".")
    issuer = decode_jwt_claims(token)["iss"]
    raw_key = base64.b32decode(issuer + "=" * (-len(issuer) % 8))[1:33]
    raw_sig = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    VerifyKey(raw_key).verify(f"{header}.{body}".encode(), raw_sig)


def test_same_entropy_same_credentials_byte_for_byte() -> None:
    plan = plan_lattice(load_stack("dev"))
    entropy = plan_entropy(plan)
    assert assemble(plan, entropy) == assemble(plan, entropy)


def test_jwts_verify_and_carry_the_right_claims() -> None:
    plan = plan_lattice(load_stack("dev"))
    auth = assemble(plan, plan_entropy(plan))
    _verify(auth.trust.operator_jwt)
    op = decode_jwt_claims(auth.trust.operator_jwt)
    assert op["nats"]["system_account"] == auth.trust.system_account
    account = decode_jwt_claims(auth.trust.account_jwts[auth.trust.lattice_account])
    _verify(auth.trust.account_jwts[auth.trust.lattice_account])
    assert account["name"] == "acme-dev" and account["iss"] == op["sub"]
    limits = account["nats"]["limits"]
    # the JetStream keys nats-server reads (the PyPI nats-jwt package gets these wrong)
    assert {limits[k] for k in ("mem_storage", "disk_storage", "streams", "consumer")} == {-1}
    assert set(auth.leaf_creds) == {"store-12", "store-14", "factory-3"}
    assert set(auth.child_logins) == {"device-7"}
    for spoke, creds in auth.leaf_creds.items():
        match = CREDS.match(creds)
        assert match, creds
        _verify(match["jwt"])
        claims = decode_jwt_claims(match["jwt"])
        assert claims["iss"] == auth.trust.lattice_account
        assert claims["nats"]["allowed_connection_types"] == ["LEAFNODE"]
        assert claims["sub"] == nkeys.from_seed(match["seed"].encode()).public_key.decode()
        assert claims["name"] == f"leaf-{spoke}"
    service = CREDS.match(auth.service_creds)
    assert service and decode_jwt_claims(service["jwt"])["nats"]["allowed_connection_types"] == ["STANDARD"]


def test_every_spoke_has_its_own_key() -> None:
    plan = plan_lattice(load_stack("prod"))
    auth = assemble(plan, plan_entropy(plan))
    seeds = [CREDS.match(c)["seed"] for c in auth.leaf_creds.values()]  # type: ignore[index]
    assert len(set(seeds)) == len(seeds)


def test_adding_a_spoke_changes_no_hub_trust() -> None:
    base = spec_from(
        {
            "name": "acme",
            "hubs": [{"name": "use1", "platform": "kubernetes"}],
            "spokes": [{"name": "a", "upstream": "use1", "platform": "kubernetes"}],
        }
    )
    more = spec_from(
        {
            "name": "acme",
            "hubs": [{"name": "use1", "platform": "kubernetes"}],
            "spokes": [
                {"name": "a", "upstream": "use1", "platform": "kubernetes"},
                {"name": "b", "upstream": "use1", "platform": "kubernetes"},
            ],
        }
    )
    entropy = fixed_entropy(["a", "b"])
    before = assemble(plan_lattice(base), entropy)
    after = assemble(plan_lattice(more), entropy)
    assert before.trust == after.trust
    assert before.leaf_creds["a"] == after.leaf_creds["a"]


def test_child_login_is_a_bcrypt_hash_of_a_derived_password() -> None:
    plan = plan_lattice(load_stack("dev"))
    auth = assemble(plan, plan_entropy(plan))
    login = auth.child_logins["device-7"]
    assert login.password not in login.password_hash
    assert bcrypt.checkpw(login.password.encode(), login.password_hash.encode())


def test_missing_or_short_entropy_is_refused() -> None:
    hubs = [{"name": "use1", "platform": "kubernetes"}]
    spokes = [{"name": n, "upstream": "use1", "platform": "kubernetes"} for n in ("a", "b")]
    plan = plan_lattice(spec_from({"name": "acme", "hubs": hubs, "spokes": spokes}))
    with pytest.raises(CredentialError, match="missing key entropy for: leaf-b"):
        assemble(plan, fixed_entropy(["a"]))
    with pytest.raises(CredentialError, match="must be 32 bytes"):
        nkey_from_entropy("user", b"short")


def test_retiring_a_spoke_revokes_its_key_and_changes_only_the_account() -> None:
    hubs = [{"name": "use1", "platform": "kubernetes"}]
    a = {"name": "a", "upstream": "use1", "platform": "kubernetes"}
    b = {"name": "b", "upstream": "use1", "platform": "kubernetes"}
    before = plan_lattice(spec_from({"name": "acme", "hubs": hubs, "spokes": [a, b]}))
    after = plan_lattice(spec_from({"name": "acme", "hubs": hubs, "spokes": [a], "retiredSpokes": ["b"]}))
    entropy = fixed_entropy(["a", "b"])
    old, new = assemble(before, entropy), assemble(after, entropy)

    b_key = nkey_from_entropy("user", entropy["leaf-b"]).public_key
    account = decode_jwt_claims(new.trust.account_jwts[new.trust.lattice_account])
    assert account["nats"]["revocations"] == {b_key: REVOKED_BEFORE}
    assert "revocations" not in decode_jwt_claims(old.trust.account_jwts[old.trust.lattice_account])["nats"]
    assert new.trust.operator_jwt == old.trust.operator_jwt
    assert new.leaf_creds == {"a": old.leaf_creds["a"]}
    assert "b" not in new.leaf_creds


def test_a_retired_spoke_still_needs_its_entropy() -> None:
    plan = plan_lattice(
        spec_from({"name": "acme", "hubs": [{"name": "use1", "platform": "kubernetes"}], "retiredSpokes": ["gone"]})
    )
    with pytest.raises(CredentialError, match="missing key entropy for: leaf-gone"):
        assemble(plan, fixed_entropy([]))


MULTI = {
    "name": "acme",
    "lattices": ["globex"],
    "hubs": [{"name": "use1", "platform": "kubernetes", "nodes": 1}],
    "spokes": [
        {"name": "a", "upstream": "use1", "platform": "kubernetes"},
        {"name": "b", "upstream": "use1", "platform": "kubernetes", "lattice": "globex", "keyRotation": 2},
    ],
    "retiredSpokes": [{"name": "gone", "lattice": "globex"}],
}


def _creds_claims(creds: str) -> dict[str, object]:
    match = CREDS.match(creds)
    assert match
    return decode_jwt_claims(match["jwt"])


def test_each_lattice_is_an_account_and_its_spokes_are_its_users() -> None:
    plan = plan_lattice(spec_from(MULTI))
    auth = assemble(plan, plan_entropy(plan))
    accounts = auth.trust.accounts
    assert set(accounts) == {"acme", "globex"} and accounts["acme"] != accounts["globex"]
    assert set(auth.trust.account_jwts) == {auth.trust.system_account, *accounts.values()}
    assert _creds_claims(auth.leaf_creds["a"])["iss"] == accounts["acme"]
    assert _creds_claims(auth.leaf_creds["b"])["iss"] == accounts["globex"]
    services = {name: _creds_claims(c)["iss"] for name, c in auth.lattice_service_creds.items()}
    assert services == accounts, "a service user per lattice, in its own account"


def test_rotated_and_retired_keys_are_revoked_in_their_own_account_only() -> None:
    plan = plan_lattice(spec_from(MULTI))
    entropy = plan_entropy(plan)
    assert {"leaf-b", "leaf-b.1", "leaf-b.2", "leaf-gone"} <= set(entropy)
    auth = assemble(plan, entropy)
    globex = decode_jwt_claims(auth.trust.account_jwts[auth.trust.accounts["globex"]])["nats"]
    acme = decode_jwt_claims(auth.trust.account_jwts[auth.trust.accounts["acme"]])["nats"]
    old = {nkey_from_entropy("user", entropy[k]).public_key for k in ("leaf-b", "leaf-b.1", "leaf-gone")}
    assert set(globex["revocations"]) == old
    assert "revocations" not in acme
    current = nkey_from_entropy("user", entropy["leaf-b.2"]).public_key
    assert _creds_claims(auth.leaf_creds["b"])["sub"] == current and current not in globex["revocations"]


def test_leaf_users_carry_only_their_allow_lists() -> None:
    plan = plan_lattice(load_stack("dev"))
    auth = assemble(plan, plan_entropy(plan))
    nats = _creds_claims(auth.leaf_creds["store-12"])["nats"]
    assert isinstance(nats, dict)
    expected = sorted(
        {
            "runtime.>",
            "_INBOX.>",
            "orders.>",
            "svc.>",
            "cloud.>",
            "$JS.hub.API.>",
            "$JS.store-12.API.>",
            "$JS.device-7.API.>",  # its child's domain: the link carries the child's traffic
        }
    )
    assert nats["pub"] == {"allow": expected} and nats["sub"] == {"allow": expected}
    assert nats["allowed_connection_types"] == ["LEAFNODE"]
    store14 = _creds_claims(auth.leaf_creds["store-14"])["nats"]
    assert isinstance(store14, dict) and "$JS.device-7.API.>" not in store14["pub"]["allow"]
