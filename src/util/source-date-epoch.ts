/** Reproducible timestamps (https://reproducible-builds.org/specs/source-date-epoch/). */

/** SOURCE_DATE_EPOCH in seconds when set to an integer, else undefined. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv): number | undefined {
  const v = env.SOURCE_DATE_EPOCH;
  return v && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** An image's `created`: the label when a valid RFC 3339 time, else SOURCE_DATE_EPOCH, else the epoch. */
export function createdTime(label: string | undefined, env: NodeJS.ProcessEnv): string {
  if (label && !Number.isNaN(Date.parse(label))) return label;
  return new Date((sourceDateEpoch(env) ?? 0) * 1000).toISOString();
}
