// Demo server A: owns Player/1, applies queued coins, and saves everything on SIGTERM
// (the default module's bind-to-close).
import DataStoreModule from "../../../pkg/node.mjs";

const dataStore = DataStoreModule.new("Player", 1);
dataStore.StateChanged.Connect((state) => console.log(`StateChanged(${state})`));
const [response] = await dataStore.Open({ Coins: 0, Inventory: ["Sword"] });
if (response !== "Success") throw new Error(`open failed: ${response}`);
dataStore.Metadata.Compress = { Level: 2, Decimals: 3, Safety: true };
console.log(`opened Player/1 as UniqueId ${dataStore.UniqueId}, Coins = ${dataStore.Value.Coins}`);

dataStore.ProcessQueue.Connect(async (id, values, ds) => {
  if ((await ds.Remove(id))[0] !== "Success") return;
  for (const coins of values) ds.Value.Coins += coins;
  console.log(`ProcessQueue: received ${JSON.stringify(values)}, Coins = ${ds.Value.Coins}`);
  const [saved] = await ds.Save();
  const [characters, fraction] = ds.Usage();
  console.log(`${saved} after the queue; Version ${ds.Version}`);
  console.log(
    `CompressedValue ${JSON.stringify(ds.CompressedValue.replaceAll("\x7f", "␡"))}; Usage() = ${characters} characters (${(fraction * 100).toFixed(4)}% of 4 MB)`,
  );
});
dataStore.Saved.Connect((response) => console.log(`Saved signal: ${response}`));
