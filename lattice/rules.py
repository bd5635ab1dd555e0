"""Rules across a stack's entries, and what a deployment needs beyond a valid spec.

Spec rules run on the raw stack (camelCase, as written), so they report beside the type
errors of the same stack: a hub with a bad ``nodes`` still has a name its spokes can
name. They read defaults from the models, never restating them. Each rule is a small
function named for what it requires, yielding :class:`~lattice.problems.Problem`.

Deployment rules run on a valid spec with the program's facts (which secret config
values are set): the Pulumi program and ``Lattice`` call :func:`deployment_problems`
before any resource is registered; ``HubCluster`` and ``EdgeSpoke``, which take values
rather than config names, call :func:`cluster_access_problem`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from lattice import provider_rules
from lattice.problems import Problem
from lattice.raw_stack import DEFAULT_NODES, RawStack, Rule
from lattice.spec import (
    DEFAULT_HUB_DOMAIN,
    NODE_COUNTS,
    OPEN_CIDRS,
    HubSpec,
    LatticeSpec,
    SpokeSpec,
    hub_server_names,
)
from lattice.stream_rules import PARSED_RULES, STREAM_RULES


def at_least_one_hub(stack: RawStack) -> Iterator[Problem]:
    if stack.raw.get("hubs") == []:
        yield Problem("lattice.hubs", "at least one hub is required")


def _named(stack: RawStack) -> Iterator[tuple[str, str]]:
    """(key path, name) of every named entry, hubs first, then spokes."""
    for kind, entries in (("hubs", stack.hubs), ("spokes", stack.spokes)):
        for i, entry in entries:
            name = entry.get("name")
            if isinstance(name, str):
                yield f"lattice.{kind}[{i}].name", name


def _first_paths(stack: RawStack) -> dict[str, str]:
    """Each name's first key path."""
    seen: dict[str, str] = {}
    for path, name in _named(stack):
        seen.setdefault(name, path)
    return seen


def names_are_unique(stack: RawStack) -> Iterator[Problem]:
    first = _first_paths(stack)
    for path, name in _named(stack):
        if first[name] != path:
            yield Problem(path, f"duplicate name {name!r} (already used by {first[name]})")


def spokes_are_not_named_like_hub_nodes(stack: RawStack) -> Iterator[Problem]:
    """Hub node server names (``<hub>-<i>``) share the server-name space with spokes."""
    seen = _first_paths(stack)
    for _, hub in stack.hubs:
        nodes = hub.get("nodes", DEFAULT_NODES)
        if isinstance(hub.get("name"), str) and isinstance(nodes, int) and nodes in NODE_COUNTS:
            for server in hub_server_names(hub["name"], nodes):
                if server in seen and seen[server].startswith("lattice.spokes"):
                    yield Problem(seen[server], f"name {server!r} collides with a node of hub {hub['name']!r}")


def upstreams_exist_without_cycles(stack: RawStack) -> Iterator[Problem]:
    upstream_of = {
        s["name"]: s["upstream"]
        for _, s in stack.spokes
        if isinstance(s.get("name"), str) and isinstance(s.get("upstream"), str)
    }
    for i, spoke in stack.spokes:
        upstream = spoke.get("upstream")
        if not isinstance(upstream, str):
            continue
        path = f"lattice.spokes[{i}].upstream"
        if upstream == spoke.get("name"):
            yield Problem(path, "a spoke cannot be its own upstream")
        elif upstream not in stack.hub_names and upstream not in stack.spoke_names:
            yield Problem(path, f"no hub or spoke named {upstream!r}")
        else:
            chain, cur = [spoke.get("name")], upstream
            while cur in upstream_of and cur not in chain:
                chain.append(cur)
                cur = upstream_of[cur]
            if cur == spoke.get("name"):
                yield Problem(path, f"upstream cycle: {' -> '.join(str(c) for c in [*chain, cur])}")


def _hub_domains(stack: RawStack) -> set[Any]:
    return {h.get("jetstreamDomain", DEFAULT_HUB_DOMAIN) for _, h in stack.hubs}


