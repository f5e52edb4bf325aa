/** A defence's settings: its paper defaults, overridden by the options given (an undefined option keeps the default). */
export function withDefaults<D extends object>(defaults: D, options: { [K in keyof D]?: D[K] | undefined }): D {
  const given = Object.fromEntries(Object.entries(options).filter(([k, v]) => v !== undefined && k in defaults));
  return { ...defaults, ...given } as D;
}
