package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestFetchErrorIsFatal(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tt := range []struct {
		err   error
		fatal bool
	}{
		{fmt.Errorf("unable to dial: %w", refused), false},
		{&kgo.ErrGroupSession{Err: fmt.Errorf("unable to dial: %w", refused)}, false},
		{kerr.NotLeaderForPartition, false},
		{kerr.CoordinatorLoadInProgress, false},
		{&kgo.ErrGroupSession{Err: kerr.UnknownTopicOrPartition}, false},
		{kgo.ErrClientClosed, true},
		{&kgo.ErrGroupSession{Err: kerr.SaslAuthenticationFailed}, true},
		{kerr.TopicAuthorizationFailed, true},
		{&kgo.ErrGroupSession{Err: kerr.GroupAuthorizationFailed}, true},
		{&kgo.ErrGroupSession{Err: kerr.FencedInstanceID}, true},
		{fmt.Errorf("dialing: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), true},
	} {
		if got := fetchErrorIsFatal(tt.err); got != tt.fatal {
			t.Errorf("fetchErrorIsFatal(%v) = %v, want %v", tt.err, got, tt.fatal)
		}
	}
}
