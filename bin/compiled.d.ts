export const BUILD_DIR: string;
export const STAMP_FILE: string;
export function sourceHash(root: string): string;
export function compiledEntry(root: string): string | undefined;
export function filesUnder(root: string, path: string): string[];
