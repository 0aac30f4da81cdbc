package audit

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

type emitted struct {
	key   string
	count int
}

func TestCoalescerFirstNowRestSummarised(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var got []emitted
		c := &Coalescer{Emit: func(k string, n int, _ time.Time) {
			mu.Lock()
			got = append(got, emitted{k, n})
			mu.Unlock()
		}}
		writes := 0
		for range 500 {
			if c.Note("203.0.113.9", time.Now()) {
				writes++
			}
		}
		if !c.Note("198.51.100.1", time.Now()) {
			t.Fatal("another source's first refusal must be written at once")
		}
		if writes != 1 {
			t.Fatalf("%d refusals written at once, want 1", writes)
		}
		time.Sleep(time.Second) // fake clock: the window ends
		synctest.Wait()
		mu.Lock()
		if len(got) != 1 || got[0] != (emitted{"203.0.113.9", 499}) {
			t.Fatalf("summaries = %v, want one with the 499 further refusals", got)
		}
		mu.Unlock()
		// A new second opens a new window: its first refusal is written again.
		if !c.Note("203.0.113.9", time.Now()) {
			t.Fatal("the first refusal of the next window must be written at once")
		}
		c.Close()
	})
}

func TestCoalescerCloseFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got []emitted
		c := &Coalescer{Emit: func(k string, n int, _ time.Time) { got = append(got, emitted{k, n}) }}
		c.Note("a", time.Now())
		c.Note("a", time.Now())
		c.Note("a", time.Now())
		c.Close()
		if len(got) != 1 || got[0].count != 2 {
			t.Fatalf("after Close: %v, want the 2 pending refusals emitted", got)
		}
		if !c.Note("a", time.Now()) {
			t.Fatal("after Close every refusal is written by the caller")
		}
	})
}
