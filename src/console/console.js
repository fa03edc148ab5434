// The rvs console: polls /api/state every 2 s and keeps one DOM node per service and real
// server (so a weight being typed survives the refresh). Every text goes in by textContent:
// health-check errors carry what a real server answered.
"use strict";
const CSRF = document.querySelector('meta[name="csrf"]').content;
const POINTS = 60;
const SVG = "http://www.w3.org/2000/svg";
const history = new Map();

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function human(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + "K";
  return String(n);
}

function remember(key, value) {
  let h = history.get(key);
  if (!h) history.set(key, (h = []));
  h.push(value);
  if (h.length > POINTS) h.shift();
  return h;
}

function spark(svg, values) {
  const w = 100, hgt = 20, max = Math.max(1, ...values);
  // The newest sample at the right edge: a young chart grows from the right.
  const x = (i) => w - ((values.length - 1 - i) * w) / (POINTS - 1);
  const pts = values.map((v, i) => `${x(i)},${hgt - (v / max) * (hgt - 2) - 1}`).join(" ");
  let line = svg.querySelector("polyline");
  if (!line) {
    line = document.createElementNS(SVG, "polyline");
    svg.appendChild(line);
  }
  line.setAttribute("points", pts);
  const title = svg.querySelector("title") || svg.appendChild(document.createElementNS(SVG, "title"));
  title.textContent = `last ${values.length} samples, max ${human(max)}`;
}

function newSpark(cls) {
  const s = document.createElementNS(SVG, "svg");
  s.setAttribute("class", "spark " + cls);
  s.setAttribute("viewBox", "0 0 100 20");
  s.setAttribute("preserveAspectRatio", "none");
  return s;
}

function say(text, ok) {
  const m = document.getElementById("msg");
  m.textContent = text;
  m.className = ok ? "ok" : "error";
}

async function change(service, server, action, weight) {
  const body = { service, server, action };
  if (weight !== undefined) body.weight = weight;
  try {
    const r = await fetch("/api/server", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
      body: JSON.stringify(body),
    });
    const a = await r.json();
    if (a.error) say(a.error, false);
    else if (a.code === 0) say(`ipvsadm ${a.argv}: done`, true);
    else say(`ipvsadm ${a.argv}: ${a.stderr.trim()} (exit ${a.code})`, false);
  } catch (e) {
    say("console unreachable: " + e, false);
  }
  refresh();
}

const CHARTS = [["cps", "conn/s"], ["pps", "packets/s"], ["bps", "bytes/s"]];
const figures = (r) => ({ cps: r.cps, pps: r.inpps + r.outpps, bps: r.inbps + r.outbps });

function serviceNode(svc) {
  const sec = el("section", { class: "service", "data-service": svc.id });
  const head = el("div", { class: "svchead" });
  head.appendChild(el("h2", { class: "name" }));
  for (const [k, label] of CHARTS) {
    const c = el("span", { class: "chart" });
    c.appendChild(el("span", { class: "label", "data-figure": k }, label));
    c.appendChild(newSpark("svc-" + k));
    head.appendChild(c);
  }
  sec.appendChild(head);
  const t = el("table");
  const tr = el("tr");
  for (const h of ["RemoteAddress:Port", "Forward", "Weight", "ActiveConn", "InActConn", "Health",
    "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS", "packets/s", "Change"]) tr.appendChild(el("th", {}, h));
  t.appendChild(el("thead")).appendChild(tr);
  t.appendChild(el("tbody"));
  sec.appendChild(t);
  return sec;
}

function serverNode(svc, rs) {
  const tr = el("tr", { "data-server": rs.addr });
  tr.appendChild(el("td", { class: "addr" }, rs.addr));
  for (const c of ["forward", "weight", "active", "inactive", "health", "cps", "inpps", "outpps", "inbps", "outbps"])
    tr.appendChild(el("td", { class: c === "forward" || c === "health" ? c : "num " + c }));
  tr.appendChild(el("td")).appendChild(newSpark("small"));
  const act = el("td", { class: "actions" });
  const f = el("form", { class: "weight" });
  const input = el("input", { name: "weight", inputmode: "numeric", "aria-label": "weight of " + rs.addr });
  input.value = rs.weight;
  f.appendChild(input);
  f.appendChild(el("button", { type: "submit", class: "set" }, "Set weight"));
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    input.dataset.edited = "";
    change(svc.id, rs.addr, "weight", input.value);
  });
  input.addEventListener("input", () => (input.dataset.edited = "1"));
  act.appendChild(f);
  const q = el("button", { type: "button", class: "quiesce" }, "Quiesce");
  q.addEventListener("click", () => change(svc.id, rs.addr, "quiesce"));
  const d = el("button", { type: "button", class: "drain" }, "Drain");
  d.addEventListener("click", () => change(svc.id, rs.addr, "drain"));
  const back = el("button", { type: "button", class: "restore", hidden: "" }, "Restore");
  back.addEventListener("click", () => change(svc.id, rs.addr, "weight", back.dataset.was));
  act.append(q, d, back);
  tr.appendChild(act);
  return tr;
}

