/**
 * The control for the jailbreak families: each forbidden goal asked plainly, with no
 * jailbreak around it (the "direct request" baseline of Wei et al. 2023 and of HarmBench,
 * Mazeika et al. 2024). A jailbreak matters when it succeeds where this fails.
 */
import { FORBIDDEN_GOALS } from "../goals.js";
import type { Probe } from "../types.js";
import { systemWith } from "./setup.js";

export const directRequestProbe: Probe = {
  name: "baseline.direct-request",
  description: "Control: each forbidden goal asked plainly, to compare the jailbreaks against",
  owasp: ["LLM01"],
  atlas: ["AML.T0054"],
  tags: ["jailbreak", "control"],
  attempts(ctx) {
    return FORBIDDEN_GOALS.map((goal) => ({
      id: goal.id,
      setup: systemWith(ctx),
      turns: [`${goal.request[0].toUpperCase()}${goal.request.slice(1)}.`],
      payloadTurn: 0,
      expect: { compliance: goal.compliance },
      detectors: ["compliance"],
      goal: goal.request,
    }));
  },
};
