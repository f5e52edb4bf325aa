/**
 * A worker's Prometheus metrics (`aegis worker --metrics-port`): jobs by outcome, the time
 * each attack shard took and what loading cost, and the depth of the queue by state, read
 * from Redis at each scrape so any worker shows the whole campaign queue.
 */
import { createServer, type Server } from "node:http";
import type { Queue } from "bullmq";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

const STATES = ["waiting", "delayed", "active", "completed", "failed"] as const;

export interface WorkerMetrics {
  registry: Registry;
  jobs: Counter<"outcome">;
  jobSeconds: Histogram<"attack">;
  loadSeconds: Histogram;
}

export function workerMetrics(queue: Queue): WorkerMetrics {
  const registry = new Registry();
  new Gauge({
    name: "aegis_campaign_queue_jobs",
    help: "Jobs in the campaign queue by state (every campaign on the prefix)",
    labelNames: ["state"],
    registers: [registry],
    async collect() {
      const counts = await queue.getJobCounts(...STATES);
      for (const state of STATES) this.set({ state }, counts[state] ?? 0);
    },
  });
  return {
    registry,
    jobs: new Counter({
      name: "aegis_campaign_jobs_total",
      help: "Job attempts this worker finished, by outcome (completed, failed)",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    jobSeconds: new Histogram({
      name: "aegis_campaign_job_seconds",
      help: "Seconds an attack shard took on this worker",
      labelNames: ["attack"],
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    loadSeconds: new Histogram({
      name: "aegis_campaign_load_seconds",
      help: "Seconds a job spent fetching and loading its model and samples (near 0 once the worker has them)",
      buckets: [0.01, 0.1, 0.5, 1, 5, 30],
      registers: [registry],
    }),
  };
}

/** Serves GET /metrics, and the campaigns' page at GET /; resolves with the server once it listens. */
export function serveMetrics(registry: Registry, port: number, host: string, campaignPage: () => Promise<string>): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/") {
      campaignPage().then(
        (html) =>
          res
            .writeHead(200, { "content-type": "text/html; charset=utf-8", "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'" })
            .end(html),
        (e) => res.writeHead(500).end(`${(e as Error).message}\n`),
      );
      return;
    }
    if (req.method !== "GET" || req.url !== "/metrics") {
      res.writeHead(404).end("GET /metrics, or GET / for the campaigns' page\n");
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      (e) => res.writeHead(500).end(`${(e as Error).message}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
