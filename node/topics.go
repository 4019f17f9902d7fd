package node

import (
	"fmt"

	pubsub "github.com/libp2p/go-libp2p-pubsub"

	"github.com/takecare-network/takecare/crypto"
)

// A group's topics are joined and left in the group's turn (turns.go),
// which alone calls pubsub's Join, Subscribe and Close for them and
// changes the group's topics: no lock is held while pubsub works, and a
// topic is never joined twice, nor joined again while it is being left.
// Code outside the turn asks with updateTopics or leaveTopics, and waits
// for it; a job in the turn calls syncTopics.

// updateTopics subscribes to the topics of the current epoch of g and of
// the epochs retired less than Config.TopicGrace ago (members who have not
// yet heard of the new epoch still publish there), and leaves the others.
// It returns once that is done, with the first error of pubsub, or the
// node's context's error once it closes. It must not be called in g's
// turn (a job there calls syncTopics).
func (n *Node) updateTopics(g *group) error { return n.askTopics(g, false) }

// leaveTopics leaves every topic of g (a group another replaced).
func (n *Node) leaveTopics(g *group) error { return n.askTopics(g, true) }

func (n *Node) askTopics(g *group, leave bool) (err error) {
	if terr := n.inTurn(g, func() { err = n.syncTopics(g, leave) }); terr != nil {
		return terr
	}
	return err
}

// syncTopics is updateTopics, or with leaveAll leaveTopics; it runs in
// g's turn.
func (n *Node) syncTopics(g *group, leaveAll bool) error {
	now := n.now()
	removed := leaveAll || n.isRemoved(g) // a removed member's node listens to nothing
	v := g.state()
	want := make(map[crypto.KeyTag]*crypto.EpochKeys)
	for tag, e := range v.epochs {
		if removed {
			break
		}
		if e == v.current || (!e.retired.IsZero() && now.Sub(e.retired) < n.cfg.TopicGrace && e.number()+1 >= v.current.number()) {
			want[tag] = e.keys
		}
	}
	var leave []*topicSub
	for tag, ts := range v.topics {
		if want[tag] == nil {
			leave = append(leave, ts)
		}
	}
	var join []*crypto.EpochKeys
	for tag, k := range want {
		if v.topics[tag] == nil {
			join = append(join, k)
		}
	}
	if len(leave) > 0 {
		// No longer published in before it is left.
		g.change(func(v *groupView) {
			for _, ts := range leave {
				delete(v.topics, ts.tag)
			}
		})
	}
	for _, ts := range leave {
		n.unsubscribe(ts)
	}
	var err error
	for _, k := range join {
		ts, serr := n.subscribe(k)
		if serr != nil {
			err = serr
			break
		}
		g.change(func(v *groupView) { v.topics[k.Tag()] = ts })
	}
	n.refreshAccess()
	return err
}

// topicSub is a subscription to one epoch's topic.
type topicSub struct {
	tag   crypto.KeyTag // of the epoch
	topic *pubsub.Topic
	sub   *pubsub.Subscription
	name  string
}

// unsubscribe leaves a topic and drops its validator.
func (n *Node) unsubscribe(ts *topicSub) {
	ts.sub.Cancel()
	ts.topic.Close()
	n.ps.UnregisterTopicValidator(ts.name)
}

// subscribe joins one epoch topic with the validator and drains it.
func (n *Node) subscribe(k *crypto.EpochKeys) (*topicSub, error) {
	name := k.Topic()
	if err := n.ps.RegisterTopicValidator(name, n.validate); err != nil {
		return nil, fmt.Errorf("node: registering validator: %w", err)
	}
	t, err := n.ps.Join(name)
	if err != nil {
		n.ps.UnregisterTopicValidator(name)
		return nil, fmt.Errorf("node: joining group topic: %w", err)
	}
	sub, err := t.Subscribe()
	if err != nil {
		t.Close()
		n.ps.UnregisterTopicValidator(name)
		return nil, fmt.Errorf("node: subscribing to group topic: %w", err)
	}
	n.spawn(func() {
		// The validator already stored and handled each message; the
		// subscription only keeps us in the mesh.
		for {
			if _, err := sub.Next(n.ctx); err != nil {
				return
			}
		}
	})
	return &topicSub{tag: k.Tag(), topic: t, sub: sub, name: name}, nil
}
