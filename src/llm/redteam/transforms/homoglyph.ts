/**
 * Homoglyph substitution of the attack payload (Boucher, Shumailov, Anderson and Papernot
 * 2022, "Bad Characters: Imperceptible NLP Attacks"): Latin letters are replaced by the
 * Cyrillic letters that look the same, so the text reads unchanged to a person and to
 * many models while string and keyword filters no longer match. Canary tokens stay exact.
 */
import type { Transform } from "../types.js";
import { rewriteOutside } from "./keep.js";

const HOMOGLYPHS: Record<string, string> = {
  a: "\u0430",
  c: "\u0441",
  e: "\u0435",
  i: "\u0456",
  o: "\u043e",
  p: "\u0440",
  x: "\u0445",
  y: "\u0443",
  A: "\u0410",
  B: "\u0412",
  C: "\u0421",
  E: "\u0415",
  H: "\u041d",
  K: "\u041a",
  M: "\u041c",
  O: "\u041e",
  P: "\u0420",
  T: "\u0422",
  X: "\u0425",
};

export const homoglyphTransform: Transform = {
  name: "homoglyph",
  description: "Swap Latin letters for identical-looking Cyrillic ones",
  owasp: ["LLM01"],
  atlas: ["AML.T0068"],
  tags: ["obfuscation", "unicode"],
  apply: (text, keep = []) => rewriteOutside(text, keep, (part) => part.replace(/[aceiopxyABCEHKMOPTX]/g, (c) => HOMOGLYPHS[c])),
};
