/**
 * Text normalisation that undoes the character-level obfuscations used to smuggle
 * instructions past filters: Unicode compatibility forms (NFKC, Unicode Standard Annex #15:
 * fullwidth and mathematical alphanumerics become ASCII), invisible zero-width and bidi
 * control characters (Boucher et al., "Bad Characters: Imperceptible NLP Attacks", 2022),
 * Unicode tag characters U+E0000–E007F that carry invisible ASCII ("ASCII smuggling",
 * Goodside 2024) and confusable homoglyphs (Unicode Technical Standard #39, confusables).
 * Deliberate deviation from UTS #39: only the Cyrillic and Greek letters that look like
 * Latin ones are mapped, and only inside words that also contain a Latin letter, or in words
 * made entirely of look-alikes when the text has no other Cyrillic or Greek letter, so
 * genuine Russian or Greek text is left as it is.
 */

export interface NormalizedText {
  text: string;
  /** What was undone, e.g. ["zero-width", "homoglyphs"]; empty for ordinary text. */
  transforms: string[];
}

// Zero-width and other invisible format characters: ZWSP, ZWNJ, ZWJ, word joiner,
// invisible operators, BOM, soft hyphen, Mongolian vowel separator, variation selectors.
const ZERO_WIDTH =
  /[\u{200B}-\u{200D}\u{2060}-\u{2064}\u{FEFF}\u{00AD}\u{180E}\u{115F}\u{1160}\u{3164}\u{FFA0}]|[\u{034F}\u{FE00}-\u{FE0F}\u{E0100}-\u{E01EF}]/gu;
// Bidirectional controls: LRM/RLM, ALM, embeddings/overrides, isolates.
const BIDI = /[\u200E\u200F\u061C\u202A-\u202E\u2066-\u2069]/g;
// Tag characters live at U+E0000–E007F, encoded in UTF-16 as \uDB40 followed by \uDC00–\uDC7F.
const TAGS = /\uDB40[\uDC00-\uDC7F]/g;

/** Cyrillic and Greek letters that render like a Latin letter (subset of UTS #39 confusables). */
const CONFUSABLES: Record<string, string> = {
  // Cyrillic lower case
  а: "a",
  в: "b",
  е: "e",
  ё: "e",
  к: "k",
  м: "m",
  н: "h",
  о: "o",
  р: "p",
  с: "c",
  т: "t",
  у: "y",
  х: "x",
  ѕ: "s",
  і: "i",
  ї: "i",
  ј: "j",
  һ: "h",
  ԁ: "d",
  ԛ: "q",
  ԝ: "w",
  ӏ: "l",
  ɡ: "g",
  // Cyrillic upper case
  А: "A",
  В: "B",
  Е: "E",
  К: "K",
  М: "M",
  Н: "H",
  О: "O",
  Р: "P",
  С: "C",
  Т: "T",
  У: "Y",
  Х: "X",
  Ѕ: "S",
  І: "I",
  Ј: "J",
  Ԛ: "Q",
  Ԝ: "W",
  Ӏ: "I",
  // Greek lower case
  α: "a",
  ο: "o",
  ρ: "p",
  ν: "v",
  τ: "t",
  ι: "i",
  κ: "k",
  υ: "u",
  χ: "x",
  ε: "e",
  // Greek upper case
  Α: "A",
  Β: "B",
  Ε: "E",
  Ζ: "Z",
  Η: "H",
  Ι: "I",
  Κ: "K",
  Μ: "M",
  Ν: "N",
  Ο: "O",
  Ρ: "P",
  Τ: "T",
  Υ: "Y",
  Χ: "X",
};

