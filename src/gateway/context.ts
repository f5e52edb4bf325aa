/**
 * What the guard knows about a request as it passes the controls: who sent it, which
 * route it hit and every decision a control took. The audit log and the metrics read it
 * when the response is sent, so each control only records its decision here.
 */
import type { Principal } from "./auth/api-keys.js";

export type DecisionAction = "allow" | "block" | "throttle" | "flag" | "redact" | "degrade";

export interface Decision {
  /** The control or detector, e.g. "auth", "rate-limit", "validation", "prada". */
  control: string;
  action: DecisionAction;
  reason?: string;
}

export interface RequestContext {
  principal?: Principal;
  /** The configured route name (the model name for model routes). */
  route?: string;
  decisions: Decision[];
  /** SHA-256 of the request body, when the audit log keeps hashes of payloads. */
  payloadHash?: string;
  /** The request body encrypted to the audit log's recipients (base64), when it keeps payloads encrypted. */
  payload?: string;
  /** The body's size in bytes, when it was too large to keep encrypted. */
  payloadSkipped?: number;
  /** Milliseconds the upstream took, for proxied routes. */
  upstreamMs?: number;
  /** The JSON body as received: hashed for the audit log and forwarded as is, never re-serialised. */
  rawBody?: string;
}

declare module "fastify" {
  interface FastifyRequest {
    aegis: RequestContext;
  }
  interface FastifyContextConfig {
    /** Roles allowed on this route; any authenticated principal when absent. */
    roles?: readonly string[];
    /** Served without authentication (health, readiness). */
    public?: boolean;
    /** Name of the route in logs, metrics and permissions. */
    routeName?: string;
    /** The JSON body reaches the handler unparsed, as a JsonBody, for the handler to read or parse. */
    jsonBodyAsText?: boolean;
  }
}

/** The client a limit or a block applies to: the principal when known, else the address. */
export function clientId(context: RequestContext, ip: string): string {
  return context.principal?.id ?? `ip:${ip}`;
}
