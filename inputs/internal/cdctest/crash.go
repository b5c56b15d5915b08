package cdctest

import (
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/engine"
)

// Crash is what ServerCrashMidStream needs of a server of its own, holding
// an empty table t (id int primary key).
type Crash struct {
	// Stream is a started input of t (snapshot_mode no_data, row
	// envelope) once it streams.
	Stream func(t *testing.T) engine.Input
	Exec   func(t testing.TB, sql string)
	Kill   func(t testing.TB) // SIGKILL, as a crash
	Start  func(t testing.TB) // the server again, on the same data
}

// ServerCrashMidStream kills the server while the input streams and
// starts it again: the input reconnects from what it handed on, the
// changes after the crash come once and none before it again, and Ready
// reports the lost server, then nothing once it is back.
func ServerCrashMidStream(t *testing.T, c Crash) {
	t.Helper()
	in := c.Stream(t)
	c.Exec(t, "INSERT INTO t VALUES (1), (2)")
	if recs, _ := Read(t, in, 2, ""); Keys(recs) != `{"id":1} {"id":2}` {
		t.Fatalf("before the crash: %s", Describe(recs))
	}
	c.Kill(t)
	WaitFor(t, func() bool { return readiness(in) != nil }, "Ready to report the lost server")
	c.Start(t)
	c.Exec(t, "INSERT INTO t VALUES (3); INSERT INTO t VALUES (4)")
	if recs, _ := Read(t, in, 2, ""); Keys(recs) != `{"id":3} {"id":4}` {
		t.Fatalf("after the crash: %s", Describe(recs))
	}
	ReadNothing(t, in, time.Second)
	if err := readiness(in); err != nil {
		t.Errorf("Ready after the server came back: %v", err)
	}
}
