package dbtest

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// Database is a fresh database on a server, with the driver name a
// pipeline config takes for it (postgres, mysql).
type Database struct {
	Server *Server
	Name   string
	DSN    string
	Driver string
}

// Database creates a fresh database on s (NewDatabase).
func (s *Server) Database(t testing.TB) Database {
	t.Helper()
	name, dsn := s.NewDatabase(t)
	driver := "postgres"
	if s.Kind == MariaDB {
		driver = "mysql"
	}
	return Database{Server: s, Name: name, DSN: dsn, Driver: driver}
}

// ForEach runs f as a subtest on a fresh database of each shared server,
// PostgreSQL and MariaDB.
func ForEach(t *testing.T, f func(t *testing.T, db Database)) {
	for _, kind := range []Kind{Postgres, MariaDB} {
		t.Run(string(kind), func(t *testing.T) { f(t, Shared(t, kind).Database(t)) })
	}
}

// IsPostgres tells the dialect.
func (d Database) IsPostgres() bool { return d.Server.Kind == Postgres }

// Pick is the statement for this database's dialect.
func (d Database) Pick(postgres, mysql string) string {
	if d.IsPostgres() {
		return postgres
	}
	return mysql
}

// Exec runs SQL in the database with the server's own client.
func (d Database) Exec(t testing.TB, sql string) { t.Helper(); d.Server.Exec(t, d.Name, sql) }

// Rows runs a query with the server's own client: its rows, one line each,
// columns joined by |.
func (d Database) Rows(t testing.TB, sql string) string {
	t.Helper()
	var lines []string
	for _, row := range d.Server.Query(t, d.Name, sql) {
		lines = append(lines, strings.Join(row, "|"))
	}
	return strings.Join(lines, "\n")
}

// Main runs a package's tests, stops the shared servers and fails the run
// when a test left a goroutine behind: a TestMain of packages that use
// servers.
func Main(m *testing.M) {
	code := m.Run()
	StopShared()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