def hubs_share_one_domain(stack: RawStack) -> Iterator[Problem]:
    domains = _hub_domains(stack)
    if len(domains) > 1:
        found = ", ".join(sorted(repr(d) for d in domains))
        for i, hub in stack.hubs:
            if "jetstreamDomain" in hub:
                yield Problem(
                    f"lattice.hubs[{i}].jetstreamDomain",
                    f"all hubs of a super-cluster share one JetStream domain, found {found}",
                )


def leaf_links_cross_domains(stack: RawStack) -> Iterator[Problem]:
    """Every spoke has a JetStream domain of its own, apart from the hubs'."""
    domains: dict[str, str] = {str(d): "the hub domain" for d in _hub_domains(stack)}
    for i, spoke in stack.spokes:
        domain = spoke.get("jetstreamDomain", spoke.get("name"))
        if not isinstance(domain, str):
            continue
        key = "jetstreamDomain" if "jetstreamDomain" in spoke else "name"
        if domain in domains:
            yield Problem(
                f"lattice.spokes[{i}].{key}",
                f"JetStream domain {domain!r} is already {domains[domain]}; "
                "every leaf link needs a different domain on each side",
            )
        else:
            domains[domain] = f"used by spoke {spoke.get('name')!r}"


def super_cluster_hubs_have_routes(stack: RawStack) -> Iterator[Problem]:
    if len(stack.hubs) > 1:
        for i, hub in stack.hubs:
            if hub.get("nodes") == 1:
                yield Problem(
                    f"lattice.hubs[{i}].nodes",
                    "a 1-node hub cannot join a super-cluster: nats-server refuses clustered "
                    "JetStream without routes; use 3 or 5 nodes",
                )


def external_hub_stands_alone(stack: RawStack) -> Iterator[Problem]:
    if len(stack.hubs) > 1:
        for i, hub in stack.hubs:
            if hub.get("platform") == "external":
                yield Problem(
                    f"lattice.hubs[{i}].platform",
                    "an external hub must be the lattice's only hub (its gateways are not ours to configure)",
                )


def websocket_only_to_our_hubs(stack: RawStack) -> Iterator[Problem]:
    for i, spoke in stack.spokes:
        if spoke.get("leafTransport") != "websocket":
            continue
        upstream = spoke.get("upstream")
        if upstream in stack.spoke_names:
            yield Problem(f"lattice.spokes[{i}].leafTransport", "websocket is only for a spoke that dials a hub")
        elif upstream in stack.external_hubs:
            yield Problem(
                f"lattice.spokes[{i}].leafTransport",
                "an external hub's urls decide the transport (use wss:// urls there)",
            )


def external_hub_spokes_have_creds(stack: RawStack) -> Iterator[Problem]:
    for i, spoke in stack.spokes:
        upstream = spoke.get("upstream")
        if "credsSecret" in spoke and upstream not in stack.external_hubs:
            yield Problem(f"lattice.spokes[{i}].credsSecret", "only valid for a spoke that dials an external hub")
        elif (
            upstream in stack.external_hubs
            and not spoke.get("credsSecret")
            and not stack.external_hubs[upstream].get("credsSecret")
        ):
            yield Problem(
                f"lattice.spokes[{i}].credsSecret",
                f"required: hub {upstream!r} is external, so the leaf's .creds come from a secret config value "
                "(set credsSecret here or on the hub)",
            )


def lattice_names_are_unique(stack: RawStack) -> Iterator[Problem]:
    names = stack.lattice_names
    for i, name in enumerate(names[1:]):
        if name in names[: i + 1]:
            yield Problem(f"lattice.lattices[{i}]", f"duplicate lattice name {name!r}")


def spokes_serve_a_lattice_of_the_stack(stack: RawStack) -> Iterator[Problem]:
    """A spoke names one of the stack's lattices, and a spoke of a spoke shares its
    upstream's (the mid-tier's leaf user carries its children's traffic in its account)."""
    own = stack.raw.get("name")
    lattice_of = {s.get("name"): s.get("lattice", own) for _, s in stack.spokes}
    for i, spoke in stack.spokes:
        chosen = spoke.get("lattice", own)
        if "lattice" in spoke and isinstance(chosen, str) and chosen not in stack.lattice_names:
            yield Problem(
                f"lattice.spokes[{i}].lattice",
                f"no lattice {chosen!r} in this stack (name it under lattices, or use {own!r})",
            )
            continue
        upstream = spoke.get("upstream")
        if upstream in lattice_of and lattice_of[upstream] != chosen:
            yield Problem(
                f"lattice.spokes[{i}].lattice",
                f"{chosen!r} differs from its upstream spoke {upstream!r} ({lattice_of[upstream]!r}): "
                "a spoke of a spoke travels in its upstream's account",
            )


