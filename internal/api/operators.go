package api

import (
	"net/http"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

func (h *Handler) createOperator(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		Username string `json:"username"`
		Role     string `json:"role"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	en, err := h.identity.CreateOperator(r.Context(), c, req.Username, req.Role)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"username": req.Username, "enrollment_url": enrollmentURL(r, en.Token), "expires_at": en.ExpiresAt})
	return nil
}

// enrollmentURL is the link for token on the address the admin called.
func enrollmentURL(r *http.Request, token string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return vault.EnrollmentLink(scheme+"://"+r.Host, token)
}

// enroll and confirmEnrollment take no bearer token: the enrollment token
// is the credential (refusals audited and throttled by the vault).
func (h *Handler) enroll(w http.ResponseWriter, r *http.Request, _ *vault.Call) error {
	var req struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	uri, err := h.identity.Enroll(r.Context(), req.Token, req.Password, ClientIP(r, h.proxies), requestID(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"totp_uri": uri})
	return nil
}

func (h *Handler) confirmEnrollment(w http.ResponseWriter, r *http.Request, _ *vault.Call) error {
	var req struct {
		Token string `json:"token"`
		TOTP  string `json:"totp"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if err := h.identity.ConfirmEnrollment(r.Context(), req.Token, req.TOTP, ClientIP(r, h.proxies), requestID(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// operatorView is an operator as listed: never its password hash or TOTP
// secret.
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

func (h *Handler) lockOperator(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	return h.setLock(w, r, c, true)
}

func (h *Handler) unlockOperator(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	return h.setLock(w, r, c, false)
}

func (h *Handler) setLock(w http.ResponseWriter, r *http.Request, c *vault.Call, locked bool) error {
	if err := h.identity.SetOperatorLock(r.Context(), c, r.PathValue("u"), locked); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
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

func (h *Handler) securityPolicy(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	p := h.identity.Policy()
	writeJSON(w, http.StatusOK, map[string]string{"version": p.Version, "text": p.Text})
	return nil
}
