// Package keyring holds the sources of root keys (SPEC §4 "Root key
// sources"), in age's Identity/Recipient style:
//
//   - file: a JSON key file (keys.json, mode 0600) holding the versioned
//     KEKs and the derived-key root in the clear (dev default; File,
//     CreateFile, AddVersion). Its keys are already unwrapped material.
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
// labels; LegacyKeys does the same for a keys.json file.
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

const format = "coffer-keys/v1"

// A Recipient wraps a root for storage (age's Recipient).
type Recipient interface {
	Wrap(r *Root) (*Envelope, error)
}

// An Identity opens a stored root (age's Identity). Implementations
// return a fresh Root the caller owns (and Destroys when sealing).
type Identity interface {
	Unwrap(e *Envelope) (*Root, error)
}

// File is the file provider.
type File struct{ Path string }

var _ coffer.KeyProvider = (*File)(nil)

type fileDoc struct {
	Format  string            `json:"format"`
	Current uint32            `json:"current"`
	KEKs    map[string]string `json:"keks"`
	Index   string            `json:"index"`
}

func randomKey() string {
	k := make([]byte, 32)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// CreateFile writes a new key file with KEK version 1 and an index root
// key, mode 0600. It never overwrites an existing file.
func CreateFile(path string) error {
	doc := fileDoc{Format: format, Current: 1, KEKs: map[string]string{"1": randomKey()}, Index: randomKey()}
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
	doc, err := f.read()
	if err != nil {
		return nil, err
	}
	return parse(f.Path, doc)
}

// Material returns the file's keys with the audit seed and credential MAC
// key derived from its index key (LegacyKeys).
func (f *File) Material() (*Keys, error) {
	rk, err := f.Keys()
	if err != nil {
		return nil, err
	}
	return LegacyKeys(rk), nil
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
	if _, err := parse(path, doc); err != nil {
		return 0, err
	}
	var next uint32
	for v := range doc.KEKs {
		n, _ := strconv.ParseUint(v, 10, 32)
		next = max(next, uint32(n))
	}
	next++
	doc.KEKs[strconv.FormatUint(uint64(next), 10)] = randomKey()
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
