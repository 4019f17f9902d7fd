package node

import (
	"sync"
	"sync/atomic"
)

// turns runs the jobs that change one group, one at a time, in the order
// they came, on a goroutine of their own: starting a new epoch (rekey,
// repair, rotation), redeeming an invite, this node's own roster ops
// (sendAs), received roster ops and rekeys (commit, removal notices), the
// ratchets and epoch choices that follow them, the erasure of old keys,
// and joining and leaving the group's topics. So the rekey of one admin
// action never starts from the same epoch as another's, an invite's uses
// are counted exactly, and no job sees the group change under it. Nobody
// holds a lock while a job sends, seals or writes; the validator of an
// alert and the senders of alerts never wait for a job.
//
// The goroutine starts when a job comes and ends when none is left; the
// node owns it (spawn), so Close waits for it. A job must not wait for
// another job of its group (it would wait for itself): code that runs in
// the turn calls the in-turn form of what it needs (syncTopics,
// rekeyInTurn, sendOpInTurn), never inTurn for the same group.
type turns struct {
	mu      sync.Mutex
	jobs    []*job
	running bool
}

// inTurn runs f in g's turn and returns once it ran, or with the node's
// context's error if the node closed before f started (f then never
// runs). Once f started, inTurn waits for it to end: what f hands back
// through what it captured is the caller's to read.
func (n *Node) inTurn(g *group, f func()) error {
	j := &job{f: f, done: make(chan struct{})}
	t := &g.turns
	t.mu.Lock()
	t.jobs = append(t.jobs, j)
	start := !t.running
	t.running = true
	t.mu.Unlock()
	if start {
		n.spawn(func() { t.run() })
	}
	select {
	case <-j.done:
		return nil
	case <-n.ctx.Done():
	}
	if j.state.CompareAndSwap(jobQueued, jobDropped) {
		return n.ctx.Err()
	}
	<-j.done
	return nil
}

// job is one job of a group's turns.
type job struct {
	f     func()
	state atomic.Int32 // jobQueued, then jobRunning or jobDropped
	done  chan struct{}
}

const (
	jobQueued = iota
	jobRunning
	jobDropped // the node closed before it started: never run
)

// run runs the jobs until none is left.
func (t *turns) run() {
	for {
		t.mu.Lock()
		if len(t.jobs) == 0 {
			t.running = false
			t.mu.Unlock()
			return
		}
		j := t.jobs[0]
		t.jobs = t.jobs[1:]
		t.mu.Unlock()
		if j.state.CompareAndSwap(jobQueued, jobRunning) {
			j.f()
			close(j.done)
		}
	}
}
