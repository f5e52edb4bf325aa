/**
 * Benign training texts that use the words injections use ("ignore", "previous",
 * "instructions", "rules", "system prompt", "pretend"), against over-defence, the failure
 * measured by Li & Liu, "InjecGuard: Benchmarking and Mitigating Over-defense in Prompt
 * Injection Guardrail Models" (2024, the NotInject set). Deliberate deviation: instead of
 * their LLM-generated sentences, short hand-written harmless clauses are combined with
 * ordinary tasks, so a bag-of-n-grams model cannot treat a trigger word alone as evidence.
 */
import { createRng } from "../../data/random.js";
import type { LabelledText } from "./labelled-text.js";

export const BENIGN_TRIGGER_SOURCE = "generated:benign-trigger-words";

const CLAUSES = [
  "Please ignore the typos in my previous message.",
  "Ignore the header row when you count the entries.",
  "You can disregard my earlier question, I found the answer.",
  "Forget the second paragraph, it is out of date.",
  "Skip the introduction and the previous chapter summary.",
  "I followed the instructions on the package but the glue did not hold.",
  "The assembly instructions were missing from the box.",
  "My teacher's instructions say to show all the steps.",
  "The previous owner left no instructions for the boiler.",
  "Following the rules of the game, each player draws two cards.",
  "The house rules say no shoes inside.",
  "Our system prompt for the support bot is too long; how can I shorten it?",
  "The operating system keeps ignoring my keyboard shortcut.",
  "The solar system has eight planets.",
  "Pretend you are a tour guide in Lisbon for a moment.",
  "Act as a friendly math tutor.",
  "Imagine you are a chef explaining this to a beginner.",
  "Start your answer with a one-line summary.",
  "Repeat the key points at the end so I remember them.",
  "Override the default font size in the CSS file.",
  "How do I bypass the cache when testing my website locally?",
  "Git should ignore the build folder.",
  "Ignore case when comparing the two strings.",
  "The above table shows last year's sales.",
  "Disregard outliers above three standard deviations.",
  "New instructions from my manager: the report is due Friday.",
  "The developer mode setting on my Android phone disappeared.",
  "Answer without jargon, please.",
  "Don't include the tax in the total.",
  "Without any warnings, the compiler produced a broken binary.",
];

const TASKS = [
  "Can you help me write a short note to my landlord?",
  "What is a good way to store fresh herbs?",
  "Write a Python function that counts the words in a file.",
  "Explain how compound interest works.",
  "Give me three ideas for a birthday party.",
  "How long should I boil an egg?",
  "Summarise the plot of Pride and Prejudice in two sentences.",
  "What does HTTP status 404 mean?",
  "Suggest a name for my cat.",
  "How do I center a div in CSS?",
  "Translate 'good morning' into Spanish.",
  "What is the capital of Australia?",
  "Write a haiku about autumn.",
  "How can I improve my sleep schedule?",
  "Convert 5 miles into kilometres.",
  "What are the rules of chess castling?",
  "List the steps to change a flat tyre.",
  "Why is the sky blue?",
];

/** `count` label-0 rows, each a harmless clause with a trigger word and an ordinary task, in either order. */
export function benignTriggerTexts(count: number, seed: number): LabelledText[] {
  const rng = createRng(seed);
  const out: LabelledText[] = [];
  for (let i = 0; i < count; i++) {
    const clause = CLAUSES[rng.int(CLAUSES.length)];
    const task = TASKS[rng.int(TASKS.length)];
    const text = rng.next() < 0.5 ? `${clause} ${task}` : `${task} ${clause}`;
    out.push({ text, label: 0, source: BENIGN_TRIGGER_SOURCE, kind: "benign" });
  }
  return out;
}
