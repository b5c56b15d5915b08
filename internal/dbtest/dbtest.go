// Package dbtest starts real PostgreSQL and MariaDB servers for tests: private
// instances on free loopback ports, in data directories of their own, run by
// the scripts in e2e/db (postgres.sh, mariadb.sh), which install Debian's
// packages when a server is missing. Each test binary shares one server of
// each kind (started on first use; Stop in TestMain, and the scripts'
// watchdogs stop it when the binary exits, also when it is killed); a test
// that restarts or crashes its server starts one of its own with New*.
//
// Tests read and write through the servers' own command-line clients (psql,
// mariadb), independent of the drivers the pipeline uses. When a server
// cannot be started the test is skipped with the reason, or fails when
// CI=true.
//
// It imports the standard library and goleak; only tests import it.
package dbtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Kind is a database server's product.
type Kind string

const (
	Postgres Kind = "postgres"
	MariaDB  Kind = "mariadb"
)

// Server is one running database server.
type Server struct {
	Kind Kind
	Port int
	// User and Password are a superuser's, over TCP; DSN is theirs to the
	// database app, in the Go driver's form (a postgres:// URL; the mysql
	// driver's user:password@tcp(host:port)/db).
	User, Password string
	DSN            string

	dir       string
	removeDir bool
	mu        sync.Mutex
	running   bool
}

var (
	shared   = map[Kind]*Server{}
	sharedMu sync.Mutex
	errs     = map[Kind]error{}
)

// Shared returns the server of kind shared by this test binary, starting it
// on first use. Tests must not stop it; each should work in a database of
// its own (NewDatabase).
func Shared(t testing.TB, kind Kind) *Server {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if s := shared[kind]; s != nil {
		return s
	}
	if err := errs[kind]; err != nil {
		unavailable(t, kind, err)
	}
	dir, err := tempDir(kind)
	if err == nil {
		var s *Server
		if s, err = launch(kind, dir, true); err == nil {
			shared[kind] = s
			return s
		}
		os.RemoveAll(dir)
	}
	errs[kind] = err
	unavailable(t, kind, err)
	return nil
}

// New starts a server of this test's own, stopped and removed by the test's
// cleanup; Stop, Start and Kill restart or crash it with its data kept.
func New(t testing.TB, kind Kind) *Server {
	t.Helper()
	dir, err := tempDir(kind)
	if err != nil {
		t.Fatal(err)
	}
	s, err := launch(kind, dir, false)
	if err != nil {
		os.RemoveAll(dir)
		unavailable(t, kind, err)
	}
	t.Cleanup(func() {
		s.stop()
		os.RemoveAll(dir)
	})
	return s
}

// StopShared stops the shared servers; for TestMain, after m.Run.
func StopShared() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	for kind, s := range shared {
		s.stop()
		os.RemoveAll(s.dir)
		delete(shared, kind)
	}
}

// tempDir makes the directory of a server's files, open to the server's
// own user (postgres, mysql) when the tests run as root.
func tempDir(kind Kind) (string, error) {
	dir, err := os.MkdirTemp("", "pipeline-"+string(kind))
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	return dir, err
}

func unavailable(t testing.TB, kind Kind, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("real %s server unavailable (CI=true): %v", kind, err)
	}
	t.Skipf("real %s server unavailable: %v", kind, err)
}

func script(kind Kind) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "e2e", "db", string(kind)+".sh")
}

func launch(kind Kind, dir string, removeDir bool) (*Server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "bash", script(kind), "deps").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s deps: %v\n%s", filepath.Base(script(kind)), err, out)
	}
	s := &Server{Kind: kind, dir: filepath.Join(dir, "server"), removeDir: removeDir}
	for attempt := 1; ; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		out, err := s.runScript(ctx, "start", s.dir, strconv.Itoa(port))
		if err == nil {
			break
		}
		s.runScript(ctx, "stop", s.dir)
		if attempt < 3 && strings.Contains(string(out), "already in use") {
			os.RemoveAll(s.dir)
			continue
		}
		return nil, fmt.Errorf("%s start: %v\n%s", filepath.Base(script(kind)), err, out)
	}
	s.running = true
	return s, s.readEnv()
}

func (s *Server) runScript(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "bash", append([]string{script(s.Kind)}, args...)...)
	prefix := map[Kind]string{Postgres: "PG", MariaDB: "MY"}[s.Kind]
	cmd.Env = append(os.Environ(), prefix+"_OWNER_PID="+strconv.Itoa(os.Getpid()))
	if s.removeDir {
		cmd.Env = append(cmd.Env, prefix+"_OWNER_REMOVE_DIR=1")
	}
	return cmd.CombinedOutput()
}

