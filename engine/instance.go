package engine

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
)

// instanceName is what tells this running instance of a pipeline from the
// others, on this host and elsewhere, and stays the same across its
// restarts: <name>-<host>-<8 hex digits of the absolute state directory>.
// Two instances cannot share a state directory (the store is locked), so
// two on one host differ by it; in a container the host name is the pod's.
// It is the default transactional id and the stem of a kafka input's
// default group instance id.
func instanceName(pipeline, stateDir string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "0"
	}
	if abs, err := filepath.Abs(stateDir); err == nil {
		stateDir = abs
	}
	sum := sha256.Sum256([]byte(stateDir))
	return pipeline + "-" + host + "-" + fmt.Sprintf("%x", sum[:4])
}
