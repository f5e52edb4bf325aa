/** Gives every request its RequestContext before any control runs. */
import type { FastifyPluginAsync } from "fastify";
import fp from "fastify-plugin";

const context: FastifyPluginAsync = async (app) => {
  app.decorateRequest("aegis", null as never);
  app.addHook("onRequest", async (request) => {
    request.aegis = { decisions: [], route: request.routeOptions.config.routeName };
  });
};

export const contextPlugin = fp(context, { name: "aegis-context" });
