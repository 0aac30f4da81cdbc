package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/vault"
)

// Config is what the API needs besides the vault.
type Config struct {
	Version      string
	MaxBodyBytes int64             // default 1 MiB
	AuditKey     ed25519.PublicKey // verifies the signed audit head
	Logger       *slog.Logger
	OpenAPI      []byte // served at /openapi.json
	// Metrics, when set, receives the API's metrics and is served at
	// /metrics (Prometheus text format).
	Metrics *prometheus.Registry
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// PrivacyNotice is the public privacy notice (HTML) served at /privacy,
	// rendered from the data inventory; nil: 404.
	PrivacyNotice []byte
}

// Handler serves the /v1 API.
type Handler struct {
	records  recordService
	tokens   tokenService
	privacy  privacyService
	identity identityService
	admin    adminService
	sealed   func() bool
	log      *slog.Logger
	maxBody  int64
	version  string
	auditKey ed25519.PublicKey
	openapi  []byte
	notice   []byte
	mux      *http.ServeMux
	metrics  *metrics
	patterns []string // the routes, for the OpenAPI coverage test
	proxies  []netip.Prefix
}

func (h *Handler) handle(pattern string, handler http.Handler) {
	h.patterns = append(h.patterns, pattern)
	h.mux.Handle(pattern, handler)
}

// Patterns returns every route pattern served ("GET /v1/health", …).
func (h *Handler) Patterns() []string { return h.patterns }

// New returns the API handler.
func New(v *vault.Vault, c Config) *Handler {
	h := &Handler{log: c.Logger, maxBody: c.MaxBodyBytes, version: c.Version, auditKey: c.AuditKey, openapi: c.OpenAPI, notice: c.PrivacyNotice,
		mux: http.NewServeMux(), proxies: c.TrustedProxies}
	if v != nil {
		h.records, h.tokens, h.privacy, h.identity, h.admin, h.sealed = v.Records, v.Tokens, v.Privacy, v.Identity, v.Admin, v.Sealed
	}
	if h.maxBody <= 0 {
		h.maxBody = 1 << 20
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if c.Metrics != nil {
		h.metrics = newMetrics(c.Metrics)
		h.handle("GET /metrics", metricsHandler(c.Metrics))
	}
	h.handle("GET /v1/health", http.HandlerFunc(h.health))
	h.handle("GET /openapi.json", http.HandlerFunc(h.openAPI))
	h.handle("GET /privacy", http.HandlerFunc(h.privacyNotice))

	h.handle("GET /v1/schema", h.auth(h.getSchema))
	h.handle("PUT /v1/schema", h.auth(h.putSchema))
	h.handle("POST /v1/collections/{c}/records", h.auth(h.createRecord))
	h.handle("POST /v1/collections/{c}/records/batch", h.auth(h.createBatch))
	h.handle("GET /v1/collections/{c}/records/{id}", h.auth(h.getRecord))
	h.handle("PATCH /v1/collections/{c}/records/{id}", h.auth(h.patchRecord))
	h.handle("DELETE /v1/collections/{c}/records/{id}", h.auth(h.deleteRecord))
	h.handle("POST /v1/collections/{c}/search", h.auth(h.search))
	h.handle("GET /v1/audit", h.auth(h.listAudit))
	h.handle("POST /v1/audit/verify", h.auth(h.verifyAudit))
	h.handle("POST /v1/api-keys", h.auth(h.createKey))
	h.handle("POST /v1/operators", h.auth(h.createOperator))
	h.handle("GET /v1/operators", h.auth(h.listOperators))
	h.handle("POST /v1/operators/{u}/lock", h.auth(h.lockOperator(true)))
	h.handle("POST /v1/operators/{u}/unlock", h.auth(h.lockOperator(false)))
	h.handle("POST /v1/operators/{u}/acknowledge-policy", h.auth(h.acknowledgePolicy))
	h.handle("POST /v1/operators/{u}/training", h.auth(h.recordTraining))
	h.handle("GET /v1/security-policy", h.auth(h.securityPolicy))
	h.handle("POST /v1/auth/login", http.HandlerFunc(h.login))
	h.handle("POST /v1/auth/logout", h.auth(h.logout))
	h.handle("POST /v1/auth/webauthn/register/begin", h.auth(h.webauthnRegisterBegin))
	h.handle("POST /v1/auth/webauthn/register/finish", h.auth(h.webauthnRegisterFinish))
	h.handle("POST /v1/auth/webauthn/login/begin", http.HandlerFunc(h.webauthnLoginBegin))
	h.handle("POST /v1/auth/webauthn/login/finish", http.HandlerFunc(h.webauthnLoginFinish))
	h.handle("GET /v1/api-keys", h.auth(h.listKeys))
	h.handle("DELETE /v1/api-keys/{id}", h.auth(h.revokeKey))
	h.privacyRoutes()
	h.tokenRoutes()
	h.subjectRoutes(v)
	h.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, coffer.Errorf(coffer.ENOTFOUND, "no such API call: %s %s", r.Method, routeShape(r.URL.Path)))
	})
	return h
}

