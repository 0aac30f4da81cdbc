package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// ConnError is a call that did not get an answer from the server: it names
// the address and says why in words, never as a raw Go URL error.
type ConnError struct {
	Addr   string // the base URL called
	Reason string // e.g. "connection refused"
	Err    error  // the underlying error
}

func (e *ConnError) Error() string {
	return fmt.Sprintf("cannot reach the Coffer server at %s: %s", e.Addr, e.Reason)
}

func (e *ConnError) Unwrap() error { return e.Err }

// FingerprintError is a server whose certificate is not the pinned one.
type FingerprintError struct {
	Want, Got string // colon-separated upper-case hex
}

func (e *FingerprintError) Error() string {
	return fmt.Sprintf("the server's TLS certificate has SHA-256 fingerprint %s, not the pinned %s", e.Got, e.Want)
}

// connError wraps an error of the transport (no answer) in a *ConnError.
// A cancelled context is returned as is.
func (c *Client) connError(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	var fe *FingerprintError
	var ue x509.UnknownAuthorityError
	var cv *tls.CertificateVerificationError
	var he x509.HostnameError
	var rh tls.RecordHeaderError
	var dns *net.DNSError
	reason := "no answer"
	switch {
	case errors.As(err, &fe):
		reason = fe.Error()
	case errors.Is(err, syscall.ECONNREFUSED):
		reason = "connection refused (is the server running?)"
	case errors.As(err, &dns):
		reason = "unknown host " + dns.Name
	case errors.As(err, &ue):
		reason = "its TLS certificate is not signed by a trusted authority (a self-signed server: pass --tls-fingerprint or COFFER_TLS_FINGERPRINT)"
	case errors.As(err, &he):
		reason = "its TLS certificate is not for this host name"
	case errors.As(err, &cv):
		reason = "its TLS certificate does not verify (" + cv.Err.Error() + ")"
	case errors.As(err, &rh):
		reason = "it does not speak TLS (try an http:// address)"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		reason = "timed out"
	case errors.Is(err, syscall.ECONNRESET) || strings.Contains(err.Error(), "EOF"):
		reason = "the connection was closed (an https server called over http?)"
	}
	return &ConnError{Addr: c.base, Reason: reason, Err: err}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// parseFingerprint reads a SHA-256 fingerprint in hex, colons, spaces and
// case ignored; "" is no pin.
func parseFingerprint(s string) ([]byte, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	clean := strings.NewReplacer(":", "", " ", "", "-", "").Replace(strings.TrimSpace(s))
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) != sha256.Size {
		return nil, errors.New("TLS fingerprint: want the SHA-256 of the server's certificate, 64 hex digits (colons allowed), as coffer serve prints it")
	}
	return b, nil
}

// formatFingerprint writes a fingerprint as coffer serve prints it.
func formatFingerprint(b []byte) string {
	h := strings.ToUpper(hex.EncodeToString(b))
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// pinned is a TLS configuration that accepts exactly the leaf certificate
// whose SHA-256 is fp (chain and host name are not checked: the pin is).
func pinned(fp []byte) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by VerifyConnection's pin
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return &FingerprintError{Want: formatFingerprint(fp), Got: "(none)"}
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if !bytes.Equal(sum[:], fp) {
				return &FingerprintError{Want: formatFingerprint(fp), Got: formatFingerprint(sum[:])}
			}
			return nil
		},
	}
}
