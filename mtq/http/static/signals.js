// mtq dashboard, signals page: pending approvals with approve/reject buttons, recent signals.
// Decisions go to POST /api/v1/approvals with the page's bearer token (the one reads use);
// its name is the recorded actor.
"use strict";
const mtqSignals = (() => {
  const { el, getJSON, headers } = mtq;
  const REFRESH_MS = 2000;
  const time = (t) => (t ? t.slice(0, 19).replace("T", " ") : "-");

  function say(text, ok) {
    const box = document.getElementById("message");
    box.textContent = text;
    box.className = "message " + (ok ? "ok" : "error");
    box.hidden = false;
  }

  function needToken(why) {
    document.getElementById("auth-why").textContent = why;
    document.getElementById("auth").hidden = false;
    document.getElementById("auth-form").onsubmit = (e) => {
      e.preventDefault();
      localStorage.setItem("mtq_token", document.getElementById("auth-token").value);
      location.reload();
    };
  }

  async function decide(a, decision, reason) {
    if (!localStorage.getItem("mtq_token")) {
      needToken("Approving needs a bearer token: its name is recorded as the actor.");
      return;
    }
    const body = { signal_id: a.signal_id, account_id: a.account_id, decision, reason };
    const r = await fetch("/api/v1/approvals", {
      method: "POST",
      headers: { ...headers(), "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    let answer = {};
    try { answer = await r.json(); } catch (e) { /* not JSON */ }
    if (r.status === 401 || r.status === 403) needToken(answer.message || "the token was refused");
    if (r.ok) say(a.approval_id + ": " + (answer.status || decision), true);
    else say(a.approval_id + ": " + r.status + " " + (answer.message || r.statusText), false);
    await refresh();
  }

  function approvalRow(a) {
    const tr = el("tr");
    tr.dataset.approval = a.approval_id;
    [a.approval_id, a.account_id, a.strategy, a.symbol, a.side].forEach((v) => tr.appendChild(el("td", v)));
    [a.volume, a.sl, a.tp].forEach((v) => tr.appendChild(el("td", v === null ? "-" : v, "num")));
    tr.appendChild(el("td", time(a.received_at)));
    tr.appendChild(el("td", time(a.expires_at)));
    const reasonCell = el("td");
    const reason = el("input");
    reason.className = "reason";
    reason.placeholder = "reason";
    reasonCell.appendChild(reason);
    tr.appendChild(reasonCell);
    const buttons = el("td");
    for (const [decision, label] of [["approve", "approve"], ["reject", "reject"]]) {
      const b = el("button", label, decision);
      b.onclick = () => { b.disabled = true; decide(a, decision, reason.value); };
      buttons.appendChild(b);
    }
    tr.appendChild(buttons);
    return tr;
  }

  const TONE = { executed: "HEALTHY", sent: "DEGRADED", approved: "DEGRADED", received: "UNKNOWN",
                 rejected: "UNHEALTHY", expired: "UNHEALTHY" };

  function signalRow(s) {
    const tr = el("tr");
    tr.dataset.signal = s.signal_id;
    [s.signal_id, s.strategy, s.symbol, s.side, time(s.received_at)].forEach((v) => tr.appendChild(el("td", v)));
    const cell = el("td");
    for (const row of s.accounts) {
      const part = el("span", null, "account-status");
      part.dataset.account = row.account_id;
      part.appendChild(el("span", row.account_id + " "));
      part.appendChild(el("span", row.status, "badge " + (TONE[row.status] || "UNKNOWN")));
      const refused = (row.status === "rejected" || row.status === "expired") && row.reason;
      const extra = row.mt5_position_id ? " #" + row.mt5_position_id : refused ? " " + row.reason : "";
      if (extra) part.appendChild(el("span", extra, "muted"));
      cell.appendChild(part);
    }
    tr.appendChild(cell);
    return tr;
  }

  async function refresh() {
    const [pending, recent] = await Promise.all([
      getJSON("/api/v1/approvals?status=pending&limit=200"),
      getJSON("/api/v1/signals?limit=50"),
    ]);
    const body = document.querySelector("#approvals tbody");
    // keep rows being typed into: only add new ones and drop decided ones
    const shown = new Map([...body.children].map((tr) => [tr.dataset.approval, tr]));
    const wanted = new Set(pending.items.map((a) => a.approval_id));
    for (const [id, tr] of shown) if (!wanted.has(id)) tr.remove();
    for (const a of pending.items) if (!shown.has(a.approval_id)) body.appendChild(approvalRow(a));
    document.getElementById("no-approvals").hidden = pending.items.length > 0;
    document.querySelector("#signals tbody").replaceChildren(...recent.items.map(signalRow));
    document.getElementById("no-signals").hidden = recent.items.length > 0;
  }

  async function mount() {
    await refresh();
    setInterval(() => { refresh().catch(() => {}); }, REFRESH_MS);
  }

  return { mount, refresh };
})();
