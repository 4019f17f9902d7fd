package node

import (
	"fmt"
	"strconv"
	"time"
)

// Warning is something the person should know because the node cannot
// fully do its job: the disk is full, the node could not listen where it
// was told to, another device runs the same profile. Code is stable: the
// web UI words a warning from Code and Params in the reader's language
// (its catalogue has a key "warning.CODE" for each); Text is the same in
// English, for the command line. Params hold short strings: times in RFC
// 3339, counts in decimal, and "why", a reason code the web UI words with
// its key "warning.why.CODE" (ListenWhy).
type Warning struct {
	Code   string            `json:"code"`
	Text   string            `json:"text"`
	Params map[string]string `json:"params,omitempty"`
}

// Warning codes.
const (
	WarnStorageFull = "storage_full"
	WarnListenMoved = "listen_moved"
	WarnListenNone  = "listen_none"
	WarnTwin        = "twin"
)

// WarningCodes lists every warning code.
var WarningCodes = []string{WarnStorageFull, WarnListenMoved, WarnListenNone, WarnTwin}

// warnings lists what the person should know now.
func (n *Node) warnings() []Warning {
	out := []Warning{}
	if h := n.store.Health(); h.Full {
		text := fmt.Sprintf("This device's storage is full (since %s). Alerts still go out and come in, but ", h.Since.Local().Format("15:04"))
		if h.Unsaved > 0 {
			text += fmt.Sprintf("%d messages are kept in memory only and are lost if the node stops; ", h.Unsaved)
		}
		if h.Dropped > 0 {
			text += fmt.Sprintf("%d received messages could not be kept (they come back from other members once there is room); ", h.Dropped)
		}
		text += "free some space on this device."
		out = append(out, Warning{Code: WarnStorageFull, Text: text, Params: map[string]string{
			"since":   h.Since.UTC().Format(time.RFC3339),
			"unsaved": strconv.Itoa(h.Unsaved),
			"dropped": strconv.Itoa(h.Dropped),
		}})
	}
	out = append(out, n.listenWarnings()...)
	return append(out, n.twinWarnings()...)
}

// listenWarnings: an address the node listens on instead of the one it was
// told to, or no address at all. (An address that could not be used and
// had no fallback, with others working, is only logged: a device without
// IPv6 would otherwise warn for ever.)
func (n *Node) listenWarnings() []Warning {
	var out []Warning
	none := len(n.listens) > 0
	for _, l := range n.listens {
		if l.Got != "" {
			none = false
		}
		if l.Moved {
			out = append(out, Warning{Code: WarnListenMoved,
				Text: fmt.Sprintf("Could not listen on %s (%s): listening on %s instead. Member nodes that knew the old address find this node again as soon as either side reaches the other.",
					l.Want, l.Reason, l.Got),
				Params: map[string]string{"want": l.Want, "got": l.Got, "why": l.Why}})
		}
	}
	if none {
		l := n.listens[0]
		out = append(out, Warning{Code: WarnListenNone,
			Text:   fmt.Sprintf("This node could not listen anywhere (%s): member nodes cannot reach it, but it still reaches them.", l.Reason),
			Params: map[string]string{"why": l.Why}})
	}
	return out
}

// retryStorage runs every Config.DiskRetry. While the disk is full it
// tries to write what waits in memory; once there is room it asks every
// connected member node for what the node could not keep meanwhile.
func (n *Node) retryStorage() {
	h := n.store.Health()
	if h.Full && !n.diskFullSaid.Swap(true) {
		n.log.Warn("the disk is full: new messages are kept in memory until there is room", "unsaved", h.Unsaved)
	}
	recovered, err := n.store.Retry()
	switch {
	case recovered:
		n.diskFullSaid.Store(false)
		n.log.Info("the disk has room again: messages kept in memory are saved")
		n.syncer.KickAll()
	case err != nil && !h.Full:
		n.log.Warn("saving the keep file", "err", err)
	}
}

func (n *Node) prune() {
	n.pruneRelayCodes()
	deleted, err := n.store.Prune(n.now(), n.cfg.Retention)
	if err != nil {
		n.log.Error("pruning the store", "err", err)
		return
	}
	if deleted > 0 {
		n.log.Info("deleted expired messages", "count", deleted)
	}
}
