// Package engine is the core of pipeline: the record and batch types, the
// component interfaces and the registry that knows them, expressions, building
// a processor graph from a config, and running it with end-to-end acks, source
// positions, bounded in-flight work, commits and drain.
//
// A run (runner, run.go) is put together from parts with one job each:
//
//	intake.go       read loops; a batch takes an in-flight place, is read, and is handed to its task through the intake gate
//	barrier.go      the in-flight cap (max_in_flight) and the intake gate, whose waits honour their contexts
//	tasks.go        one task per partition of an input, a stage per top-level processor
//	dispatch.go     routes to outputs, dead letters, and the ack that resolves a batch once every write of it is done
//	writers.go      one writer per output, with retries, or asynchronous writes
//	rejects.go      records an output rejects one by one: dead-lettered, or the run stops
//	drain.go        the end of a run: the drain, and abandoning it after shutdown_timeout
//	ready.go        whether a running pipeline can make progress (/ready)
//	positions.go    the position tracker: per partition, the position below which everything was written
//	offsets.go      positions the engine keeps in state.dir, and resuming inputs from them
//	commit.go       the commit protocol (commitProtocol) and the commit loop
//	commit_alo.go   at least once: positions and state committed after the outputs wrote
//	commit_eos.go   exactly once: outputs, changelogs and positions in one transaction
//	lifecycle.go    what a run started or opened, and closing exactly that
//	transactions.go the contract with transactional components (Kafka)
//	state.go        stores asked for at build time, and the state database
//	state_open.go   opening it, and what a run does with state found corrupt: restore it from the changelogs, or refuse
//
// Components (inputs, processors, outputs) import engine and config; engine
// imports config and statestore, and never a component. The engine alone
// owns commits: a component hands records on and reports errors, and learns
// nothing of checkpoints or transactions (a transactional output is handed
// a writer into the open transaction, never the session).
package engine
