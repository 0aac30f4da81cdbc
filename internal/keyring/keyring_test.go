package keyring

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateAndRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := CreateFile(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode().Perm(), err)
	}
	if err := CreateFile(path); err == nil {
		t.Fatal("CreateFile overwrote an existing key file")
	}
	k, err := (&File{Path: path}).Keys()
	if err != nil {
		t.Fatal(err)
	}
	if k.Current != 1 || k.KEKs[1].Len() != 32 || k.IndexKey.Len() != 32 || k.KEKs[1].Equal(k.IndexKey) {
		t.Fatalf("keys: current %d, KEK len %d", k.Current, k.KEKs[1].Len())
	}
}

func TestRefusesReadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := CreateFile(path); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	_, err := (&File{Path: path}).Keys()
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("err = %v, want a hint to chmod 600", err)
	}
}

func TestAddVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	CreateFile(path)
	before, _ := (&File{Path: path}).Keys()
	v, err := AddVersion(path)
	if err != nil || v != 2 {
		t.Fatalf("AddVersion = %d, %v", v, err)
	}
	after, err := (&File{Path: path}).Keys()
	if err != nil {
		t.Fatal(err)
	}
	if after.Current != 2 || !after.KEKs[1].Equal(before.KEKs[1]) || after.KEKs[2].Equal(before.KEKs[1]) || !after.IndexKey.Equal(before.IndexKey) {
		t.Fatal("rotation lost or changed an existing key")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("rotated file mode %v", fi.Mode().Perm())
	}
}

func TestRejectsBrokenFiles(t *testing.T) {
	good := `{"format":"coffer-keys/v1","current":1,"keks":{"1":"` + strings.Repeat("A", 43) + `="},"index":"` + strings.Repeat("B", 43) + `="}`
	for name, body := range map[string]string{
		"not json":        "{",
		"wrong format":    strings.Replace(good, "coffer-keys/v1", "other", 1),
		"unknown current": strings.Replace(good, `"current":1`, `"current":3`, 1),
		"short KEK":       strings.Replace(good, strings.Repeat("A", 43)+"=", "AAAA", 1),
		"short index":     strings.Replace(good, strings.Repeat("B", 43)+"=", "AAAA", 1),
		"version zero":    strings.Replace(good, `"1":`, `"0":`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.json")
			os.WriteFile(path, []byte(body), 0o600)
			_, err := (&File{Path: path}).Keys()
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), strings.Repeat("A", 20)) {
				t.Fatal("error shows key material")
			}
		})
	}
	path := filepath.Join(t.TempDir(), "keys.json")
	os.WriteFile(path, []byte(good), 0o600)
	if _, err := (&File{Path: path}).Keys(); err != nil {
		t.Fatalf("the good file was refused: %v", err)
	}
}

func FuzzKeyFile(f *testing.F) {
	f.Add([]byte(`{"format":"coffer-keys/v1","current":1,"keks":{"1":"x"},"index":"y"}`))
	f.Add([]byte(`{"format":"coffer-keys/v2","current":1,"root":"` + strings.Repeat("A", 43) + `="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "k")
		os.WriteFile(path, b, 0o600)
		k, err := (&File{Path: path}).Keys() // never panics
		if err == nil && (k.IndexKey.Len() != 32 || k.KEKs[k.Current].Len() != 32 || len(k.KEKs) == 0) {
			t.Fatal("accepted keys of the wrong size")
		}
	})
}

func TestRootFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := CreateRootFile(path); err != nil {
		t.Fatal(err)
	}
	if err := CreateRootFile(path); err == nil {
		t.Fatal("CreateRootFile overwrote an existing key file")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	m, err := (&File{Path: path}).Material()
	if err != nil {
		t.Fatal(err)
	}
	// The keys are Derive's of the stored root.
	var doc struct{ Root string }
	b, _ := os.ReadFile(path)
	json.Unmarshal(b, &doc)
	raw, _ := base64.StdEncoding.DecodeString(doc.Root)
	r, _ := RootFromBytes(raw)
	want, _ := Derive(r, 1)
	if !m.Root.KEKs[1].Equal(want.Root.KEKs[1]) || !m.Root.IndexKey.Equal(want.Root.IndexKey) || !m.AuditSeed.Equal(want.AuditSeed) || !m.CredentialMAC.Equal(want.CredentialMAC) {
		t.Fatal("a v2 file's keys are not Derive(root)")
	}
	if v, err := AddVersion(path); err != nil || v != 2 {
		t.Fatalf("AddVersion = %d, %v", v, err)
	}
	k, err := (&File{Path: path}).Keys()
	if err != nil || k.Current != 2 || !k.KEKs[1].Equal(want.Root.KEKs[1]) || k.KEKs[2].Equal(k.KEKs[1]) || !k.IndexKey.Equal(want.Root.IndexKey) {
		t.Fatalf("v2 rotation: %v", err)
	}
	for name, body := range map[string]string{
		"short root":   `{"format":"coffer-keys/v2","current":1,"root":"AAAA"}`,
		"version zero": `{"format":"coffer-keys/v2","current":0,"root":"` + doc.Root + `"}`,
		"root and kek": `{"format":"coffer-keys/v2","current":1,"root":"` + doc.Root + `","keks":{"1":"` + doc.Root + `"}}`,
	} {
		os.WriteFile(path, []byte(body), 0o600)
		if _, err := (&File{Path: path}).Keys(); err == nil || strings.Contains(err.Error(), doc.Root[:12]) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// A v1 file's material: its keys as they are, the audit seed and MAC key
// from its index key.
func TestLegacyFileMaterial(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	CreateFile(path)
	m, err := (&File{Path: path}).Material()
	if err != nil {
		t.Fatal(err)
	}
	k, _ := (&File{Path: path}).Keys()
	if !m.Root.KEKs[1].Equal(k.KEKs[1]) || !m.AuditSeed.Equal(LegacyKeys(k).AuditSeed) || m.AuditSeed.Len() != 32 {
		t.Fatal("v1 material differs from the file")
	}
}
