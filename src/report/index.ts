/** Public API of aegis-ml/report: the renderers and helpers every capability's report is built from. */
export { parseYaml } from "./yaml.js";
