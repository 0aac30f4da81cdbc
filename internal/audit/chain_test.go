package audit

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

func chain(t *testing.T, n int) ([]*coffer.AuditEntry, *Signer, *Head) {
	t.Helper()
	s, err := NewSigner(coffer.NewSecret(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	var c Chain
	var out []*coffer.AuditEntry
	for i := range n {
		e := &coffer.AuditEntry{Time: time.Unix(1700000000, int64(i)).UTC(), Actor: "key_a", Action: "read", Collection: "customers",
			Record: fmt.Sprintf("rec_%d", i), Subject: "cus_1", Fields: []string{"email"}, Purpose: "account", Outcome: coffer.OutcomeAllowed}
		c.Link(e)
		out = append(out, e)
	}
	h := s.Sign(c.Seq, c.Last)
	return out, s, &h
}

func seq(es []*coffer.AuditEntry) iter.Seq2[*coffer.AuditEntry, error] {
	return func(yield func(*coffer.AuditEntry, error) bool) {
		for _, e := range es {
			if !yield(e, nil) {
				return
			}
		}
	}
}

func clone(es []*coffer.AuditEntry) []*coffer.AuditEntry {
	out := make([]*coffer.AuditEntry, len(es))
	for i, e := range es {
		c := *e
		out[i] = &c
	}
	return out
}

func TestVerifyIntact(t *testing.T) {
	es, s, h := chain(t, 10)
	n, err := Verify(seq(es), h, s.PublicKeys())
	if err != nil || n != 10 {
		t.Fatalf("Verify = %d, %v", n, err)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func([]*coffer.AuditEntry) []*coffer.AuditEntry
		head    func(*Head)
		wantSeq int64
	}{
		{"edit actor", func(es []*coffer.AuditEntry) []*coffer.AuditEntry { es[4].Actor = "key_b"; return es }, nil, 5},
		{"edit fields", func(es []*coffer.AuditEntry) []*coffer.AuditEntry {
			es[6].Fields = []string{"email", "phone"}
			return es
		}, nil, 7},
		{"edit outcome", func(es []*coffer.AuditEntry) []*coffer.AuditEntry { es[0].Outcome = coffer.OutcomeDenied; return es }, nil, 1},
		{"edit time", func(es []*coffer.AuditEntry) []*coffer.AuditEntry { es[2].Time = es[2].Time.Add(time.Hour); return es }, nil, 3},
		{"edit and rehash", func(es []*coffer.AuditEntry) []*coffer.AuditEntry {
			es[3].Purpose = "marketing"
			es[3].Hash = Hash(es[3]) // the next entry's prev_hash still points at the old hash
			return es
		}, nil, 5},
		{"delete middle", func(es []*coffer.AuditEntry) []*coffer.AuditEntry { return append(es[:5], es[6:]...) }, nil, 6},
		{"delete first", func(es []*coffer.AuditEntry) []*coffer.AuditEntry { return es[1:] }, nil, 1},
		{"reorder", func(es []*coffer.AuditEntry) []*coffer.AuditEntry { es[3], es[4] = es[4], es[3]; return es }, nil, 4},
		{"reorder with renumbering", func(es []*coffer.AuditEntry) []*coffer.AuditEntry {
			es[3], es[4] = es[4], es[3]
			es[3].Seq, es[4].Seq = 4, 5
			return es
		}, nil, 4},
		{"truncate the end", func(es []*coffer.AuditEntry) []*coffer.AuditEntry { return es[:8] }, nil, 9},
		{"forge the head", func(es []*coffer.AuditEntry) []*coffer.AuditEntry { return es[:8] }, func(h *Head) { h.Seq = 8; h.Hash = nil }, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es, s, h := chain(t, 10)
			es = tt.tamper(clone(es))
			if tt.head != nil {
				tt.head(h)
			}
			_, err := Verify(seq(es), h, s.PublicKeys())
			var f *Failure
			if !errors.As(err, &f) {
				t.Fatalf("Verify = %v, want a failure", err)
			}
			if f.Seq != tt.wantSeq {
				t.Errorf("first bad seq = %d (%s), want %d", f.Seq, f.Reason, tt.wantSeq)
			}
		})
	}
}

func TestMissingHeadIsTampering(t *testing.T) {
	es, s, _ := chain(t, 4)
	var f *Failure
	if _, err := Verify(seq(es), nil, s.PublicKeys()); !errors.As(err, &f) {
		t.Fatalf("a log without its signed head verified: %v", err)
	}
	if n, err := Verify(seq(nil), nil, s.PublicKeys()); err != nil || n != 0 {
		t.Fatalf("empty log: %d, %v", n, err)
	}
}

func TestHeadSignedByAnotherKey(t *testing.T) {
	es, _, h := chain(t, 3)
	other, _ := NewSigner(coffer.NewSecret(bytes.Repeat([]byte{8}, 32)))
	if _, err := Verify(seq(es), h, other.PublicKeys()); err == nil {
		t.Fatal("a head signed by another key verified")
	}
}

// The encoding is unambiguous: moving bytes between adjacent fields
// changes the hash.
func TestCanonicalEncodingIsUnambiguous(t *testing.T) {
	a := &coffer.AuditEntry{Actor: "ab", Action: "c"}
	b := &coffer.AuditEntry{Actor: "a", Action: "bc"}
	if bytes.Equal(Hash(a), Hash(b)) {
		t.Error("actor/action boundary is ambiguous")
	}
	c := &coffer.AuditEntry{Fields: []string{"a,b"}}
	d := &coffer.AuditEntry{Fields: []string{"a", "b"}}
	if bytes.Equal(Hash(c), Hash(d)) {
		t.Error("field list boundary is ambiguous")
	}
}

// A log written in format 1 up to a format checkpoint, format 2 after it,
// verifies; the same log without the boundary does not (either way), and
// a format-2 entry's view is covered by its hash.
func TestFormatBoundary(t *testing.T) {
	var c Chain
	var es []*coffer.AuditEntry
	for i := range 6 {
		e := &coffer.AuditEntry{Time: time.Unix(1700000000, int64(i)).UTC(), Actor: "key_a", Action: "read", Fields: []string{"email", "name"}, Outcome: coffer.OutcomeAllowed}
		c.Seq++
		e.Seq, e.PrevHash = c.Seq, c.Last
		if i < 3 {
			e.Hash = HashV1(e)
		} else {
			e.Views = []coffer.View{coffer.ViewMasked, coffer.ViewPlain}
			e.Hash = Hash(e)
		}
		c.Last = e.Hash
		es = append(es, e)
	}
	cps := []Checkpoint{{Kind: KindPeriodic, Seq: 1}, {Kind: KindFormat, Seq: 3}}
	if _, err := VerifyWith(seq(es), nil, nil, VerifyOptions{V1Until: FormatBoundary(cps)}); err != nil {
		t.Fatalf("mixed log with its boundary: %v", err)
	}
	for _, until := range []int64{FormatBoundary(nil), 0, 2, 4} {
		if _, err := VerifyWith(seq(es), nil, nil, VerifyOptions{V1Until: until}); err == nil {
			t.Errorf("boundary %d: verified", until)
		}
	}
	edited := clone(es)
	edited[4].Views = []coffer.View{coffer.ViewMasked, coffer.ViewMasked} // claim it was masked
	var f *Failure
	if _, err := VerifyWith(seq(edited), nil, nil, VerifyOptions{V1Until: 3}); !errors.As(err, &f) || f.Seq != 5 {
		t.Fatalf("edited view: %v, want a failure at seq 5", err)
	}
	if bytes.Equal(Hash(es[0]), HashV1(es[0])) {
		t.Error("formats 1 and 2 hash alike")
	}
}
