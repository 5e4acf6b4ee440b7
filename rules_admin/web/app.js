// wafsiem triage page. Vanilla JS, no dependencies, served with a CSP that forbids inline
// script. Every value that comes from the API (log content included) reaches the DOM as
// text: textContent, createTextNode or setAttribute on a non-executable attribute —
// never innerHTML, never a URL the browser would follow.
"use strict";

(function () {
  const KEY_STORE = "wafsiem.apiKey";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const WINDOWS = {
    "1h": { from: "-1h", interval: "1m" },
    "6h": { from: "-6h", interval: "5m" },
    "24h": { from: "-24h", interval: "15m" },
    "7d": { from: "-7d", interval: "1h" },
  };
  const ACTION_ORDER = ["BLOCK", "CAPTCHA", "CHALLENGE", "ALLOW", "COUNT"];
  const TOPS = ["rule", "client_ip", "path", "host", "country"];

  const state = { key: null, principal: null, selected: null, loads: 0 };

  const $ = (id) => document.getElementById(id);

  // -- DOM helpers: text only ------------------------------------------------------------

  function el(tag, opts, children) {
    const node = document.createElement(tag);
    const o = opts || {};
    if (o.className) node.className = o.className;
    if (o.text !== undefined && o.text !== null) node.textContent = String(o.text);
    if (o.title !== undefined && o.title !== null) node.setAttribute("title", String(o.title));
    if (o.type) node.setAttribute("type", o.type);
    for (const child of children || []) node.appendChild(child);
    return node;
  }

  function cell(value, className) {
    return el("td", { text: value === undefined || value === null ? "" : value, className });
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function emptyRow(tbody, columns, text) {
    const td = el("td", { text, className: "muted" });
    td.setAttribute("colspan", String(columns));
    tbody.appendChild(el("tr", {}, [td]));
  }

  function fmtInt(n) {
    return typeof n === "number" ? n.toLocaleString("en-US") : "";
  }

  function fmtTime(iso) {
    if (typeof iso !== "string") return "";
    return iso.replace("T", " ").replace(/\.\d+Z$|Z$/, "");
  }

  function ruleKey(rule, subRule) {
    return subRule ? rule + ":" + subRule : rule || "";
  }

  // -- messages ----------------------------------------------------------------------------

  function showMessage(text, kind) {
    const box = $("message");
    box.textContent = text;
    box.className = "message " + (kind || "error");
    box.hidden = false;
  }

  function hideMessage() {
    $("message").hidden = true;
    $("message").textContent = "";
  }

  // -- the API -----------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message, body) {
      super(message);
      this.status = status;
      this.body = body;
    }
  }

  function detailText(status, body) {
    if (body && typeof body === "object") {
      let detail = body.detail;
      if (Array.isArray(detail)) {
        detail = detail
          .map((d) => (d && d.loc ? d.loc.join(".") + ": " : "") + (d && d.msg ? d.msg : String(d)))
          .join("; ");
      }
      const parts = ["HTTP " + status + ": " + String(detail === undefined ? "" : detail)];
      if (body.hint) parts.push("(" + String(body.hint) + ")");
      return parts.join(" ");
    }
    return "HTTP " + status;
  }

  async function api(method, path, params, body) {
    const url = new URL(path, window.location.origin);
    for (const [name, value] of params || []) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.append(name, value);
    }
    const headers = { Accept: "application/json", Authorization: "Bearer " + state.key };
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url.toString(), init);
    } catch (err) {
      throw new ApiError(0, "the API did not answer: " + err.message, null);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (!response.ok) throw new ApiError(response.status, detailText(response.status, data), data);
    return data;
  }

  function windowParams() {
    const w = WINDOWS[$("window").value] || WINDOWS["24h"];
    return [["from", w.from]];
  }

  // -- key and principal -------------------------------------------------------------------

  function canWrite() {
    return !!(state.principal && state.principal.scopes.indexOf("write") >= 0);
  }

  function applyScopes() {
    const write = canWrite();
    document.body.classList.toggle("can-write", write);
    $("override-form").hidden = !write;
    $("override-locked").hidden = write;
    for (const node of document.querySelectorAll(".write-only")) node.hidden = !write;
    updateOverrideTarget();
  }

  async function useKey(key) {
    state.key = key;
    state.principal = null;
    try {
      state.principal = await api("GET", "/api/v1/whoami");
    } catch (err) {
      state.key = null;
      sessionStorage.removeItem(KEY_STORE);
      $("main").hidden = true;
      $("whoami").hidden = true;
      $("key-forget").hidden = true;
      $("refresh").disabled = true;
      showMessage(err.message, "error");
      return;
    }
    sessionStorage.setItem(KEY_STORE, key);
    $("api-key").value = "";
    $("whoami").textContent =
      "key " + state.principal.name + " · scopes: " + state.principal.scopes.join(", ");
    $("whoami").hidden = false;
    $("key-forget").hidden = false;
    $("refresh").disabled = false;
    hideMessage();
    applyScopes();
    $("main").hidden = false;
    await loadAll();
  }

  function forgetKey() {
    sessionStorage.removeItem(KEY_STORE);
    state.key = null;
    state.principal = null;
    state.selected = null;
    $("main").hidden = true;
    $("whoami").hidden = true;
    $("key-forget").hidden = true;
    $("refresh").disabled = true;
    showMessage("Key forgotten. Enter an API key to continue.", "info");
  }

  // -- loading -----------------------------------------------------------------------------

  async function loadAll() {
    const main = $("main");
    main.dataset.status = "loading";
    const results = await Promise.allSettled([
      loadRules(),
      loadTimeline(),
      loadTops(),
      loadOverrides(),
      loadAudit(),
    ]);
    const failed = results.filter((r) => r.status === "rejected");
    if (failed.length) {
      showMessage(failed.map((r) => r.reason.message).join(" · "), "error");
      main.dataset.status = "error";
    } else {
      main.dataset.status = "ready";
    }
    state.loads += 1;
    main.dataset.loads = String(state.loads);
  }

  async function loadRules() {
    const tbody = $("rules-table").tBodies[0];
    const result = await api("GET", "/api/v1/triage/rules", [
      ...windowParams(),
      ["size", "50"],
      ["samples", "0"],
    ]);
    clear(tbody);
    $("rules-summary").textContent =
      "· " + fmtInt(result.total_blocks) + " blocks; baseline from " + fmtTime(result.baseline.from);
    if (!result.rules.length) emptyRow(tbody, 11, "no blocks in this window");
    for (const rule of result.rules) {
      const row = el("tr", { className: "rule-row" });
      const key = ruleKey(rule.rule, rule.sub_rule);
      row.dataset.rule = key;
      if (state.selected && state.selected.key === key && state.selected.webacl_arn === rule.webacl_arn) {
        row.classList.add("selected");
      }
      const top = rule.top_client_ip;
      const spike =
        rule.spike_ratio === null || rule.spike_ratio === undefined
          ? rule.blocks > 0 ? "new" : ""
          : rule.spike_ratio.toFixed(1);
      row.appendChild(cell(rule.webacl, null)).setAttribute("title", rule.webacl_arn || "");
      row.appendChild(cell(rule.rule));
      row.appendChild(cell(rule.sub_rule));
      row.appendChild(cell(fmtInt(rule.blocks), "num blocks"));
      row.appendChild(cell(fmtInt(rule.baseline_blocks), "num baseline"));
      row.appendChild(cell(spike, "num spike" + (rule.spike_ratio >= 3 || spike === "new" ? " hot" : "")));
      row.appendChild(cell(fmtInt(rule.client_ips), "num ips"));
      row.appendChild(cell(fmtInt(rule.countries), "num countries"));
      row.appendChild(cell(top ? top.ip : ""));
      row.appendChild(cell(top ? Math.round(top.share * 100) + "%" : "", "num share"));
      const actions = el("td", { className: "actions" });
      const samples = el("button", { text: "Samples", className: "samples-button secondary", type: "button" });
      samples.addEventListener("click", () => selectRule(rule, row));
      actions.appendChild(samples);
      if (canWrite()) {
        const override = el("button", { text: "Override…", className: "override-button", type: "button" });
        override.addEventListener("click", () => {
          selectRule(rule, row);
          $("reason").focus();
        });
        actions.appendChild(override);
      }
      row.appendChild(actions);
      tbody.appendChild(row);
    }
  }

  async function loadTimeline() {
    const w = WINDOWS[$("window").value] || WINDOWS["24h"];
    const result = await api("GET", "/api/v1/timeline", [...windowParams(), ["interval", w.interval]]);
    $("timeline-summary").textContent =
      "· " + fmtInt(result.total) + " requests, " + result.interval + " buckets";
    drawTimeline(result.buckets);
  }

  function actionColorClass(action) {
    const known = { ALLOW: "allow", BLOCK: "block", CAPTCHA: "captcha", CHALLENGE: "challenge", COUNT: "count" };
    return "a-" + (known[action] || "other");
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    return node;
  }

  function drawTimeline(buckets) {
    const box = $("timeline");
    const legend = $("timeline-legend");
    clear(box);
    clear(legend);
    const actions = new Set();
    for (const b of buckets) for (const a of Object.keys(b.actions)) actions.add(a);
    const order = [...actions].sort((a, b) => {
      const ia = ACTION_ORDER.indexOf(a);
      const ib = ACTION_ORDER.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || (a < b ? -1 : 1);
    });
    for (const action of order) {
      const swatch = el("span", { className: "swatch " + actionColorClass(action) });
      legend.appendChild(el("span", { className: "legend-item" }, [swatch, document.createTextNode(action)]));
    }
    const width = 1000;
    const height = 220;
    const pad = { left: 48, right: 8, top: 10, bottom: 26 };
    const chart = svg("svg", {
      viewBox: "0 0 " + width + " " + height,
      role: "img",
      class: "timeline-chart",
      preserveAspectRatio: "none",
    });
    const label = svg("title");
    label.textContent = "requests over time, stacked by action";
    chart.appendChild(label);
    const max = Math.max(1, ...buckets.map((b) => b.total));
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const step = buckets.length ? plotW / buckets.length : plotW;
    // axes and grid
    for (const frac of [0, 0.5, 1]) {
      const y = pad.top + plotH * (1 - frac);
      chart.appendChild(svg("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, class: "grid" }));
      const tick = svg("text", { x: pad.left - 6, y: y + 4, class: "tick", "text-anchor": "end" });
      tick.textContent = fmtInt(Math.round(max * frac));
      chart.appendChild(tick);
    }
    buckets.forEach((bucket, i) => {
      let y = pad.top + plotH;
      const x = pad.left + i * step;
      for (const action of order) {
        const count = bucket.actions[action] || 0;
        if (!count) continue;
        const h = (count / max) * plotH;
        y -= h;
        const rect = svg("rect", {
          x: x + step * 0.08,
          y,
          width: Math.max(1, step * 0.84),
          height: Math.max(h, 0.5),
          class: "bar " + actionColorClass(action),
        });
        rect.dataset.action = action;
        rect.dataset.count = String(count);
        const tip = svg("title");
        tip.textContent = fmtTime(bucket.time) + " " + action + ": " + fmtInt(count);
        rect.appendChild(tip);
        chart.appendChild(rect);
      }
    });
    const labels = Math.min(6, buckets.length);
    for (let k = 0; k < labels; k++) {
      const i = Math.floor((k * (buckets.length - 1)) / Math.max(1, labels - 1));
      const text = svg("text", {
        x: pad.left + i * step + step / 2,
        y: height - 8,
        class: "tick",
        "text-anchor": "middle",
      });
      text.textContent = fmtTime(buckets[i].time).slice(5, 16);
      chart.appendChild(text);
    }
    box.appendChild(chart);
  }

  async function loadTops() {
    const action = $("top-action").value;
    await Promise.all(
      TOPS.map(async (by) => {
        const result = await api("GET", "/api/v1/top", [
          ...windowParams(),
          ["by", by],
          ["size", "10"],
          ["action", action],
        ]);
        const tbody = $("top-" + by).tBodies[0];
        clear(tbody);
        if (!result.buckets.length) emptyRow(tbody, 3, "none");
        const total = result.total || 1;
        for (const b of result.buckets) {
          const row = el("tr", {}, [
            cell(b.key, "key"),
            cell(fmtInt(b.count), "num count"),
            cell(Math.round((b.count / total) * 100) + "%", "num muted"),
          ]);
          tbody.appendChild(row);
        }
        if (result.other) {
          tbody.appendChild(el("tr", { className: "muted" }, [cell("other"), cell(fmtInt(result.other), "num"), cell("")]));
        }
      })
    );
  }

  async function selectRule(rule, row) {
    state.selected = { ...rule, key: ruleKey(rule.rule, rule.sub_rule) };
    for (const r of document.querySelectorAll("#rules-table tr.selected")) r.classList.remove("selected");
    if (row) row.classList.add("selected");
    updateOverrideTarget();
    $("samples-rule").textContent = "· " + (rule.webacl || "") + " / " + state.selected.key;
    const tbody = $("samples-table").tBodies[0];
    const section = $("samples-section");
    section.dataset.status = "loading";
    try {
      const page = await api("GET", "/api/v1/events", [
        ...windowParams(),
        ["rule", state.selected.key],
        ["webacl", rule.webacl_arn],
        ["action", "BLOCK"],
        ["limit", "20"],
      ]);
      clear(tbody);
      if (!page.events.length) emptyRow(tbody, 10, "no events");
      for (const e of page.events) {
        tbody.appendChild(
          el("tr", { className: "sample" }, [
            cell(fmtTime(e["@timestamp"]), "nowrap"),
            cell(e["waf.action"]),
            cell(e["source.ip"]),
            cell(e["source.geo.country_iso_code"]),
            cell(e["http.request.method"]),
            cell(e["url.domain"], "host"),
            cell(e["url.path"], "path"),
            cell(e["url.query"], "query"),
            cell(e["user_agent.original"], "ua"),
            cell(e["http.request.id"], "nowrap"),
          ])
        );
      }
      section.dataset.status = "ready";
    } catch (err) {
      section.dataset.status = "error";
      showMessage(err.message, "error");
    }
  }

  function updateOverrideTarget() {
    const target = $("override-target");
    const button = $("override-submit");
    if (state.selected) {
      target.textContent = (state.selected.webacl || "") + " / " + state.selected.key;
      target.setAttribute("title", state.selected.webacl_arn || "");
    } else {
      target.textContent = "(pick a rule above)";
    }
    button.disabled = !(canWrite() && state.selected);
  }

  async function loadOverrides() {
    const result = await api("GET", "/api/v1/overrides", [["state", "active"], ["limit", "50"]]);
    const tbody = $("overrides-table").tBodies[0];
    clear(tbody);
    if (!result.overrides.length) emptyRow(tbody, 7, "no active overrides");
    for (const o of result.overrides) {
      const row = el("tr", { className: "override-row" }, [
        cell(fmtTime(o["@timestamp"]), "nowrap"),
        cell(o.rule),
        cell(o.sub_rule),
        cell(o.actor),
        cell(fmtTime(o.expires_at), "nowrap"),
        cell(o.reason, "reason"),
      ]);
      row.dataset.overrideId = o.id;
      const actions = el("td");
      if (canWrite()) {
        const revert = el("button", { text: "Revert", className: "revert-button", type: "button" });
        revert.addEventListener("click", () => revertOverride(o));
        actions.appendChild(revert);
      }
      row.appendChild(actions);
      tbody.appendChild(row);
    }
  }

  async function loadAudit() {
    const result = await api("GET", "/api/v1/audit", [["limit", "20"]]);
    const tbody = $("audit-table").tBodies[0];
    clear(tbody);
    if (!result.records.length) emptyRow(tbody, 7, "no audit records");
    for (const r of result.records) {
      tbody.appendChild(
        el("tr", { className: "audit-row" }, [
          cell(fmtTime(r["@timestamp"]), "nowrap"),
          cell(r.kind),
          cell(r.result, "result r-" + String(r.result).replace(/[^a-z_]/g, "")),
          cell(r.rule),
          cell(r.sub_rule),
          cell(r.actor),
          cell(r.reason, "reason"),
        ])
      );
    }
  }

  // -- override and revert -----------------------------------------------------------------

  function reasonOrComplain() {
    const reason = $("reason").value.trim();
    if (reason.length < 3) {
      showMessage("A reason (at least 3 characters) is required.", "error");
      $("reason").focus();
      return null;
    }
    return reason;
  }

  function showOutcome(data, failed) {
    const box = $("override-result");
    box.hidden = false;
    box.className = "result " + (failed ? "failed" : "ok");
    const record = (data && data.record) || {};
    $("override-result-message").textContent =
      (data && (data.message || data.detail)) || (failed ? "failed" : "done");
    const diff = $("override-diff");
    let text = "";
    if (record.diff) {
      text = String(record.diff);
    } else if (record.before || record.after) {
      text = "before: " + JSON.stringify(record.before, null, 2) + "\nafter: " + JSON.stringify(record.after, null, 2);
    }
    diff.textContent = text;
    diff.hidden = !text;
    box.dataset.result = String((data && data.result) || record.result || (failed ? "error" : ""));
  }

  async function submitOverride(event) {
    event.preventDefault();
    if (!state.selected || !canWrite()) return;
    const reason = reasonOrComplain();
    if (!reason) return;
    const ttl = $("ttl").value.trim();
    const body = {
      webacl: state.selected.webacl_arn,
      rule: state.selected.rule,
      action: "COUNT",
      reason,
      dry_run: $("dry-run").checked,
    };
    if (state.selected.sub_rule) body.sub_rule = state.selected.sub_rule;
    if (ttl) body.ttl_minutes = parseInt(ttl, 10);
    const button = $("override-submit");
    button.disabled = true;
    try {
      const data = await api("POST", "/api/v1/overrides", [], body);
      hideMessage();
      showOutcome(data, false);
    } catch (err) {
      showOutcome(err.body, true);
      showMessage(err.message, "error");
    } finally {
      updateOverrideTarget();
    }
    await refreshOverridesAndAudit();
  }

  async function revertOverride(o) {
    const reason = reasonOrComplain();
    if (!reason) return;
    try {
      const data = await api("DELETE", "/api/v1/overrides/" + encodeURIComponent(o.id), [["reason", reason]]);
      hideMessage();
      showOutcome(data, false);
    } catch (err) {
      showOutcome(err.body, true);
      showMessage(err.message, "error");
    }
    await refreshOverridesAndAudit();
  }

  async function refreshOverridesAndAudit() {
    try {
      await Promise.all([loadOverrides(), loadAudit()]);
    } catch (err) {
      showMessage(err.message, "error");
    }
  }

  // -- start -------------------------------------------------------------------------------

  function start() {
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("api-key").value.trim();
      if (!key) {
        showMessage("Enter an API key.", "error");
        return;
      }
      useKey(key);
    });
    $("key-forget").addEventListener("click", forgetKey);
    $("window").addEventListener("change", () => {
      if (state.key) loadAll();
    });
    $("top-action").addEventListener("change", () => {
      if (state.key) loadTops().catch((err) => showMessage(err.message, "error"));
    });
    $("refresh").addEventListener("click", () => {
      if (state.key) loadAll();
    });
    $("override-form").addEventListener("submit", submitOverride);
    const saved = sessionStorage.getItem(KEY_STORE);
    if (saved) {
      useKey(saved);
    } else {
      showMessage("Enter an API key (read scope; write to override rules).", "info");
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
