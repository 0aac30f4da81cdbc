package client

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Session is an operator session: Token is used as a Config.Token.
type Session struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Auth are the operator log-in calls (/v1/auth).
type Auth struct{ c *Client }

// Auth returns the log-in calls.
func (c *Client) Auth() Auth { return Auth{c} }

// Login logs in with password and TOTP code.
func (a Auth) Login(ctx context.Context, username, password, totp string) (*Session, error) {
	return a.session(ctx, request{method: http.MethodPost, path: path("auth", "login"),
		in: map[string]string{"username": username, "password": password, "totp": totp}})
}

// Enroll sets a new operator's password with the enrollment token (no
// bearer token) and returns the otpauth URI of the TOTP seed to scan.
func (a Auth) Enroll(ctx context.Context, token, password string) (string, error) {
	var out struct {
		TOTPURI string `json:"totp_uri"`
	}
	err := a.c.do(ctx, request{method: http.MethodPost, path: path("enroll"), in: map[string]string{"token": token, "password": password}}, &out)
	return out.TOTPURI, err
}

// ConfirmEnrollment confirms a TOTP code of the seed Enroll returned; the
// operator is active from then on and the link is used up.
func (a Auth) ConfirmEnrollment(ctx context.Context, token, totp string) error {
	return a.c.do(ctx, request{method: http.MethodPost, path: path("enroll", "confirm"), in: map[string]string{"token": token, "totp": totp}}, nil)
}

// Logout ends the calling operator's session.
func (a Auth) Logout(ctx context.Context) error {
	return a.c.do(ctx, request{method: http.MethodPost, path: path("auth", "logout")}, nil)
}

// WebAuthnRegisterBegin returns the credential creation options for the
// calling operator's new security key.
func (a Auth) WebAuthnRegisterBegin(ctx context.Context) (json.RawMessage, error) {
	var out []byte
	err := a.c.do(ctx, request{method: http.MethodPost, path: path("auth", "webauthn", "register", "begin")}, &out)
	return out, err
}

// WebAuthnRegisterFinish sends the PublicKeyCredential from
// navigator.credentials.create.
func (a Auth) WebAuthnRegisterFinish(ctx context.Context, credential json.RawMessage) error {
	return a.c.do(ctx, request{method: http.MethodPost, path: path("auth", "webauthn", "register", "finish"),
		in: map[string]any{"credential": credential}}, nil)
}

// WebAuthnLoginBegin checks the password and returns the assertion options.
func (a Auth) WebAuthnLoginBegin(ctx context.Context, username, password string) (json.RawMessage, error) {
	var out []byte
	err := a.c.do(ctx, request{method: http.MethodPost, path: path("auth", "webauthn", "login", "begin"),
		in: map[string]string{"username": username, "password": password}}, &out)
	return out, err
}

// WebAuthnLoginFinish sends the assertion from navigator.credentials.get
// and opens a session.
func (a Auth) WebAuthnLoginFinish(ctx context.Context, username string, credential json.RawMessage) (*Session, error) {
	return a.session(ctx, request{method: http.MethodPost, path: path("auth", "webauthn", "login", "finish"),
		in: map[string]any{"username": username, "credential": credential}})
}

func (a Auth) session(ctx context.Context, req request) (*Session, error) {
	var out Session
	if err := a.c.do(ctx, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
