// mtq dashboard: plain JavaScript, no build step; charts with the plotly.js the app serves.
"use strict";
const mtq = (() => {
  const token = () => localStorage.getItem("mtq_token");
  const headers = () => (token() ? { Authorization: "Bearer " + token() } : {});
  let liveCount = 0;

  function askToken() {
    const box = document.getElementById("auth");
    box.hidden = false;
    document.getElementById("auth-form").onsubmit = (e) => {
      e.preventDefault();
      localStorage.setItem("mtq_token", document.getElementById("auth-token").value);
      location.reload();
    };
  }

  async function getJSON(url) {
    const r = await fetch(url, { headers: headers() });
    if (r.status === 401 || r.status === 403) { askToken(); throw new Error("token needed"); }
    if (!r.ok) throw new Error(url + ": " + r.status);
    return r.json();
  }

  function setLive(on) {
    const el = document.getElementById("live");
    el.textContent = on ? "live" : "offline";
    el.className = "live " + (on ? "on" : "off");
  }

  function counted() {
    liveCount += 1;
    document.getElementById("live-count").textContent = String(liveCount);
  }

  // Server-sent events read with fetch (so a bearer token can be sent), reconnecting.
  function stream(accounts, handlers) {
    const qs = accounts.map((a) => "account=" + encodeURIComponent(a)).join("&");
    const url = "/events/stream" + (qs ? "?" + qs : "");
    async function run() {
      try {
        const r = await fetch(url, { headers: headers() });
        if (!r.ok) throw new Error("stream " + r.status);
        setLive(true);
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let ev = "message", data = "";
            for (const line of block.split("\n")) {
              if (line.startsWith("event: ")) ev = line.slice(7);
              else if (line.startsWith("data: ")) data += line.slice(6);
            }
            if (data && handlers[ev]) { counted(); handlers[ev](JSON.parse(data)); }
          }
        }
      } catch (e) { /* reconnect below */ }
      setLive(false);
      setTimeout(run, 2000);
    }
    run();
  }

  const money = (v) => (v === null || v === undefined ? "-" :
    Number(v).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }));
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function badge(text) { return el("span", text, "badge " + text); }

  function bar(dd) {
    const wrap = el("div");
    if (!dd) { wrap.appendChild(el("span", "no limit", "muted")); return wrap; }
    // Percent of the loss budget used, as `mtq status` shows it: 100 = at the floor, more =
    // beyond it. Only the bar's width stops at 100.
    const used = Math.max(0, dd.percent_used || 0);
    const b = el("div", null, "bar" + (used >= 100 ? " breach" : used >= 80 ? " warn" : ""));
    const fill = el("span");
    fill.style.width = Math.min(100, used) + "%";
    b.appendChild(fill);
    b.title = "loss " + money(dd.value) + " of " + money(dd.budget) + "; floor " + money(dd.floor);
    wrap.style.display = "flex";
    wrap.appendChild(b);
    const estimated = dd.anchor_source === "estimated" ? " (estimated)" : "";
    wrap.appendChild(el("span", used.toFixed(1) + "% used · floor " + money(dd.floor) + estimated,
                        "bar-label"));
    if (estimated) b.title += "; the day's anchor is estimated: no balance at the reset known";
    return wrap;
  }

  function row(doc) {
    const tr = el("tr");
    tr.dataset.account = doc.account_id;
    const link = el("a", doc.account_id);
    link.href = "/ui/accounts/" + encodeURIComponent(doc.account_id);
    const first = el("td"); first.appendChild(link); tr.appendChild(first);
    const h = el("td"); h.appendChild(badge(doc.health.status)); tr.appendChild(h);
    const acct = doc.account || {};
    tr.appendChild(el("td", money(acct.equity), "num equity"));
    tr.appendChild(el("td", money(acct.balance), "num"));
    const d = el("td"); d.appendChild(bar(doc.drawdown && doc.drawdown.daily)); tr.appendChild(d);
    const m = el("td"); m.appendChild(bar(doc.drawdown && doc.drawdown.max)); tr.appendChild(m);
    const t = el("td"); t.appendChild(badge(doc.trading.state)); tr.appendChild(t);
    tr.appendChild(el("td", doc.positions ? doc.positions.open : 0, "num"));
    const last = doc.last_decision;
    tr.appendChild(el("td", last ? last.type + " " + last.time.slice(11, 19) : "-", "muted"));
    return tr;
  }

  function alertItem(a) {
    const li = el("li");
    li.appendChild(el("span", a.time ? a.time.slice(0, 19).replace("T", " ") + " " : ""));
    li.appendChild(el("span", a.account_id + " ", "account"));
    li.appendChild(el("span", a.kind + " ", "kind"));
    li.appendChild(el("span", a.summary));
    return li;
  }

  async function index() {
    const body = document.querySelector("#accounts tbody");
    const rows = new Map();
    function put(doc) {
      const tr = row(doc);
      const old = rows.get(doc.account_id);
      if (old) body.replaceChild(tr, old);
      else {
        const after = [...rows.keys()].sort().find((k) => k > doc.account_id);
        body.insertBefore(tr, after ? rows.get(after) : null);
      }
      rows.set(doc.account_id, tr);
      document.getElementById("empty").hidden = rows.size > 0;
    }
    let cursor = null;
    do {
      const page = await getJSON("/accounts?limit=1000" + (cursor ? "&cursor=" + cursor : ""));
      page.items.forEach(put);
      cursor = page.next_cursor;
    } while (cursor);
    document.getElementById("empty").hidden = rows.size > 0;
    const alerts = document.getElementById("alerts");
    const recent = await getJSON("/alerts?limit=20");
    recent.items.forEach((a) => alerts.appendChild(alertItem(a)));
    stream([], {
      status: put,
      alert: (a) => alerts.insertBefore(alertItem(a), alerts.firstChild),
    });
  }

  // --- one account -------------------------------------------------------------------
  function summary(doc) {
    const box = document.getElementById("summary");
    box.replaceChildren();
    const acct = doc.account || {};
    const cell = (label, value) => {
      const d = el("div"); d.appendChild(el("span", label, "label"));
      if (value instanceof Node) d.appendChild(value); else d.appendChild(el("span", value));
      box.appendChild(d);
    };
    cell("health", badge(doc.health.status));
    cell("trading", badge(doc.trading.state));
    cell("equity", money(acct.equity));
    cell("balance", money(acct.balance));
    cell("daily drawdown", bar(doc.drawdown && doc.drawdown.daily));
    cell("max drawdown", bar(doc.drawdown && doc.drawdown.max));
    cell("open positions", doc.positions ? doc.positions.open : 0);
    if (doc.objectives) cell("challenge", challenge(doc.objectives));
  }

  // the challenge objectives (risk.objectives): each one's value against its target
  function challenge(progress) {
    const box = el("span", null, "challenge");
    box.appendChild(badge(progress.result || "in progress"));
    if (progress.rule) box.appendChild(el("span", " " + (progress.reason || progress.rule)));
    box.appendChild(el("span", " trading days " + progress.trading_days, "objective"));
    for (const [name, o] of Object.entries(progress.objectives || {})) {
      const text = " " + name.replace(/_/g, " ") + " " + o.value + " / " + o.target;
      box.appendChild(el("span", text + (o.met ? " \u2713" : " \u2717"),
                         "objective " + (o.met ? "met" : "unmet")));
    }
    return box;
  }

  function floorTrace(name, points, color) {
    return { name, x: points.map((p) => p[0]), y: points.map((p) => p[1]), mode: "lines",
             line: { shape: "hv", dash: "dash", color, width: 2 } };
  }

  async function chart(id) {
    const series = await getJSON("/accounts/" + encodeURIComponent(id) + "/equity?resolution=1m&limit=1440");
    const x = series.items.map((b) => b.time + ":00Z");
    const now = new Date().toISOString();
    const daily = [], max = [];
    for (const f of series.floors) {
      if (f.daily_floor !== null) daily.push([f.time, f.daily_floor]);
      if (f.max_floor !== null) max.push([f.time, f.max_floor]);
    }
    if (series.current_floors.daily !== null) daily.push([now, series.current_floors.daily]);
    if (series.current_floors.max !== null) max.push([now, series.current_floors.max]);
    const traces = [
      { name: "equity", x, y: series.items.map((b) => b.equity.close), mode: "lines", line: { color: "#1565c0" } },
      { name: "balance", x, y: series.items.map((b) => b.balance.close), mode: "lines", line: { color: "#6a1b9a" } },
      floorTrace("daily floor", daily, "#d32f2f"),
      floorTrace("max floor", max, "#ef6c00"),
    ];
    const layout = { margin: { t: 30, r: 20, b: 40, l: 70 }, legend: { orientation: "h" },
                     xaxis: { type: "date" }, yaxis: { title: { text: "money" } },
                     title: { text: "equity and balance against the drawdown floors" } };
    await Plotly.newPlot("chart", traces, layout, { responsive: true, displaylogo: false });
  }

  function livePoint(doc) {
    const acct = doc.account;
    if (!acct || !window.Plotly) return;
    const x = [[acct.time], [acct.time]];
    const y = [[acct.equity], [acct.balance]];
    Plotly.extendTraces("chart", { x, y }, [0, 1], 5000);
    const limits = doc.limits || {};
    [["daily", 2], ["max", 3]].forEach(([rule, trace]) => {
      const floor = limits[rule] && limits[rule].floor;
      if (floor !== null && floor !== undefined) {
        Plotly.extendTraces("chart", { x: [[acct.time]], y: [[floor]] }, [trace], 5000);
      }
    });
  }

  async function positions(id) {
    const page = await getJSON("/accounts/" + encodeURIComponent(id) + "/positions?limit=200");
    const body = document.querySelector("#positions tbody");
    body.replaceChildren(...page.items.map((p) => {
      const tr = el("tr");
      [p.ticket, p.symbol, p.side, p.volume, p.price_open, p.price_current, p.sl, p.tp].forEach(
        (v, i) => tr.appendChild(el("td", v, i >= 3 ? "num" : "")));
      tr.appendChild(el("td", money(p.profit), "num"));
      return tr;
    }));
    if (!page.items.length) body.appendChild(el("tr")).appendChild(el("td", "none open", "muted"));
  }

  async function reconciliation(id) {
    const page = await getJSON("/accounts/" + encodeURIComponent(id) + "/reconciliation?live=true&limit=200");
    const body = document.querySelector("#reconciliation tbody");
    body.replaceChildren(...page.items.map((it) => {
      const tr = el("tr");
      const side = (it.position || it.intent || {});
      tr.appendChild(el("td", it.item_id));
      const tone = it.status === "matched" ? "HEALTHY" : it.status === "unknown" ? "UNKNOWN" : "DEGRADED";
      const cell = el("td");
      cell.appendChild(el("span", it.status, "badge " + tone));
      tr.appendChild(cell);
      tr.appendChild(el("td", side.symbol));
      tr.appendChild(el("td", side.side));
      tr.appendChild(el("td", (it.reasons || []).map((r) => r.reason).join(", ")));
      tr.appendChild(el("td", (it.since || "").slice(11, 19)));
      return tr;
    }));
  }

  function timelineItem(e) {
    const li = el("li", null, e.kind);
    li.appendChild(el("span", (e.time || "").slice(0, 19).replace("T", " ") + " "));
    li.appendChild(el("span", e.type + " ", "kind"));
    const d = e.data || {};
    const text = d.reason || d.rule || (d.symbol ? d.symbol + " " + d.side + " " + d.volume : "");
    li.appendChild(el("span", text, "muted"));
    return li;
  }

  async function timeline(id) {
    const list = document.getElementById("timeline");
    let cursor = null, items = [];
    for (let i = 0; i < 5; i++) {
      const page = await getJSON("/accounts/" + encodeURIComponent(id) + "/events?limit=500" + (cursor ? "&cursor=" + cursor : ""));
      items = items.concat(page.items);
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    list.replaceChildren(...items.reverse().slice(0, 300).map(timelineItem));
  }

  async function account(id) {
    document.getElementById("account-id").textContent = id;
    document.title = "mtq: " + id;
    const doc = await getJSON("/accounts/" + encodeURIComponent(id));
    summary(doc);
    await chart(id);
    await Promise.all([positions(id), reconciliation(id), timeline(id)]);
    let pending = null;
    const refresh = () => {
      if (pending) return;
      pending = setTimeout(() => { pending = null; positions(id); reconciliation(id); }, 1000);
    };
    stream([id], {
      status: (d) => { summary(d); livePoint(d); refresh(); },
      decision: (d) => {
        const list = document.getElementById("timeline");
        list.insertBefore(timelineItem({ time: d.time, kind: "decision", type: d.type, data: d.decision }), list.firstChild);
      },
    });
  }

  return { index, account, getJSON, headers, money, el };
})();
