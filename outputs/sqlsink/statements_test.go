package sqlsink

import (
	"testing"

	"github.com/pipelinehq/pipeline/internal/sqldb"
)

func TestStatements(t *testing.T) {
	pg := statements{driver: sqldb.Postgres, table: `"public"."customers"`, columns: []string{"id", "name", "tier"}, keys: []string{"id"}}
	my := statements{driver: sqldb.MySQL, table: "`customers`", columns: []string{"id", "name", "tier"}, keys: []string{"id"}}
	both := statements{driver: sqldb.Postgres, table: `"t"`, columns: []string{"a", "b"}, keys: []string{"a", "b"}}
	for _, tt := range []struct{ got, want string }{
		{pg.insert(2), `INSERT INTO "public"."customers" ("id", "name", "tier") VALUES ($1, $2, $3), ($4, $5, $6)`},
		{pg.upsert(1), `INSERT INTO "public"."customers" ("id", "name", "tier") VALUES ($1, $2, $3) ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "tier" = EXCLUDED."tier"`},
		{my.upsert(2), "INSERT INTO `customers` (`id`, `name`, `tier`) VALUES (?, ?, ?), (?, ?, ?) ON DUPLICATE KEY UPDATE `name` = VALUES(`name`), `tier` = VALUES(`tier`)"},
		{pg.delete(3), `DELETE FROM "public"."customers" WHERE "id" IN ($1, $2, $3)`},
		{my.delete(2), "DELETE FROM `customers` WHERE `id` IN (?, ?)"},
		{both.upsert(1), `INSERT INTO "t" ("a", "b") VALUES ($1, $2) ON CONFLICT ("a", "b") DO NOTHING`},
		{both.delete(2), `DELETE FROM "t" WHERE ("a", "b") IN (($1, $2), ($3, $4))`},
	} {
		if tt.got != tt.want {
			t.Errorf("\n got %s\nwant %s", tt.got, tt.want)
		}
	}
}
