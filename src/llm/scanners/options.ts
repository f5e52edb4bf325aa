/**
 * Checks of scanner options that come from configuration files, so a wrong type is a
 * sentence naming the scanner and the option, not a crash deep inside a scan.
 */
import { AegisError } from "../../errors.js";

/** A list of strings (or undefined); anything else is a BAD_OPTION naming scanner.option. */
export function stringListOption(scanner: string, option: string, value: unknown): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string"))
    throw new AegisError("BAD_OPTION", `${scanner}: ${option} must be a list of strings, not ${JSON.stringify(value)}`);
  return value;
}

/** A number in [min, max] (or undefined). */
export function numberOption(scanner: string, option: string, value: unknown, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !(value >= min && value <= max))
    throw new AegisError("BAD_OPTION", `${scanner}: ${option} must be a number from ${min} to ${max}, not ${JSON.stringify(value)}`);
  return value;
}