// routeShape shows a path's first segments only: a path can hold ids.
func routeShape(p string) string {
	parts := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 4)
	if len(parts) > 2 {
		parts = append(parts[:2], "…")
	}
	return "/" + strings.Join(parts, "/")
}

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyActor
)

// ServeHTTP gives every request an id (Coffer-Request-Id) and routes it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b [12]byte
	rand.Read(b[:])
	id := "req_" + hex.EncodeToString(b[:])
	w.Header().Set("Coffer-Request-Id", id)
	w.Header().Set("Cache-Control", "no-store")
	r = r.WithContext(context.WithValue(r.Context(), keyRequestID, id))
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

type authedFunc func(w http.ResponseWriter, r *http.Request, c *vault.Call) error

// auth authenticates the bearer token, builds the vault call and answers
// errors in the API's shape.
func (h *Handler) auth(fn authedFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="coffer"`)
			h.writeError(w, r, coffer.Errorf(coffer.EUNAUTHENTICATED, "an Authorization: Bearer <api key> header is required"))
			return
		}
		actor, err := h.identity.Authenticate(r.Context(), token, ClientIP(r, h.proxies))
		if err != nil {
			if coffer.ErrorCode(err) == coffer.EUNAUTHENTICATED {
				w.Header().Set("WWW-Authenticate", `Bearer realm="coffer", error="invalid_token"`)
			}
			h.writeError(w, r, err)
			return
		}
		c := &vault.Call{Actor: actor, Purpose: r.Header.Get("Coffer-Purpose"), RequestID: requestID(r)}
		if err := fn(w, r, c); err != nil {
			h.writeError(w, r, err)
		}
	})
}

func (h *Handler) health(w http.ResponseWriter, r *http.Request) {
	status := "ok"
	if h.sealed() {
		status = "sealed"
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": status, "sealed": h.sealed(), "version": h.version})
}

// privacyNotice serves the public privacy notice (no authentication: it
// is for customers).
func (h *Handler) privacyNotice(w http.ResponseWriter, r *http.Request) {
	if h.notice == nil {
		h.writeError(w, r, coffer.Errorf(coffer.ENOTFOUND, "no privacy notice: set inventory in the configuration"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(h.notice)
}

func (h *Handler) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(h.openapi)
}

func (h *Handler) getSchema(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	doc, err := h.admin.SchemaDocument(r.Context(), c)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(doc)
	return nil
}

func (h *Handler) putSchema(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	if _, err := h.admin.PutSchema(r.Context(), c, body); err != nil {
		return err
	}
	return h.getSchema(w, r, c)
}

type createRequest struct {
	Subject  string                         `json:"subject"`
	Fields   map[string]json.RawMessage     `json:"fields"`
	Consents map[string]coffer.ConsentGrant `json:"consents"`
}

func (h *Handler) createRecord(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req createRequest
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if req.Fields == nil {
		return coffer.Errorf(coffer.EINVALID, "fields: required")
	}
	out, err := h.records.Create(r.Context(), c, r.PathValue("c"), []coffer.NewRecord{{Subject: req.Subject, Fields: req.Fields, Consents: req.Consents}})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out[0])
	return nil
}

func (h *Handler) createBatch(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		Records []createRequest `json:"records"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	recs := make([]coffer.NewRecord, len(req.Records))
	for i, x := range req.Records {
		if x.Fields == nil {
			return coffer.Errorf(coffer.EINVALID, "records[%d].fields: required", i)
		}
		recs[i] = coffer.NewRecord{Subject: x.Subject, Fields: x.Fields, Consents: x.Consents}
	}
	out, err := h.records.Create(r.Context(), c, r.PathValue("c"), recs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"records": out})
	return nil
}

