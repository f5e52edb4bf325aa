/**
 * Authentication and least-privilege authorisation. A request presents an Aegis API key
 * (`Authorization: Bearer aegis_…` or `X-API-Key`), a JWT (`Authorization: Bearer …`) or,
 * under mutual TLS, a client certificate whose subject CN the config maps to roles;
 * each route lists the roles it admits (`config.roles`), and the admin surfaces need
 * "admin". 401 says who you are is unknown, 403 that you may not do this.
 */
import type { TLSSocket } from "node:tls";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import type { ApiKeyVerifier } from "../auth/api-keys.js";
import type { JwtVerifier } from "../auth/jwt.js";

export interface AuthOptions {
  apiKeys?: ApiKeyVerifier;
  jwt?: JwtVerifier;
  /** Roles of a request that presents no credentials; unauthenticated requests are refused when absent. */
  anonymousRoles?: readonly string[];
  /** Roles of a verified client certificate (mutual TLS) by its subject CN. */
  clientCertRoles?: Readonly<Record<string, readonly string[]>>;
}

const API_KEY_PREFIX = "aegis_";

const auth: FastifyPluginAsync<AuthOptions> = async (app, options) => {
  app.addHook("onRequest", async (request: FastifyRequest, reply: FastifyReply) => {
    const config = request.routeOptions.config;
    if (config.public) return;
    const token = presentedToken(request);
    const certificate = options.clientCertRoles ? clientCertificate(request) : undefined;
    if (token === undefined && certificate && options.clientCertRoles?.[certificate] !== undefined) {
      request.aegis.principal = { id: `cert:${certificate}`, name: certificate, roles: options.clientCertRoles[certificate] };
    } else if (token === undefined) {
      if (options.anonymousRoles) request.aegis.principal = { id: `ip:${request.ip}`, name: "anonymous", roles: options.anonymousRoles };
      else return refuse(request, reply, 401, "UNAUTHENTICATED", "this route needs an API key or a bearer token");
    } else {
      const principal = token.startsWith(API_KEY_PREFIX) ? options.apiKeys?.verify(token) : await options.jwt?.(token);
      if (!principal) return refuse(request, reply, 401, "UNAUTHENTICATED", "the API key or token is not valid (unknown, revoked, expired or badly signed)");
      request.aegis.principal = principal;
    }
    const allowed = config.roles;
    const roles = request.aegis.principal?.roles ?? [];
    if (allowed && !allowed.some((r) => roles.includes(r))) {
      return refuse(request, reply, 403, "FORBIDDEN", `this route needs one of the roles ${allowed.join(", ")}`);
    }
    request.aegis.decisions.push({ control: "auth", action: "allow" });
  });
};

/** The subject CN of the client's certificate, when TLS verified it against the configured CA. */
function clientCertificate(request: FastifyRequest): string | undefined {
  const socket = request.raw.socket as TLSSocket;
  if (!socket.authorized || typeof socket.getPeerCertificate !== "function") return undefined;
  const cn = socket.getPeerCertificate().subject?.CN;
  return typeof cn === "string" ? cn : undefined;
}

function presentedToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header?.toLowerCase().startsWith("bearer ")) return header.slice(7).trim();
  const key = request.headers["x-api-key"];
  return typeof key === "string" ? key.trim() : undefined;
}

function refuse(request: FastifyRequest, reply: FastifyReply, status: 401 | 403, code: string, message: string) {
  request.aegis.decisions.push({ control: "auth", action: "block", reason: code.toLowerCase() });
  if (status === 401) reply.header("www-authenticate", 'Bearer realm="aegis"');
  return reply.code(status).send({ error: { code, message } });
}

export const authPlugin = fp(auth, { name: "aegis-auth", dependencies: ["aegis-context"] });
