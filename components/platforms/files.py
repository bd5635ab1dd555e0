"""The files beside a server's config, as secret outputs, for every platform alike.

Each platform resolves its own addressing; from there, which files a server gets and what
they hold is the renderer's business (:mod:`lattice.natsconf`), wired here to outputs.
Keys are file names, as a node's secret or a Kubernetes Secret holds them.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.base import secret
from components.platforms.contract import SpokeInputs
from lattice.addressing import LOOPBACK, Addressing, CertificateHosts, certificate_hosts
from lattice.jetstream import agent_config
from lattice.natsconf import (
    CONFIG_FILE,
    TRUST_INCLUDE,
    ServerFiles,
    ServerTls,
    render_server_files,
    render_tls_files,
)
from lattice.plan import LatticePlan, needs_ca, presents_certificate
from lattice.registry import MIRROR_CERT_FILE, MIRROR_KEY_FILE


def _by_file_name(rendered: dict[str, str]) -> dict[str, str]:
    return {path.rsplit("/", 1)[1]: text for path, text in rendered.items()}


def hub_files(
    plan: LatticePlan,
    server: str,
    trust_conf: pulumi.Input[str],
    tls: pulumi.Output[ServerTls],
    files: ServerFiles,
) -> pulumi.Output[dict[str, str]]:
    """What a hub server's config includes: ``trust.conf`` and its TLS files (a secret: the
    key is among them)."""

    def render(values: list[Any]) -> dict[str, str]:
        trust, material = values
        return {TRUST_INCLUDE: trust, **_by_file_name(render_tls_files(plan, server, files, material))}

    return secret(pulumi.Output.all(trust_conf, tls).apply(render))


def agent_files(
    plan: LatticePlan, client_urls: pulumi.Input[list[str]], agent_jwt: pulumi.Input[str] | None, ca_file: str
) -> tuple[pulumi.Output[str], pulumi.Output[str]] | None:
    """The hub-stream agent's settings (public: its servers, files and every asset) and its
    bearer JWT (a secret), or None where the plan declares no hub streams."""
    if not plan.hub_streams:
        return None
    assert agent_jwt is not None, "HubCluster checks the plan's hub streams come with the agent's JWT"
    settings = pulumi.Output.from_input(client_urls).apply(lambda urls: agent_config(plan, urls, ca_file))
    return settings, secret(pulumi.Output.from_input(agent_jwt).apply(lambda jwt: f"{jwt}\n"))


def spoke_tls(inputs: SpokeInputs, addressing: pulumi.Output[Addressing]) -> pulumi.Output[ServerTls | None]:
    """The spoke's TLS material: the CA to verify its upstream and, for a mid-tier spoke,
    a certificate for the address its children dial."""
    plan, spoke = inputs.plan, inputs.spoke.name
    server = plan.server(spoke)
    if presents_certificate(server):
        assert inputs.issue_certificate is not None, "EdgeSpoke checks a mid-tier spoke has the CA key"
        hosts = addressing.apply(lambda a: certificate_hosts(plan, spoke, a))
        return inputs.issue_certificate(inputs.name, spoke, hosts)
    if needs_ca(plan, server):
        return pulumi.Output.from_input(inputs.ca_cert_pem).apply(lambda pem: ServerTls(ca_pem=str(pem)))
    return pulumi.Output.from_input(None)


def spoke_files(
    inputs: SpokeInputs, addressing: pulumi.Output[Addressing], files: ServerFiles
) -> pulumi.Output[dict[str, str]]:
    """What the spoke's config includes (a secret)."""
    plan, spoke = inputs.plan, inputs.spoke.name

    def render(values: list[Any]) -> dict[str, str]:
        resolved, creds, login, logins, material = values
        return _by_file_name(
            render_server_files(
                plan, spoke, resolved, files, leaf_creds=creds, upstream_login=login, child_logins=logins, tls=material
            )
        )

    tls = spoke_tls(inputs, addressing)
    rendered = pulumi.Output.all(addressing, inputs.leaf_creds, inputs.upstream_login, inputs.child_logins, tls).apply(
        render
    )
    mirror = mirror_files(inputs, files)
    return secret(pulumi.Output.all(rendered, mirror).apply(lambda v: {**v[0], **v[1]}))


MIRROR_HOSTS = CertificateHosts(dns_names=("localhost",), ip_addresses=(LOOPBACK,))


def mirror_files(inputs: SpokeInputs, files: ServerFiles) -> pulumi.Output[dict[str, str]]:
    """A spoke whose host pulls through a registry mirror: the mirror's certificate for
    127.0.0.1 and localhost from the lattice CA, its key, and the CA (nothing otherwise)."""
    plan, spoke = inputs.plan, inputs.spoke.name
    if not plan.mirrors(spoke):
        return pulumi.Output.from_input({})
    assert inputs.issue_certificate is not None, "EdgeSpoke checks a spoke with a mirror has the CA key"
    material = inputs.issue_certificate(
        f"{inputs.name}-mirror", f"{spoke}-registry-mirror", pulumi.Output.from_input(MIRROR_HOSTS)
    )
    ca_name = files.ca_file.rsplit("/", 1)[-1]
    return material.apply(
        lambda m: {MIRROR_CERT_FILE: m.cert_pem or "", MIRROR_KEY_FILE: m.key_pem or "", ca_name: m.ca_pem}
    )


def with_config(files: pulumi.Output[dict[str, str]], config: pulumi.Input[str]) -> pulumi.Output[dict[str, str]]:
    """A node's files with its rendered config among them (``nats-server.conf``): on a VM
    the config travels with its files, so a new config reaches the node without touching
    the instance, and the node decides between reload and restart (a secret: the files are)."""
    return secret(pulumi.Output.all(files, config).apply(lambda v: {**v[0], CONFIG_FILE: v[1]}))


def children_dial(inputs: SpokeInputs, addressing: pulumi.Output[Addressing]) -> pulumi.Output[list[str]]:
    """Where a mid-tier spoke's children dial it (nothing for a spoke without children)."""
    spoke = inputs.spoke.name
    if not inputs.plan.spoke(spoke).is_mid_tier:
        return pulumi.Output.from_input([])
    return addressing.apply(lambda a: list(a.leaf_urls[spoke]))
