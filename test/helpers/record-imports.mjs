// `node --import` this: every module URL the process resolves is appended to the file named
// by $AEGIS_IMPORT_LOG, so a test can tell which modules a command loaded.
import { register } from "node:module";

register("./record-imports-hooks.mjs", import.meta.url);
