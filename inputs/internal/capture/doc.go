// Package capture holds the machinery the change-data-capture inputs
// (postgres_cdc, mysql_cdc) share around their database work: the
// goroutine that runs a session, connects again after a failure that
// connecting again may mend and stops at one it cannot (Fatal); the hand-off
// of batches to Read; the failure Ready reports; a snapshot's batching; and
// the parts of a position both keep (the rows a snapshot handed on, the
// changes of a transaction handed on).
//
// It knows nothing of any database, nor of the change events (cdcevent).
// It imports engine only.
package capture
