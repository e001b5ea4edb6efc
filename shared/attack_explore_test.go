package shared

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestAttackExploreComplete(t *testing.T) {
	base := completeSeeds[0]
	ov := completeSeeds[1]
	var bodies []string
	for _, ws := range []string{"\f", "\v", "\u00a0", "\u2028", "\u0085", "\x00", "\ufeff", "\u3000", " ", "\t", "\r\n"} {
		bodies = append(bodies,
			ws+base, base+ws, strings.Replace(base, ":", ":"+ws, 1), strings.Replace(base, ",", ws+",", 1),
			strings.Replace(base, `"DE"`, `"DE"`+ws, 1), strings.Replace(base, `{"ip`, `{`+ws+`"ip`, 1))
	}
	bodies = append(bodies,
		"\xef\xbb\xbf"+base, base+"x", base+"{}", base+"\x00", base+",", strings.TrimSuffix(base, "}"),
		strings.Replace(base, `"environment":"bench"`, `"environment":"bench","environment":"bench"`, 1),
		strings.Replace(base, `"ip_country":"DE"`, `"ip_country":"DE","ip_country":"DE"`, 1),
		strings.Replace(base, `"ip_country":"DE"`, `"a":1,"ip_country":"DE","a":1`, 1),
		strings.Replace(base, `"action":"ALLOW"`, `"action":"ALLOW","action":"ALLOW"`, 1),
		strings.Replace(base, `{"environment"`, `{"type":"decision","type":"decision","environment"`, 1),
		strings.Replace(base, `{"environment"`, `{"typ\u0065":"decision","environment"`, 1),
		strings.Replace(base, `{"environment"`, `{"type":"decision","typ\u0065":"decision","environment"`, 1),
		strings.Replace(base, `{"environment"`, `{"event_id":"x","environment"`, 1),
		strings.Replace(base, `{"environment"`, `{"event_id":"","environment"`, 1),
		strings.Replace(base, `{"environment"`, `{"occurred_at":"2026-01-01T00:00:00.000Z","environment"`, 1),
		strings.Replace(base, `{"environment"`, `{"occurred_at":"2026-01-01T00:00:00+00:00","environment"`, 1),
		strings.Replace(base, `{"environment"`, `{"occurred_at":null,"environment"`, 1),
		strings.Replace(base, `{"environment"`, `{"type":null,"environment"`, 1),
		strings.Replace(base, `"ip_country"`, `"type"`, 1),
		strings.Replace(base, `"decision_id"`, `"event_id":"z","decision_id"`, 1),
		strings.Replace(base, `"ip_country":"DE"`, `"ip_country":"D\u0045"`, 1),
		strings.Replace(base, `"ip_country":"DE"`, `"ip_country":"é"`, 1),
		strings.Replace(base, `"ip_country":"DE"`, `"ip_country":"e\u0301"`, 1),
		strings.Replace(base, `"ip_country":"DE"`, `"e\u0301":1,"é":2`, 1),
		strings.Replace(base, `"ip_country":"DE"`, "\"\U0001F600\":1,\"\uffff\":2,\"\ufffd\":3,\"\ue000\":4", 1),
		strings.Replace(base, `"ip_country":"DE"`, "\"\xff\":1", 1),
		strings.Replace(base, `"ip_country":"DE"`, "\"a\":\"\xed\xa0\x80\"", 1),
		strings.Replace(base, `"ip_country":"DE"`, "\"a\":\"\\ud800\"", 1),
		strings.Replace(base, `"ip_country":"DE"`, "\"a\":\"\\u0000\"", 1),
		strings.Replace(base, `"ip_country":"DE"`, "\"a\":\"\x7f\"", 1),
		strings.Replace(base, `129.95`, `1e400`, 1),
		strings.Replace(base, `129.95`, `-0`, 1),
		strings.Replace(base, `129.95`, `999999999999999`, 1),
		strings.Replace(base, `129.95`, `9999999999999999`, 1),
		strings.Replace(base, `129.95`, `0.000001`, 1),
		strings.Replace(base, `129.95`, `0.0000001`, 1),
		strings.Replace(base, `129.95`, `123456789012345.6`, 1),
		strings.Replace(base, `129.95`, `12345678901234.5`, 1),
		strings.Replace(base, `129.95`, `-0.000001`, 1),
		strings.Replace(base, `0.92`, `0.999999999999999`, 1),
		strings.Replace(base, `0.92`, `1.000000000000001`, 1),
		strings.Replace(base, `0.92`, `-0.0`, 1),
		strings.Replace(base, `0.92`, `0`, 1),
		strings.Replace(base, `0.92`, `-0`, 1),
		strings.Replace(base, `0.92`, `"0.5"`, 1),
		ov, strings.Replace(ov, `"x"`, `" "`, 1), strings.Replace(ov, `"x"`, `"\t"`, 1), strings.Replace(ov, `"x"`, "\"\u00a0\"", 1),
		strings.Replace(ov, `"x"`, `"`+strings.Repeat("a", MaxReasonLen)+`"`, 1),
		strings.Replace(ov, `"x"`, `"`+strings.Repeat("a", MaxReasonLen+1)+`"`, 1),
		strings.Replace(ov, `"x"`, `"`+strings.Repeat("é", MaxReasonLen/2)+`"`, 1),
		strings.Replace(ov, `"r"`, `"`+strings.Repeat("r", MaxIDLen)+`"`, 1),
		strings.Replace(ov, `"r"`, `"`+strings.Repeat("r", MaxIDLen+1)+`"`, 1),
		strings.Replace(ov, `"r"`, `" "`, 1),
		strings.Replace(ov, `"r"`, "\"\u00a0\"", 1),
		strings.Replace(ov, `"r"`, "\"\u2028\"", 1),
		strings.Replace(ov, `"prod"`, "\"Prod\"", 1),
		strings.Replace(ov, `"prod"`, "\"pr\u00f6d\"", 1),
		strings.Replace(ov, `"prod"`, "\"\"", 1),
		strings.Replace(ov, `"BLOCK"`, "\"block\"", 1),
		strings.Replace(base, `"metadata":{"ip_country":"DE","amount":129.95}`, `"metadata":{"k":"`+strings.Repeat("a", MaxMetadataBytes-8)+`"}`, 1),
		strings.Replace(base, `"metadata":{"ip_country":"DE","amount":129.95}`, `"metadata":{"k":"`+strings.Repeat("a", MaxMetadataBytes-7)+`"}`, 1),
		strings.Replace(base, `"metadata":{"ip_country":"DE","amount":129.95}`, `"metadata":{"k" : "`+strings.Repeat("a", MaxMetadataBytes-8)+`"}`, 1),
	)
	for n := MaxDepth - 4; n <= MaxDepth; n++ {
		bodies = append(bodies, strings.Replace(base, `"DE"`, strings.Repeat(`{"a":`, n)+"1"+strings.Repeat("}", n), 1))
		bodies = append(bodies, strings.Replace(base, `"DE"`, strings.Repeat(`[ `, n)+strings.Repeat(" ]", n), 1))
	}
	var many strings.Builder
	for i := 200; i > 0; i-- {
		many.WriteString(`"k` + strings.Repeat("z", i%7) + string(rune('a'+i%26)) + `":1,`)
	}
	bodies = append(bodies, strings.Replace(base, `"ip_country":"DE"`, many.String()+`"ip_country":"DE"`, 1))
	bodies = append(bodies, strings.Replace(base, `{"environment"`, `{`+many.String()+`"environment"`, 1))
	d := Defaults{Type: TypeDecision, EventID: "ev", OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.UTC)}
	for i, b := range bodies {
		dd := d
		if strings.Contains(b, `"override"`) {
			dd.Type = TypeOverride
		}
		fast, fr, ok := completeFast([]byte(b), dd)
		strict, sr, err := completeStrict([]byte(b), dd)
		_ = i
		if !ok {
			continue
		}
		if err != nil {
			t.Errorf("%d: fast accepts, strict refuses %v: %q", i, err, b)
			continue
		}
		if !bytes.Equal(fr, sr) || !reflect.DeepEqual(fast, strict) {
			t.Errorf("%d: differ %q\n%s\n%s", i, b, fr, sr)
		}
	}
}
