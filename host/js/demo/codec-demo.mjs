// `make demo` (for now): the original module's compression format, from Node through pkg/.
import { compress, decompress } from "../../../pkg/index.mjs";

const player = {
  Coins: 1250,
  Level: 17,
  Position: { x: 104.25, y: 3.5, z: -88.125 },
  Inventory: ["Sword", "Shield", "Potion", "Potion", "Map"],
  Quests: { Tutorial: true, Dragon: false },
  Ratio: 0.3333333,
};

const show = (text) => text.replaceAll("\x7f", "␡");
const json = JSON.stringify(player);
console.log("A player's data:\n ", json, `(${json.length} characters as JSON)\n`);
for (const Level of [2, 1]) {
  const text = compress(player, { Level, Decimals: 3 });
  console.log(
    `Compressed, Level ${Level} (${text.length} characters, ${Math.round((100 * text.length) / json.length)}% of JSON):`,
  );
  console.log(" ", show(text));
}
const back = decompress(compress(player));
console.log("\nDecompressed (numbers keep 3 decimals):\n ", JSON.stringify(back));
try {
  compress({ Inventory: ["Sword", NaN] });
} catch (e) {
  console.log("\nA value a DataStore cannot hold is refused, with its path:\n ", e.message);
}
console.log("\nCorrupt text gives a value or a clear error, never a crash:", JSON.stringify(decompress("garbage>5")));
