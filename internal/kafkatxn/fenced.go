package kafkatxn

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// FencedError is a session's error once another producer with the same
// transactional id has taken over: nothing this session does can commit any
// more, so the instance must stop rather than start over.
type FencedError struct{ Err error }

func (e *FencedError) Error() string {
	return "fenced: " + e.Err.Error()
}
func (e *FencedError) Unwrap() error { return e.Err }

// Fenced marks the error for the engine, which stops instead of rewinding.
func (e *FencedError) Fenced() bool { return true }

// isFenced tells whether err is a *FencedError.
func isFenced(err error) bool {
	var f *FencedError
	return errors.As(err, &f)
}

// fenced marks the broker's fencing answers as a *FencedError.
func fenced(err error) error {
	var already *FencedError
	if err == nil || errors.As(err, &already) {
		return err
	}
	if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		return &FencedError{Err: err}
	}
	return err
}