def retired_spokes_stay_retired(stack: RawStack) -> Iterator[Problem]:
    seen: set[Any] = set()
    for i, entry in stack.retired():
        path = f"lattice.retiredSpokes[{i}]"
        if isinstance(entry, Mapping) and "lattice" in entry and entry["lattice"] not in stack.lattice_names:
            yield Problem(f"{path}.lattice", f"no lattice {entry['lattice']!r} in this stack")
        name = entry.get("name") if isinstance(entry, Mapping) else entry
        if not isinstance(name, str):
            continue
        if name in stack.spoke_names:
            yield Problem(
                path, f"{name!r} is also a spoke; a retired key stays revoked, so a new spoke needs a new name"
            )
        elif name in seen:
            yield Problem(path, f"duplicate name {name!r}")
        seen.add(name)


SPEC_RULES: tuple[Rule, ...] = (
    at_least_one_hub,
    names_are_unique,
    spokes_are_not_named_like_hub_nodes,
    upstreams_exist_without_cycles,
    hubs_share_one_domain,
    leaf_links_cross_domains,
    super_cluster_hubs_have_routes,
    external_hub_stands_alone,
    websocket_only_to_our_hubs,
    external_hub_spokes_have_creds,
    lattice_names_are_unique,
    spokes_serve_a_lattice_of_the_stack,
    retired_spokes_stay_retired,
    *STREAM_RULES,
)


def spec_problems(raw: Mapping[str, Any]) -> list[Problem]:
    """Every spec rule's problems for one raw lattice config (the hub streams' among them)."""
    stack = RawStack(raw)
    return [problem for rule in SPEC_RULES for problem in rule(stack)]


def parsed_spec_problems(spec: LatticeSpec) -> list[Problem]:
    """Rules that read a valid spec's defaults (what the hubs' volumes hold)."""
    return [problem for rule in PARSED_RULES for problem in rule(spec)]


# --- what a deployment needs ------------------------------------------------------------------


def secret_names(spec: LatticeSpec) -> list[str]:
    """Every secret config value the spec names (kubeconfigs, external hubs' .creds)."""
    names: list[str] = []
    entries: list[HubSpec | SpokeSpec] = [*spec.hubs, *spec.spokes]
    for entry in entries:
        for name in (entry.kubernetes.kubeconfig, entry.creds_secret):
            if name and name not in names:
                names.append(name)
    return names


KUBECONFIG_REQUIRED = (
    "required for platform 'kubernetes': the name of a secret config value holding the cluster's "
    "kubeconfig (or set ambientKubeconfig: true)"
)


def kubeconfig_problem(entry: HubSpec | SpokeSpec, *, given: bool) -> str | None:
    """Why a Kubernetes entry's kubeconfig setting fails (None: it does not). ``given``:
    the secret config value it names is set."""
    if entry.platform != "kubernetes":
        return None
    name = entry.kubernetes.kubeconfig
    if name is None:
        return None if entry.kubernetes.ambient_kubeconfig else KUBECONFIG_REQUIRED
    if not given:
        return f"config value '{name}' is not set (pulumi config set --secret {name} < kubeconfig.yaml)"
    return None


def cluster_access_problem(entry: HubSpec | SpokeSpec, *, kubeconfig_given: bool) -> str | None:
    """Why a component cannot reach an entry's cluster: a Kubernetes entry needs its
    kubeconfig handed over, or ``ambientKubeconfig``."""
    if entry.platform == "kubernetes" and not kubeconfig_given and not entry.kubernetes.ambient_kubeconfig:
        return "needs a kubeconfig (or kubernetes.ambientKubeconfig)"
    return None


