package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// post sends a JSON body, with a bearer token when token is not "".
func post(h http.Handler, path, token string, body any) *httptest.ResponseRecorder {
	b, _ := json.Marshal(body)
	req := httptest.NewRequest("POST", path, strings.NewReader(string(b)))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// enrollOverHTTP creates an operator as admin and enrolls it through the
// link as the operator would; it returns the TOTP secret.
func enrollOverHTTP(t *testing.T, h http.Handler, admin, username, password, role string) string {
	t.Helper()
	rec := post(h, "/v1/operators", admin, map[string]string{"username": username, "role": role})
	var created struct {
		EnrollmentURL string    `json:"enrollment_url"`
		ExpiresAt     time.Time `json:"expires_at"`
	}
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &created) != nil {
		t.Fatalf("create operator: %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "totp") || strings.Contains(rec.Body.String(), "password") {
		t.Fatalf("the admin sees a secret of the operator: %s", rec.Body)
	}
	_, token, ok := strings.Cut(created.EnrollmentURL, "#token=")
	if !ok || time.Until(created.ExpiresAt) < 71*time.Hour {
		t.Fatalf("enrollment link: %s", rec.Body)
	}
	rec = post(h, "/v1/enroll", "", map[string]string{"token": token, "password": password})
	var en struct {
		TOTPURI string `json:"totp_uri"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &en) != nil {
		t.Fatalf("enroll: %d %s", rec.Code, rec.Body)
	}
	u, _ := url.Parse(en.TOTPURI)
	secret := u.Query().Get("secret")
	code, _ := totp.GenerateCode(secret, time.Now())
	if rec = post(h, "/v1/enroll/confirm", "", map[string]string{"token": token, "totp": code}); rec.Code != http.StatusNoContent {
		t.Fatalf("confirm: %d %s", rec.Code, rec.Body)
	}
	if rec = post(h, "/v1/enroll/confirm", "", map[string]string{"token": token, "totp": code}); rec.Code != http.StatusNotFound {
		t.Fatalf("the link works twice: %d %s", rec.Code, rec.Body)
	}
	return secret
}

// TestEnrollOverHTTP (issue 15.5): POST /v1/operators answers a link, not
// a seed; /v1/enroll and /v1/enroll/confirm take no bearer token; a bogus
// token is refused with 404.
func TestEnrollOverHTTP(t *testing.T) {
	v, admin := newVault(t)
	h := New(v, Config{})
	enrollOverHTTP(t, h, admin, "erin", "a quiet harbour at dawn", "support")
	if rec := post(h, "/v1/enroll", "", map[string]string{"token": "cofe_bogus", "password": "a quiet harbour at dawn"}); rec.Code != http.StatusNotFound {
		t.Fatalf("a bogus enrollment token: %d %s", rec.Code, rec.Body)
	}
	if rec := post(h, "/v1/operators", admin, map[string]string{"username": "frank", "password": "chosen by the admin", "role": "support"}); rec.Code != http.StatusBadRequest {
		t.Fatalf("an admin-chosen password is not refused: %d %s", rec.Code, rec.Body)
	}
}
