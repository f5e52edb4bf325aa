/**
 * Bearer JWTs (RFC 7519) verified with jose against a JWKS URL (keys fetched and cached,
 * rotated keys picked up by `kid`) or a configured public key or shared secret. Issuer
 * and audience are checked when configured; roles and tenant come from named claims.
 */
import { readFileSync } from "node:fs";
import { createLocalJWKSet, createRemoteJWKSet, importSPKI, type JWK, type JWTPayload, type JWTVerifyGetKey, jwtVerify, type KeyObject } from "jose";
import { AegisError } from "../../errors.js";
import type { Principal } from "./api-keys.js";

export interface JwtOptions {
  /** URL of a JSON Web Key Set (https://issuer/.well-known/jwks.json). */
  jwksUrl?: string;
  /** A PEM public key file (SPKI), or a local JWKS JSON file. */
  publicKeyFile?: string;
  /** Shared secret for HS256 tokens (use ${ENV} in the config, never a literal). */
  secret?: string;
  issuer?: string;
  audience?: string;
  /** Claim holding the roles: a list, or a space-separated string like OAuth's "scope" (default "roles"). */
  rolesClaim?: string;
  tenantClaim?: string;
  /** Accepted algorithms (default: RS256, ES256, EdDSA, PS256; HS256 when a secret is set). */
  algorithms?: string[];
}

export type JwtVerifier = (token: string) => Promise<Principal | undefined>;

export async function createJwtVerifier(options: JwtOptions): Promise<JwtVerifier> {
  const key = await resolveKey(options);
  const getKey: JWTVerifyGetKey = typeof key === "function" ? key : async () => key;
  const algorithms = options.algorithms ?? (options.secret ? ["HS256"] : ["RS256", "ES256", "EdDSA", "PS256"]);
  const rolesClaim = options.rolesClaim ?? "roles";
  return async (token) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, getKey, { algorithms, issuer: options.issuer, audience: options.audience }));
    } catch {
      return undefined;
    }
    const claim = payload[rolesClaim];
    const roles = Array.isArray(claim)
      ? claim.filter((r): r is string => typeof r === "string")
      : typeof claim === "string"
        ? claim.split(/\s+/).filter(Boolean)
        : [];
    const tenant = options.tenantClaim ? payload[options.tenantClaim] : undefined;
    const subject = payload.sub ?? "unknown";
    return { id: `jwt:${subject}`, name: subject, roles, ...(typeof tenant === "string" ? { tenant } : {}) };
  };
}

async function resolveKey(options: JwtOptions): Promise<JWTVerifyGetKey | KeyObject | Uint8Array> {
  const sources = [options.jwksUrl, options.publicKeyFile, options.secret].filter((s) => s !== undefined).length;
  if (sources !== 1) throw new AegisError("BAD_OPTION", "auth.jwt needs exactly one of jwksUrl, publicKeyFile or secret");
  if (options.jwksUrl) return createRemoteJWKSet(new URL(options.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 600_000 });
  if (options.secret) {
    if (Buffer.byteLength(options.secret) < 32) throw new AegisError("BAD_OPTION", "auth.jwt.secret must be at least 32 bytes (RFC 7518 §3.2 for HS256)");
    return new TextEncoder().encode(options.secret);
  }
  const file = options.publicKeyFile as string;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new AegisError("FILE_NOT_FOUND", `auth.jwt.publicKeyFile: cannot read ${file}`, { cause: e });
  }
  if (text.trimStart().startsWith("{")) return createLocalJWKSet(JSON.parse(text) as { keys: JWK[] });
  const algorithm = options.algorithms?.[0] ?? "RS256";
  return (await importSPKI(text, algorithm)) as KeyObject;
}
