package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sort"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// openAPI checks requests and answers against the served OpenAPI
// document (with kin-openapi, as the ingest service's contract test does)
// and records which documented answers the tests produced.
type openAPI struct {
	doc    *openapi3.T
	router routers.Router
	seen   map[string]bool
}

func loadOpenAPI(t *testing.T, f *fixture) *openAPI {
	t.Helper()
	r := call(t, "GET", f.base+"/openapi.json", "")
	if r.status != 200 {
		t.Fatalf("GET /openapi.json: %d", r.status)
	}
	doc, err := openapi3.NewLoader().LoadFromData(r.body)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("/openapi.json is not a valid OpenAPI document: %v", err)
	}
	doc.Servers = nil // match any host
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &openAPI{doc: doc, router: router, seen: map[string]bool{}}
}

// check fails unless the document allows the answer (status, body) to req.
// An answer of 405 to another method is checked against the path's GET,
// which documents it.
func (o *openAPI) check(t *testing.T, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	route, params, err := o.router.FindRoute(req)
	if err != nil && status == http.StatusMethodNotAllowed {
		get := req.Clone(context.Background())
		get.Method = http.MethodGet
		route, params, err = o.router.FindRoute(get)
	}
	if err != nil {
		t.Fatalf("%s %s is not in the OpenAPI document: %v", req.Method, req.URL, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	out.SetBodyBytes(bytes.Clone(body))
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Fatalf("%s %s answered %d %s, which the OpenAPI document does not allow: %v", req.Method, req.URL, status, body, err)
	}
	o.seen[fmt.Sprintf("%s %d", route.Path, status)] = true
}

// covered fails unless every documented answer of every path was seen.
func (o *openAPI) covered(t *testing.T) {
	t.Helper()
	var missing []string
	for path, item := range o.doc.Paths.Map() {
		for _, op := range item.Operations() {
			for status := range op.Responses.Map() {
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
