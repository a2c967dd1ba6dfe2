// Demo server B: finds Player/1 locked by A, queues 10 coins to A, then opens it once A has
// shut down and shows the coins.
import DataStoreModule from "../../../pkg/node.mjs";

const dataStore = DataStoreModule.new("Player", 1);
let [response, data] = await dataStore.Open({ Coins: 0 });
console.log(`Open() -> ${response} ${data ?? ""}`);
if (response === "Locked") {
  const [queued] = await dataStore.Queue(10, 3888000);
  console.log(`Queue(10) -> ${queued}: queued for the session owner`);
  while (response !== "Success") {
    await new Promise((r) => setTimeout(r, 500));
    [response, data] = await dataStore.Open({ Coins: 0 });
  }
}
const [characters] = dataStore.Usage();
console.log(
  `Open() -> ${response}: Coins = ${dataStore.Value.Coins}, Compress = ${JSON.stringify(dataStore.Metadata.Compress)}, Usage() = ${characters} characters`,
);
const [closed] = await dataStore.Destroy();
console.log(`Destroy() -> ${closed}; done`);
process.exit(0);
