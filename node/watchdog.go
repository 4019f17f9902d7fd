package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/checkin"
)

// Defaults of the watchdog's settings in [Config].
const (
	DefaultAlarmJitter = 3 * time.Second
	DefaultCatchUp     = 15 * time.Second
)

// overdueTTL is how long an overdue alarm stays in the feed.
const overdueTTL = 7 * 24 * time.Hour

// runWatchdog raises overdue alarms until ctx is done (see
// checkin.Watchdog).
func (n *Node) runWatchdog(ctx context.Context) {
	checkin.NewWatchdog(checkin.Config{
		Index:    &n.checkins,
		Store:    n.store,
		Answers:  &n.acks,
		Standing: func(gid crypto.GroupID) bool { _, ok := n.standing(gid); return ok },
		Raise:    n.raiseOverdue,
		Now:      n.now,
		Started:  n.started,
		Jitter:   n.cfg.AlarmJitter,
		CatchUp:  n.cfg.CatchUp,
	}).Run(ctx)
}

// raiseOverdue sends the overdue alarm of a level for a check-in to group
// gid (the check-in's group, or its escalation group).
func (n *Node) raiseOverdue(ctx context.Context, gid crypto.GroupID, t checkin.Tracked, level int) error {
	g, err := n.group(gid)
	if err != nil {
		return err
	}
	notice, err := n.overdueNotice(g, t)
	if err != nil {
		n.log.Error("raising an overdue alarm", "group", g.id.String()[:8], "err", err)
		return err
	}
	a := &alert.Alert{
		Kind: alert.KindOverdue, Severity: checkin.AlarmSeverity(level), Place: t.CheckIn.To,
		Expires: n.now().Add(overdueTTL), CheckIn: t.ID, Level: level, Notice: notice,
	}
	m, err := n.send(ctx, g, a)
	if err != nil {
		n.log.Error("raising an overdue alarm", "group", g.id.String()[:8], "err", err)
		return err
	}
	n.log.Info("overdue alarm raised", "group", g.id.String()[:8], "msg_id", m.ID.Short(), "level", level)
	return nil
}

// overdueNotice says who is overdue, from where, to where, by when and
// since when (this node's clock), for each reader to put into words, and
// carries the check-in as its author signed it, with the author's keys
// when the alarm goes to another group, whose members may know neither
// the check-in nor its author.
func (n *Node) overdueNotice(g *group, t checkin.Tracked) (*alert.Notice, error) {
	ref, inner, err := n.openStored(t.ID)
	if err != nil {
		return nil, fmt.Errorf("reading the check-in: %w", err)
	}
	cg := ref.g
	var keys *crypto.MemberKeys
	if g.id != cg.id {
		k, ok := cg.roster.Keys(t.Author)
		if !ok {
			return nil, errors.New("the check-in's author is not in its group's roster")
		}
		keys = &k
	}
	signed, err := alert.NewSignedCheckIn(cg.id, ref.keys.Epoch(), inner, keys)
	if err != nil {
		return nil, err
	}
	no := &alert.Notice{
		What: alert.NoticeOverdue, Who: t.Author, WhoName: truncate(n.memberName(cg, t.Author), alert.MaxName),
		From: t.CheckIn.From, To: t.CheckIn.To, Due: t.Due(), Since: t.Deadline(), Note: t.CheckIn.Text, CheckIn: signed,
	}
	if g.id != cg.id {
		no.Group = truncate(cg.roster.Name(), alert.MaxName)
	}
	return no, nil
}

// standing returns a group in which this node's member is a current member.
func (n *Node) standing(gid crypto.GroupID) (*group, bool) {
	if gid.IsZero() {
		return nil, false
	}
	g, err := n.group(gid)
	if err != nil {
		return nil, false
	}
	me, ok := g.roster.Member(n.me)
	return g, ok && !me.Removed
}
