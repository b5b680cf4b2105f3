// The surprise view, one for both pages (`charrnn visualize` inlines it into its page, `charrnn
// serve` into its own): the colour of a character's surprise, its legend, and the tooltip of
// what the model expected in the character's place. An entry is
// {char, bits (null: outside the vocabulary), guesses: [[char, probability], ...]}, the guesses
// being the model's prediction for that very character (measure/surprise.py).
const SurpriseView = (() => {
  // The top of the scale: log2 of the vocabulary size, the surprise of a uniform guess.
  function topBits(vocabularySize) { return Math.max(1, Math.log2(vocabularySize)); }

  // White-yellow for the expected, red for the surprising; nothing for no surprise at all.
  function colour(bits, top) {
    if (bits === null) return "transparent";
    const t = Math.min(bits / top, 1);
    return `hsl(${Math.round(55 - 55 * t)} 95% ${Math.round(97 - 42 * t)}%)`;
  }

  function element(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  // The legend: "surprise: 0 bits [white … red] N bits (a uniform guess) or more".
  function legend(container, top) {
    const bar = element("span", undefined, "surprise-bar");
    bar.style.background = `linear-gradient(to right, ${[0, 0.25, 0.5, 0.75, 1].map((t) => colour(t * top, top)).join(", ")})`;
    container.replaceChildren(element("span", "surprise: 0 bits"), bar, element("span", `${top.toFixed(1)} bits (a uniform guess) or more`));
  }

  function visible(ch) {
    return { "\n": "↵ newline", " ": "␣ space", "\t": "⇥ tab", "\r": "␍ return" }[ch] || (ch.trim() === "" ? JSON.stringify(ch) : ch);
  }
  function percent(p) { return (100 * p).toFixed(2) + "%"; }

  // What the model made of one character, appended to `tip`: its surprise, and the model's
  // likeliest characters in its place with their probabilities, the one that came in bold.
  function describe(tip, entry) {
    if (entry.bits === null) {
      tip.append(element("div", `${visible(entry.char)}: not in the model's vocabulary, not predicted`, "surprise-head"));
      return;
    }
    const p = Math.pow(2, -entry.bits);
    tip.append(element("div", `${visible(entry.char)}: surprise ${entry.bits.toFixed(2)} bits (p = ${percent(p)})`, "surprise-head"));
    tip.append(element("div", "the model's likeliest characters here (bold: the one that came)", "surprise-note"));
    const table = element("table", undefined, "surprise-guesses");
    for (const [ch, q] of entry.guesses) {
      const row = element("tr", undefined, "guess" + (ch === entry.char ? " came" : ""));
      row.dataset.char = ch;
      row.dataset.p = String(q);
      const bar = element("span", undefined, "p-bar");
      bar.style.width = Math.round(120 * q) + "px";
      const barCell = element("td");
      barCell.append(bar);
      row.append(element("td", visible(ch), "ch"), element("td", percent(q)), barCell);
      table.append(row);
    }
    tip.append(table);
    if (!entry.guesses.some(([ch]) => ch === entry.char)) {
      tip.append(element("div", `it came: ${visible(entry.char)} (p = ${percent(p)})`, "surprise-note"));
    }
  }

  // Show `tip` below the character's box (above it where there is no room below).
  function place(tip, box) {
    tip.hidden = false;
    const w = tip.offsetWidth, h = tip.offsetHeight;
    tip.style.left = Math.min(window.innerWidth - w - 8, Math.max(8, box.left)) + "px";
    tip.style.top = (box.bottom + 6 + h < window.innerHeight ? box.bottom + 6 : Math.max(8, box.top - h - 6)) + "px";
  }

  return { topBits, colour, legend, visible, percent, describe, place };
})();
