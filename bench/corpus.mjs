// A deterministic, realistic player-data corpus: nested dictionaries, inventory arrays, floats
// and strings, grown to a target JSON size. Same seed, same bytes, on every machine.

/** mulberry32: a small seeded generator of numbers in [0, 1). */
export function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ITEMS = ["Sword", "Shield", "Potion", "Bow", "Arrow", "Helmet", "Boots", "Ring", "Amulet", "Map", "Torch", "Gem"];
const RARITY = ["Common", "Uncommon", "Rare", "Epic", "Legendary"];

function item(r, i) {
  return {
    Id: `${ITEMS[Math.floor(r() * ITEMS.length)]}_${i}`,
    Rarity: RARITY[Math.floor(r() * RARITY.length)],
    Level: 1 + Math.floor(r() * 100),
    Durability: Math.round(r() * 1000) / 10,
    Enchantments: Array.from({ length: Math.floor(r() * 3) }, () => ({
      Kind: "Fire",
      Power: Math.round(r() * 5000) / 100,
    })),
    Equipped: r() < 0.1,
  };
}

/** Player data whose JSON is about `bytes` long. */
export function playerData(bytes, seed = 42) {
  const r = rng(seed);
  const data = {
    Coins: Math.floor(r() * 1e6),
    Gems: Math.floor(r() * 5000),
    Level: 1 + Math.floor(r() * 200),
    Experience: Math.round(r() * 1e7) / 100,
    Position: { x: r() * 2000 - 1000, y: r() * 100, z: r() * 2000 - 1000 },
    Settings: { Music: true, Volume: 0.8, Language: "en-GB", Keybinds: { Jump: "Space", Sprint: "LeftShift" } },
    Quests: {},
    Inventory: [],
    Friends: [],
  };
  let i = 0;
  while (JSON.stringify(data).length < bytes) {
    const pick = r();
    if (pick < 0.6) data.Inventory.push(item(r, i));
    else if (pick < 0.8)
      data.Quests[`Quest_${i}`] = {
        Done: r() < 0.5,
        Progress: Math.round(r() * 100) / 100,
        Stage: Math.floor(r() * 10),
      };
    else data.Friends.push(Math.floor(r() * 4e9));
    i++;
  }
  return data;
}

export const SIZES = [
  ["1 KB", 1024],
  ["64 KB", 64 * 1024],
  ["1 MB", 1024 * 1024],
];
