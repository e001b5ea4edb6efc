#!/usr/bin/env python3
"""Independent check of the AegisAI entry vectors (docs/FORMAT.md), written
from the spec without the Go code: RFC 8785 canonical JSON, the hash rule,
and the line = canonical(entry with hash). Standard library only.

    python3 testdata/vectors/check_vectors.py testdata/vectors/*.json
"""
import hashlib, json, math, sys

PREFIX = b"aegis-audit/entry/v1\x00"

def num(x):
    if isinstance(x, bool):
        raise TypeError
    if isinstance(x, int):
        if abs(x) > 2**53 - 1:
            raise ValueError("integer outside I-JSON range")
        return str(x)
    if x == 0:
        return "0"
    if math.isnan(x) or math.isinf(x):
        raise ValueError("not a JSON number")
    if x == int(x) and abs(x) < 1e21:
        return str(int(x))
    r = repr(x)  # shortest round-trip digits, like ECMAScript
    mant, _, exp = r.partition("e")
    if not exp:
        return r
    e = int(exp)
    if -7 < e < 21:  # ECMAScript writes these without an exponent
        return format(x, "f").rstrip("0").rstrip(".") if "." in format(x, "f") else format(x, "f")
    mant = mant.rstrip("0").rstrip(".") if "." in mant else mant
    return f"{mant}e{'+' if e > 0 else '-'}{abs(e)}"

def string(s):
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch == '"': out.append('\\"')
        elif ch == "\\": out.append("\\\\")
        elif ch == "\b": out.append("\\b")
        elif ch == "\f": out.append("\\f")
        elif ch == "\n": out.append("\\n")
        elif ch == "\r": out.append("\\r")
        elif ch == "\t": out.append("\\t")
        elif c < 0x20: out.append("\\u%04x" % c)
        else: out.append(ch)
    out.append('"')
    return "".join(out)

def jcs(v):
    if v is None: return "null"
    if v is True: return "true"
    if v is False: return "false"
    if isinstance(v, (int, float)): return num(v)
    if isinstance(v, str): return string(v)
    if isinstance(v, list): return "[" + ",".join(jcs(x) for x in v) + "]"
    keys = sorted(v, key=lambda k: k.encode("utf-16-be"))
    return "{" + ",".join(string(k) + ":" + jcs(v[k]) for k in keys) + "}"

def check(path):
    vec = json.load(open(path, encoding="utf-8"))
    entry = json.loads(vec["line"])
    if jcs(entry) != vec["line"]:
        return "line is not canonical"
    body = dict(entry); del body["hash"]
    if jcs(body) != vec["canonical_body"]:
        return "canonical body differs"
    h = hashlib.sha256(PREFIX + bytes.fromhex(vec["prev"]) + vec["canonical_body"].encode("utf-8")).hexdigest()
    if h != vec["hash"] or entry["hash"] != h:
        return "hash differs"
    if vec.get("input") and entry["type"] == "event" and jcs(json.loads(vec["input"])) != jcs(entry["event"]):
        return "event is not the canonical input"
    return None

bad = 0
for p in sys.argv[1:]:
    err = check(p)
    print(("FAIL " if err else "ok   ") + p + (": " + err if err else ""))
    bad += bool(err)
print(f"vectors: {len(sys.argv) - 1 - bad} passed, {bad} failed")
sys.exit(1 if bad or len(sys.argv) < 2 else 0)
