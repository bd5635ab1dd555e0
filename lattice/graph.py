"""``python -m sandbox graph``: a stack's topology as Mermaid (renders on GitHub) or SVG.

Drawn from the plan, so the picture is what the renderer configures: hub regions with their
nodes, the gateways between regions, every spoke at its tier with its JetStream domain and
platform, and each leaf link with its port and transport. Deterministic: same stack, same
bytes, so a test can keep committed pictures current.
"""

from __future__ import annotations

from html import escape

from lattice.addressing import PORTS
from lattice.plan import LatticePlan


def _id(name: str) -> str:
    return "n_" + name.replace("-", "_")


def _link_label(plan: LatticePlan, spoke: str) -> str:
    planned = plan.spoke(spoke)
    if planned.leaf_transport == "websocket":
        return f"wss {PORTS.websocket}"
    if plan.dials_external_hub(spoke):
        return "leaf (its urls)"
    return f"leaf {PORTS.leaf}"


def _spoke_label(plan: LatticePlan, spoke: str) -> str:
    planned = plan.spoke(spoke)
    host = " · wasmCloud host" if planned.wasmcloud_host else ""
    return f"{spoke} · {planned.platform} · JS {planned.jetstream_domain}{host}"


def _hub_label(plan: LatticePlan, hub: str) -> str:
    planned = plan.hub(hub)
    nodes = f"{len(planned.servers)} nodes" if planned.servers else "existing hub"
    return f"hub {hub} · {planned.platform} · {nodes} · JS {planned.jetstream_domain}"


def mermaid(plan: LatticePlan) -> str:
    lines = ["flowchart BT"]
    for hub in plan.hubs:
        lines.append(f'  subgraph {_id(hub.name)}["{_hub_label(plan, hub.name)}"]')
        if hub.servers:
            lines += [f'    {_id(s)}(("{s}"))' for s in hub.servers]
        else:
            lines += [f'    {_id(hub.name + "-urls")}["{", ".join(hub.external_urls)}"]']
        lines.append("  end")
    built = [h for h in plan.hubs if h.servers]
    for i, hub in enumerate(built):
        for other in built[i + 1 :]:
            lines.append(f"  {_id(hub.name)} <-. gateway {PORTS.gateway} .-> {_id(other.name)}")
    for spoke in plan.spokes:
        lines.append(f'  {_id(spoke.name)}["{_spoke_label(plan, spoke.name)}"]')
    for spoke in plan.spokes:
        lines.append(f"  {_id(spoke.name)} -- {_link_label(plan, spoke.name)} --> {_id(spoke.upstream)}")
    return "\n".join(lines) + "\n"


# --- SVG: hubs on top, each tier of spokes a row below, links drawn upwards ------------------

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 250, 56, 24, 70, 20


def svg(plan: LatticePlan) -> str:
    rows: list[list[tuple[str, str, str]]] = [
        [
            (
                h.name,
                f"hub {h.name} ({h.platform})",
                f"{len(h.servers)} nodes · JS {h.jetstream_domain}"
                if h.servers
                else f"existing · JS {h.jetstream_domain}",
            )
            for h in plan.hubs
        ]
    ]
    tiers = sorted({s.tier for s in plan.spokes})
    for tier in tiers:
        rows.append(
            [
                (
                    s.name,
                    f"{s.name} ({s.platform})",
                    f"tier {s.tier} · JS {s.jetstream_domain}" + (" · host" if s.wasmcloud_host else ""),
                )
                for s in plan.spokes
                if s.tier == tier
            ]
        )
    width = MARGIN * 2 + max(len(r) for r in rows) * (BOX_W + GAP_X) - GAP_X
    height = MARGIN * 2 + len(rows) * (BOX_H + GAP_Y) - GAP_Y
    centre: dict[str, tuple[float, float]] = {}
    boxes: list[str] = []
    for r, row in enumerate(rows):
        row_w = len(row) * (BOX_W + GAP_X) - GAP_X
        x0 = (width - row_w) / 2
        y = MARGIN + r * (BOX_H + GAP_Y)
        for i, (name, title, detail) in enumerate(row):
            x = x0 + i * (BOX_W + GAP_X)
            centre[name] = (x + BOX_W / 2, y + BOX_H / 2)
            fill = "#e8f0fe" if r == 0 else "#eef7ee"
            boxes.append(
                f'<rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" stroke="#555"/>'
                f'<text x="{x + 10:.0f}" y="{y + 22:.0f}" font-size="12" font-weight="bold">{escape(title)}</text>'
                f'<text x="{x + 10:.0f}" y="{y + 42:.0f}" font-size="11" fill="#444">{escape(detail)}</text>'
            )
    edges: list[str] = []
    built = [h for h in plan.hubs if h.servers]
    for i, hub in enumerate(built):
        for other in built[i + 1 :]:
            (x1, y1), (x2, y2) = centre[hub.name], centre[other.name]
            edges.append(
                f'<path d="M{x1:.0f},{y1 - BOX_H / 2:.0f} Q{(x1 + x2) / 2:.0f},{y1 - BOX_H:.0f} '
                f'{x2:.0f},{y2 - BOX_H / 2:.0f}" fill="none" stroke="#1a73e8" stroke-dasharray="6 4"/>'
                f'<text x="{(x1 + x2) / 2:.0f}" y="{y1 - BOX_H / 2 - 8:.0f}" font-size="10" fill="#1a73e8" '
                f'text-anchor="middle">gateway {PORTS.gateway}</text>'
            )
    for spoke in plan.spokes:
        (x1, y1), (x2, y2) = centre[spoke.name], centre[spoke.upstream]
        top, bottom = y1 - BOX_H / 2, y2 + BOX_H / 2
        edges.append(
            f'<line x1="{x1:.0f}" y1="{top:.0f}" x2="{x2:.0f}" y2="{bottom:.0f}" stroke="#188038" '
            f'marker-end="url(#arrow)"/>'
            f'<text x="{(x1 + x2) / 2 + 4:.0f}" y="{(top + bottom) / 2:.0f}" font-size="10" fill="#188038">'
            f"{escape(_link_label(plan, spoke.name))}</text>"
        )
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + MARGIN}" '
        f'viewBox="0 -{MARGIN} {width} {height + MARGIN}" font-family="sans-serif">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#188038"/></marker></defs>'
        f"<title>lattice {escape(plan.lattice)}</title>"
    )
    return "\n".join([head, *edges, *boxes, "</svg>"]) + "\n"
