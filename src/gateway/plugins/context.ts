/**
 * Gives every request its RequestContext before any control runs, and keeps JSON bodies
 * as received beside their parsed form.
 */
import type { FastifyPluginAsync } from "fastify";
import fp from "fastify-plugin";
import { RequestError } from "../validation.js";

const context: FastifyPluginAsync = async (app) => {
  app.decorateRequest("aegis", null as never);
  app.addHook("onRequest", async (request) => {
    request.aegis = { decisions: [], route: request.routeOptions.config.routeName };
  });
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    const text = body as string;
    request.aegis.rawBody = text;
    try {
      done(null, text === "" ? undefined : JSON.parse(text));
    } catch (e) {
      done(new RequestError(400, "INVALID_JSON", `the body is not valid JSON (${(e as Error).message})`), undefined);
    }
  });
};

export const contextPlugin = fp(context, { name: "aegis-context" });
