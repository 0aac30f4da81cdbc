package keyring

import (
	"bytes"
	"encoding/json"
	"io"
	"path/filepath"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/cofferhq/coffer"
)

// Both file formats rotate, export and retire: a retired version is gone
// from the keys (v2: never derived again, v1: deleted), the others stay.
func TestFileRotateExportRetire(t *testing.T) {
	for _, create := range []struct {
		name string
		fn   func(string) error
	}{{"v1", CreateFile}, {"v2", CreateRootFile}} {
		t.Run(create.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.json")
			if err := create.fn(path); err != nil {
				t.Fatal(err)
			}
			f := &File{Path: path}
			before, err := f.Keys()
			if err != nil {
				t.Fatal(err)
			}
			keys, err := f.NewVersion()
			if err != nil || keys.Current != 2 || len(keys.KEKs) != 2 || !keys.KEKs[1].Equal(before.KEKs[1]) {
				t.Fatalf("new version: %v", err)
			}
			if _, err := f.Retire(2); coffer.ErrorCode(err) != coffer.ECONFLICT {
				t.Errorf("retire the current version: %v", err)
			}
			if _, err := f.NewVersion(); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Retire(2); coffer.ErrorCode(err) != coffer.ECONFLICT {
				t.Errorf("retire 2 before 1: %v", err)
			}
			if ok, _ := f.Exported(1); ok {
				t.Error("exported before an export")
			}
			id, _ := age.GenerateX25519Identity()
			if _, err := f.Export(1, "age1nope"); coffer.ErrorCode(err) != coffer.EINVALID {
				t.Errorf("bad recipient: %v", err)
			}
			if ok, _ := f.Exported(1); ok {
				t.Error("a failed export was recorded")
			}
			out, err := f.Export(1, id.Recipient().String())
			if err != nil {
				t.Fatal(err)
			}
			r, err := age.Decrypt(armor.NewReader(bytes.NewReader(out)), id)
			if err != nil {
				t.Fatal(err)
			}
			pt, _ := io.ReadAll(r)
			var doc exportDoc
			if err := json.Unmarshal(pt, &doc); err != nil || doc.Version != 1 || !bytes.Equal(doc.Key, before.KEKs[1].Bytes()) {
				t.Fatalf("export: %v", err)
			}
			if ok, _ := f.Exported(1); !ok {
				t.Error("the export was not recorded")
			}
			keys, err = f.Retire(1)
			if err != nil || len(keys.KEKs) != 2 || keys.KEKs[1].Len() != 0 || keys.KEKs[2].Len() == 0 || keys.Current != 3 {
				t.Fatalf("retire 1: %d versions, %v", len(keys.KEKs), err)
			}
			if _, err := f.Retire(1); coffer.ErrorCode(err) != coffer.ENOTFOUND {
				t.Errorf("retire 1 twice: %v", err)
			}
			again, err := f.Keys()
			if err != nil || again.KEKs[1].Len() != 0 || !again.KEKs[3].Equal(keys.KEKs[3]) {
				t.Fatalf("reread after retirement: %v", err)
			}
			if next, err := f.NewVersion(); err != nil || next.Current != 4 || next.KEKs[1].Len() != 0 {
				t.Fatalf("rotate after a retirement: %v", err)
			}
			for _, v := range []uint32{2, 3} {
				if _, err := f.Retire(v); err != nil {
					t.Fatalf("retire %d: %v", v, err)
				}
			}
			if _, err := f.Retire(4); coffer.ErrorCode(err) != coffer.ECONFLICT {
				t.Errorf("retire the only, current version: %v", err)
			}
		})
	}
}
