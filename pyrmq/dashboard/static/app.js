// The dashboard's pages: each fetches /api/... JSON and renders it with DOM calls (text only,
// never HTML from the cluster).
"use strict";
const $ = sel => document.querySelector(sel);
let allowWrite = false;
let tpsTimer = null;
const tpsSeries = {};  // broker -> [[t, putTps], ...] (last 60 samples)

function status(text, kind) {
  const el = $("#status");
  el.textContent = text || "";
  el.className = kind || "";
}

async function api(path, options) {
  const r = await fetch(path, options);
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) {
    const msg = (body && body.error) || r.statusText;
    const err = new Error(`${r.status}: ${msg}`);
    err.status = r.status;
    throw err;
  }
  return body;
}

function post(path, data) {
  return api(path, {method: "POST", headers: {"Content-Type": "application/json"},
                    body: JSON.stringify(data)});
}

// rows: objects; cols: [key, title, (row) => value?]; rowAttr: (row) => {attr: value}
function fillTable(table, rows, cols, rowAttr) {
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  cols.forEach(c => { const th = document.createElement("th"); th.textContent = c[1];
                      head.appendChild(th); });
  const tb = table.createTBody();
  rows.forEach(row => {
    const tr = tb.insertRow();
    if (rowAttr) Object.entries(rowAttr(row)).forEach(([k, v]) => tr.setAttribute(k, v));
    cols.forEach(c => {
      const td = tr.insertCell();
      const v = c[2] ? c[2](row) : row[c[0]];
      if (v instanceof Node) td.appendChild(v); else td.textContent = v === undefined ? "" : v;
      td.dataset.col = c[0];
      if (typeof v === "number") td.className = "num";
    });
  });
}

function link(text, onclick) {
  const a = document.createElement("a");
  a.href = "javascript:void 0";
  a.textContent = text;
  a.addEventListener("click", onclick);
  return a;
}

async function showCluster() {
  const rows = await api("/api/cluster");
  fillTable($("#cluster-table"), rows, [
    ["cluster", "Cluster"], ["brokerName", "Broker"], ["brokerId", "Id"], ["addr", "Address"],
    ["role", "Role"], ["version", "Version"], ["putTps", "Put TPS"], ["getTps", "Get TPS"],
    ["putTotal", "Put today"], ["getTotal", "Get today"],
    ["disk", "Disk", r => r.error ? r.error :
      Object.entries(r.disk || {}).map(([k, v]) => `${k}=${v}`).join("  ")],
  ], r => ({"data-broker": r.brokerName}));
  $("#page-cluster").dataset.loaded = "1";
}

async function showTopic(name) {
  const d = await api(`/api/topics/${encodeURIComponent(name)}`);
  $("#topic-detail-title").textContent = `Queues of ${name}`;
  fillTable($("#topic-detail"), d.queues, [
    ["brokerName", "Broker"], ["queueId", "Queue"], ["minOffset", "Min offset"],
    ["maxOffset", "Max offset"], ["lastUpdateTimestamp", "Last update",
      r => r.lastUpdateTimestamp ? new Date(r.lastUpdateTimestamp).toISOString() : ""],
  ], r => ({"data-queue": r.queueId}));
}

async function showTopics() {
  const rows = await api("/api/topics");
  fillTable($("#topic-table"), rows, [
    ["topic", "Topic", r => link(r.topic, () => showTopic(r.topic).catch(e => status(e.message,
                                                                                   "error")))],
    ["brokers", "Brokers", r => (r.brokers || []).join(" ")],
    ["readQueueNums", "Read queues"], ["writeQueueNums", "Write queues"], ["perm", "Perm"],
  ], r => ({"data-topic": r.topic}));
  $("#page-topics").dataset.loaded = "1";
}

async function showGroup(name) {
  const d = await api(`/api/groups/${encodeURIComponent(name)}`);
  $("#group-summary").textContent = d.progressError ? d.progressError :
    `${name}: total lag ${d.totalLag}` + (d.membersError ? ` (${d.membersError})` : "");
  $("#group-summary").dataset.totalLag = d.totalLag;
  fillTable($("#group-members"), d.members, [
    ["clientId", "Client id"], ["clientAddr", "Address"], ["language", "Language"],
    ["version", "Version"], ["messageModel", "Model"]]);
  fillTable($("#group-queues"), d.queues, [
    ["topic", "Topic"], ["brokerName", "Broker"], ["queueId", "Queue"],
    ["brokerOffset", "Broker offset"], ["consumerOffset", "Consumer offset"], ["lag", "Lag"]],
    r => ({"data-queue": `${r.topic}/${r.brokerName}/${r.queueId}`}));
  $("#page-groups").dataset.loaded = name;
}

async function showGroups() {
  const names = await api("/api/groups");
  $("#group-names").replaceChildren(...names.map(n => {
    const o = document.createElement("option"); o.value = n; return o; }));
  const g = $("#group-form").group.value;
  if (g) await showGroup(g);
}

