package client

import (
	"context"
	"net/http"
	"net/url"
)

// Keys are the key-rotation calls (/v1/sys/keys; admin).
type Keys struct{ c *Client }

// Keys returns the key-rotation calls.
func (c *Client) Keys() Keys { return Keys{c} }

// KeyVersion is one KEK version: whether it is current, held by the
// server and exported, and how many keys of each kind ("subject_deks",
// "token_keys") it wraps.
type KeyVersion struct {
	Version  uint32           `json:"version"`
	Current  bool             `json:"current"`
	Held     bool             `json:"held"`
	Exported bool             `json:"exported"`
	Wrapped  map[string]int64 `json:"wrapped"`
}

// KeyStatus is the server's KEK versions and the state of its background
// re-wrap ("idle", "running", "waiting" for another node's job lock,
// "done", "failed"); RewrapElsewhere: another node re-wraps now.
type KeyStatus struct {
	Versions        []KeyVersion `json:"versions"`
	Rewrap          string       `json:"rewrap"`
	Rewrapped       int          `json:"rewrapped"`
	RewrapElsewhere bool         `json:"rewrap_elsewhere"`
	Derived         *DerivedKeys `json:"derived"`
	NamedKeys       []NamedKey   `json:"named_keys"`
}

// NamedKey is an FPE key ("fpe_key") or a token namespace's
// deterministic-token key ("token_namespace") rotated at least once, with
// its current version (every other name is at version 1).
type NamedKey struct {
	Kind           string `json:"kind"`
	Name           string `json:"name"`
	Current        uint32 `json:"current"`
	DerivedVersion uint32 `json:"derived_version"`
}

// DerivedKeys is the derived-key root: each version with the records
// whose blind index is under it, and the re-index ("idle", "running",
// "waiting", "done", "failed"); searches ask every version from
// SearchFrom on.
type DerivedKeys struct {
	Versions []struct {
		Version uint32 `json:"version"`
		Current bool   `json:"current"`
		Records int64  `json:"records"`
	} `json:"versions"`
	Reindex          string `json:"reindex"`
	Reindexed        int    `json:"reindexed"`
	SearchFrom       uint32 `json:"search_from"`
	ReindexElsewhere bool   `json:"reindex_elsewhere"`
}

// Status returns the KEK versions and what each wraps; with wait, after
// the running re-wrap ended (or ctx did).
func (k Keys) Status(ctx context.Context, wait bool) (*KeyStatus, error) {
	var out KeyStatus
	var q url.Values
	if wait {
		q = url.Values{"wait": {"true"}}
	}
	if err := k.c.do(ctx, request{method: http.MethodGet, path: path("sys", "keys"), query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Rotate adds a KEK version and starts the background re-wrap; it returns
// the new version. Status says when the re-wrap is done. With rewrapOnly
// it adds no version and only restarts the re-wrap (after one was
// interrupted by a seal or a restart).
func (k Keys) Rotate(ctx context.Context, rewrapOnly bool) (uint32, error) {
	var out struct {
		Version uint32 `json:"version"`
	}
	err := k.c.do(ctx, request{method: http.MethodPost, path: path("sys", "keys", "rotate"),
		in: map[string]bool{"rewrap_only": rewrapOnly}}, &out)
	return out.Version, err
}

// RotateDerived adds a derived-key root version and starts the background
// re-index of every blind index; it returns the new version. With
// reindexOnly it adds none and restarts an interrupted re-index.
func (k Keys) RotateDerived(ctx context.Context, reindexOnly bool) (uint32, error) {
	var out struct {
		Version uint32 `json:"derived_version"`
	}
	in := map[string]bool{"derived": true}
	if reindexOnly {
		in = map[string]bool{"reindex_only": true}
	}
	err := k.c.do(ctx, request{method: http.MethodPost, path: path("sys", "keys", "rotate"), in: in}, &out)
	return out.Version, err
}

// RotateNamedKey adds a version of a named key, current at once: kind
// "fpe_key" (FPE encryption uses it from now on; decrypt older ciphertexts
// with FPERequest.Version) or "token_namespace" (a value gets another
// deterministic token from now on). It returns the new version.
func (k Keys) RotateNamedKey(ctx context.Context, kind, name string) (uint32, error) {
	var out struct {
		Version uint32 `json:"version"`
	}
	err := k.c.do(ctx, request{method: http.MethodPost, path: path("sys", "keys", "rotate"), in: map[string]string{kind: name}}, &out)
	return out.Version, err
}

// Export returns KEK version encrypted to an age X25519 recipient
// ("age1…"), ASCII-armored.
func (k Keys) Export(ctx context.Context, version uint32, recipient string) ([]byte, error) {
	var out struct {
		Age string `json:"age"`
	}
	err := k.c.do(ctx, request{method: http.MethodPost, path: path("sys", "keys", "export"),
		in: map[string]any{"version": version, "recipient": recipient}}, &out)
	return []byte(out.Age), err
}

// Retire removes KEK version; the server refuses (409) while anything is
// wrapped under it and, unless force, until it was exported.
func (k Keys) Retire(ctx context.Context, version uint32, force bool) error {
	return k.c.do(ctx, request{method: http.MethodPost, path: path("sys", "keys", "retire"),
		in: map[string]any{"version": version, "force": force}}, nil)
}
