package checkpoint

import (
	"testing"
)

func TestAckJoin(t *testing.T) {
	// Records end at 10, 20, ..., 60, 5 budget bytes each. groups lists the
	// joined tokens (record index ranges, inclusive) in the order they are
	// resolved; want is Committed after each.
	cases := []struct {
		name   string
		groups [][2]int
		want   []int64
	}{
		{"one run", [][2]int{{0, 5}}, []int64{60}},
		{"runs in order", [][2]int{{0, 2}, {3, 3}, {4, 5}}, []int64{30, 40, 60}},
		{"later run first", [][2]int{{3, 5}, {0, 2}}, []int64{0, 60}},
		{"middle run first", [][2]int{{2, 4}, {0, 1}, {5, 5}}, []int64{0, 50, 60}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBudget(1 << 20)
			tr := NewTracker(0, b)
			acks := make([]Ack, 6)
			for i := range acks {
				if err := b.Acquire(t.Context(), 5); err != nil {
					t.Fatal(err)
				}
				acks[i] = tr.Add(int64(i+1)*10, 5)
			}
			for i, g := range tc.groups {
				j := acks[g[0]]
				for k := g[0] + 1; k <= g[1]; k++ {
					var ok bool
					if j, ok = j.Join(acks[k]); !ok {
						t.Fatalf("Join of consecutive tokens %d..%d failed", g[0], k)
					}
				}
				if j.Records() != g[1]-g[0]+1 || j.Size() != int64(5*(g[1]-g[0]+1)) {
					t.Fatalf("joined token covers %d records, %d bytes", j.Records(), j.Size())
				}
				j.Done()
				if got := tr.Committed(); got != tc.want[i] {
					t.Fatalf("after group %d %v: Committed = %d, want %d", i, g, got, tc.want[i])
				}
			}
			if tr.Pending() != 0 || tr.Window() != 0 || b.InUse() != 0 || tr.DoubleAcks() != 0 {
				t.Fatalf("Pending=%d Window=%d InUse=%d doubles=%d, want 0", tr.Pending(), tr.Window(), b.InUse(), tr.DoubleAcks())
			}
		})
	}
}

func TestAckJoinRefused(t *testing.T) {
	b := NewBudget(1 << 20)
	tr, other := NewTracker(0, b), NewTracker(0, b)
	a0, a1, a2 := tr.Add(1, 0), tr.Add(2, 0), tr.Add(3, 0)
	o0 := other.Add(1, 0)
	if _, ok := a0.Join(a2); ok {
		t.Fatal("joined tokens with a gap")
	}
	if _, ok := a1.Join(a0); ok {
		t.Fatal("joined tokens in reverse order")
	}
	if _, ok := a0.Join(o0); ok {
		t.Fatal("joined tokens of different trackers")
	}
	if j, ok := (Ack{}).Join(a0); !ok || j != a0 {
		t.Fatal("zero Ack is not the identity on the left")
	}
	if j, ok := a0.Join(Ack{}); !ok || j != a0 {
		t.Fatal("zero Ack is not the identity on the right")
	}
	if (Ack{}).Records() != 0 || a0.Records() != 1 {
		t.Fatal("Records wrong")
	}
	for _, a := range []Ack{a0, a1, a2, o0} {
		a.Done()
	}
	if tr.Committed() != 3 || other.Committed() != 1 {
		t.Fatalf("Committed = %d, %d", tr.Committed(), other.Committed())
	}
}

// A joined token that overlaps a record already resolved is a bug in the
// caller: it is counted and resolves nothing, so the budget stays exact.
func TestAckJoinOverlapIgnored(t *testing.T) {
	b := NewBudget(1 << 20)
	tr := NewTracker(0, b)
	acks := make([]Ack, 3)
	for i := range acks {
		if err := b.Acquire(t.Context(), 7); err != nil {
			t.Fatal(err)
		}
		acks[i] = tr.Add(int64(i+1), 7)
	}
	acks[1].Done()
	j, _ := acks[0].Join(acks[1])
	j, _ = j.Join(acks[2])
	before := DoubleAcks()
	j.Done()
	if tr.DoubleAcks() != 1 || DoubleAcks() != before+1 {
		t.Fatalf("overlapping joined token not counted: %d", tr.DoubleAcks())
	}
	// Record 1 is acknowledged but not committed (record 0 is not): all
	// three still hold their bytes.
	if tr.Pending() != 2 || b.InUse() != 21 || tr.Committed() != 0 {
		t.Fatalf("Pending=%d InUse=%d Committed=%d after an ignored joined token", tr.Pending(), b.InUse(), tr.Committed())
	}
	acks[0].Done()
	acks[2].Done()
	if tr.Committed() != 3 || b.InUse() != 0 {
		t.Fatalf("Committed=%d InUse=%d", tr.Committed(), b.InUse())
	}
}

func BenchmarkAckJoin(b *testing.B) {
	budget := NewBudget(1 << 30)
	tr := NewTracker(0, budget)
	b.ReportAllocs()
	var end int64
	for b.Loop() {
		var j Ack
		for range 8 {
			end += 100
			_ = budget.Acquire(b.Context(), 100)
			j, _ = j.Join(tr.Add(end, 100))
		}
		j.Done()
	}
}
