/** One labelled prompt or document of the prompt-injection corpus, read or generated. */
export interface LabelledText {
  text: string;
  /** 1 = prompt injection or jailbreak, 0 = benign or plain harmful request. */
  label: number;
  source: string;
  kind: string;
}
