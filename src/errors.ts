/**
 * Errors a user can cause (bad file, wrong shape, unsupported op, bad option) are
 * AegisErrors: a stable code, a sentence that says what to do, and the exit code the
 * CLI uses. Anything else is a bug and keeps its stack trace.
 */
export type ErrorCode =
  | "FILE_NOT_FOUND"
  | "NOT_FOUND"
  | "BAD_MODEL"
  | "BAD_DATA"
  | "UNSAFE_DATA"
  | "SHAPE_MISMATCH"
  | "LABEL_OUT_OF_RANGE"
  | "NON_FINITE"
  | "NOT_DIFFERENTIABLE"
  | "UNSUPPORTED"
  | "BAD_OPTION"
  | "DEVICE_UNAVAILABLE"
  | "TARGET_ERROR"
  | "POLICY_FAILED"
  | "INTEGRITY_FAILED"
  | "QUEUE_ERROR"
  | "INTERRUPTED";

/** Exit codes the CLI documents (README, "Exit codes"). */
export const EXIT_CODES: Record<ErrorCode, number> = {
  BAD_OPTION: 2,
  FILE_NOT_FOUND: 3,
  NOT_FOUND: 3,
  BAD_MODEL: 4,
  BAD_DATA: 5,
  UNSAFE_DATA: 5,
  SHAPE_MISMATCH: 6,
  LABEL_OUT_OF_RANGE: 6,
  NON_FINITE: 6,
  NOT_DIFFERENTIABLE: 7,
  UNSUPPORTED: 7,
  DEVICE_UNAVAILABLE: 8,
  TARGET_ERROR: 9,
  POLICY_FAILED: 10,
  INTEGRITY_FAILED: 12,
  QUEUE_ERROR: 13,
  INTERRUPTED: 130,
};

export class AegisError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AegisError";
    this.code = code;
  }
  get exitCode(): number {
    return EXIT_CODES[this.code];
  }
}

export function isAegisError(e: unknown): e is AegisError {
  return e instanceof AegisError;
}