func (h *Handler) getRecord(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	rec, err := h.records.Get(r.Context(), c, r.PathValue("c"), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

func (h *Handler) patchRecord(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		Fields map[string]json.RawMessage `json:"fields"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	rec, err := h.records.Update(r.Context(), c, r.PathValue("c"), r.PathValue("id"), req.Fields)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

func (h *Handler) deleteRecord(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	if err := h.records.Delete(r.Context(), c, r.PathValue("c"), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) search(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		Where map[string]json.RawMessage `json:"where"`
		Limit int                        `json:"limit"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	recs, err := h.records.Search(r.Context(), c, r.PathValue("c"), req.Where, req.Limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": recs})
	return nil
}

func (h *Handler) listAudit(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	q := r.URL.Query()
	f := coffer.AuditFilter{Actor: q.Get("actor"), Subject: q.Get("subject"), Desc: true}
	var err error
	parseTime := func(name string) time.Time {
		v := q.Get(name)
		if v == "" || err != nil {
			return time.Time{}
		}
		t, perr := time.Parse(time.RFC3339Nano, v)
		if perr != nil {
			err = coffer.Errorf(coffer.EINVALID, "%s: an RFC 3339 time such as 2026-01-02T15:04:05Z", name)
		}
		return t
	}
	f.Since, f.Until = parseTime("since"), parseTime("until")
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"limit", nil}, {"after", &f.AfterSeq}} {
		v := q.Get(p.name)
		if v == "" || err != nil {
			continue
		}
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || n < 0 {
			err = coffer.Errorf(coffer.EINVALID, "%s: a non-negative integer", p.name)
			continue
		}
		if p.dst == nil {
			f.Limit = int(min(n, 1<<30))
		} else {
			*p.dst = n
		}
	}
	if err != nil {
		return err
	}
	entries, err := h.admin.Audit(r.Context(), c, f)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []*coffer.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
	return nil
}

func (h *Handler) verifyAudit(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	n, err := h.admin.VerifyAudit(r.Context(), c, h.auditKey)
	var f *audit.Failure
	if errors.As(err, &f) {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "entries": n, "first_bad_seq": f.Seq, "reason": f.Reason})
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "entries": n})
	return nil
}

