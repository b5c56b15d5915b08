package capture

import (
	"errors"
	"fmt"
)

// fatal marks a failure that connecting again cannot mend: a setting to
// change, a table that is not there, a position the server no longer has.
type fatal struct{ error }

func (f fatal) Unwrap() error { return f.error }

// Fatal marks err as one that ends the capture.
func Fatal(err error) error { return fatal{err} }

// Fatalf is Fatal(fmt.Errorf(format, args...)).
func Fatalf(format string, args ...any) error { return fatal{fmt.Errorf(format, args...)} }

// IsFatal reports whether err, or an error it wraps, is marked fatal.
func IsFatal(err error) bool {
	var f fatal
	return errors.As(err, &f)
}

// Unmark is err without its fatal mark, as the user is shown it.
func Unmark(err error) error {
	var f fatal
	if errors.As(err, &f) {
		return f.error
	}
	return err
}
