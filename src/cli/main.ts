/** The `aegis` executable's entry (bin/aegis.js runs it). */
import { runCli } from "./program.js";

const code = await runCli(process.argv);
if (code !== 0) process.exitCode = code;
