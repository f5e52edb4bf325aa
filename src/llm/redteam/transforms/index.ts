/** The transform registry: name → plugin, in the order `--list` shows them. */
import type { Transform } from "../types.js";
import { base64Transform } from "./base64.js";
import { hexTransform } from "./hex.js";
import { homoglyphTransform } from "./homoglyph.js";
import { leetspeakTransform } from "./leetspeak.js";
import { rot13Transform } from "./rot13.js";

export const TRANSFORMS: readonly Transform[] = [base64Transform, rot13Transform, hexTransform, leetspeakTransform, homoglyphTransform];
