/**
 * Worker threads that run a module of Aegis. The CLI runs either from source through tsx or
 * from the JavaScript `npm install` compiled into dist/ (bin/aegis.js), so a worker's module
 * is named with its caller's own extension, and tsx is registered in the thread first only
 * when that is TypeScript. (A worker once named its `.ts` file outright, which dist/ lacks.)
 */
import { extname } from "node:path";
import { Worker } from "node:worker_threads";

const BOOTSTRAP = `
const { workerData } = require("node:worker_threads");
const ready = workerData.loader ? import(workerData.loader).then((tsx) => tsx.register()) : Promise.resolve();
ready.then(() => import(workerData.module));
`;

/**
 * Starts the module `name` (no extension), which sits beside `caller` (the caller's
 * import.meta.url), in a worker thread; `data` is its workerData, with `loader` and `module`
 * added.
 */
export function startWorker(caller: string, name: string, data: object): Worker {
  const extension = extname(new URL(caller).pathname);
  const loader = extension === ".ts" ? import.meta.resolve("tsx/esm/api") : undefined;
  return new Worker(BOOTSTRAP, { eval: true, workerData: { ...data, loader, module: new URL(`./${name}${extension}`, caller).href } });
}