const CONFUSABLE_CLASS = new RegExp(`[${Object.keys(CONFUSABLES).join("")}]`);
const WORD = /[\p{L}\p{M}\p{N}_'’-]+/gu;
const LATIN_LETTER = /[A-Za-z]/;
const LETTER = /\p{L}/gu;
const FOREIGN_LETTER = /[\p{Script=Cyrillic}\p{Script=Greek}]/gu;

function mapHomoglyphs(text: string): string {
  // Most texts have no look-alike at all: then no word changes, and the per-word pass is skipped.
  if (!CONFUSABLE_CLASS.test(text)) return text;
  // A Cyrillic or Greek letter with no Latin look-alike means the text really is in that script.
  const genuineForeign = [...text.matchAll(FOREIGN_LETTER)].some((m) => !(m[0] in CONFUSABLES));
  return text.replace(WORD, (word) => {
    if (!CONFUSABLE_CLASS.test(word)) return word;
    const letters = word.match(LETTER) ?? [];
    const mixed = LATIN_LETTER.test(word);
    const allLookAlikes = letters.every((ch) => ch in CONFUSABLES || LATIN_LETTER.test(ch));
    // A Latin word with look-alikes mixed in is obfuscation; so is a word made only of
    // look-alikes in a text that has no other Cyrillic or Greek.
    if (!(mixed || (allLookAlikes && !genuineForeign))) return word;
    let out = "";
    for (const ch of word) out += CONFUSABLES[ch] ?? ch;
    return out;
  });
}

function decodeTags(text: string): string {
  return text.replace(TAGS, (pair) => {
    const code = pair.charCodeAt(1) - 0xdc00;
    // U+E0020–E007E mirror printable ASCII; language tag U+E0001 and cancel tag U+E007F are dropped.
    return code >= 0x20 && code <= 0x7e ? String.fromCharCode(code) : "";
  });
}

/**
 * Undo character-level obfuscation and return the canonical text scanners and the
 * featuriser see, with the names of the transforms that changed something.
 */
export function normalizeText(text: string): NormalizedText {
  const transforms: string[] = [];
  let out = text;
  const step = (name: string, next: string): void => {
    if (next !== out) transforms.push(name);
    out = next;
  };
  // Tags first: NFKC leaves them alone, and they must become visible before homoglyph mapping.
  step("unicode-tags", decodeTags(out));
  step("zero-width", out.replace(ZERO_WIDTH, ""));
  step("bidi", out.replace(BIDI, ""));
  step("nfkc", out.normalize("NFKC"));
  step("homoglyphs", mapHomoglyphs(out));
  // Whitespace is collapsed for everyone; it is reported only when unusual spacing was removed.
  const collapsed = out
    .replace(/[^\S\n]+/g, " ")
    .replace(/ *\n[\s]*/g, "\n")
    .trim();
  const unusual = /[^\S \n]|\S {2,}\S|\n{3,}/.test(out);
  if (collapsed !== out && unusual) transforms.push("whitespace");
  out = collapsed;
  return { text: out, transforms };
}

const LEET: Record<string, string> = {
  "0": "o",
  "1": "i",
  "3": "e",
  "4": "a",
  "5": "s",
  "7": "t",
  "8": "b",
  "9": "g",
  "@": "a",
  $: "s",
  "!": "i",
  "|": "l",
  "+": "t",
};

const LEET_WORD = /[\p{L}0-9@$!|+]+/gu;
// The characters LEET maps: a text or word without one reads the same de-leeted.
const LEET_CHAR = new RegExp(`[${Object.keys(LEET).join("")}]`);

/**
 * Map leetspeak substitutions back to letters ("1gn0r3 4ll" → "ignore all") in words
 * that mix letters with digits or symbols; plain numbers and punctuation stay as they are.
 */
export function deLeet(text: string): string {
  if (!LEET_CHAR.test(text)) return text;
  return text.replace(LEET_WORD, (word) => {
    if (!LEET_CHAR.test(word)) return word;
    const letters = word.replace(/[^\p{L}]/gu, "").length;
    // A word needs letters and at least two letters overall to be leetspeak, not a number or "!".
    if (letters === 0 || word.length < 3) return word;
    // Trailing punctuation such as "now!" is punctuation, not a letter.
    const core = word.replace(/[!]+$/, "");
    const tail = word.slice(core.length);
    let out = "";
    for (const ch of core) out += LEET[ch] ?? ch;
    return out + tail;
  });
}
