"""Credentials: deterministic from entropy, standard formats, signatures that verify."""

from __future__ import annotations

import base64
import re

import bcrypt
import nkeys
import pytest
from nacl.signing import VerifyKey

from lattice.credentials import (
    LEAF_ISSUED_AT,
    REVOKED_BEFORE,
    USER_ISSUED_AT,
    WIDE_ISSUED_AT,
    CredentialError,
    assemble,
    binds_source,
    decode_jwt_claims,
    nkey_from_entropy,
    signing_key,
)
from lattice.limits import SITE_PAYLOAD_BYTES
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
    # the JetStream keys nats-server reads (the PyPI nats-jwt package gets these wrong):
    # storage bounded by the hubs' capacity (2 regions x 3 nodes x 75% of 20 GiB, nats-server's
    # own share on a node that sets no max_file_store; 512 MiB a node)
    assert plan.limits is not None
    assert limits["disk_storage"] == plan.limits.file_bytes == int(2 * 3 * 20 * 2**30 * 0.75)
    assert limits["mem_storage"] == plan.limits.memory_bytes == 6 * 512 * 2**20
    assert {limits[k] for k in ("streams", "consumer", "conn", "leaf")} == {-1}
    assert set(auth.leaf_creds) == {"store-12", "store-14", "factory-3"}
    assert set(auth.child_logins) == {"device-7"}
    for spoke, creds in auth.leaf_creds.items():
        match = CREDS.match(creds)
        assert match, creds
        _verify(match["jwt"])
        claims = decode_jwt_claims(match["jwt"])
        assert claims["iss"] == auth.trust.lattice_account, "revision 0: signed by the account itself"
        assert claims["nats"]["allowed_connection_types"] == ["LEAFNODE"]
        assert claims["sub"] == nkeys.from_seed(match["seed"].encode()).public_key.decode()
        assert claims["name"] == f"leaf-{spoke}"
        assert claims["iat"] == LEAF_ISSUED_AT
        assert (claims["nats"]["subs"], claims["nats"]["payload"]) == (10_000, SITE_PAYLOAD_BYTES)
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


def _accepts(account: dict[str, object], account_key: str, user: dict[str, object]) -> bool:
    """What nats-server decides for a user JWT of this account (checked live in the attack
    suite): signed by the account or a key it names, and not revoked (``*`` or its key)."""
    signers = [account_key, *account.get("signing_keys", [])]  # type: ignore[misc]
    revoked: dict[str, int] = account.get("revocations", {})  # type: ignore[assignment]
    cut = max(revoked.get("*", -1), revoked.get(str(user["sub"]), -1))
    return user["iss"] in signers and int(user["iat"]) > cut  # type: ignore[call-overload]


