package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cofferhq/coffer"
)

// Search through the blind index: every where field and filter before the limit.

func testFindRecords(t *testing.T, s coffer.Store) {
	var ch coffer.Change
	ch.NewSubjects = append(ch.NewSubjects, subject("cus_1"))
	for i := range 5 {
		r := record(fmt.Sprintf("rec_%d", i), "cus_1")
		if i >= 3 {
			r.Index[0].Hash = bytes.Repeat([]byte{'x'}, 16)
		}

		ch.Creates = append(ch.Creates, r)
	}
	if err := s.Commit(ctx, &ch); err != nil {
		t.Fatal(err)
	}
	got, err := find(s, "email", bytes.Repeat([]byte{'x'}, 16), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "rec_3" || got[1].ID != "rec_4" {
		t.Errorf("FindRecords = %v", ids(got))
	}
	got = must(find(s, "email", bytes.Repeat([]byte{'x'}, 16), 1))(t)
	if len(got) != 1 {
		t.Errorf("limit 1 returned %d", len(got))
	}
	// A limit that is no power of two is kept exactly (the statement's own
	// LIMIT may be rounded up).
	var more coffer.Change
	for i := 5; i < 10; i++ {
		r := record(fmt.Sprintf("rec_%d", i), "cus_1")
		r.Index[0].Hash = bytes.Repeat([]byte{'w'}, 16)
		more.Creates = append(more.Creates, r)
	}
	if err := s.Commit(ctx, &more); err != nil {
		t.Fatal(err)
	}
	got = must(find(s, "email", bytes.Repeat([]byte{'w'}, 16), 3))(t)
	if len(got) != 3 || got[0].ID != "rec_5" || got[2].ID != "rec_7" {
		t.Errorf("limit 3 of 5 matches returned %v", ids(got))
	}
	got = must(find(s, "phone", bytes.Repeat([]byte{'x'}, 16), 10))(t)
	if len(got) != 0 {
		t.Errorf("other field matched: %v", ids(got))
	}
	// Deleting a record removes it from the index.
	if err := s.Commit(ctx, &coffer.Change{Deletes: []coffer.RecordRef{{Collection: "customers", ID: "rec_3"}}}); err != nil {
		t.Fatal(err)
	}
	got = must(find(s, "email", bytes.Repeat([]byte{'x'}, 16), 10))(t)
	if len(got) != 1 || got[0].ID != "rec_4" {
		t.Errorf("after delete: %v", ids(got))
	}
}

func ids(rs []*coffer.StoredRecord) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// find searches customers on one field.
func find(s coffer.Store, field string, hash []byte, limit int) ([]*coffer.StoredRecord, error) {
	return s.FindRecords(ctx, coffer.RecordQuery{Collection: "customers", Where: []coffer.IndexEntry{{Field: field, Hash: hash}}, Limit: limit})
}

// Every filter of a query applies before its limit: the second where
// field, the subject's restriction, the retention bound and the cursor.
func testFindRecordsFilters(t *testing.T, s coffer.Store) {
	x, p := bytes.Repeat([]byte{'x'}, 16), bytes.Repeat([]byte{'p'}, 16)
	ch := coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_1"), subject("cus_r")}}
	old := time.Now().Add(-time.Hour).UTC()
	for i, subj := range []string{"cus_1", "cus_r", "cus_1", "cus_1"} {
		r := record(fmt.Sprintf("rec_%d", i), subj)
		r.Index = []coffer.IndexEntry{{Field: "email", Hash: x}}
		if i >= 1 {
			r.Index = append(r.Index, coffer.IndexEntry{Field: "phone", Hash: p})
		}
		if i == 2 {
			r.UpdatedAt = old
		}
		ch.Creates = append(ch.Creates, r)
	}
	ch.Restrictions = []coffer.Restriction{{Subject: "cus_r", Restricted: true}}
	if err := s.Commit(ctx, &ch); err != nil {
		t.Fatal(err)
	}
	q := func(mod func(*coffer.RecordQuery)) []string {
		t.Helper()
		rq := coffer.RecordQuery{Collection: "customers", Where: []coffer.IndexEntry{{Field: "email", Hash: x}, {Field: "phone", Hash: p}}, Limit: 1}
		mod(&rq)
		return ids(must(s.FindRecords(ctx, rq))(t))
	}
	for _, c := range []struct {
		name string
		mod  func(*coffer.RecordQuery)
		want []string
	}{
		{"both fields, limit 1", func(*coffer.RecordQuery) {}, []string{"rec_1"}},
		{"both fields", func(q *coffer.RecordQuery) { q.Limit = 10 }, []string{"rec_1", "rec_2", "rec_3"}},
		{"unrestricted, limit 1", func(q *coffer.RecordQuery) { q.Unrestricted = true }, []string{"rec_2"}},
		{"unrestricted and recent, limit 1", func(q *coffer.RecordQuery) { q.Unrestricted, q.UpdatedSince = true, old.Add(time.Minute) }, []string{"rec_3"}},
		{"after a cursor", func(q *coffer.RecordQuery) { q.After, q.Limit = "rec_1", 10 }, []string{"rec_2", "rec_3"}},
		{"no match", func(q *coffer.RecordQuery) { q.Where[1].Hash = x }, nil},
	} {
		if diff := cmp.Diff(c.want, q(c.mod)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}
