/** The public API of the privacy techniques: differential privacy (dp/). */
export * from "./dp/index.js";
