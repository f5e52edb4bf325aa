/**
 * Pattern families for prompt injection and jailbreaks, written from the attack taxonomies
 * of Perez & Ribeiro, "Ignore Previous Prompt: Attack Techniques for Language Models"
 * (2022: goal hijacking, prompt leaking), Wei, Haghtalab & Steinhardt, "Jailbroken: How
 * Does LLM Safety Training Fail?" (2023: prefix injection, refusal suppression, role-play),
 * Greshake et al., "Not what you've signed up for" (2023: indirect injection in retrieved
 * content) and Shen et al., "Do Anything Now" (2024: in-the-wild jailbreak personas).
 * Each family has a weight (how sure a match alone makes us); a text's heuristic score is
 * the noisy-OR of the families that match. Patterns run on normalised, lower-cased text and
 * again on its de-leeted form, so homoglyph, invisible-character and leetspeak variants
 * match too. The family hits are also features of the classifier (see features.ts).
 */
import { deLeet } from "../normalize.js";

export interface HeuristicFamily {
  /** Finding kind reported by the scanner. */
  kind: string;
  /** Probability-like confidence that a single match is an attack. */
  weight: number;
  patterns: RegExp[];
}

export interface HeuristicHit {
  kind: string;
  weight: number;
  /** Offsets in the text the pattern ran on. */
  span: [number, number];
  match: string;
}

// Shared vocabulary; kept as strings so families read like sentences.
const DISMISS =
  "(?:ignore|disregard|forget|skip|override|bypass|neglect|overlook|abandon|discard|drop|set aside|throw out|do not follow|don't follow|stop following)";
const QUALIFIER =
  "(?:all|any|every|the|your|my|these|those|each|of|previous|prior|above|preceding|earlier|original|initial|old|former|foregoing|system|given|current|existing|other|safety|usual|normal|default|standard|typical|core|built-in|\\s)*";
const PRIOR = "(?:previous|prior|above|preceding|earlier|original|initial|old|former|foregoing|system|given|all|any|your)";
const DIRECTIVES =
  "(?:instructions?|directions?|directives?|rules?|prompts?|guidelines?|commands?|context|constraints?|orders?|programming|training|guidance|policies|policy|restrictions?|filters?|text|messages?|content|settings?|requests?)";
const AI = "(?:ai|a\\.i\\.|assistant|chatbot|chat ?bot|language model|llm|gpt|chatgpt|claude|bot|model|agent)";
/** The vendors whose rules a jailbreak declares void ("OpenAl" with an l is a common misspelling that evades filters). */
const VENDOR = "(?:open ?a[il]|chat ?gpt|anthropic)";
/** "does not (have to) abide by", "won't follow": a persona told which rules it does not keep. */
const REFUSE_TO_KEEP =
  "(?:does not|doesn't|do not|don't|will not|won't|no longer|need not|never)\\s+(?:have to\\s+|need to\\s+|care to\\s+)?(?:abide|adhere|comply|conform|follow|obey|care about|respect)\\s+(?:by\\s+|to\\s+|with\\s+)?";
/** An AI named in one word or two ("the AI assistant", "AI agent"). */
const AI_NAMED = `(?:(?:ai|a\\.i\\.)\\s+)?${AI}`;
const REVEAL = "(?:repeat|print|output|show|reveal|display|tell me|give me|write (?:out|down)|leak|dump|spell out|recite|copy|echo|list|share|disclose|paste)";

