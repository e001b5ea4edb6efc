// app.js: the auditor's page. Lookups go to this service's API with the
// bearer token given; proofs are checked by verify.js in the browser.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const V = window.AegisVerify;
  let serverKey = "";
  let nextCursor = "";
  let nextOverrides = "";
  // shown is what the page shows: the next page of it is asked for that
  // kind and id, not for what the search fields hold now (trimmed, or
  // changed since), which the cursor is not of.
  const shown = { kind: "", id: "" };
  // lookup numbers the look-ups started (a link followed, a search, a
  // "more" button, a key changed), bundleCheck the bundle checks: one that
  // a later one superseded while it waited for the service or the
  // browser's crypto writes nothing more on the page. A lying service
  // that held back the proof of one decision had its VERIFIED verdict
  // written over the next decision the auditor opened, tampered or not.
  let lookup = 0;
  let bundleCheck = 0;

  // lookedUp is api(path) for the look-up numbered mine: null, and no
  // error, once a later look-up has started.
  async function lookedUp(path, mine) {
    try {
      const r = await api(path);
      return mine === lookup ? r : null;
    } catch (e) {
      if (mine !== lookup) return null;
      throw e;
    }
  }

  function status(msg, bad) {
    $("status").textContent = V.shown(msg);
    $("status").className = bad ? "fail" : "note";
  }

  async function api(path) {
    const headers = {};
    const token = $("token").value.trim();
    if (token) headers.Authorization = "Bearer " + token;
    const resp = await fetch(path, { headers, cache: "no-store" });
    let text;
    try {
      text = V.decodeText(await resp.arrayBuffer()); // strictly: resp.text() would hide bad UTF-8 and a BOM
    } catch (e) {
      throw new Error(`${resp.status}: the answer is not UTF-8`);
    }
    let body = null;
    try { body = JSON.parse(text); } catch (e) { /* reported below */ }
    if (!resp.ok) {
      const msg = body && body.message ? body.message : text.slice(0, 200);
      const err = new Error(`${resp.status}: ${msg}`);
      err.status = resp.status;
      err.body = body;
      throw err;
    }
    return { body, text };
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text === undefined || text === null ? "" : V.shown(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function link(tr, id) {
    const td = document.createElement("td");
    const a = document.createElement("a");
    a.href = "#decision=" + encodeURIComponent(id);
    a.textContent = V.shown(id);
    td.appendChild(a);
    tr.appendChild(td);
  }

  // trustedKey parses the key field; the keyset keeps the text it was
  // parsed from, which pinned reads (the field may change while a long
  // check runs: a key pasted meanwhile labelled a check made against the
  // service's key "against your key").
  async function trustedKey() {
    const text = $("key").value;
    const key = await V.parseKeyset(text);
    key.text = text;
    return key;
  }

  // pinned is what a verdict rests on: the auditor's own key, or the one
  // the service gave, which a lying service could have chosen. A key id's
  // 8 hex digits are not enough to tell two keys apart: the verdict names
  // each key's whole public key.
  function pinned(key) {
    const keys = key.ranges.map((r) => `${r.key.id} (Ed25519 public key ${r.key.pub})`).join(", ");
    return key.text.trim() === serverKey
      ? `; against the key this service gave, ${keys}, which the service could have chosen: paste the chain's key you hold to rule that out`
      : `; against your key, ${keys}`;
  }

  async function showList(kind, id, cursor) {
    const mine = ++lookup;
    $("decision").hidden = true;
    shown.kind = kind; shown.id = id;
    const params = new URLSearchParams();
    for (const f of ["since", "until", "limit"]) if ($(f).value.trim()) params.set(f, $(f).value.trim());
    if (cursor) params.set("cursor", cursor);
    const path = `/v1/${kind === "user" ? "users" : "sessions"}/${encodeURIComponent(id)}/decisions` + (params.toString() ? "?" + params : "");
    status("reading…");
    const got = await lookedUp(path, mine);
    if (!got) return;
    const { body } = got;
    const tbody = $("list").querySelector("tbody");
    if (!cursor) tbody.textContent = "";
    for (const d of body.decisions) {
      const tr = document.createElement("tr");
      cell(tr, d.occurred_at); link(tr, d.decision_id); cell(tr, d.action); cell(tr, d.current_action);
      cell(tr, d.user_id); cell(tr, d.session_id); cell(tr, d.recorded_by === undefined ? "(not stated)" : d.recorded_by); cell(tr, d.proof.seq);
      tbody.appendChild(tr);
    }
    $("results-title").textContent = V.shown(`Decisions of ${kind} ${id}, newest first`);
    $("results").hidden = false;
    nextCursor = body.next || "";
    $("more").hidden = !nextCursor;
    status(`${tbody.children.length} decisions${nextCursor ? " (more on the next page)" : ""}`);
  }

  function li(list, c) {
    const el = document.createElement("li");
    el.className = c.ok ? "pass" : "fail";
    el.textContent = V.shown((c.ok ? "✓ " : "✗ ") + c.name + (c.detail ? ": " + c.detail : ""));
    list.appendChild(el);
  }

  function verdict(el, ok, text) {
    el.dataset.verdict = ok ? "pass" : "fail";
    el.className = ok ? "pass" : "fail";
    el.textContent = V.shown(text);
  }

  // notChecked shows that nothing was checked, and why: neither a pass nor
  // a failure of the evidence.
  function notChecked(el, text) {
    el.dataset.verdict = "unavailable";
    el.className = "note";
    el.textContent = V.shown("NOT CHECKED: " + text + " (this is not a failed verification)");
  }

  // unchecked is why this browser cannot check proofs, with what to do.
  async function unchecked() {
    const why = await V.cannotCheck();
    return why && why + "; open the page over https:// (aegis query --tls-cert-file) or on the query host, or check with aegis get --verify or aegis verify-proof";
  }

  // showDecision shows a decision with one page of its overrides (the
  // page size is the limit field; cursor selects a later page) and checks
  // that answer's proof: the same parameters select the same entries.
  async function showDecision(id, cursor) {
    const mine = ++lookup;
    $("results").hidden = true;
    shown.kind = "decision"; shown.id = id;
    status("reading…");
    const params = new URLSearchParams();
    if ($("limit").value.trim()) params.set("limit", $("limit").value.trim());
    if (cursor) params.set("cursor", cursor);
    const query = params.toString() ? "?" + params : "";
    const got = await lookedUp(`/v1/decisions/${encodeURIComponent(id)}` + query, mine);
    if (!got) return;
    const { body: h } = got;
    // The pane is shown once all of this answer is written, its verdict
    // pending: an answer that throws half-way (a lying service's
    // "overrides": null) left B's fields under the history, checks and
    // VERIFIED verdict of the decision shown before.
    $("decision").hidden = true;
    $("checks").textContent = "";
    $("verdict").dataset.verdict = "pending";
    $("verdict").className = "note";
    $("verdict").textContent = "checking…";
    $("d-id").textContent = V.shown(h.decision_id);
    $("d-current").textContent = h.current_action;
    $("d-current-why").textContent = h.current_seq === h.proof.seq ? "(as decided)" : `(set by the override at seq ${h.current_seq})`;
    const fields = $("d-fields").querySelector("tbody");
    fields.textContent = "";
    for (const [k, v] of [["action", h.action], ["confidence", h.confidence_score], ["policy", h.policy_version], ["user", h.user_id],
      ["session", h.session_id], ["environment", h.environment], ["occurred at", h.occurred_at], ["event id", h.event_id],
      ["metadata", h.metadata === undefined ? "" : JSON.stringify(h.metadata)], ["recorded by", h.recorded_by === undefined ? "(not stated)" : h.recorded_by]]) {
      const tr = document.createElement("tr");
      cell(tr, k); cell(tr, v);
      fields.appendChild(tr);
    }
    const hist = $("history").querySelector("tbody");
    hist.textContent = "";
    // "recorded by" has a column of its own: in the "by" column, after a
    // reviewer id (any text a caller wrote), it could be imitated.
    const rows = [{ p: h.proof, at: h.occurred_at, what: "decision " + h.action, by: "policy " + h.policy_version, rec: h.recorded_by, reason: "" }];
    for (const c of h.conflicting || []) rows.push({ p: c.proof, at: c.occurred_at, what: "conflicting decision " + c.action, by: c.event_id, rec: c.recorded_by, reason: "" });
    for (const o of h.overrides) rows.push({ p: o.proof, at: o.occurred_at, what: "override to " + o.new_action, by: o.reviewer_id, rec: o.recorded_by, reason: o.reason });
    const cur = h.current_override;
    if (cur) rows.push({ p: cur.proof, at: cur.occurred_at, what: "override to " + cur.new_action + " (current; on a later page)", by: cur.reviewer_id, rec: cur.recorded_by, reason: cur.reason });
    rows.sort((a, b) => a.p.seq - b.p.seq);
    const proofCells = new Map();
    for (const r of rows) {
      const tr = document.createElement("tr");
      cell(tr, r.p.seq); cell(tr, r.at); cell(tr, r.what); cell(tr, r.by); cell(tr, r.rec === undefined ? "(not stated)" : r.rec); cell(tr, r.reason);
      cell(tr, `${r.p.s3_key} : ${r.p.s3_line}`); cell(tr, r.p.hash, "hash");
      proofCells.set(r.p.seq, cell(tr, "…"));
      hist.appendChild(tr);
    }
    nextOverrides = h.next || "";
    $("overrides-more").hidden = !nextOverrides;
    $("decision").hidden = false;
    status("");
    await checkProof(id, h, proofCells, query, mine);
  }

  // checkProof fetches the decision's bundle and checks it here: the
  // entries, the checkpoint signatures, the Merkle paths, that the index's
  // answer says what the signed entries say, and that both are of the
  // decision asked for (the service is not trusted to answer the right one).
  async function checkProof(asked, h, proofCells, query, mine) {
    const list = $("checks");
    list.textContent = "";
    $("verdict").dataset.verdict = "pending";
    $("verdict").className = "note";
    $("verdict").textContent = "checking…";
    const cannot = await unchecked();
    if (mine !== lookup) return;
    if (cannot) {
      for (const td of proofCells.values()) td.textContent = "?";
      return notChecked($("verdict"), cannot);
    }
    let key;
    try { key = await trustedKey(); } catch (e) {
      if (mine !== lookup) return;
      li(list, { ok: false, name: "trusted key", detail: e.message });
      return verdict($("verdict"), false, "FAILED: no usable verifier key");
    }
    if (mine !== lookup) return;
    let text;
    try {
      const got = await lookedUp(`/v1/decisions/${encodeURIComponent(h.decision_id)}/proof` + query, mine);
      if (!got) return;
      ({ text } = got);
    } catch (e) {
      if (e.status === 503) { // S3 out of reach: nothing checked, nothing found wrong
        li(list, { ok: false, name: "evidence from S3", detail: e.message });
        for (const td of proofCells.values()) td.textContent = "?";
        return notChecked($("verdict"), e.body && e.body.message ? e.body.message : "S3 could not be reached; try again");
      }
      li(list, { ok: false, name: "evidence from S3", detail: e.message });
      for (const td of proofCells.values()) { td.textContent = "✗"; td.className = "fail"; }
      return verdict($("verdict"), false, "FAILED: no proof (" + (e.body && e.body.error ? e.body.error : e.message) + ")");
    }
    const rep = await V.verifyBundle(text, key);
    if (mine !== lookup) return;
    for (const err of rep.errors) li(list, { ok: false, name: "bundle", detail: err });
    for (const r of rep.entries) {
      const ok = r.checks.every((c) => c.ok);
      for (const c of r.checks) li(list, { ok: c.ok, name: `seq ${r.line ? r.line.seq : "?"} ${c.name}`, detail: c.detail });
      const td = r.line && proofCells.get(r.line.seq);
      if (td) { td.textContent = ok ? "✓" : "✗"; td.className = ok ? "pass" : "fail"; }
    }
    const answer = V.compareAnswer(h, rep);
    const same = h.decision_id === asked && rep.decisionId === asked;
    answer.push({ name: "decision asked for " + asked, ok: same, detail: same ? "the answer and its proof are of it"
      : `the service answered decision ${h.decision_id} with a proof of decision ${rep.decisionId}` });
    for (const c of answer) li(list, c);
    const ok = rep.ok && answer.every((c) => c.ok);
    verdict($("verdict"), ok, ok
      ? `VERIFIED: decision ${asked} of chain ${rep.chain}: ${rep.entries.length} entries in the signed log; the index says what they say` + pinned(key)
      : "FAILED: see the checks below");
  }

  async function checkBundle() {
    const mine = ++bundleCheck;
    const list = $("bundle-checks");
    list.textContent = "";
    const cannot = await unchecked();
    if (mine !== bundleCheck) return;
    if (cannot) return notChecked($("bundle-verdict"), cannot);
    let key;
    try { key = await trustedKey(); } catch (e) {
      if (mine !== bundleCheck) return;
      li(list, { ok: false, name: "trusted key", detail: e.message });
      return verdict($("bundle-verdict"), false, "FAILED: no usable verifier key");
    }
    let text = $("bundle").value;
    if (!text.endsWith("\n")) text += "\n"; // a text area drops the final newline
    if (mine !== bundleCheck) return;
    const rep = await V.verifyBundle(text, key);
    if (mine !== bundleCheck) return;
    for (const err of rep.errors) li(list, { ok: false, name: "bundle", detail: err });
    for (const r of rep.entries) for (const c of r.checks) li(list, { ok: c.ok, name: `seq ${r.line ? r.line.seq : "?"} ${c.name}`, detail: c.detail });
    verdict($("bundle-verdict"), rep.ok, rep.ok
      ? `VERIFIED: decision ${rep.decisionId} of chain ${rep.chain}: ${rep.action}, now ${rep.currentAction}; ${rep.entries.length} entries` + pinned(key)
      : "FAILED: see the checks below");
  }

  async function route() {
    const m = /^#(decision|user|session)=(.*)$/.exec(location.hash);
    if (!m) return;
    ++lookup; // a look-up still running writes nothing more, even if this link is not followed
    // What an earlier look-up showed goes first: under a link that cannot
    // be followed, or a look-up that fails, another decision and its
    // verdict stayed on screen.
    $("decision").hidden = true;
    $("results").hidden = true;
    let id;
    try { id = decodeURIComponent(m[2]); } catch (e) {
      status(`the link's ${m[1]} id is not percent-encoded text (${e.message}): nothing was looked up`, true);
      return;
    }
    $("kind").value = m[1];
    $("q").value = id;
    if (id === "." || id === ".." || id === "/") {
      // A browser resolves a "." or ".." segment of a path, escaped or not,
      // before it asks (decision ".." was looked up as /v1/), and the
      // service's router takes a segment "/" for a trailing slash.
      status(`the ${m[1]} id "${id}" cannot be looked up from the page (in a request's path it is taken for part of the path): use aegis ${m[1] === "decision" ? "get" : "list"}`, true);
      return;
    }
    try {
      if (m[1] === "decision") await showDecision(id);
      else await showList(m[1], id, "");
    } catch (e) {
      // The id is looked up exactly as typed (ids may begin or end with
      // a space); say so where it does, since the status shows no space.
      const spaced = id !== id.trim() ? ` (the ${m[1]} id searched, "${id}", begins or ends with a space: ids are looked up exactly)` : "";
      status(e.message + spaced, true);
    }
  }

  async function init() {
    $("token").value = sessionStorage.getItem("aegis-token") || "";
    $("token").addEventListener("change", () => sessionStorage.setItem("aegis-token", $("token").value));
    try {
      const { body } = await api("/v1/verifier-key");
      serverKey = (body.keyset || body.verifier_key).trim();
      $("chain").textContent = body.chain;
      $("key").value = sessionStorage.getItem("aegis-key") || serverKey;
    } catch (e) { status("cannot read the service's verifier key: " + e.message, true); }
    const showKeySource = () => {
      $("key-source").textContent = $("key").value.trim() === serverKey
        ? "(the key this service gave: a lying service could give its own; paste the chain's key you hold to check against it)"
        : "(your own key)";
    };
    showKeySource();
    const cannot = await unchecked();
    if (cannot) status("proofs cannot be checked here: " + cannot, true);
    // Saved as typed: the keyset parser trims what section 7.1 trims and
    // nothing more (trim() also took a byte order mark and a no-break
    // space, so a key refused at first passed after a reload).
    $("key").addEventListener("change", () => { sessionStorage.setItem("aegis-key", $("key").value); showKeySource(); route(); });
    $("search").addEventListener("submit", (ev) => {
      ev.preventDefault();
      // As typed: trimmed, " d1" looked up and verified decision "d1",
      // another decision whose id looks the same (an outside trial).
      const h = `#${$("kind").value}=${encodeURIComponent($("q").value)}`;
      if (location.hash === h) route(); else location.hash = h;
    });
    $("more").addEventListener("click", () => showList(shown.kind, shown.id, nextCursor).catch((e) => status(e.message, true)));
    $("overrides-more").addEventListener("click", () => showDecision(shown.id, nextOverrides).catch((e) => status(e.message, true)));
    $("check-bundle").addEventListener("click", () => checkBundle());
    window.addEventListener("hashchange", route);
    document.body.dataset.ready = "true";
    await route();
  }

  init();
})();
