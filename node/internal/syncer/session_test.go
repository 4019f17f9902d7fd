package syncer

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/wire"
	"github.com/takecare-network/takecare/node/reconcile"
	"github.com/takecare-network/takecare/store"
)

// Sessions between two schedulers on mocknet, each with a real store.
// The node is played by side: its pipeline takes an envelope (here: the
// key tag, the message id and its creation time, then padding) and stores
// it, as the node's would once it opened and checked it.

const envHead = 8 + 32 + 8

var errBad = errors.New("bad envelope")

func envelope(tag crypto.KeyTag, id alert.ID, created time.Time) []byte {
	b := make([]byte, envHead+64)
	copy(b, tag[:])
	copy(b[8:], id[:])
	binary.BigEndian.PutUint64(b[40:], uint64(created.UnixMilli()))
	return b
}

// side is one node as sync sees it.
type side struct {
	t     *testing.T
	h     host.Host
	st    *store.Store
	sched *Scheduler
	gid   crypto.GroupID
	// What the node holds: the epochs of its one group, those a message
	// starts, and, by tag, whether a rekey's secret reached the other.
	epochs []Epoch
	starts []Start
	reach  map[crypto.KeyTag]bool

	mu     sync.Mutex
	handed []alert.ID
	synced int
}

func newPair(t *testing.T) (a, b *side) {
	t.Helper()
	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	gid := crypto.NewGroupID()
	var sides [2]*side
	for i := range sides {
		h, err := mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		st, err := store.Open(filepath.Join(t.TempDir(), "store.db"), crypto.NewStorageKey(), store.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		s := &side{t: t, h: h, st: st, gid: gid, reach: make(map[crypto.KeyTag]bool)}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		t.Cleanup(func() {
			cancel()
			wg.Wait()
			st.Close()
		})
		s.sched = New(ctx, Config{
			Self: h.ID(), Store: st, Now: time.Now, Retention: 24 * time.Hour,
			Spawn: func(f func()) { wg.Go(f) },
			Peers: s, Scopes: s, Pipeline: s, Handover: s, Notes: s,
		})
		h.SetStreamHandler(Protocol, s.sched.Serve)
		sides[i] = s
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	if err := mn.ConnectAllButSelf(); err != nil {
		t.Fatal(err)
	}
	return sides[0], sides[1]
}

// base is when the messages of the tests were made.
var base = time.Now().Add(-time.Hour).Truncate(time.Second)

// hold stores n messages in epoch tag, made a second apart from base,
// numbered from first.
func (s *side) hold(tag crypto.KeyTag, first, n int) []alert.ID {
	var ids []alert.ID
	for i := first; i < first+n; i++ {
		var id alert.ID
		binary.BigEndian.PutUint64(id[:], uint64(i))
		id[30], id[31] = 0xff, tag[0] // never the zero id, which starts nothing
		s.put(tag, id, base.Add(time.Duration(i)*time.Second), 0)
		ids = append(ids, id)
	}
	return ids
}

func (s *side) put(tag crypto.KeyTag, id alert.ID, created time.Time, priority uint8) {
	s.t.Helper()
	h := store.Header{ID: id, Group: s.gid, Tag: tag, Created: created, Sent: created, Received: time.Now(), Priority: priority}
	if _, err := s.st.Put(store.Record{Header: h, Envelope: envelope(tag, id, created)}); err != nil {
		s.t.Fatal(err)
	}
}

func (s *side) holdsAll(ids []alert.ID) bool {
	return !slices.ContainsFunc(ids, func(id alert.ID) bool { return !s.st.Has(id) })
}

func (s *side) Syncable() []peer.ID    { return nil } // no sessions but those a test starts
func (s *side) Connected(peer.ID) bool { return true }
func (s *side) Open(ctx context.Context, p peer.ID) (network.Stream, error) {
	return s.h.NewStream(ctx, p, Protocol)
}

func (s *side) Shared(peer.ID) [][]Epoch { return [][]Epoch{slices.Clone(s.epochs)} }

func (s *side) Offered(e Epoch, now time.Time) []reconcile.Item {
	var out []reconcile.Item
	for _, it := range s.st.Items(e.Keys.Tag()) {
		out = append(out, reconcile.Item{Created: it.Created, ID: reconcile.ID(it.ID)})
	}
	return out
}

func (s *side) Take(envs [][]byte, ages []time.Duration, maxRejects int) []error {
	errs := make([]error, 0, len(envs))
	for _, env := range envs {
		if len(env) < envHead {
			errs = append(errs, errBad)
			if maxRejects--; maxRejects < 0 {
				break
			}
			continue
		}
		tag, _ := crypto.KeyTagFromBytes(env[:8])
		id, _ := alert.IDFromBytes(env[8:40])
		created := time.UnixMilli(int64(binary.BigEndian.Uint64(env[40:])))
		h := store.Header{ID: id, Group: s.gid, Tag: tag, Created: created, Sent: created, Received: time.Now()}
		added, err := s.st.Put(store.Record{Header: h, Envelope: env})
		if err == nil && !added {
			err = errors.New("duplicate")
		}
		errs = append(errs, err)
	}
	return errs
}

func (s *side) Rejected(err error) bool { return errors.Is(err, errBad) }

func (s *side) Starts(crypto.GroupID) []Start { return s.starts }

func (s *side) Reaches(_ crypto.GroupID, tag crypto.KeyTag, _ peer.ID) bool { return s.reach[tag] }

func (s *side) Clock(peer.ID, time.Duration, time.Time) {}

func (s *side) Handed(_ crypto.GroupID, id alert.ID, _ peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handed = append(s.handed, id)
}

func (s *side) Synced(peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.synced++
}

func newEpoch(gid crypto.GroupID, n uint64) Epoch {
	return Epoch{Group: gid, Keys: crypto.NewEpochKeys(gid, n, crypto.NewEpochSecret())}
}

func syncNow(t *testing.T, from, to *side) Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := from.sched.Sync(ctx, to.h.ID())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSessionMovesWhatEachLacks: after one session both sides hold the
// union of what they held in the epoch they share, each message sent
// once, and the node hears of every message handed over.
func TestSessionMovesWhatEachLacks(t *testing.T) {
	t.Parallel()
	a, b := newPair(t)
	e := newEpoch(a.gid, 1)
	a.epochs, b.epochs = []Epoch{e}, []Epoch{e}
	all := a.hold(e.Keys.Tag(), 0, 300)
	all = append(all, b.hold(e.Keys.Tag(), 200, 300)...)
	st := syncNow(t, a, b)
	if !a.holdsAll(all) || !b.holdsAll(all) {
		t.Fatal("a side lacks messages after the session")
	}
	if st.Sent != 200 || st.Received != 200 || st.Accepted != 200 || st.Scopes != 1 {
		t.Errorf("stats %+v, want 200 sent, 200 received and accepted, 1 scope", st)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.handed) != 200 || a.synced != 1 {
		t.Errorf("the node heard of %d messages handed over and %d sessions, want 200 and 1", len(a.handed), a.synced)
	}
}

// TestHandoverOfLackingEpochs: right after a message that starts an epoch
// the other node lacks, a session sends that epoch's messages, if the
// other can take the key: a join's (ratcheted from the epoch the add was
// sent in) and a rekey's that reached it, not a rekey's that did not.
// Whichever side starts the session.
func TestHandoverOfLackingEpochs(t *testing.T) {
	t.Parallel()
	for _, initiator := range []string{"holder", "lacker"} {
		t.Run(initiator, func(t *testing.T) {
			t.Parallel()
			a, b := newPair(t)
			e1, joined, missed, reached := newEpoch(a.gid, 1), newEpoch(a.gid, 2), newEpoch(a.gid, 3), newEpoch(a.gid, 4)
			a.epochs = []Epoch{e1, joined, missed, reached}
			b.epochs = []Epoch{e1}
			starters := a.hold(e1.Keys.Tag(), 0, 3)
			a.starts = []Start{
				{By: starters[0], Keys: joined.Keys, From: e1.Keys.Tag()},
				{By: starters[1], Keys: missed.Keys},
				{By: starters[2], Keys: reached.Keys},
			}
			a.reach[reached.Keys.Tag()] = true
			want := slices.Concat(starters, a.hold(joined.Keys.Tag(), 100, 5), a.hold(reached.Keys.Tag(), 200, 5))
			notSent := a.hold(missed.Keys.Tag(), 300, 5)
			if initiator == "holder" {
				syncNow(t, a, b)
			} else {
				syncNow(t, b, a)
			}
			if !b.holdsAll(want) {
				var missing []int
				for i, id := range want {
					if !b.st.Has(id) {
						missing = append(missing, i)
					}
				}
				t.Errorf("the epochs the other node could take were not handed over in one session: lacks %v of %d", missing, len(want))
			}
			if slices.ContainsFunc(notSent, b.st.Has) {
				t.Error("a rekey's epoch was handed over to a node it did not reach")
			}
		})
	}
}

// TestSyncSessionStateIsBounded: a member opens a sync session and lists,
// message after message, ids the other node does not hold. What the other
// node keeps for the session (ids to ask for, asked for, queued to send)
// stays within the session's limits. Before, each message added 65,536 ids
// to ask for, for as long as the session lasted: 60 such messages grew the
// other node's heap by over 400 MB.
func TestSyncSessionStateIsBounded(t *testing.T) {
	t.Parallel()
	attacker, victim := newPair(t)
	e := newEpoch(attacker.gid, 1)
	attacker.epochs, victim.epochs = []Epoch{e}, []Epoch{e}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const msgs = 20
	if err := flood(ctx, attacker, victim.h.ID(), msgs); err != nil {
		t.Fatal(err)
	}
	held := victim.sched.Held()
	t.Logf("%d messages listing %d unknown ids each: the victim's session held at most %d ids", msgs, reconcile.MaxListedIDs, held)
	if bound := int64(2 * (maxAsked + maxQueued)); held > bound {
		t.Fatalf("one sync session held %d ids, want at most %d", held, bound)
	}
}

// flood plays a member node that opens a session with p and, after a
// correct handshake, sends msgs messages, each listing per agreed scope
// reconcile.MaxListedIDs random ids that p does not hold, in id lists of
// reconcile.IDListMax (as an honest side describes a range). It drops
// whatever p answers, and returns once p has answered every message.
func flood(ctx context.Context, s *side, p peer.ID, msgs int) error {
	st, err := s.Open(ctx, p)
	if err != nil {
		return err
	}
	defer st.Reset()
	ss := s.sched.session(p, true, st)
	if err := ss.handshake(); err != nil {
		return err
	}
	var answers atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var in wire.SyncMessage
			if ss.cs.recv(&in) != nil {
				return
			}
			if answers.Add(1) == int64(msgs) {
				return
			}
		}
	}()
	from := time.Now().Add(-time.Hour).UnixMilli()
	for range msgs {
		m := &wire.SyncMessage{}
		for _, tag := range ss.order {
			sm := &wire.ScopeMessage{Tag: tag[:]}
			for k := range reconcile.MaxListedIDs / reconcile.IDListMax {
				r := &wire.Range{UpperCreated: from + int64(k), Mode: uint32(reconcile.IDList)}
				for range reconcile.IDListMax {
					id := make([]byte, 32)
					rand.Read(id)
					r.Ids = append(r.Ids, id)
				}
				sm.Ranges = append(sm.Ranges, r)
			}
			sm.Ranges = append(sm.Ranges, &wire.Range{UpperCreated: math.MaxInt64})
			m.Scopes = append(m.Scopes, sm)
		}
		if err := ss.cs.send(m); err != nil {
			return err
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if got := answers.Load(); got != int64(msgs) {
		return errors.New("the session ended early")
	}
	return nil
}

// TestSendOrder: the most urgent first, then the newest by when this node
// got it: a message dated ahead goes no earlier than when it was stored.
func TestSendOrder(t *testing.T) {
	t.Parallel()
	a, _ := newPair(t)
	tag := crypto.KeyTag{1}
	now := time.Now()
	id := func(b byte) alert.ID { return alert.ID{b} }
	a.put(tag, id(1), now.Add(-time.Hour), 0)   // old, plain
	a.put(tag, id(2), now.Add(-2*time.Hour), 2) // old, urgent
	a.put(tag, id(3), now.Add(-time.Minute), 0) // new, plain
	a.put(tag, id(4), now.Add(time.Hour), 2)    // urgent, dated an hour ahead
	time.Sleep(5 * time.Millisecond)
	a.put(tag, id(5), now.Add(30*time.Minute), 2) // urgent, dated less ahead but stored after 4
	ids := []alert.ID{id(1), id(2), id(3), id(4), id(5)}
	SendOrder(a.st, ids)
	if want := []alert.ID{id(5), id(4), id(2), id(3), id(1)}; !slices.Equal(ids, want) {
		t.Errorf("order %v, want %v", ids, want)
	}
}
