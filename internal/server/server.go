// Package server assembles the HTTP server: security headers, cross-origin
// protection, timeouts, TLS and graceful shutdown. It knows nothing of the
// routes it serves.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Config configures the server.
type Config struct {
	TLS    *tls.Config // nil: plain HTTP (loopback only; the caller checks)
	Logger *slog.Logger
}

// Handler wraps h with the headers and protections every response gets.
func Handler(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if r.TLS != nil {
			hd.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		h.ServeHTTP(w, r)
	}))
}

// Serve serves h on ln until ctx is done, then shuts down gracefully,
// letting requests in flight finish for up to 10 seconds.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, c Config) error {
	srv := &http.Server{
		Handler:           Handler(h),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10, // a bearer token and a few short headers; nothing a caller may pile up
		TLSConfig:         c.TLS,
	}
	if c.Logger != nil {
		srv.ErrorLog = slog.NewLogLogger(c.Logger.Handler(), slog.LevelWarn)
	}
	errc := make(chan error, 1)
	go func() {
		if c.TLS != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

// IsLoopback reports whether a listen address only accepts local
// connections ("127.0.0.1:8750", "[::1]:0", "localhost:8750").
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
