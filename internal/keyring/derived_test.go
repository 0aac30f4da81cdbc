package keyring

import (
	"path/filepath"
	"testing"
)

// TestNewDerivedVersion: both file formats add a derived-key root version;
// version 1 (the IndexKey every other derived key comes from) and the
// versions before stay exactly as they were, and the KEKs are untouched.
func TestNewDerivedVersion(t *testing.T) {
	for name, create := range map[string]func(string) error{"v1": CreateFile, "v2": CreateRootFile} {
		t.Run(name, func(t *testing.T) {
			f := &File{Path: filepath.Join(t.TempDir(), "keys.json")}
			if err := create(f.Path); err != nil {
				t.Fatal(err)
			}
			before, err := f.Keys()
			if err != nil {
				t.Fatal(err)
			}
			if before.DerivedVersion() != 1 || len(before.Derived) != 0 {
				t.Fatalf("a new file: derived version %d, %d more roots", before.DerivedVersion(), len(before.Derived))
			}
			k2, err := f.NewDerivedVersion()
			if err != nil {
				t.Fatal(err)
			}
			k3, err := f.NewDerivedVersion()
			if err != nil {
				t.Fatal(err)
			}
			if k3.DerivedCurrent != 3 || k3.Derived[2].Len() != 32 || k3.Derived[3].Len() != 32 {
				t.Fatalf("after two rotations: current %d, roots %d", k3.DerivedCurrent, len(k3.Derived))
			}
			if !k3.IndexKey.Equal(before.IndexKey) || !k3.Derived[2].Equal(k2.Derived[2]) {
				t.Error("a rotation changed an older derived-key root")
			}
			if k3.Derived[2].Equal(k3.Derived[3]) || k3.Derived[2].Equal(k3.IndexKey) {
				t.Error("two derived-key root versions are equal")
			}
			if k3.Current != before.Current || !k3.KEKs[1].Equal(before.KEKs[1]) {
				t.Error("a derived rotation changed the KEKs")
			}
			if again, err := f.Keys(); err != nil || !again.Derived[3].Equal(k3.Derived[3]) {
				t.Errorf("re-read: %v", err)
			}
		})
	}
}
