package mapping_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/processors/internal/proctest"
)

// TestKafkaConnectTransformsAsMaps: each single-message transform Kafka
// Connect users reach for is one map (the README's "Databases" section
// lists them): InsertField, ReplaceField (rename, exclude), MaskField,
// Cast, ValueToKey + ExtractField.
func TestKafkaConnectTransformsAsMaps(t *testing.T) {
	in := withKey("k", proctest.JSON(`{"id":7,"amount":"19.90","qty":"3","card":"4111-1111","internal":true}`))
	in[0].Timestamp = 1767323045123
	h := proctest.New(in)
	h.MustRun(t, proctest.Pipeline(`- map:
    set:
      partition: meta.partition           # InsertField partition.field
      offset: meta.offset                 # InsertField offset.field
      event_ms: timestamp                 # InsertField timestamp.field
      source: '"orders-db"'               # InsertField static.field / static.value
      read_ms: unix_ms(now())             # the read time, as Kafka Connect's read_ts
      total: value.amount                 # ReplaceField renames: amount -> total
      card: '""'                          # MaskField: a string's empty value
      qty: int(value.qty)                 # Cast qty:int64
      amount_f: float(value.amount)       # Cast amount:float64
      id_s: string(value.id)              # Cast id:string
    delete: [amount, internal]            # ReplaceField exclude (and the renamed field)
    key: value.id                         # ValueToKey fields=id + ExtractField$Key field=id`))
	out := h.Out("collect")
	if len(out) != 1 {
		t.Fatalf("%d records out", len(out))
	}
	got := out[0].Value
	if out[0].Key != "7" {
		t.Errorf("key %q, want 7", out[0].Key)
	}
	for _, want := range []string{`"card":""`, `"event_ms":1767323045123`, `"id":7`, `"id_s":"7"`, `"qty":3`,
		`"amount_f":19.9`, `"source":"orders-db"`, `"total":"19.90"`, `"offset":0`, `"partition":"`} {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %s", got, want)
		}
	}
	for _, gone := range []string{`"amount":`, `"internal"`} {
		if strings.Contains(got, gone) {
			t.Errorf("%s still has %s", got, gone)
		}
	}
	decoded := h.Decoded("collect")[0].(map[string]any)
	readMS, _ := decoded["read_ms"].(int64)
	if d := time.Since(time.UnixMilli(readMS)); d < 0 || d > time.Minute {
		t.Errorf("read_ms %v is not the read time", decoded["read_ms"])
	}
}
