// Package aggregate is the aggregate processor: it groups records by a key
// expression and folds them into named operations (count, sum, min, max, avg,
// first, last, collect, reduce), either as a running table or per event-time
// window (tumbling, hopping, sliding, session) with grace, emitting on every
// update, once when a window closes, or at the end of a bounded input.
//
// Its state lives in engine-provided stores (statestore shards, one per input
// partition), so the engine commits it together with the input positions.
// It imports engine, config and statestore.
package aggregate
