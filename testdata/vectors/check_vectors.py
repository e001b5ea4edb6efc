#!/usr/bin/env python3
"""Independent verifier for the sealed log format, version 1, revision 2026-12-01.3.

Written from docs/FORMAT.md alone (sections 1 to 8, 10 and 11; 6.1 for pruned chains),
without reading the Go implementation. Python 3.11, standard library only:
its own strict JSON parser, RFC 8785 canonical writer with the number rule,
the entry and event rules, the hash and chain rules, signed-note checkpoints
a pure-Python Ed25519 verifier (RFC 8032 section 5.1.7, cofactorless), the
RFC 6962 Merkle root of an object and RFC 9162 inclusion proofs.

    python3 check_vectors.py FILE...        check test vectors (section 10)
    python3 check_vectors.py -v FILE...     also print why expected rejections were rejected
    python3 check_vectors.py --lines FILE   check every line of a JSON Lines file as an entry line
    python3 check_vectors.py --self-test    Ed25519 against RFC 8032 test 1
    python3 check_vectors.py --version      the format version and FORMAT.md revision implemented
    python3 check_vectors.py --dir DIR --chain CHAIN --verifier-key KEYFILE [--prefix PREFIX]
                             [--known-checkpoint FILE] [--allow-unsigned] [--pruned]
        verify a downloaded bucket (every object as the file DIR/<key>) as section 8 says,
        without Object Lock; with --pruned, a chain whose oldest objects were deleted
        (section 6.1) is verified from its lowest remaining object. Prints one line:
          OK chain <chain>: <n> entries, head seq <seq> hash <hex>, signed to seq <s>, <u> unsigned
        followed, for a pruned chain, by ', pruned: starts at seq <start> sealed at <sealed_at>'
        (the sealed_at of the first remaining entry, to compare with the retention: section 6.1)
        (exit 0; exit 2 when u > 0 without --allow-unsigned) or
          FAIL object <key> line <n> seq <s>: <reason>
        (exit 1; ' line <n>' and ' seq <s>' only where they apply) for the first failure.
    python3 check_vectors.py --bundle FILE --verifier-key KEYFILE
        verify an evidence bundle (section 11): prints
          OK decision <id> of chain <chain>: <action>, now <current action>; <n> entries
        (exit 0) or FAIL <reason> (exit 1).

Vector modes: exit status 1 if anything failed, else 0. With no argument
this text is printed (exit 2); with -h or --help too (exit 0).
"""
import base64
import hashlib
import json
import os
import re
import sys
from decimal import Decimal

MAX_SAFE = 2**53 - 1
MAX_PARTITION = 2**31 - 1
ZERO_HASH = "0" * 64
ENTRY_PREFIX = b"aegis-audit/entry/v1\x00"          # 20 ASCII bytes and one zero byte
NOTE_HEADER = "aegis-audit/checkpoint/v1"
EM_DASH = "\u2014"
RECORD_DEPTH = 32                                   # section 3: a record nests at most 32 levels
LINE_DEPTH = RECORD_DEPTH + 1                       # a sealed line is one level deeper
RAW_MAX = 65536
FORMAT_REVISION = "2026-12-01.4"  # the revision of docs/FORMAT.md this implements (its Revisions section)
METADATA_MAX = 16384
REASON_MAX = 4096
ID_MAX = 256
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
CLAMP_LOW = "0000-01-01T00:00:00Z"
CLAMP_HIGH = "9999-12-31T23:59:59.999Z"

# Section 7.2 says "as Go's crypto/ed25519 does it (RFC 8032 section 5.1.7)".
# RFC 8032 (5.1.3) refuses a public key whose y is >= p or whose x is 0 with the
# sign bit set; Go's crypto/ed25519 accepts both. Section 7.1 now refuses such
# keys in parse_verifier_key (every key reaching ed25519_verify went through it),
# so this flag changes nothing for verifier keys; it is kept for ed25519_verify
# alone. Only the decoding of A is affected (R is compared as bytes).
STRICT_RFC8032_POINT_DECODING = False


class Refused(Exception):
    """A rule of FORMAT.md is broken; the message names the section."""
    seq = None                          # set by verify_note when the note's seq was read


def refuse(section, msg):
    raise Refused(f"section {section}: {msg}")


# ---------------------------------------------------------------------------
# Small syntactic helpers (words of the preamble, sections 2.1 and 2.2)

HEX64 = re.compile(r"[0-9a-f]{64}")
HEX8 = re.compile(r"[0-9a-f]{8}")
IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?Z")
BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def is_hex64(s):
    return isinstance(s, str) and HEX64.fullmatch(s) is not None


def is_identifier(s):
    """Section 2.1: 1 to 128 of A-Z a-z 0-9 . _ -, starting with a letter or digit."""
    return isinstance(s, str) and IDENT.fullmatch(s) is not None


def leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def real_date(y, m, d):
    """Proleptic Gregorian calendar, years 0000 to 9999 (year 0 is a leap year)."""
    if not (0 <= y <= 9999 and 1 <= m <= 12 and d >= 1):
        return False
    days = [31, 29 if leap(y) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
    return d <= days


def check_timestamp(s, what, no_trailing_zero=False, section="2.2"):
    """Section 2.2. Returns the date part YYYY-MM-DD."""
    if not isinstance(s, str):
        refuse(section, f"{what} is not a string")
    m = TIMESTAMP.fullmatch(s)
    if not m:
        refuse(section, f"{what} {s!r} is not YYYY-MM-DDTHH:MM:SS[.fraction]Z")
    y, mo, d, h, mi, se = (int(x) for x in m.groups()[:6])
    if not real_date(y, mo, d):
        refuse(section, f"{what} {s!r}: no such date")
    if h > 23 or mi > 59 or se > 59:
        refuse(section, f"{what} {s!r}: time out of range")
    frac = m.group(7)
    if no_trailing_zero and frac is not None and frac.endswith("0"):
        refuse(section, f"{what} {s!r}: fraction with a trailing zero")
    return s[:10]


def canonical_base64(s, what, section):
    """Preamble: standard alphabet, '=' padding, the one canonical form."""
    if not isinstance(s, str) or len(s) % 4 != 0 or BASE64.fullmatch(s) is None:
        refuse(section, f"{what} is not canonical base64")
    try:
        b = base64.b64decode(s, validate=True)
    except Exception:
        refuse(section, f"{what} is not base64")
    if base64.b64encode(b).decode("ascii") != s:
        refuse(section, f"{what} is not canonical base64")
    return b


# ---------------------------------------------------------------------------
# Section 3: numbers

class Num:
    """A JSON number: the literal as written and its canonical text."""
    __slots__ = ("text", "canon")

    def __init__(self, text, canon):
        self.text = text
        self.canon = canon

    def is_integer_literal(self):
        # Section 2: "Integer" means written without fraction or exponent.
        return not any(c in self.text for c in ".eE")

    def int_value(self):
        return int(self.text)

    def decimal(self):
        return Decimal(self.canon)          # canonical texts have short exponents

    def __repr__(self):
        return f"Num({self.text})"


NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def exact_decimal(text):
    """Exact value of a decimal literal as (sign, digits, exponent) with value
    sign * int(digits) * 10**exponent, digits without leading/trailing zeros;
    zero is (0, '', 0). Returns None when the exponent is so large that the
    value cannot be a finite non-zero double anyway (caller handles it)."""
    m = re.fullmatch(r"(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?)([0-9]+))?", text)
    neg, ip, fp, esign, edigits = m.groups()
    fp = fp or ""
    digits = ip + fp
    exp = -len(fp)
    if not digits.strip("0"):
        return (0, "", 0)
    if edigits is not None:
        edigits = edigits.lstrip("0") or "0"
        if len(edigits) > 30:
            return None
        exp += int(edigits) * (-1 if esign == "-" else 1)
    stripped = digits.lstrip("0")
    t = stripped.rstrip("0")
    exp += len(stripped) - len(t)
    return (-1 if neg else 1, t, exp)


def es_number_text(f):
    """ECMAScript Number::toString of a finite double (RFC 8785 3.2.2.3)."""
    if f == 0:
        return "0"
    sign = "-" if f < 0 else ""
    r = repr(abs(f))                # shortest round-trip digits, nearest on ties
    if "e" in r:
        mant, e = r.split("e")
        e = int(e)
    else:
        mant, e = r, 0
    ip, _, fp = mant.partition(".")
    exact = exact_decimal(ip + ("." + fp if fp else "") + "e" + str(e))
    _, d, exp10 = exact                 # value = d * 10**exp10
    k = len(d)
    n = exp10 + k
    if k <= n <= 21:
        return sign + d + "0" * (n - k)
    if 0 < n <= 21:
        return sign + d[:n] + "." + d[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + d
    e = n - 1
    return sign + d[0] + ("." + d[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))


def number_rule(text):
    """Section 3, the number rule. Returns Num or raises Refused."""
    f = float(text)                     # correctly rounded, half to even
    if f != f or f in (float("inf"), float("-inf")):
        refuse("3", f"number {text} is not a finite double (number rule 1)")
    canon = es_number_text(f)
    lit = exact_decimal(text)
    if lit is None or lit != exact_decimal(canon):
        refuse("3", f"number {text} would be written {canon}, another value (number rule 2)")
    if not any(c in canon for c in ".e") and abs(int(canon)) > MAX_SAFE:
        refuse("3", f"number {text} is the integer {canon}, beyond ±(2^53-1) (number rule 3)")
    return Num(text, canon)


# ---------------------------------------------------------------------------
# Section 3: strict parser

def is_noncharacter(cp):
    return 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE


HEX4 = re.compile(r"[0-9a-fA-F]{4}")
SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class Parser:
    """RFC 8259 + I-JSON + the rules of section 3. Values: dict, list, str,
    Num, True, False, None. Top-level object member spans are recorded."""

    def __init__(self, text, max_depth):
        self.s = text
        self.i = 0
        self.max_depth = max_depth
        self.top_spans = None          # [(name, start of name, end of value)]

    def fail(self, msg):
        refuse("3", f"{msg} at character {self.i}")

    def ws(self):
        s, i = self.s, self.i
        while i < len(s) and s[i] in " \t\n\r":
            i += 1
        self.i = i

    def parse(self):
        self.ws()
        v = self.value(0)
        self.ws()
        if self.i != len(self.s):
            self.fail("text after the value")
        return v

    def value(self, depth):
        s = self.s
        if self.i >= len(s):
            self.fail("unexpected end of input")
        c = s[self.i]
        if c == "{":
            return self.obj(depth + 1)
        if c == "[":
            return self.arr(depth + 1)
        if c == '"':
            return self.string()
        for lit, val in (("true", True), ("false", False), ("null", None)):
            if s.startswith(lit, self.i):
                self.i += len(lit)
                return val
        m = NUMBER.match(s, self.i)
        if m and m.end() > self.i:
            self.i = m.end()
            return number_rule(m.group(0))
        self.fail(f"unexpected {c!r}")

    def obj(self, depth):
        if depth > self.max_depth:
            self.fail(f"nested deeper than {self.max_depth} levels")
        top = depth == 1
        if top:
            self.top_spans = []
        self.i += 1
        out = {}
        self.ws()
        if self.i < len(self.s) and self.s[self.i] == "}":
            self.i += 1
            return out
        while True:
            self.ws()
            if self.i >= len(self.s) or self.s[self.i] != '"':
                self.fail("expected a member name")
            start = self.i
            name = self.string()
            if name in out:
                self.fail(f"duplicate member {name!r}")
            self.ws()
            if self.i >= len(self.s) or self.s[self.i] != ":":
                self.fail("expected ':'")
            self.i += 1
            self.ws()
            out[name] = self.value(depth)
            if top:
                self.top_spans.append((name, start, self.i))
            self.ws()
            if self.i >= len(self.s):
                self.fail("unexpected end of input")
            c = self.s[self.i]
            self.i += 1
            if c == "}":
                return out
            if c != ",":
                self.fail("expected ',' or '}'")

    def arr(self, depth):
        if depth > self.max_depth:
            self.fail(f"nested deeper than {self.max_depth} levels")
        self.i += 1
        out = []
        self.ws()
        if self.i < len(self.s) and self.s[self.i] == "]":
            self.i += 1
            return out
        while True:
            self.ws()
            out.append(self.value(depth))
            self.ws()
            if self.i >= len(self.s):
                self.fail("unexpected end of input")
            c = self.s[self.i]
            self.i += 1
            if c == "]":
                return out
            if c != ",":
                self.fail("expected ',' or ']'")

    def hex4(self):
        h = self.s[self.i:self.i + 4]
        if not HEX4.fullmatch(h):
            self.fail("bad \\u escape")
        self.i += 4
        return int(h, 16)

    def string(self):
        s = self.s
        self.i += 1
        out = []
        while True:
            if self.i >= len(s):
                self.fail("unterminated string")
            c = s[self.i]
            if c == '"':
                self.i += 1
                return "".join(out)
            if c == "\\":
                self.i += 1
                if self.i >= len(s):
                    self.fail("unterminated escape")
                e = s[self.i]
                self.i += 1
                if e in SIMPLE_ESCAPES:
                    out.append(SIMPLE_ESCAPES[e])
                    continue
                if e != "u":
                    self.fail(f"bad escape \\{e}")
                cp = self.hex4()
                if 0xDC00 <= cp <= 0xDFFF:
                    self.fail("lone low surrogate")
                if 0xD800 <= cp <= 0xDBFF:
                    if s[self.i:self.i + 2] != "\\u":
                        self.fail("lone high surrogate")
                    self.i += 2
                    lo = self.hex4()
                    if not 0xDC00 <= lo <= 0xDFFF:
                        self.fail("high surrogate not followed by a low surrogate")
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                if is_noncharacter(cp):
                    self.fail(f"noncharacter U+{cp:04X}")
                out.append(chr(cp))
                continue
            cp = ord(c)
            if cp < 0x20:
                self.fail("raw control character in a string")
            if 0xD800 <= cp <= 0xDFFF:       # cannot come from strict UTF-8, kept for safety
                self.fail("surrogate in text")
            if is_noncharacter(cp):
                self.fail(f"noncharacter U+{cp:04X}")
            out.append(c)
            self.i += 1


def decode_utf8(b, what="input"):
    if b.startswith(b"\xef\xbb\xbf"):
        refuse("3", f"{what} starts with a byte order mark")
    try:
        return b.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        refuse("3", f"{what} is not valid UTF-8 ({e.reason} at byte {e.start})")


def parse_json(b, max_depth):
    """Parse bytes; returns (value, parser)."""
    p = Parser(decode_utf8(b), max_depth)
    return p.parse(), p


# ---------------------------------------------------------------------------
# Section 3: canonical writing (RFC 8785)

def write_string(s):
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif c == 0x08:
            out.append("\\b")
        elif c == 0x09:
            out.append("\\t")
        elif c == 0x0A:
            out.append("\\n")
        elif c == 0x0C:
            out.append("\\f")
        elif c == 0x0D:
            out.append("\\r")
        elif c < 0x20:
            out.append("\\u%04x" % c)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def utf16_key(name):
    return name.encode("utf-16-be", errors="surrogatepass")


def canonical(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, Num):
        return v.canon
    if isinstance(v, str):
        return write_string(v)
    if isinstance(v, list):
        return "[" + ",".join(canonical(x) for x in v) + "]"
    if isinstance(v, dict):
        names = sorted(v, key=utf16_key)
        return "{" + ",".join(write_string(k) + ":" + canonical(v[k]) for k in names) + "}"
    raise TypeError(type(v))


def from_python(v):
    """A value read from a vector file (Python json) into this model."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return number_rule(str(v))
    if isinstance(v, float):
        return number_rule(repr(v))
    if isinstance(v, list):
        return [from_python(x) for x in v]
    return {k: from_python(x) for k, x in v.items()}


# ---------------------------------------------------------------------------
# Sections 2 and 4: members

def exact_members(obj, required, optional=(), what="object", section="2"):
    if not isinstance(obj, dict):
        refuse(section, f"{what} is not an object")
    for k in obj:
        if k not in required and k not in optional:
            refuse(section, f"{what}: unknown member {k!r}")
    for k in required:
        if k not in obj:
            refuse(section, f"{what}: missing member {k!r}")


def check_int(v, lo, hi, what, section="2"):
    if not isinstance(v, Num) or not v.is_integer_literal():
        refuse(section, f"{what} is not an integer")
    n = v.int_value()
    if not lo <= n <= hi:
        refuse(section, f"{what} {n} is outside [{lo}, {hi}]")
    return n


def check_id(v, what):
    """Section 4: ids."""
    if not isinstance(v, str):
        refuse("4", f"{what} is not a string")
    n = len(v.encode("utf-8"))
    if not 1 <= n <= ID_MAX:
        refuse("4", f"{what} is {n} bytes, not 1 to {ID_MAX}")
    if all(c == " " for c in v):
        refuse("4", f"{what} has no character other than space")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in v):
        refuse("4", f"{what} holds a control character")


ACTIONS = ("ALLOW", "CHALLENGE", "BLOCK", "REVIEW")


def check_event(ev, chain):
    """Section 4: the event schema; environment equals chain."""
    if not isinstance(ev, dict):
        refuse("4", "the event is not an object")
    t = ev.get("type")
    if not isinstance(t, str) or t not in ("decision", "override"):
        refuse("4", f"event type {t!r} is not decision or override")
    exact_members(ev, ("type", "event_id", "environment", "occurred_at", t), ("recorded_by",), what="event", section="4")
    check_id(ev["event_id"], "event_id")
    if "recorded_by" in ev:
        check_id(ev["recorded_by"], "recorded_by")
    env = ev["environment"]
    if not is_identifier(env):
        refuse("4/2.1", f"environment {env!r} is not an identifier")
    if env != chain:
        refuse("4", f"environment {env!r} is not the chain {chain!r}")
    check_timestamp(ev["occurred_at"], "occurred_at")
    p = ev[t]
    if t == "decision":
        exact_members(p, ("decision_id", "action", "confidence_score", "policy_version", "user_id",
                          "session_id"), ("metadata",), what="decision", section="4")
        for k in ("decision_id", "policy_version", "user_id", "session_id"):
            check_id(p[k], f"decision.{k}")
        if p["action"] not in ACTIONS:
            refuse("4", f"decision.action {p['action']!r} is not one of {ACTIONS}")
        cs = p["confidence_score"]
        if not isinstance(cs, Num) or not Decimal(0) <= cs.decimal() <= Decimal(1):
            refuse("4", "decision.confidence_score is not a number in [0, 1]")
        if "metadata" in p:
            md = p["metadata"]
            if not isinstance(md, dict):
                refuse("4", "decision.metadata is not an object")
            n = len(canonical(md).encode("utf-8"))
            if n > METADATA_MAX:
                refuse("4", f"decision.metadata is {n} bytes of canonical JSON, over {METADATA_MAX}")
    else:
        exact_members(p, ("decision_id", "reviewer_id", "new_action", "reason"), what="override", section="4")
        check_id(p["decision_id"], "override.decision_id")
        check_id(p["reviewer_id"], "override.reviewer_id")
        if p["new_action"] not in ACTIONS:
            refuse("4", f"override.new_action {p['new_action']!r} is not one of {ACTIONS}")
        r = p["reason"]
        if not isinstance(r, str):
            refuse("4", "override.reason is not a string")
        n = len(r.encode("utf-8"))
        if not 1 <= n <= REASON_MAX:
            refuse("4", f"override.reason is {n} bytes, not 1 to {REASON_MAX}")
        if all(c in " \t\n\r" for c in r):
            refuse("4", "override.reason is only white space")


def check_source(src):
    exact_members(src, ("topic", "partition", "offset", "timestamp"), what="source")
    t = src["topic"]
    if not isinstance(t, str) or TOPIC.fullmatch(t) is None:
        refuse("2", f"source.topic {t!r} is not 1 to 249 of A-Z a-z 0-9 . _ -")
    check_int(src["partition"], 0, MAX_PARTITION, "source.partition")
    check_int(src["offset"], 0, MAX_SAFE, "source.offset")
    check_timestamp(src["timestamp"], "source.timestamp")


def check_invalid(inv):
    """Section 2.3."""
    exact_members(inv, ("reason", "size", "sha256"), ("raw",), what="invalid", section="2.3")
    if not isinstance(inv["reason"], str) or inv["reason"] == "":
        refuse("2.3", "invalid.reason is not a non-empty string")
    size = check_int(inv["size"], 0, MAX_SAFE, "invalid.size", section="2.3")
    if not is_hex64(inv["sha256"]):
        refuse("2.3", "invalid.sha256 is not 64 hex")
    if 1 <= size <= RAW_MAX:
        if "raw" not in inv:
            refuse("2.3", f"invalid.raw is absent for a record of {size} bytes")
        raw = canonical_base64(inv["raw"], "invalid.raw", "2.3")
        if len(raw) != size:
            refuse("2.3", f"invalid.raw decodes to {len(raw)} bytes, size says {size}")
        if hashlib.sha256(raw).hexdigest() != inv["sha256"]:
            refuse("2.3", "invalid.sha256 is not the SHA-256 of raw")
    else:
        if "raw" in inv:
            refuse("2.3", f"invalid.raw is present for a record of {size} bytes")
        if size == 0 and inv["sha256"] != EMPTY_SHA256:
            refuse("2.3", "invalid.sha256 of an empty record is not the SHA-256 of no bytes")


MEMBERS = {
    "genesis": ("v", "chain", "seq", "type", "prev", "sealed_at", "genesis", "hash"),
    "event": ("v", "chain", "seq", "type", "prev", "sealed_at", "source", "event", "hash"),
    "invalid": ("v", "chain", "seq", "type", "prev", "sealed_at", "source", "invalid", "hash"),
    "key": ("v", "chain", "seq", "type", "prev", "sealed_at", "source", "key", "hash"),
}


def check_entry(e):
    """Sections 2, 2.1 to 2.3, 4 and 7.1 (genesis key) for a parsed line."""
    if not isinstance(e, dict):
        refuse("2", "the line is not an object")
    t = e.get("type")
    if not isinstance(t, str) or t not in MEMBERS:     # a list or object is not hashable
        refuse("2", f"type {t!r} is not genesis, event, invalid or key")
    exact_members(e, MEMBERS[t], what="entry")
    v = e["v"]
    if not isinstance(v, Num) or v.text != "1":
        refuse("2", f"v is {canonical(v)}, not 1")
    if not is_identifier(e["chain"]):
        refuse("2.1", f"chain {e['chain']!r} is not an identifier")
    seq = check_int(e["seq"], 0, MAX_SAFE, "seq")
    if (seq == 0) != (t == "genesis"):
        refuse("2", f"seq {seq} with type {t}: seq 0 is for genesis and only for genesis")
    if not is_hex64(e["prev"]):
        refuse("2", "prev is not 64 hex")
    if t == "genesis" and e["prev"] != ZERO_HASH:
        refuse("2", "genesis prev is not 64 zeros")
    check_timestamp(e["sealed_at"], "sealed_at")
    if not is_hex64(e["hash"]):
        refuse("2", "hash is not 64 hex")
    if t == "genesis":
        g = e["genesis"]
        exact_members(g, ("created_at", "key_name", "verifier_key"), what="genesis")
        check_timestamp(g["created_at"], "genesis.created_at")
        if not is_identifier(g["key_name"]):
            refuse("2.1", "genesis.key_name is not an identifier")
        if not isinstance(g["verifier_key"], str):
            refuse("7.1", "genesis.verifier_key is not a string")
        name, _, _ = parse_verifier_key(g["verifier_key"])
        if name != g["key_name"]:
            refuse("2", f"genesis.verifier_key is named {name!r}, key_name is {g['key_name']!r}")
    else:
        check_source(e["source"])
        if t == "event":
            check_event(e["event"], e["chain"])
        elif t == "key":
            k = e["key"]
            exact_members(k, ("from_seq", "verifier_key"), what="key", section="2.4")
            if check_int(k["from_seq"], 0, MAX_SAFE, "key.from_seq", section="2.4") != seq + 1:
                refuse("2.4", f"key.from_seq is {k['from_seq'].text}, not seq + 1 = {seq + 1}")
            parse_verifier_key(k["verifier_key"])
        else:
            check_invalid(e["invalid"])


# ---------------------------------------------------------------------------
# Sections 3 and 5: a line alone

def entry_hash(prev_hex, body_bytes):
    return hashlib.sha256(ENTRY_PREFIX + bytes.fromhex(prev_hex) + body_bytes).hexdigest()


def check_line(line_bytes):
    """Sections 2 to 5 for one line (without its '\\n'). Returns (entry, body bytes)."""
    entry, p = parse_json(line_bytes, LINE_DEPTH)
    if not isinstance(entry, dict):
        refuse("2", "the line is not an object")
    if canonical(entry).encode("utf-8") != line_bytes:
        refuse("3", "the line is not canonical JSON (lines are canonical)")
    check_entry(entry)
    # Section 5: remove ',"hash":"<64 hex>"' from the line's own text and hash the rest.
    text = p.s
    spans = [sp for sp in p.top_spans if sp[0] == "hash"]
    _, start, end = spans[0]
    if start == 1 or text[start - 1] != ",":
        refuse("5", "hash is the first member")
    body = (text[:start - 1] + text[end:]).encode("utf-8")
    h = entry_hash(entry["prev"], body)
    if h != entry["hash"]:
        refuse("5", f"hash {entry['hash']} is not the hash of the body ({h})")
    return entry, body


# ---------------------------------------------------------------------------
# Ed25519 (RFC 8032), verification only

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _recover_x(y, sign):
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    vx2 = v * x * x % P
    if vx2 == u:
        pass
    elif vx2 == (-u) % P:
        x = x * SQRT_M1 % P
    else:
        return None
    if x == 0 and sign and STRICT_RFC8032_POINT_DECODING:
        return None
    if (x & 1) != sign:
        x = (-x) % P
    return x


def point_decode(b):
    if len(b) != 32:
        return None
    n = int.from_bytes(b, "little")
    sign = n >> 255
    y = n & ((1 << 255) - 1)
    if y >= P:
        if STRICT_RFC8032_POINT_DECODING:
            return None
        y %= P
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def point_encode(pt):
    X, Y, Z, _ = pt
    zi = pow(Z, P - 2, P)
    x, y = X * zi % P, Y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def point_add(p1, p2):
    X1, Y1, Z1, T1 = p1
    X2, Y2, Z2, T2 = p2
    a = (Y1 - X1) * (Y2 - X2) % P
    b = (Y1 + X1) * (Y2 + X2) % P
    c = T1 * 2 * D * T2 % P
    d = Z1 * 2 * Z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def point_mul(s, pt):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = point_add(q, pt)
        pt = point_add(pt, pt)
        s >>= 1
    return q


_BY = 4 * pow(5, P - 2, P) % P
BASE = (_recover_x(_BY, 0), _BY, 1, _recover_x(_BY, 0) * _BY % P)


def ed25519_verify(pub, msg, sig):
    """Section 7.2: A decodes, S < L, encode([S]B - [k]A) == R (bytes)."""
    if len(pub) != 32 or len(sig) != 64:
        return False
    A = point_decode(pub)
    if A is None:
        return False
    S = int.from_bytes(sig[32:], "little")
    if S >= L:
        return False
    k = int.from_bytes(hashlib.sha512(sig[:32] + pub + msg).digest(), "little") % L
    negA = ((-A[0]) % P, A[1], A[2], (-A[3]) % P)
    R = point_add(point_mul(S, BASE), point_mul(k, negA))
    return point_encode(R) == sig[:32]


# ---------------------------------------------------------------------------
# Section 7.1: verifier keys

def key_hash(name, pub):
    return hashlib.sha256(name.encode("utf-8") + b"\n\x01" + pub).digest()[:4]


def parse_verifier_key(s):
    """Returns (name, 4-byte key hash, 32-byte public key)."""
    if not isinstance(s, str):
        refuse("7.1", "verifier key is not a string")
    parts = s.split("+", 2)          # the name and key hash hold no '+'; the base64 may
    if len(parts) != 3:
        refuse("7.1", "verifier key is not <name>+<key hash>+<key>")
    name, kh, key = parts
    if not is_identifier(name):
        refuse("2.1", f"key name {name!r} is not an identifier")
    if HEX8.fullmatch(kh) is None:
        refuse("7.1", f"key hash {kh!r} is not 8 lowercase hex digits")
    raw = canonical_base64(key, "verifier key", "7.1")
    if len(raw) != 33:
        refuse("7.1", f"key is {len(raw)} bytes, not 33")
    if raw[0] != 0x01:
        refuse("7.1", f"algorithm byte is 0x{raw[0]:02x}, not 0x01")
    pub = raw[1:]
    if key_hash(name, pub).hex() != kh:
        refuse("7.1", f"key hash {kh} does not match (expected {key_hash(name, pub).hex()})")
    n = int.from_bytes(pub, "little")
    y, sign = n & ((1 << 255) - 1), n >> 255
    x = _recover_x(y, sign) if y < P else None
    if x is None or (x == 0 and sign):
        refuse("7.1", "public key is not the canonical encoding of a point")
    return name, bytes.fromhex(kh), pub


# ---------------------------------------------------------------------------
# Section 7.2: signed notes

SEQ_DEC = re.compile(r"0|[1-9][0-9]*")
NOTE_LINES = [NOTE_HEADER, "chain ", "seq ", "hash ", "offset ", "object ", "root ", "time "]
OFFSET_DEC = re.compile(r"-1|0|[1-9][0-9]*")


def parse_note(note_bytes):
    """Section 7.2 without the signature: returns (fields, signed text bytes, key name, 68-byte blob).
    Raises Refused; a partially parsed seq is kept in Refused.seq when the seq line was valid."""
    text = decode_utf8(note_bytes, "note")
    for i, ch in enumerate(text):
        if (ord(ch) < 0x20 and ch != "\n") or ch == "\x7f":
            refuse("7.2", f"note holds the control character U+{ord(ch):04X} at character {i}")
    if not text.endswith("\n"):
        refuse("7.2", "note does not end in a newline")
    lines = text.split("\n")[:-1]
    n_text = len(NOTE_LINES)                     # 8 text lines
    if len(lines) < n_text + 2:
        refuse("7.2", f"note is not {n_text} text lines, an empty line and a signature line")
    if lines[n_text] != "":
        refuse("7.2", f"the text is not exactly {n_text} lines followed by an empty line")
    if len(lines) != n_text + 2:
        refuse("7.2", f"{len(lines) - n_text - 1} signature lines, not exactly one")
    vals = []
    for i, w in enumerate(NOTE_LINES):
        if i == 0:
            if lines[0] != NOTE_HEADER:
                refuse("7.2", f"first line is not {NOTE_HEADER}")
            continue
        if not lines[i].startswith(w):
            refuse("7.2", f"line {i + 1} does not start with {w!r}")
        vals.append(lines[i][len(w):])
    chain, seq_s, hash_s, off_s, obj, root_s, time_s = vals
    if not is_identifier(chain):
        refuse("2.1", f"checkpoint chain {chain!r} is not an identifier")
    if SEQ_DEC.fullmatch(seq_s) is None:
        refuse("7.2", f"seq {seq_s!r} is not a decimal without leading zeros")
    seq = int(seq_s) if len(seq_s) <= 20 else MAX_SAFE + 1
    if seq > MAX_SAFE:
        refuse("7.2", "seq beyond 2^53-1")
    try:
        if not is_hex64(hash_s):
            refuse("7.2", "hash is not 64 hex")
        if OFFSET_DEC.fullmatch(off_s) is None:
            refuse("7.2", f"offset {off_s!r} is not -1 or a decimal without leading zeros")
        offset = int(off_s) if len(off_s) <= 20 else MAX_SAFE + 1
        if (offset == -1) != (seq == 0):
            refuse("7.2", f"offset {offset} with seq {seq}: -1 exactly when seq is 0")
        if offset > MAX_SAFE:
            refuse("7.2", "offset beyond 2^53-1")
        if obj == "":
            refuse("7.2", "object is empty")
        if " " in obj:
            refuse("7.2", "object holds a space")
        if not is_hex64(root_s):
            refuse("7.2", "root is not 64 hex")
        check_timestamp(time_s, "checkpoint time", no_trailing_zero=True, section="7.2/2.2")
        sig = lines[n_text + 1]
        if not sig.startswith(EM_DASH + " "):
            refuse("7.2", "signature line does not start with an em dash and a space")
        parts = sig[2:].split(" ")
        if len(parts) != 2:
            refuse("7.2", "signature line is not '\u2014 <name> <base64>'")
        sname, sb64 = parts
        blob = canonical_base64(sb64, "signature", "7.2")
        if len(blob) != 68:
            refuse("7.2", f"signature is {len(blob)} bytes, not 68")
    except Refused as r:
        r.seq = seq
        raise
    signed = "\n".join(lines[:n_text]).encode("utf-8") + b"\n"
    fields = {"chain": chain, "seq": seq, "hash": hash_s, "offset": offset, "object": obj,
              "root": root_s, "time": time_s}
    return fields, signed, sname, blob


def verify_note(note_bytes, vkey):
    """Section 7.2: returns the checkpoint fields as a dict, or raises Refused
    (with .seq set when the note's seq line was valid)."""
    name, kh, pub = vkey
    fields, signed, sname, blob = parse_note(note_bytes)
    try:
        if sname != name or blob[:4] != kh:
            refuse("7.2", f"note signed by {sname}+{blob[:4].hex()}, not by the trusted key {name}+{kh.hex()}")
        if not ed25519_verify(pub, signed, blob[4:]):
            refuse("7.2", "the Ed25519 signature does not verify")
    except Refused as r:
        r.seq = fields["seq"]
        raise
    return fields


# ---------------------------------------------------------------------------
# Section 7.4: keysets

KEYSET_SPACE = " \t\n\r"  # section 7.1: only these are trimmed around a key file


def parse_keyset(text):
    """Section 7.4: one verifier key alone (every seq), or lines
    '<verifier key> <first seq> <last seq or ->'. Returns a list of
    (key text, (name, kh, pub), first, last or None)."""
    if not isinstance(text, str):
        refuse("7.4", "keyset is not text")
    t = text.strip(KEYSET_SPACE)
    if t and not any(c in t for c in " \t\n\r#"):
        return [(t, parse_verifier_key(t), 0, None)]
    out = []
    for n, raw in enumerate(text.split("\n"), 1):
        line = raw.strip(" \t\r")
        if line == "" or line.startswith("#"):
            continue
        f = re.split("[ \t]+", line)
        if len(f) != 3:
            refuse("7.4", f"keyset line {n}: {len(f)} fields, not 3")
        vk = parse_verifier_key(f[0])
        # at most 16 digits before int(): Python refuses to convert over 4,300
        if SEQ_DEC.fullmatch(f[1]) is None or len(f[1]) > 16 or int(f[1]) > MAX_SAFE:
            refuse("7.4", f"keyset line {n}: first seq {f[1]!r}")
        first = int(f[1])
        last = None
        if f[2] != "-":
            if SEQ_DEC.fullmatch(f[2]) is None or len(f[2]) > 16 or int(f[2]) > MAX_SAFE:
                refuse("7.4", f"keyset line {n}: last seq {f[2]!r}")
            last = int(f[2])
            if last < first:
                refuse("7.4", f"keyset line {n}: last seq below first seq")
        if not out and first != 0:
            refuse("7.4", f"keyset line {n}: the first range starts at {first}, not 0")
        if out:
            if out[-1][3] is None:
                refuse("7.4", f"keyset line {n}: follows an open range")
            if first != out[-1][3] + 1:
                refuse("7.4", f"keyset line {n}: starts at {first}, not {out[-1][3] + 1}")
        for o in out:
            if (o[1][0], o[1][1]) == (vk[0], vk[1]) or o[1][2] == vk[2]:
                refuse("7.4", f"keyset line {n}: a key appears twice")
        out.append((f[0], vk, first, last))
    if not out:
        refuse("7.4", "keyset holds no key")
    return out


def verify_note_keyset(note_bytes, keyset):
    """Sections 7.2 and 7.4: the note verifies with the keyset key named by
    its signature line, and that key's range holds its seq."""
    _, _, sname, blob = parse_note(note_bytes)
    for text, vk, first, last in keyset:
        if vk[0] == sname and vk[1] == blob[:4]:
            cp = verify_note(note_bytes, vk)
            if cp["seq"] < first or (last is not None and cp["seq"] > last):
                r = Refused(f"section 7.4: checkpoint of seq {cp['seq']} signed by {sname}+{vk[1].hex()}, "
                            f"trusted for seqs {first} to {'-' if last is None else last} only")
                r.seq = cp["seq"]
                raise r
            return cp
    refuse("7.2/7.4", f"note signed by {sname}+{blob[:4].hex()}, not by a key of the keyset")


# ---------------------------------------------------------------------------
# Section 7.2: the Merkle tree hash of RFC 6962 section 2.1, and the
# inclusion proof check of RFC 9162 section 2.1.3.2 (section 11)

def merkle_leaf(entry_hash_hex):
    return hashlib.sha256(b"\x00" + bytes.fromhex(entry_hash_hex)).digest()


def merkle_node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves):
    """leaves: list of leaf hashes (already SHA-256(0x00 || entry hash)), n >= 1."""
    n = len(leaves)
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:                 # the largest power of two below n
        k *= 2
    return merkle_node(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def object_root(entries):
    return merkle_root([merkle_leaf(e["hash"]) for e in entries]).hex()


def inclusion_root(leaf_index, tree_size, leaf, path):
    """RFC 9162 section 2.1.3.2: the root the path leads to, or None when the
    path is not exactly as long as the algorithm consumes."""
    if leaf_index >= tree_size:
        return None
    fn, sn = leaf_index, tree_size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = merkle_node(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = merkle_node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None
    return r


# ---------------------------------------------------------------------------
# Section 1: keys

def batch_key(prefix, chain, seq, timestamp):
    date = check_timestamp(timestamp, "source.timestamp")
    y, m, d = date.split("-")
    return f"{prefix}/year={y}/month={m}/day={d}/env={chain}/{seq:020d}.jsonl"


def genesis_key(prefix, chain):
    return f"{prefix}/genesis/env={chain}/{0:020d}.jsonl"


def classify(prefix, chain, key):
    """Returns ('ignore',), ('genesis', 0), ('batch', seq) or ('checkpoint', seq); raises on a stray."""
    if not key.startswith(prefix + "/"):
        return ("ignore",)
    # Section 1: only the part after <prefix>/ is searched; the prefix's own segments do not count.
    if f"env={chain}" not in key[len(prefix) + 1:].split("/"):
        return ("ignore",)
    if key == genesis_key(prefix, chain):
        return ("genesis", 0)
    p, c = re.escape(prefix), re.escape(chain)
    m = re.fullmatch(p + r"/year=([0-9]{4})/month=([0-9]{2})/day=([0-9]{2})/env=" + c + r"/([0-9]{20})\.jsonl", key)
    # Section 1: a batch key with seq 0, or a seq beyond 2^53-1, is a stray object.
    if m and real_date(int(m.group(1)), int(m.group(2)), int(m.group(3))) and 1 <= int(m.group(4)) <= MAX_SAFE:
        return ("batch", int(m.group(4)))
    m = re.fullmatch(p + r"/checkpoints/env=" + c + r"/([0-9]{20})\.note", key)
    if m and int(m.group(1)) <= MAX_SAFE:
        return ("checkpoint", int(m.group(1)))
    refuse("1", f"stray object {key}")


# ---------------------------------------------------------------------------
# Sections 1, 6, 7.3 and 8: a whole log

class LogFail(Exception):
    """The first failure of section 8: the object (or stray key, checkpoint,
    known checkpoint's file), the 1-based line and the seq where they apply."""

    def __init__(self, obj, reason, line=None, seq=None):
        super().__init__(reason)
        self.obj, self.reason, self.line, self.seq = obj, reason, line, seq

    def report(self):
        s = f"FAIL object {self.obj}"
        if self.line is not None:
            s += f" line {self.line}"
        if self.seq is not None:
            s += f" seq {self.seq}"
        return s + f": {self.reason}"


def split_lines(body, key, first_seq=None):
    """Section 1: UTF-8 JSON Lines, each line ending in \\n, no empty lines, no \\r,
    no BOM, not empty. Returns the lines or raises LogFail naming the first bad line
    (and, given the object's first seq from its key, the seq of that line's place:
    section 8)."""
    if body == b"":
        raise LogFail(key, "section 1: an empty object (0 bytes)")
    pieces = body.split(b"\n")
    last = pieces.pop()                  # b"" when the body ends in \n
    if last != b"":
        pieces.append(last)
    for i, ln in enumerate(pieces):
        n = i + 1
        if i == 0 and ln.startswith(b"\xef\xbb\xbf"):
            raise LogFail(key, "section 1: the object starts with a byte order mark", n, place_seq(first_seq, n))
        if ln == b"":
            raise LogFail(key, "section 1: empty line", n, place_seq(first_seq, n))
        if b"\r" in ln:
            raise LogFail(key, "section 1: the line holds a \\r", n, place_seq(first_seq, n))
        try:
            ln.decode("utf-8", errors="strict")
        except UnicodeDecodeError as e:
            raise LogFail(key, f"section 1: not UTF-8 ({e.reason} at byte {e.start} of the line)", n, place_seq(first_seq, n))
        if last != b"" and i == len(pieces) - 1:
            raise LogFail(key, "section 1: the last line does not end in \\n", n, place_seq(first_seq, n))
    return pieces


def place_seq(first_seq, line):
    """Section 8: the seq named with a line that fails alone is its place's, the
    object's first seq (from its key) plus the line number minus one, whatever
    the line holds (None without a first seq)."""
    return None if first_seq is None else first_seq + line - 1


def utc_date(entry):
    return entry["source"]["timestamp"][:10]


def check_checkpoint_against_chain(cp, chain, entries, objects_by_key, what, start=0):
    """Section 7.3 (and the same for a known checkpoint). entries[i] is the
    entry at seq start + i (start > 0 only for a pruned chain, section 6.1;
    the caller handles a checkpoint below start)."""
    if cp["chain"] != chain:
        refuse("7.3", f"{what} signs chain {cp['chain']!r}, not {chain!r}")
    head = start + len(entries) - 1
    seq = cp["seq"]
    if seq > head:
        refuse("7.3", f"{what} has seq {seq}, beyond the chain's last seq {head}")
    e = entries[seq - start]
    if e["hash"] != cp["hash"]:
        refuse("7.3", f"{what}: entry {seq} has hash {e['hash']}, not {cp['hash']}")
    obj = objects_by_key.get(cp["object"])
    if obj is None:
        refuse("7.3", f"{what} names object {cp['object']}, which is not an object of the chain")
    if obj[-1]["seq"].int_value() != seq:
        refuse("7.3", f"{what}: entry {seq} is not the last line of {cp['object']}")
    want = -1 if seq == 0 else e["source"]["offset"].int_value()
    if cp["offset"] != want:
        refuse("7.3", f"{what} has offset {cp['offset']}, entry {seq} has {want}")
    root = object_root(obj)
    if cp["root"] != root:
        refuse("7.3", f"{what} has root {cp['root']}, the entries of {cp['object']} give {root}")


def load(key, body):
    """A body is bytes or a function reading them (directory mode)."""
    if not callable(body):
        return body
    try:
        return body()
    except OSError as e:
        raise LogFail(key, f"cannot read the object: {e.strerror}")


def utf8_order(key):
    return key.encode("utf-8", errors="surrogateescape")


def verify_log(prefix, chain, keyset, objects, known_checkpoint=None, known_name="known checkpoint",
               pruned=False):
    """Sections 1, 6, 7 and 8 without Object Lock. objects: [(key, body bytes)].
    keyset: parse_keyset(...). pruned: accept a chain whose oldest objects were
    deleted (section 6.1). Returns the report of step 5 or raises LogFail
    for the first failure in the order of section 8."""
    # 1. list and classify every key; the listing is in key order (S3 lists in
    #    UTF-8 binary order), so the first stray in that order is reported.
    genesis = None
    batches, checkpoints = [], []
    for key, body in sorted(objects, key=lambda kb: utf8_order(kb[0])):
        try:
            c = classify(prefix, chain, key)
        except Refused:
            raise LogFail(key, "section 1: a stray object (a key of the chain that is not a genesis, batch or checkpoint key)")
        if c[0] == "genesis":
            genesis = (key, body)
        elif c[0] == "batch":
            batches.append((c[1], key, body))
        elif c[0] == "checkpoint":
            checkpoints.append((c[1], key, body))
    # 2. genesis and batch objects in order of their key's seq (ties: listing order)
    gkey = genesis_key(prefix, chain)
    batches.sort(key=lambda x: (x[0], utf8_order(x[1])))
    if genesis is not None:
        # Section 6.1: with its genesis object the chain is not pruned, asked or not.
        start = 0
        ordered = [(0, genesis[0], genesis[1])] + batches
        prev_hash = ZERO_HASH
    elif not pruned:
        raise LogFail(gkey, "section 6: the genesis object does not exist")
    elif not batches:
        raise LogFail(gkey, "section 6.1: the genesis object does not exist and no batch object remains")
    else:
        # Section 6.1: the chain starts at the lowest first seq of a remaining
        # batch object, s; the entry at s is not linked to one before it.
        start = batches[0][0]
        ordered = batches
        prev_hash = None
    # Section 6.1: keyset boundaries (a key's last seq, the seq of its KEY
    # entry) below the start were deleted with their objects; the remaining KEY
    # entries match the boundaries from the first one at the start or above.
    skipped = 0
    while skipped < len(keyset) - 1 and keyset[skipped][3] < start:
        skipped += 1
    entries = []                        # entries[seq - start] = parsed entry
    objects_by_key = {}
    topic_partition = None
    prev_offset = None
    hand_overs = []                     # (seq, verifier key text, object key, line) of key entries
    for key_seq, key, body in ordered:
        lines = split_lines(load(key, body), key, key_seq)
        # each line alone (sections 2 to 5)
        parsed = []
        for i, ln in enumerate(lines):
            try:
                e, _ = check_line(ln)
            except Refused as r:
                raise LogFail(key, str(r), i + 1, place_seq(key_seq, i + 1))
            parsed.append(e)
        seqs = [e["seq"].int_value() for e in parsed]
        # the object (section 6, first two bullets)
        if key == gkey:
            if parsed[0]["type"] != "genesis":
                raise LogFail(key, "section 6: the genesis object does not hold the genesis entry", 1, seqs[0])
            if len(parsed) != 1:
                raise LogFail(key, "section 6: the genesis object holds more than one line", 2, seqs[1])
        else:
            first = parsed[0]
            if first["type"] == "genesis":
                raise LogFail(key, "section 6: a genesis entry in a batch object", 1, seqs[0])
            want = batch_key(prefix, chain, seqs[0], first["source"]["timestamp"])
            if want != key:
                raise LogFail(key, f"section 1/6: stored at the wrong key, its first entry implies {want}", 1, seqs[0])
            day = utc_date(first)
            for i, e in enumerate(parsed[1:], 2):
                if e["type"] == "genesis" or utc_date(e) != day:
                    got = "no source" if e["type"] == "genesis" else utc_date(e)
                    raise LogFail(key, f"section 1/6: source.timestamp date {got}, the batch's date is {day}", i, seqs[i - 1])
        # the chain (section 6, third bullet)
        for i, e in enumerate(parsed):
            seq = seqs[i]
            fail = lambda msg: LogFail(key, "section 6: " + msg, i + 1, seq)
            if seq != start + len(entries):
                raise fail(f"seq should be {start + len(entries)}")
            if prev_hash is not None and e["prev"] != prev_hash:
                raise fail(f"prev is not the hash of entry {seq - 1}")
            if e["chain"] != chain:
                raise fail(f"chain {e['chain']!r} is not {chain!r}")
            if seq >= 1:
                src = e["source"]
                tp = (src["topic"], src["partition"].int_value())
                if topic_partition is None:
                    topic_partition = tp
                elif tp != topic_partition:
                    raise fail(f"read from topic {tp[0]} partition {tp[1]}, the chain reads "
                               f"topic {topic_partition[0]} partition {topic_partition[1]}")
                off = src["offset"].int_value()
                if prev_offset is not None and off <= prev_offset:
                    raise fail(f"offset {off} is not greater than {prev_offset}")
                prev_offset = off
            prev_hash = e["hash"]
            entries.append(e)
            if e["type"] == "key":
                # section 7.4: a key entry ends its object and matches the keyset
                if i != len(parsed) - 1:
                    raise fail("a key entry is not the last line of its object")
                n = skipped + len(hand_overs)
                new = e["key"]["verifier_key"]
                hand_overs.append((seq, new, key, i + 1))
                if n + 1 >= len(keyset):
                    raise LogFail(key, f"section 7.4: the chain hands over to {new} from seq {seq + 1}, "
                                       "the keyset has no such hand-over", i + 1, seq)
                if keyset[n][3] != seq or keyset[n + 1][0] != new:
                    raise LogFail(key, f"section 7.4: the chain hands over after seq {seq} to {new}, the keyset "
                                       f"retires its key {n + 1} after seq {keyset[n][3]} for {keyset[n + 1][0]}", i + 1, seq)
        objects_by_key[key] = parsed
    # 3. every checkpoint, in key order; at least one must exist (of a pruned
    #    chain, one at the start or above: those below it are not counted, 6.1)
    if not checkpoints:
        raise LogFail(f"{prefix}/checkpoints/env={chain}/", "section 7.3: no checkpoint")
    if not any(key_seq >= start for key_seq, _, _ in checkpoints):
        raise LogFail(f"{prefix}/checkpoints/env={chain}/", f"section 7.3/6.1: no checkpoint at the start seq "
                      f"{start} or above (those below it sign no entry that remains)")
    highest = -1
    signed = set()
    for key_seq, key, body in sorted(checkpoints, key=lambda x: utf8_order(x[1])):
        try:
            cp = verify_note_keyset(load(key, body), keyset)
            if cp["seq"] != key_seq:
                refuse("7.3", f"signs seq {cp['seq']} but is stored at seq {key_seq}")
            if cp["seq"] < start:
                # Section 6.1: 7.2, 7.4, its key and the chain id; the one at
                # start - 1 also signs the prev of the entry at start. Not counted.
                if cp["chain"] != chain:
                    refuse("6.1", f"the checkpoint signs chain {cp['chain']!r}, not {chain!r}")
                if cp["seq"] == start - 1 and cp["hash"] != entries[0]["prev"]:
                    refuse("6.1", f"the checkpoint of seq {cp['seq']} signs hash {cp['hash']}, the entry at "
                                  f"the start seq {start} has prev {entries[0]['prev']}")
                continue
            check_checkpoint_against_chain(cp, chain, entries, objects_by_key, "the checkpoint", start)
        except Refused as r:
            raise LogFail(key, str(r), None, key_seq)
        highest = max(highest, cp["seq"])
        signed.add(cp["seq"])
    # section 7.4: the retiring key signs each hand-over covered by later
    # checkpoints, and every hand-over of the keyset is in the chain
    for seq, new, key, line in hand_overs:
        if seq < highest and seq not in signed:
            raise LogFail(key, "section 7.4: no checkpoint signs the key entry, later ones exist", line, seq)
    n = skipped + len(hand_overs)
    if n < len(keyset) - 1:
        raise LogFail(f"{prefix}/checkpoints/env={chain}/", f"section 7.4: the keyset retires key {n + 1} "
                      f"after seq {keyset[n][3]}, the chain has no key entry there", None, keyset[n][3])
    # 4. the known checkpoint: signature and chain id, then as a stored checkpoint
    if known_checkpoint is not None:
        seq = None
        try:
            cp = verify_note_keyset(known_checkpoint, keyset)
            seq = cp["seq"]
            if seq < start:
                if cp["chain"] != chain:
                    refuse("7.3", f"the known checkpoint signs chain {cp['chain']!r}, not {chain!r}")
                refuse("6.1", f"the known checkpoint has seq {seq}, below the start seq {start} of the "
                              "pruned chain: no entry at its seq remains")
            check_checkpoint_against_chain(cp, chain, entries, objects_by_key, "the known checkpoint", start)
        except Refused as r:
            raise LogFail(known_name, str(r), None, seq if seq is not None else r.seq)
    # 5. report
    #    (section 6.1: start_seq, 0 unless pruned; and the sealed_at of the
    #    entry at the start, for the auditor to compare with the retention)
    head = entries[-1]
    return {"entries": len(entries), "head_seq": head["seq"].int_value(), "head_hash": head["hash"],
            "checkpointed_seq": highest, "unsigned": head["seq"].int_value() - highest,
            "start_seq": start, "start_sealed_at": entries[0]["sealed_at"]}


def report_line(chain, rep):
    s = (f"OK chain {chain}: {rep['entries']} entries, head seq {rep['head_seq']} hash {rep['head_hash']}, "
         f"signed to seq {rep['checkpointed_seq']}, {rep['unsigned']} unsigned")
    if rep["start_seq"]:
        s += f", pruned: starts at seq {rep['start_seq']} sealed at {rep['start_sealed_at']}"
    return s


# ---------------------------------------------------------------------------
# Section 11: evidence bundles

PROOF_FORMAT = "aegis-audit/proof/v1"
PATH_MAX = 64
ITEM_MEMBERS = ("object", "line", "index", "size", "path", "checkpoint")


def shown(s):
    """s as a message shows it: itself when every character is printable,
    else as a JSON string (a bundle's text is hostile: a newline or an
    escape sequence in it would start a line of its writer's choosing on
    the reader's terminal)."""
    return s if s.isprintable() else json.dumps(s)


def claimed_seq(w, line):
    """w, "entry N (object K, line L)", with the seq the refused line says
    it has, when it is a JSON object with one (the line is not verified:
    what it says, to look it up)."""
    try:
        seq = json.loads(line).get("seq")
    except Exception:
        return w
    if isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq <= MAX_SAFE:
        return w[:-1] + f", seq {seq})"
    return w


def verify_bundle(bundle_bytes, keyset):
    """Section 11. Returns {decision_id, chain, action, current_action, entries} or raises Refused."""
    if not bundle_bytes.endswith(b"\n"):
        refuse("11", "the bundle does not end in \\n")
    text = bundle_bytes[:-1]
    b, _ = parse_json(text, RECORD_DEPTH)
    if not isinstance(b, dict):
        refuse("11", "the bundle is not an object")
    if canonical(b).encode("utf-8") != text:
        refuse("11", "the bundle is not canonical JSON followed by one \\n (section 3)")
    exact_members(b, ("format", "chain", "decision_id", "key_id", "entries"), what="bundle", section="11")
    if b["format"] != PROOF_FORMAT:
        refuse("11", f"format is {canonical(b['format'])}, not {PROOF_FORMAT}")
    chain = b["chain"]
    if not is_identifier(chain):
        refuse("11/2.1", f"chain {canonical(chain)} is not an identifier")
    did = b["decision_id"]
    check_id(did, "decision_id")
    ids = [f"{vk[0]}+{vk[1].hex()}" for _, vk, _, _ in keyset]
    if b["key_id"] not in ids:
        refuse("11", f"key_id {canonical(b['key_id'])} is not a key of the keyset {ids}")
    items = b["entries"]
    if not isinstance(items, list) or not items:
        refuse("11", "entries is not a non-empty array")
    action = None
    retired = set()                                   # signers of checkpoints whose keyset range is closed
    current = None                                    # (seq, new_action) of the highest override
    last_seq = None
    spans = []                   # (first seq, last seq, object, checkpoint, n) of each item, to check them against each other (section 11)
    for n, it in enumerate(items, 1):
        w = f"entry {n}"
        exact_members(it, ITEM_MEMBERS, what=w, section="11")
        for k in ("object", "line", "checkpoint"):
            if not isinstance(it[k], str):
                refuse("11", f"{w}: {k} is not a string")
        index = check_int(it["index"], 0, MAX_SAFE, f"{w}: index", section="11")
        size = check_int(it["size"], 1, MAX_SAFE, f"{w}: size", section="11")
        path = it["path"]
        if not isinstance(path, list) or len(path) > PATH_MAX or not all(is_hex64(h) for h in path):
            refuse("11", f"{w}: path is not an array of at most {PATH_MAX} hashes of 64 hex")
        # where the item says its line is, to look a refusal up in S3 (the
        # bundle's, hostile: a key of the chain is far shorter than 200)
        place = shown(it["object"] if len(it["object"]) <= 200 else it["object"][:197] + "...")
        w = f"entry {n} (object {place}, line {index + 1})"
        # 1. the line alone, of the chain, an event about the decision
        try:
            e, _ = check_line(it["line"].encode("utf-8", errors="surrogatepass"))
        except Refused as r:
            refuse("11 step 1", f"{claimed_seq(w, it['line'])}: line refused: {r}")
        seq = e["seq"].int_value()
        w = f"entry {n} (object {place}, line {index + 1}, seq {seq})"
        if e["chain"] != chain:
            refuse("11 step 1", f"{w}: line of chain {e['chain']}, not {chain}")
        if e["type"] != "event":
            refuse("11 step 1", f"{w}: line of type {e['type']}, not event")
        ev = e["event"]
        payload = ev[ev["type"]]
        if payload["decision_id"] != did:
            refuse("11 step 1", f"{w}: line is about decision {payload['decision_id']!r}, not {did!r}")
        if last_seq is not None and seq <= last_seq:
            refuse("11", f"{w}: seq {seq} does not rise (previous {last_seq})")
        last_seq = seq
        # 2. the checkpoint
        try:
            note = it["checkpoint"].encode("utf-8", errors="surrogatepass")
            cp = verify_note_keyset(note, keyset)
            _, _, sname, blob = parse_note(note)
            last_signer = f"{sname}+{blob[:4].hex()}"
            if any(vk[0] == sname and vk[1] == blob[:4] and last is not None for _, vk, _, last in keyset):
                retired.add(last_signer)    # section 11: offline, worth what the retired key's keeping is
        except Refused as r:
            refuse("11 step 2", f"{w}: checkpoint refused: {r}")
        if cp["chain"] != chain:
            refuse("11 step 2", f"{w}: checkpoint signs chain {cp['chain']}, not {chain}")
        if cp["object"] != it["object"]:
            refuse("11 step 2", f"{w}: checkpoint names {shown(cp['object'])}, not {shown(it['object'])}")
        # 3. index, size, seq and object key
        if not index < size <= cp["seq"] + 1:
            refuse("11 step 3", f"{w}: not index {index} < size {size} <= checkpoint seq {cp['seq']} + 1")
        first = cp["seq"] + 1 - size
        if first < 1:
            refuse("11 step 3/1", f"{w}: the object would start at seq {first}, a batch starts at seq 1 or later")
        if seq != first + index:
            refuse("11 step 3", f"{w}: line seq {seq} is not first {first} + index {index}")
        y, m, d = utc_date(e).split("-")
        suffix = f"/year={y}/month={m}/day={d}/env={chain}/{first:020d}.jsonl"
        obj = it["object"]
        prefix = obj[:-len(suffix)] if obj.endswith(suffix) else ""
        if prefix == "" or prefix.endswith("/") or batch_key(prefix, chain, first, e["source"]["timestamp"]) != obj:
            refuse("11 step 3", f"{w}: object {shown(obj)} is not the batch key of seq {first} on {utc_date(e)}")
        spans.append((first, cp["seq"], obj, note, n))
        # 4. the last line of the object is the checkpoint's entry
        if index == size - 1 and e["hash"] != cp["hash"]:
            refuse("11 step 4", f"{w}: last line of its object, hash {e['hash']} is not the checkpoint's {cp['hash']}")
        # 5. the inclusion path
        root = inclusion_root(index, size, merkle_leaf(e["hash"]), [bytes.fromhex(h) for h in path])
        if root is None:
            refuse("11 step 5", f"{w}: the path of {len(path)} hashes is not as long as index {index} in {size} leaves needs")
        if root.hex() != cp["root"]:
            refuse("11 step 5", f"{w}: the path leads to {root.hex()}, not to the checkpoint's root {cp['root']}")
        if ev["type"] == "decision":
            if action is None:
                action = payload["action"]
        elif current is None or seq > current[0]:
            current = (seq, payload["new_action"])
    # the items against each other: items whose objects share a seq name one
    # object and carry one checkpoint (one seq in two signed objects, or two
    # checkpoints of one object, are two histories signed)
    spans.sort(key=lambda s: s[0])
    top = spans[0]
    for s in spans[1:]:
        if s[0] <= top[1]:
            a, z = sorted((top, s), key=lambda x: x[4])
            if a[2] != z[2]:
                refuse("11", f"entries {a[4]} and {z[4]} are in two objects that share seq {max(a[0], z[0])} "
                             f"({shown(a[2])}, seqs {a[0]} to {a[1]}; {shown(z[2])}, seqs {z[0]} to {z[1]}): two histories signed")
            if a[3] != z[3]:
                refuse("11", f"entries {a[4]} and {z[4]} carry two different checkpoints of the object {shown(a[2])}: two histories signed")
        if s[1] > top[1]:
            top = s
    if action is None:
        refuse("11", "no entry is a decision")
    if b["key_id"] != last_signer:
        refuse("11", f"key_id {shown(b['key_id'])} is not the signer of the last entry's checkpoint, {last_signer}")
    return {"decision_id": did, "chain": chain, "action": action,
            "current_action": current[1] if current else action, "entries": len(items),
            "retired": sorted(retired)}


def bundle_report(r):
    out = (f"OK decision {r['decision_id']} of chain {r['chain']}: {r['action']}, "
           f"now {r['current_action']}; {r['entries']} entries")
    if r.get("retired"):
        out += (f" (signed in part by the retired key {', '.join(r['retired'])}: worth what its keeping since its "
                "retirement is; verify the whole chain and find the entries in it to rule out a stolen retired key, section 11)")
    return out


# ---------------------------------------------------------------------------
# Sealing a record (what the sealer must have done), for entry vectors

def seal_record(record_bytes, chain):
    try:
        v, _ = parse_json(record_bytes, RECORD_DEPTH)
        check_event(v, chain)
    except Refused as r:
        return "invalid", str(r)
    return "event", canonical(v)


# ---------------------------------------------------------------------------
# Section 10: the vectors

class VectorFail(Exception):
    pass


def need(vec, *names):
    for n in names:
        if n not in vec:
            raise VectorFail(f"vector has no member {n!r} (section 10)")


def need_str(vec, *names):
    need(vec, *names)
    for n in names:
        if not isinstance(vec[n], str):
            raise VectorFail(f"vector member {n!r} is not a string (section 10)")


VECTOR_DEPTH = 64


def vector_value(v, depth=0):
    """from_python for a member of a vector, refusing absurd nesting as a vector fault."""
    if depth > VECTOR_DEPTH:
        raise VectorFail(f"vector value nested deeper than {VECTOR_DEPTH} levels")
    if isinstance(v, list):
        for x in v:
            vector_value(x, depth + 1)
    elif isinstance(v, dict):
        for x in v.values():
            vector_value(x, depth + 1)
    return from_python(v)


def expect_result(vec, fn):
    """Run fn; compare accept/reject with vec['expect']. Returns (result, note)."""
    need(vec, "expect")
    exp = vec["expect"]
    if exp not in ("accept", "reject"):
        raise VectorFail(f"expect is {exp!r}")
    try:
        res = fn()
    except Refused as r:
        if exp == "accept":
            raise VectorFail(f"refused, expected accept: {r}")
        return None, f"rejected: {r}"
    if exp == "reject":
        raise VectorFail("accepted, expected reject")
    return res, "accepted"


def check_entry_vector(vec):
    need(vec, "chain", "seq", "prev", "sealed_at", "type", "canonical_body", "hash", "line")
    need_str(vec, "canonical_body", "line")
    line = vec["line"].encode("utf-8", errors="surrogatepass")
    try:
        entry, body = check_line(line)
    except Refused as r:
        raise VectorFail(f"line refused: {r}")
    if entry["type"] != vec["type"]:
        raise VectorFail(f"line has type {entry['type']}, vector says {vec['type']}")
    if entry["hash"] != vec["hash"]:
        raise VectorFail("line's hash is not the vector's hash")
    cb = vec["canonical_body"].encode("utf-8", errors="surrogatepass")
    if cb != body:
        raise VectorFail("canonical_body is not the line without its hash member")
    if not is_hex64(vec["prev"]) or entry_hash(vec["prev"], cb) != vec["hash"]:
        raise VectorFail("canonical_body does not hash to hash after prev")
    for k in ("chain", "prev", "sealed_at"):
        if entry[k] != vec[k]:
            raise VectorFail(f"line's {k} is {entry[k]!r}, vector says {vec[k]!r}")
    if entry["seq"].text != str(vec["seq"]):
        raise VectorFail("line's seq is not the vector's seq")
    t = entry["type"]
    if t == "genesis":
        need(vec, "key_name", "verifier_key")
        for k in ("key_name", "verifier_key"):
            if entry["genesis"][k] != vec[k]:
                raise VectorFail(f"line's genesis.{k} is not the vector's")
        return "genesis"
    need(vec, "source", "input")
    need_str(vec, "input")
    if canonical(entry["source"]) != canonical(vector_value(vec["source"])):
        raise VectorFail("line's source is not the vector's source")
    record = vec["input"].encode("utf-8", errors="surrogatepass")
    kind, detail = seal_record(record, vec["chain"])
    if t == "event":
        if kind != "event":
            raise VectorFail(f"input is not a valid event ({detail}), line is an event")
        if canonical(entry["event"]) != detail:
            raise VectorFail("line's event is not the canonical JSON of input")
        return "event"
    inv = entry["invalid"]
    if kind == "event":
        # The record is a valid event; only an out-of-range Kafka timestamp
        # (section 2.2) makes it invalid, and then source.timestamp is a bound.
        if entry["source"]["timestamp"] not in (CLAMP_LOW, CLAMP_HIGH):
            raise VectorFail("input is a valid event, line seals it as invalid")
        detail = "valid event, but source.timestamp is a clamp bound (2.2)"
    if inv["size"].int_value() != len(record):
        raise VectorFail(f"invalid.size {inv['size'].text} is not the input's {len(record)} bytes")
    if inv["sha256"] != hashlib.sha256(record).hexdigest():
        raise VectorFail("invalid.sha256 is not the SHA-256 of input")
    if 1 <= len(record) <= RAW_MAX:
        if inv.get("raw") != base64.b64encode(record).decode("ascii"):
            raise VectorFail("invalid.raw is not the base64 of input")
    elif "raw" in inv:
        raise VectorFail("invalid.raw present")
    return f"invalid ({detail})"


def check_line_vector(vec):
    need_str(vec, "line")
    _, note = expect_result(vec, lambda: check_line(vec["line"].encode("utf-8", errors="surrogatepass")))
    return note


def check_key_vector(vec):
    need(vec, "verifier_key")
    _, note = expect_result(vec, lambda: parse_verifier_key(vec["verifier_key"]))
    return note


CP_FIELDS = ("chain", "seq", "hash", "offset", "object", "root", "time")


def vector_keyset(vec):
    """The keys a vector trusts: its keyset, else its verifier key alone."""
    if "keyset" in vec:
        need_str(vec, "keyset")
        text = vec["keyset"]
    else:
        need(vec, "verifier_key")
        text = vec["verifier_key"]
        if not isinstance(text, str):
            raise VectorFail("verifier_key is not a string")
        try:  # a vector's key is its text exactly: nothing stripped (7.1)
            return [(text, parse_verifier_key(text), 0, None)]
        except Refused as r:
            raise VectorFail(f"vector's verifier_key refused: {r}")
    try:
        return parse_keyset(text)
    except Refused as r:
        raise VectorFail(f"vector's keys refused: {r}")


def check_keyset_vector(vec):
    need_str(vec, "keyset")
    _, note = expect_result(vec, lambda: parse_keyset(vec["keyset"]))
    return note


def check_checkpoint_vector(vec):
    need(vec, "note")
    need_str(vec, "note")
    keyset = vector_keyset(vec)
    cp, note = expect_result(vec, lambda: verify_note_keyset(vec["note"].encode("utf-8", errors="surrogatepass"), keyset))
    if cp is not None:
        # Section 10 names "the fields chain, seq, ..."; the vectors nest them in "checkpoint".
        if all(k in vec for k in CP_FIELDS):
            fields = vec
        elif isinstance(vec.get("checkpoint"), dict):
            fields = vec["checkpoint"]
        else:
            raise VectorFail("accepted note without the expected fields")
        for k in CP_FIELDS:
            if fields.get(k) != cp[k]:
                raise VectorFail(f"note's {k} is {cp[k]!r}, vector says {fields.get(k)!r}")
    return note


def check_batch_key_vector(vec):
    need(vec, "prefix", "chain", "seq", "timestamp", "key")
    # Section 10 asks every kind but entry for an "expect"; the batch-key vectors
    # carry none and the table gives them no reject case: absent means accept.
    if vec.get("expect", "accept") != "accept":
        raise VectorFail(f"expect {vec['expect']!r}: batch-key vectors only state a key")
    if not is_identifier(vec["chain"]):
        raise VectorFail("chain is not an identifier")
    p = vec["prefix"]
    if not isinstance(p, str) or p == "" or p.endswith("/"):
        raise VectorFail("prefix is not a non-empty string without a final / (section 1)")
    if isinstance(vec["seq"], bool) or not isinstance(vec["seq"], int) or not 1 <= vec["seq"] <= MAX_SAFE:
        raise VectorFail("a batch's first seq is at least 1")
    try:
        k = batch_key(vec["prefix"], vec["chain"], vec["seq"], vec["timestamp"])
    except Refused as r:
        raise VectorFail(str(r))
    if k != vec["key"]:
        raise VectorFail(f"key is {k}, vector says {vec['key']}")
    try:
        c = classify(vec["prefix"], vec["chain"], k)
    except Refused as r:
        raise VectorFail(str(r))
    if c != ("batch", vec["seq"]):
        raise VectorFail(f"the key classifies as {c}")
    return "key matches"


def check_log_vector(vec):
    need(vec, "prefix", "chain", "objects")
    need_str(vec, "prefix", "chain")
    vkey = vector_keyset(vec)
    if not isinstance(vec["objects"], list) or not all(
            isinstance(o, dict) and isinstance(o.get("key"), str) and isinstance(o.get("body"), str)
            for o in vec["objects"]):
        raise VectorFail("objects is not an array of {key, body} strings (section 10)")
    objs = [(o["key"], o["body"].encode("utf-8", errors="surrogatepass")) for o in vec["objects"]]
    kc = vec.get("known_checkpoint")
    if kc is not None:
        if not isinstance(kc, str):
            raise VectorFail("known_checkpoint is not a string")
        kc = kc.encode("utf-8", errors="surrogatepass")
    pruned = vec.get("pruned", False)
    if not isinstance(pruned, bool):
        raise VectorFail("pruned is not true or false (section 10)")

    def run():
        prefix, chain = vec["prefix"], vec["chain"]
        if prefix == "" or prefix.endswith("/"):
            refuse("1", f"prefix {prefix!r} is empty or ends in /")
        if not is_identifier(chain):
            refuse("2.1", f"chain {chain!r} is not an identifier")
        try:
            return verify_log(vec["prefix"], vec["chain"], vkey, objs, kc, pruned=pruned)
        except LogFail as f:
            raise Refused(f.report())
    rep, note = expect_result(vec, run)
    if rep is not None:
        need(vec, "report")
        if not isinstance(vec["report"], dict):
            raise VectorFail("report is not an object")
        for k in ("entries", "head_seq", "head_hash", "checkpointed_seq", "unsigned"):
            if vec["report"].get(k) != rep[k]:
                raise VectorFail(f"report {k} is {rep[k]!r}, vector says {vec['report'].get(k)!r}")
        # section 10: start_seq is in the report of pruned logs; compared wherever a vector gives it
        if "start_seq" in vec["report"] and vec["report"]["start_seq"] != rep["start_seq"]:
            raise VectorFail(f"report start_seq is {rep['start_seq']!r}, vector says {vec['report']['start_seq']!r}")
        note += " " + report_line(vec["chain"], rep)
    return note


def check_proof_vector(vec):
    need(vec, "bundle")
    need_str(vec, "bundle")
    vkey = vector_keyset(vec)
    res, note = expect_result(vec, lambda: verify_bundle(vec["bundle"].encode("utf-8", errors="surrogatepass"), vkey))
    if res is not None:
        need(vec, "decision_id", "action", "current_action")
        for k in ("decision_id", "action", "current_action"):
            if vec[k] != res[k]:
                raise VectorFail(f"bundle proves {k} {res[k]!r}, vector says {vec[k]!r}")
        if vec.get("retired") is not None and vec["retired"] != res["retired"]:
            raise VectorFail(f"bundle's retired signers are {res['retired']!r}, vector says {vec['retired']!r}")
        note += " " + bundle_report(res)
    return note


CHECKERS = {
    "entry": check_entry_vector,
    "line": check_line_vector,
    "verifier-key": check_key_vector,
    "checkpoint": check_checkpoint_vector,
    "batch-key": check_batch_key_vector,
    "log": check_log_vector,
    "proof": check_proof_vector,
    "keyset": check_keyset_vector,
}


def check_vector_file(path):
    """Returns (error or None, note)."""
    try:
        with open(path, "rb") as f:
            vec = json.loads(f.read().decode("utf-8"))
    except Exception as e:
        return f"cannot read vector: {e}", ""
    if not isinstance(vec, dict) or not isinstance(vec.get("kind"), str) or vec["kind"] not in CHECKERS:
        return f"unknown kind {vec.get('kind') if isinstance(vec, dict) else None!r}", ""
    try:
        return None, CHECKERS[vec["kind"]](vec)
    except VectorFail as e:
        return str(e), ""
    except Refused as e:                 # a vector's own data broke a rule
        return str(e), ""


def check_lines_file(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        print(f"FAIL {path}: cannot read: {e.strerror}")
        return 1
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    bad = 0
    for i, ln in enumerate(lines, 1):
        try:
            if ln == b"":
                refuse("1", "empty line")
            e, _ = check_line(ln)
        except Refused as r:
            bad += 1
            print(f"FAIL {path} line {i}: {r}")
    print(f"lines: {len(lines) - bad} accepted, {bad} refused")
    return 1 if bad or not lines else 0


def self_test():
    # RFC 8032 section 7.1, TEST 1 (empty message).
    pub = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    sig = bytes.fromhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
                        "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    ok = ed25519_verify(pub, b"", sig) and not ed25519_verify(pub, b"x", sig)
    print("self-test:", "ok" if ok else "FAIL")
    return 0 if ok else 1


def read_verifier_key_file(path):
    """Section 7.1: a file holds the key, UTF-8; only spaces, tabs, CRs and
    LFs around it are ignored (parse_keyset, KEYSET_SPACE)."""
    with open(path, "rb") as f:
        data = f.read()
    text = decode_utf8(data, "verifier key file")
    return parse_keyset(text)            # a .pub file, or a keyset file (section 7.4)


def read_bucket_dir(root, prefix):
    """Every regular file under root as (key, loader): the key is the path
    relative to root with '/' between the segments."""
    out = []

    def unlisted(err):
        # A directory that cannot be listed could hide objects under <prefix>/.
        rel = os.path.relpath(err.filename or root, root)
        key = "" if rel == "." else "/".join(rel.split(os.sep)) + "/"
        if key.startswith(prefix + "/") or (prefix + "/").startswith(key):
            raise LogFail(key or root, f"section 8: cannot list the directory: {err.strerror}")

    for d, dirs, files in os.walk(root, onerror=unlisted):
        dirs.sort()
        for fn in files:
            full = os.path.join(d, fn)
            if not os.path.isfile(full):
                continue
            rel = os.path.relpath(full, root)
            key = "/".join(rel.split(os.sep))
            out.append((key, (lambda p=full: open(p, "rb").read())))
    return out


def parse_options(argv, flags, valued):
    """Tiny option parser: exact option names only; returns dict or raises ValueError."""
    opts = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in flags:
            opts[a] = True
            i += 1
        elif a in valued:
            if i + 1 >= len(argv):
                raise ValueError(f"{a} needs a value")
            if a in opts:
                raise ValueError(f"{a} given twice")
            opts[a] = argv[i + 1]
            i += 2
        else:
            raise ValueError(f"unknown argument {a!r}")
    return opts


DIR_USAGE = ("usage: check_vectors.py --dir DIR --chain CHAIN --verifier-key KEYFILE "
             "[--prefix PREFIX] [--known-checkpoint FILE] [--allow-unsigned] [--pruned]")
BUNDLE_USAGE = "usage: check_vectors.py --bundle FILE --verifier-key KEYFILE"


def dir_mode(argv):
    """Section 8 on a downloaded bucket (no Object Lock). Exit 0, 1 (failure) or 2 (unsigned entries)."""
    try:
        o = parse_options(argv, {"--allow-unsigned", "--pruned"},
                          {"--dir", "--chain", "--verifier-key", "--prefix", "--known-checkpoint"})
        for k in ("--dir", "--chain", "--verifier-key"):
            if k not in o:
                raise ValueError(f"{k} is required")
    except ValueError as e:
        print(f"{e}\n{DIR_USAGE}", file=sys.stderr)
        return 1
    prefix = o.get("--prefix", "audit")
    chain = o["--chain"]
    if prefix == "" or prefix.endswith("/"):
        print(f"FAIL prefix {prefix!r}: section 1: non-empty and not ending in /")
        return 1
    if not is_identifier(chain):
        print(f"FAIL chain {chain!r}: section 2.1: not an identifier")
        return 1
    try:
        vkey = read_verifier_key_file(o["--verifier-key"])
    except (OSError, Refused) as e:
        print(f"FAIL verifier key {o['--verifier-key']}: {e}")
        return 1
    if not os.path.isdir(o["--dir"]):
        print(f"FAIL directory {o['--dir']}: not a directory")
        return 1
    kc_name = o.get("--known-checkpoint")
    kc = None
    if kc_name is not None:
        try:
            with open(kc_name, "rb") as f:
                kc = f.read()
        except OSError as e:
            print(LogFail(kc_name, f"cannot read: {e.strerror}").report())
            return 1
    try:
        rep = verify_log(prefix, chain, vkey, read_bucket_dir(o["--dir"], prefix), kc, kc_name,
                         pruned="--pruned" in o)
    except LogFail as f:
        print(f.report())
        return 1
    print(report_line(chain, rep))
    if rep["unsigned"] and "--allow-unsigned" not in o:
        return 2
    return 0


def bundle_mode(argv):
    try:
        o = parse_options(argv, set(), {"--bundle", "--verifier-key"})
        for k in ("--bundle", "--verifier-key"):
            if k not in o:
                raise ValueError(f"{k} is required")
    except ValueError as e:
        print(f"{e}\n{BUNDLE_USAGE}", file=sys.stderr)
        return 1
    try:
        vkey = read_verifier_key_file(o["--verifier-key"])
    except (OSError, Refused) as e:
        print(f"FAIL verifier key {o['--verifier-key']}: {e}")
        return 1
    try:
        with open(o["--bundle"], "rb") as f:
            data = f.read()
    except OSError as e:
        print(f"FAIL cannot read {o['--bundle']}: {e.strerror}")
        return 1
    try:
        r = verify_bundle(data, vkey)
    except Refused as e:
        print(f"FAIL {e}")
        return 1
    print(bundle_report(r))
    return 0


def main(argv):
    # Names from a directory or the command line may hold characters the
    # terminal cannot encode (undecodable file names): print them escaped, never crash.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if "--dir" in argv:
        return dir_mode(argv)
    if "--bundle" in argv:
        return bundle_mode(argv)
    if argv[:1] == ["--self-test"]:
        return self_test()
    if argv[:1] == ["--version"]:
        print(f"check_vectors.py: sealed log format version 1, revision {FORMAT_REVISION} (docs/FORMAT.md)")
        return 0
    if argv[:1] == ["--lines"]:
        if len(argv) != 2:
            print("usage: check_vectors.py --lines FILE", file=sys.stderr)
            return 1
        return check_lines_file(argv[1])
    verbose = False
    if argv[:1] == ["-v"]:
        verbose, argv = True, argv[1:]
    passed = failed = 0
    for p in argv:
        err, note = check_vector_file(p)
        if err:
            failed += 1
            print(f"FAIL {p}: {err}")
        else:
            passed += 1
            print(f"ok   {p}" + (f"  [{note}]" if verbose and note else ""))
    print(f"vectors: {passed} passed, {failed} failed")
    return 1 if failed or not argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
