package sqlsink

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/pipelinehq/pipeline/internal/dbtest"
)

// TestMain stops the shared database servers and fails the run when a
// test left a goroutine behind.
func TestMain(m *testing.M) {
	code := m.Run()
	dbtest.StopShared()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
