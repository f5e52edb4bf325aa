// The module hooks of record-imports.mjs (they run on the loader's own thread).
import { appendFileSync } from "node:fs";

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.AEGIS_IMPORT_LOG, `${resolved.url}\n`);
  return resolved;
}
