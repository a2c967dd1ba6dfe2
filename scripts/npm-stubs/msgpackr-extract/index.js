throw new Error("msgpackr-extract stub: use the pure-JS decoder");
