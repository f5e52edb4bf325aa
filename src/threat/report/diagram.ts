/**
 * The data-flow diagram as inline SVG. Layout: each trust zone is a column inside a dashed
 * boundary rectangle; columns are ordered by the mean layer of their components (see `ranks`), so
 * data mostly runs left to right; components stack within a column in the same order. Flows are cubic curves
 * with arrowheads; a flow that crosses a trust boundary is drawn red and thicker, since
 * that is where STRIDE-per-flow threats live.
 */
import { esc } from "../../report/html.js";
import type { Component, Flow, SystemDescription } from "../types.js";

const BOX_W = 168;
const BOX_H = 50;
const ROW = 78;
const PAD = 16;
const ZONE_HEAD = 30;
const GAP = 64;
const COL = BOX_W + 2 * PAD;
const MARGIN = 12;
const LANE = 16;

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

interface Placed {
  c: Component;
  x: number;
  y: number;
  zone: string;
  col: number;
}

/**
 * Layer of each component: the longest path to it once the edges that close a cycle (the
 * replies of request/response pairs) are dropped, found by a depth-first search in
 * declaration order. A source (a data store read by the model, say) is then pulled next to
 * the first component it feeds, so its zone sits beside that component's zone.
 */
function ranks(components: Component[], flows: Flow[]): Map<string, number> {
  const next = new Map<string, string[]>(components.map((c) => [c.id, []]));
  for (const f of flows) if (next.has(f.from) && next.has(f.to) && f.from !== f.to) next.get(f.from)!.push(f.to);
  const state = new Map<string, "open" | "done">();
  const forward = new Map<string, string[]>(components.map((c) => [c.id, []]));
  const postorder: string[] = [];
  const visit = (id: string) => {
    state.set(id, "open");
    for (const n of next.get(id)!) {
      if (state.get(n) === "open") continue;
      forward.get(id)!.push(n);
      if (!state.has(n)) visit(n);
    }
    state.set(id, "done");
    postorder.push(id);
  };
  const hasIncoming = new Set(flows.map((f) => f.to));
  for (const c of components) if (!hasIncoming.has(c.id) && !state.has(c.id)) visit(c.id);
  for (const c of components) if (!state.has(c.id)) visit(c.id);
  const rank = new Map<string, number>(components.map((c) => [c.id, 0]));
  for (const id of postorder.reverse()) for (const n of forward.get(id)!) rank.set(n, Math.max(rank.get(n)!, rank.get(id)! + 1));
  const incoming = new Set([...forward.values()].flat());
  for (const c of components) {
    const out = forward.get(c.id)!;
    if (!incoming.has(c.id) && out.length > 0) rank.set(c.id, Math.max(0, Math.min(...out.map((n) => rank.get(n)!)) - 1));
  }
  return rank;
}

