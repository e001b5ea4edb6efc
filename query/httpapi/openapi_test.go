package httpapi_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// openAPI is the served OpenAPI document, with what the tests exercised.
type openAPI struct {
	doc  map[string]any
	seen map[string]bool
}

func loadOpenAPI(t *testing.T, f *fixture) *openAPI {
	t.Helper()
	r := call(t, "GET", f.base+"/openapi.json", "")
	var doc map[string]any
	if err := json.Unmarshal(r.body, &doc); err != nil || r.status != 200 {
		t.Fatalf("GET /openapi.json: %d %v", r.status, err)
	}
	return &openAPI{doc: doc, seen: map[string]bool{}}
}

// resolve follows a "$ref" within the document.
func (o *openAPI) resolve(v any) map[string]any {
	m, _ := v.(map[string]any)
	for m != nil {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		var cur any = o.doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = cur.(map[string]any)[part]
		}
		m, _ = cur.(map[string]any)
	}
	return m
}

// check fails unless the document lists status for method on path and
// body matches the response's schema.
func (o *openAPI) check(t *testing.T, method, path string, status int, body []byte) {
	t.Helper()
	paths := o.doc["paths"].(map[string]any)
	op := o.resolve(o.resolve(paths[path])[method])
	if op == nil {
		if status == 405 { // any other method: documented on each operation
			op = o.resolve(o.resolve(paths[path])["get"])
		}
		if op == nil {
			t.Fatalf("the OpenAPI document has no %s %s", method, path)
		}
	}
	resp := o.resolve(o.resolve(op["responses"])[strconv.Itoa(status)])
	if resp == nil {
		t.Fatalf("the OpenAPI document does not list status %d for %s %s", status, method, path)
	}
	o.seen[fmt.Sprintf("%s %d", path, status)] = true
	schema := o.resolve(o.resolve(o.resolve(resp["content"])["application/json"])["schema"])
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s %s %d: not JSON: %s", method, path, status, body)
	}
	if err := o.validate(schema, v, "$"); err != nil {
		t.Fatalf("%s %s %d does not match the OpenAPI document: %v\n%s", method, path, status, err, body)
	}
}

// covered fails unless every documented status of every path was seen.
func (o *openAPI) covered(t *testing.T) {
	t.Helper()
	var missing []string
	for path, item := range o.doc["paths"].(map[string]any) {
		for _, op := range o.resolve(item) {
			for status := range o.resolve(o.resolve(op)["responses"]) {
				if !o.seen[path+" "+status] {
					missing = append(missing, path+" "+status)
				}
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("documented but never exercised: %v", missing)
	}
}

// validate checks v against the subset of JSON Schema the document uses:
// $ref, allOf, type, required, properties (no others allowed), items,
// enum, pattern, minimum, maximum.
func (o *openAPI) validate(s map[string]any, v any, at string) error {
	return o.validateIn(s, v, at, false)
}

// validateIn is validate; within an allOf, members the including schema
// declares are allowed (open).
func (o *openAPI) validateIn(s map[string]any, v any, at string, open bool) error {
	s = o.resolve(s)
	if s == nil {
		return nil
	}
	declared := map[string]map[string]any{}
	for _, sub := range asList(s["allOf"]) {
		if err := o.validateIn(o.resolve(sub), v, at, true); err != nil {
			return err
		}
		for k, p := range asMap(o.resolve(sub)["properties"]) {
			declared[k] = o.resolve(p)
		}
	}
	for k, p := range asMap(s["properties"]) {
		declared[k] = o.resolve(p)
	}
	switch s["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: not an object", at)
		}
		for _, r := range asList(s["required"]) {
			if _, ok := m[r.(string)]; !ok {
				return fmt.Errorf("%s: required member %s missing", at, r)
			}
		}
		for k, mv := range m {
			p, ok := declared[k]
			if !ok && open {
				continue
			}
			if !ok {
				return fmt.Errorf("%s: member %s is not in the document", at, k)
			}
			if err := o.validate(p, mv, at+"."+k); err != nil {
				return err
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: not an array", at)
		}
		for i, e := range a {
			if err := o.validate(o.resolve(s["items"]), e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: not a string", at)
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			return fmt.Errorf("%s: %q does not match %s", at, str, p)
		}
	case "integer", "number":
		n, ok := v.(float64)
		if !ok || (s["type"] == "integer" && n != float64(int64(n))) {
			return fmt.Errorf("%s: not an %s", at, s["type"])
		}
		if lo, ok := s["minimum"].(float64); ok && n < lo {
			return fmt.Errorf("%s: %v below %v", at, n, lo)
		}
		if hi, ok := s["maximum"].(float64); ok && n > hi {
			return fmt.Errorf("%s: %v above %v", at, n, hi)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: not a boolean", at)
		}
	}
	if enum := asList(s["enum"]); enum != nil {
		for _, e := range enum {
			if e == v {
				return nil
			}
		}
		return fmt.Errorf("%s: %v is not one of %v", at, v, enum)
	}
	return nil
}

func asList(v any) []any         { l, _ := v.([]any); return l }
func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
