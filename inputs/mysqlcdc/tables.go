package mysqlcdc

import (
	"fmt"
	"strings"
)

// tableName is a captured table.
type tableName struct{ db, name string }

func parseTableName(s, defaultDB string) (tableName, error) {
	parts := strings.Split(s, ".")
	switch {
	case len(parts) == 1 && parts[0] != "" && defaultDB != "":
		return tableName{defaultDB, parts[0]}, nil
	case len(parts) == 1 && parts[0] != "":
		return tableName{}, fmt.Errorf("%q names no database, and neither does the DSN: write database.table", s)
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return tableName{parts[0], parts[1]}, nil
	}
	return tableName{}, fmt.Errorf("%q is not a table name: want table or database.table", s)
}

func (t tableName) String() string { return t.db + "." + t.name }

// quoted is the name as SQL: `db`.`table`.
func (t tableName) quoted() string { return quoteIdent(t.db) + "." + quoteIdent(t.name) }

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
