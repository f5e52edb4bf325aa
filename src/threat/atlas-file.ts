/**
 * `--atlas FILE`: the official ATLAS.yaml (github.com/mitre-atlas/atlas-data, dist/) read for
 * the names of techniques and mitigations, so a report can follow a newer ATLAS release than
 * the built-in catalogue. The file's layout has moved between releases (top-level
 * `matrices: [{techniques, mitigations}]` now, top-level lists before), so any list of
 * objects with an `AML.` id and a name is taken; everything else in the file is ignored.
 */
import { AegisError } from "../errors.js";
import { readYamlFile } from "../report/yaml.js";

export interface AtlasOverrides {
  /** ATLAS version the file declares, if any. */
  version?: string;
  /** Technique id → name (techniques and sub-techniques). */
  techniques: Record<string, string>;
  /** Mitigation id → name. */
  mitigations: Record<string, string>;
}

const TECHNIQUE_ID = /^AML\.T\d{4}(\.\d{3})?$/;
const MITIGATION_ID = /^AML\.M\d{4}$/;

export function loadAtlasFile(path: string): AtlasOverrides {
  return atlasFromValue(readYamlFile(path).value, path);
}

export function atlasFromValue(value: unknown, file: string): AtlasOverrides {
  const out: AtlasOverrides = { techniques: {}, mitigations: {} };
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new AegisError(
      "BAD_OPTION",
      `${file} is not an ATLAS data file (expected a mapping with "matrices"); pass dist/ATLAS.yaml from github.com/mitre-atlas/atlas-data.`,
    );
  }
  const root = value as Record<string, unknown>;
  if (typeof root.version === "string" || typeof root.version === "number") out.version = String(root.version);
  const sources: unknown[] = [root];
  if (Array.isArray(root.matrices)) sources.push(...root.matrices);
  for (const source of sources) {
    if (source === null || typeof source !== "object") continue;
    const record = source as Record<string, unknown>;
    for (const key of ["techniques", "mitigations"]) {
      const list = record[key];
      if (!Array.isArray(list)) continue;
      for (const item of list) {
        if (item === null || typeof item !== "object") continue;
        const { id, name } = item as { id?: unknown; name?: unknown };
        if (typeof id !== "string" || typeof name !== "string" || name.trim() === "") continue;
        if (TECHNIQUE_ID.test(id)) out.techniques[id] = name.trim();
        else if (MITIGATION_ID.test(id)) out.mitigations[id] = name.trim();
      }
    }
  }
  if (Object.keys(out.techniques).length === 0) {
    throw new AegisError(
      "BAD_OPTION",
      `${file} has no ATLAS techniques (no entries with an "AML.T…" id and a name); pass dist/ATLAS.yaml from github.com/mitre-atlas/atlas-data.`,
    );
  }
  return out;
}
