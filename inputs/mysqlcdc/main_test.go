package mysqlcdc

import (
	"testing"

	"github.com/pipelinehq/pipeline/internal/dbtest"
)

// TestMain stops the shared MariaDB and fails the run when a test left a
// goroutine behind.
func TestMain(m *testing.M) { dbtest.Main(m) }
