/**
 * The deployment kit (deploy/, issue 25) checked as far as this machine can without a
 * cluster, Docker or GitHub: every Kubernetes and Istio manifest against its API schema
 * (kubernetes-models, @kubernetes-models/istio), the restricted Pod Security settings on
 * every container, the network policies, the guard config inside the ConfigMap through the
 * guard's own parser, the workflow against the Actions workflow schema (action-validator)
 * with every aegis flag it uses checked against the real commands, the Dockerfile through a
 * Dockerfile linter (dockerfile-utils) and its final stage's rules, and the committed
 * Grafana dashboard against what `aegis guard grafana` generates now.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { validateWorkflow } from "@action-validator/core";
import * as istioSecurity from "@kubernetes-models/istio/security.istio.io/v1beta1";
import { validate as lintDockerfile } from "dockerfile-utils";
import * as apps from "kubernetes-models/apps/v1";
import * as autoscaling from "kubernetes-models/autoscaling/v2";
import * as networking from "kubernetes-models/networking.k8s.io/v1";
import * as policy from "kubernetes-models/policy/v1";
import * as core from "kubernetes-models/v1";
import { parseAllDocuments } from "yaml";
import { COMMANDS } from "../../src/cli/catalog.js";
import { grafanaDashboard, loadGuardConfig } from "../../src/gateway/index.js";
import { createGuardMetrics } from "../../src/gateway/plugins/metrics.js";

const DEPLOY = new URL("../../deploy/", import.meta.url).pathname;

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  [field: string]: unknown;
}

/** The schema-checked class of each kind the kit uses, by apiVersion and kind. */
const MODELS: Record<string, new (m: never) => { validate(): void }> = {
  "v1/Namespace": core.Namespace,
  "v1/ConfigMap": core.ConfigMap,
  "v1/Secret": core.Secret,
  "v1/Service": core.Service,
  "v1/ServiceAccount": core.ServiceAccount,
  "apps/v1/Deployment": apps.Deployment,
  "apps/v1/StatefulSet": apps.StatefulSet,
  "policy/v1/PodDisruptionBudget": policy.PodDisruptionBudget,
  "autoscaling/v2/HorizontalPodAutoscaler": autoscaling.HorizontalPodAutoscaler,
  "networking.k8s.io/v1/NetworkPolicy": networking.NetworkPolicy,
  "security.istio.io/v1beta1/PeerAuthentication": istioSecurity.PeerAuthentication,
  "security.istio.io/v1beta1/AuthorizationPolicy": istioSecurity.AuthorizationPolicy,
};

function manifests(folder: string): { file: string; doc: Manifest }[] {
  return readdirSync(join(DEPLOY, folder))
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(DEPLOY, folder, file), "utf8")).map((d) => {
        assert.equal(d.errors.length, 0, `${file}: ${d.errors.join("; ")}`);
        return { file, doc: d.toJSON() as Manifest };
      }),
    );
}

const all = [...manifests("kubernetes"), ...manifests("istio")];
const byKind = (kind: string) => all.filter((m) => m.doc.kind === kind).map((m) => m.doc);

test("every Kubernetes and Istio manifest validates against its API schema", () => {
  assert.ok(all.length >= 15, `${all.length} manifests`);
  for (const { file, doc } of all) {
    const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
    assert.ok(Model, `${file}: no schema for ${doc.apiVersion} ${doc.kind}`);
    assert.doesNotThrow(() => new Model(doc as never).validate(), `${file}: ${doc.kind} ${doc.metadata.name}`);
    assert.equal(doc.metadata.namespace ?? doc.metadata.name, "aegis", `${file}: ${doc.kind} ${doc.metadata.name} is in the aegis namespace`);
  }
  // The validator does catch a broken manifest.
  const broken = structuredClone(byKind("Deployment")[0]) as unknown as { spec: { replicas: unknown } };
  broken.spec.replicas = "three";
  assert.throws(() => new apps.Deployment(broken as never).validate());
});

