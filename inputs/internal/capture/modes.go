package capture

// Snapshot modes, as Debezium names them.
const (
	SnapshotInitial     = "initial"      // when no position was committed
	SnapshotNoData      = "no_data"      // never: stream from the log's end at the first start
	SnapshotNever       = "never"        // Debezium's older name of no_data
	SnapshotWhenNeeded  = "when_needed"  // also when the committed position is gone from the server
	SnapshotInitialOnly = "initial_only" // read the tables once and end
)

// SnapshotModes are the values of snapshot_mode, for the spec.
var SnapshotModes = []string{SnapshotInitial, SnapshotNoData, SnapshotNever, SnapshotWhenNeeded, SnapshotInitialOnly}

// SnapshotMode is the mode set, never read as no_data.
func SnapshotMode(set string) string {
	if set == SnapshotNever {
		return SnapshotNoData
	}
	return set
}