def _secret_problems(path: str, entry: HubSpec | SpokeSpec, is_set: Callable[[str], bool]) -> Iterator[Problem]:
    given = entry.kubernetes.kubeconfig is not None and is_set(entry.kubernetes.kubeconfig)
    problem = kubeconfig_problem(entry, given=given)
    if problem:
        yield Problem(f"{path}.kubernetes.kubeconfig", problem)
    if entry.creds_secret and not is_set(entry.creds_secret):
        yield Problem(
            f"{path}.credsSecret",
            f"config value '{entry.creds_secret}' is not set "
            f"(pulumi config set --secret {entry.creds_secret} < leaf.creds)",
        )


def _websocket_problems(spec: LatticeSpec, i: int, hub: HubSpec) -> Iterator[Problem]:
    children = [s.name for s in spec.spokes if s.upstream == hub.name and s.leaf_transport == "websocket"]
    if children and hub.platform == "aws":
        yield Problem(
            f"lattice.hubs[{i}].platform",
            f"spoke(s) {', '.join(children)} dial over WebSocket, which the AWS hub does not "
            "expose yet; use a kubernetes hub, or an external hub with wss:// urls",
        )


def admits_only_listed(entry: HubSpec | SpokeSpec) -> bool:
    """A hub or mid-tier spoke whose leaf port admits listed addresses only: on AWS always
    (a security group), on Kubernetes with a LoadBalancer Service (its source ranges),
    unless its ``leafAllowedCidrs`` opens it to every address."""
    if entry.platform == "aws":
        return not OPEN_CIDRS & set(entry.aws.leaf_allowed_cidrs)
    if entry.platform == "kubernetes" and entry.kubernetes.service_type == "LoadBalancer":
        return not OPEN_CIDRS & set(entry.kubernetes.leaf_allowed_cidrs)
    return False


def egress_is_known(entry: HubSpec | SpokeSpec) -> bool:
    """Where an entry's connections come from is known: an AWS node's Elastic IP, or a
    Kubernetes entry's ``egressCidrs``."""
    return entry.platform == "aws" or bool(entry.kubernetes.egress_cidrs)


def _is_load_balanced(entry: HubSpec | SpokeSpec) -> bool:
    return entry.platform == "kubernetes" and entry.kubernetes.service_type == "LoadBalancer"


def children_reach_their_upstream(spec: LatticeSpec) -> Iterator[Problem]:
    """A leaf port closed to the world admits each child at its egress address: a child
    whose address nobody knows would be refused by the lattice's own firewall."""
    parents: dict[str, HubSpec | SpokeSpec] = {h.name: h for h in spec.hubs} | {s.name: s for s in spec.spokes}
    for i, spoke in enumerate(spec.spokes):
        parent = parents[spoke.upstream]
        if admits_only_listed(parent) and not egress_is_known(spoke):
            yield Problem(
                f"lattice.spokes[{i}].kubernetes.egressCidrs",
                f"required: {parent.name!r} admits leaf links only from known addresses; give the CIDRs this "
                f"site's connections come from (its NAT's public address), or add them to {parent.name!r}'s "
                "leafAllowedCidrs ([0.0.0.0/0] admits every address)",
            )


def load_balancers_are_never_open_by_default(spec: LatticeSpec) -> Iterator[Problem]:
    """A LoadBalancer with no source ranges admits every address: a Kubernetes hub no
    spoke dials yet must say whom its leaf port admits."""
    for i, hub in enumerate(spec.hubs):
        lonely = not any(s.upstream == hub.name for s in spec.spokes)
        if _is_load_balanced(hub) and lonely and not hub.kubernetes.leaf_allowed_cidrs:
            yield Problem(
                f"lattice.hubs[{i}].kubernetes.leafAllowedCidrs",
                "required while no spoke dials this hub: a LoadBalancer with no source ranges admits every "
                "address (give your sites' ranges, or [0.0.0.0/0] to admit any)",
            )


def regions_reach_each_others_gateways(spec: LatticeSpec) -> Iterator[Problem]:
    """Gateway ports admit the other regions' nodes only: a Kubernetes region must say
    where its pods dial from (a gateway Service's address is where it is dialed)."""
    for i, hub in enumerate(spec.hubs):
        if hub.platform != "kubernetes" or egress_is_known(hub):
            continue
        guarded = [p.name for p in spec.hubs if p.name != hub.name and (p.platform == "aws" or _is_load_balanced(p))]
        if guarded:
            yield Problem(
                f"lattice.hubs[{i}].kubernetes.egressCidrs",
                f"required: hub(s) {', '.join(guarded)} admit gateways only from known addresses; give the "
                "CIDRs this cluster's pods dial out from (its NAT's public addresses)",
            )


