/**
 * datastore-module: session-locked player data on a Rust/wasm core, with the same names as
 * Suphi's DataStore Module (Luau) so roblox-ts code ports with `await` added.
 */

/** Settings of the original's compression format (`Metadata.Compress`). */
export interface CompressOptions {
  /** `2` (the default) writes arrays compactly; any other value writes every table as pairs. */
  Level?: number;
  /** Decimal places kept for non-integer numbers (the scale is `10 ^ Decimals`). Default 3. */
  Decimals?: number;
  /** `true` (the default) replaces DEL (U+007F) in strings with a space; otherwise such strings are rejected. */
  Safety?: boolean;
}

/**
 * Encodes a value in the original module's compression text format: byte for byte what
 * Roblox servers running the original write. Throws an `Error` naming the path of any value a
 * DataStore cannot hold (NaN, ±Infinity, functions, symbols, BigInt, cycles, holes or
 * `null`/`undefined` inside arrays, unpaired surrogates, class instances).
 */
export function compress(value: unknown, options?: CompressOptions): string;

/**
 * Decodes the original's compression text. A table whose keys are exactly 1..n becomes an
 * array; other tables become objects (number keys turn into their Luau `tostring` text); empty
 * input gives `undefined`. Throws an `Error` with a clear message on corrupt input; never traps.
 */
export function decompress(text: string, options?: Pick<CompressOptions, "Decimals">): unknown;
