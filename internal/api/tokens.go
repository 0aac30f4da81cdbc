package api

import (
	"encoding/hex"
	"net/http"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

func (h *Handler) tokenize(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		Values []struct {
			Value  string `json:"value"`
			Format string `json:"format"`
		} `json:"values"`
		Namespace     string `json:"namespace"`
		Deterministic bool   `json:"deterministic"`
		TTL           string `json:"ttl"`
		CardKeepBIN   int    `json:"card_keep_bin"`
		Subject       string `json:"subject"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	tr := vault.TokenizeRequest{Namespace: req.Namespace, Deterministic: req.Deterministic, CardKeepBIN: req.CardKeepBIN, Subject: req.Subject}
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			return coffer.Errorf(coffer.EINVALID, "ttl: a positive duration such as 720h")
		}
		tr.TTL = d
	}
	tr.Values = make([]vault.TokenValue, len(req.Values))
	for i, v := range req.Values {
		tr.Values[i] = vault.TokenValue{Value: v.Value, Format: v.Format}
	}
	toks, version, err := h.tokens.TokenizeVersion(r.Context(), c, tr)
	if err != nil {
		return err
	}
	out := map[string]any{"tokens": toks}
	if req.Deterministic {
		out["version"] = version // of the namespace's deterministic-token key
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (h *Handler) detokenize(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		Tokens []string `json:"tokens"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	vals, err := h.tokens.Detokenize(r.Context(), c, req.Tokens)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"values": vals})
	return nil
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	if err := h.tokens.Revoke(r.Context(), c, r.PathValue("t")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) fpeEncrypt(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	return h.fpe(w, r, c, false)
}

func (h *Handler) fpeDecrypt(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	return h.fpe(w, r, c, true)
}

func (h *Handler) fpe(w http.ResponseWriter, r *http.Request, c *vault.Call, decrypt bool) error {
	var req struct {
		Key       string   `json:"key"`
		Algorithm string   `json:"algorithm"`
		Alphabet  string   `json:"alphabet"`
		Tweak     string   `json:"tweak"`
		Values    []string `json:"values"`
		Version   *uint32  `json:"version"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	fr := vault.FPERequest{Key: req.Key, Algorithm: req.Algorithm, Alphabet: req.Alphabet, Values: req.Values}
	if req.Version != nil {
		if *req.Version == 0 {
			return coffer.Errorf(coffer.EINVALID, "version: a version of the key (1 or more; omit it for the current one)")
		}
		fr.Version = *req.Version
	}
	if req.Tweak != "" {
		t, err := hex.DecodeString(req.Tweak)
		if err != nil {
			return coffer.Errorf(coffer.EINVALID, "tweak: hexadecimal bytes (FF1: at most 256; FF3-1: exactly 7)")
		}
		fr.Tweak = t
	}
	out, err := h.tokens.FPE(r.Context(), c, fr, decrypt)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"values": out.Values, "version": out.Version})
	return nil
}