function renderMessages(msgs) {
  const box = $("#msg-results");
  box.replaceChildren();
  msgs.forEach(m => {
    const div = document.createElement("div");
    div.className = "msg";
    div.dataset.msgId = m.msgId;
    const t = document.createElement("table");
    fillTable(t, [
      ["msgId", m.msgId], ["uniqKey", m.uniqKey], ["topic", m.topic], ["queueId", m.queueId],
      ["queueOffset", m.queueOffset], ["tags", m.tags], ["keys", m.keys],
      ["storeTimestamp", new Date(m.storeTimestamp).toISOString()],
      ["reconsumeTimes", m.reconsumeTimes],
      ...Object.entries(m.properties).map(([k, v]) => [`property ${k}`, v]),
    ].map(([k, v]) => ({k, v})), [["k", "Field"], ["v", "Value"]], r => ({"data-field": r.k}));
    const pre = document.createElement("pre");
    pre.className = "body";
    pre.dataset.encoding = m.bodyIsText ? "text" : "hex";
    pre.textContent = m.body;
    const cap = document.createElement("div");
    cap.textContent = `body (${m.bodyIsText ? "text" : "hex"}, ${m.bodySize} bytes)`;
    div.append(t, cap, pre);
    box.appendChild(div);
  });
  box.dataset.count = msgs.length;
}

async function searchMessages(form) {
  const by = form.by.value, q = new URLSearchParams();
  if (by === "id") q.set("id", form.id.value);
  else if (by === "key") { q.set("topic", form.topic.value); q.set("key", form.key.value); }
  else ["topic", "broker", "queue", "offset"].forEach(k => q.set(k, form[k].value));
  renderMessages(await api(`/api/messages?${q}`));
  status(`${$("#msg-results").dataset.count} message(s)`, "ok");
}

async function pollTps() {
  const rows = await api("/api/tps");
  rows.forEach(r => {
    const s = (tpsSeries[r.brokerName] = tpsSeries[r.brokerName] || []);
    s.push([r.time, r.putTps]);
    if (s.length > 60) s.shift();
  });
  drawLineChart($("#tps-chart"), Object.entries(tpsSeries).map(([name, points]) =>
    ({name: `${name} put`, points})));
  fillTable($("#tps-table"), rows, [["brokerName", "Broker"], ["putTps", "Put TPS"],
                                    ["getTps", "Get TPS"], ["putTotal", "Put today"],
                                    ["getTotal", "Get today"]]);
  $("#page-tps").dataset.samples = (Number($("#page-tps").dataset.samples || 0) + 1);
}

const PAGES = {cluster: showCluster, topics: showTopics, groups: showGroups,
               messages: async () => {}, tps: pollTps};

async function route() {
  const page = (location.hash || "#cluster").slice(1);
  const show = PAGES[page] ? page : "cluster";
  document.querySelectorAll(".page").forEach(p =>
    p.classList.toggle("active", p.id === `page-${show}`));
  document.querySelectorAll("nav a").forEach(a =>
    a.classList.toggle("active", a.dataset.page === show));
  clearInterval(tpsTimer);
  if (show === "tps") tpsTimer = setInterval(() => pollTps().catch(e => status(e.message,
                                                                                "error")), 3000);
  status("");
  try { await PAGES[show](); } catch (e) { status(e.message, "error"); }
}

function guard(fn) {
  return async ev => {
    ev.preventDefault();
    try { await fn(ev); } catch (e) {
      status(e.status === 403 ? `Refused (read-only dashboard): ${e.message}` : e.message,
             "error");
    }
  };
}

$("#topic-form").addEventListener("submit", guard(async ev => {
  const f = ev.target;
  const rows = await post("/api/topics", {topic: f.topic.value, readQueues: +f.readQueues.value,
                                          writeQueues: +f.writeQueues.value, perm: +f.perm.value});
  status(`topic ${f.topic.value} updated on ${rows.map(r => r.broker).join(", ")}`, "ok");
  await showTopics();
}));
$("#group-form").addEventListener("submit", guard(ev => showGroup(ev.target.group.value)));
$("#reset-form").addEventListener("submit", guard(async ev => {
  const f = ev.target, dry = !ev.submitter || ev.submitter.value === "1";
  const ts = f.timestamp.value.trim();
  const d = await post(`/api/groups/${encodeURIComponent($("#group-form").group.value)}/reset`,
                       {topic: f.topic.value, timestamp: ts === "now" ? "now" : Number(ts),
                        dryRun: dry});
  fillTable($("#reset-table"), d.queues, [["brokerName", "Broker"], ["queueId", "Queue"],
                                          ["oldOffset", "Offset now"],
                                          ["newOffset", dry ? "Would set" : "Set to"]]);
  status(dry ? "dry run: nothing changed" : "offsets reset", "ok");
}));
$("#msg-form").addEventListener("submit", guard(ev => searchMessages(ev.target)));
window.addEventListener("hashchange", route);

api("/api/config").then(c => {
  allowWrite = c.allowWrite;
  $("#mode").textContent = allowWrite ? "read-write" : "read-only";
  document.body.classList.toggle("readonly", !allowWrite);
}).catch(e => status(e.message, "error")).finally(route);
