package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aegisai/audit/ingest"
	"github.com/aegisai/audit/shared"
)

// parseReceipt reads what verify-receipt is given: the producer's receipt
// (a shared.Receipt), or ingest's 201 answer to a Sealed-mode request (an
// ingest.Created, whose "receipt" member is that receipt). Either is read
// strictly (no unknown member, one JSON value); anything else is refused
// with a message saying which two forms are accepted. Nothing read here is
// trusted: the caller checks the receipt against S3.
func parseReceipt(raw []byte) (*shared.Receipt, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, fmt.Errorf("not a receipt (want a JSON object: the producer's receipt or ingest's 201 answer): %w", err)
	}
	if _, ok := members["format"]; ok {
		if _, ok := members["entries"]; ok {
			return nil, errors.New("this is an evidence bundle (aegis prove), not a receipt: check it with aegis verify-proof")
		}
	}
	if _, ok := members["receipt"]; ok {
		var created ingest.Created
		if err := strictJSON(raw, &created); err != nil {
			return nil, fmt.Errorf("not ingest's 201 answer (event_id, durability, receipt): %w", err)
		}
		if created.Receipt == nil {
			return nil, errors.New(`ingest's answer has no receipt ("receipt": null): only an answer to ?durability=sealed carries one`)
		}
		if created.EventID != created.Receipt.EventID {
			return nil, fmt.Errorf("ingest's answer names event %q but its receipt event %q", created.EventID, created.Receipt.EventID)
		}
		return created.Receipt, nil
	}
	var r shared.Receipt
	if err := strictJSON(raw, &r); err != nil {
		return nil, fmt.Errorf("not a receipt (want the producer's receipt, or ingest's 201 answer with a \"receipt\" member): %w", err)
	}
	return &r, nil
}

// strictJSON decodes one JSON value into v, refusing unknown members and
// anything after the value.
func strictJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

// notABundle says what raw is when it is not an evidence bundle: a file
// without the bundle's "format" member, recognised as what it is where
// possible (a receipt, ingest's answer, a decision from the index). It
// returns nil for anything that claims to be a bundle, which
// shared.VerifyBundle then checks under every rule: a tampered bundle is
// refused with that precise message, never with this one.
func notABundle(raw []byte) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return fmt.Errorf("not an evidence bundle: not a JSON object (aegis prove writes bundles): %w", err)
	}
	if _, ok := members["format"]; ok {
		return nil
	}
	has := func(names ...string) bool {
		for _, n := range names {
			if _, ok := members[n]; !ok {
				return false
			}
		}
		return true
	}
	switch {
	case has("receipt"):
		return errors.New("not an evidence bundle: this is ingest's answer with a receipt; check it with aegis verify-receipt (its --out writes a decision's bundle; aegis prove DECISION writes one with its overrides)")
	case has("event_id", "durability"):
		return errors.New("not an evidence bundle: this is a receipt; check it with aegis verify-receipt (its --out writes a decision's bundle; aegis prove DECISION writes one with its overrides)")
	case has("decision_id", "proof"):
		return errors.New("not an evidence bundle: this is a decision from the index (aegis get --json); aegis prove DECISION-ID writes its bundle")
	}
	return fmt.Errorf("not an evidence bundle: no \"format\" member (a bundle has \"format\":%q; aegis prove writes them)", shared.ProofFormat)
}
