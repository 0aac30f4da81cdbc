package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

type ctxKey int

const keyRequestID ctxKey = iota

// ServeHTTP gives every request an id (Coffer-Request-Id) and routes it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b [12]byte
	rand.Read(b[:])
	id := "req_" + hex.EncodeToString(b[:])
	w.Header().Set("Coffer-Request-Id", id)
	w.Header().Set("Cache-Control", "no-store")
	r = r.WithContext(context.WithValue(r.Context(), keyRequestID, id))
	if p := r.Header.Values("Coffer-Purpose"); len(p) > 1 || len(p) == 1 && len(p[0]) > maxPurposeBytes {
		// Before anything else: such a header is no purpose and reaches no log.
		h.writeError(w, r, coffer.Errorf(coffer.EINVALID, "Coffer-Purpose: one purpose name of at most %d bytes", maxPurposeBytes))
		return
	}
	if h.metrics == nil {
		h.mux.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	h.mux.ServeHTTP(sw, r) // sets r.Pattern
	h.metrics.observe(r.Pattern, sw.status, time.Since(start))
}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(keyRequestID).(string)
	return id
}

// serve adapts a route's handler: on an authenticated route it
// authenticates the bearer token and builds the vault call; every error is
// answered in the API's shape.
func (h *Handler) serve(rt route) http.Handler {
	open := servedSealed[rt.Pattern()]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !open && h.sealed() { // before authentication: a sealed vault decides nothing
			h.writeError(w, r, errSealed)
			return
		}
		var c *vault.Call
		if rt.Auth {
			var err error
			if c, err = h.authenticate(w, r); err != nil {
				h.writeError(w, r, err)
				return
			}
		}
		if err := rt.serve(h, w, r, c); err != nil {
			h.writeError(w, r, err)
		}
	})
}

// authenticate checks the bearer token (an API key or an operator
// session) and returns the call the vault decides on.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (*vault.Call, error) {
	client := ClientIP(r, h.proxies)
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="coffer"`)
		return nil, h.refused(r, client, "no bearer token",
			coffer.Errorf(coffer.EUNAUTHENTICATED, "an Authorization: Bearer <api key> header is required"))
	}
	actor, err := h.identity.Authenticate(r.Context(), token, client)
	if err != nil {
		if coffer.ErrorCode(err) == coffer.EUNAUTHENTICATED {
			w.Header().Set("WWW-Authenticate", `Bearer realm="coffer", error="invalid_token"`)
			return nil, h.refused(r, client, "invalid bearer token", err)
		}
		return nil, err
	}
	return &vault.Call{Actor: actor, Purpose: r.Header.Get("Coffer-Purpose"), RequestID: requestID(r)}, nil
}

// refused audits a 401 (coalesced per source by the vault) and returns
// err, or the audit's failure.
func (h *Handler) refused(r *http.Request, client netip.Addr, reason string, err error) error {
	if aerr := h.identity.RefuseAuthentication(r.Context(), client, requestID(r), reason); aerr != nil {
		return aerr
	}
	return err
}

// maxPurposeBytes bounds Coffer-Purpose: a purpose is a schema name.
const maxPurposeBytes = 64

// routeShape shows a path's first segments only: a path can hold ids.
func routeShape(p string) string {
	parts := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 4)
	if len(parts) > 2 {
		parts = append(parts[:2], "…")
	}
	return "/" + strings.Join(parts, "/")
}

// ClientIP is the address a request comes from: the socket peer, unless
// the peer is a trusted proxy, in which case X-Forwarded-For is read from
// the right, skipping trusted proxies, and the first other address wins.
// A client cannot forge its address by sending X-Forwarded-For itself:
// only entries appended by trusted proxies are believed.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := ap.Addr().Unmap()
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if !isTrusted(addr) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr // a malformed entry: trust nothing beyond the proxy
		}
		hop = hop.Unmap()
		if !isTrusted(hop) {
			return hop
		}
		addr = hop
	}
	return addr
}
