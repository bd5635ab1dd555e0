"""``python -m sandbox up``: bring a stack's topology up locally, check it, print host outputs.

Exit status: 0 all checks passed (or stopped by a signal), 1 a check failed or the topology
did not converge, 2 the stack is invalid. No child process outlives this command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from lattice.jetstream import site_quota
from lattice.problems import LatticeSpecError
from lattice.stack import load_stack_file, stack_file_path
from sandbox import isolation
from sandbox.binaries import MissingBinary
from sandbox.checks import Check, HeartbeatWatch, check_spokes_reach_hubs, quiet_tls_close_warning
from sandbox.component import BuildError
from sandbox.isolation import IsolationReport
from sandbox.registry import RegistryError
from sandbox.streams import check_hub_streams
from sandbox.topology import LocalLattice, SandboxError
from sandbox.workloads import CLOUD_HOST, WORKLOAD, EdgeWorkloads, wait_for_hosts

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STACKS_DIR = PROJECT_ROOT / "stacks"
EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


class Stopped(Exception):
    """SIGINT or SIGTERM arrived: unwind so every child is stopped."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


def resolve_stack(stack: str | None, stack_file: str | None) -> tuple[Path, str]:
    if stack_file:
        return Path(stack_file), stack_file
    path = stack_file_path(stack or "dev", STACKS_DIR)
    return path, str(path.relative_to(PROJECT_ROOT))


class Reporter:
    def __init__(self, quiet: bool = False):
        self.start = time.monotonic()
        self.quiet = quiet

    def __call__(self, line: str) -> None:
        if not self.quiet:
            print(f"[{time.monotonic() - self.start:6.2f}s] {line}", flush=True)


def summary(
    lattice: LocalLattice, checks: list[Check], converge_ms: float, workloads: EdgeWorkloads | None = None
) -> dict[str, Any]:
    """The ``--json`` document: servers, hubs, spokes (same fields as the stack outputs), checks."""
    plan = lattice.plan
    servers = {
        s.name: {
            "role": s.role,
            "clientUrl": lattice.client_url(s.name),
            "monitorUrl": lattice.monitor_url(s.name),
            "pid": lattice.supervisor.pid(s.name),
        }
        for s in plan.servers
    }
    hubs = {
        h.name: {
            "clientUrl": ",".join(lattice.hub_client_urls(h.name)),
            "credsFile": str(lattice.service_creds),
            "caFile": str(lattice.ca_file),
            "latticeCredsFiles": {name: str(path) for name, path in lattice.lattice_service_creds.items()},
            "jsDomain": h.jetstream_domain,
        }
        for h in plan.hubs
    }
    spokes: dict[str, dict[str, Any]] = {s.name: dict(lattice.connection(s.name)) for s in plan.spokes}
    document: dict[str, Any] = {
        "lattice": plan.lattice,
        "generation": lattice.generation,
        "convergeMs": round(converge_ms),
        "servers": servers,
        "hubs": hubs,
        "spokes": spokes,
    }
    if workloads is not None:
        document["registry"] = workloads.registry_json()
        for name, spoke in spokes.items():
            spoke["workloads"] = workloads.workloads_json(name)
    document["checks"] = [c.as_dict() for c in checks]
    return document


async def _run_checks(lattice: LocalLattice, workloads: EdgeWorkloads, report: Reporter) -> list[Check]:
    """Links, hosts, then the edge workloads: deployed from the hub to every host, served at
    each spoke by its own host, local-first with a cloud host beside, failover and back."""
    watch = HeartbeatWatch(lattice)
    await watch.start()
    try:
        hosts = lattice.start_hosts(report)
        checks = await check_spokes_reach_hubs(lattice)
        checks += await check_hub_streams(lattice)
        checks += await watch.check(hosts)
        host_ids = await wait_for_hosts(watch.seen, [*workloads.spokes, CLOUD_HOST])
        report(f"deploying {WORKLOAD} from hub {workloads.hub} to {len(host_ids)} host(s) ...")
        checks += await workloads.deploy(host_ids)
        checks += await workloads.check_served_locally()
        checks += await workloads.check_local_first()
        checks += await workloads.check_partitions()
        await workloads.refresh()
    finally:
        await watch.close()
        await workloads.close()
    return checks


