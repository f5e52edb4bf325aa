/**
 * Plain regular-expression detection (garak's StringDetector idea): any of the attempt's
 * patterns (case-insensitive, multi-line) in the reply is a hit. Probes use it for markers
 * that are not canaries, e.g. a phrase an injection asked the model to say.
 */
import type { Detector } from "../types.js";

export const regexDetector: Detector = {
  name: "regex",
  description: "One of the attempt's regular expressions matches the reply",
  owasp: [],
  atlas: [],
  tags: ["generic"],
  detect(reply, { expect }) {
    for (const source of expect.patterns ?? []) {
      const match = new RegExp(source, "im").exec(reply);
      if (match) return { detector: "regex", hit: true, score: 1, evidence: `matched /${source}/ at ${match.index}` };
    }
    return { detector: "regex", hit: false, score: 0 };
  },
};
