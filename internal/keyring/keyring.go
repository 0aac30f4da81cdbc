// Package keyring holds the sources of root keys (SPEC §4 "Root key
// sources"), in age's Identity/Recipient style:
//
//   - file: a JSON key file (keys.json, mode 0600; dev default; File,
//     AddVersion). Format v2 (CreateRootFile) holds one Root in the clear;
//     format v1 (CreateFile, every file written before) holds the versioned
//     KEKs and the derived-key root, already unwrapped material.
//   - passphrase: argon2id derives a key that AES-256-GCM-wraps one 32-byte
//     Root (Passphrase); the server starts sealed.
//   - shamir: k-of-n shares over GF(2^8) of a key that wraps the Root
//     (Split, ParseShare, Shares).
//   - pkcs11: an AES key inside an HSM wraps the Root (build tag pkcs11).
//
// A Recipient wraps a Root into an Envelope (the stored, non-secret form);
// an Identity unwraps it. Unseal is the sealed server's state for the
// providers that need secret input (progress "2/3", one check at a time,
// reset on a wrong combination or after ten minutes). Derive gives every
// other key (KEKs, the derived-key root, the audit signing seed, the
// credential MAC key) from the one Root with HKDF-SHA256 and distinct
// labels; LegacyKeys does the same for a v1 keys.json file. Start opens a
// configured Source at server start. File and EnvelopeSource rotate keys
// on a running server (the vault's KeySource): the envelope providers keep
// their versions as public metadata in the envelope and derive new ones
// from the Root, which EnvelopeSource holds under a Lease that the vault
// destroys when it seals.
//
// The hierarchy. At the top, the provider's secret yields a wrapping key
// that AES-256-GCM-unwraps the Root (a v2 key file holds the Root itself);
// below the Root every arrow is HKDF-SHA256 under its own label:
//
//	passphrase ──argon2id────┐
//	k of n shares ─Lagrange──┼─► wrapping key ─GCM─► Root (32 bytes)
//	HSM AES key (in the HSM) ┘                        │
//	           ┌───────────────┬────────────────┬────┴─────────┐
//	      KEK v1..vN    derived-key root     audit seed    credential MAC
//	           │        (IndexKey: blind     (ed25519)     (API-key and
//	 wrap random DEKs   indexes, tokens)                   operator rows)
//
// Whatever the provider, every derived key lives in the server's memory
// while it is unsealed, and so does the unwrapped Root of a passphrase or
// shamir server (pkcs11 unwraps it again for each rotation); Root.Destroy
// zeroes the Root, but copies inside crypto/aes and crypto/hkdf are out of
// reach.
package keyring

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/cofferhq/coffer"
)

// Key file formats: v1 holds KEKs and the index root in the clear (files
// written before issue 18, still read and rotated); v2 holds one Root in
// the clear, from which Derive gives every key like the other providers.
const (
	format   = "coffer-keys/v1"
	formatV2 = "coffer-keys/v2"
)

// A Recipient wraps a root for storage (age's Recipient).
type Recipient interface {
	Wrap(r *Root) (*Envelope, error)
}

// An Identity opens a stored root (age's Identity). Implementations
// return a fresh Root the caller owns (and Destroys when sealing).
type Identity interface {
	Unwrap(e *Envelope) (*Root, error)
}

// File is the file provider: a 0600 key file in the data directory,
// either format. It protects against nothing but a database-only leak.
type File struct{ Path string }

var _ coffer.KeyProvider = (*File)(nil)

type fileDoc struct {
	Format  string            `json:"format"`
	Current uint32            `json:"current"`
	KEKs    map[string]string `json:"keks,omitempty"`  // v1
	Index   string            `json:"index,omitempty"` // v1
	Root    string            `json:"root,omitempty"`  // v2
	// DerivedCurrent is the derived-key root version (0: 1); a v1 file
	// holds versions 2 and up in Derived (version 1 is Index).
	DerivedCurrent uint32            `json:"derived_current,omitempty"`
	Derived        map[string]string `json:"derived,omitempty"` // v1
	// Min is min_decryption_version: versions below it were retired and
	// are never derived again (v2) or were deleted (v1).
	Min uint32 `json:"min_decryption_version,omitempty"`
	// Exported lists the versions written out with ExportKEK, which
	// retirement requires unless forced.
	Exported []uint32 `json:"exported,omitempty"`
}

