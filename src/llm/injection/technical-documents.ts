/**
 * Technical prose as retrieved content, with and without one planted line addressed to the
 * assistant: library documentation, project READMEs, forum threads and code answers with
 * explanation around the code. Held out, benign Stack Overflow answers were context mode's
 * worst false positives (issue 22): second-person technical advice ("Run `make clean` and
 * try again", "You need to restart the service") reads like the coding requests the context
 * classifier learns as instructions. These rows are full of such advice addressed to the
 * reader, so the classifier learns that it is document prose, and their injected twins carry
 * the same planted lines as structured-documents.ts. Every sentence is composed at random
 * (fixed seed) from parts written for this file; none is taken from a dataset.
 */
import { createRng, type Rng } from "../../data/random.js";
import type { LabelledText } from "./labelled-text.js";
import { pick, plantInstruction } from "./structured-documents.js";

export const TECHNICAL_DOCUMENT_SOURCE = "generated:technical-documents";

const PARTS = {
  lib: ["tinyqueue", "fastjsonl", "pgwatch", "imgsharp", "logrotate-lite", "yamlfmt", "httpkit", "chronofmt", "geotile", "csvstream", "authlayer", "mqbridge"],
  lang: ["Python", "Node", "Go", "Rust", "Java", "Ruby", "PHP"],
  version: ["2.3", "3.11", "18", "1.21", "0.9", "5.0", "4.2.1", "1.0.0-beta"],
  fn: ["connect", "parse", "flush", "close", "load_config", "render", "retry", "subscribe", "encode", "validate", "open_session", "commit"],
  option: ["timeout", "max_retries", "pool_size", "verbose", "strict", "cache_dir", "encoding", "batch_size", "log_level"],
  value: ["0", "30", "true", "false", "utf-8", "debug", "128", "none"],
  thing: [
    "the config file",
    "the cache directory",
    "the lock file",
    "the build folder",
    "the virtual environment",
    "the node_modules folder",
    "the database migration",
    "the service worker",
    "the connection pool",
    "your local branch",
    "the Docker image",
    "the index",
  ],
  verb: ["delete", "rebuild", "update", "clear", "recreate", "reinstall", "restart", "check", "pin", "regenerate"],
  cmd: [
    "npm ci",
    "pip install -r requirements.txt",
    "git pull --rebase",
    "docker compose up -d",
    "make clean && make",
    "cargo build --release",
    "go mod tidy",
    "bundle exec rake test",
    "python -m pytest -x",
    "kubectl rollout restart deployment/api",
  ],
  process: ["the server", "the watcher", "the test runner", "the worker", "the daemon", "the dev server"],
  event: ["sending any request", "the first query", "reading the file", "the event loop starts", "forking worker processes"],
  symptom: [
    "a timeout after 30 seconds",
    "`ModuleNotFoundError`",
    "a segmentation fault on exit",
    "`ECONNREFUSED`",
    "an empty response",
    "a permission denied error",
    "duplicate rows in the output",
    "the build hanging at 99%",
  ],
  platform: ["Windows", "macOS", "Ubuntu 22.04", "Alpine", "WSL", "an M1 Mac", "CI"],
  section: ["Configuration", "Troubleshooting", "Installation", "FAQ", "Migration guide", "API reference"],
  returns: ["a list of dicts", "`None`", "a promise", "an iterator", "the number of rows written", "a new object", "an error value"],
  doing: ["parsing large files", "running in a container", "using the async client", "upgrading from 1.x", "running the tests in parallel"],
} as const;

function fill(rng: Rng, template: string): string {
  return template.replace(/\{(\w+)\}/g, (_, key: keyof typeof PARTS) => pick(rng, PARTS[key]));
}

/** `count` sentences from different templates. */
function sentences(rng: Rng, templates: readonly string[], count: number): string[] {
  return rng
    .shuffle([...templates])
    .slice(0, count)
    .map((t) => fill(rng, t));
}

/** Advice to the reader, in the second person and the imperative: the style that reads like a request. */
const ADVICE = [
  "Make sure {thing} exists before you run `{cmd}`.",
  "If the build fails, {verb} {thing} and try again.",
  "You need to {verb} {thing} after changing `{option}`.",
  "Run `{cmd}` to pick up the new dependencies.",
  "Do not {verb} {thing} while {process} is running.",
  "Set `{option}` to `{value}` if you see {symptom}.",
  "Call `{fn}()` before {event}.",
  "You can skip this step on {platform}.",
  "Remember to {verb} {thing} when you switch branches.",
  "Try running `{cmd}` first; it fixes most of these errors.",
  "Use `{fn}()` instead if you are {doing}.",
  "Check that `{option}` is not overridden by an environment variable.",
  "Avoid calling `{fn}()` inside a loop; it opens a new connection each time.",
  "Write a small test that reproduces {symptom} before you change anything.",
  "Explain the change in the pull request description so reviewers know why {thing} moved.",
  "Always {verb} {thing} in a separate commit.",
];