func (h *Handler) createKey(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		Name         string   `json:"name"`
		Role         string   `json:"role"`
		AllowedCIDRs []string `json:"allowed_cidrs"`
		ExpiresIn    string   `json:"expires_in"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	nk := vault.NewAPIKey{Name: req.Name, Role: req.Role, AllowedCIDRs: req.AllowedCIDRs}
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return coffer.Errorf(coffer.EINVALID, "expires_in: a positive duration such as 720h")
		}
		nk.ExpiresIn = d
	}
	id, key, err := h.identity.CreateAPIKey(r.Context(), c, nk)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": id, "key": key})
	return nil
}

func (h *Handler) revokeKey(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	if err := h.identity.RevokeAPIKey(r.Context(), c, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// apiKeyView is an API key as listed: never its hash.
type apiKeyView struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Role         string     `json:"role"`
	AllowedCIDRs []string   `json:"allowed_cidrs"`
	CreatedAt    time.Time  `json:"created_at"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt   *time.Time `json:"last_used_at,omitempty"`
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (h *Handler) listKeys(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	keys, err := h.identity.APIKeys(r.Context(), c)
	if err != nil {
		return err
	}
	out := make([]apiKeyView, 0, len(keys))
	for _, k := range keys {
		cidrs := k.AllowedCIDRs
		if cidrs == nil {
			cidrs = []string{}
		}
		out = append(out, apiKeyView{ID: k.ID, Name: k.Name, Role: k.Role, AllowedCIDRs: cidrs, CreatedAt: k.CreatedAt,
			ExpiresAt: timeOrNil(k.ExpiresAt), RevokedAt: timeOrNil(k.RevokedAt), LastUsedAt: timeOrNil(k.LastUsedAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
	return nil
}

func (h *Handler) createOperator(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Role     string `json:"role"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	uri, err := h.identity.CreateOperator(r.Context(), c, req.Username, req.Password, req.Role)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"username": req.Username, "totp_uri": uri})
	return nil
}

type operatorView struct {
	Username      string     `json:"username"`
	Role          string     `json:"role"`
	MFAEnrolled   bool       `json:"mfa_enrolled"`
	Locked        bool       `json:"locked"`
	LockedUntil   *time.Time `json:"locked_until,omitempty"`
	PolicyVersion string     `json:"policy_version"`
	TrainedAt     *time.Time `json:"trained_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
}

func (h *Handler) listOperators(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	ops, err := h.identity.Operators(r.Context(), c)
	if err != nil {
		return err
	}
	out := make([]operatorView, 0, len(ops))
	for _, o := range ops {
		out = append(out, operatorView{Username: o.Username, Role: o.Role, MFAEnrolled: o.MFAEnrolled, Locked: o.Locked,
			LockedUntil: timeOrNil(o.LockedUntil), PolicyVersion: o.PolicyVersion, TrainedAt: timeOrNil(o.TrainedAt), CreatedAt: o.CreatedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"operators": out})
	return nil
}

func (h *Handler) lockOperator(locked bool) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
		if err := h.identity.SetOperatorLock(r.Context(), c, r.PathValue("u"), locked); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (h *Handler) acknowledgePolicy(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		Version string `json:"version"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if err := h.identity.AcknowledgePolicy(r.Context(), c, r.PathValue("u"), req.Version); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) securityPolicy(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	p := h.identity.Policy()
	writeJSON(w, http.StatusOK, map[string]string{"version": p.Version, "text": p.Text})
	return nil
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
		TOTP     string `json:"totp"`
	}
	if err := h.decode(w, r, &req); err != nil {
		h.writeError(w, r, err)
		return
	}
	if len(req.TOTP) != 6 || strings.Trim(req.TOTP, "0123456789") != "" {
		h.writeError(w, r, coffer.Errorf(coffer.EINVALID, "totp: the 6-digit code of the authenticator app"))
		return
	}
	token, expires, err := h.identity.Login(r.Context(), req.Username, req.Password, req.TOTP, ClientIP(r, h.proxies), requestID(r))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": token, "expires_at": expires})
}

// writeRawJSON answers with a JSON document built elsewhere (WebAuthn
// ceremony options).
func writeRawJSON(w http.ResponseWriter, status int, doc []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(doc)
}

func (h *Handler) webauthnRegisterBegin(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	opts, err := h.identity.BeginWebAuthnRegistration(r.Context(), c)
	if err != nil {
		return err
	}
	writeRawJSON(w, http.StatusOK, opts)
	return nil
}

func (h *Handler) webauthnRegisterFinish(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		Credential json.RawMessage `json:"credential"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if len(req.Credential) == 0 {
		return coffer.Errorf(coffer.EINVALID, "credential: required (the PublicKeyCredential from navigator.credentials.create)")
	}
	if err := h.identity.FinishWebAuthnRegistration(r.Context(), c, req.Credential); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) webauthnLoginBegin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := h.decode(w, r, &req); err != nil {
		h.writeError(w, r, err)
		return
	}
	opts, err := h.identity.BeginWebAuthnLogin(r.Context(), req.Username, req.Password, ClientIP(r, h.proxies), requestID(r))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeRawJSON(w, http.StatusOK, opts)
}

func (h *Handler) webauthnLoginFinish(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username   string          `json:"username"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := h.decode(w, r, &req); err != nil {
		h.writeError(w, r, err)
		return
	}
	if len(req.Credential) == 0 {
		h.writeError(w, r, coffer.Errorf(coffer.EINVALID, "credential: required (the PublicKeyCredential from navigator.credentials.get)"))
		return
	}
	token, expires, err := h.identity.FinishWebAuthnLogin(r.Context(), req.Username, req.Credential, ClientIP(r, h.proxies), requestID(r))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": token, "expires_at": expires})
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	if err := h.identity.Logout(r.Context(), c); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) recordTraining(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		CompletedAt string `json:"completed_at"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	var at time.Time
	if req.CompletedAt != "" {
		var err error
		if at, err = time.Parse(time.RFC3339, req.CompletedAt); err != nil {
			return coffer.Errorf(coffer.EINVALID, "completed_at: an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
	}
	if err := h.identity.RecordTraining(r.Context(), c, r.PathValue("u"), at); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