FIREWALL_RULES = (
    children_reach_their_upstream,
    load_balancers_are_never_open_by_default,
    regions_reach_each_others_gateways,
)


def deployment_problems(spec: LatticeSpec, is_set: Callable[[str], bool]) -> list[Problem]:
    """What the program needs beyond a valid spec: the secret config values the spec names,
    addresses its firewalls must admit, and the combinations it can build (the sandbox
    runs every valid spec)."""
    problems: list[Problem] = []
    for i, hub in enumerate(spec.hubs):
        problems += _secret_problems(f"lattice.hubs[{i}]", hub, is_set)
        problems += _websocket_problems(spec, i, hub)
    for i, spoke in enumerate(spec.spokes):
        problems += _secret_problems(f"lattice.spokes[{i}]", spoke, is_set)
    problems += [problem for rule in FIREWALL_RULES for problem in rule(spec)]
    return sorted(problems, key=lambda p: _path_order(p.path))


def _path_order(path: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in path.replace("[", ".").replace("]", "").split(".")]


# --- what a deployed lattice cannot change ------------------------------------------------------

STATEFULSET = "kubernetes:apps/v1:StatefulSet"


def volume_claims(spec: LatticeSpec) -> dict[str, dict[str, Any]]:
    """Hub or spoke -> the storage its StatefulSet claims (``storageGib``, ``storageClass``)."""
    entries: list[HubSpec | SpokeSpec] = [*spec.hubs, *spec.spokes]
    return {
        e.name: {"storageGib": e.kubernetes.storage_gib, "storageClass": e.kubernetes.storage_class}
        for e in entries
        if e.platform == "kubernetes"
    }


def deployed_volume_claims(resources: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The same, read from a stack's state (``readStackResourceOutputs``: URN -> ``type``
    and ``outputs``): what each StatefulSet was created with, by its name."""
    found: dict[str, dict[str, Any]] = {}
    for entry in resources.values():
        if not isinstance(entry, Mapping) or entry.get("type") != STATEFULSET:
            continue
        outputs = entry.get("outputs") or {}
        templates = (outputs.get("spec") or {}).get("volumeClaimTemplates") or []
        name = (outputs.get("metadata") or {}).get("name")
        if not templates or not isinstance(name, str):
            continue
        claim = templates[0].get("spec") or {}
        storage = ((claim.get("resources") or {}).get("requests") or {}).get("storage")
        gib = provider_rules.quantity_value(str(storage)) / 2**30 if storage else None
        found[name] = {
            "storageGib": int(gib) if gib is not None and gib == int(gib) else gib,
            "storageClass": claim.get("storageClassName"),
        }
    return found


def claims_stay_as_deployed(spec: LatticeSpec, deployed: Mapping[str, Mapping[str, Any]]) -> list[Problem]:
    """A StatefulSet's volume claim templates are immutable: Kubernetes refuses the change
    and Pulumi would delete and recreate the whole StatefulSet (every pod of a region at
    once). ``deployed``: :func:`deployed_volume_claims` of the stack's state."""
    problems: list[Problem] = []
    claims = volume_claims(spec)
    keyed: list[tuple[str, Sequence[HubSpec | SpokeSpec]]] = [("hubs", spec.hubs), ("spokes", spec.spokes)]
    for kind, entries in keyed:
        for i, entry in enumerate(entries):
            was = deployed.get(entry.name)
            if entry.name not in claims or was is None:
                continue
            for key, value in claims[entry.name].items():
                if was.get(key) != value:
                    problems.append(
                        Problem(
                            f"lattice.{kind}[{i}].kubernetes.{key}",
                            f"was {was.get(key)!r} when its StatefulSet was created, now {value!r}: volume claims "
                            "cannot change in place (Kubernetes refuses it; Pulumi would recreate every pod at once); "
                            'see README "Resizing a Kubernetes JetStream volume"',
                        )
                    )
    return problems
