package pgcdc

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// tableName is a captured table.
type tableName struct{ schema, name string }

func parseTableName(s string) (tableName, error) {
	parts := strings.Split(s, ".")
	switch {
	case len(parts) == 1 && parts[0] != "":
		return tableName{"public", parts[0]}, nil
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return tableName{parts[0], parts[1]}, nil
	}
	return tableName{}, fmt.Errorf("%q is not a table name: want table or schema.table", s)
}

func (t tableName) String() string { return t.schema + "." + t.name }

// quoted is the name as SQL: "schema"."table".
func (t tableName) quoted() string { return pgx.Identifier{t.schema, t.name}.Sanitize() }

// publishedTables are the tables of a publication.
func publishedTables(ctx context.Context, conn *pgx.Conn, publication string) ([]tableName, error) {
	rows, err := conn.Query(ctx, `SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1
		ORDER BY schemaname, tablename`, publication)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (tableName, error) {
		var t tableName
		err := r.Scan(&t.schema, &t.name)
		return t, err
	})
}

// primaryKey is the primary key columns of a table, in key order; none
// when it has no primary key.
func primaryKey(ctx context.Context, conn *pgx.Conn, t tableName) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = $1::regclass AND i.indisprimary
		ORDER BY array_position(i.indkey, a.attnum)`, t.quoted())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// tableExists tells whether a table is there.
func tableExists(ctx context.Context, conn *pgx.Conn, t tableName) (bool, error) {
	var ok bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2)`,
		t.schema, t.name).Scan(&ok)
	return ok, err
}