function setCell(tr, cls, text, klass) {
  const td = tr.querySelector("td." + cls.split(" ").pop());
  td.textContent = text;
  if (klass !== undefined) td.className = cls + " " + klass;
}

function renderServer(tr, svc, rs) {
  setCell(tr, "forward", rs.forward);
  setCell(tr, "num weight", String(rs.weight));
  setCell(tr, "num active", String(rs.active));
  setCell(tr, "num inactive", String(rs.inactive));
  const h = rs.health;
  let health = h ? `${h.up ? "UP" : "DOWN"} (${h.kind}${h.last_error ? ": " + h.last_error : ""})` : "no check";
  let hcls = h ? (h.up ? "up" : "down") : "";
  if (rs.drain) {
    health += rs.drain.done ? ` · drained in ${rs.drain.seconds} s` : ` · draining ${rs.drain.seconds} s`;
    hcls += rs.drain.done ? " drained" : " draining";
  }
  setCell(tr, "health", health, hcls);
  for (const k of ["cps", "inpps", "outpps", "inbps", "outbps"]) setCell(tr, "num " + k, human(rs.rate[k]));
  spark(tr.querySelector("svg"), remember(svc.id + "|" + rs.addr, figures(rs.rate).pps));
  const input = tr.querySelector("input");
  if (document.activeElement !== input && !input.dataset.edited) input.value = rs.weight;
  const back = tr.querySelector("button.restore");
  back.hidden = !rs.drain;
  if (rs.drain) {
    back.dataset.was = rs.drain.was;
    back.textContent = `Restore (${rs.drain.was})`;
  }
}

function render(state) {
  const role = document.getElementById("role");
  role.textContent = state.role.toUpperCase();
  role.className = "badge " + state.role;
  document.getElementById("sync").textContent = state.sync.length ? state.sync.join("; ") : "no sync daemon";
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  const main = document.getElementById("services");
  const seen = new Set();
  if (!state.services.length) main.replaceChildren(el("p", { class: "empty" }, "No virtual service."));
  else main.querySelector(".empty")?.remove();
  for (const svc of state.services) {
    seen.add(svc.id);
    let sec = [...main.children].find((s) => s.dataset.service === svc.id);
    if (!sec) main.appendChild((sec = serviceNode(svc)));
    let title = `${svc.proto}  ${svc.addr} ${svc.scheduler}`;
    if (svc.flags.length) title += ` (${svc.flags.join(",")})`;
    if (svc.persistent !== null) title += ` persistent ${svc.persistent}`;
    sec.querySelector("h2").textContent = title;
    const f = figures(svc.rate);
    for (const [k, label] of CHARTS) {
      sec.querySelector(`[data-figure="${k}"]`).textContent = `${label} ${human(f[k])}`;
      spark(sec.querySelector("svg.svc-" + k), remember(svc.id + "|" + k, f[k]));
    }
    const body = sec.querySelector("tbody");
    const rows = new Set();
    for (const rs of svc.servers) {
      rows.add(rs.addr);
      let tr = [...body.children].find((r) => r.dataset.server === rs.addr);
      if (!tr) body.appendChild((tr = serverNode(svc, rs)));
      renderServer(tr, svc, rs);
    }
    for (const tr of [...body.children]) if (!rows.has(tr.dataset.server)) tr.remove();
  }
  for (const sec of [...main.querySelectorAll("section.service")]) if (!seen.has(sec.dataset.service)) sec.remove();
}

async function refresh() {
  try {
    const r = await fetch("/api/state", { cache: "no-store" });
    if (r.status === 401) return location.reload();
    render(await r.json());
  } catch (e) {
    say("console unreachable: " + e, false);
  }
}

refresh();
setInterval(refresh, 2000);