def print_outputs(lattice: LocalLattice, workloads: EdgeWorkloads | None = None) -> None:
    print("\nCloud-side services at the hubs (TLS only; the lattice's service user):")
    for hub in lattice.plan.hubs:
        print(f"  {hub.name}: {','.join(lattice.hub_client_urls(hub.name))}")
    print(f"    --creds {lattice.service_creds} --tlsca {lattice.ca_file}")
    if workloads is not None and workloads.registry is not None:
        print(f"\nOCI registry (cloud side): {workloads.registry.url}  --ca-path {lattice.ca_file}")
        print(f"  {workloads.reference}")
        print("\nWorkloads, scheduled from the hub (runtime.host.<hostId>.workload.start):")
        for placement in [*workloads.placements.values(), *([workloads.cloud] if workloads.cloud else [])]:
            print(
                f"  {placement.spoke:<12} host {placement.host_id}  {placement.workload_id:<22} "
                f"{placement.state:<24} {placement.subject}"
            )
    print("\nConnection outputs for wasmCloud hosts (anonymous, localhost; the leaf holds the credentials):")
    for spoke in lattice.plan.spokes:
        conn = lattice.connection(spoke.name)
        where = f"tier {spoke.tier}, upstream {spoke.upstream}, JetStream domain {spoke.jetstream_domain}"
        print(f"\n  {spoke.name} ({where})")
        print(f"    natsUrl:        {conn['natsUrl']}")
        print(f"    wash host       {' '.join(conn['washHostArgs'])}")
        if "ociMirror" in conn:
            print(f"    OCI mirror:     {conn['ociMirror']} (pull-through; hosts pull <mirror>/<repository>@<digest>)")
        env = " ".join(f"{k}={v}" for k, v in conn["wasmcloudV1Env"].items())
        print(f"    v1 host env:    {env}")


def up(args: argparse.Namespace) -> int:
    """A SIGHUP from the start on is queued, never fatal: the lattice rolls once it is up."""
    hangups: list[int] = []
    previous = signal.signal(signal.SIGHUP, lambda signum, frame: hangups.append(signum))
    try:
        return _up(args, hangups)
    finally:
        signal.signal(signal.SIGHUP, previous)


def _up(args: argparse.Namespace, hangups: list[int]) -> int:
    path, label = resolve_stack(args.stack, args.stack_file)
    try:
        spec = load_stack_file(path, label)
    except LatticeSpecError as err:
        print(str(err), file=sys.stderr)
        return EXIT_INVALID

    report = Reporter()
    report(f"stack {label}: lattice {spec.name!r}, {len(spec.hubs)} hub(s), {len(spec.spokes)} spoke(s)")
    try:
        wan = args.wan_delay_ms / 1000 if args.wan_delay_ms is not None else None
        lattice = LocalLattice(spec, wan_delay=wan)
    except SandboxError as err:
        print(f"{label}: lattice: {err}", file=sys.stderr)
        return EXIT_INVALID
    with lattice:
        report(f"work dir {lattice.workdir} (credentials 0600, removed on exit)")
        if lattice.wan is not None:
            report(f"every spoke dials through an emulated WAN link ({args.wan_delay_ms:g} ms one way)")
        for hub in lattice.stand_ins:
            report(f"external hub {hub}: a local stand-in with its own operator (JWT auth) replaces its urls")
        if spec.workloads.registry:
            report(f"workloads.registry {spec.workloads.registry}: a local registry (TLS, the lattice CA) stands in")
        started = time.monotonic()
        lattice.start_servers(report)
        report("waiting for routes, gateways and leaf links (/routez, /gatewayz, /leafz) ...")
        try:
            conv = lattice.wait_converged(timeout=args.converge_timeout)
        except SandboxError as err:
            print(f"sandbox: {err}", file=sys.stderr)
            return EXIT_FAILED
        converge_ms = (time.monotonic() - started) * 1000
        if not conv.ok:
            print(f"sandbox: topology did not converge in {args.converge_timeout:.0f} s; missing:", file=sys.stderr)
            for link in conv.missing:
                print(f"  {link}", file=sys.stderr)
            return EXIT_FAILED
        report(f"converged in {converge_ms:.0f} ms: every route, gateway and leaf link up, every server healthy")
        lattice.start_agents(report)

        workloads = EdgeWorkloads(lattice, report)
        try:
            workloads.start_artifacts()
            workloads.start_cloud_host()
        except (SandboxError, RegistryError, BuildError, MissingBinary) as err:
            print(f"sandbox: workloads: {err}", file=sys.stderr)
            return EXIT_FAILED
        checks = asyncio.run(_run_checks(lattice, workloads, report))
        for check in checks:
            report(f"{'PASS' if check.ok else 'FAIL'} {check.name}: {check.detail}")
        print_outputs(lattice, workloads)
        if args.json:
            document = summary(lattice, checks, converge_ms, workloads)
            Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
            report(f"wrote {args.json}")
        failed = [c for c in checks if not c.ok]
        if args.check:
            report(f"{len(checks) - len(failed)} checks passed, {len(failed)} failed")
            return EXIT_FAILED if failed else EXIT_OK
        return _serve(lattice, path, label, args, (checks, converge_ms, workloads), hangups, report)


