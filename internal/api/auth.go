package api

import (
	"encoding/json"
	"net/http"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

// Sessions of operators: password with TOTP or WebAuthn. The handlers
// decode and pass everything on: the vault's login checks every factor,
// the TOTP code's format included, and audits every refusal.

func (h *Handler) login(w http.ResponseWriter, r *http.Request, _ *vault.Call) error {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
		TOTP     string `json:"totp"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	token, expires, err := h.identity.Login(r.Context(), req.Username, req.Password, req.TOTP, ClientIP(r, h.proxies), requestID(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": token, "expires_at": expires})
	return nil
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	if err := h.identity.Logout(r.Context(), c); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
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

func (h *Handler) webauthnLoginBegin(w http.ResponseWriter, r *http.Request, _ *vault.Call) error {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	opts, err := h.identity.BeginWebAuthnLogin(r.Context(), req.Username, req.Password, ClientIP(r, h.proxies), requestID(r))
	if err != nil {
		return err
	}
	writeRawJSON(w, http.StatusOK, opts)
	return nil
}

func (h *Handler) webauthnLoginFinish(w http.ResponseWriter, r *http.Request, _ *vault.Call) error {
	var req struct {
		Username   string          `json:"username"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if len(req.Credential) == 0 {
		return coffer.Errorf(coffer.EINVALID, "credential: required (the PublicKeyCredential from navigator.credentials.get)")
	}
	token, expires, err := h.identity.FinishWebAuthnLogin(r.Context(), req.Username, req.Credential, ClientIP(r, h.proxies), requestID(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": token, "expires_at": expires})
	return nil
}
