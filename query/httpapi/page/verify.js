// verify.js: the checks of docs/FORMAT.md sections 5, 7 and 11, done in the
// browser with WebCrypto (SHA-256, Ed25519), so that an auditor trusts
// the checkpoint key, not this server. The Go reference is shared/proof.go,
// and a test holds the two to the same verdict on every proof vector and
// on every single-byte change of a bundle (pageverify_test.go). One rule
// is left to `aegis verify-proof`: section 4's schema of each line (its
// ids, actions, times), which only the checkpoint's signer could break,
// since the line's bytes are bound to the signed root.
"use strict";

(function () {
  const enc = new TextEncoder();
  const hexRe = /^[0-9a-f]{64}$/;

  function hex(bytes) {
    return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function unhex(s) {
    if (!hexRe.test(s)) throw new Error("not 64 hex digits: " + String(s).slice(0, 80));
    const out = new Uint8Array(32);
    for (let i = 0; i < 32; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
    return out;
  }
  // unbase64 decodes standard base64 in its one canonical spelling: the
  // unused low bits of the last character must be zero (atob ignores
  // them, Go's decoder does not, so four spellings would name one key).
  function unbase64(s) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new Error("not base64");
    const bin = atob(s);
    if (btoa(bin) !== s) throw new Error("not canonical base64");
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function concat(...parts) {
    const n = parts.reduce((a, p) => a + p.length, 0);
    const out = new Uint8Array(n);
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }
  function equal(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  // canonical is section 3's canonical text of a parsed JSON value, as RFC
  // 8785 writes it: members sorted by UTF-16 code units (JavaScript's own
  // string order), no whitespace, strings and numbers as JSON.stringify
  // writes them. It throws on what section 3 refuses and JSON.parse
  // accepts: a lone surrogate or a noncharacter in a string, an integer
  // beyond 2^53-1.
  const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
  const nonCharacter = /[\uFDD0-\uFDEF\uFFFE\uFFFF]|[\uD83F\uD87F\uD8BF\uD8FF\uD93F\uD97F\uD9BF\uD9FF\uDA3F\uDA7F\uDABF\uDAFF\uDB3F\uDB7F\uDBBF\uDBFF][\uDFFE\uDFFF]/;
  function canonical(v) {
    if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
    if (v !== null && typeof v === "object") {
      return "{" + Object.keys(v).sort().map((k) => canonical(k) + ":" + canonical(v[k])).join(",") + "}";
    }
    if (typeof v === "string" && (loneSurrogate.test(v) || nonCharacter.test(v))) throw new Error("a string holds a lone surrogate or a noncharacter");
    const s = JSON.stringify(v === undefined ? null : v);
    if (typeof v === "number" && /^-?[0-9]+$/.test(s) && !Number.isSafeInteger(v)) throw new Error(`the integer ${s} is beyond 2^53-1`);
    return s;
  }

  // parseCanonical parses text that must be canonical JSON (section 3):
  // the canonical text of what it parses to. A duplicate member (JSON.parse
  // keeps the last) or any other spelling makes the two differ.
  function parseCanonical(text, what) {
    const v = JSON.parse(text);
    if (canonical(v) !== text) throw new Error(what + " is not canonical JSON (docs/FORMAT.md section 3)");
    return v;
  }

  // exactly checks that o is an object with exactly the members names.
  function exactly(o, names, what) {
    if (o === null || typeof o !== "object" || Array.isArray(o)) throw new Error(what + " is not an object");
    const got = Object.keys(o).sort().join(", "), want = names.slice().sort().join(", ");
    if (got !== want) throw new Error(`${what} has the members ${got}; want exactly ${want}`);
  }

  const seqRe = /^(0|[1-9][0-9]*)$/;

  // checkpointTime: s is a timestamp of section 2.2 (a date that exists,
  // years 0000 to 9999) whose fraction has no trailing zero (7.2).
  function checkpointTime(s) {
    const m = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{0,8}[1-9])?Z$/.exec(s);
    if (!m) return false;
    const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number);
    const t = new Date(0);
    t.setUTCFullYear(y, mo - 1, d); // not Date.UTC, which reads years 0 to 99 as 1900 to 1999
    return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d && h < 24 && mi < 60 && se < 60;
  }
  const isSeq = (n) => Number.isSafeInteger(n) && n >= 0;

  // shown is text from outside as the page shows it, escaped as aegis
  // prints it (Go's internal/platform/shown): a character that is not
  // graphic (a control, a line or paragraph separator, a format character
  // such as U+202E that would show the text after it reversed) is shown as
  // its \u escape (a surrogate pair above U+FFFF), so that an id or a
  // reason cannot pass for another. Newlines and tabs stay.
  const notGraphic = /[^\p{L}\p{M}\p{N}\p{P}\p{S}\p{Zs}\n\t]/gu;
  const u4 = (n) => "\\u" + n.toString(16).padStart(4, "0");
  function shown(text) {
    return String(text).replace(notGraphic, (c) => (c.length === 2 ? u4(c.charCodeAt(0)) + u4(c.charCodeAt(1)) : u4(c.codePointAt(0))));
  }

  // decodeText reads bytes as UTF-8 the way Go's verifier reads them:
  // invalid UTF-8 is refused (not replaced by U+FFFD) and a byte order
  // mark is kept (so that the JSON it starts is refused), where a
  // browser's own decoding would hide both.
  function decodeText(bytes) {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  }

  // canonicalPoint: b (32 bytes) is the canonical encoding of an Ed25519
  // point (section 7.1; RFC 8032 section 5.1.3, strictly), decided as
  // shared/checkpoint.go decides it: y below p, (y²−1)/(d·y²+1) a square
  // mod p, and the sign bit 0 when x is 0. WebCrypto imports some other
  // encodings, which would name another point than Go's.
  const P = (1n << 255n) - 19n;
  function modPow(b, e) {
    let r = 1n;
    for (b %= P; e > 0n; e >>= 1n, b = b * b % P) if (e & 1n) r = r * b % P;
    return r;
  }
  function canonicalPoint(b) {
    let y = 0n;
    for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? b[i] & 0x7f : b[i]);
    if (y >= P) return false;
    const mod = (x) => ((x % P) + P) % P;
    const d = mod(-121665n * modPow(121666n, P - 2n));
    const y2 = y * y % P;
    const x2 = mod(y2 - 1n) * modPow(mod(d * y2 + 1n), P - 2n) % P;
    if (x2 === 0n) return (b[31] >> 7) === 0;
    return modPow(x2, (P - 1n) / 2n) === 1n; // Euler's criterion: x2 has a square root
  }

  // cannotCheck says why this browser cannot check signatures at all, or
  // "" when it can. Browsers give WebCrypto (crypto.subtle) only to a
  // secure page: one served over HTTPS, or from this machine (localhost,
  // 127.0.0.1); and Ed25519 in it only from Chrome 137, Firefox 129 and
  // Safari 17. Either is the browser's limit, not a verdict on the proof.
  let cannot = null;
  async function cannotCheck() {
    if (cannot !== null) return cannot;
    if (!globalThis.crypto || !crypto.subtle) {
      cannot = `this page was opened over plain HTTP (${location.origin}), and browsers check signatures only on a page served over HTTPS or from this machine`;
      return cannot;
    }
    try {
      const basePoint = new Uint8Array(32).fill(0x66);
      basePoint[0] = 0x58;
      await crypto.subtle.importKey("raw", basePoint, { name: "Ed25519" }, false, ["verify"]);
      cannot = "";
    } catch (e) {
      cannot = `this browser has no Ed25519 in WebCrypto (Chrome 137, Firefox 129, Safari 17 or later have it): ${e.name}`;
    }
    return cannot;
  }

  // A verifier key: <name>+<8 hex key hash>+<base64 of 0x01 and 32 bytes>
  // (section 7.1). The key hash is checked, and the key imported.
  async function parseVerifierKey(text) {
    const s = String(text); // as Go's ParseVerifierKey: no trimming (parseKeyset trims as Go does)
    const a = s.indexOf("+"), b = a < 0 ? -1 : s.indexOf("+", a + 1);
    if (a <= 0 || b < 0) throw new Error("a verifier key is name+hash+key");
    const name = s.slice(0, a), hash = s.slice(a + 1, b);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name)) throw new Error("bad key name");
    if (!/^[0-9a-f]{8}$/.test(hash)) throw new Error("the key hash is not 8 hex digits");
    const raw = unbase64(s.slice(b + 1));
    if (raw.length !== 33 || raw[0] !== 1) throw new Error("not an Ed25519 key (33 bytes starting 0x01)");
    const pub = raw.slice(1);
    const h = await sha256(concat(enc.encode(name + "\n"), new Uint8Array([1]), pub));
    if (hex(h.slice(0, 4)) !== hash) throw new Error("the key hash does not match the key");
    if (!canonicalPoint(pub)) throw new Error("the key is not the canonical encoding of an Ed25519 point");
    const key = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
    return { name, hash, id: name + "+" + hash, key, pub: hex(pub) };
  }

  // A keyset (section 7.4): one verifier key alone, trusted for every seq,
  // or lines "<verifier key> <first seq> <last seq or ->" (blank lines and
  // lines starting with # ignored), contiguous from seq 0, only the last
  // range open, no key twice. A checkpoint verifies only with the key
  // whose range holds its seq.
  // Around a key file's text only spaces, tabs, CRs and LFs are trimmed
  // (section 7.1; Go's shared.KeyFileSpace): JavaScript's trim() would
  // also take a byte order mark, a no-break space and more.
  const trimKeyFile = (s) => s.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, "");
  async function parseKeyset(text) {
    const t = trimKeyFile(String(text));
    if (t !== "" && !/[ \t\n\r#]/.test(t)) {
      const key = await parseVerifierKey(t);
      return { ranges: [{ key, from: 0, to: null }], id: key.id };
    }
    const ranges = [];
    const lines = String(text).split("\n");
    for (let n = 0; n < lines.length; n++) {
      const line = lines[n].replace(/^[ \t\r]+|[ \t\r]+$/g, ""); // Go: strings.Trim(raw, " \t\r")
      if (line === "" || line.startsWith("#")) continue;
      const bad = (why) => new Error(`keyset line ${n + 1}: ${why}`);
      const f = line.split(/[ \t]+/);
      if (f.length !== 3) throw bad("want <verifier key> <first seq> <last seq or ->" + (f.length === 1 ? " (a file of one key alone holds that key and nothing else)" : ""));
      const key = await parseVerifierKey(f[0]);
      const seq = (s) => {
        if (!/^(0|[1-9][0-9]*)$/.test(s) || Number(s) > 9007199254740991) throw bad(`${s} is not a seq`);
        return Number(s);
      };
      const from = seq(f[1]), to = f[2] === "-" ? null : seq(f[2]);
      const prev = ranges[ranges.length - 1];
      if (to !== null && to < from) throw bad("the last seq is below the first");
      if (!prev && from !== 0) throw bad("the first range starts at seq 0");
      if (prev && prev.to === null) throw bad("only the last range may be open");
      if (prev && from !== prev.to + 1) throw bad(`the range starts at ${from}, want ${prev.to + 1}`);
      if (ranges.some((r) => r.key.id === key.id || r.key.pub === key.pub)) throw bad(`key ${key.id} appears twice`);
      ranges.push({ key, from, to });
    }
    if (ranges.length === 0) throw new Error("the keyset holds no key");
    return { ranges, id: ranges.map((r) => `${r.key.id} (seqs ${r.from} to ${r.to === null ? "…" : r.to})`).join(", ") };
  }

  // The entry hash of a line (section 5), from the line's own bytes.
  async function entryHash(line, prevHex) {
    const re = /,"hash":"[0-9a-f]{64}"/g;
    let last = null, m;
    while ((m = re.exec(line)) !== null) last = m;
    if (last === null) throw new Error("the line has no hash member");
    const body = line.slice(0, last.index) + line.slice(last.index + last[0].length);
    const h = await sha256(concat(enc.encode("aegis-audit/entry/v1"), new Uint8Array([0]), unhex(prevHex), enc.encode(body)));
    return hex(h);
  }

  // A signed checkpoint (section 7.2), its signature checked with the
  // keyset key that signed it, which must be trusted for its seq (7.4).
  async function openCheckpoint(note, keyset) {
    if (/[\u0000-\u0009\u000B-\u001F\u007F]/.test(note)) throw new Error("checkpoint: a control character other than LF");
    const cut = note.indexOf("\n\n");
    if (cut < 0) throw new Error("checkpoint: no signature");
    const text = note.slice(0, cut + 1);
    const sigLine = note.slice(cut + 2);
    const lines = text.split("\n");
    const want = ["aegis-audit/checkpoint/v1", "chain", "seq", "hash", "offset", "object", "root", "time"];
    if (lines.length !== 9 || lines[8] !== "" || lines[0] !== want[0]) throw new Error("checkpoint: not an aegis checkpoint");
    const cp = {};
    for (let i = 1; i < 8; i++) {
      const sp = lines[i].indexOf(" ");
      if (lines[i].slice(0, sp) !== want[i]) throw new Error("checkpoint: line " + (i + 1) + " is not " + want[i]);
      cp[want[i]] = lines[i].slice(sp + 1);
    }
    if (!seqRe.test(cp.seq) || !isSeq(Number(cp.seq))) throw new Error("checkpoint: seq is not a seq");
    if (!/^(-1|0|[1-9][0-9]*)$/.test(cp.offset) || (cp.offset === "-1") !== (cp.seq === "0") || !Number.isSafeInteger(Number(cp.offset))) {
      throw new Error("checkpoint: offset is not -1 for seq 0, or a source offset after it");
    }
    if (!hexRe.test(cp.hash) || !hexRe.test(cp.root)) throw new Error("checkpoint: hash and root are not 64 hex digits");
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(cp.chain)) throw new Error("checkpoint: the chain is not a chain id");
    if (cp.object === "" || / /.test(cp.object)) throw new Error("checkpoint: the object is empty or holds a space");
    if (!checkpointTime(cp.time)) throw new Error("checkpoint: time is not a timestamp without trailing zeros (sections 2.2, 7.2)");
    cp.seq = Number(cp.seq);
    const m = /^\u2014 (\S+) (\S+)\n$/.exec(sigLine);
    if (!m) throw new Error("checkpoint: bad signature line");
    const sig = unbase64(m[2]);
    if (sig.length !== 68) throw new Error("checkpoint: bad signature");
    const r = keyset.ranges.find((r) => r.key.name === m[1] && r.key.hash === hex(sig.slice(0, 4)));
    if (!r) throw new Error(`checkpoint signed by another key (${m[1]}+${hex(sig.slice(0, 4))}) than the trusted ${keyset.id}`);
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, r.key.key, sig.slice(4), enc.encode(text));
    if (!ok) throw new Error("the checkpoint's Ed25519 signature does not verify with " + r.key.id);
    if (cp.seq < r.from || (r.to !== null && cp.seq > r.to)) {
      throw new Error(`checkpoint of seq ${cp.seq} is signed by ${r.key.id}, which is trusted only for seqs ${r.from} to ${r.to === null ? "…" : r.to}`);
    }
    cp.keyId = r.key.id;
    // A retired key (its range closed): offline, its signature is worth
    // what its keeping since its retirement is (docs/FORMAT.md section 11).
    cp.retired = r.to !== null ? `${r.key.id} is retired (trusted for seqs ${r.from} to ${r.to}): whoever stole it since could have signed this; verify the whole chain (aegis verify, which refuses forged objects), then find the entry in it (aegis discover)` : "";
    return cp;
  }

  // RFC 9162 section 2.1.3.2: the root an inclusion path leads to.
  async function inclusionRoot(leafHex, index, size, path) {
    if (!(index < size)) throw new Error("index " + index + " not below size " + size);
    let fn = index, sn = size - 1;
    let r = await sha256(concat(new Uint8Array([0]), unhex(leafHex)));
    for (const p of path) {
      if (sn === 0) throw new Error("the path is longer than the tree");
      const ph = unhex(p);
      if (fn % 2 === 1 || fn === sn) {
        r = await sha256(concat(new Uint8Array([1]), ph, r));
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        }
      } else {
        r = await sha256(concat(new Uint8Array([1]), r, ph));
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Error("the path is shorter than the tree");
    return hex(r);
  }

  // One bundle item: every check of section 11, each reported.
  async function verifyItem(item, bundle, keyset) {
    const checks = [];
    const check = (name, ok, detail) => { checks.push({ name, ok: !!ok, detail: detail || "" }); return ok; };
    let line = null;
    try {
      line = parseCanonical(item.line, "the line");
      exactly(line, ["chain", "event", "hash", "prev", "sealed_at", "seq", "source", "type", "v"], "the line");
      if (!isSeq(line.seq) || !hexRe.test(line.prev) || !hexRe.test(line.hash)) throw new Error("the line's seq, prev or hash is malformed");
    } catch (e) {
      check("entry", false, e.message);
      return { checks };
    }
    const ev = line.event || {};
    const about = (ev.decision && ev.decision.decision_id) || (ev.override && ev.override.decision_id);
    check("entry", line.v === 1 && line.type === "event" && line.chain === bundle.chain && about === bundle.decision_id,
      `seq ${line.seq}: an event of chain ${line.chain} about ${about}`);
    try {
      const h = await entryHash(item.line, line.prev);
      check("entry hash", h === line.hash, h === line.hash ? "SHA-256 recomputed: " + h : `the line says ${line.hash}, its bytes hash to ${h}`);
    } catch (e) { check("entry hash", false, e.message); }
    let cp = null;
    try {
      cp = await openCheckpoint(item.checkpoint, keyset);
      check("checkpoint signature", true, `Ed25519 by ${cp.keyId}: seq ${cp.seq}, object ${cp.object}` + (cp.retired ? "; " + cp.retired : ""));
    } catch (e) { check("checkpoint signature", false, e.message); }
    if (cp) {
      check("checkpoint names the object", cp.chain === bundle.chain && cp.object === item.object, `chain ${cp.chain}, object ${cp.object}`);
      const first = cp.seq + 1 - item.size;
      const placeOK = item.index < item.size && item.size <= cp.seq + 1 && first >= 1 && line.seq === first + item.index &&
        (item.index !== item.size - 1 || line.hash === cp.hash);
      check("place in the object", placeOK, `line ${item.index + 1} of ${item.size}, seq ${line.seq}`);
      const date = String(line.source && line.source.timestamp).slice(0, 10).split("-");
      const cutAt = item.object.lastIndexOf("/year=");
      const prefix = item.object.slice(0, Math.max(cutAt, 0)); // non-empty, not ending in "/" (section 11, step 3)
      const wantKey = cutAt > 0 && !prefix.endsWith("/") && `${prefix}/year=${date[0]}/month=${date[1]}/day=${date[2]}/env=${bundle.chain}/${String(first).padStart(20, "0")}.jsonl`;
      check("object key", item.object === wantKey, item.object);
      try {
        const root = await inclusionRoot(line.hash, item.index, item.size, item.path);
        check("Merkle path to the signed root", root === cp.root, root === cp.root ? `${item.path.length} hashes to root ${root}` : `leads to ${root}, the checkpoint signs ${cp.root}`);
      } catch (e) { check("Merkle path to the signed root", false, e.message); }
    }
    return { line, checks, keyId: cp && cp.keyId, cpSeq: cp ? cp.seq : null };
  }

  // verifyBundle checks a bundle's text with a parsed keyset and returns
  // its entries (by seq) with their checks, and ok.
  async function verifyBundle(text, keyset) {
    const rep = { ok: false, entries: [], errors: [] };
    let b;
    try {
      if (!text.endsWith("\n")) throw new Error("a bundle ends in one newline");
      b = parseCanonical(text.slice(0, -1), "the bundle");
      exactly(b, ["chain", "decision_id", "entries", "format", "key_id"], "the bundle");
      for (const m of ["chain", "decision_id", "format", "key_id"]) if (typeof b[m] !== "string") throw new Error(m + " is not a string");
      if (!Array.isArray(b.entries) || b.entries.length === 0) throw new Error("no entries");
      b.entries.forEach((item, i) => {
        const what = "entry " + (i + 1);
        exactly(item, ["checkpoint", "index", "line", "object", "path", "size"], what);
        if (typeof item.object !== "string" || typeof item.line !== "string" || typeof item.checkpoint !== "string") throw new Error(what + ": object, line and checkpoint are strings");
        if (!isSeq(item.index) || !isSeq(item.size) || item.size < 1) throw new Error(what + ": index and size are integers, size at least 1");
        if (!Array.isArray(item.path) || item.path.length > 64 || !item.path.every((h) => typeof h === "string" && hexRe.test(h))) {
          throw new Error(what + ": path is at most 64 hashes of 64 hex digits");
        }
      });
    } catch (e) { rep.errors.push("not a bundle: " + e.message); return rep; }
    if (b.format !== "aegis-audit/proof/v1") rep.errors.push("format is not aegis-audit/proof/v1");
    if (!keyset.ranges.some((r) => r.key.id === b.key_id)) rep.errors.push(`the bundle is signed by ${b.key_id}; the trusted keys are ${keyset.id}`);
    rep.chain = b.chain; rep.decisionId = b.decision_id;
    let prevSeq = -1;
    // Items whose objects share a seq (an object holds the seqs from its
    // first to its checkpoint's) name one object and carry one checkpoint
    // (section 11): one seq in two signed objects, or two checkpoints of
    // one object, are two histories signed.
    const spans = [];
    for (const [i, item] of b.entries.entries()) {
      const r = await verifyItem(item, b, keyset);
      r.object = item.object;
      r.index = item.index;
      rep.entries.push(r);
      if (r.line && r.line.seq <= prevSeq) rep.errors.push(`seq ${r.line.seq} does not follow seq ${prevSeq}`);
      if (r.line) prevSeq = r.line.seq;
      if (r.cpSeq !== null && r.cpSeq !== undefined && item.size <= r.cpSeq + 1) {
        spans.push({ first: r.cpSeq + 1 - item.size, last: r.cpSeq, object: item.object, text: item.checkpoint, n: i + 1 });
      }
    }
    spans.sort((x, y) => x.first - y.first);
    let top = spans[0];
    for (const s of spans.slice(1)) {
      if (s.first <= top.last) {
        const [a, z] = top.n < s.n ? [top, s] : [s, top];
        if (a.object !== z.object) {
          rep.errors.push(`entries ${a.n} and ${z.n} are in two objects that share seq ${Math.max(a.first, z.first)}: two histories signed`);
        } else if (a.text !== z.text) {
          rep.errors.push(`entries ${a.n} and ${z.n} carry two different checkpoints of the object ${a.object}: two histories signed`);
        }
      }
      if (s.last > top.last) top = s;
    }
    let action = null, current = null, actionSeq = null, currentSeq = null;
    for (const r of rep.entries) {
      const ev = r.line && r.line.event;
      if (ev && ev.decision && action === null) { action = ev.decision.action; actionSeq = r.line.seq; }
      if (ev && ev.override) { current = ev.override.new_action; currentSeq = r.line.seq; }
    }
    if (action === null) rep.errors.push("no entry is the decision itself");
    const last = rep.entries[rep.entries.length - 1];
    if (last.keyId && last.keyId !== b.key_id) rep.errors.push(`key_id is ${b.key_id}, but the last checkpoint is signed by ${last.keyId}`);
    rep.action = action; rep.currentAction = current || action;
    rep.currentSeq = current ? currentSeq : actionSeq; // the entry that set the current action
    rep.ok = rep.errors.length === 0 && rep.entries.every((r) => r.checks.every((c) => c.ok));
    return rep;
  }

  // canon writes a JSON value with sorted members, to compare two values
  // (a value section 3 refuses is written as JSON.stringify writes it).
  function canon(v) {
    try { return canonical(v); } catch (e) { return JSON.stringify(v === undefined ? null : v); }
  }

  // sameInstant compares two timestamps of section 2.2 as instants, as Go's
  // CheckProof does (time.Equal): an event may write a fraction with
  // trailing zeros ("…00.120Z"), which the index's answer writes without.
  function sameInstant(a, b) {
    const norm = (t) => typeof t === "string" ? t.replace(/(\.[0-9]*?)0+Z$/, "$1Z").replace(/\.Z$/, "Z") : t;
    return typeof a === "string" && typeof b === "string" && norm(a) === norm(b);
  }

  // compareAnswer checks that the index's answer (a History from the API)
  // says what the verified entries say: every item's seq, hash, object and
  // content, and the current action.
  function compareAnswer(h, rep) {
    const checks = [];
    const bySeq = new Map();
    for (const r of rep.entries) if (r.line) bySeq.set(r.line.seq, r);
    const item = (what, p, fields) => {
      const r = bySeq.get(p.seq);
      if (!r) { checks.push({ name: what, ok: false, detail: `seq ${p.seq} is not in the proof` }); return; }
      const bad = [];
      if (r.line.hash !== p.hash) bad.push(`hash (index ${p.hash}, signed ${r.line.hash})`);
      if (r.object !== p.s3_key) bad.push(`object (index ${p.s3_key}, signed ${r.object})`);
      if (p.s3_line !== r.index + 1) bad.push(`line (index ${p.s3_line}, signed ${r.index + 1})`); // the page shows it
      for (const [name, a, b] of fields(r.line.event)) {
        const same = name === "occurred_at" ? sameInstant(a, b) : canon(a) === canon(b);
        if (!same) bad.push(`${name} (index ${canon(a)}, signed ${canon(b)})`);
      }
      checks.push({ name: what, ok: bad.length === 0, detail: bad.length ? "the index differs from the signed entry in " + bad.join("; ") : `seq ${p.seq} matches the signed entry` });
    };
    const decision = (d) => (ev) => {
      const x = ev.decision || {};
      return [["type", "decision", ev.type], ["event_id", d.event_id, ev.event_id], ["environment", d.environment, ev.environment],
        ["occurred_at", d.occurred_at, ev.occurred_at], ["decision_id", d.decision_id, x.decision_id], ["action", d.action, x.action],
        ["confidence_score", d.confidence_score, x.confidence_score], ["policy_version", d.policy_version, x.policy_version],
        ["user_id", d.user_id, x.user_id], ["session_id", d.session_id, x.session_id], ["metadata", d.metadata, x.metadata],
        ["recorded_by", d.recorded_by, ev.recorded_by]];
    };
    item("index answer: decision " + h.decision_id, h.proof, decision(h));
    // Of two decision events with one id, the first (by seq) is the
    // decision (section 11): an answer showing the later one as the
    // decision is not what the signed entries say, though each item
    // matches its own entry.
    const first = rep.entries.find((r) => r.line && r.line.event && r.line.event.decision);
    if (first && first.line.seq !== h.proof.seq) {
      checks.push({ name: "index answer: the decision is the first decision event", ok: false,
        detail: `the index answers the decision event of seq ${h.proof.seq}; the first of the signed entries is seq ${first.line.seq}` });
    }
    for (const c of h.conflicting || []) item("index answer: conflicting decision " + c.event_id, c.proof, decision(c));
    // The page of overrides, and the one that set the current state when
    // it is on another page.
    for (const o of (h.overrides || []).concat(h.current_override ? [h.current_override] : [])) {
      item("index answer: override " + o.event_id, o.proof, (ev) => {
        const x = ev.override || {};
        return [["type", "override", ev.type], ["event_id", o.event_id, ev.event_id], ["occurred_at", o.occurred_at, ev.occurred_at],
          ["decision_id", o.decision_id, x.decision_id], ["reviewer_id", o.reviewer_id, x.reviewer_id], ["new_action", o.new_action, x.new_action], ["reason", o.reason, x.reason],
          ["recorded_by", o.recorded_by, ev.recorded_by]];
      });
    }
    checks.push({ name: "current state", ok: h.current_action === rep.currentAction,
      detail: `the index says ${h.current_action}; the signed entries say ${rep.currentAction}` });
    // and what the page shows set it ("set by the override at seq N")
    checks.push({ name: "current state set by", ok: h.current_seq === rep.currentSeq,
      detail: `the index says seq ${h.current_seq}; the signed entries say seq ${rep.currentSeq}` });
    return checks;
  }

  window.AegisVerify = { cannotCheck, parseVerifierKey, parseKeyset, verifyBundle, compareAnswer, entryHash, inclusionRoot, openCheckpoint, decodeText, shown };
})();
