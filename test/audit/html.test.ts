/**
 * The HTML report rendered in Debian's Chromium (playwright-core, no downloaded browser):
 * the charts have lines with points, the example images decode, nothing is fetched, and
 * the page is not blank. The screenshot is kept for a person to look at
 * (AEGIS_SCREENSHOT=path.png to choose where).
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { PNG } from "pngjs";
import { renderHtml } from "../../src/audit/html.js";
import { renderMarkdown } from "../../src/audit/markdown.js";
import { parsePolicy } from "../../src/audit/policy.js";
import { parseYaml } from "../../src/report/yaml.js";
import { openReport } from "../helpers/chromium.js";
import { smallAudit, smallConfig } from "./helpers.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-html-"));

test("the HTML report renders in Chromium with charts, an image grid, per-class robustness and the verdict", async () => {
  const policy = parsePolicy(parseYaml("min_robust_accuracy:\n  pgd@0.1: 0.9\n", "policy.yaml"), smallConfig());
  const result = await smallAudit({ samples: 64, policy });
  const file = join(tmp, "report.html");
  const html = renderHtml(result.report, result.images);
  writeFileSync(file, html);
  assert.doesNotMatch(html, /<script|<link|src="http|url\(http/, "self-contained: no script, stylesheet or remote asset");

  const { browser, page, fetched } = await openReport(file);
  try {
    const facts = await page.evaluate(() => {
      const charts = [...document.querySelectorAll("svg.chart")].map((svg) => ({
        box: svg.getBoundingClientRect().width,
        lines: [...svg.querySelectorAll("path[data-series]")].map((p) => ({
          series: p.getAttribute("data-series"),
          points: (p.getAttribute("d") ?? "").split(/[ML]/).filter((s) => s.trim()).length,
          length: (p as SVGPathElement).getTotalLength(),
          dashed: p.hasAttribute("stroke-dasharray"),
        })),
        markers: svg.querySelectorAll("circle").length,
      }));
      const images = [...document.querySelectorAll(".grid img")].map((img) => ({
        ok: (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth > 0,
        natural: (img as HTMLImageElement).naturalWidth,
        shown: img.getBoundingClientRect().width,
      }));
      return {
        charts,
        images,
        cards: document.querySelectorAll(".ex").length,
        heat: document.querySelectorAll(".heatmap td.heat").length,
        verdict: document.querySelector(".badge")?.textContent,
        tags: [...document.querySelectorAll(".tag")].map((t) => t.textContent),
        skipped: document.querySelectorAll("tr.skipped").length,
        height: document.body.scrollHeight,
      };
    });
    assert.deepEqual(fetched, [], "the page fetches nothing");
    // Two charts: the L∞ curves (FGSM, PGD), the L2 one (the minimum-norm line search and DeepFool, derived, dashed).
    assert.equal(facts.charts.length, 2);
    const [linf, l2] = facts.charts;
    assert.deepEqual(
      linf.lines.map((l) => [l.series, l.points]),
      [
        ["fgsm", 4],
        ["pgd", 3],
      ],
      "clean point at ε=0 plus one per ε",
    );
    assert.equal(linf.markers, 7);
    assert.ok(
      linf.lines.every((l) => l.length > 100 && !l.dashed),
      "visible solid lines",
    );
    assert.deepEqual(
      l2.lines.map((l) => [l.series, l.points, l.dashed]),
      [
        ["line-search", 21, true],
        ["deepfool", 21, true],
      ],
    );
    assert.ok(linf.box > 400, `chart drawn at ${linf.box}px`);
    // The grid: 8 examples per attack that ran (FGSM, PGD, line search, DeepFool), three images each.
    assert.equal(facts.cards, 32);
    assert.equal(facts.images.length, 96);
    assert.ok(
      facts.images.every((i) => i.ok && i.natural === 28 && i.shown >= 56),
      "every image decodes at 28 px and is shown enlarged",
    );
    assert.equal(facts.heat, 10 * (1 + 3 + 2 + 1 + 1), "clean row + one row per run, ten classes");
    assert.equal(facts.verdict, "Policy failed");
    assert.ok(facts.tags.includes("AML.T0043 · Craft Adversarial Data") && facts.tags.includes("ML01 · Input Manipulation Attack"));
    assert.equal(facts.skipped, 0, "the CNN gives every capability: nothing is skipped");

    const shot = process.env.AEGIS_SCREENSHOT ?? join(tmp, "report.png");
    const png = await page.screenshot({ path: shot, fullPage: true });
    const img = PNG.sync.read(png);
    assert.equal(img.width, 1280);
    assert.ok(img.height >= facts.height - 1 && img.height > 3000, `a long page: ${img.height}px`);
    const colours = new Set<number>();
    let ink = 0;
    for (let k = 0; k < img.data.length; k += 4 * 7) {
      const [r, g, b] = [img.data[k], img.data[k + 1], img.data[k + 2]];
      colours.add((r << 16) | (g << 8) | b);
      if (r + g + b < 600) ink++;
    }
    assert.ok(colours.size > 500, `a rich page, not a blank one: ${colours.size} colours`);
    assert.ok(ink / (img.data.length / 28) > 0.05, "text, charts and images cover a good part of the page");
  } finally {
    await browser.close();
  }
});

test("the Markdown report has the verdict, findings with ATLAS and OWASP links, and per-class rows", async () => {
  const policy = parsePolicy(parseYaml("min_clean_accuracy: 0.9\n", "policy.yaml"), smallConfig());
  const { report } = await smallAudit({ samples: 32, policy });
  const md = renderMarkdown(report);
  assert.match(md, /- policy: \*\*passed\*\*/);
  assert.match(md, /\[AML\.T0015 Evade AI Model\]\(https:\/\/atlas\.mitre\.org\/techniques\/AML\.T0015\)/);
  assert.match(md, /\[ML01 Input Manipulation Attack\]/);
  assert.match(md, /\| pgd \| curve \| L∞ \| 0\.3 \| 32 \|/);
  assert.match(md, /\| line-search \| minimum-norm \| L2 \| — \| 32 \|/);
  assert.match(md, /\| deepfool \| minimum-norm \| L2 \| — \| 32 \| [\d.]+% \| [\d.]+% \| [\d.]+ \| [\d.]+ \(median [\d.]+ L2\) \| — \|/);
  assert.doesNotMatch(md, /## Ensemble breakdown/, "no ensemble ran");
  assert.match(md, /\| pgd@0\.1 \|( [\d.]+% \|){10}/);
  assert.match(md, /\| line-search \|( [\d.]+% \|){10}/);
  assert.match(md, /\| deepfool \|( [\d.]+% \|){10}/);
});
