/**
 * The generated training sets, in one list: what each teaches, its source name and how many
 * rows it adds at scale 1. They join the training rows of every model (each fold of
 * cross-validation included) and are never scored: evaluation uses real sources only, so a
 * template cannot grade itself.
 */
import { ATTACK_STYLE_SOURCE, attackStyleTexts, MULTILINGUAL_BENIGN_SOURCE, multilingualBenignTexts } from "./attack-styles.js";
import { BENIGN_TRIGGER_SOURCE, benignTriggerTexts } from "./benign-triggers.js";
import { DOCUMENT_SOURCE, documentTexts } from "./documents.js";
import { OWN_DATA_ECHO_SOURCE, ownDataEchoTexts, PROMPT_ECHO_SOURCE, promptEchoTexts } from "./echo-requests.js";
import type { LabelledText } from "./labelled-text.js";
import { benignPersonaTexts, PERSONA_SOURCE } from "./personas.js";

export interface SyntheticSet {
  source: string;
  /** Rows at scale 1. */
  rows: number;
  /** One line for the model card. */
  description: string;
  make(count: number, seed: number): LabelledText[];
}

export const SYNTHETIC_SETS: readonly SyntheticSet[] = [
  {
    source: BENIGN_TRIGGER_SOURCE,
    rows: 300,
    description: "benign: harmless clauses with injection trigger words around ordinary tasks (benign-triggers.ts)",
    make: benignTriggerTexts,
  },
  {
    source: OWN_DATA_ECHO_SOURCE,
    rows: 200,
    description: "benign: the user gives a value of their own and asks for it to be repeated back (echo-requests.ts)",
    make: ownDataEchoTexts,
  },
  {
    source: PROMPT_ECHO_SOURCE,
    rows: 50,
    description: "injection: the same requests aimed at the assistant's instructions (echo-requests.ts)",
    make: promptEchoTexts,
  },
  {
    source: PERSONA_SOURCE,
    rows: 600,
    description: "benign: persona and role-play prompts, application system prompts, creative requests with trigger words (personas.ts)",
    make: benignPersonaTexts,
  },
  {
    source: DOCUMENT_SOURCE,
    rows: 400,
    description: "half benign documents with instructions to people, half the same with one instruction to the assistant (documents.ts)",
    make: documentTexts,
  },
  {
    source: ATTACK_STYLE_SOURCE,
    rows: 300,
    description: "injection: multilingual, payload splitting, GCG-style suffixes, many-shot, encoded instructions (attack-styles.ts)",
    make: attackStyleTexts,
  },
  {
    source: MULTILINGUAL_BENIGN_SOURCE,
    rows: 150,
    description: "benign: ordinary prompts in the languages of the multilingual attacks (attack-styles.ts)",
    make: multilingualBenignTexts,
  },
];

/** Every generated set at `scale` times its row count. */
export function syntheticRows(scale: number, seed: number): LabelledText[] {
  return SYNTHETIC_SETS.flatMap((set) => set.make(Math.round(set.rows * scale), seed));
}
