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
    binds_source,
    decode_jwt_claims,
    nkey_from_entropy,
)
from lattice.permissions import leaf_permissions
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


def test_leaf_users_carry_directional_allow_lists() -> None:
    """Up: heartbeats, replies, the hub's JetStream, the application's subjects; down: host
    commands, replies, its own subtree's JetStream domains, the application's subjects;
    JetStream's replication subjects each way they flow."""
    plan = plan_lattice(load_stack("dev"))
    auth = assemble(plan, plan_entropy(plan))
    nats = _creds_claims(auth.leaf_creds["store-12"])["nats"]
    assert isinstance(nats, dict)
    app = {"orders.>", "svc.>", "cloud.>"}
    # JetStream's replication, each in the direction its messages flow: a hub stream
    # sourcing the site's stream (deliveries up), the site mirroring a hub stream (down)
    up = {"runtime.operator.heartbeat.*", "_INBOX.>", "$JS.hub.API.>", "$JS.S.>", "$JS.FC.>", "$JSC.R.>", *app}
    down = {
        "runtime.host.*.>",
        "_INBOX.>",
        "$JS.store-12.API.>",
        "$JS.device-7.API.>",  # its child's domain: the link carries the child's traffic
        "$JS.M.>",
        "$JS.FC.>",
        "$JSC.R.>",
        *app,
    }
    assert nats["pub"] == {"allow": sorted(up)} and nats["sub"] == {"allow": sorted(down)}
    assert not any(s.startswith("runtime.host") for s in nats["pub"]["allow"]), "no site sends host commands up"
    assert nats["allowed_connection_types"] == ["LEAFNODE"]
    assert "src" not in nats and "resp" not in nats, "no sources given: usable from anywhere"
    store14 = _creds_claims(auth.leaf_creds["store-14"])["nats"]
    assert isinstance(store14, dict) and "$JS.device-7.API.>" not in store14["sub"]["allow"]


def test_the_v1_profile_sends_control_down_and_events_up() -> None:
    hubs = [{"name": "use1", "platform": "aws", "region": "us-east-1", "nodes": 1}]
    spokes = [{"name": "a", "upstream": "use1", "platform": "aws", "region": "us-east-2"}]
    spec = {"name": "acme", "hubs": hubs, "spokes": spokes, "leafPermissions": {"profile": "wasmcloud-v1"}}
    plan = plan_lattice(spec_from(spec))
    allow = leaf_permissions(plan, "a")
    assert "wasmbus.ctl.v1.acme.>" in allow.subscribe and not any("wasmbus.ctl" in s for s in allow.publish)
    assert {"wasmbus.evt.acme", "wasmbus.evt.acme.>"} <= set(allow.publish)
    assert not any(s.startswith("wadm.api") for s in (*allow.publish, *allow.subscribe)), "wadm stays cloud-side"


def test_a_leaf_user_is_bound_to_its_sources_and_the_jwt_stays_deterministic() -> None:
    plan = plan_lattice(load_stack("dev"))
    entropy = plan_entropy(plan)
    bound = assemble(plan, entropy, {"store-12": ("198.51.100.7/32",)})
    store12, store14 = (_creds_claims(bound.leaf_creds[s])["nats"] for s in ("store-12", "store-14"))
    assert isinstance(store12, dict) and isinstance(store14, dict)
    assert store12["src"] == ["198.51.100.7/32"] and "src" not in store14
    assert bound == assemble(plan, entropy, {"store-12": ("198.51.100.7/32",)}), "same inputs, same bytes"


def test_only_spokes_whose_hub_sees_their_address_are_bound() -> None:
    """An AWS hub's balancer keeps the client's address; a Kubernetes hub's Service does not."""
    plan = plan_lattice(load_stack("prod"))
    assert binds_source(plan, "store-12") and binds_source(plan, "dc-berlin")
    assert not binds_source(plan, "pos-12a"), "a mid-tier's child logs in with a password"
    edge = plan_lattice(load_stack("edge-k8s"))
    on_kubernetes = [s.name for s in edge.spokes if s.upstream_is_hub and edge.hub(s.upstream).platform == "kubernetes"]
    assert on_kubernetes and not any(binds_source(edge, s) for s in on_kubernetes)
