package smsbridge

import (
	"context"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/node"
)

// urgent reports whether an entry goes to safe lines: a panic, a duress
// warning, an escalated overdue alarm, or any critical alert.
func urgent(e node.Entry) bool {
	switch e.Kind {
	case "panic", "duress":
		return true
	case "overdue":
		return e.Level >= alert.MaxOverdueLevel
	}
	return e.Severity == "critical" && e.Kind != "checkin" && e.Kind != "arrived"
}

// forward sends an urgent feed entry to its group's safe lines, once.
func (b *Bridge) forward(ctx context.Context, e node.Entry) {
	if !urgent(e) || b.cfg.Now().Sub(e.Created) > outMaxAge {
		return
	}
	b.mu.Lock()
	l := b.st.Groups[e.GroupID]
	var lines Lines
	if l != nil {
		lines = *l
	}
	b.mu.Unlock()
	if len(lines.Numbers) == 0 {
		return
	}
	b.sentMu.Lock()
	if b.sent[e.ID] {
		b.sentMu.Unlock()
		return
	}
	if len(b.sent) > maxSeen {
		clear(b.sent)
	}
	b.sent[e.ID] = true
	b.sentMu.Unlock()
	text := Compose(e, lines.Content, lines.Lang, b.cfg.Location)
	for _, num := range lines.Numbers {
		if err := b.cfg.Backend.Send(ctx, num, text); err != nil {
			b.sendFailures.Add(1)
			b.log.Warn("sending to a safe line", "err", err)
			continue
		}
		b.sentLines.Add(1)
	}
	b.log.Info("alert sent to safe lines", "msg_id", e.ID[:12], "lines", len(lines.Numbers))
}

// reply answers the sender of an SMS.
func (b *Bridge) reply(ctx context.Context, to string, spanish bool, key string) {
	lang := "en"
	if spanish {
		lang = "es"
	}
	text, ok := replies[lang][key]
	if !ok {
		return
	}
	if err := b.cfg.Backend.Send(ctx, to, text); err != nil {
		b.sendFailures.Add(1)
		b.log.Warn("answering an sms", "err", err)
	}
}