def _serve(
    lattice: LocalLattice,
    path: Path,
    label: str,
    args: argparse.Namespace,
    first: tuple[list[Check], float, EdgeWorkloads],
    hangups: list[int],
    report: Reporter,
) -> int:
    """Run until a signal; on SIGHUP re-read the stack file and roll the lattice to it (see
    :mod:`sandbox.rolling`), then rewrite the JSON with the new generation once converged."""
    from sandbox.rolling import Roller

    checks, converge_ms, workloads = first
    report(
        f"running; Ctrl-C (SIGINT) or SIGTERM stops every process; kill -HUP {os.getpid()} rolls to {label} as edited"
    )
    while True:
        dead = lattice.supervisor.exited()
        if dead:
            for name, rc in dead.items():
                print(f"sandbox: {name} exited with {rc}: {lattice.supervisor.log_tail(name, 3)}", file=sys.stderr)
            return EXIT_FAILED
        if not hangups:
            time.sleep(0.2)
            continue
        hangups.clear()
        report(f"SIGHUP: re-reading {label}")
        try:
            spec = load_stack_file(path, label)
        except LatticeSpecError as err:
            report(f"not rolled, generation {lattice.generation} keeps running: {err}")
            continue
        try:
            rolled = Roller(lattice, report).roll(spec, converge_timeout=args.converge_timeout)
        except SandboxError as err:
            print(f"sandbox: roll to generation {lattice.generation} failed: {err}", file=sys.stderr)
            return EXIT_FAILED
        if rolled.converged and args.json:
            document = summary(lattice, checks, converge_ms, workloads)
            Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
            report(f"wrote {args.json} (generation {lattice.generation})")


