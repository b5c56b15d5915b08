package sqldb

import (
	"errors"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// IsRowError reports whether err is the database refusing a row's data —
// a constraint it violates, a value its column cannot hold — rather than
// the statement, the connection or the server failing: SQLSTATE classes 22
// (data exception) and 23 (integrity constraint violation), and MySQL's
// errors of the same kind that it files under HY000. Such a row fails
// alone, every time; writing it again cannot help.
func IsRowError(err error) bool {
	if err != nil && strings.Contains(err.Error(), "failed to encode args[") {
		// pgx could not encode a value for its column's type: that row's
		// value, refused before it reached the server.
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return len(pg.Code) == 5 && (pg.Code[:2] == "22" || pg.Code[:2] == "23")
	}
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		class := string(my.SQLState[:2])
		if class == "22" || class == "23" {
			return true
		}
		switch my.Number {
		case 1265, // data truncated
			1364, // field has no default value
			1366, // incorrect value for a column
			1292: // incorrect date/time value
			return true
		}
	}
	return false
}

// IsMissingTable reports whether err says that a table does not exist.
func IsMissingTable(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "42P01"
	}
	var my *mysql.MySQLError
	return errors.As(err, &my) && my.Number == 1146
}

// IsAuthError reports whether err is the server refusing the credentials
// (or the user's access to the database): retrying will not help.
func IsAuthError(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "28P01" || pg.Code == "28000" || pg.Code == "3D000"
	}
	var my *mysql.MySQLError
	return errors.As(err, &my) && (my.Number == 1045 || my.Number == 1044 || my.Number == 1049)
}
