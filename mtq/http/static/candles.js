// mtq account page: a candlestick chart of one symbol with the account's entries and exits.
"use strict";
const mtqCandles = (() => {
  const { getJSON } = mtq;
  const TFS = ["M1", "M5", "M15", "H1", "H4", "D1"];

  async function draw(id, symbol, tf) {
    const bars = await getJSON("/symbols/" + encodeURIComponent(symbol) + "/bars?tf=" + tf +
                               "&account=" + encodeURIComponent(id) + "&limit=500");
    const trades = await getJSON("/accounts/" + encodeURIComponent(id) + "/trades?limit=1000");
    const open = await getJSON("/accounts/" + encodeURIComponent(id) + "/positions?limit=200");
    const mine = trades.items.filter((t) => t.symbol === symbol);
    const live = open.items.filter((p) => p.symbol === symbol);
    const TF_MS = { M1: 6e4, M5: 3e5, M15: 9e5, H1: 36e5, H4: 144e5, D1: 864e5 };
    const times = bars.bars.map((b) => Date.parse(b.time));
    const shown = (at) => times.length > 0 && Date.parse(at) >= times[0] &&
      Date.parse(at) < times[times.length - 1] + TF_MS[tf];
    const entries = [...mine.map((t) => [t.opened_at, t.price_open, t.side]),
                     ...live.map((p) => [p.opened_at, p.price_open, p.side])]
      .filter((e) => shown(e[0]));
    const exits = mine.filter((t) => shown(t.closed_at))
      .map((t) => [t.closed_at, t.close_price, t.net_profit]);
    const traces = [
      { type: "candlestick", name: symbol + " " + tf, x: bars.bars.map((b) => b.time),
        open: bars.bars.map((b) => b.open), high: bars.bars.map((b) => b.high),
        low: bars.bars.map((b) => b.low), close: bars.bars.map((b) => b.close) },
      { name: "entries", mode: "markers", x: entries.map((e) => e[0]), y: entries.map((e) => e[1]),
        text: entries.map((e) => e[2]),
        marker: { symbol: entries.map((e) => (e[2] === "buy" ? "triangle-up" : "triangle-down")),
                  size: 11, color: "#1565c0" } },
      { name: "exits", mode: "markers", x: exits.map((e) => e[0]), y: exits.map((e) => e[1]),
        text: exits.map((e) => "P/L " + e[2]),
        marker: { symbol: "x", size: 10, color: exits.map((e) => (e[2] >= 0 ? "#2e7d32" : "#d32f2f")) } },
    ];
    const layout = { margin: { t: 30, r: 20, b: 40, l: 70 }, legend: { orientation: "h" },
                     title: { text: symbol + " " + tf + " (" + bars.account_id + ")" },
                     xaxis: { type: "date", rangeslider: { visible: false } } };
    await Plotly.newPlot("candles", traces, layout, { responsive: true, displaylogo: false });
  }

  async function mount(id) {
    const box = document.getElementById("candles-box");
    const pick = document.getElementById("candles-symbol");
    const tf = document.getElementById("candles-tf");
    TFS.forEach((t) => tf.appendChild(new Option(t, t)));
    const trades = await getJSON("/accounts/" + encodeURIComponent(id) + "/trades?limit=1000");
    const open = await getJSON("/accounts/" + encodeURIComponent(id) + "/positions?limit=200");
    const symbols = [...new Set([...open.items.map((p) => p.symbol), ...trades.items.map((t) => t.symbol)])].sort();
    if (!symbols.length) return;
    symbols.forEach((s) => pick.appendChild(new Option(s, s)));
    const redraw = () => draw(id, pick.value, tf.value).then(
      () => { box.hidden = false; box.dataset.ready = "true"; },
      () => { box.hidden = true; });
    pick.onchange = redraw;
    tf.onchange = redraw;
    await redraw();
  }

  return { mount, draw };
})();