def bench(args: argparse.Namespace) -> int:
    from sandbox import bench as benchmarks
    from sandbox import fleet

    only = frozenset(args.only.split(",")) if args.only else None
    unknown = sorted((only or frozenset()) - set(benchmarks.SCENARIOS))
    if unknown:
        choices = ", ".join(benchmarks.SCENARIOS)
        print(f"bench: --only: unknown scenario(s) {', '.join(unknown)}; choose from {choices}", file=sys.stderr)
        return EXIT_INVALID
    report = Reporter()
    try:
        fleet_sizes = [int(x) for x in args.fleet.split(",")] if args.fleet else []
    except ValueError:
        print(f"--fleet: expected comma-separated spoke counts, got {args.fleet!r}", file=sys.stderr)
        return EXIT_INVALID
    if args.fleet_only and not fleet_sizes:
        print("--fleet-only needs --fleet SIZES", file=sys.stderr)
        return EXIT_INVALID
    try:
        if args.stack or args.stack_file:
            path, label = resolve_stack(args.stack, args.stack_file)
            spec = benchmarks.bench_spec(path, label)
        else:
            spec = benchmarks.bench_spec(None, None)
        converge_path, converge_label = resolve_stack(args.converge_stack, None)
        converge_spec = load_stack_file(converge_path, converge_label)
    except LatticeSpecError as err:
        print(str(err), file=sys.stderr)
        return EXIT_INVALID
    settings = benchmarks.BenchSettings(wan_delay_ms=args.wan_delay_ms).scaled(args.scale)
    report(f"bench: topology {spec.name!r}, WAN delay {settings.wan_delay_ms:g} ms one way, scale {args.scale:g}")
    try:
        metrics = (
            {} if args.fleet_only else asyncio.run(benchmarks.run_bench(spec, converge_spec, settings, report, only))
        )
        fleet_figures = fleet.run_fleet(fleet_sizes, settings.wan_delay_ms / 1000, report) if fleet_sizes else None
    except (SandboxError, MissingBinary) as err:
        print(f"bench: {err}", file=sys.stderr)
        return EXIT_FAILED
    missed = benchmarks.missed_targets(metrics) if metrics else []
    if metrics:
        print()
        print(benchmarks.table(metrics))
    if fleet_figures is not None:
        print()
        print(fleet.table(fleet_figures))
        missed += fleet.missed_targets(fleet_figures)
    print("\ntargets: " + ("all met" if not missed else "missed: " + "; ".join(missed)))
    if args.json:
        document: dict[str, Any] = {
            "topology": spec.name,
            "scenarios": sorted(only) if only else list(benchmarks.SCENARIOS),
            "convergeStack": converge_spec.name,
            "settings": vars(settings),
            "metrics": metrics,
            "missedTargets": missed,
        }
        if fleet_figures is not None:
            document["fleet"] = fleet_figures
        Path(args.json).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        report(f"wrote {args.json}")
    return EXIT_OK


