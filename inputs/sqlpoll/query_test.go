package sqlpoll

import (
	"fmt"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/internal/sqldb"
)

// TestPollSQLIsKafkaConnects pins each mode's SQL: Kafka Connect's
// JDBC source's WHERE and ORDER BY, with bound parameters only.
func TestPollSQLIsKafkaConnects(t *testing.T) {
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	upper := t1.Add(time.Hour)
	at := cursor{set: true, ts: t1, inc: 42}
	tests := []struct {
		driver sqldb.Driver
		spec   pollSpec
		src    source
		sql    string
		args   []any
	}{
		{sqldb.Postgres, pollSpec{mode: modeBulk}, source{table: "orders"}, `SELECT * FROM "orders"`, nil},
		{sqldb.Postgres, pollSpec{mode: modeIncrementing, incColumn: "id"}, source{table: "app.orders"},
			`SELECT * FROM "app"."orders" ORDER BY "id" ASC`, nil},
		{sqldb.Postgres, pollSpec{mode: modeIncrementing, incColumn: "id", from: at}, source{table: "orders"},
			`SELECT * FROM "orders" WHERE "id" > $1::int8 ORDER BY "id" ASC`, []any{int64(42)}},
		{sqldb.MySQL, pollSpec{mode: modeIncrementing, incColumn: "id", from: at}, source{table: "orders"},
			"SELECT * FROM `orders` WHERE `id` > ? ORDER BY `id` ASC", []any{int64(42)}},
		{sqldb.Postgres, pollSpec{mode: modeTimestamp, tsColumns: []string{"updated_at"}, from: at, upper: upper}, source{table: "orders"},
			`SELECT * FROM "orders" WHERE "updated_at" > $1 AND "updated_at" < $2 ORDER BY "updated_at" ASC`, []any{t1, upper}},
		{sqldb.MySQL, pollSpec{mode: modeTimestamp, tsColumns: []string{"modified", "created"}, from: at, upper: upper}, source{table: "orders"},
			"SELECT * FROM `orders` WHERE COALESCE(`modified`, `created`) > ? AND COALESCE(`modified`, `created`) < ? ORDER BY COALESCE(`modified`, `created`) ASC",
			[]any{t1, upper}},
		{sqldb.Postgres, pollSpec{mode: modeTimestamp, tsColumns: []string{"updated_at"}, upper: upper}, source{table: "orders"},
			`SELECT * FROM "orders" WHERE "updated_at" < $1 ORDER BY "updated_at" ASC`, []any{upper}},
		{sqldb.MySQL, pollSpec{mode: modeTimestampIncrementing, tsColumns: []string{"updated_at"}, incColumn: "id", from: at, upper: upper}, source{table: "orders"},
			"SELECT * FROM `orders` WHERE `updated_at` < ? AND ((`updated_at` = ? AND `id` > ?) OR `updated_at` > ?) ORDER BY `updated_at`, `id` ASC",
			[]any{upper, t1, int64(42), t1}},
		{sqldb.Postgres, pollSpec{mode: modeTimestampIncrementing, tsColumns: []string{"updated_at"}, incColumn: "id", from: at, upper: upper},
			source{query: "SELECT * FROM orders WHERE status <> 'TEST'"},
			`SELECT * FROM (SELECT * FROM orders WHERE status <> 'TEST') pipeline_query WHERE "updated_at" < $1 AND (("updated_at" = $2 AND "id" > $3::int8) OR "updated_at" > $4) ORDER BY "updated_at", "id" ASC`,
			[]any{upper, t1, int64(42), t1}},
		{sqldb.Postgres, pollSpec{mode: modeTimestampIncrementing, tsColumns: []string{"updated_at"}, incColumn: "id", upper: upper, initialSince: t1},
			source{table: "orders"},
			`SELECT * FROM "orders" WHERE "updated_at" < $1 AND "updated_at" > $2 ORDER BY "updated_at", "id" ASC`, []any{upper, t1}},
		{sqldb.Postgres, pollSpec{mode: modeIncrementing, incColumn: `we"ird`, from: at}, source{table: `my"table`},
			`SELECT * FROM "my""table" WHERE "we""ird" > $1::int8 ORDER BY "we""ird" ASC`, []any{int64(42)}},
	}
	for _, tt := range tests {
		tt.src.driver = tt.driver
		q := tt.src.poll(tt.spec)
		if q.sql != tt.sql {
			t.Errorf("%s %s:\n got %s\nwant %s", tt.driver, tt.spec.mode, q.sql, tt.sql)
		}
		if fmt.Sprint(q.args) != fmt.Sprint(tt.args) {
			t.Errorf("%s %s: args %v, want %v", tt.driver, tt.spec.mode, q.args, tt.args)
		}
	}
}

func TestUpperBoundIsCutToTheColumnsPrecision(t *testing.T) {
	now := time.Date(2026, 1, 2, 10, 0, 0, 700_123_456, time.UTC)
	for _, tt := range []struct {
		delay     time.Duration
		precision int
		want      string
	}{
		{0, 0, "2026-01-02T10:00:00Z"},
		{0, 3, "2026-01-02T10:00:00.7Z"},
		{0, 6, "2026-01-02T10:00:00.700123Z"},
		{0, -1, "2026-01-02T10:00:00.700123456Z"},
		{2 * time.Second, 0, "2026-01-02T09:59:58Z"},
		{0, dayPrecision, "2026-01-02T00:00:00Z"},
	} {
		if got := upperBound(now, tt.delay, tt.precision).Format(time.RFC3339Nano); got != tt.want {
			t.Errorf("delay %v precision %d: %s, want %s", tt.delay, tt.precision, got, tt.want)
		}
	}
}

func TestCursorPositionsRoundTrip(t *testing.T) {
	c := cursor{set: true, ts: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), inc: 9007199254740993}
	for _, mode := range []string{modeIncrementing, modeTimestamp, modeTimestampIncrementing} {
		p := c.position(mode)
		back, err := cursorOf(mode, p)
		if err != nil {
			t.Fatal(err)
		}
		if usesTimestamp(mode) && !back.ts.Equal(c.ts) || usesIncrementing(mode) && back.inc != c.inc {
			t.Errorf("%s: %s read back as %s", mode, p, back)
		}
	}
	if got := c.position(modeTimestampIncrementing).String(); got != `{"timestamp":"2026-01-02T03:04:05.123456Z","incrementing":9007199254740993}` {
		t.Errorf("position %s", got)
	}
	if _, err := cursorOf(modeTimestampIncrementing, c.position(modeIncrementing)); err == nil {
		t.Error("a position of mode incrementing was taken by mode timestamp+incrementing")
	}
}