export function renderDiagram(desc: SystemDescription): string {
  const { components, flows } = desc;
  if (components.length === 0) return `<p class="muted">The description has no components, so there is no diagram.</p>`;
  const rank = ranks(components, flows);
  const zones = [...new Set(components.map((c) => c.trust_zone))];
  const members = new Map(zones.map((z) => [z, components.filter((c) => c.trust_zone === z)]));
  const meanRank = (z: string) => {
    const m = members.get(z)!;
    return m.reduce((s, c) => s + rank.get(c.id)!, 0) / m.length;
  };
  const order = zones.map((z, i) => ({ z, i, r: meanRank(z) })).sort((a, b) => a.r - b.r || a.i - b.i);
  const tallest = Math.max(...order.map(({ z }) => members.get(z)!.length));
  const zoneH = ZONE_HEAD + tallest * ROW - (ROW - BOX_H) + PAD;
  const placed = new Map<string, Placed>();
  order.forEach(({ z }, col) => {
    const stack = members
      .get(z)!
      .map((c, i) => ({ c, i }))
      .sort((a, b) => rank.get(a.c.id)! - rank.get(b.c.id)! || a.i - b.i);
    // Centre short stacks vertically so arrows between columns stay short.
    const offset = ((tallest - stack.length) * ROW) / 2;
    stack.forEach(({ c }, row) => {
      placed.set(c.id, { c, zone: z, col, x: MARGIN + col * (COL + GAP) + PAD, y: MARGIN + ZONE_HEAD + offset + row * ROW });
    });
  });
  // Flows that skip a column run in their own lane under the zones instead of through the boxes between.
  const skipping = flows.filter((f) => {
    const a = placed.get(f.from);
    const b = placed.get(f.to);
    return a && b && Math.abs(a.col - b.col) > 1;
  });
  const laneTop = MARGIN + zoneH + 18;
  const lanesH = skipping.length > 0 ? skipping.length * LANE + 8 : 0;
  // Room on the right for the loops (and their labels) of flows within the last column.
  const width = MARGIN * 2 + order.length * COL + (order.length - 1) * GAP + 100;
  const height = MARGIN * 2 + zoneH + lanesH + 30;

  const boundaries = order
    .map(({ z }, col) => {
      const x = MARGIN + col * (COL + GAP);
      return `<g class="zone" data-zone="${esc(z)}"><rect class="boundary" x="${x}" y="${MARGIN}" width="${COL}" height="${zoneH}" rx="12" fill="#f8fafc" stroke="#64748b" stroke-width="1.5" stroke-dasharray="7 5"/><text x="${x + COL / 2}" y="${MARGIN + 20}" text-anchor="middle" class="zlabel">${esc(clip(z, 26))}</text></g>`;
    })
    .join("");

  const pairs = new Set(flows.map((f) => `${f.from}\u0000${f.to}`));
  const arrows = flows
    .map((f) => {
      const a = placed.get(f.from);
      const b = placed.get(f.to);
      if (!a || !b) return "";
      const crossing = a.zone !== b.zone;
      // A flow with a reply the other way is nudged off the centre line, so the two stay apart.
      const nudge = pairs.has(`${f.to}\u0000${f.from}`) ? (f.from < f.to ? -8 : 8) : 0;
      let d: string;
      let mid: [number, number];
      const y1 = a.y + BOX_H / 2 + nudge;
      const y2 = b.y + BOX_H / 2 + nudge;
      const lane = skipping.indexOf(f);
      if (lane >= 0) {
        const right = b.col > a.col;
        // Leave the box sideways into the gap beside its column, drop to the lane, and climb back up in the gap beside the target.
        const gapX = (p: Placed, toRight: boolean) => MARGIN + p.col * (COL + GAP) + (toRight ? COL + GAP / 2 : -GAP / 2) + (lane % 3) * 6 - 6;
        const x1 = right ? a.x + BOX_W : a.x;
        const x2 = right ? b.x - 3 : b.x + BOX_W + 3;
        const gx1 = gapX(a, right);
        const gx2 = gapX(b, !right);
        const ly = laneTop + lane * LANE;
        d = `M${x1} ${y1} H${gx1} V${ly} H${gx2} V${y2} H${x2}`;
        mid = [(gx1 + gx2) / 2, ly + 1];
      } else if (a.x === b.x) {
        const x = a.x + BOX_W;
        const bulge = 34 + Math.abs(y2 - y1) / 8;
        d = `M${x} ${y1} C${x + bulge} ${y1} ${x + bulge} ${y2} ${x + 3} ${y2}`;
        mid = [x + bulge * 0.75, (y1 + y2) / 2];
      } else {
        const right = b.x > a.x;
        const x1 = right ? a.x + BOX_W : a.x;
        const x2 = right ? b.x - 3 : b.x + BOX_W + 3;
        const k = (x2 - x1) / 2;
        d = `M${x1} ${y1} C${x1 + k} ${y1} ${x2 - k} ${y2} ${x2} ${y2}`;
        mid = [(x1 + x2) / 2, (y1 + y2) / 2];
      }
      const tip = [f.data, f.protocol, f.authenticated === false ? "unauthenticated" : "", f.encrypted === false ? "unencrypted" : ""]
        .filter(Boolean)
        .join(" · ");
      const label = f.data ? `<text class="flabel" x="${mid[0]}" y="${mid[1] - 5}" text-anchor="middle">${esc(clip(f.data, 20))}</text>` : "";
      return `<g class="flowg${crossing ? " crossing" : ""}"><path class="flow${crossing ? " crossing" : ""}" data-from="${esc(f.from)}" data-to="${esc(f.to)}" d="${d}" fill="none" stroke="${crossing ? "#dc2626" : "#475569"}" stroke-width="${crossing ? 2.2 : 1.5}" stroke-linejoin="round" marker-end="url(#${crossing ? "arrow-x" : "arrow"})"><title>${esc(`${f.from} → ${f.to}${tip ? `: ${tip}` : ""}${crossing ? " (crosses a trust boundary)" : ""}`)}</title></path>${label}</g>`;
    })
    .join("");

  const boxes = [...placed.values()]
    .map(
      ({ c, x, y }) =>
        `<g class="component" data-id="${esc(c.id)}" data-type="${esc(c.type)}"><rect x="${x}" y="${y}" width="${BOX_W}" height="${BOX_H}" rx="8" fill="${fill(c)}" stroke="#1e293b" stroke-width="1.2"/><text x="${x + BOX_W / 2}" y="${y + 21}" text-anchor="middle" class="cname">${esc(clip(c.name ?? c.id, 22))}</text><text x="${x + BOX_W / 2}" y="${y + 38}" text-anchor="middle" class="ctype">${esc(c.type.replace(/_/g, " "))}</text><title>${esc(`${c.id} (${c.type}) in ${c.trust_zone}`)}</title></g>`,
    )
    .join("");

  const legendY = MARGIN + zoneH + lanesH + 18;
  const legend = `<g class="legend"><line x1="${MARGIN}" y1="${legendY}" x2="${MARGIN + 28}" y2="${legendY}" stroke="#dc2626" stroke-width="2.2"/><text x="${MARGIN + 34}" y="${legendY + 4}" class="ctype" text-anchor="start">crosses a trust boundary</text><line x1="${MARGIN + 200}" y1="${legendY}" x2="${MARGIN + 228}" y2="${legendY}" stroke="#475569" stroke-width="1.5"/><text x="${MARGIN + 234}" y="${legendY + 4}" class="ctype" text-anchor="start">within a zone</text><rect x="${MARGIN + 340}" y="${legendY - 7}" width="28" height="14" rx="3" fill="none" stroke="#64748b" stroke-dasharray="5 3"/><text x="${MARGIN + 374}" y="${legendY + 4}" class="ctype" text-anchor="start">trust boundary</text></g>`;

  const marker = (id: string, color: string) =>
    `<marker id="${id}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="${color}"/></marker>`;
  return `<svg class="dfd" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="Data-flow diagram with trust boundaries"><defs>${marker("arrow", "#475569")}${marker("arrow-x", "#dc2626")}</defs><style>.zlabel{font:600 12px system-ui,sans-serif;fill:#334155;text-transform:uppercase;letter-spacing:.06em}.cname{font:600 13px system-ui,sans-serif;fill:#0f172a}.ctype{font:11px system-ui,sans-serif;fill:#475569}.flabel{font:10.5px system-ui,sans-serif;fill:#334155;paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}</style>${boundaries}${boxes}${arrows}${legend}</svg>`;
}

/** Box colour by what the component is: people and clients, models, data, pipeline, the rest. */
function fill(c: Component): string {
  switch (c.type) {
    case "user":
    case "client_app":
      return "#e0f2fe";
    case "model":
    case "llm":
    case "third_party_model":
    case "agent":
      return "#ede9fe";
    case "training_data":
    case "data_store":
    case "feature_store":
    case "vector_store":
    case "external_data_source":
      return "#fef3c7";
    case "training_pipeline":
    case "ci_cd":
    case "model_registry":
      return "#dcfce7";
    default:
      return "#ffffff";
  }
}
