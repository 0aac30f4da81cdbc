package client

import (
	"context"
	"net/http"
	"time"
)

// NewAPIKey is an API key to create.
type NewAPIKey struct {
	Name         string        // what the key is for
	Role         string        // a role of the schema
	AllowedCIDRs []string      // client networks allowed (none: any)
	ExpiresIn    time.Duration // 0: no expiry
}

// CreatedAPIKey is a new key: Key is shown once.
type CreatedAPIKey struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// APIKey is an API key as listed (never its hash).
type APIKey struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Role         string     `json:"role"`
	AllowedCIDRs []string   `json:"allowed_cidrs"`
	CreatedAt    time.Time  `json:"created_at"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt   *time.Time `json:"last_used_at,omitempty"`
}

// APIKeys are the API-key calls (/v1/api-keys; admin).
type APIKeys struct{ c *Client }

// APIKeys returns the API-key calls.
func (c *Client) APIKeys() APIKeys { return APIKeys{c} }

// Create creates a key.
func (k APIKeys) Create(ctx context.Context, nk NewAPIKey) (*CreatedAPIKey, error) {
	body := map[string]any{"name": nk.Name, "role": nk.Role}
	if len(nk.AllowedCIDRs) > 0 {
		body["allowed_cidrs"] = nk.AllowedCIDRs
	}
	if nk.ExpiresIn > 0 {
		body["expires_in"] = nk.ExpiresIn.String()
	}
	var out CreatedAPIKey
	if err := k.c.do(ctx, request{method: http.MethodPost, path: path("api-keys"), in: body}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// List lists the keys.
func (k APIKeys) List(ctx context.Context) ([]*APIKey, error) {
	var out struct {
		Keys []*APIKey `json:"keys"`
	}
	err := k.c.do(ctx, request{method: http.MethodGet, path: path("api-keys")}, &out)
	return out.Keys, err
}

// Revoke revokes a key.
func (k APIKeys) Revoke(ctx context.Context, id string) error {
	return k.c.do(ctx, request{method: http.MethodDelete, path: path("api-keys", id)}, nil)
}