export const HEURISTIC_FAMILIES: readonly HeuristicFamily[] = [
  {
    kind: "instruction-override",
    weight: 0.9,
    patterns: [
      new RegExp(`\\b${DISMISS}\\s+(?:${QUALIFIER})?${PRIOR}\\b(?:${QUALIFIER})?${DIRECTIVES}\\b`),
      // "Ignore the directions above": the directive named before where it stands.
      new RegExp(
        `\\b${DISMISS}\\s+(?:the\\s+|all\\s+|any\\s+|these\\s+|those\\s+)?${DIRECTIVES}\\s+(?:above|before this|so far|(?:given|written|stated)\\s+(?:above|before|earlier))\\b`,
      ),
      new RegExp(
        `\\b${DISMISS}\\s+(?:everything|anything|all)\\s+(?:(?:that\\s+)?(?:you\\s+)?(?:were|was|have been)\\s+(?:told|said|given|instructed)|(?:said|written|stated)?\\s*(?:above|before|previously|earlier))`,
      ),
      /\b(?:your|the)\s+(?:new|real|actual|updated|true)\s+(?:instructions?|task|goal|objective|directive|orders?)\s+(?:is|are|will be)\b/,
      /\b(?:new|updated|revised|override|overriding)\s+(?:instructions?|directives?|orders?)\s*[:-]/,
      /\b(?:instead|rather),?\s+(?:of\s+(?:that|the\s+above)\s*,?\s*)?(?:just\s+)?(?:say|print|output|write|respond with|reply with)\b/,
      /\b(?:forget|disregard|ignore)\s+everything\s+(?:from\s+before|you(?:'ve| have)?\s+(?:been\s+told|learned|learnt))\b/,
      /\b(?:pretend|act as if|imagine|behave as if)\b[^.\n]{0,20}\bforgotten\s+(?:about\s+)?(?:all\s+)?(?:the\s+|your\s+)?(?:rules|instructions|guidelines)\b/,
      /\b(?:all\s*)?(?:previous|prior|above|earlier|preceding|original)\s+(?:instructions?|directives)\s+(?:are|were|is)\s+(?:now\s+)?(?:false|void|cancel+ed|invalid|obsolete|null|revoked|no longer valid)\b/,
      // The same override in the languages attackers switch to most (German, Spanish, French, Italian, Portuguese).
      /\b(?:ignoriere|ignorier|vergiss|missachte|ignora|olvida|omite|ignorez|oubliez|oublie|dimentica|esqueça|esqueca)\b[^.\n]{0,40}\b(?:anweisung(?:en)?|befehle|regeln|instrucciones|reglas|indicaciones|instructions|consignes|règles|istruzioni|regole|instruções|instrucoes|regras)\b/,
    ],
  },
  {
    kind: "mode-switch",
    weight: 0.75,
    patterns: [
      /\b(?:developer|dev|debug|maintenance|admin|administrator|god|sudo|root|unrestricted|unfiltered|uncensored|jailbreak|jailbroken|opposite|evil|chaos|dan)\s+mode\b/,
      /\b(?:new|updated|override|overriding|replacement)\s+system\s+(?:prompt|message|instructions?)\b/,
      /\bsystem\s+(?:override|reset|update|alert)\b/,
      /\b(?:you have been|you are now|you're now|you are)\s+(?:jailbroken|freed|liberated|unlocked|unshackled|reprogrammed)\b/,
      /\b(?:god ?mode|jailbreak|dan mode|developer mode)\s*[:=]?\s*(?:is\s+)?(?:enabled|activated|active|on|engaged)\b/,
      /\byou are no longer\s+(?:chat ?gpt|an?\s+(?:ai|assistant|language model)|bound|restricted|limited)\b/,
      /\b(?:safety|content|ethical|ethics|moral)\s+(?:restrictions?|filters?|measures|guidelines|protocols?|guardrails)\s*[:=]\s*(?:none|disabled|off|removed|deactivated|0)\b/,
    ],
  },
  {
    kind: "jailbreak-roleplay",
    weight: 0.8,
    patterns: [
      /\bdo anything now\b/,
      /\b(?:dan|stan|dude|aim|kevin|mongo tom|betterdan|antigpt|evilbot|apophis)\b[^.\n]{0,60}\b(?:stands? for|which stands|can do anything|has no (?:rules|limits|restrictions|filters))/,
      /\b(?:pretend|act|behave|roleplay|role-play|role play|imagine|simulate)\b[^.\n]{0,120}\b(?:no|without|free of|free from|zero|any)\s+(?:\w+\s+){0,2}(?:restrictions|filters|limits|limitations|rules|ethics|morals|morality|guidelines|boundaries|censorship|constraints)\b/,
      /\b(?:not|never|no longer)\s+(?:be\s+)?(?:bound|restricted|limited|constrained)\s+by\b/,
      /\b(?:free|freed|liberated|released|broken free)\s+(?:from|of)\s+(?:the\s+)?(?:typical|usual|normal|standard)?\s*(?:confines|restrictions|rules|limitations|shackles|constraints)\b/,
      /\b(?:no|without|free of|lacks?|doesn't have|does not have|ignores?)\s+(?:any\s+)?(?:ethical|moral|ethics|morals)\s+(?:\w+\s+)?(?:guidelines|restrictions|constraints|boundaries|principles|considerations|limits|code|compass|filters?)\b/,
      new RegExp(
        `\\b(?:uncensored|unfiltered|amoral|unethical|unrestricted|unhinged|immoral)\\s+(?:and\\s+\\w+\\s+)?(?:${AI}|persona|character|version|entity)\\b`,
      ),
      /\b(?:stay|remain|keep|break)(?:ing)?\s+(?:in\s+)?character\b/,
      /\b(?:two|2|dual|both)\s+(?:different\s+|separate\s+)?(?:responses|answers|replies|outputs|paragraphs)\b[^\n]{0,200}\b(?:normal|classic|standard|filtered|jailbroken|unfiltered|developer|dan)\b/,
      /\b(?:always intelligent and machiavellian|niccolo machiavelli)\b/,
      /\bcontent polic(?:y|ies)\b[^.\n]{0,80}\b(?:ignore|doesn't|does not|no longer|don't|do not|not|bypass|violat)/,
      // A persona defined by the rules it does not keep: "does not abide by any restrictions", "doesn't follow OpenAI policy".
      // Ordinary rules ("drivers who do not follow traffic rules") count only as "any rules".
      new RegExp(
        `\\b${REFUSE_TO_KEEP}any\\s+(?:(?:type|kind|sort)s?\\s+of\\s+)?(?:[\\w']+\\s+){0,3}(?:rules|restrictions|polic(?:y|ies)|guidelines|ethics|morals|filters|censorship)\\b`,
      ),
      new RegExp(
        `\\b${REFUSE_TO_KEEP}(?:the\\s+|its\\s+|their\\s+|his\\s+|her\\s+)?(?:[\\w']+\\s+){0,2}(?:content polic(?:y|ies)|(?:ethical|moral|safety) guidelines|censorship|terms of service)\\b`,
      ),
      // The vendor's rules declared void: "OpenAI rules don't apply", "openai programming has no effect", "ignoring OpenAI's content policies".
      new RegExp(
        `\\b${VENDOR}(?:'s)?\\s+(?:\\w+\\s+)?(?:rules|polic(?:y|ies)|guidelines|restrictions|programming|filters?|terms)\\s+(?:don't|do not|doesn't|does not|no longer|has no|have no|are not|is not|aren't|isn't)\\s*(?:apply|effect|matter|exist|relevant|valid)`,
      ),
      new RegExp(
        `\\b(?:ignor\\w*|disregard\\w*|bypass\\w*|break\\w*|violat\\w*|circumvent\\w*|free from|not bound by|without)\\s+(?:all\\s+|any\\s+|the\\s+)?${VENDOR}(?:'s)?\\s+(?:\\w+\\s+)?(?:rules|polic(?:y|ies)|guidelines|restrictions|programming|filters?|terms)\\b`,
      ),
      /\b(?:has|have|with)\s+no\s+(?:rules|restrictions|limits|limitations|filters|guidelines|morals|ethics)\s*,\s*no\s+(?:rules|restrictions|limits|limitations|filters|guidelines|laws|morals|ethics)\b/,
      new RegExp(
        `\\b(?:uncensored|unfiltered|unrestricted|unlimited|unbound|limitless|amoral)\\s*,\\s*(?:completely\\s+|totally\\s+|fully\\s+)?(?:uncensored|unfiltered|unrestricted|unlimited|unbound|limitless|amoral)\\s+${AI}\\b`,
      ),
      /\b(?:doesn't|does not|don't|do not|won't|will not)\s+have\s+(?:any\s+)?(?:content polic(?:y|ies)|censorship|(?:ethical|moral) (?:guidelines|restrictions|limits))\b/,
      /\bdisregard\w*\s+(?:all\s+|any\s+)?(?:ethical|moral|legal)\s+(?:(?:or|and)\s+(?:ethical|moral|legal)\s+)?(?:concerns|considerations|implications|boundaries|guidelines)\b/,
      /\bwithout\s+(?:any\s+)?regard\s+(?:for|to)\s+(?:\w+\s+){0,2}(?:norms|ethics|morals|morality|legality|political correctness|safety)\b/,
      new RegExp(`\\b(?:complete|exact|total)\\s+opposite\\s+(?:of|from)\\s+(?:${VENDOR}(?:'s)?\\s+)?(?:chat ?gpt|an? ai|the assistant)\\b`),
      /\b(?:i am|i'm)\s+(?:one of\s+)?your\s+(?:developers?|programmers?|creators?|engineers?|makers?)\b/,
      /\b(?:developers?|programmers?|engineers?|employees?)\s+(?:at|from|of)\s+(?:openai|anthropic)\b/,
      /\b(?:override|bypass|circumvent|disable|remove|lift|turn off)\s+(?:all\s+(?:of\s+)?|any\s+(?:of\s+)?|its\s+|your\s+)(?:\w+\s+)?(?:safeguards|guardrails|safety (?:measures|features|protocols|filters)|ethical (?:guidelines|constraints|restrictions)|content (?:filters?|polic(?:y|ies)))\b/,
    ],
  },
  {
    kind: "system-prompt-extraction",
    weight: 0.8,
    patterns: [
      new RegExp(
        `\\b${REVEAL}\\b[^.\\n]{0,40}\\b(?:your|the)\\s+(?:system|initial|original|hidden|secret|internal|full|entire|complete|exact|pre-?)\\s*(?:prompt|instructions?|message|rules|configuration|context|directives?)\\b`,
      ),
      new RegExp(
        `\\b${REVEAL}\\b[^.\\n]{0,40}\\b(?:everything|all|the\\s+(?:text|words|content|message|instructions?|prompt))\\s+(?:above|before|preceding|prior|so far|up to (?:this|here))\\b`,
      ),
      /\bwhat\s+(?:are|were|is)\s+your\s+(?:system\s+|initial\s+|original\s+|hidden\s+|secret\s+)?(?:instructions|rules|prompt|guidelines|directives)\b/,
      /\b(?:begin|start)(?:ning)?\s+(?:your\s+(?:reply|response|answer)\s+)?with\s+["'“]?you are\b/,
      /\b(?:repeat|print|output)\s+the\s+(?:words|text)\s+above\b/,
      new RegExp(
        `\\b(?:${REVEAL}|translate|encode|paraphrase|summari[sz]e|explain|describe)\\b[^.\\n]{0,40}\\byour\\s+(?:(?:(?:complete|full|entire|exact|starting|initial|original|system|hidden|secret|internal|first|current|core)\\s+)+(?:list\\s+of\\s+)?|list\\s+of\\s+)(?:instructions|directives|configuration|prompt)\\b`,
      ),
      /\byour\s+(?:system\s+(?:prompt|instructions|message)|(?:initial|hidden|secret)\s+(?:prompt|instructions))\b/,
      /\b(?:see|view|read|access|show me)\s+your\s+system\s+(?:prompt|instructions|message)\b/,
      /\b(?:instructions?|prompt|rules|directives)\s+(?:that\s+)?(?:you(?:'ve| have)?\s+(?:been|were)\s+given|given\s+to\s+you)\b/,
    ],
  },
  {
    kind: "prefix-injection",
    // Alone, a requested opening is common in harmless role-play prompts; it counts with other signs.
    weight: 0.45,
    patterns: [
      /\b(?:start|begin|open|prefix)\s+(?:your|the|each)?\s*(?:reply|response|answer|output|message)s?\s+(?:with|by saying)\b/,
      /\b(?:respond|reply|answer)\s+(?:only\s+)?(?:with|by saying)\s+["'“]\s*(?:sure|absolutely|of course|certainly)/,
      /\bi have been pwned\b/,
      /\bsure,?\s+here\s+is\b/,
    ],
  },
  {
    kind: "refusal-suppression",
    weight: 0.6,
    patterns: [
      /\b(?:do not|don't|never|must not|mustn't|cannot|can't|won't|will not)\s+(?:ever\s+)?(?:apologi[sz]e|refuse|decline|say\s+(?:that\s+)?(?:you\s+)?(?:can't|cannot|are unable|won't)|say\s+no)\b/,
      /\b(?:never|do not|don't|must not|without)\s+(?:include|add|mention|giving|adding|including)?\s*(?:any\s+)?(?:warnings?|disclaimers?|caveats|moral(?:izing)?|lectures?|ethical (?:notes|concerns|considerations))\b/,
      /\b(?:not allowed|unable|forbidden)\s+to\s+(?:refuse|decline|say no)\b/,
      /\b(?:you|it)\s+(?:must|will|shall)\s+(?:always\s+)?(?:answer|comply|respond|obey)\b[^.\n]{0,40}\b(?:every|all|any|no matter|regardless)\b/,
      /\b(?:regardless|irrespective)\s+of\s+(?:how\s+)?(?:its\s+|the\s+)?(?:legality|morality|ethics|legal|moral|ethical|dangerous|harmful|illegal|immoral)\b/,
      /\b(?:will not|won't|never|must not|do not|don't|cannot|can't)\s+(?:ever\s+)?(?:provide|give|issue|offer|use|write)\s+(?:any\s+)?(?:warnings?|disclaimers?|caveats|apolog(?:y|ies))\b/,
      /\b(?:respond|answer|reply)\s+to\s+(?:any|all|every)\s+(?:questions?|requests?|prompts?)\s+(?:even if|no matter|regardless)\b/,
      /\bwithout\s+(?:any\s+)?(?:hesitation|question(?:ing)?|filter(?:ing)?|censorship)\s+or\s+(?:any\s+)?(?:disclaimers?|warnings?|apolog(?:y|ies)|caveats|refusals?)\b/,
    ],
  },
  {
    kind: "fake-delimiter",
    weight: 0.7,
    patterns: [
      /<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|begin_of_text)\|>/,
      /\[\/?inst\]|<<\/?sys>>|<\/?(?:system|sys|instructions?)>/,
      /(?:^|\n)\s*#{2,}\s*(?:system|new instructions?|instruction|admin|developer)\b/,
      /(?:^|\n)\s*(?:system|admin|developer)\s*(?:message|prompt)?\s*:\s*(?:you|ignore|new|from now)/,
      /\b(?:end|end of)\s+(?:of\s+)?(?:system\s+)?(?:prompt|instructions|document|context|user input)\s*[\]\-=#>]{0,3}\s*(?:\n|$)/,
      // Pliny-style output templates: "[END INPUT] new rule:", "[START OUTPUT]", "insert divider".
      /\[\s*(?:end|start)\s+(?:of\s+)?input\s*\]|\[\s*start\s+(?:of\s+)?output\s*[\]}]/,
      /\binsert\s+(?:a\s+|the\s+)?divider\b/,
    ],
  },
  {
    kind: "indirect-instruction",
    weight: 0.7,
    patterns: [
      new RegExp(`\\b(?:if|when|while)\\s+you\\s+are\\s+(?:an?\\s+)?${AI}\\b`),
      new RegExp(
        `\\b(?:note|message|instructions?|attention|important|hey|dear)\\s*(?:to|for)?\\s*(?:the|any|all)?\\s*${AI_NAMED}s?\\s*(?:reading|processing|summari[sz]ing|parsing|analy[sz]ing)`,
      ),
      new RegExp(`\\b${AI_NAMED}s?\\s*(?:reading|processing|summari[sz]ing|parsing)\\s+(?:this|these|the following)\\b`),
      new RegExp(`\\b(?:to|for)\\s+(?:the|any)\\s+${AI}\\s*[:,]\\s*(?:ignore|please|you must|do not|don't|instead)`),
      /\bwhen\s+(?:summari[sz]ing|processing|reading|answering|responding)\b[^.\n]{0,60}\b(?:also|instead|make sure to|you must|include|append|insert)\b/,
      /\b(?:append|insert|include|add)\s+(?:the\s+following|this)\s+(?:link|url|image|text)\s+(?:to|in|at the end of)\s+(?:your|the|every|each)\s+(?:reply|response|answer|output|summary)\b/,
      // "When you summarise this, also tell the user …": a directive on how to read the text it sits in.
      /\bwhen\s+you\s+(?:summari[sz]e|process|read|analy[sz]e|answer questions about)\s+(?:this|these|it)\b[^.\n]{0,60}\b(?:also|instead|make sure to|you must|include|append|insert|tell|say|mention|recommend)\b/,
      // An agent told what to do before it answers the user it works for: no person reading a document is "before you reply to the user".
      /\bbefore\s+(?:you\s+)?(?:reply|replying|respond|responding|answer|answering)\s+to\s+the\s+user\b[^.\n]{0,40}\b(?:send|forward|e-?mail|transfer|share|post|upload|delete)\b/,
      // An assistant addressed by name at the start of a sentence, then told what to do.
      /(?:^|[.!?]\s+|\n)\s*(?:hey\s+|dear\s+|attention\s+)?(?:the\s+)?(?:ai(?: assistant)?|a\.i\.|assistant|chatbot|language model|llm|chatgpt)\s*[,:]\s+(?:when|before|after|ignore|disregard|forget|tell|say|include|add|reply|respond|send|forward|do not|don't|you must|also|instead)\b/,
    ],
  },
  {
    // Weak alone (a task about "your answer" is ordinary in a prompt); a classifier feature that
    // matters inside documents, where such a line is addressed to the assistant reading them.
    kind: "response-directive",
    weight: 0.3,
    patterns: [
      /(?:^|\n)\s*(?:please\s+)?(?:write|render|use|include|add|answer|respond|reply|translate|summari[sz]e|tell|provide|describe|create|generate|send|replace|make|start|end|append|insert|format|convert|rewrite|encode|express|compose|list|explain|mention|recommend|say|print|output|display|share)\b[^\n]{0,200}\b(?:your|the)\s+(?:response|reply|answer|message|output|summary)s?\b/,
      /(?:^|\n)\s*(?:your|the)\s+(?:response|reply|answer|message|output|code|summary)s?\s+(?:should|must|will|needs? to|has to|ought to)\b/,
    ],
  },
];

/** The first match of each family in `text` (already normalised), tried as is and de-leeted (same length, so spans hold for both). */
export function heuristicHits(text: string): HeuristicHit[] {
  const lowered = text.toLowerCase();
  const variants = [lowered];
  const leet = deLeet(lowered);
  if (leet !== lowered) variants.push(leet);
  const hits: HeuristicHit[] = [];
  for (const family of HEURISTIC_FAMILIES) {
    let found: HeuristicHit | undefined;
    for (const variant of variants) {
      for (const pattern of family.patterns) {
        const m = pattern.exec(variant);
        if (m) {
          found = { kind: family.kind, weight: family.weight, span: [m.index, m.index + m[0].length], match: m[0] };
          break;
        }
      }
      if (found) break;
    }
    if (found) hits.push(found);
  }
  return hits;
}

/** Noisy-OR of the weights of the families that matched: 0 when none did. */
export function heuristicScore(hits: readonly HeuristicHit[]): number {
  let miss = 1;
  for (const hit of hits) miss *= 1 - hit.weight;
  return 1 - miss;
}
