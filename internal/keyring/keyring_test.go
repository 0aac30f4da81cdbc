package keyring

import (
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
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "k")
		os.WriteFile(path, b, 0o600)
		k, err := (&File{Path: path}).Keys() // never panics
		if err == nil && (k.IndexKey.Len() != 32 || k.KEKs[k.Current].Len() != 32) {
			t.Fatal("accepted keys of the wrong size")
		}
	})
}
