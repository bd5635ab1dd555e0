"""The Pulumi program: load ``wasmcloud-lattice:lattice`` from the stack, validate it, export.

A bad stack fails before any resource is registered, with the same messages the sandbox
prints (``stacks/Pulumi.<stack>.yaml: <key path>: <problem>``), never a traceback.
"""

import pulumi

from components.outputs import spoke_connection
from components.plan import LatticePlan, plan_lattice
from components.spec import CONFIG_KEY, LatticeSpecError, parse_lattice


def load_plan() -> LatticePlan:
    source = f"stacks/Pulumi.{pulumi.get_stack()}.yaml"
    raw = pulumi.Config().get_object(CONFIG_KEY.split(":", 1)[1])
    if raw is None:
        raise pulumi.RunError(f"{source}: lattice: missing config key {CONFIG_KEY!r}")
    try:
        return plan_lattice(parse_lattice(raw, source))
    except LatticeSpecError as err:
        raise pulumi.RunError(str(err)) from None


plan = load_plan()
pulumi.export("lattice", plan.lattice)
pulumi.export("hubs", {h.name: {"jsDomain": h.jetstream_domain, "servers": list(h.servers)} for h in plan.hubs})
pulumi.export("spokes", {s.name: spoke_connection(plan, s.name) for s in plan.spokes})
