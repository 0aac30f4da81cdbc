package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cofferhq/coffer"
)

// errUnavailable is what every call answers while the database cannot be
// reached (SPEC §7: 503 unavailable with Retry-After).
const unavailableMsg = "the database cannot be reached: retry later"

// unavailable classifies err: a connection failure (refused, reset, the
// server shutting down or starting up, a connection lost mid-statement)
// becomes EUNAVAILABLE, anything else is returned as it is. The store
// layer classifies, so that no handler has to know a driver.
func unavailable(err error) error {
	if err == nil || !connFailure(err) {
		return err
	}
	return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: unavailableMsg, Err: err}
}

func connFailure(err error) bool {
	var ce *coffer.Error
	if errors.As(err, &ce) || errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P01-03: admin or crash
		// shutdown, cannot connect now (starting up); 53300: too many
		// connections.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "53300"
	}
	var conn *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &conn), errors.As(err, &ne), pgconn.Timeout(err), pgconn.SafeToRetry(err),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	// pgx reports a connection it closed after a failure by text only.
	return strings.Contains(err.Error(), "conn closed")
}
