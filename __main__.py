"""The Pulumi program: load ``wasmcloud-lattice:lattice``, build a ``Lattice``, export.

A bad stack fails before any resource is registered, with the same messages the sandbox
prints (``stacks/Pulumi.<stack>.yaml: <key path>: <problem>``), never a traceback.
"""

from collections.abc import Mapping
from typing import Any

import pulumi

from components.lattice import Lattice
from lattice.problems import LatticeSpecError
from lattice.rules import claims_stay_as_deployed, deployed_volume_claims, deployment_problems, secret_names
from lattice.spec import LatticeSpec
from lattice.stack import CONFIG_KEY, parse_lattice

READ_STACK_RESOURCE_OUTPUTS = "pulumi:pulumi:readStackResourceOutputs"
"""The engine's builtin for a stack's resources as its state holds them."""


def deployed_claims() -> Mapping[str, Mapping[str, Any]]:
    """What this stack's StatefulSets were created with, from its state (nothing before its
    first ``up``, nor after ``pulumi refresh`` saw a StatefulSet deleted by hand)."""
    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    try:
        result = pulumi.runtime.invoke(READ_STACK_RESOURCE_OUTPUTS, {"stackName": name})
    except Exception as err:  # a backend that cannot answer: say so, do not guess
        pulumi.log.warn(f"could not read this stack's state ({err}); volume claim changes go unchecked")
        return {}
    return deployed_volume_claims((result.value or {}).get("outputs") or {})


def load_spec(config: pulumi.Config) -> LatticeSpec:
    source = f"stacks/Pulumi.{pulumi.get_stack()}.yaml"
    raw = config.get_object(CONFIG_KEY.split(":", 1)[1])
    if raw is None:
        raise pulumi.RunError(f"{source}: lattice: missing config key {CONFIG_KEY!r}")
    try:
        spec = parse_lattice(raw, source)
        problems = deployment_problems(spec, lambda key: config.get(key) is not None)
        problems += claims_stay_as_deployed(spec, deployed_claims())
        if problems:
            raise LatticeSpecError(source, problems)
    except LatticeSpecError as err:
        raise pulumi.RunError(str(err)) from None
    return spec


config = pulumi.Config()
spec = load_spec(config)
# kubeconfigs and external hubs' .creds: secret config values the spec names
secrets = {name: config.require_secret(name) for name in secret_names(spec)}
lattice = Lattice(spec.name, spec, secrets)
for key, value in lattice.stack_outputs().items():
    pulumi.export(key, value)
