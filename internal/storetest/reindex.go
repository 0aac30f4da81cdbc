package storetest

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cofferhq/coffer"
)

// Blind indexes under derived-key root versions: records carry the
// version their index was computed under, a query matches each record
// under its own version only, a re-index moves records up (never a stale
// one), and an update never lowers a record's version.
func testReindex(t *testing.T, s coffer.Store) {
	h := func(c byte) []byte { return bytes.Repeat([]byte{c}, 16) }
	ch := coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_1")}}
	for _, id := range []string{"rec_a", "rec_b", "rec_c"} {
		ch.Creates = append(ch.Creates, record(id, "cus_1")) // email hash: the id's last byte, version 1
	}
	if err := s.Commit(ctx, &ch); err != nil {
		t.Fatal(err)
	}
	versions := func() map[uint32]int64 {
		t.Helper()
		m, err := s.IndexVersions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	query := func(v uint32, hash []byte, older ...coffer.IndexedWhere) []string {
		t.Helper()
		got, err := s.FindRecords(ctx, coffer.RecordQuery{Collection: "customers", IndexVersion: v,
			Where: []coffer.IndexEntry{{Field: "email", Hash: hash}}, Older: older, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return ids(got)
	}
	v1 := func(hash []byte) coffer.IndexedWhere {
		return coffer.IndexedWhere{Version: 1, Where: []coffer.IndexEntry{{Field: "email", Hash: hash}}}
	}
	if d := cmp.Diff(map[uint32]int64{1: 3}, versions()); d != "" {
		t.Fatalf("index versions (-want +got):\n%s", d)
	}
	if got := query(2, h('a')); got != nil {
		t.Errorf("a version-1 entry matched a version-2 query: %v", got)
	}
	if d := cmp.Diff([]string{"rec_a"}, query(2, h('A'), v1(h('a')))); d != "" {
		t.Errorf("version 2 or 1 (-want +got):\n%s", d)
	}
	// A version-1 record whose hash equals the version-2 hash queried is no match.
	if got := query(2, h('b'), v1(h('Z'))); got != nil {
		t.Errorf("a hash matched under another version than its record's: %v", got)
	}

	below, err := s.RecordsIndexedBelow(ctx, 2, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(below) != 3 || below[0].ID != "rec_a" || below[0].IndexVersion != 1 || below[0].Fields["email"] == nil || below[0].Version != 1 {
		t.Fatalf("RecordsIndexedBelow(2) = %v", ids(below))
	}
	if after, _ := s.RecordsIndexedBelow(ctx, 2, "rec_a", 1); len(after) != 1 || after[0].ID != "rec_b" {
		t.Errorf("RecordsIndexedBelow after rec_a, limit 1 = %v", ids(after))
	}
	before := must(s.Record(ctx, "customers", "rec_a"))(t)
	n, err := s.Reindex(ctx, []coffer.Reindex{
		{Collection: "customers", Record: "rec_a", Version: 1, IndexVersion: 2, Index: []coffer.IndexEntry{{Field: "email", Hash: h('A')}}},
		{Collection: "customers", Record: "rec_b", Version: 7, IndexVersion: 2, Index: []coffer.IndexEntry{{Field: "email", Hash: h('B')}}}, // stale
		{Collection: "customers", Record: "rec_gone", Version: 1, IndexVersion: 2, Index: []coffer.IndexEntry{{Field: "email", Hash: h('G')}}},
	}, entry("keys.reindex", ""))
	if err != nil || n != 1 {
		t.Fatalf("Reindex = %d, %v; want 1 (the stale and the missing skipped)", n, err)
	}
	if again, err := s.Reindex(ctx, []coffer.Reindex{{Collection: "customers", Record: "rec_a", Version: 1, IndexVersion: 2,
		Index: []coffer.IndexEntry{{Field: "email", Hash: h('X')}}}}, nil); err != nil || again != 0 {
		t.Errorf("a second re-index to the same version = %d, %v; want skipped", again, err)
	}
	if d := cmp.Diff(map[uint32]int64{1: 2, 2: 1}, versions()); d != "" {
		t.Errorf("index versions after a re-index (-want +got):\n%s", d)
	}
	after := must(s.Record(ctx, "customers", "rec_a"))(t)
	if after.Version != before.Version || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("a re-index changed the record's version or updated time: %d %v → %d %v", before.Version, before.UpdatedAt, after.Version, after.UpdatedAt)
	}
	if d := cmp.Diff([]string{"rec_a"}, query(2, h('A'), v1(h('a')))); d != "" {
		t.Errorf("found under both versions after the re-index (-want +got):\n%s", d)
	}
	if got := query(1, h('a')); got != nil {
		t.Errorf("the old entry still matches: %v", got)
	}
	if d := cmp.Diff([]string{"rec_b"}, query(2, h('B'), v1(h('b')))); d != "" {
		t.Errorf("a record left at version 1 (-want +got):\n%s", d)
	}

	// Updates: never below the row's version; 0 keeps it.
	upd := func(id string, v uint32, version int64) error {
		r := record(id, "cus_1")
		r.Version, r.IndexVersion = version, v
		r.Index = []coffer.IndexEntry{{Field: "email", Hash: h('U')}}
		return s.Commit(ctx, &coffer.Change{Updates: []*coffer.StoredRecord{r}})
	}
	if err := upd("rec_a", 1, 1); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Errorf("an update computed under version 1 of a record at 2: %v, want conflict", err)
	}
	if err := upd("rec_a", 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := upd("rec_c", 2, 1); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[uint32]int64{1: 1, 2: 2}, versions()); d != "" {
		t.Errorf("index versions after updates (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"rec_a", "rec_c"}, query(2, h('U'))); d != "" {
		t.Errorf("updated records under version 2 (-want +got):\n%s", d)
	}
}