test("every workload runs under the restricted Pod Security profile, without a service-account token", () => {
  const workloads = [...byKind("Deployment"), ...byKind("StatefulSet")];
  assert.deepEqual(workloads.map((w) => w.metadata.name).sort(), ["aegis-guard", "aegis-model-server", "aegis-postgres", "aegis-redis"]);
  for (const w of workloads) {
    const pod = (w.spec as { template: { spec: unknown } }).template.spec as {
      automountServiceAccountToken?: boolean;
      securityContext: { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
      containers: {
        name: string;
        securityContext: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] } };
      }[];
    };
    const where = w.metadata.name;
    assert.equal(pod.automountServiceAccountToken, false, where);
    assert.equal(pod.securityContext.runAsNonRoot, true, where);
    assert.equal(pod.securityContext.seccompProfile?.type, "RuntimeDefault", where);
    for (const c of pod.containers) {
      assert.equal(c.securityContext.allowPrivilegeEscalation, false, `${where}/${c.name}`);
      assert.equal(c.securityContext.readOnlyRootFilesystem, true, `${where}/${c.name}`);
      assert.deepEqual(c.securityContext.capabilities?.drop, ["ALL"], `${where}/${c.name}`);
    }
  }
  const namespace = byKind("Namespace")[0];
  assert.equal(namespace.metadata.labels?.["pod-security.kubernetes.io/enforce"], "restricted");
});

test("only the guard reaches the model server; everything else is denied by default; mTLS is strict", () => {
  const policies = byKind("NetworkPolicy") as unknown as networking.INetworkPolicy[];
  const deny = policies.find((p) => p.metadata?.name === "default-deny");
  assert.deepEqual(deny?.spec?.podSelector, {});
  assert.deepEqual(deny?.spec?.policyTypes, ["Ingress", "Egress"]);
  assert.equal(deny?.spec?.ingress, undefined);
  const toModel = policies.filter((p) => p.spec?.podSelector?.matchLabels?.["app.kubernetes.io/name"] === "aegis-model-server");
  assert.equal(toModel.length, 1);
  const sources = toModel[0].spec?.ingress?.flatMap((rule) => rule.from ?? []) ?? [];
  assert.deepEqual(sources, [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "aegis-guard" } } }]);
  assert.equal((byKind("PeerAuthentication")[0].spec as { mtls: { mode: string } }).mtls.mode, "STRICT");
  const pdb = byKind("PodDisruptionBudget")[0].spec as { minAvailable: number };
  const guard = byKind("Deployment").find((d) => d.metadata.name === "aegis-guard")?.spec as { replicas: number };
  assert.ok(pdb.minAvailable < guard.replicas, "a node can still be drained");
});

/** guard.yaml out of the ConfigMap, into a folder of its own. */
function guardConfigFile(): string {
  const configMap = byKind("ConfigMap").find((c) => c.metadata.name === "aegis-guard-config");
  const file = join(mkdtempSync(join(tmpdir(), "aegis-kit-")), "guard.yaml");
  writeFileSync(file, configMap?.data?.["guard.yaml"] ?? "");
  return file;
}

test("the ConfigMap's guard.yaml is a valid guard config whose upstream is the model server's Service", () => {
  const env = { REDIS_URL: "redis://aegis-redis:6379", DATABASE_URL: "postgres://aegis:x@aegis-postgres:5432/aegis" };
  const config = loadGuardConfig(guardConfigFile(), env);
  assert.equal(config.server.host, "0.0.0.0");
  assert.equal(config.store.redis, env.REDIS_URL);
  assert.equal(config.store.postgres, env.DATABASE_URL);
  const route = config.routes[0];
  assert.equal(route.kind, "proxy");
  const service = byKind("Service").find((s) => s.metadata.name === "aegis-model-server")?.spec as { ports: { port: number }[] };
  assert.equal(route.kind === "proxy" && route.upstream, `http://aegis-model-server.aegis.svc.cluster.local:${service.ports[0].port}`);
  const secrets = byKind("Secret").flatMap((s) => Object.keys((s as { stringData?: object }).stringData ?? {}));
  for (const key of Object.keys(env)) assert.ok(secrets.includes(key), `the example Secret provides ${key}`);
});

