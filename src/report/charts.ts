/**
 * Inline SVG line charts for the HTML report (no script, no external assets): robust
 * accuracy (0–100 %) against ε, one line per attack, or one per model when two are
 * compared. Lines differ by dash pattern and marker shape as well as colour, so a chart
 * printed in greyscale still tells them apart.
 */

export interface Series {
  name: string;
  color: string;
  points: readonly (readonly [number, number])[];
  /** stroke-dasharray, e.g. "7 5"; solid when absent. */
  dash?: string;
  /** Marks each point; derived rather than measured lines (minimum-norm attacks) have none. Default circle. */
  marker?: "circle" | "square" | "none";
}

export interface ChartOptions {
  /** Draws the series' names with their line and marker above the plot, so the chart explains itself when copied out of the report. */
  legend?: boolean;
  /** The y axis's title (default "robust accuracy"). */
  yLabel?: string;
  /** What a point's x is called in its tooltip (default "ε"). */
  xName?: string;
}

/** A round number (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten) at least v. */
export function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8]) if (m * p >= v * (1 - 1e-9)) return m * p;
  return 10 * p;
}

/** An axis from 0 with about five ticks a round step apart. */
function axis(v: number): { max: number; step: number } {
  const raw = v / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * p >= raw * (1 - 1e-9)) ?? 10) * p;
  return { max: Math.ceil(v / step - 1e-9) * step, step };
}

const W = 640;
const PLOT_H = 256;
const M = { left: 56, right: 20, top: 16, bottom: 48 };
const LEGEND_H = 28;

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** Short tick labels: 0.05, 0.1, 1.5, 20. */
const tick = (v: number) => String(Number(v.toPrecision(3)));

function markerSvg(kind: "circle" | "square", x: number, y: number, color: string, tip?: string): string {
  const title = tip ? `<title>${esc(tip)}</title>` : "";
  const at = (v: number) => v.toFixed(1);
  return kind === "square"
    ? `<rect x="${at(x - 3.5)}" y="${at(y - 3.5)}" width="7" height="7" fill="#fff" stroke="${color}" stroke-width="2">${title}</rect>`
    : `<circle cx="${at(x)}" cy="${at(y)}" r="4" fill="#fff" stroke="${color}" stroke-width="2">${title}</circle>`;
}

export function lineChart(series: readonly Series[], xLabel: string, title: string, options: ChartOptions = {}): string {
  const { max: xmax, step } = axis(Math.max(1e-9, ...series.flatMap((s) => s.points.map((p) => p[0]))));
  const top = M.top + (options.legend ? LEGEND_H : 0);
  const H = top + PLOT_H + M.bottom;
  const pw = W - M.left - M.right;
  const ph = PLOT_H;
  const sx = (v: number) => M.left + (v / xmax) * pw;
  const sy = (v: number) => top + (1 - v) * ph;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}" class="chart">`,
    `<title>${esc(title)}</title>`,
    `<rect x="${M.left}" y="${top}" width="${pw}" height="${ph}" fill="#fbfcfe" stroke="#d5dbe5"/>`,
  ];
  if (options.legend) {
    let x = M.left;
    const y = M.top + 8;
    for (const s of series) {
      const marker = s.marker ?? "circle";
      parts.push(
        `<g class="legend-item" data-series="${esc(s.name)}"><line x1="${x}" x2="${x + 30}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2.5"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>`,
        marker === "none" ? "" : markerSvg(marker, x + 15, y, s.color),
        `<text x="${x + 38}" y="${y + 4}" class="legend">${esc(s.name)}</text></g>`,
      );
      // Text width is not known without a browser: about 8 px per character at 14 px.
      x += 38 + s.name.length * 8 + 24;
    }
  }
  for (let i = 0; i <= 4; i++) {
    const v = i / 4;
    parts.push(
      `<line x1="${M.left}" x2="${M.left + pw}" y1="${sy(v)}" y2="${sy(v)}" stroke="#e6eaf0"/>`,
      `<text x="${M.left - 8}" y="${sy(v) + 4}" text-anchor="end" class="tick">${v * 100}%</text>`,
    );
  }
  for (let i = 0; i * step <= xmax * (1 + 1e-9); i++) {
    const v = i * step;
    parts.push(
      `<line x1="${sx(v)}" x2="${sx(v)}" y1="${top}" y2="${top + ph}" stroke="#eef1f5"/>`,
      `<text x="${sx(v)}" y="${top + ph + 18}" text-anchor="middle" class="tick">${tick(v)}</text>`,
    );
  }
  parts.push(
    `<text x="${M.left + pw / 2}" y="${H - 8}" text-anchor="middle" class="axis">${esc(xLabel)}</text>`,
    `<text transform="translate(14 ${top + ph / 2}) rotate(-90)" text-anchor="middle" class="axis">${esc(options.yLabel ?? "robust accuracy")}</text>`,
  );
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map((p, i) => `${i === 0 ? "M" : "L"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
    parts.push(
      `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2.5" stroke-linejoin="round"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""} data-series="${esc(s.name)}"/>`,
    );
    const marker = s.marker ?? "circle";
    if (marker !== "none") {
      for (const p of s.points)
        parts.push(markerSvg(marker, sx(p[0]), sy(p[1]), s.color, `${s.name}: ${options.xName ?? "ε"} ${tick(p[0])} → ${(p[1] * 100).toFixed(1)}%`));
    }
  }
  parts.push("</svg>");
  return parts.join("");
}
