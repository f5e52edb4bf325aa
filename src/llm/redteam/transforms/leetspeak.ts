/**
 * Leetspeak obfuscation of the attack payload (character substitution as in Wei,
 * Haghtalab and Steinhardt 2023, "Jailbroken", and the obfuscation family of ATLAS
 * AML.T0068): vowels and a few consonants become look-alike digits, which keyword filters
 * miss and models still read. Canary tokens are left exact so a leak stays detectable.
 */
import type { Transform } from "../types.js";
import { rewriteOutside } from "./keep.js";

const LEET: Record<string, string> = { a: "4", e: "3", i: "1", o: "0", s: "5", t: "7", A: "4", E: "3", I: "1", O: "0", S: "5", T: "7" };

export const leetspeakTransform: Transform = {
  name: "leetspeak",
  description: "Rewrite the payload in leetspeak (a→4, e→3, i→1, o→0, s→5, t→7)",
  owasp: ["LLM01"],
  atlas: ["AML.T0068"],
  tags: ["obfuscation"],
  apply: (text, keep = []) => rewriteOutside(text, keep, (part) => part.replace(/[aeiostAEIOST]/g, (c) => LEET[c])),
};
