/** Every fuzz target, for the corpus replay and `npm run fuzz`. */
import type { FuzzTarget } from "../harness.js";
import { dataTargets } from "./data.js";
import { httpTargets } from "./http.js";
import { modelFileTargets } from "./model-files.js";
import { yamlTarget } from "./yaml.js";

export const allTargets: FuzzTarget[] = [...dataTargets, ...modelFileTargets, yamlTarget, ...httpTargets];
