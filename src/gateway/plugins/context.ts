/**
 * Gives every request its RequestContext before any control runs, and keeps JSON bodies
 * as received beside their parsed form. Routes that validate their body with the
 * dedicated instances reader (`config.jsonBodyAsText`) get it unparsed, as a JsonBody, so
 * a valid prediction request is never turned into a JSON tree at all.
 */
import type { FastifyPluginAsync } from "fastify";
import fp from "fastify-plugin";
import { JsonBody } from "../instances-json.js";
import { invalidJson } from "../validation.js";

const context: FastifyPluginAsync = async (app) => {
  app.decorateRequest("aegis", null as never);
  // Callback-style hooks where nothing is awaited: no promise per request.
  app.addHook("onRequest", (request, _reply, done) => {
    request.aegis = { decisions: [], route: request.routeOptions.config.routeName };
    done();
  });
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    const text = body as string;
    request.aegis.rawBody = text;
    if (text === "") return done(null, undefined);
    if (request.routeOptions.config.jsonBodyAsText) return done(null, new JsonBody(text));
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(invalidJson(e), undefined);
    }
  });
};

export const contextPlugin = fp(context, { name: "aegis-context" });