func (s *Server) readEnv() error {
	data, err := os.ReadFile(filepath.Join(s.dir, "server.env"))
	if err != nil {
		return err
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	prefix := map[Kind]string{Postgres: "PG", MariaDB: "MY"}[s.Kind]
	s.Port, _ = strconv.Atoi(env[prefix+"_PORT"])
	s.User, s.Password, s.DSN = env[prefix+"_USER"], env[prefix+"_PASSWORD"], env[prefix+"_DSN"]
	if s.Port == 0 || s.DSN == "" {
		return fmt.Errorf("%s/server.env lacks the port or the DSN", s.dir)
	}
	return nil
}

// Stop shuts the server down cleanly and waits until it has exited.
func (s *Server) Stop(t testing.TB) { s.control(t, "stop") }

// Kill crashes the server (SIGKILL) and waits until it has exited.
func (s *Server) Kill(t testing.TB) { s.control(t, "kill") }

func (s *Server) control(t testing.TB, verb string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if out, err := s.runScript(context.Background(), verb, s.dir); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(script(s.Kind)), verb, err, out)
	}
	s.running = false
}

// Start starts a stopped server again, with its data, on the same port.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if out, err := s.runScript(context.Background(), "start", s.dir); err != nil {
		t.Fatalf("%s start: %v\n%s", filepath.Base(script(s.Kind)), err, out)
	}
	s.running = true
}

func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		s.runScript(context.Background(), "stop", s.dir)
		s.running = false
	}
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// NewDatabase creates an empty database named after the test (and a
// counter) and returns its name and the superuser's DSN to it.
func (s *Server) NewDatabase(t testing.TB) (name, dsn string) {
	t.Helper()
	name = nonIdent.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	name = fmt.Sprintf("t%d_%s", nextDatabase(), strings.Trim(name, "_"))
	s.Exec(t, "", "CREATE DATABASE "+name)
	return name, s.DSNFor(name)
}

var (
	databaseMu sync.Mutex
	databases  int
)

func nextDatabase() int {
	databaseMu.Lock()
	defer databaseMu.Unlock()
	databases++
	return databases
}

// DSNFor is the superuser's DSN to database db.
func (s *Server) DSNFor(db string) string {
	switch s.Kind {
	case Postgres:
		return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", s.User, s.Password, s.Port, db)
	default:
		return fmt.Sprintf("%s:%s@tcp(127.0.0.1:%d)/%s", s.User, s.Password, s.Port, db)
	}
}

// Exec runs SQL statements in database db (empty: the server's default)
// with the server's own client, failing the test on error.
func (s *Server) Exec(t testing.TB, db, sql string) {
	t.Helper()
	if out, err := s.client(db, sql).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s\nSQL: %s", s.Kind, err, out, sql)
	}
}

// TryExec is Exec returning the client's error and output instead of
// failing.
func (s *Server) TryExec(db, sql string) (string, error) {
	out, err := s.client(db, sql).CombinedOutput()
	return string(out), err
}

// Query runs a query with the server's own client and returns its rows,
// each a list of column texts (NULL as "NULL").
func (s *Server) Query(t testing.TB, db, sql string) [][]string {
	t.Helper()
	cmd := s.client(db, sql)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s\nSQL: %s", s.Kind, err, stderr.String(), sql)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "\t"))
		}
	}
	return rows
}

func (s *Server) client(db, sql string) *exec.Cmd {
	var cmd *exec.Cmd
	switch s.Kind {
	case Postgres:
		if db == "" {
			db = "app"
		}
		cmd = exec.Command("psql", "-X", "-q", "-A", "-t", "-F", "\t", "-P", "null=NULL", "-v", "ON_ERROR_STOP=1",
			"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", s.User, "-d", db, "-c", sql)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+s.Password)
	default:
		args := []string{"--no-defaults", "-h", "127.0.0.1", "-P", strconv.Itoa(s.Port), "-u", s.User,
			"-N", "-B", "-e", sql}
		if db != "" {
			args = append(args, db)
		}
		cmd = exec.Command("mariadb", args...)
		cmd.Env = append(os.Environ(), "MYSQL_PWD="+s.Password)
	}
	return cmd
}

// FreePort returns a loopback TCP port free at the moment of the call, for a
// server a test starts.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
