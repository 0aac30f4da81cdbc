package main

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// slowSink is an image sink whose every Data call takes 5 ms of (fake)
// time, as encrypting and sending a run of pages does.
type slowSink struct{ calls int }

func (s *slowSink) Image(int, int64, map[string]int64) error { return nil }
func (s *slowSink) Data([]byte) error {
	s.calls++
	time.Sleep(5 * time.Millisecond)
	return nil
}

// TestBackupPacedWhileServing: a backup taken while serving rests half as
// long as it works (servingRest), in stretches of paceStretch, and a
// cancelled request ends the rest at once.
func TestBackupPacedWhileServing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inner := &slowSink{}
		p := &pacedSink{ImageSink: inner, ctx: context.Background(), rest: servingRest, since: time.Now()}
		start := time.Now()
		for range 40 { // 200 ms of work
			if err := p.Data(nil); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := time.Since(start), 300*time.Millisecond; got != want {
			t.Fatalf("40 runs of 5 ms took %v with rest %v, want %v (work plus half as much rest)", got, servingRest, want)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		p := &pacedSink{ImageSink: &slowSink{}, ctx: ctx, rest: 100, since: time.Now()}
		for range 3 {
			p.Data(nil)
		}
		time.AfterFunc(10*time.Millisecond, cancel)
		start := time.Now()
		err := p.Data(nil) // the stretch is full: a 2 s rest begins
		if !errors.Is(err, context.Canceled) || time.Since(start) != 10*time.Millisecond {
			t.Fatalf("cancelled during a rest: %v after %v, want context.Canceled after 10ms (5 ms of work, then the rest cut short)", err, time.Since(start))
		}
	})
}