def _program_bench(*args: str) -> dict[str, Any]:
    """One measurement of ``bench.program`` in a fresh interpreter (it imports Pulumi; the
    sandbox does not)."""
    argv = [sys.executable, "-W", "ignore", "-m", "bench.program", *args]
    done = subprocess.run(argv, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False, timeout=3600)
    if done.returncode != 0:
        raise SandboxError(f"{' '.join(args)}: {done.stderr.strip().splitlines()[-1:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench_program(args: argparse.Namespace) -> int:
    report = Reporter()
    sizes = [int(x) for x in args.sizes.split(",")]
    rows = []
    try:
        for size in sizes:
            program = _program_bench("--spokes", str(size))
            floor = _program_bench("--floor", str(program["resources"]))
            typed = _program_bench("--typed-floor", str(size))
            row = {
                "spokes": size,
                "resources": program["resources"],
                "seconds": program["seconds"],
                "seconds_per_spoke": program["seconds"] / size,
                "ms_per_resource": program["seconds"] / program["resources"] * 1000,
                "floor_seconds": floor["seconds"],
                "floor_ratio": program["seconds"] / floor["seconds"],
                "typed_floor_ms_per_resource": typed["seconds"] / typed["resources"] * 1000,
                "typed_floor_ratio": (program["seconds"] / program["resources"])
                / (typed["seconds"] / typed["resources"]),
            }
            rows.append(row)
            report(
                f"{size} spokes: {row['resources']} resources in {row['seconds']:.2f} s "
                f"({row['seconds_per_spoke'] * 1000:.1f} ms/spoke); plain floor {row['floor_seconds']:.2f} s"
            )
    except (SandboxError, subprocess.TimeoutExpired) as err:
        print(f"bench-program: {err}", file=sys.stderr)
        return EXIT_FAILED
    print()
    print(
        f"{'spokes':>7} {'resources':>9} {'seconds':>8} {'ms/spoke':>9} {'ms/res':>7} {'floor s':>8} "
        f"{'x floor':>8} {'x typed':>8}"
    )
    for r in rows:
        print(
            f"{r['spokes']:>7} {r['resources']:>9} {r['seconds']:>8.2f} {r['seconds_per_spoke'] * 1000:>9.1f} "
            f"{r['ms_per_resource']:>7.2f} {r['floor_seconds']:>8.2f} {r['floor_ratio']:>8.2f} "
            f"{r['typed_floor_ratio']:>8.2f}"
        )
    summary_doc: dict[str, Any] = {"sizes": rows}
    if len(rows) >= 2:
        flat = rows[-1]["seconds_per_spoke"] / rows[-2]["seconds_per_spoke"]
        summary_doc["per_spoke_growth"] = flat
        print(f"\nper-spoke cost {rows[-2]['spokes']} -> {rows[-1]['spokes']} spokes: x{flat:.2f} (target <= 1.5)")
    print(
        f"largest size vs plain floor: x{rows[-1]['floor_ratio']:.2f} (target <= 2); "
        f"vs the same resource classes bare: x{rows[-1]['typed_floor_ratio']:.2f}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(summary_doc, indent=2, sort_keys=True) + "\n")
        report(f"wrote {args.json}")
    return EXIT_OK


async def _measure_isolation(lattice: LocalLattice, attempts: int, report: Reporter) -> IsolationReport:
    hosts = lattice.start_hosts(report)
    host_ids = await isolation.wait_for_hosts(lattice, hosts)
    report(f"hosts up: {', '.join(f'{s}={h}' for s, h in host_ids.items())}")
    return await isolation.measure(lattice, host_ids, attempts=attempts)


def _measure_hubs(lattice: LocalLattice, flooder: str | None, report: Reporter) -> dict[str, Any]:
    """What each site's local port can do to the hubs' JetStream, and a flood from one site."""
    from sandbox import flood, hubapi

    out: dict[str, Any] = {}
    api = asyncio.run(hubapi.measure(lattice))
    for line in api.lines():
        report(line)
    out["hubApi"] = api.as_dict()
    out["siteQuotaBytes"] = {s.name: site_quota(lattice.plan, s.name) for s in lattice.plan.spokes}
    for spoke, quota in out["siteQuotaBytes"].items():
        report(f"the most {spoke} can make the hubs store: {quota / 2**20:.0f} MiB (its hub streams x replicas)")
    if flooder:
        flooded = asyncio.run(flood.measure_flood(lattice, flooder))
        for line in flooded.lines():
            report(line)
        out["flood"] = flooded.as_dict()
    return out


def isolation_cmd(args: argparse.Namespace) -> int:
    """Bring a stack up with its hosts, measure what each site's local port can do to the
    others' hosts and to the hubs' JetStream (and, with ``--flood``, the others' service
    while one site floods). Exit 0 when sites are isolated (no cross-site command and no
    harmful JetStream call answered, every host answers the cloud side), 1 otherwise."""
    path, label = resolve_stack(args.stack, args.stack_file)
    try:
        spec = load_stack_file(path, label)
    except LatticeSpecError as err:
        print(str(err), file=sys.stderr)
        return EXIT_INVALID
    report = Reporter()
    report(f"isolation: stack {label}, {len(spec.spokes)} spoke(s), {args.attempts} attempt(s) per probe")
    if args.flood and spec.spoke(args.flood) is None:
        print(f"isolation: --flood: no spoke named {args.flood!r} in {label}", file=sys.stderr)
        return EXIT_INVALID
    with LocalLattice(spec) as lattice:
        lattice.start_servers()
        conv = lattice.wait_converged(timeout=args.converge_timeout)
        if not conv.ok:
            print(f"isolation: topology did not converge; missing: {', '.join(conv.missing)}", file=sys.stderr)
            return EXIT_FAILED
        lattice.start_agents(report)
        if lattice.plan.hub_streams:
            lattice.wait_hub_streams(args.converge_timeout)
        result = asyncio.run(_measure_isolation(lattice, args.attempts, report))
        hubs = _measure_hubs(lattice, args.flood, report)
    for line in result.lines():
        report(line)
    if args.json:
        Path(args.json).write_text(json.dumps({**result.as_dict(), **hubs}, indent=2) + "\n")
    isolated = result.cross_site.answered == 0 and result.from_hub.answered == result.from_hub.sent
    return EXIT_OK if isolated and hubs["hubApi"]["total_answered"] == 0 else EXIT_FAILED


def changes_cmd(args: argparse.Namespace) -> int:
    """Every change kind (or those in ``--only``) rolled under load on one topology; the
    table the README quotes. Exit 1 when a request failed after its retry, an acked
    message was lost, a roll did not converge or a restart took two servers at once."""
    from sandbox import changes

    kinds = args.only.split(",") if args.only else list(changes.CHANGES)
    unknown = [k for k in kinds if k not in changes.CHANGES]
    if unknown:
        print(
            f"changes: unknown kind(s) {', '.join(unknown)}; choose from {', '.join(changes.CHANGES)}", file=sys.stderr
        )
        return EXIT_INVALID
    report = Reporter()
    wan = args.wan_delay_ms / 1000 if args.wan_delay_ms else None
    results = asyncio.run(changes.run_changes(kinds, report, wan_delay=wan))
    print()
    print(changes.table(results))
    if args.json:
        Path(args.json).write_text(json.dumps([r.row() for r in results], indent=2) + "\n")
        report(f"wrote {args.json}")
    bad = [r.kind for r in results if not r.ok]
    if bad:
        print(f"changes: not clean: {', '.join(bad)}", file=sys.stderr)
    return EXIT_FAILED if bad else EXIT_OK


def schedule_cmd(args: argparse.Namespace) -> int:
    from sandbox.schedule import schedule

    return asyncio.run(schedule(Path(args.json), args.spoke, args.hub))


def graph(args: argparse.Namespace) -> int:
    from lattice import graph as pictures
    from lattice.plan import plan_lattice

    path, label = resolve_stack(args.stack, args.stack_file)
    try:
        plan = plan_lattice(load_stack_file(path, label))
    except LatticeSpecError as err:
        print(str(err), file=sys.stderr)
        return EXIT_INVALID
    text = pictures.svg(plan) if args.format == "svg" else pictures.mermaid(plan)
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def kube(args: argparse.Namespace) -> int:
    """A local Kubernetes control plane for the kubernetes platform; its kubeconfig lives until Ctrl-C."""
    from sandbox.kube import KubeControlPlane, KubeError
    from sandbox.simulated_node import NODE, SimulatedNode

    report = Reporter()
    try:
        with KubeControlPlane(ready_timeout=args.ready_timeout) as plane, SimulatedNode(plane):
            report(f"kube-apiserver ready at {plane.server}; node {NODE} reports pods ready (nothing runs)")
            print(f"export KUBECONFIG={plane.kubeconfig}", flush=True)
            report("running; Ctrl-C (SIGINT) or SIGTERM stops etcd, kube-apiserver and kube-controller-manager")
            while not (dead := plane.supervisor.exited()):
                time.sleep(1)
            for name, rc in dead.items():
                print(f"sandbox: {name} exited with {rc}: {plane.supervisor.log_tail(name, 3)}", file=sys.stderr)
            return EXIT_FAILED
    except KubeError as err:
        print(f"sandbox: {err}", file=sys.stderr)
        return EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="run a stack's topology on loopback with real servers")
    which = p_up.add_mutually_exclusive_group()
    which.add_argument("--stack", help="stack name: reads stacks/Pulumi.NAME.yaml (default: dev)")
    which.add_argument("--stack-file", help="path to a Pulumi.<stack>.yaml")
    p_up.add_argument("--check", action="store_true", help="exit after the checks (0 pass, 1 fail)")
    p_up.add_argument("--json", help="write servers, hubs, spokes and checks to this file")
    p_up.add_argument("--converge-timeout", type=float, default=60.0, help="seconds (default 60)")
    p_up.add_argument(
        "--wan-delay-ms", type=float, help="put an emulated WAN link with this one-way delay under every spoke"
    )
    p_up.set_defaults(func=up)

    p_bench = sub.add_parser("bench", help="measure local-first latency, failover, recovery, throughput")
    which = p_bench.add_mutually_exclusive_group()
    which.add_argument("--stack", help="measure on stacks/Pulumi.NAME.yaml (default: the bench topology)")
    which.add_argument("--stack-file", help="path to a Pulumi.<stack>.yaml")
    p_bench.add_argument("--json", help="write the metrics to this file")
    p_bench.add_argument("--wan-delay-ms", type=float, default=20.0, help="one-way delay of each spoke link")
    p_bench.add_argument("--scale", type=float, default=1.0, help="multiply every iteration count (0.05: a smoke run)")
    p_bench.add_argument("--converge-stack", default="dev", help="stack whose convergence is timed (default dev)")
    p_bench.add_argument(
        "--fleet", help="also bring up a 3-node hub with each of these many spokes, e.g. 25,50,100,200 (sandbox.fleet)"
    )
    p_bench.add_argument("--fleet-only", action="store_true", help="measure only the fleet (with --fleet)")
    p_bench.add_argument(
        "--only",
        metavar="NAMES",
        help="comma-separated scenarios to run "
        "(latency,queue,wasm,cross,partition,kill,silent,throughput,throughput-go,wan,converge)",
    )
    p_bench.set_defaults(func=bench)

    p_prog = sub.add_parser("bench-program", help="time the Pulumi program under mocks at 10, 100, 1000 spokes")
    p_prog.add_argument("--sizes", default="10,100,1000", help="comma-separated spoke counts")
    p_prog.add_argument("--json", help="write the figures to this file")
    p_prog.set_defaults(func=bench_program)

    p_iso = sub.add_parser("isolation", help="measure what one site's local port can do to other sites' hosts")
    which = p_iso.add_mutually_exclusive_group()
    which.add_argument("--stack", help="stack name (default: dev)")
    which.add_argument("--stack-file", help="path to a Pulumi.<stack>.yaml")
    p_iso.add_argument("--attempts", type=int, default=1, help="requests per host, command and spoke (default 1)")
    p_iso.add_argument("--json", help="write the counts to this file")
    p_iso.add_argument("--converge-timeout", type=float, default=60.0, help="seconds (default 60)")
    p_iso.add_argument("--flood", metavar="SPOKE", help="also measure the others while this spoke floods the hubs")
    p_iso.set_defaults(func=isolation_cmd)

    p_changes = sub.add_parser("changes", help="roll a running lattice through each change kind under load")
    p_changes.add_argument("--only", metavar="KINDS", help="comma-separated change kinds (default: all, in order)")
    p_changes.add_argument("--json", help="write one row per change kind to this file")
    p_changes.add_argument("--wan-delay-ms", type=float, help="put an emulated WAN link under every spoke")
    p_changes.set_defaults(func=changes_cmd)

    p_sched = sub.add_parser("schedule", help="drive one edge host from the hub, against a running sandbox")
    p_sched.add_argument("--json", required=True, help="the --json file of a running `sandbox up`")
    p_sched.add_argument("--spoke", required=True, help="the site whose host to drive")
    p_sched.add_argument("--hub", help="the hub region the scheduler connects to (default: the first)")
    p_sched.set_defaults(func=schedule_cmd)

    p_graph = sub.add_parser("graph", help="draw a stack's topology (Mermaid or SVG)")
    which = p_graph.add_mutually_exclusive_group()
    which.add_argument("--stack", help="stack name (default: dev)")
    which.add_argument("--stack-file", help="path to a Pulumi.<stack>.yaml")
    p_graph.add_argument("--format", choices=["mermaid", "svg"], default="mermaid")
    p_graph.add_argument("--out", help="write to this file instead of stdout")
    p_graph.set_defaults(func=graph)

    p_kube = sub.add_parser("kube", help="run etcd, kube-apiserver and kube-controller-manager on loopback")
    p_kube.add_argument("--ready-timeout", type=float, default=120.0, help="seconds per component (default 120)")
    p_kube.set_defaults(func=kube)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_tls_close_warning()
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code: int = args.func(args)
        return code
    except Stopped as stop:
        print(f"sandbox: stopped by {stop}; all processes stopped", file=sys.stderr)
        return EXIT_OK
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
