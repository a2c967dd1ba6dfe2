/**
 * Debian's Chromium for the browser tests (`npx playwright install` downloads are unreachable):
 * where it is, and the flags that keep a headless run quiet and offline.
 */
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

export const CHROMIUM_FLAGS = Object.freeze([
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
]);
