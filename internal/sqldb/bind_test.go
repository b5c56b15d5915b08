package sqldb

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestBindRefusesWhatTheColumnWouldChange(t *testing.T) {
	id := Column{Name: "id", Type: "bigint", Scale: -1}
	amount := Column{Name: "amount", Type: "numeric", Scale: 2}
	at := Column{Name: "at", Type: "timestamp with time zone", Scale: -1}
	text := Column{Name: "t", Type: "text", Scale: -1}
	for _, tt := range []struct {
		v    any
		c    Column
		want string
	}{
		{int64(7), id, "7"},
		{1.0, id, "1"},
		{1.5, id, "error: column id is bigint: 1.5 is not an integer"},
		{json.Number("12345678901234567890"), id, "12345678901234567890"},
		{"19.90", amount, "19.90"},
		{19.9, amount, "19.9"},
		{json.Number("19.999"), amount, "error: column amount is numeric with 2 decimals: 19.999 would be rounded"},
		{"1e-3", amount, "error: column amount is numeric with 2 decimals: 1e-3 would be rounded"},
		{1.5e3, amount, "1500"},
		{"2026-01-02T03:04:05.5+02:00", at, "2026-01-02 01:04:05.5 +0000 UTC"},
		{"2026-01-02T03:04:05Z", text, "2026-01-02T03:04:05Z"},
		{map[string]any{"a": int64(1)}, text, `{"a":1}`},
		{nil, amount, "<nil>"},
		{int64(1767323045123), at, "2026-01-02 03:04:05.123 +0000 UTC"},
		{int64(1767323045123), id, "1767323045123"},
	} {
		got, err := Bind(tt.v, tt.c)
		s := fmt.Sprint(got)
		if tt, ok := got.(time.Time); ok {
			s = tt.String()
		}
		if err != nil {
			s = "error: " + err.Error()
		}
		if !strings.HasPrefix(s, tt.want) {
			t.Errorf("Bind(%v, %s): %s, want %s", tt.v, tt.c.Type, s, tt.want)
		}
	}
}