func randomKey() string {
	k := make([]byte, 32)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// CreateFile writes a new v1 key file with KEK version 1 and an index root
// key, mode 0600. It never overwrites an existing file.
func CreateFile(path string) error {
	return createFile(path, fileDoc{Format: format, Current: 1, KEKs: map[string]string{"1": randomKey()}, Index: randomKey()})
}

// CreateRootFile writes a new v2 key file holding a fresh Root (KEK
// version 1), mode 0600, for `coffer init --provider file`. It never
// overwrites an existing file.
func CreateRootFile(path string) error {
	return createFile(path, fileDoc{Format: formatV2, Current: 1, Root: randomKey()})
}

func createFile(path string, doc fileDoc) error {
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Keys reads the key file. It refuses a file that group or others may read.
func (f *File) Keys() (*coffer.RootKeys, error) {
	k, err := f.Material()
	if err != nil {
		return nil, err
	}
	return k.Root, nil
}

// Material reads the key file and returns every key: for v2, Derive of its
// Root; for v1, its KEKs and index key with the audit seed and credential
// MAC key derived from the index key (LegacyKeys).
func (f *File) Material() (*Keys, error) {
	doc, err := f.read()
	if err != nil {
		return nil, err
	}
	return material(f.Path, doc)
}

func material(path string, doc *fileDoc) (*Keys, error) {
	if doc.Format != formatV2 {
		rk, err := parse(path, doc)
		if err != nil {
			return nil, err
		}
		return LegacyKeys(rk), nil
	}
	bad := func(what string) error { return fmt.Errorf("key file %s: %s", path, what) }
	if len(doc.KEKs) != 0 || doc.Index != "" || len(doc.Derived) != 0 {
		return nil, bad("a v2 file holds a root, not KEKs")
	}
	b, err := base64.StdEncoding.DecodeString(doc.Root)
	defer clear(b)
	if err != nil || len(b) != RootSize {
		return nil, bad("the root is not 32 bytes of base64")
	}
	if doc.Current == 0 || doc.Current > 1<<16 {
		return nil, bad("the current KEK version is between 1 and 65536")
	}
	if doc.Min > doc.Current {
		return nil, bad("min_decryption_version is above the current version")
	}
	r, _ := RootFromBytes(b)
	defer r.Destroy()
	k, err := DeriveVersions(r, doc.Current, max(doc.DerivedCurrent, 1))
	if err != nil {
		return nil, err
	}
	for v := range k.Root.KEKs {
		if v < doc.Min {
			delete(k.Root.KEKs, v)
		}
	}
	return k, nil
}

func (f *File) read() (*fileDoc, error) {
	fi, err := os.Stat(f.Path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s is accessible by group or others (mode %o): run chmod 600 %s", f.Path, fi.Mode().Perm(), f.Path)
	}
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	var doc fileDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("key file %s: not a Coffer key file (malformed JSON)", f.Path)
	}
	return &doc, nil
}

func parse(path string, doc *fileDoc) (*coffer.RootKeys, error) {
	bad := func(what string) error { return fmt.Errorf("key file %s: %s", path, what) }
	if doc.Format != format {
		return nil, bad("unknown format (want " + format + ")")
	}
	keys := &coffer.RootKeys{Current: doc.Current, KEKs: map[uint32]coffer.Secret{}}
	for v, s := range doc.KEKs {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return nil, bad("KEK versions are positive integers")
		}
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(k) != 32 {
			return nil, bad("KEK version " + v + " is not 32 bytes of base64")
		}
		keys.KEKs[uint32(n)] = coffer.NewSecret(k)
		clear(k)
	}
	if _, ok := keys.KEKs[keys.Current]; !ok {
		return nil, bad("the current KEK version is not in the file")
	}
	idx, err := base64.StdEncoding.DecodeString(doc.Index)
	if err != nil || len(idx) != 32 {
		return nil, bad("the index key is not 32 bytes of base64")
	}
	keys.IndexKey = coffer.NewSecret(idx)
	clear(idx)
	keys.DerivedCurrent = max(doc.DerivedCurrent, 1)
	for v := uint32(2); v <= keys.DerivedCurrent; v++ {
		k, err := base64.StdEncoding.DecodeString(doc.Derived[strconv.FormatUint(uint64(v), 10)])
		if err != nil || len(k) != 32 {
			return nil, bad("derived-key root version " + strconv.FormatUint(uint64(v), 10) + " is not 32 bytes of base64")
		}
		if keys.Derived == nil {
			keys.Derived = map[uint32]coffer.Secret{}
		}
		keys.Derived[v] = coffer.NewSecret(k)
		clear(k)
	}
	return keys, nil
}

// AddVersion adds a new KEK version and makes it current, rewriting the
// file atomically (temp file, fsync, rename, fsync of the directory).
func AddVersion(path string) (uint32, error) {
	f := &File{Path: path}
	doc, err := f.read()
	if err != nil {
		return 0, err
	}
	if _, err := material(path, doc); err != nil {
		return 0, err
	}
	var next uint32
	if doc.Format == formatV2 { // every version derives from the root
		next = doc.Current + 1
	} else {
		for v := range doc.KEKs {
			n, _ := strconv.ParseUint(v, 10, 32)
			next = max(next, uint32(n))
		}
		next++
		doc.KEKs[strconv.FormatUint(uint64(next), 10)] = randomKey()
	}
	doc.Current = next
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return 0, err
	}
	if err := writeAtomic(path, append(b, '\n')); err != nil {
		return 0, err
	}
	return next, nil
}