def test_earlier_issues_are_revoked_and_a_revision_signs_leaves_anew() -> None:
    """Every account revokes what the earlier releases issued (their wide leaf lists, at
    ``WIDE_ISSUED_AT``); a revision signs every leaf JWT with that revision's key. Each
    revision's ``.creds`` are taken by the trust of the revision before (spokes move first,
    no link goes down) and the earlier revision's are not taken by the new trust; the service
    user's never change."""
    spec = {
        "name": "acme",
        "hubs": [{"name": "use1", "platform": "kubernetes"}],
        "spokes": [{"name": "a", "upstream": "use1", "platform": "kubernetes"}],
    }
    entropy = fixed_entropy(["a"])
    runs = []
    for revision in (0, 1, 2):
        plan = plan_lattice(spec_from({**spec, "leafPermissions": {"revision": revision}}))
        auth = assemble(plan, entropy)
        account = decode_jwt_claims(auth.trust.account_jwts[auth.trust.lattice_account])["nats"]
        runs.append((auth, account, _creds_claims(auth.leaf_creds["a"])))
    key = runs[0][0].trust.lattice_account
    wide = {"sub": runs[0][2]["sub"], "iss": key, "iat": WIDE_ISSUED_AT}  # an earlier release's
    assert not _accepts(runs[0][1], key, wide)
    assert runs[0][2]["iss"] == key and runs[1][2]["iss"] == signing_key(entropy["account-lattice"], 1).public_key
    for r in (0, 1, 2):
        assert _accepts(runs[r][1], key, runs[r][2]), f"revision {r}'s trust takes its own .creds"
        if r:
            assert _accepts(runs[r - 1][1], key, runs[r][2]), f"revision {r - 1}'s trust takes revision {r}'s"
            assert not _accepts(runs[r][1], key, runs[r - 1][2]), f"revision {r}'s trust refuses revision {r - 1}'s"
        service = decode_jwt_claims(CREDS.match(runs[r][0].service_creds)["jwt"])  # type: ignore[index]
        assert _accepts(runs[r][1], key, service) and service["iat"] == USER_ISSUED_AT
    assert runs[0][0].service_creds == runs[2][0].service_creds
    assert len({runs[r][0].leaf_creds["a"] for r in (0, 1, 2)}) == 3


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
    assert account["nats"]["revocations"] == {"*": WIDE_ISSUED_AT, b_key: REVOKED_BEFORE}
    was = decode_jwt_claims(old.trust.account_jwts[old.trust.lattice_account])["nats"]["revocations"]
    assert was == {"*": WIDE_ISSUED_AT}
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
    old = {
        nkey_from_entropy("user", entropy[k]).public_key: REVOKED_BEFORE for k in ("leaf-b", "leaf-b.1", "leaf-gone")
    }
    assert globex["revocations"] == {"*": WIDE_ISSUED_AT, **old}
    assert acme["revocations"] == {"*": WIDE_ISSUED_AT}
    current = nkey_from_entropy("user", entropy["leaf-b.2"]).public_key
    assert _creds_claims(auth.leaf_creds["b"])["sub"] == current and current not in globex["revocations"]


def test_leaf_users_carry_directional_allow_lists() -> None:
    """Up: heartbeats, replies, the application's subjects, and what the site's hub streams
    need; down: host commands, replies, its own subtree's JetStream domains, the
    application's subjects, its hub streams' deliveries. Never the hubs' JetStream API."""
    plan = plan_lattice(load_stack("dev"))
    auth = assemble(plan, plan_entropy(plan))
    nats = _creds_claims(auth.leaf_creds["store-12"])["nats"]
    assert isinstance(nats, dict)
    app = {"orders.>", "svc.>", "cloud.>"}
    # dev's hub streams: EDGE-SALES sources SALES from every store (store-12 and its
    # device-7 here); CONFIG is mirrored by every site, through a consumer per site
    up = {
        "runtime.operator.heartbeat.*",
        "_INBOX.>",
        "$JS.S.store-12.>",  # deliveries to EDGE-SALES' source at store-12 ...
        "$JS.S.device-7.>",  # ... and at its device
        "$JSC.R.>",  # the site's API answering the hub stream's consumer create
        "$JS.hub.API.CONSUMER.RESET.CONFIG.site-store-12",  # its own mirror consumers only
        "$JS.hub.API.CONSUMER.RESET.CONFIG.site-device-7",
        "$JS.FC.CONFIG.site-store-12.*",  # their acks (flow-control answers)
        "$JS.FC.CONFIG.site-device-7.*",
        *app,
    }
    down = {
        "runtime.host.*.>",
        "_INBOX.>",
        "$JS.store-12.API.>",
        "$JS.device-7.API.>",  # its child's domain: the link carries the child's traffic
        "$JS.FC.SALES.>",  # EDGE-SALES answering the sites' consumers' flow control
        "$JS.M.store-12.CONFIG",  # its mirror consumers' deliveries
        "$JS.M.device-7.CONFIG",
        "$JSC.R.>",  # the answer to a mirror's reset
        *app,
    }
    assert nats["pub"] == {"allow": sorted(up)} and nats["sub"] == {"allow": sorted(down)}
    assert not any(s.startswith("runtime.host") for s in nats["pub"]["allow"]), "no site sends host commands up"
    assert not any(s.startswith("$JS.hub.API") and "CONSUMER.RESET" not in s for s in nats["pub"]["allow"])
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
