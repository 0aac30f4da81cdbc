package client

import (
	"context"
	"net/http"
	"time"
)

// TokenValue is one value to tokenize.
type TokenValue struct {
	Value  string `json:"value"`
	Format string `json:"format"` // random (tok_…) or card (digits, last 4 kept)
}

// Tokenize is a tokenization request (up to 1000 values).
type Tokenize struct {
	Values        []TokenValue
	Namespace     string // default "default"
	Deterministic bool   // same value, same token (in the namespace)
	TTL           time.Duration
	CardKeepBIN   int // card tokens: keep the first 0, 6 or 8 digits
	// Subject, when set, ties the tokens to a customer: erasing the
	// subject deletes them. Tokens with neither a subject nor a TTL live
	// until revoked.
	Subject string
}

// Tokens are the calls on /v1/tokens.
type Tokens struct{ c *Client }

// Tokens returns the token-vault calls.
func (c *Client) Tokens() Tokens { return Tokens{c} }

// Tokenize returns one token per value, in order.
func (t Tokens) Tokenize(ctx context.Context, req Tokenize) ([]string, error) {
	toks, _, err := t.TokenizeVersion(ctx, req)
	return toks, err
}

// TokenizeVersion is Tokenize that also returns, for a deterministic
// tokenization, the version of the namespace's deterministic-token key
// used (its current one; 0 for random tokens). After a rotation
// (Keys.RotateNamedKey "token_namespace") a value gets another token;
// tokens of older versions keep detokenizing.
func (t Tokens) TokenizeVersion(ctx context.Context, req Tokenize) ([]string, uint32, error) {
	body := map[string]any{"values": req.Values, "deterministic": req.Deterministic, "card_keep_bin": req.CardKeepBIN}
	if req.Namespace != "" {
		body["namespace"] = req.Namespace
	}
	if req.TTL > 0 {
		body["ttl"] = req.TTL.String()
	}
	if req.Subject != "" {
		body["subject"] = req.Subject
	}
	var out struct {
		Tokens  []string `json:"tokens"`
		Version uint32   `json:"version"`
	}
	err := t.c.do(ctx, request{method: http.MethodPost, path: path("tokens"), in: body}, &out)
	return out.Tokens, out.Version, err
}

// Detokenize returns one value per token, in order; purpose is audited.
func (t Tokens) Detokenize(ctx context.Context, purpose string, tokens []string) ([]string, error) {
	var out struct {
		Values []string `json:"values"`
	}
	err := t.c.do(ctx, request{method: http.MethodPost, path: path("tokens", "detokenize"), purpose: purpose,
		in: map[string]any{"tokens": tokens}}, &out)
	return out.Values, err
}

// Revoke revokes a token: it never detokenizes again.
func (t Tokens) Revoke(ctx context.Context, token string) error {
	return t.c.do(ctx, request{method: http.MethodDelete, path: path("tokens", token)}, nil)
}

// FPERequest is a format-preserving encryption or decryption request.
type FPERequest struct {
	Key       string   `json:"key"`
	Algorithm string   `json:"algorithm,omitempty"` // ff1 or ff3-1
	Alphabet  string   `json:"alphabet,omitempty"`
	Tweak     string   `json:"tweak,omitempty"` // hex
	Values    []string `json:"values"`
	// Version is, to decrypt, the key version the values were encrypted
	// under (what Encrypt answered); 0: the current one. Encrypt takes none.
	Version uint32 `json:"version,omitempty"`
}

// FPEResult is the values of an FPE call and the version of the named key
// they were encrypted or decrypted under.
type FPEResult struct {
	Values  []string `json:"values"`
	Version uint32   `json:"version"`
}

// FPE are the vaultless format-preserving encryption calls (/v1/fpe).
type FPE struct{ c *Client }

// FPE returns the format-preserving encryption calls.
func (c *Client) FPE() FPE { return FPE{c} }

// Encrypt returns one ciphertext per value, in order, under the key's
// current version (which the result names: keep it to decrypt).
func (f FPE) Encrypt(ctx context.Context, req FPERequest) (*FPEResult, error) {
	return f.call(ctx, "encrypt", "", req)
}

// Decrypt returns one plaintext per value, in order, under req.Version
// (default the current one); purpose is audited.
func (f FPE) Decrypt(ctx context.Context, purpose string, req FPERequest) (*FPEResult, error) {
	return f.call(ctx, "decrypt", purpose, req)
}

func (f FPE) call(ctx context.Context, verb, purpose string, req FPERequest) (*FPEResult, error) {
	var out FPEResult
	if err := f.c.do(ctx, request{method: http.MethodPost, path: path("fpe", verb), purpose: purpose, in: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
