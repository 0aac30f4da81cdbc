package keyring

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/cofferhq/coffer"
)

// NewVersion adds a KEK version to the key file and makes it current
// (AddVersion), and returns every key the file now holds.
func (f *File) NewVersion() (*coffer.RootKeys, error) {
	if _, err := AddVersion(f.Path); err != nil {
		return nil, err
	}
	return f.Keys()
}

// NewDerivedVersion adds a derived-key root version and makes it current
// (v2 files derive it from the root; v1 files get a random one), and
// returns every key the file now holds. Versions are never removed: the
// erasure ledger's entries keep theirs, and blind indexes not yet
// re-computed need the old ones.
func (f *File) NewDerivedVersion() (*coffer.RootKeys, error) {
	err := f.update(func(doc *fileDoc) error {
		if _, err := material(f.Path, doc); err != nil {
			return err
		}
		next := max(doc.DerivedCurrent, 1) + 1
		if next > 1<<16 {
			return coffer.Errorf(coffer.ECONFLICT, "the derived-key root has 65536 versions already")
		}
		if doc.Format != formatV2 {
			if doc.Derived == nil {
				doc.Derived = map[string]string{}
			}
			doc.Derived[strconv.FormatUint(uint64(next), 10)] = randomKey()
		}
		doc.DerivedCurrent = next
		return nil
	})
	if err != nil {
		return nil, err
	}
	return f.Keys()
}

// Exported reports whether version was exported (ExportKEK then
// MarkExported).
func (f *File) Exported(version uint32) (bool, error) {
	doc, err := f.read()
	if err != nil {
		return false, err
	}
	return slices.Contains(doc.Exported, version), nil
}

// MarkExported records in the key file that version was exported.
func (f *File) MarkExported(version uint32) error {
	return f.update(func(doc *fileDoc) error {
		if !slices.Contains(doc.Exported, version) {
			doc.Exported = append(doc.Exported, version)
			slices.Sort(doc.Exported)
		}
		return nil
	})
}

// Retire removes KEK version from the key file (min_decryption_version):
// only the lowest version still held may go, never the current one. It
// returns the keys left.
func (f *File) Retire(version uint32) (*coffer.RootKeys, error) {
	err := f.update(func(doc *fileDoc) error {
		k, err := material(f.Path, doc)
		if err != nil {
			return err
		}
		if _, ok := k.Root.KEKs[version]; !ok {
			return coffer.Errorf(coffer.ENOTFOUND, "KEK version %d is not held", version)
		}
		if version == doc.Current {
			return coffer.Errorf(coffer.ECONFLICT, "KEK version %d is the current version: rotate first", version)
		}
		for v := range k.Root.KEKs {
			if v < version {
				return coffer.Errorf(coffer.ECONFLICT, "retire KEK version %d first (versions retire oldest first)", v)
			}
		}
		doc.Min = version + 1
		delete(doc.KEKs, strconv.FormatUint(uint64(version), 10)) // v1 files hold the key itself
		return nil
	})
	if err != nil {
		return nil, err
	}
	return f.Keys()
}

// update rewrites the key file atomically after fn changed it.
func (f *File) update(fn func(*fileDoc) error) error {
	doc, err := f.read()
	if err != nil {
		return err
	}
	if err := fn(doc); err != nil {
		return err
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(f.Path, append(b, '\n'))
}

// exportDoc is the plaintext inside an exported KEK's age file.
type exportDoc struct {
	Format  string `json:"format"`
	Version uint32 `json:"version"`
	Key     []byte `json:"key"`
}

// ExportKEK returns KEK version of keys encrypted to an age recipient
// ("age1…"), ASCII-armored, so backups wrapped under a retired version
// stay restorable by whoever holds the recipient's identity.
func ExportKEK(keys *coffer.RootKeys, version uint32, recipient string) ([]byte, error) {
	r, err := age.ParseX25519Recipient(recipient)
	if err != nil {
		return nil, coffer.Errorf(coffer.EINVALID, "recipient: not an age X25519 recipient (age1…)")
	}
	k, ok := keys.KEKs[version]
	if !ok {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "KEK version %d is not held", version)
	}
	kb := k.Bytes()
	defer clear(kb)
	pt, err := json.Marshal(exportDoc{Format: "coffer-kek/v1", Version: version, Key: kb})
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	var out bytes.Buffer
	aw := armor.NewWriter(&out)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if _, err := io.Copy(w, bytes.NewReader(pt)); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Export writes KEK version out encrypted to an age recipient (ExportKEK)
// and records the export in the key file.
func (f *File) Export(version uint32, recipient string) ([]byte, error) {
	keys, err := f.Keys()
	if err != nil {
		return nil, err
	}
	out, err := ExportKEK(keys, version, recipient)
	if err != nil {
		return nil, err
	}
	if err := f.MarkExported(version); err != nil {
		return nil, err
	}
	return out, nil
}
