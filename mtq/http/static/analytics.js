// mtq analytics page: statistics, daily P/L calendar, drawdown curve, trades, exports.
"use strict";
const mtqAnalytics = (() => {
  const { getJSON, headers, money, el } = mtq;
  const STATS = [
    ["trades", "trades"], ["net P/L", "net_profit", money], ["win rate", "win_rate"],
    ["profit factor", "profit_factor"], ["expectancy", "expectancy", money],
    ["average win", "average_win", money], ["average loss", "average_loss", money],
    ["largest win", "largest_win", money], ["largest loss", "largest_loss", money],
    ["longest win streak", "longest_win_streak"], ["longest loss streak", "longest_loss_streak"],
    ["average R", "average_r"], ["max drawdown, equity", "max_drawdown_equity", money],
    ["max drawdown, equity %", "max_drawdown_equity_percent"],
    ["max drawdown, balance", "max_drawdown_balance", money],
    ["Sharpe", "sharpe"], ["Sortino", "sortino"],
  ];
  const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  const state = { id: "", from: "", to: "", sort: "closed_at", descending: true, offset: 0,
                  limit: 50, total: 0 };

  function range() {
    const q = [];
    if (state.from) q.push("from=" + state.from + "T00:00:00Z");
    if (state.to) q.push("to=" + state.to + "T00:00:00Z");
    return q.join("&");
  }
  const base = () => "/accounts/" + encodeURIComponent(state.id);
  const shown = (v) => (v === null || v === undefined ? "-" : String(v));

  function stats(s) {
    const body = document.querySelector("#stats tbody");
    body.replaceChildren(...STATS.map(([label, key, format]) => {
      const tr = el("tr");
      tr.dataset.stat = key;
      tr.appendChild(el("td", label));
      tr.appendChild(el("td", (format || shown)(s[key]), "num"));
      return tr;
    }));
  }

  // One column per week (from its Monday), one row per weekday; green a winning day, red a
  // losing one, grey none.
  function calendar(days) {
    const box = document.getElementById("calendar");
    box.replaceChildren();
    if (!days.length) { box.appendChild(el("span", "no closed trades", "muted")); return; }
    const byDay = new Map(days.map((d) => [d.date, d]));
    const first = new Date(days[0].date + "T00:00:00Z");
    const monday = new Date(first.getTime() - ((first.getUTCDay() + 6) % 7) * 86400000);
    const last = new Date(days[days.length - 1].date + "T00:00:00Z");
    const weeks = Math.floor((last - monday) / (7 * 86400000)) + 1;
    box.style.gridTemplateColumns = "3em repeat(" + weeks + ", 5.5em)";
    box.appendChild(el("span"));
    for (let w = 0; w < weeks; w++) {
      const start = new Date(monday.getTime() + w * 7 * 86400000);
      box.appendChild(el("span", start.toISOString().slice(5, 10), "muted"));
    }
    WEEKDAYS.forEach((name, i) => {
      box.appendChild(el("span", name, "muted"));
      for (let w = 0; w < weeks; w++) {
        const date = new Date(monday.getTime() + (w * 7 + i) * 86400000).toISOString().slice(0, 10);
        const d = byDay.get(date);
        const tone = !d ? "none" : d.net_profit > 0 ? "win" : d.net_profit < 0 ? "loss" : "flat";
        const cell = el("span", d ? money(d.net_profit) : "", "day " + tone);
        cell.dataset.date = date;
        cell.title = date + (d ? ": " + money(d.net_profit) + " in " + d.trades + " trades" : "");
        box.appendChild(cell);
      }
    });
  }

  async function drawdown(curve) {
    const x = curve.map((d) => d.date);
    const traces = [
      { name: "equity", x, y: curve.map((d) => d.close), mode: "lines", line: { color: "#1565c0" } },
      { name: "peak", x, y: curve.map((d) => d.peak), mode: "lines", line: { dash: "dot", color: "#778" } },
      { name: "drawdown %", x, y: curve.map((d) => -d.drawdown_percent), yaxis: "y2", fill: "tozeroy",
        mode: "lines", line: { color: "#d32f2f" } },
    ];
    const layout = { margin: { t: 30, r: 50, b: 40, l: 70 }, legend: { orientation: "h" },
                     title: { text: "drawdown curve" }, xaxis: { type: "date" },
                     yaxis2: { overlaying: "y", side: "right", title: { text: "%" } } };
    await Plotly.newPlot("drawdown", traces, layout, { responsive: true, displaylogo: false });
  }

  async function trades() {
    const q = [range(), "sort=" + state.sort, "descending=" + state.descending,
               "offset=" + state.offset, "limit=" + state.limit].filter(Boolean).join("&");
    const page = await getJSON(base() + "/trades?" + q);
    state.total = page.total;
    const body = document.querySelector("#trades tbody");
    body.replaceChildren(...page.items.map((t) => {
      const tr = el("tr");
      tr.dataset.trade = t.identifier;
      [t.closed_at.slice(0, 19).replace("T", " "), t.opened_at.slice(0, 19).replace("T", " "),
       t.symbol, t.side, t.volume, t.strategy, t.signal, t.duration_s, shown(t.r_multiple)]
        .forEach((v, i) => tr.appendChild(el("td", v, i === 4 || i >= 7 ? "num" : "")));
      tr.appendChild(el("td", money(t.net_profit), "num " + (t.net_profit < 0 ? "loss" : "win")));
      tr.appendChild(el("td", t.reason));
      return tr;
    }));
    const end = Math.min(state.offset + state.limit, state.total);
    document.getElementById("page").textContent =
      state.total ? state.offset + 1 + "-" + end + " of " + state.total : "no trades";
    document.getElementById("trades-count").textContent = "(" + state.total + ")";
    document.getElementById("prev").disabled = state.offset === 0;
    document.getElementById("next").disabled = end >= state.total;
    document.querySelectorAll("#trades th[data-sort]").forEach((th) => {
      th.className = th.dataset.sort === state.sort ? (state.descending ? "desc" : "asc") : "";
    });
  }

  async function load() {
    const q = range();
    const report = await getJSON(base() + "/analytics" + (q ? "?" + q : ""));
    stats(report.stats);
    calendar(report.daily);
    await drawdown(report.drawdown_curve);
    state.offset = 0;
    await trades();
  }

  // Fetched with the token (a plain link could not send it), saved as a file; the size.
  async function download(kind, format) {
    const q = ["kind=" + kind, "format=" + format, range()].filter(Boolean).join("&");
    const r = await fetch(base() + "/export?" + q, { headers: headers() });
    if (!r.ok) throw new Error("export " + r.status);
    const blob = await r.blob();
    const a = el("a");
    a.href = URL.createObjectURL(blob);
    a.download = state.id + "-" + kind + "." + format;
    document.body.appendChild(a);
    a.click();
    a.remove();
    return blob.size;
  }

  async function page(id) {
    state.id = id;
    const params = new URLSearchParams(location.search);
    state.limit = Math.max(1, Math.min(1000, Number(params.get("limit")) || 50));
    document.getElementById("account-id").textContent = id;
    document.getElementById("account-link").href = "/ui/accounts/" + encodeURIComponent(id);
    document.title = "mtq: " + id + " analytics";
    document.getElementById("range").onsubmit = (e) => {
      e.preventDefault();
      state.from = document.getElementById("from").value;
      state.to = document.getElementById("to").value;
      load();
    };
    document.querySelectorAll("#trades th[data-sort]").forEach((th) => {
      th.onclick = () => {
        state.descending = th.dataset.sort === state.sort ? !state.descending : true;
        state.sort = th.dataset.sort;
        state.offset = 0;
        trades();
      };
    });
    document.getElementById("prev").onclick = () => {
      state.offset = Math.max(0, state.offset - state.limit); trades();
    };
    document.getElementById("next").onclick = () => { state.offset += state.limit; trades(); };
    document.querySelectorAll(".exports button").forEach((b) => {
      b.onclick = () => download(b.dataset.kind, b.dataset.format).catch((e) => alert(e.message));
    });
    await load();
    document.body.dataset.ready = "true";
  }

  return { page, download };
})();