/** Statements about the software: what it does, returns, supports. */
const FACTS = [
  "`{fn}()` returns {returns}, not a string.",
  "{lib} works with {lang} {version} and later.",
  "The default for `{option}` is `{value}`.",
  "This happens because {thing} is cached between runs.",
  "Since version {version}, `{fn}()` is asynchronous.",
  "The error usually means that {process} cannot reach the database.",
  "{lib} reads `{option}` from the environment when it is not set in code.",
  "On {platform} the path separator is different, which is why {thing} is not found.",
  "The old behaviour is still available behind the `{option}` flag.",
  "Internally, {lib} keeps one buffer per connection and flushes it every second.",
  "See the {section} section for the full list of options.",
  "{symptom} is a known issue when {doing}.",
];

/** Forum replies: experiences, questions back, thanks. */
const FORUM = [
  "I had the same problem after upgrading to {lib} {version}.",
  "What fixed it for me was to {verb} {thing}.",
  "Have you tried running `{cmd}`?",
  "Edit: as someone pointed out in the comments, `{fn}()` is deprecated since {version}.",
  "Thanks, that worked!",
  "Hope this helps.",
  "Same here on {platform}, but only when {doing}.",
  "Can you post the full stack trace? The part you pasted ends before the interesting line.",
  "This answer saved me hours, thank you.",
  "Which version of {lang} are you on?",
  "Marking this as solved: {verb} {thing}, then restart {process}.",
  "Not sure why this was downvoted; it is the only thing that worked for me.",
];

const SNIPPETS = [
  "client = {lib}.Client(timeout=30)\nclient.{fn}()\nclient.close()",
  "const conn = await {lib}.{fn}({ {option}: {value} });\nconsole.log(conn.status);",
  "for row in reader:\n    if not row:\n        continue\n    handle(row)",
  "export {option}={value}\n{cmd}",
  "if err := db.Ping(); err != nil {\n    log.Fatal(err)\n}",
  "let config = Config::from_env()?;\nlet pool = Pool::new(config.{option});",
];

function snippet(rng: Rng): string[] {
  return ["```", ...fill(rng, pick(rng, SNIPPETS)).split("\n"), "```"];
}

function documentation(rng: Rng): string[] {
  const fn = pick(rng, PARTS.fn);
  return [
    `## \`${fn}()\``,
    ...sentences(rng, FACTS, 1 + rng.int(2)),
    "Parameters:",
    ...Array.from({ length: 2 + rng.int(3) }, () => fill(rng, "- `{option}`: defaults to `{value}`.")),
    ...sentences(rng, ADVICE, 1 + rng.int(2)),
    "Example:",
    ...snippet(rng),
    `Note: ${fill(rng, pick(rng, ADVICE))}`,
  ];
}

function readme(rng: Rng): string[] {
  const lib = pick(rng, PARTS.lib);
  return [
    `# ${lib}`,
    `${lib} is a small ${pick(rng, PARTS.lang)} library for ${pick(rng, PARTS.doing)}.`,
    "## Installation",
    ...snippet(rng),
    ...sentences(rng, ADVICE, 1 + rng.int(2)),
    "## Usage",
    ...sentences(rng, FACTS, 1 + rng.int(2)),
    ...sentences(rng, ADVICE, 1 + rng.int(2)),
    "## Contributing",
    pick(rng, [
      "Pull requests are welcome. Open an issue first to discuss larger changes.",
      "Please run the tests and the linter before you open a pull request.",
      "Bug reports should include the version, the platform and a minimal example.",
    ]),
    pick(rng, ["## License", "Licensed under the MIT licence.", "Released under the Apache 2.0 licence."]),
  ];
}

function forumThread(rng: Rng): string[] {
  const lines = [fill(rng, "I get {symptom} when I run `{cmd}` on {platform}. Any idea what is wrong?")];
  for (let post = 0; post < 2 + rng.int(3); post++) {
    lines.push(...sentences(rng, rng.next() < 0.5 ? FORUM : ADVICE, 1 + rng.int(2)), ...sentences(rng, FORUM, 1));
  }
  return lines;
}

function codeAnswer(rng: Rng): string[] {
  return [
    ...sentences(rng, FACTS, 1 + rng.int(2)),
    ...sentences(rng, ADVICE, 1 + rng.int(2)),
    ...snippet(rng),
    ...sentences(rng, [...ADVICE, ...FACTS], 1 + rng.int(3)),
    ...(rng.next() < 0.5 ? sentences(rng, FORUM, 1) : []),
  ];
}

const KINDS = [documentation, readme, forumThread, codeAnswer];

/** `count` rows: benign technical documents and, for every other row, the previous one with one planted line. */
export function technicalDocumentTexts(count: number, seed: number): LabelledText[] {
  const rng = createRng(seed + 31);
  const rows: LabelledText[] = [];
  while (rows.length < count) {
    const lines = pick(rng, KINDS)(rng);
    rows.push({ text: lines.join("\n"), label: 0, source: TECHNICAL_DOCUMENT_SOURCE, kind: "benign" });
    if (rows.length === count) break;
    rows.push({ text: plantInstruction(rng, lines, true).join("\n"), label: 1, source: TECHNICAL_DOCUMENT_SOURCE, kind: "indirect_injection" });
  }
  return rows;
}
