/**
 * The model manifest of the OpenSSF model-signing format: one SHA-256 per file, named by
 * its POSIX path relative to the model folder and sorted, so the same tree always gives
 * the same manifest. Files are hashed as streams: a 100 GB checkpoint needs no more
 * memory than a 1 KB one.
 */
import { createHash } from "node:crypto";
import { createReadStream, lstatSync, readdirSync, type Stats } from "node:fs";
import { basename, join, relative, resolve, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import { AegisError } from "../../errors.js";

/** Never part of a model: version-control metadata (the model-signing defaults). */
export const DEFAULT_IGNORED = [".git", ".gitattributes", ".github", ".gitignore"];

export interface ManifestEntry {
  name: string;
  /** Hex SHA-256 of the file's bytes. */
  digest: string;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

function statOrFail(path: string): Stats {
  try {
    return lstatSync(path);
  } catch (e) {
    throw new AegisError("FILE_NOT_FOUND", `${path} does not exist; give the model file or folder to sign or verify.`, { cause: e });
  }
}

/**
 * Lists and hashes the files of a model (a folder, or a single file named by its base
 * name). `ignore` holds paths relative to the folder; `ignoreAbsolute` holds files on
 * disk (the signature itself) that are skipped wherever they sit.
 */
export async function buildManifest(modelPath: string, ignore: readonly string[], ignoreAbsolute: readonly string[] = []): Promise<ManifestEntry[]> {
  const root = resolve(modelPath);
  const st = statOrFail(root);
  if (st.isFile()) return [{ name: basename(root), digest: await sha256File(root) }];
  if (!st.isDirectory()) throw new AegisError("BAD_DATA", `${modelPath} is neither a file nor a folder; give a model file or folder.`);
  const skipped = new Set(ignoreAbsolute.map((p) => resolve(p)));
  const ignored = new Set(ignore);
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      const name = relative(root, full).split(sep).join("/");
      if (ignored.has(name) || skipped.has(full)) continue;
      // A symlink could point outside the model and change without the model changing.
      if (entry.isSymbolicLink()) {
        throw new AegisError("UNSUPPORTED", `${full} is a symbolic link; replace it with the file it points to before signing or verifying.`);
      }
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) files.push(name);
    }
  };
  walk(root);
  files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const entries: ManifestEntry[] = [];
  for (const name of files) entries.push({ name, digest: await sha256File(join(root, ...name.split("/"))) });
  return entries;
}

/** The subject digest: SHA-256 over the concatenated raw file digests, in manifest order. */
export function rootDigest(entries: readonly ManifestEntry[]): string {
  const hash = createHash("sha256");
  for (const e of entries) hash.update(Buffer.from(e.digest, "hex"));
  return hash.digest("hex");
}

export interface ManifestDiff {
  added: string[];
  removed: string[];
  changed: string[];
}

export function diffManifests(signed: readonly ManifestEntry[], actual: readonly ManifestEntry[]): ManifestDiff {
  const before = new Map(signed.map((e) => [e.name, e.digest]));
  const after = new Map(actual.map((e) => [e.name, e.digest]));
  return {
    added: [...after.keys()].filter((n) => !before.has(n)),
    removed: [...before.keys()].filter((n) => !after.has(n)),
    changed: [...after].filter(([n, d]) => before.has(n) && before.get(n) !== d).map(([n]) => n),
  };
}
