package sqlpoll

import (
	"testing"
)

// TestTypesAreFaithful reads one row of many types from each server and
// compares the record's JSON whole: decimals keep their digits, integers
// their every digit, timestamps their zone and microseconds, NULL is null,
// bytes are base64.
func TestTypesAreFaithful(t *testing.T) {
	forEachDB(t, func(t *testing.T, db testDB) {
		if db.IsPostgres() {
			db.Exec(t, `CREATE TABLE typed (id bigint PRIMARY KEY, dec numeric(20,4), big bigint, small smallint, f4 real, f8 double precision,
				flag boolean, txt text, bin bytea, js jsonb, ts timestamp(6), tstz timestamptz, d date, missing text);
				INSERT INTO typed VALUES (1, 12345678901234.5600, 9223372036854775807, -32768, 0.1, 0.1, true, 'naïve "quoted"',
				'\x00ff10', '{"n": 12345678901234567890, "s": "x"}', '2026-01-02 03:04:05.123456', '2026-01-02 03:04:05.5+02', '2026-01-02', NULL)`)
		} else {
			db.Exec(t, "CREATE TABLE typed (id BIGINT PRIMARY KEY, `dec` DECIMAL(20,4), big BIGINT, small SMALLINT, f4 FLOAT, f8 DOUBLE, "+
				"flag BOOLEAN, txt TEXT, bin VARBINARY(8), js JSON, ts DATETIME(6), tstz TIMESTAMP(1), d DATE, missing TEXT, ubig BIGINT UNSIGNED); "+
				"INSERT INTO typed VALUES (1, 12345678901234.5600, 9223372036854775807, -32768, 0.1, 0.1, true, 'naïve \"quoted\"', "+
				"X'00ff10', '{\"n\": 12345678901234567890, \"s\": \"x\"}', '2026-01-02 03:04:05.123456', '2026-01-02 01:04:05.5', '2026-01-02', NULL, 18446744073709551615)")
		}
		// MariaDB's JSON is LONGTEXT under another name, and its BOOLEAN
		// TINYINT(1): the driver cannot tell them, so they come as text
		// and 0/1.
		want := map[bool]string{
			true: `1={"big":9223372036854775807,"bin":"AP8Q","d":"2026-01-02","dec":"12345678901234.5600","f4":0.1,"f8":0.1,"flag":true,` +
				`"id":1,"js":{"n":12345678901234567890,"s":"x"},"missing":null,"small":-32768,"ts":"2026-01-02T03:04:05.123456Z",` +
				`"tstz":"2026-01-02T01:04:05.5Z","txt":"naïve \"quoted\""}`,
			false: `1={"big":9223372036854775807,"bin":"AP8Q","d":"2026-01-02","dec":"12345678901234.5600","f4":0.1,"f8":0.1,"flag":1,` +
				`"id":1,"js":"{\"n\": 12345678901234567890, \"s\": \"x\"}","missing":null,"small":-32768,"ts":"2026-01-02T03:04:05.123456Z",` +
				`"tstz":"2026-01-02T01:04:05.5Z","txt":"naïve \"quoted\"","ubig":18446744073709551615}`,
		}[db.IsPostgres()]
		in := started(t, db, "table: typed\nmode: bulk\n")
		if got := values(t, readBatches(t, in, 1)[0].Records); got != want {
			t.Errorf("got\n%s\nwant\n%s", got, want)
		}

		// numeric_mapping: number keeps the digits as a JSON number.
		num := started(t, db, "table: typed\nmode: bulk\nnumeric_mapping: number\ntimestamp_format: epoch_ms\n")
		rec := readBatches(t, num, 1)[0].Records[0]
		got, _ := rec.Bytes()
		for _, part := range []string{`"dec":12345678901234.5600`, `"ts":1767323045123`, `"tstz":1767315845500`} {
			if !contains(string(got), part) {
				t.Errorf("number/epoch_ms: %s lacks %s", got, part)
			}
		}
	})
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
