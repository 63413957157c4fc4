/** Jest global teardown: stops what global-setup.ts started (it runs in this same process). */
export default async function globalTeardown(): Promise<void> {
  // `webhooksTestPostgres` is declared in global-setup.ts.
  await globalThis.webhooksTestPostgres?.stop();
  globalThis.webhooksTestPostgres = undefined;
}
