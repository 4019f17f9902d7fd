package node

import "sync"

// turns runs the jobs of one group that must not overlap (starting a new
// epoch, redeeming an invite, applying a received roster op) one at a
// time, in the order they came, on a goroutine of their own: the rekey of
// one admin action never starts from the same epoch as another's, an
// invite's uses are counted exactly, and neither sees the roster change
// under it. Nobody holds a lock while a job sends, seals or writes; the
// validator of an alert and the senders of alerts never wait for a job.
//
// The goroutine starts when a job comes and ends when none is left; the
// node owns it (spawn), so Close waits for it. A job must not wait for
// another job of its group (it would wait for itself).
type turns struct {
	mu      sync.Mutex
	jobs    []func()
	running bool
}

// inTurn runs f in g's turn and returns once it ran, or with the node's
// context's error once the node closes (f may then still run, and must
// not hand anything to the caller but through what it captured).
func (n *Node) inTurn(g *group, f func()) error {
	done := make(chan struct{})
	t := &g.turns
	t.mu.Lock()
	t.jobs = append(t.jobs, func() {
		defer close(done)
		f()
	})
	start := !t.running
	t.running = true
	t.mu.Unlock()
	if start {
		n.spawn(func() { t.run() })
	}
	select {
	case <-done:
		return nil
	case <-n.ctx.Done():
		return n.ctx.Err()
	}
}

// run runs the jobs until none is left.
func (t *turns) run() {
	for {
		t.mu.Lock()
		if len(t.jobs) == 0 {
			t.running = false
			t.mu.Unlock()
			return
		}
		f := t.jobs[0]
		t.jobs = t.jobs[1:]
		t.mu.Unlock()
		f()
	}
}