test("the workflow validates against the Actions workflow schema, and every aegis flag in it exists", async () => {
  const workflow = readFileSync(join(DEPLOY, "github/aegis-security.yml"), "utf8");
  assert.deepEqual(validateWorkflow(workflow).errors, []);
  assert.notDeepEqual(validateWorkflow(workflow.replace("runs-on:", "runs_on:")).errors, [], "the schema catches a misspelt key");
  const invocations = [...workflow.matchAll(/"\$AEGIS_IMAGE" \\\n\s+(.+)/g)].map((m) => m[1].trim().split(/\s+/));
  assert.deepEqual(
    invocations.map((args) => args[0]),
    ["scan", "audit", "threat"],
  );
  for (const args of invocations) {
    let command = await COMMANDS.find((c) => c.name === args[0])?.load();
    assert.ok(command, args[0]);
    const sub = command.commands.find((c) => c.name() === args[1]);
    if (sub) command = sub;
    for (const flag of args.filter((a) => a.startsWith("--"))) {
      assert.ok(
        command.options.some((o) => o.long === flag),
        `aegis ${args[0]} has ${flag}`,
      );
    }
  }
});

test("the Dockerfile lints clean, builds in two stages and runs unprivileged with nothing but the app in its final stage", () => {
  const dockerfile = readFileSync(join(DEPLOY, "Dockerfile"), "utf8");
  assert.deepEqual(lintDockerfile(dockerfile), []);
  assert.ok(lintDockerfile(`${dockerfile}\nCOPY onlyone\n`).length > 0, "the linter catches a broken instruction");
  const stages = dockerfile.split(/^FROM /m).slice(1);
  assert.equal(stages.length, 2);
  const final = stages[1];
  assert.match(final, /^USER node$/m);
  assert.doesNotMatch(final, /^RUN /m, "the final stage installs nothing and runs no package manager");
  for (const copy of final.match(/^COPY .*$/gm) ?? []) assert.match(copy, /^COPY --from=build /, copy);
  assert.match(final, /^ENTRYPOINT \["node", "bin\/aegis\.js"\]$/m);
});

test("the committed Grafana dashboard is what `aegis guard grafana` writes now, and every series it plots exists", () => {
  const file = guardConfigFile();
  const config = loadGuardConfig(file, { REDIS_URL: "redis://r:6379", DATABASE_URL: "postgres://a@b/c" });
  const generated = `${JSON.stringify(grafanaDashboard(config), null, 2)}\n`;
  assert.equal(
    readFileSync(join(DEPLOY, "grafana/aegis-guard.json"), "utf8"),
    generated,
    "regenerate it: aegis guard grafana --config <the ConfigMap's guard.yaml> --out deploy/grafana/aegis-guard.json",
  );
  const dashboard = JSON.parse(generated) as { panels: { targets?: { expr: string }[] }[]; templating: { list: { name: string; query: string }[] } };
  const known = new Set(
    createGuardMetrics(() => 0)
      .registry.getMetricsAsArray()
      .map((m) => (m as unknown as { name: string }).name),
  );
  const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
  assert.ok(exprs.length >= 12);
  for (const expr of exprs) {
    for (const series of expr.match(/aegis_\w+/g) ?? []) assert.ok(known.has(series.replace(/_bucket$/, "")), `${series} in ${expr}`);
  }
  assert.equal(dashboard.templating.list.find((v) => v.name === "route")?.query, config.routes.map((r) => r.name).join(","));
});
